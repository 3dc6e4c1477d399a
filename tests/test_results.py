"""The results store: records, append-only run files, a reader that survives broken lines."""

import json
import re
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import results
from bench.cell import Cell
from bench.record import SCHEMA_VERSION, Record, SchemaError

REPO = Path(__file__).resolve().parents[1]


def record_json(
    cell_id="rin-tiny.r16.b4.fp32.forward.eager.cpu", run_id="run-a", status="ok", **values
):
    cell = Cell.from_id(cell_id).as_dict()
    return {
        "schema": SCHEMA_VERSION,
        "run": {"id": run_id, "suite": "quick", "started": "2026-01-01T00:00:00+00:00"},
        "cell": cell,
        "settings": {"warmup": 1},
        "model": {
            "family": "rin",
            "params": 103_536,
            "config": {},
            "config_sha": "abc",
            "source": {"kind": "test", "where": "", "note": ""},
        },
        "env": {"device": cell["device"]},
        "status": status,
        "values": values,
        "details": {},
        "error": None if status == "ok" else f"{status} on purpose",
    }


def record(*args, **kwargs) -> Record:
    return Record.from_json(record_json(*args, **kwargs))


def write_lines(path: Path, records: list[Record]) -> None:
    with results.Writer(path) as writer:
        for r in records:
            writer.append(r)


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "quick" / "run-a.jsonl"
    written = [record(images_per_s=10.5), record("adm-tiny.r32.b4.fp32.forward.eager.cpu")]
    write_lines(path, written)
    assert results.read(path) == written
    first = json.loads(path.read_text().splitlines()[0])
    assert first == record_json(images_per_s=10.5)


def test_appending_to_an_existing_run_keeps_earlier_records(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, [record()])
    write_lines(path, [record("dit-tiny.r32.b4.fp32.forward.eager.cpu")])
    ids = [r.cell.id for r in results.read(path)]
    assert ids == [
        "rin-tiny.r16.b4.fp32.forward.eager.cpu",
        "dit-tiny.r32.b4.fp32.forward.eager.cpu",
    ]


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, [record(), record("adm-tiny.r32.b4.fp32.forward.eager.cpu")])
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # a process killed in the middle of its last write
    with pytest.warns(results.CorruptRecordWarning, match=r"run\.jsonl:2: skipped"):
        kept = results.read(path)
    assert [r.cell.id for r in kept] == ["rin-tiny.r16.b4.fp32.forward.eager.cpu"]


def test_a_file_of_many_bad_lines_names_a_few_and_counts_the_rest(tmp_path):
    path = tmp_path / "notes.md"  # a file that is not results, passed by mistake
    path.write_text("".join(f"line {n}\n" for n in range(40)) + json.dumps(record_json()) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = results.read(path)
    messages = [str(warning.message) for warning in caught]
    assert [r.cell.id for r in kept] == ["rin-tiny.r16.b4.fp32.forward.eager.cpu"]
    assert len(messages) == results.NAMED_BAD_LINES + 1
    assert messages[0].startswith(f"{path}:1: skipped a line")
    assert messages[-1] == f"{path}: skipped 37 more lines that are not valid records (40 in all)"


def test_a_run_file_to_resume_holds_records_of_one_run_and_at_most_a_cut_off_tail(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, [record(), record("adm-tiny.r32.b4.fp32.forward.eager.cpu")])
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # killed mid-write: the Writer drops that tail
    kept, problems = results.read_run_file(path)
    assert [r.cell.id for r in kept] == ["rin-tiny.r16.b4.fp32.forward.eager.cpu"]
    assert len(problems) == 1 and "run.jsonl:2: skipped a line" in problems[0]
    path.write_text("")  # a run stopped before its first record
    assert results.read_run_file(path) == ([], ())
    for lines, message in [
        ('{"a": 1}\n', r"run\.jsonl:1: not a rinbench result record"),
        ("notes\n" + text, r"run\.jsonl:1: not a rinbench result record"),
        (text + "notes\n", r"run\.jsonl:3: not a rinbench result record"),
        (
            text + json.dumps(record_json(run_id="run-b")) + "\n",
            r"records of 2 runs \(run-a, run-b",
        ),
    ]:
        path.write_text(lines)
        with pytest.raises(results.NotARunFile, match=message):
            results.read_run_file(path)


def test_appending_after_a_cut_off_record_drops_it_and_leaves_a_valid_file(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, [record()])
    path.write_text(path.read_text() + '{"schema": 1, "run": {"id"')  # cut off mid-record
    write_lines(path, [record("dit-tiny.r32.b4.fp32.forward.eager.cpu")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no broken line left for the reader (or compare) to trip on
        kept = results.read(path)
    assert [r.cell.id for r in kept] == [
        "rin-tiny.r16.b4.fp32.forward.eager.cpu",
        "dit-tiny.r32.b4.fp32.forward.eager.cpu",
    ]


def test_appending_after_a_whole_record_without_newline_keeps_it(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, [record()])
    path.write_text(path.read_text().rstrip("\n"))
    write_lines(path, [record("dit-tiny.r32.b4.fp32.forward.eager.cpu")])
    assert len(results.read(path)) == 2


def test_corrupt_and_invalid_lines_are_skipped_and_the_rest_kept(tmp_path):
    path = tmp_path / "run.jsonl"
    good = record_json()
    bad_status = dict(good, status="finished")
    lines = [
        json.dumps(good),
        "not json at all",
        json.dumps(bad_status),
        "[1, 2]",
        json.dumps(good),
    ]
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = results.read(path)
    assert len(kept) == 2
    assert [str(w.message).split(": ")[0] for w in caught] == [f"{path}:{n}" for n in (2, 3, 4)]


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(json.dumps(dict(record_json(), schema=SCHEMA_VERSION + 1)) + "\n")
    for strict in (False, True):
        with pytest.raises(
            SchemaError, match=r"run\.jsonl:1: .*schema version 3.*upgrade rinbench"
        ):
            results.read(path, strict=strict)


def test_runs_from_several_machines_load_together(tmp_path):
    write_lines(tmp_path / "quick" / "a.jsonl", [record(run_id="a")])
    write_lines(tmp_path / "paper" / "nested" / "b.jsonl", [record(run_id="b")])
    (tmp_path / "notes.txt").write_text("not a results file")
    loaded = results.read([tmp_path])
    assert sorted(r.run.id for r in loaded) == ["a", "b"]
    in_given_order = results.read([tmp_path / "quick" / "a.jsonl", tmp_path / "paper"])
    assert [r.run.id for r in in_given_order] == ["a", "b"]


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results file or folder"):
        results.read(tmp_path / "nowhere.jsonl")


def test_a_record_validates_where_it_is_made():
    with pytest.raises(ValueError, match="unknown status 'done'"):
        record(status="done")


def test_run_id_sorts_by_time_and_names_host_device_commit():
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    run_id = results.make_run_id(started, "GPU Box.local", "cuda", "3f2c1ab")
    assert run_id == "20260102T030405Z-gpu-box-local-cuda-3f2c1ab"


def test_latest_record_of_a_cell_wins():
    first, retried = record(status="error"), record(status="ok")
    assert results.latest_per_cell([first, retried])[first.cell.id] is retried


def test_results_import_without_torch():
    code = "import sys, bench.results; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["cell"].pop("phase"), "KeyError: 'phase'"),
        (lambda r: r["cell"].update(resolution="16"), "resolution must be an integer"),
        (lambda r: r["cell"].update(dtype=1), "must be strings"),
        (lambda r: r["cell"].update(id="other"), "cell id 'other' does not match"),
        (lambda r: r.update(model="x"), "not a rinbench record"),
        (lambda r: r["env"].update(gpu="H100"), "'env.gpu' must be a JSON object or null"),
        (lambda r: r["run"].pop("id"), "not a rinbench record"),
        (lambda r: r.update(values=[1]), "'values' and 'details' must be JSON objects"),
        (lambda r: r.update(status="error", error=None), "needs a reason in 'error'"),
    ],
)
def test_records_the_readers_would_trip_on_are_invalid(change, message):
    bad = record_json()
    change(bad)
    with pytest.raises(ValueError, match=re.escape(message)):
        Record.from_json(bad)


def test_strict_reading_names_the_first_bad_line(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(json.dumps(record_json()) + "\n" + "not json\n")
    with pytest.raises(ValueError, match=r"run\.jsonl:2: not a rinbench result record"):
        results.read(path, strict=True)
    with pytest.warns(results.CorruptRecordWarning, match=r"run\.jsonl:2: skipped"):
        assert len(results.read(path)) == 1


def test_strict_reading_refuses_a_line_that_is_not_utf8(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(json.dumps(record_json(note="x")).replace("x", "\\u00e9").encode() + b"\n")
    assert len(results.read(path, strict=True)) == 1  # an escaped character is fine
    path.write_bytes(b'{"schema": 1, "run": "\xff"}\n')
    with pytest.raises(ValueError, match=r"run\.jsonl:1: not a rinbench result record"):
        results.read(path, strict=True)


def test_writer_appends_records_only(tmp_path):
    with results.Writer(tmp_path / "run.jsonl") as writer, pytest.raises(TypeError, match="Record"):
        writer.append(record_json())


def test_device_model_names_the_gpu_or_the_cpu():
    cpu = Record.from_json(record_json() | {"env": {"cpu_model": "EPYC", "cpu_count": 2}})
    assert results.device_model(cpu) == "CPU EPYC (2 cpus)"
    gpu_json = record_json("rin-tiny.r16.b4.fp32.forward.eager.cuda")
    gpu = Record.from_json(gpu_json | {"env": {"gpu": {"name": "NVIDIA H100"}}})
    assert results.device_model(gpu) == "NVIDIA H100"
    assert results.device_model(record()) is None
