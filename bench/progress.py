"""Progress on stderr: a tqdm bar in a terminal, a plain line now and then in a log file.

A bar redraws itself with carriage returns, which a log that is not a terminal keeps as one line
of tens of kilobytes; there, a line at every tenth of the work says the same. A sweep's cells
(`CellProgress`, shared by the local runner and the Slurm sweep) get a line each in a log.
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


class CellProgress:
    """What a sweep shows on stderr as its cells go: a tqdm bar on a terminal, its postfix naming
    the cell in flight (the oldest, and how many more, when several GPUs measure at once);
    elsewhere (a CI log, a file) one line per finished cell, `[3/94] ok: CELL_ID`. Failures are
    shown either way (`oom: CELL_ID: first line of the reason`), and nothing at all without
    `enabled` but the failures. `bar=False` writes lines even on a terminal (the Slurm sweep, whose
    own messages come between them), each after `prefix`."""

    def __init__(self, name: str, total: int, enabled: bool, *, bar: bool = True, prefix: str = ""):
        self.total, self.count, self.enabled, self.prefix = total, 0, enabled, prefix
        self.in_flight: list[str] = []
        self.bar = None
        if enabled and bar and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=name, unit="cell", file=sys.stderr)

    def start(self, cell) -> None:
        """`cell` (a bench.cell.Cell) is being measured."""
        self.in_flight.append(cell.id)
        self._show_in_flight()

    def aside(self, cell) -> None:
        """`cell` is no longer in flight, and not recorded yet: it will be measured again (a
        profile its pair's worker ran out of memory taking, taken next in a process of its own)."""
        if cell.id in self.in_flight:
            self.in_flight.remove(cell.id)
        self._show_in_flight()

    def done(self, cell, outcome, where: str = "") -> None:
        """`cell` is recorded with `outcome` (a bench.record.Outcome); `where` follows the cell id
        on its line (the Slurm sweep's " (partition)")."""
        self.count += 1
        if cell.id in self.in_flight:
            self.in_flight.remove(cell.id)
        if outcome.status != "ok":
            self._say(f"{outcome.status}: {cell.id}: {outcome.error.splitlines()[0]}")
        elif self.enabled and self.bar is None:
            self._say(f"[{self.count}/{self.total}] ok: {cell.id}{where}")
        if self.bar is not None:
            self.bar.update(1)
            self._show_in_flight()

    def _show_in_flight(self) -> None:
        if self.bar is None:
            return
        if not self.in_flight:  # nothing measuring: no stale name beside the bar
            self.bar.set_postfix_str("", refresh=True)
            return
        more = len(self.in_flight) - 1
        text = self.in_flight[0] + (f" (+{more} in flight)" if more else "")
        self.bar.set_postfix_str(text, refresh=True)

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(self.prefix + line, file=sys.stderr)
        else:
            print(self.prefix + line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values) -> None:
        pass

    def close(self) -> None:
        pass
