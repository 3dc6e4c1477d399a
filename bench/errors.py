"""The one error path of the CLI: what a command raises for bad input, and the exit statuses.

Every command answers bad input (an unknown preset, a path that is not there, a CUDA device this
machine does not have) by raising `UsageError` with one line; `bench.cli.main` prints it as
`rinbench: error: <line>` and exits 2. Standard library only: every module may import it.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_FAILED_CELLS = 1  # a sweep recorded cells in error or timeout; a regression in `compare`
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a process killed by it
# An error line longer than this is hard to read in a terminal; a message that needs more says
# where the rest is (a log, a record, a --help) instead.
MAX_ERROR_CHARS = 300
# What --device takes in every command: the CPU, the current GPU, or GPU N as torch numbers them.
DEVICE_NAME = re.compile(r"cpu|cuda(:[0-9]+)?")


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


def shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` on one line (runs of whitespace, newlines included, become one space), cut at a word
    boundary and ended with '...' when it runs past `limit` characters."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 4].rsplit(" ", 1)[0].rstrip(",;:")
    return f"{cut} ..."


def require_device(device: str) -> None:
    """Raise UsageError when `device` ("cpu", "cuda", "cuda:1") cannot be used on this machine.
    Imports torch: call it where a command is about to run on the device, not at parse time."""
    if not DEVICE_NAME.fullmatch(device):
        raise UsageError(f"unknown device {device!r}; known: cpu, cuda, cuda:N")
    if device == "cpu":
        return
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            f"device {device!r} requested but torch sees no CUDA device on this machine"
        )
    _, _, index = device.partition(":")
    if index and int(index) >= torch.cuda.device_count():
        raise UsageError(
            f"device {device!r} requested but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
