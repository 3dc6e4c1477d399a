"""How often a pair's interval still covers the true factor when `stop_within` ends it early.

    python benchmarks/noise/early_stop.py [--stop-within 0.01] [--min-rounds 3] [--rounds 5]
                                          [--trials 20000] [--seed 0]

A pair (bench.paired) with a `stop_within` plays no more rounds once it has `min_rounds` or more and
its factor's 95% interval (bench.intervals.ratio_over_rounds: Student's t over the logarithms of the
per-round ratios) is within +-stop_within. The rule looks at the interval's width, not at the
factor, but a width read from three rounds is itself noisy: where it happens to read narrow, the
pair stops with an interval too narrow. This simulates the rule on per-round ratios whose logarithms
are normal around a true factor of 1 with the spread of each row, and prints how often the reported
interval covers it (95% is the promise) and how many rounds the pair played on average.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import intervals  # noqa: E402

SPREADS = (0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.02, 0.05)  # sd of a round's log-ratio


def play(spread: float, args: argparse.Namespace, rng: random.Random) -> tuple[bool, int]:
    """One simulated pair: (its final interval covers the true factor 1, the rounds it played)."""
    ratios: list[float] = []
    while True:
        ratios.append(math.exp(rng.gauss(0.0, spread)))
        found = intervals.geometric_t(ratios)
        steady = len(ratios) >= args.min_rounds and found.half_width <= args.stop_within
        if steady or len(ratios) == args.rounds:
            return found.low <= 1.0 <= found.high, len(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stop-within", type=float, default=0.01)
    parser.add_argument("--min-rounds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 2 <= args.min_rounds <= args.rounds:
        parser.error("need 2 <= --min-rounds <= --rounds")
    rng = random.Random(args.seed)
    print(
        f"stop_within {args.stop_within:g}, min_rounds {args.min_rounds}, rounds {args.rounds}, "
        f"{args.trials} pairs per row"
    )
    print("| spread of a round's log-ratio | coverage of the 95% interval | mean rounds |")
    print("|---|---|---|")
    for spread in SPREADS:
        played = [play(spread, args, rng) for _ in range(args.trials)]
        coverage = sum(covered for covered, _ in played) / args.trials
        rounds = sum(n for _, n in played) / args.trials
        print(f"| {spread:.3f} | {coverage:.3f} | {rounds:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
