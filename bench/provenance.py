"""Where a run comes from: the commit of the checkout the harness runs from, and a new run's
identity (its id says when, on which host, on which devices and at which commit it started)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import bench
from bench import results
from bench.record import RunInfo


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


def new_run(suite: str, devices: str) -> RunInfo:
    """A run starting now on this host: its id (results.make_run_id), `suite`, its start time.
    `devices` names what it measures on ("cpu", "cpu+cuda")."""
    started = results.utc_now()
    run_id = results.make_run_id(started, socket.gethostname(), devices, git_hash())
    return RunInfo(run_id, suite, started.isoformat())
