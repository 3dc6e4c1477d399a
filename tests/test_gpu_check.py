"""benchmarks/gpu/check.sh, the GPU check: its dry run on the CPU, so that the script a GPU lease
depends on cannot rot while no GPU is at hand, and its time budget."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from helpers import load_script

from bench import results, suites
from bench.cell import STATIC_PHASES
from bench.planning import with_profiles
from bench.record import CELL_TIME_KEY

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu" / "check.sh"
MAX_FILES, MAX_BYTES = 8, 16 * 2**20

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None,
    reason="the check is a bash script and needs coreutils' timeout",
)


def check_env(out: Path) -> dict:
    """check.sh's environment: its first call's results for a second kept beside OUT (not in the
    checkout), and no peer wheels: a checkout where `peer_wheels.py` ran has them in .whl, and the
    check would install them into the Python running the tests."""
    no_wheels = out.parent / "no-wheels"
    no_wheels.mkdir(exist_ok=True)
    return dict(
        os.environ,
        PYTHON=sys.executable,
        GPU_CHECK_STATE=str(out.parent / "state"),
        PEER_WHEELS=str(no_wheels),
    )


def run_check(out: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), str(out), *args],
        capture_output=True,
        text=True,
        env=check_env(out),
        timeout=timeout,
    )


def cpu_cells(suite: str = "gpu-check", only: str = "*") -> list[str]:
    """The ids of a suite's CPU plan (its profile cells included) that match the glob `only`."""
    plan = with_profiles(suites.load(suite, "cpu").plan)
    return [item.cell.id for item in plan if fnmatch.fnmatchcase(item.cell.id, only)]


# The dry run's second call measures one model's timed cells (its train step, that step's profile,
# its lever, norms and memory twins): every step of the script runs, and the two calls stay short.
SECOND_CALL = "rin-tiny.*"
# check.sh's lever suites, in its order.
LEVER_SUITES = ("norms", "levers", "memory")


def steps(out: Path, call: str = "1") -> dict[str, str]:
    """{step: status} of one call, from the summary's steps table."""
    table = {}
    for line in (out / "summary.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0] == call:
            table[cells[1]] = cells[2]
    return table


@pytest.mark.slow
def test_dry_run_in_two_calls_measures_every_cell_once_and_brings_back_at_most_8_small_files(
    tmp_path,
):
    """The two-call check: the first call counts (--part 1), the second takes up its results and
    measures the rest of what it selects, then tests and reports over both (a one-call check runs
    the same steps)."""
    first = tmp_path / "first"
    completed = run_check(first, "--device", "cpu", "--part", "1", "--only", "*.params.*",
                          "--only", "*.flops.*", timeout=300)  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert steps(first) == dict.fromkeys(["env", "bare-loop", "peak", "suite"], "ok")
    out = tmp_path / "out"
    # The first call left its results where the second looks for them (a warm machine keeps them).
    assert (tmp_path / "state" / "call1.tar.gz").read_bytes() == (
        first / "results.tar.gz"
    ).read_bytes()
    completed = run_check(out, "--device", "cpu", "--part", "2", "--only", SECOND_CALL, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    # The second call: the lever suites before the rest of the suite (their twins came first).
    second = ["env", *LEVER_SUITES, "suite", "gpu-tests", "report", "claims"]
    assert list(steps(out, "2").items()) == [(name, "ok") for name in second]
    counts = [c for c in cpu_cells() if c.split(".")[4] in ("params", "flops")]
    timed = [c for c in cpu_cells(only=SECOND_CALL) if c not in counts]
    assert timed and any(".profile:" in c for c in timed)
    summary_text = (out / "summary.md").read_text(encoding="utf-8")
    assert f"- call 1: {len(counts)} records of the suite" in summary_text
    assert f"- call 2: {len(timed)} records of the suite" in summary_text
    # The last call's summary sets the run beside the committed runs of other machines.
    assert "## Hardware comparison\n\nThis run beside benchmarks/results/hardware-cpu" in (
        summary_text
    )
    assert "## Hardware comparison" not in (first / "summary.md").read_text(encoding="utf-8")

    assert_brings_back_at_most_8_small_files(out)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(out / "results.tar.gz") as archive:
        archive.extractall(unpacked, filter="data")
    assert_every_cell_measured_once(unpacked, counts + timed)
    assert_the_machine_checks_ran(unpacked)
    assert_the_summary_sets_each_lever_beside_its_plain_twin(out)


def assert_brings_back_at_most_8_small_files(out: Path) -> None:
    """What the lease brings back: few small files, the ones it promises, no cell skipped."""
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= MAX_FILES
    assert all((out / name).stat().st_size <= MAX_BYTES for name in files)
    assert {"check.log", "summary.md", "results.tar.gz", "report.html", "claims.md"} <= set(files)
    assert {"pytest-gpu.log", "skipped.txt"} <= set(files)
    assert (out / "skipped.txt").read_text(encoding="utf-8").split() == []


def assert_every_cell_measured_once(unpacked: Path, measured: list[str]) -> None:
    """The archive's records: every cell the two calls selected, of the suite and of the lever
    suites, each once and ok, with the profiles' traces and the report."""
    records = results.read(sorted((unpacked / "results").rglob("*.jsonl")))
    assert sorted(r.cell.id for r in records) == sorted(measured)
    # Started ahead of their turn (--prestart): every timed cell's worker but a run's first.
    held = [r for r in records if "held" in r.details.get(CELL_TIME_KEY, {})]
    assert len(held) == len([r for r in records if r.cell.phase not in STATIC_PHASES]) - 1
    assert {r.cell.id: r.status for r in records if r.status != "ok"} == {}
    assert any(r.cell.phase.startswith("profile:") for r in records)
    assert list((unpacked / "results").rglob("*.trace.json.gz")), "the profiles' traces travel"
    assert (unpacked / "report" / "report.md").is_file()
    # The runs' own pages skip the figures (--no-figures), which the report step draws once.
    run_pages = list((unpacked / "results").rglob("*.html"))
    assert run_pages and all("<img" not in page.read_text(encoding="utf-8") for page in run_pages)
    assert "<img" in (unpacked / "report" / "report.html").read_text(encoding="utf-8")
    # The lever suites' records lie apart from the plain ones: each has the id of its plain twin.
    for suite in LEVER_SUITES:
        levers = results.read(sorted((unpacked / "levers" / suite).glob("*.jsonl")))
        selected = sorted(cpu_cells(suite, SECOND_CALL))
        assert levers and sorted(r.cell.id for r in levers) == selected
        assert set(cpu_cells(suite)) <= set(cpu_cells())
        assert all(r.status == "ok" and r.run.suite == suite for r in levers)
        assert (unpacked / f"skipped-{suite}.txt").read_text(encoding="utf-8").split() == []
    (checkpointed,) = results.read(sorted((unpacked / "levers" / "memory").glob("*.jsonl")))
    assert checkpointed.settings["checkpointing"] == "blocks"
    assert checkpointed.details["checkpointed_modules"] > 0
    (in_bf16,) = results.read(sorted((unpacked / "levers" / "norms").glob("*.jsonl")))
    assert in_bf16.settings["low_precision_norms"] is True and in_bf16.cell.dtype == "bf16"
    assert in_bf16.details["low_precision_norm_modules"] > 0


def assert_the_machine_checks_ran(unpacked: Path) -> None:
    """The bare-loop comparison and the matmul peak timed five ways, in the archive's JSON
    (no clocks on a CPU, and the reason)."""
    bare = json.loads((unpacked / "bare_loop.json").read_text(encoding="utf-8"))
    assert bare["harness_status"] == "ok" and bare["harness_ms_median"] > 0
    peak = json.loads((unpacked / "peak.json").read_text(encoding="utf-8"))
    variants = {"harness", "ten_in_a_row", "after_warm_up", "plain_operator", "ten_after_warm_up"}
    assert set(peak["tflops"]) == variants
    assert peak["clocks"] == {} and "CUDA" in peak["clocks_reason"]
    assert all(tflops > 0 for tflops in peak["tflops"].values())


def assert_the_summary_sets_each_lever_beside_its_plain_twin(out: Path) -> None:
    """summary.md: every section there, and each lever cell's row beside its plain twin."""
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Targets" in summary and "## Where the time goes" in summary
    assert "Harness against a bare CUDA-event loop" in summary and "Not run." not in summary
    assert "## The matmul peak, timed several ways" in summary
    # Where the check's time went: a row per call of the suite and per lever suite's run, every
    # record with its seconds.
    time_section = summary.split("## The check's time, per call and part")[1].split("\n## ")[0]
    rows = [row.split(" | ")[0][2:] for row in time_section.splitlines() if row.startswith("| ")]
    assert rows[1:3] == ["gpu-check, call 1", "gpu-check, call 2"]
    assert [row.split()[0] for row in rows[3:]] == list(LEVER_SUITES)
    assert "without seconds" not in time_section and "- slowest in " in time_section
    assert "- started ahead in gpu-check, call 2 (--prestart): " in time_section
    for row in (line for line in time_section.splitlines() if line.startswith("| ")):
        if not row.startswith("| run |"):  # seconds, then the parts: none negative, adding up
            seconds, *parts = (float(n) for n in row.strip("|").split("|")[2:])
            assert min(parts) >= 0 and sum(parts) == pytest.approx(seconds, abs=len(parts) / 2)
    warm = summary.split("## Warm-up calls against their window's median")[1].split("\n## ")[0]
    assert "| first | " in warm and ", farthest " in warm  # a CPU's check plays no pairs
    levers_section = summary.split("## Levers against the plain cells")[1].split("\n## ")[0]
    lever_rows = [
        line
        for line in levers_section.splitlines()
        if line.startswith(tuple(f"| {c} |" for c in cpu_cells("levers", SECOND_CALL)))
    ]
    assert len(lever_rows) == len(cpu_cells("levers", SECOND_CALL))
    assert all("no plain twin" not in row for row in lever_rows)
    assert any("fused_optimizer=True" in row for row in lever_rows)
    for title, suite, lever in (
        ("## Memory: activation checkpointing against the plain", "memory", "checkpointing=blocks"),
        ("## Norms in bf16 against the plain", "norms", "low_precision_norms=True"),
    ):
        section = summary.split(title)[1].split("\n## ")[0]
        (row,) = [
            line for line in section.splitlines() if line.startswith(f"| {cpu_cells(suite)[0]} |")
        ]
        assert lever in row and "no plain twin" not in row, row


def test_a_spent_budget_skips_the_steps_and_lists_every_cell_as_skipped(tmp_path):
    out = tmp_path / "out"
    completed = run_check(
        out, "--device", "cpu", "--budget", "10", "--only", "*.train_step.*", timeout=120
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert steps(out) == dict.fromkeys(
        ["env", "bare-loop", "peak", "suite", *LEVER_SUITES, "gpu-tests"], "skipped (budget)"
    )
    train_steps = [c for c in cpu_cells() if fnmatch.fnmatchcase(c, "*.train_step.*")]
    assert train_steps and len(train_steps) < len(cpu_cells())
    assert (out / "skipped.txt").read_text(encoding="utf-8").split() == train_steps
    assert "results.tar.gz" in {p.name for p in out.iterdir()}
    # The levers' cells the budget left out are listed apart (their ids are their twins').
    summary = (out / "summary.md").read_text(encoding="utf-8")
    levers_section = summary.split("## Levers against the plain cells")[1].split("\n## ")[0]
    assert "Lever cells the time budget left out" in levers_section
    assert all(f"- {cell}" in levers_section for cell in cpu_cells("levers"))


@pytest.mark.slow
def test_a_call_killed_mid_way_brings_back_what_it_measured(tmp_path):
    """The lease's time can run out before the check's budget: results.tar.gz is packed after every
    step and every GPU_CHECK_PACK_EVERY_S seconds of one, so a call killed in its suite step still
    brings back the steps before it and the suite's records so far."""
    out = tmp_path / "out"
    env = check_env(out) | {"GPU_CHECK_PACK_EVERY_S": "1", "TMPDIR": str(tmp_path)}
    call = subprocess.Popen(
        ["bash", str(SCRIPT), str(out), "--device", "cpu", "--part", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    packed, steps_done = [], []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            name.startswith("results/gpu-check/") and name.endswith(".jsonl") for name in packed
        ):
            time.sleep(0.2)
            try:
                with tarfile.open(out / "results.tar.gz") as tar:
                    packed = tar.getnames()
                    steps_done = tar.extractfile("steps.tsv").read().decode().splitlines()
            except (OSError, tarfile.TarError, KeyError):  # not there yet
                pass
        assert call.poll() is None, "the call ended before it could be cut"
    finally:
        kill_session(call.pid)  # as the lease does; timeout's steps run in groups of their own
        call.wait()
    assert "summary.md" not in packed and {"device", "bare_loop.json", "peak.json"} <= set(packed)
    # Packed in the suite step: the steps before it, not the suite itself.
    assert [row.split("\t")[:2] for row in steps_done] == [
        ["env", "ok"],
        ["bare-loop", "ok"],
        ["peak", "ok"],
    ]


def kill_session(session: int) -> None:
    """SIGKILL every process of a session (Linux's /proc): its process groups included."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended meanwhile
            continue
        if int(fields[3]) == session:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(stat.parent.name), signal.SIGKILL)


def test_a_second_call_takes_up_only_a_recent_first_call_unless_named(tmp_path):
    """An hour-old first call in the state folder is another lease's: refused in one line."""
    stale = tmp_path / "state" / "call1.tar.gz"
    stale.parent.mkdir()
    stale.write_bytes(b"")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    completed = run_check(tmp_path / "out", "--device", "cpu", "--part", "2", timeout=30)
    assert completed.returncode == 2 and "120 minutes old" in completed.stderr
    assert "name them with --resume-from" in completed.stderr


def test_a_second_call_refuses_a_first_call_on_another_device(tmp_path):
    """A dry run's first call left in the state folder is not the GPU's first call."""
    first = tmp_path / "call1.tar.gz"
    (tmp_path / "device").write_text("cuda\n")
    with tarfile.open(first, "w:gz") as tar:
        tar.add(tmp_path / "device", arcname="device")
    completed = run_check(
        tmp_path / "out", "--device", "cpu", "--part", "2", "--resume-from", str(first), timeout=30
    )
    assert completed.returncode == 2
    assert "measured with --device cuda, not cpu" in completed.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--device", "tpu"],
        ["--budget", "soon"],
        ["--frobnicate"],
        ["--only"],
        ["--part", "2"],  # no first call's results here: a fresh machine
        ["--part", "1", "--resume-from", "x.tar.gz"],
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args):
    completed = run_check(tmp_path / "out", *args, timeout=30)
    assert completed.returncode == 2
    assert completed.stderr.strip().startswith("check.sh:") and "\n" not in completed.stderr.strip()
    assert completed.stdout == ""


def test_peer_wheels_leave_out_what_the_gpu_machine_has():
    """The peers' wheels travel with a lease's checkout (64 MiB all told): torch, what comes with
    it and what rinbench's own dependencies bring stay behind; torchvision is pinned for the GPU's
    torch unless skipped."""
    import tomllib

    peer_wheels = load_script("benchmarks/gpu/peer_wheels.py")
    ours = peer_wheels.rinbench_dependencies()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(ours) == {text for text in declared if not text.startswith("torch")}
    resolved = [
        ("diffusers", "0.42.1"),
        ("torch", "2.11.0"),
        ("nvidia-cublas", "13.1"),
        ("numpy", "2.4.6"),
        ("Pillow", "13.0.0"),
        ("torchvision", "0.27.0"),
        ("hf_xet", "1.8.0"),
    ]
    there = {"numpy", "pillow"}
    assert peer_wheels.wanted(resolved, "0.26.0", there) == [
        "diffusers==0.42.1",
        "torchvision==0.26.0",
        "hf_xet==1.8.0",
    ]
    assert peer_wheels.wanted(resolved, "0.26.0", there | {"torchvision"}) == [
        "diffusers==0.42.1",
        "hf_xet==1.8.0",
    ]


class FakeNvml:
    """pynvml as an older nvidia-ml-py has it (throttle reasons): the SM clock at boost for the
    first reading, then held down by the power cap; no temperature sensor."""

    NVML_CLOCK_SM, NVML_TEMPERATURE_GPU = 1, 0
    nvmlClocksThrottleReasonNone = 0
    nvmlClocksThrottleReasonGpuIdle = 0x1
    nvmlClocksThrottleReasonSwPowerCap = 0x4
    nvmlClocksThrottleReasonAll = 0x1FF  # several bits: not a reason of its own

    def __init__(self):
        self.clock_reads = 0

    def nvmlDeviceGetMaxClockInfo(self, handle, clock):
        return 1980

    def nvmlDeviceGetClockInfo(self, handle, clock):
        self.clock_reads += 1
        return 1980 if self.clock_reads == 1 else 1700

    def nvmlDeviceGetPowerUsage(self, handle):
        return 690_000  # mW

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000

    def nvmlDeviceGetTemperature(self, handle, sensor):
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle):
        return 0x4 if self.clock_reads > 1 else 0


def test_the_matmul_peak_reads_the_clocks_while_each_variant_runs(tmp_path):
    """peak.py's clock watch: readings taken on a thread while a variant runs, summed up per
    variant (a refused field left out), and summary.md says them in words; without NVML, none."""
    peak, summary = load_script("benchmarks/gpu/peak.py"), load_script("benchmarks/gpu/summary.py")
    watch = peak.ClockWatch(FakeNvml(), handle="gpu0", poll_s=0.001)
    with watch.watching("burst"):
        time.sleep(0.05)
    reading = watch.readings["burst"]
    samples = reading["samples"]
    assert samples >= 3 and watch.sm_clock_max_mhz == 1980
    assert (reading["sm_clock_mhz_median"], reading["sm_clock_mhz_min"]) == (1700, 1700)
    assert reading["power_w_max"] == 690.0 and reading["temperature_c_max"] is None
    assert reading["clock_event_reason_shares"] == {"SwPowerCap": (samples - 1) / samples}

    result = {"n": 8192, "dtype": "torch.bfloat16", "device": "cuda", "sm_clock_max_mhz": 1980}
    result["power_limit_w"] = watch.power_limit_w
    result |= {"tflops": {"burst": 700.0}, "clocks": watch.readings, "clocks_reason": None}
    (tmp_path / "peak.json").write_text(json.dumps(result), encoding="utf-8")
    text = "\n".join(summary._peak(tmp_path / "peak.json"))
    assert "on cuda, the SM clock at most 1,980 MHz, the power limit 700 W:" in text
    assert "- burst: 700 TFLOP/s; SM clock 1,700 MHz (lowest 1,700), at most 690 W, " in text
    assert f"SwPowerCap in {(samples - 1) / samples:.0%} of {samples} readings" in text

    class OlderDriver(FakeNvml):  # the package names a function the driver's library lacks
        def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle):
            raise RuntimeError("NVML_ERROR_FUNCTION_NOT_FOUND")

    unread = peak.ClockWatch(OlderDriver(), handle="gpu0", poll_s=0.001)
    with unread.watching("burst"):
        pass
    assert unread.readings["burst"]["clock_event_reason_shares"] is None
    # One reading at least; more where the poll thread outruns the block (a loaded CPU).
    said = summary._clocks(unread.readings["burst"])
    assert re.search(r"no clock-event reasons read, (1 reading|([2-9]|[1-9]\d+) readings)$", said)

    without = peak.ClockWatch(reason="nvmlInit failed")
    with without.watching("burst"):
        pass
    assert without.readings == {} and without.sm_clock_max_mhz is None


def test_the_summary_warns_when_the_records_come_from_two_machines():
    """A second call on a fresh machine may get the other kind of GPU: the summary says so."""
    from bench.cell import Cell
    from bench.record import Record

    summary = load_script("benchmarks/gpu/summary.py")

    def on(gpu: str, preset: str) -> Record:
        cell = Cell(preset, 256, 16, "bf16", "forward", device="cuda")
        env = {"device": "cuda", "torch": "2.11.0", "python": "3.12.3", "gpu": {"name": gpu}}
        data = {"schema": 1, "run": {"id": "run", "suite": "gpu-check"}, "cell": cell.as_dict()}
        data |= {"settings": {}, "model": None, "env": env, "status": "ok", "values": {}}
        return Record.from_json(data | {"error": None})

    one = {r.cell.id: r for r in (on("NVIDIA H200", "adm-in256"), on("NVIDIA H200", "dit-b-2"))}
    assert summary._machine(one)[0].startswith("Machine: NVIDIA H200; torch 2.11.0")
    assert len(summary._machine(one)) == 2  # no warning
    two = one | {"rin": on("NVIDIA H100 80GB HBM3", "rin-in256")}
    assert summary._machine(two)[2] == (
        "**The records come from 2 machines**: NVIDIA H200 (2 cells), "
        "NVIDIA H100 80GB HBM3 (1 cell)."
    )


def test_the_summary_says_how_many_rounds_each_pair_played():
    from bench.cell import Cell
    from bench.record import Record, RunInfo

    summary = load_script("benchmarks/gpu/summary.py")

    def side(preset: str, role: str, **stopped) -> Record:
        cell = Cell(preset, 256, 32, "bf16", "forward", device="cuda")
        pair = {"role": role, "with": "partner", "rounds": 3 if stopped else 5} | stopped
        details = {"pair": pair}
        return Record(RunInfo("run"), cell, {}, None, {}, "ok", {}, details=details)

    run = [
        side("adm-in256", "first", stopped_early="after 3 of 5 rounds: ..."),
        side("rin-in256", "second", stopped_early="after 3 of 5 rounds: ..."),
        side("adm-in512", "first"),
    ]
    (line,) = summary._pairs_played(run)
    assert line.startswith("- pairs: 2, rounds played 3, 5; 1 stopped early")
    (alone,) = summary._pairs_played(run[2:])
    assert alone.startswith("- pairs: 1, rounds played 5; 0 stopped early")
    assert summary._pairs_played([]) == []


def test_the_bare_loop_check_runs_the_harness_as_the_checks_cells_run():
    """The harness-against-bare-loop step times its cell by gpu-check's CUDA warm-up and repeats:
    what it vouches for is the harness as the check's cells run it."""
    timing = load_script("benchmarks/gpu/bare_loop.py").HARNESS_TIMING
    plan = suites.load("gpu-check", device="cuda").plan
    check = {tuple((key, getattr(item.settings, key)) for key in timing) for item in plan}
    assert check == {tuple(timing.items())}
