"""bench.record: the typed record, its one validation, and the upgrade of today's (schema 1) files."""

import json
from pathlib import Path

import pytest

from bench import results
from bench.family import Source
from bench.record import (
    SCHEMA_VERSION,
    ModelInfo,
    Outcome,
    Record,
    SchemaError,
    split_diagnostics,
    upgrade,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA_1_FILES = [
    REPO / "tests" / "data" / "quick_cpu.jsonl",
    REPO / "tests" / "data" / "results_small.jsonl",
    REPO / "benchmarks" / "baselines" / "ci-cpu.jsonl",
]

# The values of a schema 1 line: measurements, then the details schema 2 keeps apart.
V1_MEASUREMENTS = {
    "latency_ms_median": 12.5,
    "macs_fwd_by_group": {"read": 1, "compute": 2},
    "joules_per_image": None,
}
V1_DETAILS = {
    "energy_reason": "no energy counter on a CPU",
    "peak_rss_scope": "phase",
    "sampler": "ddim",
    "numerics": {"tf32_matmul": False},
    "warnings": ["UserWarning: x"],
    "timer": "perf_counter",
    "compile_graph_breaks_reason": None,
}

V1_LINE = {
    "schema": 1,
    "run": {"id": "20261124T113909Z-vm-cpu-b7585b3", "suite": "quick", "started": "2026-11-24"},
    "cell": {
        "preset": "rin-tiny",
        "resolution": 16,
        "batch": 4,
        "dtype": "fp32",
        "phase": "sample",
        "mode": "eager",
        "device": "cpu",
        "id": "rin-tiny.r16.b4.fp32.sample.eager.cpu",
    },
    "settings": {"warmup": 1},
    "model": {
        "family": "rin",
        "params": 103_536,
        "config": {"name": "rin-tiny"},
        "config_sha": "0123456789ab",
        "source": "harness: a tiny RIN for tests, not from a paper",
    },
    "env": {"device": "cpu", "cpu_model": "AMD EPYC", "cpu_count": 2, "gpu": None},
    "status": "ok",
    "values": V1_MEASUREMENTS | V1_DETAILS,  # schema 1 kept both in one dict
    "error": None,
}


def test_a_schema_1_line_is_upgraded_values_and_details_split_and_source_parsed():
    record = Record.from_json(json.loads(json.dumps(V1_LINE)))
    assert record.schema == SCHEMA_VERSION == 2
    assert record.values == V1_MEASUREMENTS
    assert record.details == V1_DETAILS
    assert record.model.source == Source("harness", "a tiny RIN for tests, not from a paper")
    assert str(record.model.source) == V1_LINE["model"]["source"]
    assert record.cell.id == V1_LINE["cell"]["id"] and record.run.suite == "quick"


def test_an_upgraded_record_round_trips_through_schema_2():
    record = Record.from_json(json.loads(json.dumps(V1_LINE)))
    data = json.loads(json.dumps(record.to_json()))
    assert data["schema"] == 2 and data["model"]["source"]["kind"] == "harness"
    assert Record.from_json(data) == record
    assert upgrade(data) == data  # the current schema passes unchanged


@pytest.mark.parametrize("path", SCHEMA_1_FILES, ids=lambda p: p.name)
def test_the_committed_schema_1_files_still_load(path):
    assert json.loads(path.read_text().splitlines()[0])["schema"] == 1  # they stay schema 1
    records = results.read(path, strict=True)
    assert records and all(r.schema == SCHEMA_VERSION for r in records)
    for record in records:
        assert not any(isinstance(v, str) for v in record.values.values())
        assert record.model is None or isinstance(record.model.source, Source)


def test_a_newer_schema_is_refused_and_an_unknown_old_one_too():
    with pytest.raises(SchemaError, match="schema version 3, but this rinbench reads versions up"):
        Record.from_json(V1_LINE | {"schema": 3})
    with pytest.raises(SchemaError, match="schema version 0; this rinbench reads versions 1 to 2"):
        Record.from_json(V1_LINE | {"schema": 0})
    with pytest.raises(ValueError, match="'schema' must be an integer version"):
        Record.from_json(V1_LINE | {"schema": True})


def test_diagnostics_are_split_by_one_rule():
    values, details = split_diagnostics(
        {"params": 1, "flop_counter": "FlopCounterMode", "x_reason": None, "trials": [[1, True]]}
    )
    assert values == {"params": 1, "trials": [[1, True]]}
    assert details == {"flop_counter": "FlopCounterMode", "x_reason": None}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "done"}, "unknown status 'done'"),
        ({"status": "error"}, "status 'error' needs a reason in 'error'"),
        ({"status": "ok", "error": 3}, "'error' must be text or null"),
        ({"status": "ok", "details": []}, "'values' and 'details' must be JSON objects"),
        ({"status": "ok", "model": "rin"}, "'model' is not a model's description"),
        ({"status": "ok", "value": {}}, "unknown outcome keys value"),
        ([], "an outcome is a JSON object, got list"),
    ],
)
def test_an_outcome_says_what_is_wrong_with_it(data, message):
    with pytest.raises(ValueError, match=message):
        Outcome.from_json(data)


def test_an_outcome_round_trips_through_json():
    model = ModelInfo("rin", 7, {"a": 1}, "abc", Source("test", "here", "a note"))
    outcome = Outcome("oom", {"params": 7}, "CUDA out of memory", model, {"warnings": []})
    assert Outcome.from_json(json.loads(json.dumps(outcome.to_json()))) == outcome
