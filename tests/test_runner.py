"""The runner: each failure provoked for real in the cell's own process, and resume after Ctrl-C.

A fake measure function stands in for the harness's (see FAKE_MEASURE): it does what the
FAKE_ACTIONS environment variable says for each cell id, so the worker processes start in
milliseconds instead of importing torch and the models.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import HEAR_SIGINT, use_stand_in, write_stand_in

from bench import cellprocess, planning, results, runner, scratch, suites
from bench.cell import Cell
from bench.liveness import pid_alive as alive
from bench.record import CELL_TIME_KEY

REPO = Path(__file__).resolve().parents[1]
TINY = ("rin-tiny", "adm-tiny", "dit-tiny")

FAKE_MEASURE = '''
"""Test double for bench.worker.measure_cell: FAKE_ACTIONS maps cell-id globs to an action."""
import fnmatch, json, os, signal, subprocess, time

def measure(cell, settings, peak=None):
    pid_dir = os.environ.get("FAKE_PID_DIR")
    if pid_dir:
        with open(os.path.join(pid_dir, f"{os.getpid()}.pid"), "w") as f:
            f.write(cell.id)
    actions = json.loads(os.environ.get("FAKE_ACTIONS", "{}"))
    action = next((a for p, a in actions.items() if fnmatch.fnmatchcase(cell.id, p)), "ok")
    if action == "raise":
        raise ValueError("broken on purpose")
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "oom":
        import torch
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")
    if action == "hang":
        child = subprocess.Popen(["sleep", "300"])  # must die with the cell's process group
        with open(os.path.join(os.environ["FAKE_PID_DIR"], "child"), "w") as f:
            f.write(str(child.pid))
        time.sleep(300)
    if action.startswith("sleep "):
        time.sleep(float(action.split()[1]))
    model = {"family": "fake", "params": 7, "config": {}, "config_sha": "0", "source": {"kind": "test"}}
    return {"status": "ok", "values": {"images_per_s": 1.0, "pid": os.getpid()}, "error": None,
            "model": model, "details": {"quiet": os.environ.get("RINBENCH_QUIET_FILE")}}

def prepare(cell=None):  # a held worker's (--prestart): its pid, so that a test can see it die
    if os.environ.get("FAKE_PREPARE_EXIT"):
        os._exit(3)  # a crash before the worker says it is ready
    pid_dir = os.environ.get("FAKE_PID_DIR")
    if pid_dir:
        with open(os.path.join(pid_dir, f"{os.getpid()}.held"), "w") as f:
            f.write("held")
'''


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    return write_stand_in(tmp_path_factory, "fake_measure", FAKE_MEASURE)


def use_fake(monkeypatch, fake_dir, folder):
    """Make fake_measure importable here and in the worker processes; returns its pid folder."""
    return use_stand_in(monkeypatch, fake_dir, folder / "pids", "FAKE_PID_DIR")


@pytest.fixture
def fake(fake_dir, monkeypatch, tmp_path):
    return use_fake(monkeypatch, fake_dir, tmp_path)


def tiny_suite(phases, batches=(1,), timeout_s=60):
    table = {
        "timeout_s": timeout_s,
        "presets": list(TINY),
        "batches": list(batches),
        "phases": list(phases),
    }
    return suites.parse(table, name="faults")


def run(suite, out_dir, prestart=False, **plan_options):
    plan = runner.plan(suite, out_dir, **plan_options)
    with results.Writer(plan.path) as writer:
        summary = runner.execute(
            plan, writer, measure_spec="fake_measure:measure", progress=False, prestart=prestart
        )
    return plan, summary


def bench_run_command(suite_file, out_dir, *options):
    """`bench run` in a fresh interpreter, measuring with fake_measure instead of the harness."""
    return [
        sys.executable,
        "-c",
        HEAR_SIGINT + "import sys; from bench.cli import main; "
        "sys.exit(main(sys.argv[1:], measure_spec='fake_measure:measure'))",
        "run",
        str(suite_file),
        "--out",
        str(out_dir),
        *options,
    ]


def statuses(path):
    return {r.cell.id: r for r in results.read(path)}


@pytest.fixture(scope="module")
def faulty_run(fake_dir, tmp_path_factory):
    """One sweep shared by the tests below: each failure kind once, ok cells between them."""
    folder = tmp_path_factory.mktemp("faulty")
    actions = {
        "rin-tiny.*.params.*": "raise",  # in this process
        "rin-tiny.*.forward.*": "raise",
        "adm-tiny.*.forward.*": "kill",
        "dit-tiny.*.forward.*": "oom",
    }
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_fake(monkeypatch, fake_dir, folder)
        monkeypatch.setenv("FAKE_ACTIONS", json.dumps(actions))
        plan, summary = run(tiny_suite(["params", "forward", "train_step"]), folder / "results")
    return plan, summary, statuses(plan.path)


def test_each_failure_becomes_a_record_and_the_sweep_goes_on(faulty_run):
    plan, summary, records = faulty_run
    assert len(records) == 9 and not summary.interrupted
    by_status = {cell_id: (r.status, r.error) for cell_id, r in records.items()}
    assert by_status["rin-tiny.r16.b1.fp32.params.eager.cpu"][0] == "error"
    assert "ValueError: broken on purpose" in by_status["rin-tiny.r16.b1.fp32.params.eager.cpu"][1]
    assert by_status["rin-tiny.r16.b1.fp32.forward.eager.cpu"] == (
        "error",
        by_status["rin-tiny.r16.b1.fp32.forward.eager.cpu"][1],
    )
    assert (
        "broken on purpose (at fake_measure.py:"
        in by_status["rin-tiny.r16.b1.fp32.forward.eager.cpu"][1]
    )
    status, error = by_status["adm-tiny.r32.b1.fp32.forward.eager.cpu"]
    assert status == "error" and "killed by SIGKILL" in error
    status, error = by_status["dit-tiny.r32.b1.fp32.forward.eager.cpu"]
    assert status == "oom" and error.startswith("OutOfMemoryError: CUDA out of memory")
    for preset in ("rin-tiny.r16", "adm-tiny.r32", "dit-tiny.r32"):
        assert by_status[f"{preset}.b1.fp32.train_step.eager.cpu"] == ("ok", None)
    record = records["dit-tiny.r32.b1.fp32.train_step.eager.cpu"]
    assert record.run == plan.run and record.env["device"] == "cpu"
    assert record.model.family == "fake" and record.settings["warmup"] == 3
    assert record.model.source.kind == "test" and record.values["images_per_s"] == 1.0
    assert records["adm-tiny.r32.b1.fp32.forward.eager.cpu"].model is None
    assert summary.statuses == {"ok": 5, "error": 3, "oom": 1}
    # Every record, failed or not, in this process or not, says how long its cell took.
    assert all(r.details[CELL_TIME_KEY]["wall"] > 0 for r in records.values())


def test_prestarted_cells_end_as_they_would_each_started_while_the_one_before_ran(
    fake_dir, faulty_run, tmp_path, monkeypatch
):
    """--prestart: every failure kind ends as without it; each worker but the first was held, and
    each cell but the last waited for the next one's ready file."""
    pids = use_fake(monkeypatch, fake_dir, tmp_path)
    _, _, plain = faulty_run
    monkeypatch.setenv("FAKE_ACTIONS", json.dumps({"adm-tiny.*.forward.*": "kill"}))
    plan, summary = run(tiny_suite(["forward", "train_step"]), tmp_path / "r", prestart=True)
    records = statuses(plan.path)
    assert len(records) == 6 and not summary.interrupted
    killed = "adm-tiny.r32.b1.fp32.forward.eager.cpu"
    assert {k: r.status for k, r in records.items()} == {
        k: "error" if k == killed else "ok" for k in records
    }
    assert plain[killed].error.split(";")[0] == records[killed].error.split(";")[0]
    # Every worker but the first was held (the killed one's result is lost with it), and the
    # held ones prepared: five held pids.
    held = [cell for cell, r in records.items() if "held" in r.details[CELL_TIME_KEY]]
    first, *others = records
    assert held == [cell for cell in others if records[cell].status == "ok"]
    assert all(records[cell].details[CELL_TIME_KEY]["ahead"] > 0 for cell in held)
    assert len(list(pids.glob("*.held"))) == 5
    # Each cell's quiet file is its successor's ready file; the last has none.
    quiet = [r.details.get("quiet") for r in records.values() if r.status == "ok"]
    assert all(path and path.endswith("ready") for path in quiet[:-1]) and quiet[-1] is None
    assert len(set(quiet[:-1])) == len(quiet) - 1
    with pytest.raises(ValueError, match="prestart runs the cells on one device"):
        runner.execute(plan, None, devices=("0", "1"), prestart=True)


def test_a_held_worker_that_dies_before_it_is_ready_still_lets_the_cell_before_it_go_on(
    fake, monkeypatch, tmp_path
):
    monkeypatch.setenv("FAKE_PREPARE_EXIT", "1")
    cell = Cell("rin-tiny", 16, 1, phase="forward")
    held = cellprocess.hold(cell, {}, None, "fake_measure:measure", tmp_path)
    deadline = time.monotonic() + 30
    while not held.ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held.ready.exists() and held.process.wait(timeout=5) == 3
    held.cancel()


def test_ctrl_c_ends_every_held_and_running_worker_of_a_prestarted_sweep(fake, tmp_path):
    suite_file = tmp_path / "held.toml"
    suite_file.write_text('presets = ["rin-tiny", "adm-tiny", "dit-tiny"]\nphases = ["forward"]')
    env = dict(os.environ, FAKE_ACTIONS=json.dumps({"*": "sleep 30"}))
    command = [*bench_run_command(suite_file, tmp_path / "results"), "--prestart"]
    sweep = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # one cell measuring, the next one held
        if len(list(fake.glob("*.pid"))) >= 1 and len(list(fake.glob("*.held"))) >= 1:
            break
        time.sleep(0.05)
    sweep.send_signal(signal.SIGINT)
    _, stderr = sweep.communicate(timeout=30)
    assert sweep.returncode == 130, stderr
    pids = [int(path.stem) for path in fake.iterdir()]
    assert len(pids) >= 2 and not [pid for pid in pids if alive(pid)]


def test_resume_skips_recorded_cells_and_retry_failed_redoes_errors(faulty_run):
    plan, _, records = faulty_run
    suite, out_dir = plan.suite, plan.path.parent.parent
    assert runner.plan(suite, out_dir, resume=plan.path).todo == ()
    latest = runner.plan(suite, out_dir, resume=runner.LATEST)
    assert latest.path == plan.path and latest.already_done == 9 and latest.run == plan.run
    retry = runner.plan(suite, out_dir, resume=plan.path, retry_failed=True)
    errors = {cell_id for cell_id, r in records.items() if r.status == "error"}
    assert {item.cell.id for item in retry.todo} == errors  # the oom cell is a result: kept


def test_resuming_under_other_settings_says_which_and_keeps_the_records(faulty_run, tmp_path):
    plan, _, _ = faulty_run
    suite, out_dir = plan.suite, plan.path.parent.parent
    assert runner.plan(suite, out_dir, resume=plan.path).warnings == ()
    # Records written before a setting existed read as its default: no drift.
    older = tmp_path / "faults" / plan.path.name
    older.parent.mkdir()
    lines = [json.loads(line) for line in plan.path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        del line["settings"]["warmup_steady_within"]
    older.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert runner.plan(suite, tmp_path, resume=older).warnings == ()
    # The suite edited since: its done cells' records stand, and the warning names the change.
    table = {"timeout_s": 60, "presets": list(TINY), "phases": ["params", "forward", "train_step"]}
    edited = suites.parse(table | {"settings": {"warmup": 7}}, name="faults")
    resumed = runner.plan(edited, out_dir, resume=plan.path)
    assert resumed.todo == () and len(resumed.warnings) == 1
    # The timed cells: a count depends on no setting.
    assert resumed.warnings[0].startswith("6 cell(s) of the resumed run were measured under other")
    assert "(warmup 3 in the run, 7 now)" in resumed.warnings[0]
    # Cells measured again (--retry-failed) are not among those whose records stand.
    retried = runner.plan(edited, out_dir, resume=plan.path, retry_failed=True)
    again = [item for item in retried.todo if item.cell.phase != "params"]
    assert retried.warnings[0].startswith(f"{6 - len(again)} cell(s) of the resumed run")


def test_a_resume_warns_when_a_count_kept_was_taken_under_another_sample_steps():
    # A flops record's macs_sample is sample_steps forward passes: the one setting a count
    # depends on. Any other setting of a count (warmup) is no drift.
    from bench import planning
    from bench.record import Record, RunInfo

    def kept(settings):
        suite = suites.parse({"presets": ["rin-tiny"], "phases": ["flops"]} | settings, name="s")
        return list(suite.plan)

    (item,) = kept({})
    then = Record(RunInfo("r", "s"), item.cell, item.settings.as_dict(), None, {}, "ok", {})
    assert planning.settings_drift(kept({"settings": {"warmup": 9}}), {item.cell.id: then}) == []
    # profile changes no measurement: a timed cell kept under it is no drift either.
    (timed,) = kept({"phases": ["forward"]})
    before = Record(RunInfo("r", "s"), timed.cell, timed.settings.as_dict(), None, {}, "ok", {})
    profiled = kept({"phases": ["forward"], "settings": {"profile": True}})
    assert (
        planning.settings_drift(
            [item for item in profiled if item.cell == timed.cell], {timed.cell.id: before}
        )
        == []
    )
    (warning,) = planning.settings_drift(
        kept({"settings": {"sample_steps": 20}}), {item.cell.id: then}
    )
    assert warning.startswith("1 cell(s) of the resumed run") and "sample_steps 10 in the run" in (
        warning
    )


def test_a_result_written_before_the_timeout_stands_when_the_process_is_slow_to_exit(tmp_path):
    # The worker renames its result into place once measured; a process killed at the timeout
    # after that (a slow CUDA teardown) measured its cell: ok, and its details say it was killed.
    from bench.record import Outcome

    result, output = tmp_path / "result.json", tmp_path / "output.log"
    output.write_text("", encoding="utf-8")
    result.write_text(json.dumps(Outcome("ok", {"latency_ms_median": 5.0}).to_json()), "utf-8")
    outcome = cellprocess.outcome_from_process(None, result, output, 3.0)
    assert outcome.status == "ok" and outcome.values["latency_ms_median"] == 5.0
    assert outcome.details[cellprocess.KILLED_AFTER_RESULT_KEY].startswith(
        "the cell process wrote its result but had not exited after 3 s"
    )
    result.unlink()
    outcome = cellprocess.outcome_from_process(None, result, output, 3.0)
    assert outcome.status == "timeout" and outcome.error.startswith("no result after 3 s")


def test_a_hung_cell_times_out_and_its_whole_process_group_dies(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_ACTIONS", json.dumps({"dit-tiny.*": "hang"}))
    suite = tiny_suite(["forward"], timeout_s=1.5)
    started = time.monotonic()
    plan, summary = run(suite, tmp_path / "results", only=["dit-tiny.*", "rin-tiny.*"])
    assert time.monotonic() - started < 20
    records = statuses(plan.path)
    hung = records["dit-tiny.r32.b1.fp32.forward.eager.cpu"]
    assert hung.status == "timeout" and hung.error.startswith("no result after 1.5 s")
    assert records["rin-tiny.r16.b1.fp32.forward.eager.cpu"].status == "ok"
    child = int((fake / "child").read_text())
    assert not alive(child)


@pytest.mark.slow
def test_ctrl_c_keeps_finished_records_and_resume_completes_each_cell_once(fake, tmp_path):
    suite_file = tmp_path / "slow.toml"
    suite_file.write_text(
        'presets = ["rin-tiny", "adm-tiny", "dit-tiny"]\nphases = ["forward", "train_step", "sample"]'
    )
    actions = {"dit-tiny.*.sample.*": "raise", "*": "sleep 0.25"}
    env = dict(os.environ, FAKE_ACTIONS=json.dumps(actions))
    command = bench_run_command(suite_file, tmp_path / "results")
    sweep = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run_dir = tmp_path / "results" / "slow"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for two finished cells and a third in flight
        files = list(run_dir.glob("*.jsonl"))
        if files and len(files[0].read_text().splitlines()) >= 2 and len(list(fake.iterdir())) >= 3:
            break
        time.sleep(0.05)
    sweep.send_signal(signal.SIGINT)
    _, stderr = sweep.communicate(timeout=30)
    assert sweep.returncode == 130, stderr
    assert b"--resume" in stderr and b"Traceback" not in stderr
    run_file = files[0]
    recorded = [r.cell.id for r in results.read(run_file)]
    assert 2 <= len(recorded) < 9
    for pid_file in fake.iterdir():  # no cell process outlives the runner
        assert not alive(int(pid_file.stem))

    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, timeout=120)
    assert resumed.returncode == 1, resumed.stderr  # the sweep finished; one cell failed
    ids = [r.cell.id for r in results.read(run_file)]
    assert len(ids) == 9 and len(set(ids)) == 9
    assert ids[: len(recorded)] == recorded
    assert len({r.run.id for r in results.read(run_file)}) == 1
    assert "| dit-tiny | 32 | cpu fp32 b1 eager |" in resumed.stdout.decode()
    assert (
        "- dit-tiny 32 px, cpu fp32 b1 eager, sample: error"
        in run_file.with_suffix(".md").read_text()
    )


def test_resume_refuses_a_report_beside_the_run_file(tmp_path):
    report = tmp_path / "20260101T000000Z-host-cpu-abc1234.md"
    report.write_text("| table |\n")
    with pytest.raises(runner.RunError, match="is not a run file"):
        planning.resume_path(tmp_path, report)


def test_resume_latest_ignores_files_not_named_like_a_run(tmp_path):
    older = tmp_path / "20260101T000000Z-host-cpu-abc1234.jsonl"
    older.write_text("")
    (tmp_path / "ci-cpu.jsonl").write_text("")  # a baseline copied in: sorts last, is not a run
    assert planning.resume_path(tmp_path, runner.LATEST) == older


@pytest.mark.parametrize(
    ("returned", "problem"),
    [
        ("not a dict", "an outcome is a JSON object, got str"),
        ({"status": "finished"}, "unknown status 'finished'"),
        ({"status": "timeout", "error": "x"}, "status 'timeout' is not one a measurement gives"),
        ({"status": "oom"}, "status 'oom' needs a reason in 'error'"),
        ({"status": "ok", "values": [1]}, "'values' and 'details' must be JSON objects"),
        ({"status": "ok", "model": {"family": "x"}}, "'model' is not a model's description"),
        ({"status": "ok", "extra": 1}, "unknown outcome keys extra"),
    ],
)
def test_a_broken_measure_contract_becomes_an_error_saying_how(returned, problem):
    from bench.cell import Cell
    from bench.worker import run_measure

    outcome = run_measure(lambda *args: returned, Cell("rin-tiny", 16, 1), {})
    assert outcome.status == "error" and outcome.model is None
    assert outcome.error.startswith("the measure function broke its contract: ")
    assert problem in outcome.error


def test_an_outcome_or_its_json_object_passes_the_contract():
    from bench.cell import Cell
    from bench.record import Outcome
    from bench.worker import run_measure

    cell = Cell("rin-tiny", 16, 1)
    outcome = Outcome("ok", {"params": 1}, details={"warnings": []})
    assert run_measure(lambda *args: outcome, cell, {}) is outcome
    assert run_measure(lambda *args: outcome.to_json(), cell, {}) == outcome


def test_stale_scratch_folders_of_dead_runners_are_removed(tmp_path):
    child = subprocess.Popen(["true"])  # a finished child: its pid is free
    child.wait()
    stale = tmp_path / f"{scratch.SCRATCH_PREFIX}{child.pid}-abc"
    live = tmp_path / f"{scratch.SCRATCH_PREFIX}{os.getpid()}-def"
    other = tmp_path / f"{scratch.SCRATCH_PREFIX}abc"  # an older name without a pid: not ours
    for folder in (stale, live, other):
        (folder / "inner").mkdir(parents=True)
    assert scratch.remove_stale_scratch(tmp_path) == [stale]
    assert not stale.exists() and live.is_dir() and other.is_dir()


@pytest.mark.slow
def test_a_runner_killed_with_sigkill_leaves_scratch_the_next_run_removes(fake, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    suite_file = tmp_path / "slow.toml"
    suite_file.write_text('presets = ["rin-tiny"]\nphases = ["forward"]')
    env = dict(os.environ, TMPDIR=str(tmp), FAKE_ACTIONS=json.dumps({"*": "sleep 30"}))
    command = bench_run_command(suite_file, tmp_path / "results", "--no-progress")
    sweep = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(fake.iterdir()):  # the cell is measuring
        time.sleep(0.05)
    left = list(tmp.glob(f"{scratch.SCRATCH_PREFIX}{sweep.pid}-*"))
    sweep.kill()
    sweep.wait()
    assert left and all(folder.is_dir() for folder in left)
    second = subprocess.run(
        [*command[:-1], "--no-progress"],
        env=dict(env, FAKE_ACTIONS="{}"),
        capture_output=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert list(tmp.iterdir()) == []


def test_progress_in_a_log_file_is_one_line_per_cell(fake, tmp_path):
    suite_file = tmp_path / "two.toml"
    suite_file.write_text('presets = ["rin-tiny", "dit-tiny"]\nphases = ["forward"]')
    log = tmp_path / "log.txt"
    command = bench_run_command(suite_file, tmp_path / "results")
    with open(log, "w") as sink:
        subprocess.run(command, stderr=sink, stdout=subprocess.DEVNULL, timeout=120, check=True)
    text = log.read_text()
    assert "\r" not in text
    assert "[1/2] ok: rin-tiny.r16.b1.fp32.forward.eager.cpu" in text
    assert "[2/2] ok: dit-tiny.r32.b1.fp32.forward.eager.cpu" in text
