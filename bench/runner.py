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

The runner's pieces, each a module of its own that the Slurm sweep (bench.launch) uses too:
bench.planning (which cells, which run file, resume; re-exported here), bench.cellprocess (a cell
in a worker process, its process group killed on timeout or Ctrl-C), bench.devicefacts (each
device's environment and matmul peak, probed once per run), bench.scratch (scratch folders, and
those a killed runner left behind), bench.progress (the progress shown on stderr) and
bench.provenance (the git commit and the run id).
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import paired, pool, results
from bench.cell import PROFILE_PHASES, STATIC_PHASES, Cell, profiled
from bench.cellprocess import hold, run_in_subprocess
from bench.devicefacts import DeviceFactsCache

# The planning half of the runner's API (runner.plan, then runner.execute): re-exported here.
from bench.planning import LATEST, RUN_FILE, RunError, RunPlan, plan
from bench.progress import CellProgress
from bench.record import (
    CELL_TIME_KEY,
    PROFILE_RETRIED_ALONE_KEY,
    PROFILED_IN_PAIR_KEY,
    Outcome,
    Record,
    RunInfo,
)
from bench.scratch import remove_stale_scratch, scratch_prefix
from bench.suites import Planned
from bench.worker import DEFAULT_MEASURE, DEFAULT_SERVE, load_measure, run_measure

__all__ = [
    "LATEST",
    "RUN_FILE",
    "RunError",
    "RunPlan",
    "RunSummary",
    "execute",
    "make_record",
    "needs_whole_node",
    "plan",
    "profile_request",
    "sigterm_as_interrupt",
]


@dataclass
class RunSummary:
    """What one execute() did: how many cells it recorded, by status, the failures and whether
    Ctrl-C (or SIGTERM) cut it short."""

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


def execute(
    plan: RunPlan,
    writer: results.Writer,
    *,
    timeout_s: float | None = None,
    measure_spec: str = DEFAULT_MEASURE,
    progress: bool = True,
    devices: Sequence[str] | None = None,
    serve: str = DEFAULT_SERVE,
    prestart: bool = False,
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
    on the first device, each side served window by window by `serve`, whose worker then takes
    the side's profile cell, if the plan holds it, on the step it timed. `prestart` (one device
    only): each cell's worker starts while the cell before it runs (`_Sweep.run_prestarted`)."""
    if prestart and devices is not None and len(devices) > 1:
        raise ValueError(f"prestart runs the cells on one device; got {len(devices)} devices")
    timeout_s = plan.suite.timeout_s if timeout_s is None else timeout_s
    measure_function = load_measure(measure_spec)
    processes = pool.Processes()
    timed_devices = {item.cell.device for item in plan.todo if item.cell.phase not in STATIC_PHASES}
    summary = RunSummary(plan.path, plan.run.id)
    shown = CellProgress(plan.suite.name, len(plan.todo), progress)
    previous_sigterm = sigterm_as_interrupt()
    remove_stale_scratch()
    try:
        with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as scratch:
            sweep = _Sweep(
                plan=plan,
                writer=writer,
                summary=summary,
                shown=shown,
                facts=DeviceFactsCache(timed_devices, timeout_s, processes),
                measure_spec=measure_spec,
                serve=serve,
                timeout_s=timeout_s,
                scratch=Path(scratch),
                processes=processes,
                slots=tuple(devices) if devices else (None,),
                prestart=prestart,
                retries=paired.RetriesLog.beside(plan.path),
            )
            sweep.run_static(measure_function)
            sweep.run_subprocess_cells()
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


def _profiles_of(todo: Sequence[Planned], pairs: list) -> dict[Cell, Planned]:
    """The profile cells among `todo` whose timed cell is a side of one of `pairs`, by that timed
    cell: the pair's worker takes each after its rounds (bench.paired), on the model it timed."""
    paired_cells = {cell for pair in pairs for cell in pair.cells}
    found = {}
    for item in todo:
        timed = profiled(item.cell.phase)
        twin = None if timed is None else dataclasses.replace(item.cell, phase=timed)
        if twin in paired_cells:
            found[twin] = item
    return found


def _attempt_in_pair(outcome: Outcome, machine: str) -> dict:
    """What a pair's worker's failed attempt at a profile leaves in the record of the profile's
    own process (PROFILE_RETRIED_ALONE_KEY): its status, reason, pair, machine (a resumed run may
    take the profile on another) and seconds."""
    return {
        "status": outcome.status,
        "error": outcome.error,
        "machine": machine,
        **outcome.details.get(PROFILED_IN_PAIR_KEY, {}),
        CELL_TIME_KEY: outcome.details.get(CELL_TIME_KEY, {}),
    }


def _env_of(facts, visible: str | None) -> dict:
    """A record's env: the device's facts, with the CUDA_VISIBLE_DEVICES its worker ran under where
    the sweep pinned it to GPUs."""
    return facts.env if visible is None else facts.env | {"cuda_visible_devices": visible}


def _timed_id(item: Planned) -> str:
    """The id of a profile cell's timed twin."""
    return dataclasses.replace(item.cell, phase=profiled(item.cell.phase)).id


# Phases whose cell spreads over every GPU itself: a FID cell samples its images sharded over the
# GPUs with torchrun (bench.distributed, `rinbench fid model`), so it takes the whole node.
WHOLE_NODE_PHASES = ("fid",)


def needs_whole_node(item: Planned) -> bool:
    """Whether a cell runs only while every device of the sweep is idle, with all of them visible:
    a phase that uses every GPU (WHOLE_NODE_PHASES), and a CPU cell, whose timing takes every core
    that cells on the GPUs would otherwise share."""
    return item.cell.device == "cpu" or item.cell.phase in WHOLE_NODE_PHASES


@dataclass(frozen=True, kw_only=True)
class _Sweep:
    """One execute(): what its cells share. Only the calling thread writes records (`record`);
    the pool's threads measure (`measure_timed`) and hand their outcomes back."""

    plan: RunPlan
    writer: results.Writer
    summary: RunSummary
    shown: CellProgress
    facts: DeviceFactsCache
    measure_spec: str  # the worker's measure function, "module:function"
    serve: str  # a pair's serve function, "module:function"
    timeout_s: float  # per subprocess cell
    scratch: Path  # the sweep's scratch folder; each cell gets a folder of its own inside
    processes: pool.Processes  # every worker in flight, killed when the sweep stops
    slots: tuple[str | None, ...]  # a CUDA_VISIBLE_DEVICES value per GPU, or (None,): one device
    prestart: bool = False  # on one device: each cell's worker started while the one before ran
    retries: paired.RetriesLog  # profiles a pair's worker ran out of memory taking, to take alone

    def run_static(self, measure_function: Callable) -> None:
        """Count the params and flops cells in this process, first: they need no device."""
        for item in self.plan.todo:
            if item.cell.phase in STATIC_PHASES:
                self.shown.start(item.cell)
                env = self.facts.get(item.cell.device, self.slots[0]).env
                settings = dataclasses.asdict(item.settings)
                start = time.perf_counter()
                outcome = run_measure(measure_function, item.cell, settings)
                wall_s = time.perf_counter() - start
                self.record(item, env, outcome.with_cell_time(wall=wall_s))

    def run_subprocess_cells(self) -> None:
        """Measure every other cell in a worker process, over the slots; a pair where its first
        cell stands, alone on the first slot."""
        if "cpu" in self.facts.timed_devices:
            self.facts.get("cpu")  # in this thread: a CPU peak runs in this process
        todo_cells = {item.cell for item in self.plan.todo}
        pairs = [pair for pair in self.plan.suite.pairs if set(pair.cells) <= todo_cells]
        in_pairs = _profiles_of(self.plan.todo, pairs)
        todo = [item for item in self.plan.todo if item not in in_pairs.values()]
        for stretch, pair in _in_order(todo, pairs):
            self.run_timed(stretch)
            if pair is not None:
                profiles = [in_pairs[cell] for cell in pair.cells if cell in in_pairs]
                self.run_timed(self.run_pair(pair, profiles))

    def record(self, item: Planned, env: dict, outcome: Outcome) -> None:
        attempts = self.retries.attempts.get(item.cell.id)
        if attempts and PROFILED_IN_PAIR_KEY not in outcome.details:  # taken alone after them
            details = outcome.details | {PROFILE_RETRIED_ALONE_KEY: attempts}
            outcome = dataclasses.replace(outcome, details=details)
        self.writer.append(make_record(self.plan.run, item, env, outcome))
        # After the record, so that a cut in between loses no attempt. A pair's worker that took
        # the profile after all (a resumed pair, played again) drops them: they were not its.
        self.retries.pop(item.cell.id)
        self.summary.add(item.cell, outcome)
        self.shown.done(item.cell, outcome)

    def run_pair(self, pair, profiles: Sequence[Planned] = ()) -> list[Planned]:
        """Time a pair interleaved (bench.paired) on the first slot and record both sides as soon
        as the rounds are done; the rounds log beside the run file lets an interrupted pair go on
        at its next round. The `profiles` of its cells are then taken by the sides' workers, each
        recorded as soon as it is in; returns those a side could not take (it ended, or ran out of
        memory beside what it held: PROFILE_RETRIED_ALONE_KEY), to be measured in processes of
        their own."""
        rounds_log = paired.RoundsLog.beside(self.plan.path)
        for item in (pair.first, pair.second):
            self.shown.start(item.cell)
        device, visible = pair.first.cell.device, self._visible(pair.first)
        facts = self.facts.get(device, visible)
        env = _env_of(facts, visible)
        scratch = Path(tempfile.mkdtemp(prefix="pair-", dir=self.scratch))
        machine = results.env_device_model(device, facts.env) or device
        start = time.perf_counter()

        def record_sides(first: Outcome, second: Outcome) -> None:
            pair_wall_s = time.perf_counter() - start
            for item, outcome in ((pair.first, first), (pair.second, second)):
                self.record(item, env, outcome.with_cell_time(pair_wall=pair_wall_s))
            rounds_log.forget(pair)

        def profile_of(profile_id: str) -> Planned:
            return next(item for item in profiles if item.cell.id == profile_id)

        def record_profile(profile_id: str, outcome: Outcome) -> None:
            item = profile_of(profile_id)
            if outcome.status == "oom":  # taken again alone; that record will say so
                self.retries.add(profile_id, _attempt_in_pair(outcome, machine))
                self.shown.aside(item.cell)
                return
            self.record(item, env, outcome)

        trace_dir = trace_folder(self.plan.path)
        try:
            profiled = paired.measure(
                pair, facts.peak, serve=self.serve, timeout_s=self.timeout_s, scratch=scratch,
                rounds_log=rounds_log, processes=self.processes, visible=visible,
                machine=machine,
                profiles={_timed_id(item): trace_dir for item in profiles}, on_timed=record_sides,
                on_profile=record_profile,
                on_profile_start=lambda profile_id: self.shown.start(profile_of(profile_id).cell),
            ).profiles  # fmt: skip
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return [
            item
            for item in profiles
            if item.cell.id not in profiled or item.cell.id in self.retries.attempts
        ]

    def run_timed(self, items: list[Planned]) -> None:
        if not items:
            return
        if self.prestart:  # one slot: execute() refuses more
            self.run_prestarted(items)
            return
        jobs = [pool.Job(item, whole=needs_whole_node(item)) for item in items]
        with pool.Pool(self.slots, self.processes) as running:
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
        spec, settings = self._spec_and_settings(item)
        scratch = Path(tempfile.mkdtemp(prefix="cell-", dir=self.scratch))
        try:
            outcome = run_in_subprocess(
                item.cell,
                settings,
                facts.peak,
                spec,
                self.timeout_s,
                scratch,
                visible=visible,
                processes=self.processes,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        env = _env_of(facts, visible)
        return env, outcome

    def run_prestarted(self, items: list[Planned]) -> None:
        """The cells one after another, each one's worker started while the cell before it ran
        (bench.cellprocess.hold): its Python, torch and model imports and its counts on meta take
        no time of the run's, and the running cell's timed calls wait until they are done. Any
        exception (Ctrl-C, SIGTERM) kills every worker, held or running."""
        base = Path(tempfile.mkdtemp(prefix="held-", dir=self.scratch))
        folders = [base / str(index) for index in range(len(items) + 1)]
        held = following = None
        try:
            for index, item in enumerate(items):
                following = self._hold(items, index + 1, folders)
                self.shown.start(item.cell)
                env, outcome = self._measure_in(item, folders[index], held, folders[index + 1])
                self.record(item, env, outcome)
                held, following = following, None
        except BaseException:
            self.processes.kill_all()
            raise
        finally:
            for worker in (held, following):
                if worker is not None:
                    worker.cancel()
            shutil.rmtree(base, ignore_errors=True)

    def _hold(self, items: list[Planned], index: int, folders: list[Path]):
        """The worker of items[index] started and held (None past the last): its quiet file is
        the ready file of the worker held after it. A start that fails leaves its ready file, so
        that the cell before it does not wait, and that cell starts when its turn comes."""
        if index >= len(items):
            return None
        folders[index].mkdir()
        quiet = folders[index + 1] / "ready" if index + 1 < len(items) else None
        spec, settings, facts = self._request(items[index])
        try:
            return hold(
                items[index].cell, settings, facts.peak, spec, folders[index],
                visible=self._visible(items[index]), processes=self.processes, quiet=quiet,
            )  # fmt: skip
        except OSError:
            (folders[index] / "ready").touch()
            return None

    def _measure_in(self, item: Planned, folder: Path, held, following: Path):
        """(env, outcome) of `item` in `folder`, by its held worker or a fresh one, its timed calls
        (on a CPU its first call too) waiting for the ready file in `following` (the next cell's
        held worker)."""
        spec, settings, facts = self._request(item)
        folder.mkdir(exist_ok=True)
        quiet = following / "ready" if following.is_dir() else None
        visible = self._visible(item)
        try:
            outcome = run_in_subprocess(
                item.cell, settings, facts.peak, spec, self.timeout_s, folder,
                visible=visible, processes=self.processes, held=held, quiet=quiet,
            )  # fmt: skip
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return _env_of(facts, visible), outcome

    def _visible(self, item: Planned) -> str | None:
        """The CUDA_VISIBLE_DEVICES of a CUDA cell on the sweep's first GPU (where prestarted
        cells and pairs run), else None."""
        return self.slots[0] if item.cell.device == "cuda" else None

    def _request(self, item: Planned):
        """(measure spec, settings, device facts) of a cell's worker on the sweep's one device."""
        return *self._spec_and_settings(item), self.facts.get(item.cell.device, self._visible(item))

    def _spec_and_settings(self, item: Planned) -> tuple[str, dict]:
        """The measure function a cell's worker calls, and the settings it passes."""
        spec, settings = self.measure_spec, dataclasses.asdict(item.settings)
        if item.cell.phase in PROFILE_PHASES:
            spec, settings = profile_request(spec, settings, self.plan.path)
        return spec, settings


def profile_request(measure_spec: str, settings: dict, run_file: Path) -> tuple[str, dict]:
    """A profile cell's measure function, "module:function" (the profiler's, unless a test injects
    its own in place of the harness's `measure_spec`), and its settings with the folder for its
    trace: beside the run file, named like it without .jsonl."""
    from bench.profiling.measure import PROFILE_MEASURE_SPEC, TRACE_DIR

    if measure_spec == DEFAULT_MEASURE:
        measure_spec = PROFILE_MEASURE_SPEC
    return measure_spec, settings | {TRACE_DIR: trace_folder(run_file)}


def trace_folder(run_file: Path) -> str:
    """Where a run's profile traces and memory snapshots go: beside the run file, named like it
    without .jsonl."""
    return str(run_file.with_suffix(""))


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


def sigterm_as_interrupt():
    """Treat SIGTERM (a CI job cancelled, `kill PID`) like Ctrl-C so the cell in flight is
    killed too; returns the previous handler."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set signal handlers
    return signal.signal(signal.SIGTERM, interrupt)
