"""`rinbench claims`: the verdict on each published claim, from result files."""

from __future__ import annotations

import json
from pathlib import Path

from bench.commands.common import add_command, read_some_records
from bench.errors import EXIT_OK, UsageError

DESCRIPTION = """\
Check published claims against result files: parameter counts, forward GFLOPs (each claim
says whether one FLOP is a multiply-add or two), the "up to 10x more efficient than U-Nets"
factor per resolution (in MACs, and in wall-clock where both models were timed on one
setup) and FIDs. Each verdict is holds, fails, inconclusive or cannot check (with the
reason), with the measured value and measured / reported, and in words that say how far
above or below the claim it lands and which reconstructed presets it rests on. A wall-clock
factor carries its 95% interval over the rounds in which the two models were timed
interleaved (the claims suite's [pairs]; docs/verdicts.md): it holds when the whole interval
clears the claim, fails when the whole interval falls short, and is inconclusive when it
straddles the claim or there is no interval (cells timed apart, or while other jobs held the
cores). The paper's main claim comes
first, one line per panel (MACs and wall-clock, the machine named; a GPU's timing where
there is one), then the RIN paper's own claims and the baselines' counting checks, each
with its tally, the caveats once per preset, and the FLOP convention each source's numbers
fit. Exit status 0 (verdicts are results), 2 for bad input.

examples:
  rinbench claims results/
  rinbench claims results/paper --format markdown > claims.md
  rinbench claims results/ --format json     # 'verdict': holds, fails, inconclusive, cannot check
  rinbench claims results/ --claims my_claims.toml
  rinbench claims results/peers --versus rin diffusers-unet    # any two families or presets

With --versus A B, no claims file: A beside B, for every preset of each (a family's name or a
preset's slug) measured at the same resolution, on every setup both were timed on: parameters,
MACs, images per second with A's speed over B's (its 95% interval where the two were timed
interleaved), peak memory and MFU.
"""


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "claims",
        run,
        help="check the RIN paper's claims against result files: holds, fails, inconclusive or "
        "cannot check",
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
        "--versus",
        nargs=2,
        metavar=("A", "B"),
        help="compare two families or presets side by side instead of checking claims (default: "
        "check the claims)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "csv", "json"),
        default="text",
        help="plain text, Markdown tables, CSV, or JSON (one object per verdict, as the CSV's rows)",
    )


def run(args) -> int:
    from bench import claims
    from reports import convention, tables, verdicts

    records = read_some_records(args.results)
    if args.versus:
        return versus(records, *args.versus, args.format)
    try:
        claim_list = claims.load(args.claims)
    except claims.ClaimsError as err:
        raise UsageError(str(err)) from None
    found = claims.evaluate(claim_list, records)
    fits = claims.convention_fits(claim_list, records)
    if args.format == "csv":
        print(tables.verdict_table(found).csv(), end="")
        return EXIT_OK
    if args.format == "json":
        print(json.dumps(tables.verdict_table(found).records, indent=1, ensure_ascii=False))
        return EXIT_OK
    if args.format == "markdown":
        print(verdicts.headline_markdown(found) + "\n")
        print(verdicts.markdown(found, convention.convention_summary(fits, claim_list)))
    else:
        print(text(found, convention.convention_summary(fits, claim_list)))
    print(f"\n{len(found)} verdicts on {len(claim_list)} claims: {claims.tally_text(found)}")
    return EXIT_OK


def versus(records: list, first: str, second: str, form: str) -> int:
    """`--versus A B`: the two side by side, in `form`."""
    from bench import versus as versus_module
    from reports import peers, tables

    try:
        pairs = versus_module.named_pairs(records, first, second)
    except versus_module.UnknownName as err:
        raise UsageError(str(err)) from None
    found = versus_module.side_by_side(records, pairs)
    labels = peers.Labels.named(first, second)
    if form in ("csv", "json"):
        header, rows = peers.merged_records(found)
        if form == "csv":
            print(tables.csv_text(header, rows), end="")
        else:
            print(json.dumps(rows, indent=1, ensure_ascii=False))
    elif form == "markdown":
        intro = (
            f"{first} beside {second}: a speed factor above 1 means {first} is faster. "
            + peers.MFU_LEGEND
        )
        print(peers.markdown(found, labels, intro=intro))
    else:
        print("\n".join(peers.text_lines(found)))
    return EXIT_OK


def text(found: list, convention: list[str]) -> str:
    """The headline, the tally of each group, the verdicts per group, the caveats once per preset
    and the FLOP convention, as plain text."""
    from bench import claims
    from reports import verdicts

    parts = []
    for headline in claims.headlines(found):
        parts.append("\n".join(verdicts.headline_lines(headline)))
    parts.append("\n".join(verdicts.group_tallies(found)))
    for name, members in claims.grouped(found).items():
        lines = [f"{name}:"] + [verdicts.verdict_line(verdict) for verdict in members]
        parts.append("\n".join(lines))
    caveats = claims.caveats(found)
    if caveats:
        parts.append("Caveats, once per preset:\n" + "\n".join(f"  - {c}" for c in caveats))
    parts.append("FLOP convention:\n" + "\n".join(f"  - {line}" for line in convention))
    return "\n\n".join(parts)
