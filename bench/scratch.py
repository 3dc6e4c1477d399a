"""Scratch folders of a sweep in the temp directory: each cell's request, result and output.

They are named rinbench-<runner pid>-*, so that a later run can remove those a killed runner
(kill -9, a node going down) left behind: their pid is no longer alive (bench.liveness).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from bench.liveness import pid_alive

SCRATCH_PREFIX = "rinbench-"
SCRATCH_NAME = re.compile(rf"{SCRATCH_PREFIX}([1-9]\d*)-.*")


def scratch_prefix() -> str:
    """The prefix of this process's scratch folders (tempfile's `prefix=`)."""
    return f"{SCRATCH_PREFIX}{os.getpid()}-"


def remove_stale_scratch(folder: str | os.PathLike | None = None) -> list[Path]:
    """Remove the scratch folders of runners that are gone (killed before they could clean up)
    from the temp directory; returns them. A folder whose pid is alive, or not ours to judge
    (another user's process), stays."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        match = SCRATCH_NAME.fullmatch(path.name)
        if match and path.is_dir() and not pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
