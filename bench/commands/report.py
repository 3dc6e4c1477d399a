"""`rinbench report`: tables, figures, claim verdicts and one HTML page from result files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.commands.common import add_command, add_out_option, plural, read_some_records
from bench.errors import EXIT_OK, UsageError


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "report",
        run,
        help="write the full report (tables, figures, claims, HTML) of result files or folders",
        description="Read result files (*.jsonl; folders are searched recursively) from any runs "
        "and machines and write, into one folder: report.html (everything in one self-contained "
        "page), report.md, the results table in the papers' layout (Model | Res | Setup | Params "
        "| GMACs | img/s fwd | img/s train | peak GiB | MFU (measured peak) | MFU (data sheet) | "
        "J/img | FID) as results.tex, every metric of every phase as results.csv, the claim "
        "verdicts (claims.csv, claims.tex), figures/*.png and *.svg, and a hardware comparison "
        "when the same cells ran on two machines. Prints the table. A cell measured more than "
        "once shows its last record per machine. Lines that are not valid records (e.g. cut off "
        "by a crash) are skipped with a warning.",
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="files or folders")
    add_out_option(
        parser,
        "the report folder (default: RUN-report/ beside a single RUN.jsonl, else report/ in the "
        "folder given or in the inputs' common folder)",
    )
    parser.add_argument("--title", default="rinbench results", help="the report's title")
    parser.add_argument(
        "--claims",
        default="rin_paper",
        metavar="NAME|FILE",
        help="claims to check: a built-in claims file (rin_paper) or a .toml path",
    )


def run(args) -> int:
    import reports
    from bench import claims

    records = read_some_records(args.results)
    out = args.out or default_report_dir(args.results)
    try:
        report = reports.compose(records, title=args.title, claims=args.claims)
    except claims.ClaimsError as err:
        raise UsageError(str(err)) from None
    try:
        written = reports.write(report, out)
    except OSError as err:
        raise UsageError(f"cannot write the report to {out}: {err.strerror or err}") from None
    print(reports.summary_markdown(report, details=f"verdicts in {out / 'report.html'}"), end="")
    figures = sum(1 for path in written if path.parent.name == "figures" and path.suffix == ".png")
    print(
        f"rinbench: report written to {out}: report.html, report.md, {len(written)} files "
        f"in all ({plural(figures, 'figure')})",
        file=sys.stderr,
    )
    return EXIT_OK


def default_report_dir(inputs: list[Path]) -> Path:
    if len(inputs) == 1:
        only = inputs[0]
        return only / "report" if only.is_dir() else only.with_name(f"{only.stem}-report")
    folders = [p if p.is_dir() else p.parent for p in inputs]
    return Path(os.path.commonpath([f.resolve() for f in folders])) / "report"
