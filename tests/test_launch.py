"""`rinbench run --launcher`: cells measured in submitit jobs, records filed by the one parent.

The jobs are real: submitit's LocalExecutor starts them as processes on this machine, pickles the
request, keeps their states and delivers the time-limit signal, as Slurm would. The fake measure
function of the runner's tests stands in for the harness (FAKE_ACTIONS says what each cell does),
so a job costs the import of torch for its device facts, about two seconds.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from helpers import optional_import, write_stand_in
from test_runner import FAKE_MEASURE, alive, bench_run_command, use_fake

from bench import cli, results, runner, suites
from bench.launch import job as job_module
from bench.launch import settings as launch_settings
from bench.launch.sweep import Sweep, Target, jobs_folder

optional_import("submitit", extra="slurm")

TINY = ("rin-tiny", "adm-tiny", "dit-tiny")
FAKE = "fake_measure:measure"


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    return write_stand_in(tmp_path_factory, "fake_measure", FAKE_MEASURE)


@pytest.fixture
def fake(fake_dir, monkeypatch, tmp_path):
    return use_fake(monkeypatch, fake_dir, tmp_path)


def suite_of(phases=("params", "forward"), timeout_s=60, launcher=None, presets=TINY):
    table = {"timeout_s": timeout_s, "presets": list(presets), "phases": list(phases)}
    if launcher is not None:
        table["launcher"] = launcher
    return suites.parse(table, name="launched")


def sweep(suite, out, *, resume=None, retry_failed=False, **settings):
    """Plan and run a launched sweep in this process, as `run --launcher submitit-local` does."""
    plan = runner.plan(suite, out, resume=resume, retry_failed=retry_failed)
    writer = results.Writer(plan.path)
    writer.open()
    targets = [Target.open(plan, writer, None)]
    chosen = launch_settings.SlurmSettings(**settings)
    try:
        summaries = Sweep(
            targets,
            chosen,
            kind="local",
            timeout_s=suite.timeout_s,
            measure_spec=FAKE,
            progress=False,
        ).execute()
    finally:
        writer.close()
    return targets, summaries


def comparable(record):
    """What a launched record shares with a local one: all but the env and the timings (the fake
    puts its process id among the values)."""
    values = {k: v for k, v in record.values.items() if k != "pid"}
    return (record.cell.id, record.status, values, record.model, record.settings, record.error)


def progress_events(run_file):
    events = []
    for path in sorted(jobs_folder(run_file).glob("progress-*.log")):
        events += [e | {"file": path.name} for e in job_module.read_events(path)]
    return events


def test_a_suite_split_over_jobs_gives_the_records_of_a_local_run(fake, tmp_path):
    suite = suite_of()
    targets, (summary,) = sweep(suite, tmp_path / "launched", cells_per_job=4)
    launched = results.read(targets[0].plan.path)

    plan = runner.plan(suite, tmp_path / "local")
    with results.Writer(plan.path) as writer:
        runner.execute(plan, writer, measure_spec=FAKE, progress=False)
    local = results.read(plan.path)

    assert not summary.interrupted and summary.measured == 6
    assert sorted(map(comparable, launched)) == sorted(map(comparable, local))
    jobs = {r.env["launcher"]["job_id"] for r in launched}
    assert len(jobs) == 2  # six cells, four per job
    assert all(r.env["cpu_count"] and r.run == targets[0].plan.run for r in launched)
    ledger = [json.loads(line) for line in targets[0].ledger.read_text().splitlines()]
    assert {e["submitted"] for e in ledger if "submitted" in e} == jobs
    assert {e["settled"] for e in ledger if "settled" in e} == jobs


def kill_job_when_cell_starts(run_folder, cell_glob, *, signum=signal.SIGKILL):
    """In a thread: wait for the job that starts a cell matching `cell_glob`, then kill its
    process (what a node failure does to it)."""
    import fnmatch

    def watch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for path in run_folder.rglob("progress-*.log"):
                events = job_module.read_events(path)
                facts = next((e for e in events if e["event"] == "job"), None)
                if facts and any(
                    e["event"] == "start" and fnmatch.fnmatchcase(e["cell"], cell_glob)
                    for e in events
                ):
                    time.sleep(0.5)  # the cell's worker is running
                    os.kill(facts["pid"], signum)
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_job_killed_mid_cell_records_that_cell_and_requeues_the_rest(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ACTIONS", json.dumps({"adm-tiny.*.forward.*": "sleep 60"}))
    suite = suite_of(phases=("forward",))
    killer = kill_job_when_cell_starts(tmp_path, "adm-tiny.*")
    # One job: rin-tiny, then adm-tiny (killed in flight), then dit-tiny (never started).
    targets, (summary,) = sweep(suite, tmp_path / "out", cells_per_job=3)
    killer.join()
    records = {r.cell.id: r for r in results.read(targets[0].plan.path)}
    assert len(records) == 3 and len(results.read(targets[0].plan.path)) == 3
    killed = records["adm-tiny.r32.b1.fp32.forward.eager.cpu"]
    assert killed.status == "error"
    assert "while measuring this cell" in killed.error and "job " in killed.error
    assert records["rin-tiny.r16.b1.fp32.forward.eager.cpu"].status == "ok"
    dit = records["dit-tiny.r32.b1.fp32.forward.eager.cpu"]
    assert dit.status == "ok"  # handed to a second job
    assert (
        dit.env["launcher"]["job_id"]
        != records["rin-tiny.r16.b1.fp32.forward.eager.cpu"].env["launcher"]["job_id"]
    )
    assert summary.statuses == {"ok": 2, "error": 1}


@pytest.mark.slow
def test_a_job_past_its_time_limit_records_a_timeout(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ACTIONS", json.dumps({"rin-tiny.*": "sleep 60"}))
    suite = suite_of(phases=("forward",), presets=("rin-tiny", "adm-tiny"))
    # 0.2 min: submitit's local controller signals the job at 9 s (as Slurm does 90 s before the
    # limit; the job has started its first cell by then) and kills it at 12 s; the cell's own
    # timeout (60 s) is far away.
    start = time.monotonic()
    targets, (summary,) = sweep(suite, tmp_path / "out", cells_per_job=2, time=0.2)
    assert time.monotonic() - start < 40
    records = {r.cell.id: r for r in results.read(targets[0].plan.path)}
    timed_out = records["rin-tiny.r16.b1.fp32.forward.eager.cpu"]
    assert timed_out.status == "timeout"
    assert "reached its time limit (0.2 min, --time) while measuring this cell" in timed_out.error
    assert records["adm-tiny.r32.b1.fp32.forward.eager.cpu"].status == "ok"  # in a second job
    assert len(results.read(targets[0].plan.path)) == 2
    # --retry-failed measures the timed-out cell again, once, in a job of its own.
    monkeypatch.setenv("FAKE_ACTIONS", "{}")
    path = targets[0].plan.path
    again, (summary,) = sweep(suite, tmp_path / "out", resume=path, retry_failed=True)
    assert [item.cell.id for item in again[0].plan.todo] == [timed_out.cell.id]
    assert summary.statuses == {"ok": 1}
    assert [r.status for r in results.read(path) if r.cell.id == timed_out.cell.id] == [
        "timeout",
        "ok",
    ]


def run_launched(suite_file, out, *options):
    command = bench_run_command(suite_file, out, "--launcher", "submitit-local", *options)
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def resume_launched(suite_file, out, run_file, suite) -> subprocess.CompletedProcess:
    """`run --launcher submitit-local --resume` of the sweep in `out` to its end, which must leave
    `run_file` holding one ok record for each cell of `suite`."""
    resumed = subprocess.run(
        bench_run_command(suite_file, out, "--launcher", "submitit-local", "--resume"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    records = results.read(run_file)
    assert sorted(r.cell.id for r in records) == sorted(c.id for c in suite.cells)
    assert all(r.status == "ok" for r in records)
    return resumed


def wait_for_records(folder, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list(folder.rglob("*.jsonl"))
        if files and sum(len(results.read(f)) for f in files) >= count:
            return files
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} records in {folder} after {timeout} s")


def write_suite(tmp_path, phases=("params", "forward")):
    path = tmp_path / "launched.toml"
    presets = ", ".join(f'"{p}"' for p in TINY)
    phase_list = ", ".join(f'"{p}"' for p in phases)
    path.write_text(f"timeout_s = 60\npresets = [{presets}]\nphases = [{phase_list}]\n")
    return path


@pytest.mark.slow
def test_a_parent_killed_and_resumed_files_every_cell_once(fake, tmp_path, monkeypatch):
    """kill -9 of the parent leaves its jobs running; --resume re-attaches to them, files what
    they finished meanwhile, and submits nothing twice."""
    monkeypatch.setenv("FAKE_ACTIONS", json.dumps({"*.forward.*": "sleep 2"}))
    suite_file, out = write_suite(tmp_path), tmp_path / "out"
    parent = run_launched(suite_file, out, "--cells-per-job", "3", "--no-progress")
    (run_file,) = wait_for_records(out, 1)
    parent.kill()
    parent.wait()
    ledger = (jobs_folder(run_file) / "ledger.log").read_text().splitlines()
    submitted = [json.loads(line)["submitted"] for line in ledger if "submitted" in line]
    assert len(submitted) == 2

    resumed = resume_launched(suite_file, out, run_file, suite_of())
    assert "re-attached to jobs holding" in resumed.stderr
    ledger = (jobs_folder(run_file) / "ledger.log").read_text().splitlines()
    assert sum("submitted" in line for line in ledger) == 2  # every cell's first job finished it


@pytest.mark.slow
def test_ctrl_c_cancels_the_jobs_and_resume_completes_each_cell_once(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ACTIONS", json.dumps({"dit-tiny.*": "sleep 60"}))
    suite_file, out = write_suite(tmp_path, phases=("forward",)), tmp_path / "out"
    parent = run_launched(suite_file, out, "--cells-per-job", "3")  # one job: rin, adm, dit
    (run_file,) = wait_for_records(out, 2)
    parent.send_signal(signal.SIGINT)  # Ctrl-C; on a cluster the jobs are not in its group
    _, err = parent.communicate(timeout=60)
    assert parent.returncode == 130, err
    assert "the jobs were cancelled" in err and "--launcher submitit-local" in err
    ledger = [json.loads(line) for line in (jobs_folder(run_file) / "ledger.log").open()]
    cancelled = [e["cancelled"] for e in ledger if "cancelled" in e]
    deadline = time.monotonic() + 10  # submitit's local controller stops its job in a second
    while any(alive(int(job_id)) for job_id in cancelled) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cancelled and not any(alive(int(job_id)) for job_id in cancelled)
    assert len(results.read(run_file)) == 2

    monkeypatch.setenv("FAKE_ACTIONS", "{}")
    # Every cell ok: the cancelled cell was measured, not failed.
    resume_launched(suite_file, out, run_file, suite_of(("forward",)))


def test_partitions_each_get_a_run_file_in_one_folder_and_resume_by_partition(
    fake, tmp_path, capsys
):
    suite_file, out = write_suite(tmp_path, phases=("params",)), tmp_path / "out"
    argv = ["run", str(suite_file), "--out", str(out), "--launcher", "submitit-local"]
    argv += ["--partitions", "a100,h100", "--cells-per-job", "3", "--no-progress"]
    assert cli.main(argv, measure_spec=FAKE) == 0
    files = sorted((out / "launched").glob("*.jsonl"))
    assert [f.name.split(".")[-2] for f in files] == ["a100", "h100"]
    assert files[0].name.removesuffix(".a100.jsonl") == files[1].name.removesuffix(".h100.jsonl")
    for path, partition in zip(files, ("a100", "h100"), strict=True):
        records = results.read(path)
        assert len(records) == 3 and {r.run.id for r in records} == {path.stem}
        assert {r.env["launcher"]["partition"] for r in records} == {partition}
    # The folder holds both partitions' records for the report; resuming finds both files.
    assert len(results.read(out)) == 6
    capsys.readouterr()
    assert cli.main([*argv, "--resume", "--dry-run"], measure_spec=FAKE) == 0
    assert cli.main([*argv, "--resume", str(files[1]), "--dry-run"], measure_spec=FAKE) == 0
    assert capsys.readouterr().out == ""  # nothing left to measure on either partition

    # Nodes of two kinds: the report keeps each partition's records as hardware of its own (a
    # GPU's name on a cluster; here, as both "partitions" share this CPU, a renamed CPU model).
    from reports import load

    text = files[1].read_text().replace('"cpu_model": "', '"cpu_model": "Other ')
    files[1].write_text(text)
    frame = load.frame(results.read(out))
    per_hardware = frame.groupby("hardware")["run_id"].agg(set).to_dict()
    assert sorted(map(sorted, per_hardware.values())) == [[files[0].stem], [files[1].stem]]
    assert len(frame) == 6


def run_cli(argv, capsys):
    status = cli.main(argv, measure_spec=FAKE)
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--partitions", "a100,,h100"], "'' is not a partition name"),
        (["--partitions", "a100;rm"], "'a100;rm' is not a partition name"),
        (["--partitions", "a100,a100"], "partition 'a100' is named twice"),
        (["--partitions", "a100,v100"], "unknown partition 'v100'; this cluster has: a100, h100"),
        (["--partition", "a", "--partitions", "b,c"], "give --partition or --partitions"),
    ],
)
def test_a_bad_partition_is_one_line_and_exit_2(flags, message, tmp_path, capsys, monkeypatch):
    bin_dir = tmp_path / "bin"  # a cluster's tools: sinfo lists two partitions
    bin_dir.mkdir()
    for tool, script in (("sinfo", "printf 'a100\\nh100\\nh100\\n'"), ("sbatch", "exit 1")):
        (bin_dir / tool).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / tool).chmod(0o755)
    (bin_dir / "srun").symlink_to(bin_dir / "sbatch")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    suite_file = write_suite(tmp_path, phases=("params",))
    argv = ["run", str(suite_file), "--out", str(tmp_path / "out"), "--launcher", "slurm"]
    status, err = run_cli([*argv, *flags], capsys)
    assert status == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_without_submitit_or_slurm_the_launcher_says_what_to_install(tmp_path, capsys, monkeypatch):
    suite_file = write_suite(tmp_path, phases=("params",))
    argv = ["run", str(suite_file), "--out", str(tmp_path / "out"), "--launcher", "slurm"]
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    status, err = run_cli(argv, capsys)
    assert status == 2 and err.count("\n") == 1 and "needs Slurm's sbatch" in err
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` raises ImportError
    status, err = run_cli(argv, capsys)
    assert status == 2 and err.count("\n") == 1
    assert "pip install 'rinbench[slurm]'" in err
    assert not (tmp_path / "out").exists()


def test_local_jobs_refuse_cuda_cells_where_this_machine_has_no_cuda(tmp_path, capsys, monkeypatch):
    """submitit-local's jobs run here, so they are held to a local run's check; Slurm's are not."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    suite_file = write_suite(tmp_path, phases=("forward",))
    argv = ["run", str(suite_file), "--out", str(tmp_path / "out"), "--device", "cuda"]
    status, err = run_cli([*argv, "--launcher", "submitit-local"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "measures cells on cuda, but no CUDA device is visible here" in err
    assert not list((tmp_path / "out").glob("*/*.jsonl"))


def test_the_launcher_table_is_checked_and_the_flags_win_over_it(tmp_path, capsys):
    suite = suite_of(launcher={"partitions": ["a100", "h100"], "time": 30, "cells_per_job": 2})
    chosen = launch_settings.resolve(suite.launcher, {"partition": "h200", "time": 5})
    assert chosen.partitions == ("h200",) and not chosen.per_partition_files
    assert (chosen.time, chosen.cells_per_job) == (5, 2)
    table_only = launch_settings.resolve(suite.launcher, {})
    assert table_only.partitions == ("a100", "h100") and table_only.per_partition_files
    assert launch_settings.SlurmSettings(cells_per_job=3).time_min(600) == 30 + 10

    path = tmp_path / "typo.toml"
    path.write_text('presets = ["rin-tiny"]\nphases = ["params"]\n[launcher]\nparttion = "a100"\n')
    status, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "unknown [launcher] key 'parttion'; valid: partition, partitions, account" in err
    with pytest.raises(suites.SuiteError, match="'time' must be a positive number"):
        suite_of(launcher={"time": -1})
    status, err = run_cli(["run", str(path.parent / "none.toml"), "--qos", "high"], capsys)
    assert status == 2 and "--qos is a setting of a cluster launch" in err


def test_progress_lines_cut_by_a_killed_job_are_skipped(tmp_path):
    path = tmp_path / "progress.log"
    path.write_text('{"event": "start", "cell": "a"}\n{"event": "do')
    events, offset = job_module.read_from(path)
    assert events == [{"event": "start", "cell": "a"}] and offset == path.read_text().index("{", 2)
    with open(path, "a") as log:  # the job, requeued, appends its next event after the cut
        log.write('{"event": "job", "pid": 1}\n{"event": "done", "cell": "a"}\n')
    more, _ = job_module.read_from(path, offset)
    assert more == [{"event": "done", "cell": "a"}]


def test_each_node_runs_torchrun_meeting_at_the_first_node():
    from bench.launch.torchrun import torchrun_command

    line = torchrun_command(
        ["train", "rin-tiny", "--steps", "2"],
        nnodes=2,
        nproc_per_node=8,
        endpoint="gpu17:29500",
        rdzv_id="rinbench-123",
    )
    assert line[0] == sys.executable and line[1:3] == ["-m", "torch.distributed.run"]
    flags = dict(zip(line[3:13:2], line[4:13:2], strict=True))
    assert flags == {
        "--nnodes": "2",
        "--nproc-per-node": "8",
        "--rdzv-backend": "c10d",
        "--rdzv-endpoint": "gpu17:29500",
        "--rdzv-id": "rinbench-123",
    }
    assert line[13:] == ["-m", "bench", "train", "rin-tiny", "--steps", "2"]


@pytest.mark.parametrize(
    "command, message",
    [
        (["--", "list"], "rinbench launch runs: train, fid model; got list"),
        (["--nodes", "2", "--launcher", "submitit-local", "--", "train", "rin-tiny", "--out", "x"],
         "submitit-local runs on this machine: --nodes 1"),
    ],
)  # fmt: skip
def test_launch_refuses_what_it_cannot_run_in_one_line(command, message, capsys):
    status, err = run_cli(["launch", *command], capsys)
    assert status == 2 and err.count("\n") == 1 and message in err, err


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_launch_trains_with_two_gloo_processes_in_a_local_job(tmp_path, capsys):
    """The job's task starts torchrun, whose two CPU processes join one gloo group."""
    out = tmp_path / "run"
    command = ["train", "rin-tiny", "--steps", "2", "--batch", "4", "--data-size", "16"]
    command += ["--device", "cpu", "--out", str(out), "--checkpoint-every", "2"]
    argv = ["launch", "--launcher", "submitit-local", "--nproc-per-node", "2"]
    argv += ["--port", str(free_port()), "--logs", str(tmp_path / "logs"), "--", *command]
    status, err = run_cli(argv, capsys)
    assert status == 0, err
    assert json.loads((out / "train_log.jsonl").read_text().splitlines()[-1])["step"] == 2
    (log,) = (tmp_path / "logs").glob("*_0_log.out")  # rank 0 prints the run's summary
    assert '"world_size": 2' in log.read_text() and "--nproc-per-node 2" in log.read_text()


def test_a_requeued_job_starts_again_from_its_first_unfinished_cell(
    fake_dir, tmp_path, monkeypatch
):
    """Slurm requeues a preempted job (submitit asks it to): the same request runs again, and the
    cells its progress file says are done are not measured twice."""
    use_fake(monkeypatch, fake_dir, tmp_path)
    plan = runner.plan(suite_of(phases=("params",)), tmp_path / "out")
    cells = [{"cell": i.cell.as_dict(), "settings": {}} for i in plan.todo]
    progress = tmp_path / "progress.log"
    request = {"cells": cells, "progress": str(progress), "measure_spec": FAKE, "timeout_s": 60}
    request |= {"run_file": str(plan.path), "partition": "a100"}
    first = cells[0]["cell"]["id"]
    progress.write_text(
        json.dumps({"event": "done", "cell": first, "env": {}, "outcome": {}}) + "\n"
    )
    assert job_module.measure_cells(request) == {"measured": 2}
    events = job_module.read_events(progress)
    started = [e["cell"] for e in events if e["event"] == "start"]
    assert started == [c["cell"]["id"] for c in cells[1:]]
    done = [e for e in events if e["event"] == "done"][1:]
    assert all(e["outcome"]["status"] == "ok" and e["env"]["cpu_count"] for e in done)
    assert all(e["env"]["launcher"]["partition"] == "a100" for e in done)


class _Ended:
    """A stand-in for a submitit job that ended without a result file."""

    def __init__(self, folder):
        self.paths = type("Paths", (), {"result_pickle": folder / "none.pkl"})()


@pytest.mark.parametrize(
    "state, status, words",
    [
        ("TIMEOUT", "timeout", "reached its time limit (30 min, --time)"),
        ("NODE_FAIL", "error", "lost its node (NODE_FAIL)"),
        ("OUT_OF_MEMORY", "error", "ran out of its host memory (OUT_OF_MEMORY; see --mem-gb)"),
        ("CANCELLED", "error", "was cancelled (scancel, or an administrator)"),
        ("PREEMPTED", "error", "was preempted and not requeued"),
        ("BOOT_FAIL", "error", "could not boot its node (BOOT_FAIL)"),
    ],
)
def test_each_slurm_end_of_a_job_names_its_reason(state, status, words, tmp_path):
    from bench.launch.sweep import Watched, failure_reason

    watched = Watched(None, _Ended(tmp_path), "123_4", "slurm", tmp_path / "p.log", ["a"])
    watched.facts = {"host": "gpu17"}
    chosen = launch_settings.SlurmSettings(time=30)
    assert failure_reason(watched, state, chosen, 600) == (
        status,
        f"Slurm job 123_4 on gpu17 {words}",
    )


def test_a_jobs_gpu_facts_measure_the_peak_only_for_timed_cells(monkeypatch):
    """A job whose cells on a GPU are all counts asks its probe for the environment alone."""
    from bench import devicefacts

    asked = []

    def take(cache, device, with_peak, visible):
        asked.append((device, with_peak))
        return devicefacts.DeviceFacts({"device": device})

    monkeypatch.setattr(devicefacts.DeviceFactsCache, "_take", take)
    job_module.device_facts("cuda", False, 60)
    job_module.device_facts("cuda", True, 60)
    assert asked == [("cuda", False), ("cuda", True)]


def test_a_job_request_written_before_the_measure_spec_rename_still_runs(fake):
    """Requests of a sweep submitted before `measure` became `measure_spec` name it the old way."""
    from bench.cell import Cell
    from bench.measure.facts import DeviceFacts

    cell = Cell("dit-tiny", 32, 1, phase="params")
    request = {"measure": FAKE, "timeout_s": 60}
    outcome = job_module.measure_one(cell, {}, DeviceFacts({"device": "cpu"}), request, "unused")
    assert outcome.status == "ok", outcome.error


def test_the_launchers_resume_hint_retries_the_failed_cells_still(capsys, tmp_path):
    from argparse import Namespace
    from types import SimpleNamespace

    from bench.launch import cli as launch_cli

    args = Namespace(suite="quick", launcher="slurm", only=None, retry_failed=True)
    plans, summaries = [SimpleNamespace(path=tmp_path / "r.jsonl")], [SimpleNamespace(measured=1)]
    launch_cli._say_how_to_resume(args, plans, summaries)
    assert capsys.readouterr().err.splitlines()[-1].endswith("--retry-failed")
