"""`rinbench run --devices`: cells spread over the GPUs of a node, tried on a CPU machine.

The device list is faked (a lister that names GPUs this machine does not have) and so is the
measurement (fake_devices.measure below): each worker process logs the CUDA_VISIBLE_DEVICES it was
given and when it ran, so the tests see the pinning and the concurrency of real processes. The
probe of each GPU's facts is faked the same way (fake_devices.probe replaces the one that would
start a worker importing torch). One test under the `gpu` marker runs real cells on every GPU.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import HEAR_SIGINT, stderr_on_a_terminal, use_stand_in, write_stand_in

from bench import cellprocess, cli, devicefacts, devices, pool, results, runner, suites
from bench.errors import UsageError
from bench.liveness import pid_alive as alive

REPO = Path(__file__).resolve().parents[1]
TINY = ["rin-tiny", "adm-tiny", "dit-tiny"]

FAKE = '''
"""Test double for the measurement and the device probe: logs what each worker saw."""
import fnmatch, json, os, subprocess, time

MODEL = {"family": "fake", "params": 7, "config": {}, "config_sha": "0", "source": {"kind": "test"}}

def _log(name, seen):
    with open(os.path.join(os.environ["FAKE_LOG_DIR"], name), "w") as f:
        json.dump(seen, f)

def measure(cell, settings, peak=None):
    seen = {"id": cell.id, "visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(),
            "start": time.time()}
    actions = json.loads(os.environ.get("FAKE_ACTIONS", "{}"))
    action = next((a for p, a in actions.items() if fnmatch.fnmatchcase(cell.id, p)), "sleep 0.3")
    if action == "hang":  # its child must die with the cell's process group
        seen["child"] = subprocess.Popen(["sleep", "300"]).pid
    _log(f"{os.getpid()}.start", seen)
    if action == "raise":
        raise ValueError("broken on purpose")
    if action == "hang":
        time.sleep(300)
    if action.startswith("sleep "):
        time.sleep(float(action.split()[1]))
    _log(f"{os.getpid()}.end", seen | {"end": time.time()})
    return {"status": "ok", "values": {"images_per_s": 1.0}, "error": None, "model": MODEL}

def probe(facts, device, with_peak, visible):
    """Stands in for bench.devicefacts.DeviceFactsCache._take."""
    from bench.measure.facts import DeviceFacts

    _log(f"probe-{device}-{visible}.json", {"device": device, "visible": visible})
    return DeviceFacts({"device": device, "probe_visible": visible})
'''


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    return write_stand_in(tmp_path_factory, "fake_devices", FAKE)


@pytest.fixture
def log_dir(fake_dir, monkeypatch, tmp_path):
    """fake_devices importable here and in the workers, the probe faked; returns the log folder."""
    folder = use_stand_in(monkeypatch, fake_dir, tmp_path / "log", "FAKE_LOG_DIR")
    import fake_devices

    monkeypatch.setattr(devicefacts.DeviceFactsCache, "_take", fake_devices.probe)
    return folder


def suite_of(phases, device_axis=("cuda",), timeout_s=60):
    table = {"timeout_s": timeout_s, "presets": TINY, "phases": list(phases)}
    return suites.parse(table | {"devices": list(device_axis)}, name="spread")


def run(suite, out_dir, chosen, **plan_options):
    plan = runner.plan(suite, out_dir, **plan_options)
    with results.Writer(plan.path) as writer:
        summary = runner.execute(
            plan, writer, measure_spec="fake_devices:measure", progress=False, devices=chosen
        )
    return plan, summary


def seen_cells(log_dir: Path) -> dict[str, dict]:
    """cell id -> what its worker logged (visible devices, start, end), for the cells that ended."""
    return {
        seen["id"]: seen
        for seen in (json.loads(path.read_text()) for path in log_dir.glob("*.end"))
    }


def overlap(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def test_cells_run_concurrently_one_per_device_each_pinned_to_its_own(log_dir, tmp_path):
    suite = suite_of(["forward", "train_step", "sample"])
    plan, summary = run(suite, tmp_path / "results", ("0", "1", "2"))
    records = results.read(plan.path)
    assert sorted(r.cell.id for r in records) == sorted(c.id for c in suite.cells)
    assert summary.statuses == {"ok": 9} and not summary.interrupted
    seen = seen_cells(log_dir)
    assert len(seen) == 9
    for record in records:
        assert record.cell.device == "cuda"  # the cell reads as on a one-GPU machine
        visible = seen[record.cell.id]["visible"]
        assert visible in {"0", "1", "2"}
        assert record.env["cuda_visible_devices"] == visible
        assert record.env["probe_visible"] == visible  # the facts of its own GPU
    cells = list(seen.values())
    pairs = [(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :]]
    assert not [
        (a["id"], b["id"]) for a, b in pairs if a["visible"] == b["visible"] and overlap(a, b)
    ]
    assert any(overlap(a, b) for a, b in pairs)  # concurrent, on different GPUs
    probes = sorted(json.loads(p.read_text())["visible"] for p in log_dir.glob("probe-*"))
    assert probes == ["0", "1", "2"]  # once per GPU, each pinned to it


def test_whole_node_cells_wait_for_every_device_and_run_alone(log_dir, tmp_path):
    suite = suite_of(["forward", "fid"], device_axis=("cpu", "cuda"))
    plan, summary = run(suite, tmp_path / "results", ("0", "1"))
    assert summary.statuses == {"ok": 12}
    seen = seen_cells(log_dir)
    records = {r.cell.id: r for r in results.read(plan.path)}
    whole = [s for s in seen.values() if ".fid." in s["id"] or s["id"].endswith(".cpu")]
    assert len(whole) == 9  # every fid cell, and the CPU forward cells
    for cell in whole:
        others = [s for s in seen.values() if s is not cell]
        assert not [s["id"] for s in others if overlap(cell, s)], cell["id"]
        if cell["id"].endswith(".cuda"):  # a fid cell sees every GPU of the sweep
            assert cell["visible"] == "0,1"
            assert records[cell["id"]].env["cuda_visible_devices"] == "0,1"
        else:  # a CPU cell is not pinned to a GPU
            assert cell["visible"] == os.environ.get("CUDA_VISIBLE_DEVICES")
            assert "cuda_visible_devices" not in records[cell["id"]].env
    single = [s for s in seen.values() if s not in whole]
    assert {s["visible"] for s in single} <= {"0", "1"}


@pytest.mark.parametrize(
    ("cell", "whole"),
    [
        ("rin-tiny.r16.b1.fp32.forward.eager.cuda", False),
        ("rin-tiny.r16.b1.bf16.train_step.eager.cuda", False),
        ("rin-tiny.r16.b1.fp32.profile:forward.eager.cuda", False),
        ("rin-tiny.r16.b1.fp32.fid.eager.cuda", True),
        ("rin-tiny.r16.b1.fp32.forward.eager.cpu", True),
    ],
)
def test_needs_whole_node(cell, whole):
    from bench.cell import Cell
    from bench.measure.cell import Settings
    from bench.suites import Planned

    assert runner.needs_whole_node(Planned(Cell.from_id(cell), Settings())) is whole


def test_records_are_those_of_a_sequential_run_and_retry_works_the_same(
    log_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("FAKE_ACTIONS", json.dumps({"adm-tiny.*.sample.*": "raise", "*": "sleep 0"}))
    suite = suite_of(["params", "forward", "sample", "fid"])

    def outcomes(plan):
        return sorted((r.cell.id, r.status) for r in results.read(plan.path))

    sequential, _ = run(suite, tmp_path / "one", None)
    spread, summary = run(suite, tmp_path / "two", ("0", "1"))
    assert outcomes(spread) == outcomes(sequential)
    assert len(outcomes(spread)) == 12 and summary.statuses == {"ok": 11, "error": 1}
    params = [r for r in results.read(spread.path) if r.cell.phase == "params"]
    assert all("cuda_visible_devices" not in r.env for r in params)  # counted in this process

    monkeypatch.setenv("FAKE_ACTIONS", "{}")
    retried, summary = run(
        suite, tmp_path / "two", ("0", "1"), resume=spread.path, retry_failed=True
    )
    assert [item.cell.id for item in retried.todo] == ["adm-tiny.r32.b1.fp32.sample.eager.cuda"]
    assert summary.statuses == {"ok": 1}
    latest = results.latest_per_cell(results.read(spread.path))
    assert len(latest) == 12 and {r.status for r in latest.values()} == {"ok"}


def test_a_timeout_on_one_device_does_not_stop_the_others(log_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ACTIONS", json.dumps({"rin-tiny.*.forward.*": "hang", "*": "sleep 0"}))
    suite = suite_of(["forward", "train_step"], timeout_s=5)
    plan, summary = run(suite, tmp_path / "results", ("0", "1"))
    records = {r.cell.id: r for r in results.read(plan.path)}
    hung = records["rin-tiny.r16.b1.fp32.forward.eager.cuda"]
    assert hung.status == "timeout" and hung.error.startswith("no result after 5 s")
    assert summary.statuses == {"ok": 5, "timeout": 1}
    starts = [json.loads(path.read_text()) for path in log_dir.glob("*.start")]
    (started,) = [s for s in starts if s["id"] == hung.cell.id]
    assert not alive(started["child"])
    others = seen_cells(log_dir).values()
    # The other GPU measured every other cell while the hung one waited for its timeout.
    assert len(others) == 5 and all(s["visible"] != started["visible"] for s in others)
    assert all(s["end"] < started["start"] + 5 for s in others)


def sweep_command(suite_file, out_dir, *options):
    """`bench run` in a fresh interpreter, on three fake GPUs, measuring with fake_devices."""
    code = HEAR_SIGINT + (
        "import sys, fake_devices, bench.devices, bench.devicefacts, bench.commands.run as run; "
        "bench.devices.visible_cuda_devices = lambda: ('0', '1', '2'); "
        "run._check_cuda = lambda *args: None; "
        "bench.devicefacts.DeviceFactsCache._take = fake_devices.probe; "
        "from bench.cli import main; "
        "sys.exit(main(sys.argv[1:], measure_spec='fake_devices:measure'))"
    )
    command = [sys.executable, "-c", code, "run", str(suite_file), "--out", str(out_dir)]
    return [*command, "--devices", "all", "--no-progress", *options]


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_ctrl_c_kills_every_cell_in_flight_and_resume_records_each_cell_once(
    log_dir, tmp_path, stop
):
    suite_file = tmp_path / "spread.toml"
    suite_file.write_text(
        f'devices = ["cuda"]\npresets = {json.dumps(TINY)}\nphases = ["forward", "train_step", '
        '"sample"]'
    )
    env = dict(os.environ, FAKE_ACTIONS=json.dumps({"*": "sleep 1.5"}))
    command = sweep_command(suite_file, tmp_path / "results")
    sweep = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run_dir = tmp_path / "results" / "spread"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # wait for finished cells and three more in flight
        files = list(run_dir.glob("*.jsonl"))
        ended = {p.stem for p in log_dir.glob("*.end")}
        in_flight = [p for p in log_dir.glob("*.start") if p.stem not in ended]
        if files and len(files[0].read_text().splitlines()) >= 3 and len(in_flight) == 3:
            break
        time.sleep(0.05)
    sweep.send_signal(stop)
    _, stderr = sweep.communicate(timeout=60)
    assert sweep.returncode == 130, stderr
    assert b"--devices all" in stderr and b"Traceback" not in stderr
    for started in log_dir.glob("*.start"):  # no cell process outlives the runner
        assert not alive(int(started.stem))
    # The cells in flight were killed, not waited for: none of them got to its end.
    assert not [p.stem for p in in_flight if (log_dir / f"{p.stem}.end").exists()]
    recorded = [r.cell.id for r in results.read(files[0])]
    assert 3 <= len(recorded) < 9 and len(set(recorded)) == len(recorded)

    resumed = subprocess.run(
        [*command, "--resume"], env=dict(env, FAKE_ACTIONS="{}"), capture_output=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    ids = [r.cell.id for r in results.read(files[0])]
    assert len(ids) == 9 and len(set(ids)) == 9 and ids[: len(recorded)] == recorded
    assert len({r.run.id for r in results.read(files[0])}) == 1


@pytest.mark.parametrize(
    ("options", "listed", "message"),
    [
        (["--devices", "all"], (), "--devices all: torch sees no CUDA device on this machine"),
        (["--devices", "0,2"], ("0", "1"), "there is no GPU 2; torch sees 2 (indices 0-1)"),
        (["--devices", "1"], ("0",), "there is no GPU 1; torch sees 1 (index 0)"),
        (["--devices", "0,,1"], ("0", "1"), "expected 'all' or GPU indices separated by commas"),
        (["--devices", "gpu0"], ("0",), "expected 'all' or GPU indices separated by commas"),
        (["--devices", "-1"], ("0",), "expected 'all' or GPU indices separated by commas"),
        (["--devices", "1,1"], ("0", "1"), "lists GPU 1 twice"),
        (["--devices", "0", "--device", "cpu"], ("0",), "every cell of this sweep runs on cpu"),
    ],
)
def test_bad_devices_are_one_line_and_exit_2(
    tmp_path, monkeypatch, capsys, options, listed, message
):
    suite_file = tmp_path / "gpu.toml"
    suite_file.write_text('devices = ["cuda"]\npresets = ["rin-tiny"]\nphases = ["forward"]')
    monkeypatch.setattr(devices, "visible_cuda_devices", lambda: listed)
    status = cli.main(["run", str(suite_file), "--out", str(tmp_path), *options])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("rinbench: error: "), err
    assert message in err
    assert not (tmp_path / "gpu").exists()


def test_devices_on_a_cpu_only_suite_is_refused(tmp_path, capsys):
    status = cli.main(["run", "quick", "--devices", "0", "--out", str(tmp_path), "--dry-run"])
    err = capsys.readouterr().err
    assert status == 2 and "every cell of this sweep runs on cpu; pass --device cuda" in err


def test_device_indices_name_the_entries_of_cuda_visible_devices():
    assert devices.visible_entries(None, 3) == ("0", "1", "2")
    assert devices.visible_entries("4,5", 2) == ("4", "5")
    assert devices.visible_entries("GPU-8a1b, 7,bad", 2) == ("GPU-8a1b", "7")  # CUDA stops at bad
    assert devices.visible_entries("", 0) == ()
    assert devices.choose("1,0", lambda: ("4", "5")) == ("5", "4")
    assert devices.choose("all", lambda: ("4", "5")) == ("4", "5")


def test_the_gpus_are_counted_in_a_child_process(monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("counts real GPUs here")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert devices.visible_cuda_devices() == ()  # torch sees none, whatever the variable says
    with pytest.raises(UsageError, match="torch sees no CUDA device"):
        devices.choose("all", lambda: ())


def test_a_gpu_probe_is_pinned_to_its_gpu(monkeypatch):
    calls = []

    def fake_run_killable(command, output, timeout_s, visible=None, processes=None):
        calls.append((command, cellprocess.worker_environ(visible)["CUDA_VISIBLE_DEVICES"]))
        return 1

    monkeypatch.setattr(devicefacts, "run_killable", fake_run_killable)
    facts = devicefacts.DeviceFactsCache({"cuda"}, 10)
    assert facts.get("cuda", "3").env["error"].startswith("probe exited with code 1")
    facts.get("cuda", "3")  # cached
    facts.get("cuda", "GPU-5")
    assert [visible for _, visible in calls] == ["3", "GPU-5"]
    assert all("--probe" in command and "--peak" in command for command, _ in calls)


def test_the_bar_names_the_oldest_cell_in_flight_and_how_many_more(monkeypatch):
    from bench.cell import Cell
    from bench.progress import CellProgress
    from bench.record import Outcome

    terminal = stderr_on_a_terminal(monkeypatch)
    shown = CellProgress("spread", 3, enabled=True)
    cells = [Cell(preset, 16, 1, device="cuda") for preset in TINY]
    for cell in cells:
        shown.start(cell)
    assert f"{cells[0].id} (+2 in flight)" in terminal.getvalue()
    shown.done(cells[0], Outcome("ok"))
    assert f"{cells[1].id} (+1 in flight)" in terminal.getvalue()
    shown.close()


def test_the_pool_never_shares_a_slot_and_runs_whole_jobs_alone():
    spans = []

    def work(payload, taken):
        started = time.monotonic()
        time.sleep(0.05)
        spans.append((payload, taken, started, time.monotonic()))
        return payload * 10

    jobs = [pool.Job(n, whole=n in (0, 5)) for n in range(10)]
    with pool.Pool(("a", "b", "c"), pool.Processes()) as running:
        done = dict(running.results(jobs, work))
    assert done == {n: n * 10 for n in range(10)}
    for payload, taken, start, end in spans:
        others = [s for s in spans if s[0] != payload and s[2] < end and start < s[3]]
        if payload in (0, 5):
            assert taken == ("a", "b", "c") and not others
        else:
            assert len(taken) == 1 and all(taken[0] not in s[1] for s in others)
    assert spans[0][0] == 0  # a whole job first in line and a free node: it starts at once


def test_leaving_the_pool_early_kills_its_processes_and_starts_no_more():
    processes, sleepers = pool.Processes(), []

    def work(payload, taken):
        if payload == "fail":
            while not sleepers:
                time.sleep(0.01)
            raise RuntimeError("stop")
        process = processes.start(["sleep", "60"])
        sleepers.append(process)
        try:
            return process.wait()
        finally:
            processes.finished(process)

    jobs = [pool.Job("sleep"), pool.Job("fail"), pool.Job("never")]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="stop"), pool.Pool(("a", "b"), processes) as running:
        list(running.results(jobs, work))
    assert time.monotonic() - started < 20
    assert [process.poll() for process in sleepers] == [-signal.SIGKILL]  # "never" never ran
    with pytest.raises(pool.Cancelled):
        processes.start(["true"])


@pytest.mark.gpu
def test_tiny_cells_on_every_gpu(tmp_path):
    suite_file = tmp_path / "gpus.toml"
    suite_file.write_text(
        'devices = ["cuda"]\npresets = ["rin-tiny", "dit-tiny"]\nphases = ["forward"]\n'
        "[settings]\nwarmup = 1\nmin_repeats = 3\nmin_seconds = 0.1\nmax_seconds = 2\n"
    )
    status = cli.main(
        ["run", str(suite_file), "--out", str(tmp_path), "--devices", "all", "--no-progress"]
    )
    assert status == 0
    (run_file,) = (tmp_path / "gpus").glob("*.jsonl")
    records = results.read(run_file)
    visible = set(devices.visible_cuda_devices())
    assert len(records) == 2 and {r.status for r in records} == {"ok"}
    for record in records:
        assert record.env["cuda_visible_devices"] in visible
        assert record.env["gpu"]["visible_devices"] == record.env["cuda_visible_devices"]
