"""`rinbench profile` end to end, its bad inputs, the suites' `profile` switch, and profile records
beside timed ones in the store: kept apart from the timed record of the same cell."""

import gzip
import json
import os
from pathlib import Path

import pytest

from bench import results, runner, selection, suites
from bench.cell import Cell
from bench.cli import main
from bench.family import Source
from bench.measure.cell import Settings
from bench.profiling.measure import TRACE_DIR
from bench.record import ModelInfo, Record, RunInfo

REPO = Path(__file__).resolve().parents[1]

FAKE_PROFILE = '''
"""Test double for bench.profiling.measure.measure_profile: FAKE_PROFILE says "fail" or "ok"."""
import os

def measure(cell, settings, peak=None):
    if os.environ.get("FAKE_PROFILE") == "fail":
        return {"status": "error", "error": "the profiler broke on purpose\\nsecond line"}
    model = {"family": "fake", "params": 7, "config": {}, "config_sha": "0",
             "source": {"kind": "test"}}
    return {"status": "ok", "values": {"traced_step_ms": 1.0}, "error": None, "model": model,
            "details": {"trace_dir": str(settings.get("trace_dir"))}}
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """fake_profile:measure, importable here and in the worker processes."""
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "fake_profile.py").write_text(FAKE_PROFILE)
    monkeypatch.syspath_prepend(str(folder))
    paths = [str(folder), str(REPO), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    return "fake_profile:measure"


@pytest.fixture
def single_thread_workers(monkeypatch):
    # A busy 2-core machine: the worker's torch runs the tiny model single-threaded (conftest.py).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_profile_prints_the_split_and_files_record_and_trace(
    tmp_path, capsys, single_thread_workers
):
    assert main(["profile", "rin-tiny", "--batch", "2", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    for text in ("time share", "MAC share", "GFLOP/s", "read", "write", "Top operators", "Trace:"):
        assert text in out
    (record,) = results.read(tmp_path / "profile")
    assert record.status == "ok" and record.run.suite == "profile"
    assert record.cell == Cell("rin-tiny", 16, 2, phase="profile:forward")
    assert TRACE_DIR not in record.settings and "record in" in err
    trace = Path(record.details["trace_file"])
    assert trace.parent == Path(str(results.result_files([tmp_path])[0])[: -len(".jsonl")])
    with gzip.open(trace, "rt", encoding="utf-8") as handle:
        assert json.load(handle)["traceEvents"]


def one_line_exit_2(capsys, argv, *, measure_spec=None):
    status = main(argv) if measure_spec is None else main(argv, measure_spec=measure_spec)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and err.startswith("rinbench: error:")
    return err


def test_an_unknown_preset_names_the_closest_known_ones_and_writes_nothing(tmp_path, capsys):
    # Not every preset (that line ran to 650 characters): one per family, the closest, and where
    # the whole list is.
    err = one_line_exit_2(capsys, ["profile", "rin-huge", "--out", str(tmp_path)])
    assert "unknown cell or preset 'rin-huge'; known: adm-in128, " in err
    assert "dit-b-16-px" in err and "(`rinbench list` shows them all)" in err
    assert err.endswith("; closest: rin-tiny, rin-k600, rin-in64")
    assert not any(tmp_path.iterdir())


def test_a_phase_that_cannot_be_profiled_is_bad_input(tmp_path, capsys):
    cell_id = "rin-tiny.r16.b1.fp32.params.eager.cpu"
    err = one_line_exit_2(capsys, ["profile", cell_id, "--out", str(tmp_path)])
    assert "cannot be profiled" in err and not any(tmp_path.iterdir())


def test_an_unwritable_folder_is_bad_input(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    err = one_line_exit_2(capsys, ["profile", "rin-tiny", "--out", str(blocker / "sub")])
    assert "cannot write results" in err


def test_a_cuda_profile_without_cuda_is_bad_input(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = one_line_exit_2(
        capsys, ["profile", "rin-tiny", "--device", "cuda", "--out", str(tmp_path)]
    )
    assert "CUDA" in err and not any(tmp_path.iterdir())


def test_a_cell_that_cannot_run_here_is_one_line_and_its_attempt_is_recorded(
    tmp_path, capsys, single_thread_workers
):
    err = one_line_exit_2(
        capsys, ["profile", "rin-tiny", "--dtype", "tf32", "--out", str(tmp_path)]
    )
    assert "ended in unsupported" in err and "tf32" in err
    (record,) = results.read(tmp_path / "profile")
    assert record.status == "unsupported" and record.cell.dtype == "tf32"


def test_a_failed_profile_is_one_line_and_keeps_the_store(tmp_path, capsys, fake, monkeypatch):
    store = tmp_path / "profile"
    store.mkdir()
    kept = store / "20260101T000000Z-old.jsonl"
    kept.write_text(json.dumps(profile_record().to_json()) + "\n")
    before = kept.read_bytes()
    monkeypatch.setenv("FAKE_PROFILE", "fail")
    err = one_line_exit_2(
        capsys, ["profile", "rin-tiny", "--out", str(tmp_path)], measure_spec=fake
    )
    assert "broke on purpose" in err and "recorded in" in err
    assert kept.read_bytes() == before
    attempts = [r for r in results.read(store) if r.status == "error"]
    assert len(attempts) == 1 and attempts[0].cell.phase == "profile:forward"


def test_a_cell_id_gives_the_cell_and_options_replace_its_fields(tmp_path, capsys, fake):
    cell_id = "dit-tiny.r16.b3.fp32.train_step.eager.cpu"
    argv = ["profile", cell_id, "--batch", "2", "--out", str(tmp_path)]
    assert main(argv, measure_spec=fake) == 0
    (record,) = results.read(tmp_path / "profile")
    assert record.cell == Cell("dit-tiny", 16, 2, phase="profile:train_step")


def test_the_suite_switch_adds_a_profile_cell_after_each_timed_cell(tmp_path):
    table = {"presets": ["dit-tiny"], "phases": ["params", "forward", "train_step"]}
    plain = runner.plan(suites.parse(table, name="p"), tmp_path)
    assert not any(i.cell.phase.startswith("profile:") for i in plain.todo)
    switched = suites.parse(table | {"settings": {"profile": True}}, name="p")
    phases = [item.cell.phase for item in runner.plan(switched, tmp_path).todo]
    assert phases == ["params", "forward", "profile:forward", "train_step", "profile:train_step"]
    only = runner.plan(switched, tmp_path, only=["*.profile:*"]).todo
    assert [i.cell.phase for i in only] == ["profile:forward", "profile:train_step"]
    with pytest.raises(ValueError, match="profile = true or false"):
        Settings(profile="yes")


def test_a_suite_s_profile_cells_run_in_their_own_process_with_a_trace_folder(tmp_path, fake):
    table = {"presets": ["dit-tiny"], "phases": ["forward"], "settings": {"profile": True}}
    plan = runner.plan(suites.parse(table, name="p"), tmp_path)
    with results.Writer(plan.path) as writer:
        runner.execute(plan, writer, measure_spec=fake, progress=False)
    timed, profiled = results.read(plan.path)
    assert profiled.cell.phase == "profile:forward" and timed.cell.phase == "forward"
    assert profiled.details["trace_dir"] == str(plan.path.with_suffix(""))
    # Only the profile cell's request names a folder; no record's settings keep it.
    assert timed.details["trace_dir"] == "None" and TRACE_DIR not in profiled.settings
    resumed = runner.plan(suites.parse(table, name="p"), tmp_path, resume=plan.path)
    assert resumed.todo == () and resumed.already_done == 2


# --- records ------------------------------------------------------------------------------------


def profile_record(phase="profile:forward", preset="rin-tiny", values=None) -> Record:
    return Record(
        run=RunInfo("20260101T000000Z-old", "profile"),
        cell=Cell(preset, 16, 2, phase=phase),
        settings={},
        model=ModelInfo("rin", 7, {}, "0", Source("test", "tests")),
        env={"cpu_model": "Test CPU", "cpu_count": 2},
        status="ok",
        values=values if values is not None else profile_values(),
        details={"profile_clock": "cpu op self time", "idle_gaps_reason": "a CPU"},
    )


def profile_values() -> dict:
    return {
        "profile_steps": 3,
        "traced_step_ms": 10.0,
        "profiled_ms_median": 10.5,
        "unprofiled_ms_median": 10.0,
        "profiler_slowdown": 1.05,
        "time_ms_by_group": {"read": 2.0, "compute": 3.0, "write": 4.0, "outside the model": 1.0},
        "time_share_by_group": {
            "read": 0.2,
            "compute": 0.3,
            "write": 0.4,
            "outside the model": 0.1,
        },
        "mac_share_by_group": {"read": 0.25, "compute": 0.5, "write": 0.25},
        "achieved_tflops_by_group": {"read": 0.1, "compute": 0.2, "write": 0.05},
        "mfu_by_group": {"read": 0.01, "compute": 0.02, "write": 0.005},
        "top_ops": {"aten::addmm": {"self_ms": 5.0, "calls": 3, "share": 0.5, "flops": 2e9}},
    }


def test_a_profile_record_never_shadows_the_timed_record_of_its_cell():
    timed = profile_record(phase="forward", values={"latency_ms_median": 9.0})
    profiled = profile_record()  # the same cell but for its phase, filed after the timed one
    assert profiled.cell.id != timed.cell.id
    assert selection.latest([timed, profiled]) == [timed, profiled]
    assert results.latest_per_cell([timed, profiled])[timed.cell.id] is timed
    from reports.where_time_goes import profile_records

    assert profile_records([timed, profiled]) == [profiled]


def test_compare_judges_a_profile_cell_as_a_cell_of_its_own():
    from bench.compare import compare

    timed = profile_record(phase="forward", values={"latency_ms_median": 9.0, "macs_fwd": 5})
    profiled = profile_record(values=profile_values() | {"macs_fwd": 5})
    rows = compare([timed, profiled], [timed]).rows
    by_cell = {row.cell: row for row in rows if row.item == "cell"}
    assert by_cell[profiled.cell.id].note == "not in NEW"
    assert all(row.cell == timed.cell.id for row in rows if row.item == "latency_ms_median")
