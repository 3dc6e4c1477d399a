"""Whether a process is alive: the one rule for the runner (whose scratch folders outlive a runner
killed with -9) and the Slurm sweep (a local job re-attached through its pid).

A zombie, a process that exited and that its parent has not reaped yet, is not alive: it runs no
code and holds no memory, though the kernel still answers for its pid. Linux says so in
/proc/PID/stat; without /proc (macOS) a zombie reads as alive until it is reaped.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
ZOMBIE, GONE = "Z", "X"  # the states of /proc/PID/stat that run no code


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs: the kernel knows it (os.kill with signal 0, which sends none;
    PermissionError: another user's process, alive) and /proc does not call it a zombie."""
    if pid <= 0:  # 0 and negative pids name process groups to os.kill, never one process
        raise ValueError(f"not a process id: {pid}")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: it exists, and is not ours to look into
        return True
    return process_state(pid) not in (ZOMBIE, GONE)


def process_state(pid: int) -> str | None:
    """The state letter /proc/PID/stat gives (R running, S sleeping, Z zombie, ...), GONE when the
    process ended since it was asked about, None where there is no /proc."""
    try:
        stat = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return GONE if (PROC / "self").is_dir() else None
    except OSError:
        return None
    # "PID (command name) STATE ...": the name may hold spaces and parentheses, the state follows
    # the last ")".
    return stat.rpartition(")")[2].split()[0]
