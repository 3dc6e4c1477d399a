"""Do repeated runs of one suite agree, or say that they are noise?

    python benchmarks/noise/agreement.py RUN1.jsonl RUN2.jsonl RUN3.jsonl

For every timed cell that ended ok in each run: the median per run, its relative IQR and its noisy
flag (`latency_noisy`). The runs agree on a cell when their medians lie within the spread the runs
themselves report: max/min - 1 at most the sum of the two largest relative IQRs, or the suite's
spread threshold (`max_rel_iqr` from the cell's settings), whichever is larger. A cell on which the
runs disagree should be flagged noisy in at least one of them; one that is not is a timing that
claimed a precision it did not have, and makes the exit status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.results import read  # noqa: E402

TIMED = ("forward", "train_step", "sample")


def main(paths: list[str]) -> int:
    if len(paths) < 2:
        print("usage: agreement.py RUN1.jsonl RUN2.jsonl [...]", file=sys.stderr)
        return 2
    runs = [{r.cell.id: r for r in read([p]) if r.cell.phase in TIMED} for p in paths]
    common = sorted(set.intersection(*(set(run) for run in runs)))
    unflagged = 0
    print("| cell | medians (ms) | rel. IQR | noisy | medians apart | allowed | verdict |")
    print("|---|---|---|---|---|---|---|")
    for cell_id in common:
        records = [run[cell_id] for run in runs]
        if any(r.status != "ok" for r in records):
            print(f"| {cell_id} | {', '.join(r.status for r in records)} | | | | | not timed |")
            continue
        medians = [r.values["latency_ms_median"] for r in records]
        spreads = [r.values.get("latency_rel_iqr") or 0.0 for r in records]
        noisy = [bool(r.values.get("latency_noisy")) for r in records]
        threshold = records[0].settings.get("max_rel_iqr", 0.05)
        apart = max(medians) / min(medians) - 1
        allowed = max(sum(sorted(spreads)[-2:]), threshold)
        if apart <= allowed:
            verdict = "agree"
        elif any(noisy):
            verdict = "disagree, flagged noisy"
        else:
            verdict = "DISAGREE, not flagged"
            unflagged += 1
        print(
            f"| {cell_id} | {', '.join(f'{m:.3g}' for m in medians)} | "
            f"{', '.join(f'{s:.1%}' for s in spreads)} | "
            f"{', '.join('yes' if n else 'no' for n in noisy)} | {apart:.1%} | {allowed:.1%} | "
            f"{verdict} |"
        )
    print(f"\n{len(common)} cells in all runs; {unflagged} disagree without a noisy flag")
    return 1 if unflagged else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
