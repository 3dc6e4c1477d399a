"""`rinbench compare`: gate a run against a baseline, cell by cell; exit 1 on a regression."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands.common import add_command, add_out_option
from bench.errors import EXIT_FAILED_CELLS, EXIT_OK, UsageError

DESCRIPTION = """\
Compare two sets of results cell by cell (matched by cell id) and print a Markdown diff:
better / worse / unchanged / missing / new, per metric.

Rules: params and MACs are exact (any change is 'changed' and fails: the model changed);
time, memory and energy fail ('worse') beyond a relative threshold, and are compared only
between records from the same device model (GPU name; CPU model and core count); a latency
fails only when, beyond its threshold, the two runs' 95% intervals do not overlap either
(else 'within noise', which passes; a side with too few samples for an interval: the
threshold alone, said in the note); a cell that was ok and now ends
oom/unsupported/error/timeout is 'worse'; a cell of BASE that NEW lacks is 'missing' and
fails (see --allow-missing). BASE and NEW must share some cell.

Exit status: 0 no regression, 1 regression, 2 bad input (two sets that share no cell too).

examples:
  rinbench compare benchmarks/baselines/ci-cpu.jsonl results/ci
  rinbench compare old/ new/ --fail-above 5% --out compare.md
  rinbench compare base.jsonl new.jsonl --only '*.params.*' --only '*.flops.*'
"""


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "compare",
        run,
        help="compare two result sets cell by cell; exit 1 on a regression",
        description=DESCRIPTION,
    )
    parser.add_argument("base", type=Path, metavar="BASE", help="reference results: file or folder")
    parser.add_argument("new", type=Path, metavar="NEW", help="results to check: file or folder")
    parser.add_argument(
        "--fail-above",
        type=_percentage,
        metavar="PCT",
        help="threshold for every time, memory and energy metric that --thresholds does not set, "
        "e.g. 5%% (default: time 10%%, memory 5%%, energy 10%%)",
    )
    parser.add_argument(
        "--thresholds",
        type=Path,
        metavar="FILE",
        help="TOML file with a [thresholds] table keyed by kind (time, memory, energy) or metric "
        "(latency_ms_median, peak_alloc_bytes, peak_rss_bytes, max_batch, joules_per_image), "
        'values like "5%%" or "off"; the most specific entry wins (default: none)',
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="compare only cells whose id matches this shell pattern; repeat to add more "
        "(default: every cell)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="report cells and metrics of BASE that NEW lacks, but do not fail on them",
    )
    parser.add_argument(
        "--all", dest="all_rows", action="store_true", help="list unchanged rows as well"
    )
    add_out_option(
        parser, "also write the Markdown to FILE (default: standard output only)", metavar="FILE"
    )


def _percentage(text: str) -> float:
    from bench.compare import CompareError, parse_threshold

    # "off" is a --thresholds file's word, per kind or metric; the flag sets every metric at once.
    only_in_a_file = "takes a percentage such as '5%'; set kinds 'off' in a --thresholds file"
    try:
        value = parse_threshold(text)
    except CompareError:
        raise argparse.ArgumentTypeError(f"bad threshold {text!r}: {only_in_a_file}") from None
    if value is None:
        raise argparse.ArgumentTypeError(only_in_a_file)
    return value


def run(args) -> int:
    from bench import compare

    try:
        table = compare.load_thresholds(args.thresholds) if args.thresholds else None
        thresholds = compare.resolve_thresholds(args.fail_above, table)
        base, new = compare.load(args.base), compare.load(args.new)
        outcome = compare.compare(
            base, new, thresholds=thresholds, only=args.only, allow_missing=args.allow_missing
        )
    except compare.CompareError as err:
        raise UsageError(str(err)) from None
    text = compare.markdown(outcome, all_rows=args.all_rows)
    if args.out is not None:
        try:
            args.out.write_text(text, encoding="utf-8")
        except OSError as err:
            raise UsageError(f"cannot write {args.out}: {err.strerror or err}") from None
    print(text, end="")
    verdict = text.splitlines()[0].removeprefix("# rinbench compare: ")
    print(f"rinbench: {verdict}", file=sys.stderr)
    return EXIT_FAILED_CELLS if outcome.regressed else EXIT_OK
