"""What one cluster job runs: measure its cells as the local runner does, and say so cell by cell.

`measure_cells(request)` is the function submitit pickles and runs on the node. Params and flops
cells are counted in the job's process; every other cell runs in its own worker process under the
cell timeout (`bench.cellprocess.run_in_subprocess`), so an OOM, a crash or a hang of one cell is a
result and the job goes on. The device's facts (environment, matmul peak) are taken once per job,
on the node, as the local runner takes them once per run.

The job never writes the run file. It appends its progress to a file of its own, one JSON object
per line, flushed and fsynced, which the parent (bench.launch.sweep) reads while the job runs:

    {"event": "job", "job_id": "123_4", "host": "gpu17", "pid": 4242, "partition": "a100", ...}
    {"event": "start", "cell": CELL_ID}
    {"event": "done", "cell": CELL_ID, "env": {...}, "outcome": Outcome.to_json()}
    {"event": "ended", "why": "UncompletedJobError: ... timed-out ..."}   (when interrupted)

A "start" without its "done" names the cell in flight when the job died. A job Slurm requeues
(after a preemption) starts again from its first cell without a "done" line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import tempfile
from pathlib import Path

from bench import devicefacts, results, runner
from bench.cell import PROFILE_PHASES, STATIC_PHASES, Cell
from bench.cellprocess import run_in_subprocess
from bench.measure.facts import DeviceFacts
from bench.record import Outcome
from bench.scratch import remove_stale_scratch, scratch_prefix
from bench.worker import describe, load_measure, probe, run_measure

PROGRESS_EVENTS = ("job", "start", "done", "ended")


def measure_cells(request: dict) -> dict:
    """Measure the cells of `request` ({"cells": [{"cell": Cell.as_dict(), "settings": {...}}],
    "progress": path, "measure_spec": "module:function", "timeout_s": seconds, "run_file": path,
    "partition": name or None}); returns {"measured": how many this attempt}."""
    progress = Path(request["progress"])
    finished = {event["cell"] for event in read_events(progress) if event["event"] == "done"}
    log = ProgressLog(progress)
    slurm = job_facts(request.get("partition"))
    log.write({"event": "job", **slurm, "attempt_started": results.utc_now().isoformat()})
    measured = 0
    try:
        entries = [e for e in request["cells"] if _cell(e).id not in finished]
        timed = {_cell(e).device for e in entries if _cell(e).phase not in STATIC_PHASES}
        facts: dict[str, DeviceFacts] = {}
        remove_stale_scratch()
        with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as scratch:
            for entry in entries:
                cell = _cell(entry)
                if cell.device not in facts:
                    facts[cell.device] = device_facts(
                        cell.device, cell.device in timed, request["timeout_s"]
                    )
                log.write({"event": "start", "cell": cell.id})
                outcome = measure_one(cell, entry["settings"], facts[cell.device], request, scratch)
                env = facts[cell.device].env | {"launcher": slurm}
                log.write({"event": "done", "cell": cell.id, "env": env, "outcome": outcome})
                measured += 1
    except BaseException as exc:  # Slurm's time-limit or preemption signal, a cancel, a crash
        log.write({"event": "ended", "why": describe(exc)})
        raise
    finally:
        log.close()
    return {"measured": measured}


def _cell(entry: dict) -> Cell:
    names = {f.name for f in dataclasses.fields(Cell)}
    return Cell(**{key: value for key, value in entry["cell"].items() if key in names})


def measure_one(
    cell: Cell, settings: dict, facts: DeviceFacts, request: dict, scratch: str
) -> Outcome:
    """One cell as the local runner measures it: a count here, anything else in a worker."""
    # "measure": the key's name in requests written before the rename to measure_spec (a sweep
    # submitted then and resumed now).
    spec, timeout_s = request.get("measure_spec") or request["measure"], request["timeout_s"]
    if cell.phase in STATIC_PHASES:
        return run_measure(load_measure(spec), cell, settings)
    if cell.phase in PROFILE_PHASES:
        spec, settings = runner.profile_request(spec, settings, Path(request["run_file"]))
    return run_in_subprocess(cell, settings, facts.peak, spec, timeout_s, Path(scratch))


def device_facts(device: str, with_peak: bool, timeout_s: float) -> DeviceFacts:
    """The facts (environment and, `with_peak`, matmul peak) of the node's device, as the local
    runner takes them: a CPU's here, a GPU's in a worker process (this process then holds no CUDA
    context while cells measure)."""
    if device == "cpu":
        return probe("cpu", with_peak)
    return devicefacts.device_facts(device, timeout_s, with_peak=with_peak)


def job_facts(partition: str | None) -> dict:
    """Which job this is and where it runs: submitit's job id (array jobs: ARRAYID_INDEX), the
    host, the partition asked for (Slurm's own name for it on a cluster)."""
    facts = {"kind": "submitit", "host": socket.gethostname(), "pid": os.getpid()}
    try:
        import submitit

        environment = submitit.JobEnvironment()
        facts |= {"kind": environment.cluster, "job_id": environment.job_id}
    except (ImportError, RuntimeError, KeyError):
        pass  # called outside a submitit job (the tests call it directly)
    facts["partition"] = os.environ.get("SLURM_JOB_PARTITION", partition)
    return facts


class ProgressLog:
    """Appends events to the job's progress file, each flushed and fsynced before the next
    step, so the parent (possibly on another host, over a shared file system) reads whole lines."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def write(self, event: dict) -> None:
        self._file.write(json.dumps(event, default=_plain) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _plain(value: object) -> object:
    if isinstance(value, Outcome):
        return value.to_json()
    return str(value)


def read_events(path: Path, offset: int = 0) -> list[dict]:
    """The whole lines of a progress file from byte `offset` on (a line still being written is
    left for later); see `read_from`."""
    return read_from(path, offset)[0]


def read_from(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """(events, the offset after the last whole line). A line that is not an event (a job killed
    mid-write leaves half of one, which then ends at the next line's start) is skipped."""
    try:
        with open(path, "rb") as source:
            source.seek(offset)
            data = source.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") in PROGRESS_EVENTS:
            events.append(event)
    return events, offset + end
