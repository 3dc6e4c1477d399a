"""Do repeated runs of one suite agree, or say that they are noise?

    python benchmarks/noise/agreement.py RUN1.jsonl RUN2.jsonl RUN3.jsonl

For every timed cell that ended ok in each run: the median per run with its 95% interval
(`bench.intervals.latency`: over rounds where the record was measured in rounds, else the
order-statistic interval of the median over its window's samples) and its noisy flag
(`latency_noisy`). The runs agree on a cell when their intervals overlap, every pair of runs: the
rule `rinbench compare` applies before it calls a change of time worse or better (docs/ci.md).

Where a run has no interval for the cell (fewer samples than bound a median at 95%, or a record
that keeps none), the cell falls back to the old rule, and the table says so: the runs agree when
their medians lie within the spread the runs themselves report, max/min - 1 at most the sum of the
two largest relative IQRs, or the suite's spread threshold (`max_rel_iqr` from the cell's
settings), whichever is larger.

A cell on which the runs disagree should be flagged noisy in at least one of them; one that is not
is a timing that claimed a precision it did not have, and makes the exit status 1.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import intervals  # noqa: E402
from bench.intervals import Interval  # noqa: E402
from bench.record import Record  # noqa: E402
from bench.results import read  # noqa: E402

TIMED = ("forward", "train_step", "sample")
AGREE, FLAGGED, UNFLAGGED = "agree", "disagree, flagged noisy", "DISAGREE, not flagged"


@dataclass(frozen=True)
class Judgement:
    """Whether the runs of one cell agree, and by which test."""

    agree: bool
    by_intervals: bool  # False: a run had no interval, the old rule decided
    test: str  # what was tested and what it found, for the table


def judge(records: list[Record], found: list[Interval]) -> Judgement:
    """The runs' records of one cell (all ok) and their latency intervals, in run order."""
    lacking: dict[str, list[str]] = {}  # reason -> the runs it holds for
    for run, interval in enumerate(found, 1):
        if not interval.available:
            lacking.setdefault(interval.reason, []).append(str(run))
    if not lacking:
        apart = [
            f"{i}-{j}"
            for (i, a), (j, b) in itertools.combinations(enumerate(found, 1), 2)
            if not a.overlaps(b)
        ]
        test = f"intervals apart: runs {', '.join(apart)}" if apart else "intervals overlap"
        return Judgement(not apart, True, test)
    medians = [r.values["latency_ms_median"] for r in records]
    spreads = [r.values.get("latency_rel_iqr") or 0.0 for r in records]
    threshold = records[0].settings.get("max_rel_iqr", 0.05)
    apart = max(medians) / min(medians) - 1
    allowed = max(sum(sorted(spreads)[-2:]), threshold)
    why = "; ".join(
        f"run{'s' if len(runs) > 1 else ''} {', '.join(runs)}: {reason}"
        for reason, runs in lacking.items()
    )
    test = f"no interval ({why}): old rule, medians {apart:.1%} apart, allowed {allowed:.1%}"
    return Judgement(apart <= allowed, False, test)


def main(paths: list[str]) -> int:
    if len(paths) < 2:
        print("usage: agreement.py RUN1.jsonl RUN2.jsonl [...]", file=sys.stderr)
        return 2
    runs = [{r.cell.id: r for r in read([p]) if r.cell.phase in TIMED} for p in paths]
    common = sorted(set.intersection(*(set(run) for run in runs)))
    verdicts: list[tuple[str, Judgement]] = []
    print("| cell | median [95% interval] per run (ms) | noisy | test | verdict |")
    print("|---|---|---|---|---|")
    for cell_id in common:
        records = [run[cell_id] for run in runs]
        if any(r.status != "ok" for r in records):
            print(f"| {cell_id} | {', '.join(r.status for r in records)} | | | not timed |")
            continue
        found = [intervals.latency(r.values) for r in records]
        judgement = judge(records, found)
        noisy = [bool(r.values.get("latency_noisy")) for r in records]
        verdict = AGREE if judgement.agree else FLAGGED if any(noisy) else UNFLAGGED
        verdicts.append((verdict, judgement))
        print(
            f"| {cell_id} | {'; '.join(f.text('.3g') for f in found)} | "
            f"{', '.join('yes' if n else 'no' for n in noisy)} | {judgement.test} | {verdict} |"
        )
    print(f"\n{len(common)} cells in all runs; {summary(verdicts)}")
    return 1 if any(verdict == UNFLAGGED for verdict, _ in verdicts) else 0


def summary(verdicts: list[tuple[str, Judgement]]) -> str:
    """How many timed cells agree and disagree, and how many were judged by which test."""
    counts = [sum(v == verdict for v, _ in verdicts) for verdict in (AGREE, FLAGGED, UNFLAGGED)]
    by_intervals = sum(j.by_intervals for _, j in verdicts)
    return (
        f"{counts[0]} agree, {counts[1]} disagree flagged noisy, {counts[2]} disagree without a "
        f"noisy flag; {by_intervals} judged by their intervals, {len(verdicts) - by_intervals} by "
        "the old rule (a run without an interval)"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
