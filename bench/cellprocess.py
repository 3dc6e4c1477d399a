"""A cell's worker process as its parent sees it: the environment it starts with, and the outcome of
one that died or hung, with the last lines it printed. Shared by the sweep (bench.runner) and the
paired timing (bench.paired)."""

from __future__ import annotations

import os
from pathlib import Path

import bench
from bench.record import Outcome

OUTPUT_TAIL_LINES = 6  # lines of a dead cell's output kept in its error reason


def worker_environ(visible: str | None = None) -> dict[str, str]:
    """The worker's environment: this one, with `bench` importable from where this process imports
    it (installed or not) and, where `visible` is given, the GPUs it may use."""
    package_root = str(Path(bench.__file__).resolve().parent.parent)
    environ = dict(os.environ, PYTHONUNBUFFERED="1")
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p
    )
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
