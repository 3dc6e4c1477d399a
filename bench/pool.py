"""Jobs run concurrently over a set of slots (a sweep's GPUs): one job per slot at a time, and a
job that needs every slot (a cell that uses the whole node) only when all are idle.

    with Pool(slots=("0", "1"), processes=Processes()) as pool:
        for payload, result in pool.results(jobs, work, on_start=show):
            write(payload, result)     # the calling thread is the only one that sees results

Each started job runs `work(payload, taken_slots)` in a thread of its own and hands its result back
through a queue; the calling thread picks the next jobs as slots come free. Jobs start in their
order, except that a job waiting for the whole node lets single-slot jobs behind it take the free
slots, so the slots never idle while there is work for them: whole-node jobs run once the
single-slot jobs have all started and finished (or first, if they come first).

The child processes the jobs start go through `Processes`, so that leaving the pool early (Ctrl-C,
SIGTERM, an error) kills every process group still running, and starts no new one.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

JOIN_TIMEOUT_S = 30.0  # how long leaving the pool waits for its threads once their processes died


class Cancelled(Exception):
    """A job tried to start a process after the pool was told to stop."""


class Processes:
    """The child processes in flight, each the leader of its own process group; `kill_all` kills
    every group and refuses new processes from then on. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen] = set()
        self._stopped = False

    def start(self, command: list[str], **popen_options) -> subprocess.Popen:
        """subprocess.Popen(command, start_new_session=True, ...), registered; Cancelled once
        `kill_all` ran."""
        with self._lock:
            if self._stopped:
                raise Cancelled("the sweep is stopping")
            process = subprocess.Popen(command, start_new_session=True, **popen_options)
            self._live.add(process)
            return process

    def finished(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._live.discard(process)

    def kill_all(self) -> None:
        with self._lock:
            self._stopped = True
            for process in self._live:
                kill_group(process)

    def kill_running(self) -> None:
        """Kill every group still running, but accept new processes: a pool that ended normally
        leaves the registry usable for the next stretch of the sweep."""
        with self._lock:
            for process in self._live:
                kill_group(process)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group `process` leads (a cell's helpers die with it)."""
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Job:
    payload: Any
    whole: bool = False  # needs every slot at once


@dataclass(frozen=True)
class _Finished:
    job: Job
    taken: tuple
    result: Any = None
    error: BaseException | None = None


class Pool:
    def __init__(self, slots: Sequence[Hashable], processes: Processes):
        if not slots:
            raise ValueError("a pool needs at least one slot")
        self.slots = tuple(slots)
        self.processes = processes
        self._finished: queue.Queue[_Finished] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc_info) -> None:
        """Kill what still runs (nothing, after a complete `results`) and wait for the threads;
        after an exception (Ctrl-C) the registry refuses new processes too."""
        if exc_info[0] is None:
            self.processes.kill_running()
        else:
            self.processes.kill_all()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def results(
        self,
        jobs: Iterable[Job],
        work: Callable[[Any, tuple], Any],
        *,
        on_start: Callable[[Any, tuple], None] | None = None,
    ) -> Iterator[tuple[Any, Any]]:
        """(payload, work's result) for each job, in the order they finish. An exception raised by
        `work` is raised here (after the pool's exit has stopped the other jobs)."""
        pending, idle, running = list(jobs), list(self.slots), 0
        while pending or running:
            for job, taken in self._take_ready(pending, idle):
                running += 1
                if on_start is not None:
                    on_start(job.payload, taken)
                self._start(job, taken, work)
            finished = self._finished.get()
            running -= 1
            idle[:] = [slot for slot in self.slots if slot in idle or slot in finished.taken]
            if finished.error is not None:
                raise finished.error
            yield finished.job.payload, finished.result

    def _take_ready(self, pending: list[Job], idle: list) -> list[tuple[Job, tuple]]:
        """The pending jobs that can start now, each with the slots it takes (removed from
        `pending` and `idle`)."""
        ready = []
        for job in list(pending):
            if not idle:
                break
            if job.whole:
                if len(idle) < len(self.slots):
                    continue  # waits for the node; the jobs behind it use the free slots
                taken = tuple(idle)
            else:
                taken = (idle[0],)
            idle[:] = [slot for slot in idle if slot not in taken]
            pending.remove(job)
            ready.append((job, taken))
        return ready

    def _start(self, job: Job, taken: tuple, work: Callable[[Any, tuple], Any]) -> None:
        def run() -> None:
            try:
                finished = _Finished(job, taken, result=work(job.payload, taken))
            except BaseException as error:  # handed to the caller, who decides
                finished = _Finished(job, taken, error=error)
            self._finished.put(finished)

        thread = threading.Thread(target=run, name=f"job on {taken}", daemon=True)
        self._threads.append(thread)
        thread.start()
