"""`rinbench claims`: the verdict on each published claim, from result files."""

from __future__ import annotations

from pathlib import Path

from bench.commands.common import add_command, read_some_records
from bench.errors import EXIT_OK, UsageError

DESCRIPTION = """\
Check published claims against result files: parameter counts, forward GFLOPs (each claim
says whether one FLOP is a multiply-add or two), the "up to 10x more efficient than U-Nets"
factor per resolution (in MACs, and in wall-clock where both models were timed on one
setup) and FIDs. Each verdict is holds, fails or cannot check (with the reason), with the
measured value and measured / reported. Verdicts on reconstructed presets say so. Then the
FLOP convention each source's numbers fit. Exit status 0 (verdicts are results), 2 for bad
input.

examples:
  rinbench claims results/
  rinbench claims results/paper --format markdown > claims.md
  rinbench claims results/ --claims my_claims.toml
"""


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "claims",
        run,
        help="check the RIN paper's claims against result files: holds, fails or cannot check",
        description=DESCRIPTION,
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="files or folders")
    parser.add_argument(
        "--claims",
        default="rin_paper",
        metavar="NAME|FILE",
        help="a built-in claims file (rin_paper) or a .toml path",
    )
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "csv"),
        default="text",
        help="plain text, a Markdown table, or CSV",
    )


def run(args) -> int:
    from bench import claims
    from reports import convention, tables

    records = read_some_records(args.results)
    try:
        claim_list = claims.load(args.claims)
    except claims.ClaimsError as err:
        raise UsageError(str(err)) from None
    verdicts = claims.evaluate(claim_list, records)
    fits = claims.convention_fits(claim_list, records)
    if args.format == "csv":
        print(tables.verdict_table(verdicts).csv(), end="")
        return EXIT_OK
    if args.format == "markdown":
        print(tables.verdict_table(verdicts).markdown())
    else:
        for verdict in verdicts:
            print(verdict_line(verdict))
    print("\nFLOP convention:")
    for line in convention.convention_summary(fits, claim_list):
        print(f"  - {line}")
    counts = claims.tally(verdicts)
    print(
        f"\n{len(verdicts)} verdicts on {len(claim_list)} claims: {counts[claims.HOLDS]} hold, "
        f"{counts[claims.FAILS]} fail, {counts[claims.CANNOT_CHECK]} cannot be checked"
    )
    return EXIT_OK


def verdict_line(verdict) -> str:
    from reports import tables

    row = tables.verdict_table([verdict]).rows[0]
    claim, basis, reported, measured, ratio, status = row[:6]
    numbers = f"reported {reported}"
    if measured:
        numbers += f", measured {measured} (measured / reported {ratio})"
    lines = [f"{status.upper():<13} {verdict.claim.id} [{basis}]: {numbers}"]
    for extra in (verdict.detail, verdict.caveat):
        if extra:
            lines.append(f"{'':<14}{extra}")
    return "\n".join(lines)
