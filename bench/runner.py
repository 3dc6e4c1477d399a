"""The sweep runner: measures a suite's cells and appends one record per cell to a run file.

    plan = runner.plan(suite, out_dir="results", only=["*-tiny.*"], resume=None)
    with results.Writer(plan.path) as writer:
        summary = runner.execute(plan, writer)

params and flops cells are counted in this process (the models are built on the meta device, so
they need no memory; about a second each on a laptop CPU). Every other cell runs in its own
subprocess (`python -m bench.worker`) under a timeout: an OOM, a crash (even kill -9) or a hang
ends that process, becomes a record with status "oom", "error" or "timeout" and a reason, and the
sweep goes on. Ctrl-C stops the sweep between records: every finished cell is already on disk
(fsynced), the cell in flight is dropped, and `plan(..., resume=...)` later measures only the rest.

    summary = runner.execute(plan, writer, devices=("0", "1", "2", "3"))

spreads the subprocess cells over four GPUs (`rinbench run --devices`, bench/devices.py): one cell
per GPU at a time, each worker pinned through CUDA_VISIBLE_DEVICES so that it sees its GPU as
"cuda" (the record's env says which: env["cuda_visible_devices"]). The scheduling lives in
bench/pool.py: a thread per cell in flight waits for its process and hands the outcome back to this
thread, the only one that writes records. A cell that `needs_whole_node` (a FID cell, a CPU cell)
waits until every GPU is idle and runs alone. Ctrl-C kills every cell in flight; resume, retry and
the timeout work per cell as with one device, only the order of the records differs.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import bench
from bench import pool, results
from bench.cell import PROFILE_PHASES, PROFILE_PREFIX, STATIC_PHASES, Cell
from bench.cellprocess import failed_outcome, output_tail, worker_environ
from bench.record import FAILED_STATUSES, Outcome, Record, RunInfo
from bench.suites import Planned, Suite
from bench.worker import DEFAULT_MEASURE, DEFAULT_SERVE, load_measure, outcome_of, run_measure

# results.make_run_id: "20260101T120000Z-host-device-gitsha.jsonl".
RUN_FILE = re.compile(r"\d{8}T\d{6}Z-[\w.-]+\.jsonl")
LATEST = "latest"  # resume=LATEST: the newest run file of the suite in the output folder
# Scratch folders in the temp directory are named rinbench-<runner pid>-*, so that a later run can
# remove those a killed runner (kill -9, a node going down) left behind: their pid is dead.
SCRATCH_PREFIX = "rinbench-"
SCRATCH_NAME = re.compile(rf"{SCRATCH_PREFIX}(\d+)-.*")


class RunError(ValueError):
    """A sweep that cannot start (bad selection, nothing to resume); one line for the user."""


@dataclass(frozen=True)
class RunPlan:
    suite: Suite
    path: Path  # the run file records are appended to
    run: RunInfo  # repeated on every record
    todo: tuple[Planned, ...]  # the cells still to measure, in order
    selected: int  # cells of the suite that --only kept
    already_done: int  # selected cells the run file already holds (resume)
    warnings: tuple[str, ...] = ()  # problems met reading the run file being resumed


@dataclass
class RunSummary:
    path: Path
    run_id: str
    measured: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (cell id, status, error)
    interrupted: bool = False

    def add(self, cell: Cell, outcome: Outcome) -> None:
        self.measured += 1
        self.statuses[outcome.status] += 1
        if outcome.status != "ok":
            self.failures.append((cell.id, outcome.status, outcome.error))


def select(plan: Sequence[Planned], patterns: Sequence[str] | None) -> list[Planned]:
    """The cells whose id matches any of the shell globs (all cells when none are given)."""
    if not patterns:
        return list(plan)
    return [item for item in plan if any(fnmatch.fnmatchcase(item.cell.id, p) for p in patterns)]


def with_profiles(items: Sequence[Planned]) -> list[Planned]:
    """The suite's cells, each timed cell whose settings say `profile = true` followed by its
    profile cell (phase "profile:<phase>", bench.profile), which the worker measures in a process
    of its own after the timed one."""
    expanded = []
    for item in items:
        expanded.append(item)
        phase = PROFILE_PREFIX + item.cell.phase
        if item.settings.profile and phase in PROFILE_PHASES:
            expanded.append(Planned(dataclasses.replace(item.cell, phase=phase), item.settings))
    return expanded


def with_partners(suite: Suite, items: Sequence[Planned]) -> list[Planned]:
    """`items`, with the partner of every paired cell among them (a pair is timed together, so
    selecting or redoing one side takes the other along), in the suite's order."""
    wanted = {item.cell for item in items}
    for pair in suite.pairs:
        if wanted & set(pair.cells):
            wanted |= set(pair.cells)
    extra = [item for item in suite.plan if item.cell in wanted and item not in items]
    if not extra:
        return list(items)
    order = {item.cell: number for number, item in enumerate(suite.plan)}
    merged = list(items) + extra
    return sorted(merged, key=lambda item: order.get(item.cell, len(order)))


def plan(
    suite: Suite,
    out_dir: str | os.PathLike,
    *,
    only: Sequence[str] | None = None,
    resume: str | os.PathLike | None = None,
    retry_failed: bool = False,
) -> RunPlan:
    """Decide the run file and the cells to measure; touches no file. `resume` is None (a new
    run), LATEST, or a run file path: cells that file already holds are skipped, except those with a
    FAILED_STATUSES status when `retry_failed` (their new record is appended; readers take the
    last record of a cell)."""
    chosen = with_partners(suite, select(with_profiles(suite.plan), only))
    if not chosen:
        example = suite.cells[0].id
        raise RunError(
            f"--only {' '.join(only)} matches none of the {len(suite.plan)} cells of suite "
            f"{suite.name!r}; cell ids look like {example!r}"
        )
    suite_dir = Path(out_dir) / suite.name
    if resume is None:
        started = results.utc_now()
        devices = "+".join(sorted({item.cell.device for item in chosen}))
        run_id = results.make_run_id(started, socket.gethostname(), devices, git_hash())
        path = suite_dir / f"{run_id}.jsonl"
        if path.exists():
            raise RunError(f"run file {path} already exists; wait a second or pass --resume {path}")
        run = RunInfo(run_id, suite.name, started.isoformat())
        return RunPlan(suite, path, run, tuple(chosen), len(chosen), 0)

    path = _resume_path(suite_dir, resume)
    try:
        existing, problems = results.read_run_file(path)
    except results.NotARunFile as err:
        raise RunError(str(err)) from None
    other_suites = {r.run.suite for r in existing} - {suite.name}
    if other_suites:
        raise RunError(
            f"{path} holds records of suite {sorted(other_suites)[0]!r}, not {suite.name!r}; "
            "pass the same suite to resume it"
        )
    if existing:
        run = existing[0].run
    else:  # interrupted before its first record
        run = RunInfo(path.stem, suite.name, results.utc_now().isoformat())
    done = {cell_id: r.status for cell_id, r in results.latest_per_cell(existing).items()}
    redo = FAILED_STATUSES if retry_failed else ()
    todo = with_partners(
        suite,
        [item for item in chosen if item.cell.id not in done or done[item.cell.id] in redo],
    )
    return RunPlan(
        suite,
        path,
        run,
        tuple(todo),
        len(chosen),
        len(chosen) - len(todo),
        problems,
    )


def _resume_path(suite_dir: Path, resume: str | os.PathLike) -> Path:
    if str(resume) != LATEST:
        path = Path(resume)
        if path.suffix != ".jsonl":
            # RUN.md and RUN.html sit beside RUN.jsonl; resuming into one would overwrite the records
            # with the report. `run --resume quick` lands here too: the flag took the suite's name.
            raise RunError(
                f"{path} is not a run file (RUN_ID.jsonl); to resume a suite's newest run, "
                "put the suite first: rinbench run SUITE --resume"
            )
        if not path.is_file():
            raise RunError(f"no run file to resume at {path}")
        return path
    # Only files named like a run id: a baseline copied into the folder is not a run to append to.
    runs = (
        sorted(p for p in suite_dir.glob("*.jsonl") if RUN_FILE.fullmatch(p.name))
        if suite_dir.is_dir()
        else []
    )
    if not runs:
        raise RunError(f"no run to resume in {suite_dir}; start one without --resume")
    return runs[-1]  # run ids start with their UTC start time, so the last name is the newest


def execute(
    plan: RunPlan,
    writer: results.Writer,
    *,
    timeout_s: float | None = None,
    measure: str = DEFAULT_MEASURE,
    progress: bool = True,
    devices: Sequence[str] | None = None,
    serve: str = DEFAULT_SERVE,
) -> RunSummary:
    """Measure `plan.todo` and append a record per cell to `writer`. Static cells (params, flops)
    first, in this process; the others each in a subprocess killed after `timeout_s` (default: the
    suite's). `devices` (bench.devices.choose: a CUDA_VISIBLE_DEVICES value per GPU) spreads the
    subprocess cells over those GPUs, one at a time on each, pinned through CUDA_VISIBLE_DEVICES;
    a cell that `needs_whole_node` waits until every GPU is idle and runs alone. Without `devices`
    the cells run one after another, as on one device. Ctrl-C (or SIGTERM) kills every cell in
    flight and returns early with `interrupted` set. `progress`: a bar on a terminal, one line per
    cell when stderr is a file (a bar's carriage returns would make one endless line of a log).
    A pair of the suite's (bench.paired) is timed where its first cell stands in the plan, alone,
    on the first device, each side served window by window by `serve`."""
    timeout_s = plan.suite.timeout_s if timeout_s is None else timeout_s
    measure_fn = load_measure(measure)
    static = [item for item in plan.todo if item.cell.phase in STATIC_PHASES]
    pairs = [pair for pair in plan.suite.pairs if set(pair.cells) <= {i.cell for i in plan.todo}]
    timed = [item for item in plan.todo if item.cell.phase not in STATIC_PHASES]
    slots = tuple(devices) if devices else (None,)
    processes = pool.Processes()
    timed_devices = {item.cell.device for item in timed}
    facts = _DeviceFacts(timed_devices, timeout_s, processes)
    summary = RunSummary(plan.path, plan.run.id)
    shown = _Progress(plan.suite.name, len(plan.todo), progress)
    previous_sigterm = sigterm_as_interrupt()
    remove_stale_scratch()
    try:
        with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as scratch:
            sweep = _Sweep(
                plan,
                writer,
                summary,
                shown,
                facts,
                measure,
                timeout_s,
                Path(scratch),
                processes,
                serve=serve,
            )
            for item in static:
                shown.start(item.cell)
                env = facts.get(item.cell.device, slots[0])["env"]
                settings = dataclasses.asdict(item.settings)
                sweep.record(item, env, run_measure(measure_fn, item.cell, settings))
            if "cpu" in timed_devices:
                facts.get("cpu")  # in this thread: a CPU peak runs in this process
            for stretch, pair in _in_order(plan.todo, pairs):
                sweep.run_timed(stretch, slots)
                if pair is not None:
                    sweep.run_pair(pair, slots[0])
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        shown.close()
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
    return summary


def _in_order(todo: Sequence[Planned], pairs: list) -> list[tuple[list[Planned], object]]:
    """The timed cells in the plan's order, cut where a pair stands: (the unpaired cells before
    it, the pair), ..., (the cells after the last pair, None)."""
    pair_at = {pair.first.cell: pair for pair in pairs} | {pair.second.cell: pair for pair in pairs}
    stretches, stretch, started = [], [], set()
    for item in todo:
        if item.cell.phase in STATIC_PHASES:
            continue
        pair = pair_at.get(item.cell)
        if pair is None:
            stretch.append(item)
        elif id(pair) not in started:
            started.add(id(pair))
            stretches.append((stretch, pair))
            stretch = []
    stretches.append((stretch, None))
    return stretches


# Phases whose cell spreads over every GPU itself: a FID cell samples its images sharded over the
# GPUs with torchrun (bench.distributed, `rinbench fid model`), so it takes the whole node.
WHOLE_NODE_PHASES = ("fid",)


def needs_whole_node(item: Planned) -> bool:
    """Whether a cell runs only while every device of the sweep is idle, with all of them visible:
    a phase that uses every GPU (WHOLE_NODE_PHASES), and a CPU cell, whose timing takes every core
    that cells on the GPUs would otherwise share."""
    return item.cell.device == "cpu" or item.cell.phase in WHOLE_NODE_PHASES


@dataclass
class _Sweep:
    """One execute(): what its cells share. Only the calling thread writes records (`record`);
    the pool's threads measure (`measure_timed`) and hand their outcomes back."""

    plan: RunPlan
    writer: results.Writer
    summary: RunSummary
    shown: _Progress
    facts: _DeviceFacts
    measure: str
    timeout_s: float
    scratch: Path
    processes: pool.Processes
    serve: str = DEFAULT_SERVE

    def record(self, item: Planned, env: dict, outcome: Outcome) -> None:
        self.writer.append(make_record(self.plan.run, item, env, outcome))
        self.summary.add(item.cell, outcome)
        self.shown.done(item.cell, outcome)

    def run_pair(self, pair, slot: str | None) -> None:
        """Time a pair interleaved (bench.paired) on one device and record both sides; the rounds
        log beside the run file lets an interrupted pair go on at its next round."""
        from bench import paired

        rounds_log = paired.RoundsLog.beside(self.plan.path)
        for item in (pair.first, pair.second):
            self.shown.start(item.cell)
        device = pair.first.cell.device
        pinned = device == "cuda" and slot is not None
        facts = self.facts.get(device, slot if pinned else None)
        scratch = Path(tempfile.mkdtemp(prefix="pair-", dir=self.scratch))
        try:
            outcomes = paired.measure(
                pair,
                facts["peak"],
                serve=self.serve,
                timeout_s=self.timeout_s,
                scratch=scratch,
                rounds_log=rounds_log,
                processes=self.processes,
                visible=slot if pinned else None,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        env = facts["env"] | {"cuda_visible_devices": slot} if pinned else facts["env"]
        for item, outcome in zip((pair.first, pair.second), outcomes, strict=True):
            self.record(item, env, outcome)
        rounds_log.forget(pair)

    def run_timed(self, items: list[Planned], slots: tuple) -> None:
        if not items:
            return
        jobs = [pool.Job(item, whole=needs_whole_node(item)) for item in items]
        with pool.Pool(slots, self.processes) as running:
            started = running.results(
                jobs, self.measure_timed, on_start=lambda item, _: self.shown.start(item.cell)
            )
            for item, (env, outcome) in started:
                self.record(item, env, outcome)

    def measure_timed(self, item: Planned, taken: tuple) -> tuple[dict, Outcome]:
        """(env, outcome) of one subprocess cell on the slots it holds, in a scratch folder of its
        own: a CUDA cell of a sweep over `devices` is pinned to them through CUDA_VISIBLE_DEVICES
        and takes the facts of the first. Runs in a pool thread."""
        pinned = item.cell.device == "cuda" and taken[0] is not None
        visible = ",".join(taken) if pinned else None
        facts = self.facts.get(item.cell.device, taken[0] if pinned else None)
        measure, settings = self.measure, dataclasses.asdict(item.settings)
        if item.cell.phase in PROFILE_PHASES:
            measure, settings = profile_request(measure, settings, self.plan.path)
        scratch = Path(tempfile.mkdtemp(prefix="cell-", dir=self.scratch))
        try:
            outcome = run_in_subprocess(
                item.cell,
                settings,
                facts["peak"],
                measure,
                self.timeout_s,
                scratch,
                visible=visible,
                processes=self.processes,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        env = facts["env"] | {"cuda_visible_devices": visible} if pinned else facts["env"]
        return env, outcome


def profile_request(measure: str, settings: dict, run_file: Path) -> tuple[str, dict]:
    """A profile cell's measure function (the profiler's, unless a test injects its own) and its
    settings with the folder for its trace: beside the run file, named like it without .jsonl."""
    from bench.profile.measure import PROFILE_MEASURE, TRACE_DIR

    measure = PROFILE_MEASURE if measure == DEFAULT_MEASURE else measure
    return measure, settings | {TRACE_DIR: str(run_file.with_suffix(""))}


def device_facts(device: str, timeout_s: float, visible: str | None = None) -> dict:
    """{"env": environment, "peak": matmul peak} of one device, taken as a sweep takes them (a
    CUDA device's in a worker process, pinned to `visible` if given): for a single cell measured
    outside a sweep."""
    return _DeviceFacts({device}, timeout_s).get(device, visible)


def make_record(run: RunInfo, item: Planned, env: dict, outcome: Outcome) -> Record:
    """The record of one measured cell: the run, the cell and its settings, the device's
    environment, and what the measurement gave."""
    return Record(
        run=run,
        cell=item.cell,
        settings=dataclasses.asdict(item.settings),
        env=env,
        **{f.name: getattr(outcome, f.name) for f in dataclasses.fields(Outcome)},
    )


class _Progress:
    """What the sweep shows on stderr: a tqdm bar on a terminal, its postfix naming the cell in
    flight (the oldest, and how many more, when several GPUs measure at once); elsewhere (a CI log,
    a file) one line per finished cell. Failures are shown either way, and nothing at all without
    `enabled` but the failures."""

    def __init__(self, name: str, total: int, enabled: bool):
        self.total, self.count, self.enabled = total, 0, enabled
        self.in_flight: list[str] = []
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=name, unit="cell", file=sys.stderr)

    def start(self, cell: Cell) -> None:
        self.in_flight.append(cell.id)
        self._show_in_flight()

    def done(self, cell: Cell, outcome: Outcome) -> None:
        self.count += 1
        if cell.id in self.in_flight:
            self.in_flight.remove(cell.id)
        if outcome.status != "ok":
            self._say(f"{outcome.status}: {cell.id}: {outcome.error.splitlines()[0]}")
        elif self.enabled and self.bar is None:
            self._say(f"[{self.count}/{self.total}] ok: {cell.id}")
        if self.bar is not None:
            self.bar.update(1)
            self._show_in_flight()

    def _show_in_flight(self) -> None:
        if self.bar is None or not self.in_flight:
            return
        more = len(self.in_flight) - 1
        text = self.in_flight[0] + (f" (+{more} in flight)" if more else "")
        self.bar.set_postfix_str(text, refresh=True)

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def scratch_prefix() -> str:
    return f"{SCRATCH_PREFIX}{os.getpid()}-"


def remove_stale_scratch(folder: str | os.PathLike | None = None) -> list[Path]:
    """Remove the scratch folders of runners that are gone (killed before they could clean up)
    from the temp directory; returns them. A folder whose pid is alive, or not ours to judge
    (another user's process), stays."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        match = SCRATCH_NAME.fullmatch(path.name)
        if match and path.is_dir() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def run_in_subprocess(
    cell: Cell,
    settings: dict,
    peak: dict | None,
    measure: str,
    timeout_s: float,
    scratch: Path,
    *,
    visible: str | None = None,
    processes: pool.Processes | None = None,
) -> Outcome:
    """Measure one cell in `python -m bench.worker`; a dead or hung process becomes an outcome.
    `visible`: the worker's CUDA_VISIBLE_DEVICES (None: this process's); `processes`: the
    registry that kills the worker when the sweep stops (None: Ctrl-C in this thread does)."""
    request, result, output = (
        scratch / "request.json",
        scratch / "result.json",
        scratch / "output.log",
    )
    result.unlink(missing_ok=True)
    request_data = {"cell": cell.as_dict(), "settings": settings, "peak": peak}
    request.write_text(json.dumps(request_data), encoding="utf-8")
    command = [sys.executable, "-m", "bench.worker", "--request", str(request)]
    command += ["--result", str(result), "--measure", measure, "--parent-pid", str(os.getpid())]
    returncode = _run_killable(command, output, timeout_s, visible, processes)
    if returncode is None:
        reason = f"no result after {timeout_s:g} s; the cell process was killed"
        return failed_outcome("timeout", reason, output)
    if result.is_file():
        try:
            return outcome_of(json.loads(result.read_text(encoding="utf-8")))
        except ValueError as err:
            return failed_outcome(
                "error", f"unreadable result from the cell process ({err})", output
            )
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (kill -9, or the kernel's out-of-memory killer)" if name == "SIGKILL" else ""
        return failed_outcome("error", f"cell process killed by {name}{hint}", output)
    return failed_outcome(
        "error", f"cell process exited with code {returncode} and no result", output
    )


def _run_killable(
    command: list[str],
    output: Path,
    timeout_s: float,
    visible: str | None = None,
    processes: pool.Processes | None = None,
) -> int | None:
    """Run `command` with its output in `output`; its return code, or None if it timed out. The
    process gets its own session, so a terminal's Ctrl-C reaches only the runner, which then
    kills the cell's whole process group (torch.compile starts helper processes): here when this
    thread is interrupted, through `processes` when the sweep's pool stops."""
    registry = processes if processes is not None else pool.Processes()
    with open(output, "wb") as sink:
        process = registry.start(
            command,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=worker_environ(visible),
        )
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pool.kill_group(process)
            process.wait()
            return None
        except BaseException:  # KeyboardInterrupt: leave no cell running behind us
            pool.kill_group(process)
            process.wait()
            raise
        finally:
            registry.finished(process)


def sigterm_as_interrupt():
    """Treat SIGTERM (a CI job cancelled, `kill PID`) like Ctrl-C so the cell in flight is
    killed too; returns the previous handler."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set signal handlers
    return signal.signal(signal.SIGTERM, interrupt)


class _DeviceFacts:
    """Per device, once per run: {"env": environment(device), "peak": matmul_peak(device)}, the
    peak only for devices with timed cells (the MFU denominator every timed cell shares, timed like
    a cell: until steady or its budget, with a CPU cell's threads; bench.worker.probe). A CUDA
    device's facts are taken in a worker process: initialising CUDA here would hold GPU memory
    while every cell measures. In a sweep over several GPUs each GPU has its own facts, `visible`
    naming it (its CUDA_VISIBLE_DEVICES value), taken by a worker pinned to it the same way."""

    def __init__(
        self, timed_devices: set[str], timeout_s: float, processes: pool.Processes | None = None
    ):
        self.timed_devices = timed_devices
        self.timeout_s = timeout_s
        self.processes = processes
        self.cache: dict[tuple[str, str | None], dict] = {}
        self.lock = threading.Lock()

    def get(self, device: str, visible: str | None = None) -> dict:
        key = (device, None if device == "cpu" else visible)
        with self.lock:
            if key in self.cache:
                return self.cache[key]
        # Outside the lock: the pool's threads probe their GPUs at the same time (each GPU is
        # held by one thread at a time, so no key is taken twice).
        facts = self._take(device, device in self.timed_devices, key[1])
        with self.lock:
            return self.cache.setdefault(key, facts)

    def _take(self, device: str, with_peak: bool, visible: str | None) -> dict:
        if device == "cpu":
            from bench.worker import probe

            return probe("cpu", with_peak)
        with tempfile.TemporaryDirectory(prefix=f"{scratch_prefix()}probe-") as scratch:
            result, output = Path(scratch) / "probe.json", Path(scratch) / "output.log"
            command = [sys.executable, "-m", "bench.worker", "--probe", device]
            command += ["--result", str(result), "--parent-pid", str(os.getpid())]
            command += ["--peak"] if with_peak else []
            returncode = _run_killable(command, output, self.timeout_s, visible, self.processes)
            if returncode == 0 and result.is_file():
                return json.loads(result.read_text(encoding="utf-8"))
            # Cells still run: each then measures its own peak; the env says what went wrong.
            failure = "timed out" if returncode is None else f"exited with code {returncode}"
            reason = f"probe {failure}: {output_tail(output)}"
            return {"env": {"device": device, "error": reason}, "peak": None}


def git_hash() -> str:
    """The short commit of the checkout bench/ lives in, or 'nogit' outside a git checkout."""
    root = Path(bench.__file__).resolve().parent.parent
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "nogit"
    return completed.stdout.strip() if completed.returncode == 0 else "nogit"
