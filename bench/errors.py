"""The one error path of the CLI: what a command raises for bad input, and the exit statuses.

Every command answers bad input (an unknown preset, a path that is not there, a CUDA device this
machine does not have) by raising `UsageError` with one line; `bench.cli.main` prints it as
`rinbench: error: <line>` and exits 2. Standard library only: every module may import it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED_CELLS = 1  # a sweep recorded cells in error or timeout; a regression in `compare`
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a process killed by it


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


def require_device(device: str) -> None:
    """Raise UsageError when `device` ("cpu", "cuda", "cuda:1") cannot be used on this machine.
    Imports torch: call it where a command is about to run on the device, not at parse time."""
    kind, _, index = device.partition(":")
    if kind == "cpu" and not index:
        return
    if kind != "cuda":
        raise UsageError(f"unknown device {device!r}; known: cpu, cuda, cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            f"device {device!r} requested but torch sees no CUDA device on this machine"
        )
    if index:
        if not index.isdigit():
            raise UsageError(f"bad device {device!r}; expected cuda or cuda:N")
        if int(index) >= torch.cuda.device_count():
            raise UsageError(
                f"device {device!r} requested but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
