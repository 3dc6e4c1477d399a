"""Which GPUs a sweep spreads its cells over: `rinbench run SUITE --devices 0,1,2,3` or `--devices all`.

A chosen device is named by the value its worker processes get in CUDA_VISIBLE_DEVICES, so that
each one sees a single GPU as "cuda" and the cell's id and record read as on a one-GPU machine.
Index N is torch's `cuda:N` as seen from this process: the N-th entry of this process's own
CUDA_VISIBLE_DEVICES when it has one (a sweep started under CUDA_VISIBLE_DEVICES=4,5 pins its
workers to 4 and 5, or to the GPU UUIDs listed there), else N itself.

The GPUs are counted in a child process: the runner never initialises CUDA itself, as a context in
its process would hold memory on every GPU while the cells measure (see bench/devicefacts.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence

from bench.errors import UsageError

ALL = "all"
COUNT_TIMEOUT_S = 120  # importing torch on a loaded machine; the count itself is instant
_COUNT = "import torch; print(torch.cuda.device_count())"


def parse(spec: str) -> tuple[int, ...] | None:
    """The indices a --devices value lists ("0,1,3"), or None for "all"; UsageError for anything
    else (an empty entry, a word, a negative number, an index listed twice)."""
    if spec.strip().lower() == ALL:
        return None
    entries = [entry.strip() for entry in spec.split(",")]
    if not all(entry.isdigit() for entry in entries):
        raise UsageError(
            f"--devices {spec!r}: expected 'all' or GPU indices separated by commas, e.g. 0,1,2,3"
        )
    indices = tuple(int(entry) for entry in entries)
    twice = sorted({i for i in indices if indices.count(i) > 1})
    if twice:
        raise UsageError(f"--devices {spec!r} lists GPU {twice[0]} twice; one worker per GPU")
    return indices


def visible_entries(listed: str | None, count: int) -> tuple[str, ...]:
    """The CUDA_VISIBLE_DEVICES value of each of the `count` GPUs torch sees, given this process's
    own CUDA_VISIBLE_DEVICES (`listed`, None when unset). CUDA stops reading the list at its first
    invalid entry, so the first `count` entries are the GPUs torch numbers 0 .. count-1."""
    if listed is None:
        return tuple(str(index) for index in range(count))
    return tuple(entry.strip() for entry in listed.split(","))[:count]


def cuda_device_count(timeout_s: float = COUNT_TIMEOUT_S) -> int:
    """torch.cuda.device_count(), asked of a child process with this process's environment."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _COUNT], capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"counting the CUDA devices took over {timeout_s} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].isdigit():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"cannot count the CUDA devices: {last}")
    return int(lines[-1])


def visible_cuda_devices() -> tuple[str, ...]:
    """The CUDA_VISIBLE_DEVICES value that pins a worker to each GPU torch sees, in torch's order."""
    return visible_entries(os.environ.get("CUDA_VISIBLE_DEVICES"), cuda_device_count())


def check_cells(spec: str, devices: Sequence[str]) -> None:
    """UsageError unless the sweep has CUDA cells to spread (`devices`: the devices its cells run
    on, after --device): --devices picks GPUs, a CPU cell runs on the one CPU."""
    parse(spec)
    if "cuda" not in devices:
        raise UsageError(
            f"--devices {spec} spreads CUDA cells over GPUs, but every cell of this sweep runs on "
            f"{'/'.join(sorted(set(devices))) or 'no device'}; pass --device cuda, or drop --devices"
        )


def choose(spec: str, lister: Callable[[], Sequence[str]] | None = None) -> tuple[str, ...]:
    """The CUDA_VISIBLE_DEVICES value of each GPU a --devices value picks, in its order; UsageError
    for a malformed value, no GPU at all, or an index past the last GPU. `lister` gives the GPUs
    there are (default: visible_cuda_devices)."""
    indices = parse(spec)
    visible = tuple((lister or visible_cuda_devices)())
    if not visible:
        raise UsageError(f"--devices {spec}: torch sees no CUDA device on this machine")
    if indices is None:
        return visible
    missing = [index for index in indices if index >= len(visible)]
    if missing:
        known = "index 0" if len(visible) == 1 else f"indices 0-{len(visible) - 1}"
        raise UsageError(
            f"--devices {spec}: there is no GPU {missing[0]}; torch sees {len(visible)} ({known})"
        )
    return tuple(visible[index] for index in indices)
