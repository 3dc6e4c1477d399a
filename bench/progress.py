"""Progress on stderr: a tqdm bar in a terminal, a plain line now and then in a log file.

A bar redraws itself with carriage returns, which a log that is not a terminal keeps as one line
of tens of kilobytes; there, a line at every tenth of the work says the same.
"""

from __future__ import annotations

import math
import sys
import time


def progress(total: int, desc: str, *, enabled: bool = True, initial: int = 0):
    """An object with `update(n)`, `set_postfix(**values)` and `close()`: a tqdm bar when stderr is
    a terminal, `PlainProgress` when it is not, and one that does nothing when not `enabled`."""
    if not enabled:
        return _Silent()
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr)
    return PlainProgress(total, desc, initial=initial)


class PlainProgress:
    """`desc: done/total (elapsed)` on stderr each time another 1/`lines` of the work is done."""

    def __init__(self, total: int, desc: str, *, initial: int = 0, lines: int = 10):
        self.total, self.desc, self.n = total, desc, initial
        self.every = max(1, math.ceil(total / lines))
        self.postfix = ""
        self.started = time.perf_counter()

    def update(self, n: int = 1) -> None:
        before, self.n = self.n, self.n + n
        if self.n // self.every > before // self.every or self.n == self.total:
            elapsed = time.perf_counter() - self.started
            tail = f", {self.postfix}" if self.postfix else ""
            print(f"{self.desc}: {self.n}/{self.total} ({elapsed:.0f} s{tail})", file=sys.stderr)

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{key} {value}" for key, value in values.items())

    def close(self) -> None:
        pass


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values) -> None:
        pass

    def close(self) -> None:
        pass
