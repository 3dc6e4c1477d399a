"""A cell's worker process as its parent sees it: the environment it starts with, the process run
in its own process group and killed whole, and the outcome of one that died or hung, with the last
lines it printed. Shared by the sweep (bench.runner), its Slurm jobs (bench.launch.job), the device
probe (bench.devicefacts) and the paired timing (bench.paired).

    outcome = run_in_subprocess(cell, settings, peak, measure, timeout_s, scratch)

measures one cell in `python -m bench.worker`: an OOM, a crash (even kill -9) or a hang ends that
process and becomes an outcome with status "oom", "error" or "timeout" and a reason.

    held = hold(next_cell, settings, peak, measure, next_scratch, quiet=None)   # ahead of its turn
    outcome = run_in_subprocess(cell, ..., quiet=held.ready)                  # the cell before it
    outcome = run_in_subprocess(next_cell, ..., held=held)                    # then: "go"

starts a cell's worker while the cell before it runs (`rinbench run --prestart`), so that its start
(Python, torch, the model families, its counts on meta: seconds a cell) costs no time of its own.
The running cell waits before its warm-up (on a CPU before its first call) until the held worker's
`ready` file says those are done (QUIET_FILE_ENV, bench.measure.cell.first_call_then_quiet), so
no warm-up or timed call overlaps them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import bench
from bench import pool
from bench.cell import Cell
from bench.measure.cell import QUIET_FILE_ENV
from bench.measure.facts import MatmulPeak
from bench.record import Outcome
from bench.worker import GO, WorkerRequest, outcome_of

OUTPUT_TAIL_LINES = 6  # lines of a dead cell's output kept in its error reason


def worker_environ(visible: str | None = None, quiet: Path | None = None) -> dict[str, str]:
    """The worker's environment: this one, with `bench` importable from where this process imports
    it (installed or not), where `visible` is given, the GPUs it may use, and where `quiet` is, the
    file its timed calls wait for (QUIET_FILE_ENV)."""
    package_root = str(Path(bench.__file__).resolve().parent.parent)
    environ = dict(os.environ, PYTHONUNBUFFERED="1")
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p
    )
    environ.pop(QUIET_FILE_ENV, None)  # a worker's own, never inherited
    if quiet is not None:
        environ[QUIET_FILE_ENV] = str(quiet)
    if visible is not None:  # the GPUs this worker may use, as it numbers them: cuda:0, ...
        environ["CUDA_VISIBLE_DEVICES"] = visible
    return environ


def failed_outcome(status: str, reason: str, output: Path) -> Outcome:
    """The outcome of a cell whose process gave no result: `reason` and the tail of its output."""
    tail = output_tail(output)
    return Outcome(status, error=f"{reason}; last output: {tail}" if tail else reason)


def output_tail(output: Path) -> str:
    """The last OUTPUT_TAIL_LINES non-empty lines of a process's output, on one line."""
    if not output.is_file():
        return ""
    lines = output.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line.strip() for line in lines if line.strip()][-OUTPUT_TAIL_LINES:]
    return " | ".join(kept)[-1500:]


@dataclass
class HeldWorker:
    """A cell's worker started ahead of its turn (`hold`): its imports done while the cell before it
    ran, it creates `ready` and waits for GO on its standard input."""

    process: subprocess.Popen
    scratch: Path
    registry: pool.Processes

    @property
    def ready(self) -> Path:
        return self.scratch / "ready"

    def go(self) -> None:
        try:
            self.process.stdin.write(f"{GO}\n".encode())
            self.process.stdin.close()
        except OSError:
            pass  # the worker is gone: waiting for it says how

    def cancel(self) -> None:
        """End the worker of a cell whose turn never came (the sweep stopped first)."""
        if self.process.poll() is None:
            pool.kill_group(self.process)
            self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.registry.finished(self.process)


def _ready_when_gone(held: HeldWorker, poll_s: float = 0.1) -> None:
    """Create the ready file of a held worker that died before it did (a crash, the kernel's
    out-of-memory killer), so that the cell before it does not wait QUIET_WAIT_S for nothing."""
    while not held.ready.exists():
        if held.process.poll() is not None:
            with contextlib.suppress(OSError):  # its folder may be gone with its cell
                held.ready.touch()
            return
        time.sleep(poll_s)


def hold(
    cell: Cell,
    settings: dict,
    peak: MatmulPeak | None,
    measure: str,
    scratch: Path,
    *,
    visible: str | None = None,
    processes: pool.Processes | None = None,
    quiet: Path | None = None,
) -> HeldWorker:
    """Start `cell`'s worker in `scratch` to wait for its turn (`run_in_subprocess(held=...)`);
    `quiet`: the ready file of the worker held after it, which its timed calls wait for. A thread
    creates this worker's own ready file should it die before it does (`_ready_when_gone`)."""
    registry = processes if processes is not None else pool.Processes()
    command = _worker_command(cell, settings, peak, measure, scratch)
    command += ["--hold", str(scratch / "ready"), "--started", f"{time.time():.6f}"]
    process = _start(command, scratch / "output.log", registry, visible, quiet, subprocess.PIPE)
    held = HeldWorker(process, scratch, registry)
    threading.Thread(target=_ready_when_gone, args=(held,), daemon=True).start()
    return held


def run_in_subprocess(
    cell: Cell,
    settings: dict,
    peak: MatmulPeak | None,
    measure: str,
    timeout_s: float,
    scratch: Path,
    *,
    visible: str | None = None,
    processes: pool.Processes | None = None,
    held: HeldWorker | None = None,
    quiet: Path | None = None,
) -> Outcome:
    """Measure one cell in `python -m bench.worker`; a dead or hung process becomes an outcome.
    `visible`: the worker's CUDA_VISIBLE_DEVICES (None: this process's); `processes`: the
    registry that kills the worker when the sweep stops (None: Ctrl-C in this thread does).
    `held`: the cell's worker, started by `hold` in this `scratch`, told to go now; `quiet`: the
    ready file the cell's timed calls wait for (a held worker has its own from `hold`)."""
    registry = processes if processes is not None else pool.Processes()
    result, output = scratch / "result.json", scratch / "output.log"
    start = time.perf_counter()
    if held is None:
        command = _worker_command(cell, settings, peak, measure, scratch)
        process = _start(command, output, registry, visible, quiet, subprocess.DEVNULL)
    else:
        process = held.process
        held.go()
    returncode = wait_killable(process, timeout_s, registry)
    wall_s = time.perf_counter() - start
    return outcome_from_process(returncode, result, output, timeout_s).with_cell_time(wall=wall_s)


def _worker_command(
    cell: Cell, settings: dict, peak: MatmulPeak | None, measure: str, scratch: Path
) -> list[str]:
    """The worker's command line, its request written to scratch/request.json."""
    request, result = scratch / "request.json", scratch / "result.json"
    result.unlink(missing_ok=True)
    request_data = WorkerRequest(cell, settings, peak).to_json()
    request.write_text(json.dumps(request_data), encoding="utf-8")
    command = [sys.executable, "-m", "bench.worker", "--request", str(request)]
    return command + [
        "--result",
        str(result),
        "--measure",
        measure,
        "--parent-pid",
        str(os.getpid()),
    ]


# In a record's details: its cell process was killed at the timeout after it wrote its result.
KILLED_AFTER_RESULT_KEY = "killed_after_result"


def outcome_from_process(
    returncode: int | None, result: Path, output: Path, timeout_s: float
) -> Outcome:
    """What a finished worker process gave: its result file's outcome, or the failure that
    explains why there is none (`returncode` None: it was killed at `timeout_s`). A result file
    is renamed into place whole once the measurement is done, so one that is there stands even
    where the process was killed after it, slow to exit (a CUDA or compile-pool teardown); its
    details say so (KILLED_AFTER_RESULT_KEY)."""
    if result.is_file():
        try:
            outcome = outcome_of(json.loads(result.read_text(encoding="utf-8")))
        except ValueError as err:
            return failed_outcome(
                "error", f"unreadable result from the cell process ({err})", output
            )
        if returncode is None:
            said = f"the cell process wrote its result but had not exited after {timeout_s:g} s"
            outcome.details[KILLED_AFTER_RESULT_KEY] = said + "; it was killed"
        return outcome
    if returncode is None:
        reason = f"no result after {timeout_s:g} s; the cell process was killed"
        return failed_outcome("timeout", reason, output)
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (kill -9, or the kernel's out-of-memory killer)" if name == "SIGKILL" else ""
        return failed_outcome("error", f"cell process killed by {name}{hint}", output)
    return failed_outcome(
        "error", f"cell process exited with code {returncode} and no result", output
    )


def run_killable(
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
    process = _start(command, output, registry, visible, None, subprocess.DEVNULL)
    return wait_killable(process, timeout_s, registry)


def _start(
    command: list[str],
    output: Path,
    registry: pool.Processes,
    visible: str | None,
    quiet: Path | None,
    stdin: int,
) -> subprocess.Popen:
    with open(output, "wb") as sink:  # the child keeps its own copy of the file
        return registry.start(
            command,
            stdin=stdin,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=worker_environ(visible, quiet),
        )


def wait_killable(
    process: subprocess.Popen, timeout_s: float, registry: pool.Processes
) -> int | None:
    """Wait for `process` (its return code, or None once killed at `timeout_s`); an interrupt of
    this thread kills its process group too, and then propagates."""
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
