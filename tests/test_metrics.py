"""bench.metrics declares every key a record stores in its values: what each phase measures today
(a tiny cell of each, in this process, on CPU), a profile, a paired side merged from its windows,
and every record committed under benchmarks/. A key missing from the table would reach no loader,
no table and no compare rule, and nobody would know its unit."""

from pathlib import Path

import pytest
from helpers import MEASURED_PEAK

from bench import metrics, paired, results
from bench.cell import Cell
from bench.measure.cell import Settings, measure, windows
from bench.profiling.measure import measure_profile
from bench.record import CELL_TIME_KEY
from bench.suites import Planned

ROOT = Path(__file__).resolve().parents[1]
# The least timing that still runs every line of a timed cell.
QUICK = Settings(warmup=0, min_repeats=1, min_seconds=0.0, sample_steps=1)
# Text among a paired side's values, in paired records committed before paired.merge put the MFU
# verdict's reason among the details like every other reason; a reader takes numbers only.
STRAY_TEXT = ("mfu_suspect_reason",)


def undeclared(values: dict) -> set[str]:
    return set(values) - set(metrics.BY_KEY) - set(STRAY_TEXT)


@pytest.fixture(autouse=True)
def _one_thread(one_cpu_thread, monkeypatch):
    # A profile sets the threads a timed CPU cell gets; OMP_NUM_THREADS keeps them at one.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.parametrize("phase", ["params", "flops", "forward", "train_step", "sample"])
def test_every_key_a_phase_measures_is_declared(phase):
    settings = QUICK if phase != "forward" else Settings(**QUICK.as_dict() | {"max_batch": True})
    outcome = measure(Cell("dit-tiny", 16, 1, phase=phase), settings, peak=MEASURED_PEAK)
    assert outcome.status == "ok", outcome.details.get("traceback") or outcome.error
    assert undeclared(outcome.values) == set()


def test_every_key_a_profile_stores_is_declared():
    cell = Cell("dit-tiny", 16, 1, phase="profile:train_step")
    outcome = measure_profile(cell, {"warmup": 0}, MEASURED_PEAK)
    assert outcome.status == "ok", outcome.details.get("traceback") or outcome.error
    assert "time_ms_by_group" in outcome.values  # the profile's own keys were measured
    assert undeclared(outcome.values) == set()
    # Where its seconds went: the set-up's parts, within the whole measurement.
    spent = outcome.details[CELL_TIME_KEY]
    assert {"count", "build", "first_call", "measure"} == set(spent)
    assert spent["count"] + spent["build"] + spent["first_call"] < spent["measure"]


def test_every_key_of_a_paired_side_is_declared():
    cell = Cell("dit-tiny", 16, 1, phase="forward")
    sides = windows(cell, QUICK, peak=MEASURED_PEAK)
    try:
        setup, *timed = (next(sides) for _ in range(3))  # the set-up, then two rounds' windows
    finally:
        sides.close()
    merged = paired.merge(
        setup, timed, Planned(cell, QUICK), partner="other", role="first", orders=["ab", "ba"]
    )
    assert merged.status == "ok", merged.error
    assert "latency_ms_round_medians" in merged.values
    assert undeclared(merged.values) == set()
    # Every number a window measured reaches the side's record: a new window key needs its merge
    # rule in paired._merged_windows, or a paired cell would drop it without a word.
    measured = {
        key for window in timed for key, value in window.values.items() if value is not None
    }
    assert measured - set(merged.values) == set()
    # The side's seconds: the set-up's parts and both windows' (each timed on its own).
    spent = merged.details[CELL_TIME_KEY]
    assert {"count", "peak", "build", "first_call", "windows"} == set(spent)
    assert spent["windows"] == pytest.approx(
        sum(w.details[CELL_TIME_KEY]["windows"] for w in timed)
    )
    assert spent["count"] > 0 and spent["windows"] > 0


def test_every_committed_record_holds_only_declared_keys():
    records = results.read(ROOT / "benchmarks", strict=True)  # the baselines among them
    phases = {record.cell.phase for record in records}
    assert {"params", "flops", "forward", "train_step", "profile:train_step"} <= phases
    assert any("latency_ms_round_medians" in record.values for record in records)  # paired runs
    found = {key: record.cell.id for record in records for key in undeclared(record.values)}
    assert found == {}


def test_a_stored_only_metric_is_no_column_of_the_report():
    assert all(metric.column for metric in metrics.gated())
    assert "latency_ms_samples" not in {metric.key for metric in metrics.columns()}
    with pytest.raises(ValueError, match="a gated metric is a column"):
        metrics.Metric(
            "x", "1", metrics.TIME, metrics.LOWER, "x", compare="threshold", column=False
        )
