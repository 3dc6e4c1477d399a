"""The parent of a cluster sweep: submits the cells as submitit jobs and files what they measure.

    targets = [Target.open(plan, partition="a100")]
    summaries = Sweep(targets, settings, kind="slurm", timeout_s=600).execute()

Each partition's run has a folder beside its run file, RUN_ID.jobs/: submitit's files (the
pickled request, each job's log), one progress file per job (bench.launch.job), and the ledger,
`ledger.log`, one JSON object per line:

    {"submitted": JOB_ID, "executor": "slurm", "folder": ..., "progress": ..., "cells": [...]}
    {"cancelled": JOB_ID}        this parent cancelled the job (Ctrl-C)
    {"settled": JOB_ID}          every cell of the job is recorded or handed to another job

The parent is the only writer of the run file. It reads the jobs' progress while they run and
appends a record per finished cell at once, so a parent that dies loses nothing that finished.
`--resume` re-attaches: every submitted job the ledger does not call settled is watched again
(still running or not), its finished cells are recorded, and the cells no job holds any more are
submitted anew. A cell belongs to one job at a time, and a cell already in the run file is never
recorded again: no record is lost or written twice.

A job that ends before all its cells are done (Slurm's time limit, a preemption it was not requeued
after, a node failure, a cancel, its process killed) leaves the cell in flight, if any, recorded
with status "timeout" (the time limit) or "error", and a reason naming the job and its state; the
cells it had not started go to a new job. A cell whose job ended twice before starting it is
recorded as an error. Ctrl-C cancels every job (job.cancel()) and records what had finished.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import planning, results, runner
from bench.launch import job as job_module
from bench.launch.settings import SLURM_EXTRA, SlurmSettings
from bench.liveness import pid_alive
from bench.progress import CellProgress
from bench.record import Outcome
from bench.suites import Planned
from bench.worker import outcome_of

LEDGER = "ledger.log"
MAX_UNSTARTED = 2  # jobs a cell may see end before it started, before it is recorded an error
POLL_S = {"slurm": 5.0, "local": 0.2}  # how often progress files and job states are read
SACCT_EVERY_S = 60.0  # a forced sacct for all jobs at most this often
PREEMPTED_GRACE_S = 300.0  # a PREEMPTED job not requeued within this ended for good
# Slurm states of a job that may still run (sacct's State; "CANCELLED by 123" reads CANCELLED).
ACTIVE_STATES = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "COMPLETING",
    "CONFIGURING",
    "SUSPENDED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "UNKNOWN",
    "READY",
}
STATE_WORDS = {
    "TIMEOUT": "reached its time limit",
    "DEADLINE": "reached its deadline",
    "PREEMPTED": "was preempted and not requeued",
    "NODE_FAIL": "lost its node (NODE_FAIL)",
    "BOOT_FAIL": "could not boot its node (BOOT_FAIL)",
    "OUT_OF_MEMORY": "ran out of its host memory (OUT_OF_MEMORY; see --mem-gb)",
    "CANCELLED": "was cancelled (scancel, or an administrator)",
    "FAILED": "failed",
    "INTERRUPTED": "was killed by a signal",
}


def import_submitit(needed_by: str = "--launcher"):
    """submitit, or a one-line UsageError saying that `needed_by` (the options the user gave)
    needs it, and which extra installs it."""
    from bench.errors import UsageError

    try:
        import submitit
    except ImportError:
        raise UsageError(f"{needed_by} needs submitit: {SLURM_EXTRA}") from None
    return submitit


def jobs_folder(run_file: Path) -> Path:
    """RUN_ID.jobs/ beside RUN_ID.jsonl: submitit's files, the progress files, the ledger."""
    return run_file.with_name(run_file.stem + ".jobs")


@dataclass
class Target:
    """One run file of the sweep (one partition's, with --partitions) and what it still needs."""

    plan: planning.RunPlan
    writer: results.Writer
    partition: str | None
    summary: runner.RunSummary
    items: dict[str, Planned]  # every cell id of the suite -> its planned cell
    in_file: set[str]  # cell ids the run file held a record of when the sweep started
    recorded: set[str]  # cell ids not to record again: in the file and not to redo, or done now
    queue: list[Planned] = field(default_factory=list)  # cells no job holds
    unstarted: Counter = field(default_factory=Counter)  # cell id -> jobs that ended before it

    @classmethod
    def open(cls, plan: planning.RunPlan, writer: results.Writer, partition: str | None) -> Target:
        recorded: set[str] = set()
        if plan.path.is_file():
            with warnings.catch_warnings():  # runner.plan has told the user about them
                warnings.simplefilter("ignore", results.CorruptRecordWarning)
                recorded = {record.cell.id for record in results.read(plan.path)}
        items = {item.cell.id: item for item in planning.with_profiles(plan.suite.plan)}
        summary = runner.RunSummary(plan.path, plan.run.id)
        redo = {item.cell.id for item in plan.todo}  # with --retry-failed, failed cells too
        return cls(plan, writer, partition, summary, items, recorded, recorded - redo)

    @property
    def ledger(self) -> Path:
        return jobs_folder(self.plan.path) / LEDGER

    def note(self, entry: dict) -> None:
        self.ledger.parent.mkdir(parents=True, exist_ok=True)
        with open(self.ledger, "a", encoding="utf-8") as ledger:
            ledger.write(json.dumps(entry) + "\n")
            ledger.flush()
            os.fsync(ledger.fileno())

    def ledger_entries(self) -> list[dict]:
        if not self.ledger.is_file():
            return []
        entries = []
        for line in self.ledger.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a killed parent: that job was never noted whole
        return entries


@dataclass
class Watched:
    """A submitted job the parent follows, and the cells it holds."""

    target: Target
    job: object  # a submitit Job
    job_id: str
    kind: str  # "slurm" or "local"
    progress: Path
    owned: list[str]  # cell ids this job measures for the run, in its order
    cancelled: bool = False
    offset: int = 0
    in_flight: str | None = None
    done: set[str] = field(default_factory=set)
    envs: dict[str, dict] = field(default_factory=dict)  # device -> the env the job reported
    ended_why: str | None = None
    facts: dict = field(default_factory=dict)  # the job's "job" event
    preempted_since: float | None = None


class Sweep:
    """Submits the targets' cells, follows the jobs, files their records; see the module doc."""

    def __init__(
        self,
        targets: list[Target],
        settings: SlurmSettings,
        *,
        kind: str,
        timeout_s: float,
        measure_spec: str,
        progress: bool = True,
        poll_s: float | None = None,
    ):
        if kind not in POLL_S:
            raise ValueError(f"unknown executor kind {kind!r}; valid: {', '.join(POLL_S)}")
        self.targets, self.settings, self.kind = targets, settings, kind
        self.timeout_s, self.measure_spec = timeout_s, measure_spec
        self.poll_s = POLL_S[kind] if poll_s is None else poll_s
        self.watched: list[Watched] = []
        self.executors: dict[str | None, object] = {}
        total = sum(len(t.plan.todo) for t in targets)
        self.shown = CellProgress(kind, total, progress, bar=False, prefix="rinbench: ")
        self.last_sacct = 0.0

    def execute(self) -> list[runner.RunSummary]:
        """Run until every cell is recorded; Ctrl-C (or SIGTERM) cancels the jobs and returns
        with each summary's `interrupted` set."""
        self.submitit = import_submitit()
        previous = runner.sigterm_as_interrupt()
        try:
            for target in self.targets:
                self._reattach(target)
            while True:
                self._submit_queued()
                if not self.watched:
                    break
                time.sleep(self.poll_s)
                self._poll()
        except KeyboardInterrupt:
            self._cancel_all()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return [target.summary for target in self.targets]

    # --- submitting ------------------------------------------------------------------------

    def _submit_queued(self) -> None:
        for target in self.targets:
            if not target.queue:
                continue
            per_job = self.settings.cells_per_job
            chunks = [target.queue[i : i + per_job] for i in range(0, len(target.queue), per_job)]
            target.queue = []
            self._submit(target, chunks)

    def _submit(self, target: Target, chunks: list[list[Planned]]) -> None:
        executor = self._executor(target)
        folder = jobs_folder(target.plan.path)
        requests = [self._request(target, chunk, folder) for chunk in chunks]
        with executor.batch():
            jobs = [executor.submit(job_module.measure_cells, request) for request in requests]
        for job, request, chunk in zip(jobs, requests, chunks, strict=True):
            owned = [item.cell.id for item in chunk]
            target.note(
                {
                    "submitted": job.job_id,
                    "executor": self.kind,
                    "folder": str(folder),
                    "progress": request["progress"],
                    "partition": target.partition,
                    "cells": owned,
                }
            )
            self.watched.append(
                Watched(target, job, job.job_id, self.kind, Path(request["progress"]), owned)
            )
        where = f" to partition {target.partition}" if target.partition else ""
        ids = ", ".join(job.job_id for job in jobs)
        self._say(f"submitted {len(jobs)} job{'s' * (len(jobs) != 1)}{where}: {ids}")

    def _request(self, target: Target, chunk: list[Planned], folder: Path) -> dict:
        import uuid

        return {
            "cells": [
                {"cell": item.cell.as_dict(), "settings": dataclasses.asdict(item.settings)}
                for item in chunk
            ],
            "progress": str(folder / f"progress-{uuid.uuid4().hex[:12]}.log"),
            "measure_spec": self.measure_spec,
            "timeout_s": self.timeout_s,
            "run_file": str(target.plan.path),
            "partition": target.partition,
        }

    def _executor(self, target: Target):
        if target.partition not in self.executors:
            self.executors[target.partition] = make_executor(
                self.submitit, self.kind, jobs_folder(target.plan.path), self.settings,
                target.partition, self.timeout_s, target.plan.suite.name,
            )  # fmt: skip
        return self.executors[target.partition]

    # --- following the jobs ------------------------------------------------------------------

    def _poll(self) -> None:
        if self.kind == "slurm" and time.monotonic() - self.last_sacct > SACCT_EVERY_S:
            self.submitit.SlurmJob.watcher.update()  # one sacct call for every job
            self.last_sacct = time.monotonic()
        for watched in list(self.watched):
            self._read_progress(watched)
            state = self._ended_state(watched)
            if state is not None:
                self._read_progress(watched)  # what it wrote before it ended
                self._settle(watched, state)
                self.watched.remove(watched)

    def _read_progress(self, watched: Watched) -> None:
        events, watched.offset = job_module.read_from(watched.progress, watched.offset)
        for event in events:
            kind, cell_id = event["event"], event.get("cell")
            if kind == "job":
                watched.facts = {k: v for k, v in event.items() if k != "event"}
            elif kind == "ended":
                watched.ended_why = event.get("why")
            elif kind == "start" and cell_id in watched.owned:
                watched.in_flight = cell_id
            elif kind == "done" and cell_id in watched.owned and cell_id not in watched.done:
                watched.done.add(cell_id)
                watched.in_flight = None
                env = event.get("env") or {}
                watched.envs[watched.target.items[cell_id].cell.device] = env
                self._record(watched.target, cell_id, env, outcome_of(event.get("outcome")))

    def _record(self, target: Target, cell_id: str, env: dict, outcome: Outcome) -> None:
        """Append the cell's record, unless it is recorded already: in this sweep, or before it
        and not to be measured again (a re-attached job may report a cell recorded before)."""
        if cell_id in target.recorded:
            return
        item = target.items[cell_id]
        target.writer.append(runner.make_record(target.plan.run, item, env, outcome))
        target.recorded.add(cell_id)
        target.summary.add(item.cell, outcome)
        self.shown.done(item.cell, outcome, f" ({target.partition})" if target.partition else "")

    def _ended_state(self, watched: Watched) -> str | None:
        """The job's final state (Slurm's word, or the local executor's), None while it may run."""
        if watched.kind == "local":
            return local_state(watched.job)
        if watched.job.paths.result_pickle.exists():
            return "COMPLETED"  # or failed in Python: the result says which (failure_reason)
        state = (watched.job.state or "UNKNOWN").split()[0].upper()
        if state in ACTIVE_STATES:
            watched.preempted_since = None
            return None
        if state == "PREEMPTED":  # requeued soon unless the cluster cancels preempted jobs
            watched.preempted_since = watched.preempted_since or time.monotonic()
            if time.monotonic() - watched.preempted_since < PREEMPTED_GRACE_S:
                return None
        return state

    def _settle(self, watched: Watched, state: str) -> None:
        """The job has ended: its cell in flight becomes a failed record (unless this parent
        cancelled it), the cells it never started go back to the queue."""
        target = watched.target
        left = [c for c in watched.owned if c not in watched.done and c not in target.recorded]
        if left and not watched.cancelled:
            status, reason = failure_reason(watched, state, self.settings, self.timeout_s)
            if watched.in_flight in left:
                left.remove(watched.in_flight)
                self._fail(
                    watched, watched.in_flight, status, f"{reason} while measuring this cell"
                )
            for cell_id in list(left):
                target.unstarted[cell_id] += 1
                if target.unstarted[cell_id] >= MAX_UNSTARTED:
                    left.remove(cell_id)
                    why = f"{reason} before this cell started, {MAX_UNSTARTED} jobs in a row"
                    self._fail(watched, cell_id, "error", why)
        target.queue.extend(target.items[c] for c in left)
        target.note({"settled": watched.job_id})

    def _fail(self, watched: Watched, cell_id: str, status: str, reason: str) -> None:
        device = watched.target.items[cell_id].cell.device
        env = watched.envs.get(device) or {"device": device, "launcher": watched.facts}
        self._record(watched.target, cell_id, env, Outcome(status, error=reason))

    def _cancel_all(self) -> None:
        """Ctrl-C: cancel every job, record what finished, leave the rest to --resume."""
        for watched in self.watched:
            watched.cancelled = True
            watched.target.note({"cancelled": watched.job_id})
            cancel(watched)
        for watched in self.watched:
            self._read_progress(watched)
            watched.target.summary.interrupted = True
        for target in self.targets:
            target.summary.interrupted = True

    def _say(self, line: str) -> None:
        print(f"rinbench: {line}", file=sys.stderr, flush=True)

    # --- resuming ----------------------------------------------------------------------------

    def _reattach(self, target: Target) -> None:
        """Follow the jobs an earlier parent of this run submitted and did not settle; queue the
        cells to measure that none of them holds."""
        todo = {item.cell.id for item in target.plan.todo}
        entries = target.ledger_entries()
        settled = {e["settled"] for e in entries if "settled" in e}
        cancelled = {e["cancelled"] for e in entries if "cancelled" in e}
        held: set[str] = set()
        for entry in entries:
            job_id = entry.get("submitted")
            if job_id is None or job_id in settled:
                continue
            # A cell recorded before is left out: with --retry-failed a new job measures it.
            owned = [c for c in entry["cells"] if c in todo and c not in target.in_file]
            owned = [c for c in owned if c not in held and c in target.items]
            handle = reattach(self.submitit, entry)
            watched = Watched(
                target, handle, job_id, entry["executor"], Path(entry["progress"]), owned
            )
            watched.cancelled = job_id in cancelled
            if watched.cancelled:
                cancel(watched)  # it may have outlived the cancel
            held.update(owned)
            self.watched.append(watched)
        target.queue = [item for item in target.plan.todo if item.cell.id not in held]
        if held:
            self._say(f"re-attached to jobs holding {len(held)} cells of {target.plan.path.name}")


# --- submitit, one place -----------------------------------------------------------------------


def make_executor(submitit, kind, folder, settings, partition, timeout_s, suite_name):
    """A submitit executor for one partition: Slurm's, or the local one (`submitit-local`)."""
    from bench.errors import UsageError

    minutes = settings.time_min(timeout_s)
    if kind == "local":
        executor = submitit.LocalExecutor(folder=folder)
        seconds = minutes * 60
        # The time-limit signal (USR2), as Slurm sends it before the limit: a quarter ahead here.
        executor.update_parameters(
            timeout_min=minutes, signal_delay_s=max(1, min(90, int(seconds / 4)))
        )
        return executor
    try:
        executor = submitit.SlurmExecutor(folder=folder)
    except RuntimeError as err:  # no srun on PATH: not a Slurm machine
        raise UsageError(f"--launcher slurm: {err}") from None
    import math

    parameters = {
        "job_name": f"rinbench-{suite_name}",
        "time": max(1, math.ceil(minutes)),
        "gpus_per_node": settings.gpus_per_job or None,  # 0: ask for none
        "array_parallelism": settings.array_parallelism,
        "stderr_to_stdout": True,
        "partition": partition,
        "account": settings.account,
        "qos": settings.qos,
        "constraint": settings.constraint,
        "cpus_per_task": settings.cpus_per_job,
        "mem": None if settings.mem_gb is None else f"{math.ceil(settings.mem_gb * 1024)}MB",
        "setup": list(settings.setup) or None,
    }
    executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
    return executor


def reattach(submitit, entry: dict):
    """The submitit job of a ledger entry, to follow again after the parent that submitted it
    died: Slurm's through sacct; a local one through its process id (LocalJobProcess)."""
    if entry["executor"] == "slurm":
        return submitit.SlurmJob(folder=entry["folder"], job_id=entry["submitted"])
    return LocalJobProcess(submitit.LocalJob(folder=entry["folder"], job_id=entry["submitted"]))


@dataclass
class LocalJobProcess:
    """A local submitit job re-attached by another process: its job id is the pid of the job's
    controller, which lives on after the parent that started it."""

    job: object

    @property
    def paths(self):
        return self.job.paths

    def alive(self) -> bool:
        return pid_alive(int(self.job.job_id))

    def cancel(self, check: bool = False) -> None:
        if self.alive():
            os.kill(int(self.job.job_id), signal.SIGINT)  # as LocalJob.cancel does


def local_state(job) -> str | None:
    """A local job's end: FINISHED (its process exited), INTERRUPTED (killed by a signal); None
    while it runs."""
    if isinstance(job, LocalJobProcess):
        return None if job.alive() else "FINISHED"
    state = job.state
    return None if state == "RUNNING" else state


def cancel(watched: Watched) -> None:
    try:
        watched.job.cancel(check=False)
    except (OSError, ValueError) as err:  # scancel missing or refusing: say so, go on
        print(f"rinbench: warning: could not cancel job {watched.job_id}: {err}", file=sys.stderr)


def job_result(watched: Watched) -> tuple[str, object] | None:
    """("success", value) or ("error", traceback text) from the job's result file, if any."""
    path = watched.job.paths.result_pickle
    if not path.exists():
        return None
    import pickle

    try:
        with open(path, "rb") as source:
            return pickle.load(source)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None


def failure_reason(watched, state: str, settings: SlurmSettings, timeout_s: float):
    """(status, reason) for the cells a job that ended left unmeasured: "timeout" when it ran
    into its time limit, "error" otherwise; the reason names the job, its state and its last
    words."""
    result = job_result(watched)
    trace = result[1] if result and result[0] == "error" and isinstance(result[1], str) else ""
    why = watched.ended_why or (trace.strip().splitlines()[-1] if trace.strip() else "")
    timed_out = state in ("TIMEOUT", "DEADLINE") or "timed-out" in why or "timed-out" in trace
    if timed_out:
        limit = settings.time_min(timeout_s)
        words = f"reached its time limit ({limit:g} min, --time)"
    elif result and result[0] == "success":
        words = "finished without reporting this cell"
    elif state in STATE_WORDS:
        words = STATE_WORDS[state]
    elif result is None:
        words = f"ended ({state}) with no result: its process died (killed, or its node lost)"
    else:
        words = f"ended ({state})"
    host = watched.facts.get("host")
    where = f" on {host}" if host else ""
    detail = f" [{why}]" if why and not timed_out else ""
    job = "Slurm job" if watched.kind == "slurm" else "job"
    return ("timeout" if timed_out else "error"), f"{job} {watched.job_id}{where} {words}{detail}"
