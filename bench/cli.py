"""rinbench: measure diffusion backbones (RIN, ADM U-Net, DiT) under one harness.

The one module that prints. Each subcommand imports what it needs when it runs, so `rinbench --help`
and `rinbench report` start without loading torch.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from pathlib import Path

from bench.worker import DEFAULT_MEASURE

EXIT_OK, EXIT_FAILED_CELLS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
Measure diffusion backbones (RIN, ADM U-Net, DiT): parameters, MACs, throughput and memory.

Start here:
  rinbench list                  the suites and presets you can measure
  rinbench run                   run the quick suite (under two minutes on a laptop CPU)
  rinbench report results/       tables, figures, claim verdicts and an HTML page of it all
  rinbench claims results/       the RIN paper's claims: holds, fails or cannot check, and why
"""

RUN_DESCRIPTION = """\
Measure every cell of a suite and append one JSON line per cell to
DIR/SUITE/RUN_ID.jsonl (--out DIR, default ./results), then write RUN_ID.md (the
results table) and RUN_ID.html (tables, figures and claim verdicts in one page) beside
it and print the table.

A cell is one (preset, resolution, batch, dtype, phase, mode, device); its id reads
'dit-xl-2.r256.b32.bf16.forward.eager.cuda'. params and flops cells are counted in this
process on the meta device; every other cell runs in its own process, so an out-of-memory,
a crash or a hang is recorded (status oom, error or timeout) and the sweep goes on.
Ctrl-C keeps every finished cell; --resume then measures only the rest.

Exit status: 0 when every cell was recorded and none failed (ok, oom and unsupported are
results), 1 when some cell ended in error or timeout, 2 for bad input, 130 when interrupted.

examples:
  rinbench run                                  the quick suite on this machine
  rinbench run paper --device cuda              the paper presets on a GPU
  rinbench run quick --only '*-tiny.*'          only the tiny presets' cells
  rinbench run my_suite.toml --out /data/runs   your own suite file
  rinbench run quick --resume                   finish the latest quick run
  rinbench run quick --resume --retry-failed    ... and measure error/timeout cells again
"""


def main(argv: list[str] | None = None, *, measure: str = DEFAULT_MEASURE) -> int:
    """Entry point of `rinbench` and `python -m bench`; returns the exit status.
    `measure` names the function the runner measures with (tests inject fakes here)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args, measure=measure)
    except UsageError as err:
        print(f"rinbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rinbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (`rinbench list | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        # Not 0: `rinbench compare ... | head` must not turn a regression into a pass.
        return EXIT_BROKEN_PIPE


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a process killed by it


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rinbench",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    listing = commands.add_parser(
        "list",
        help="list the suites and the presets (with parameter counts and sources)",
        description="List the built-in suites (name, cells, purpose) and every model preset "
        "(family, native resolution, parameters counted on the meta device, source).",
    )
    listing.set_defaults(handler=cmd_list)

    run = commands.add_parser(
        "run",
        help="measure a suite (default: quick) and print its report",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "suite",
        nargs="?",
        default="quick",
        metavar="SUITE",
        help="a built-in suite (see `rinbench list`) or a path to a suite .toml file "
        "(default: quick)",
    )
    run.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        help="run every cell on this device instead of the devices the suite names",
    )
    run.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="measure only the cells whose id matches this shell pattern, e.g. '*-tiny.*' "
        "or '*.forward.*'; repeat to add more",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="folder for result files; the run goes to DIR/SUITE/RUN_ID.jsonl (default: ./results)",
    )
    run.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="RUN_FILE",
        help="continue a run: skip the cells RUN_FILE already holds and append the rest to it "
        "(without RUN_FILE: the newest run of SUITE in DIR); put it after SUITE",
    )
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume, measure cells that ended in error or timeout again "
        "(oom and unsupported are results and are kept)",
    )
    run.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="kill a cell's process after this long and record status timeout "
        "(default: the suite's timeout_s, else 600)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the ids of the cells that would be measured, and stop",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    run.set_defaults(handler=cmd_run)

    env = commands.add_parser(
        "env",
        help="print the environment recorded with every result (hardware, software, flags)",
        description="Print, as JSON, the environment rinbench records on every result: CPU/GPU, "
        "driver, CUDA, torch, numerics flags, git commit.",
    )
    env.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="the device to describe (default: cuda when available, else cpu)",
    )
    env.set_defaults(handler=cmd_env)

    report = commands.add_parser(
        "report",
        help="write the full report (tables, figures, claims, HTML) of result files or folders",
        description="Read result files (*.jsonl; folders are searched recursively) from any runs "
        "and machines and write, into one folder: report.html (everything in one self-contained "
        "page), report.md, the results table in the papers' layout (Model | Res | Setup | Params "
        "| GMACs | img/s fwd | img/s train | peak GiB | MFU | J/img | FID) as results.csv and "
        "results.tex, the claim verdicts (claims.csv, claims.tex), figures/*.png and *.svg, and "
        "a hardware comparison when the same cells ran on two machines. Prints the table. A cell "
        "measured more than once shows its last record per machine. Lines that are not valid "
        "records (e.g. cut off by a crash) are skipped with a warning.",
    )
    report.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="files or folders")
    report.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the report folder (default: RUN-report/ beside a single RUN.jsonl, else report/ "
        "in the folder given or in the inputs' common folder)",
    )
    report.add_argument("--title", help="the report's title (default: rinbench results)")
    report.add_argument(
        "--claims",
        default="rin_paper",
        metavar="NAME|FILE",
        help="claims to check: a built-in claims file (rin_paper) or a .toml path "
        "(default: rin_paper)",
    )
    report.set_defaults(handler=cmd_report)

    # FID and training keep their own parsers (they also run under torchrun as `-m bench.fid` and
    # `-m bench.train`); these entries pass everything after the command word through.
    for name, module, summary in (
        (
            "fid",
            "bench.fid",
            "sample a checkpoint and compute FID/KID offline, or compare image sets",
        ),
        (
            "train",
            "bench.train",
            "diffusion training of any preset on the built-in data or your images",
        ),
        ("fvd", "bench.fvd", "Frechet Video Distance with a video feature extractor you supply"),
    ):
        # A NUL prefix char: no word looks like an option here, so --help reaches the module.
        sub = commands.add_parser(name, help=summary, add_help=False, prefix_chars="\0")
        sub.add_argument("rest", nargs=argparse.REMAINDER)
        sub.set_defaults(handler=_delegate(module))
    _add_compare_parser(commands)
    _add_claims_parser(commands)
    return parser


def _delegate(module: str):
    def handler(args, *, measure: str) -> int:
        import importlib

        return importlib.import_module(module).main(args.rest)

    return handler


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the timeout must be positive")
    return value


# --- list -------------------------------------------------------------------------------------


def cmd_list(args, *, measure: str) -> int:
    import torch

    from bench import registry, suites
    from bench.measure.flops import count_params

    print("Suites (rinbench run SUITE):")
    for name in suites.builtin_names():
        try:
            suite = suites.load(name)
        except suites.SuiteError as err:
            raise UsageError(f"built-in suite {name!r} is broken: {err}") from None
        devices = ", ".join(sorted({c.device for c in suite.cells}))
        print(f"  {name:<8} {len(suite.plan):>4} cells on {devices:<9} {suite.description}")
    print()
    print("Presets (parameters counted on the meta device):")
    header = f"  {'preset':<20} {'family':<6} {'res':>5} {'params':>15}  source"
    print(header)
    for slug in registry.slugs():
        entry = registry.get(slug)
        with torch.device("meta"):
            params = count_params(registry.build(slug))["params"]
        print(
            f"  {slug:<20} {entry.family:<6} {entry.config.resolution:>5} {params:>15,}  {entry.source}"
        )
    return EXIT_OK


# --- run --------------------------------------------------------------------------------------


def cmd_run(args, *, measure: str) -> int:
    from bench import results, runner, suites
    from bench.cell import STATIC_PHASES

    if args.retry_failed and args.resume is None:
        raise UsageError(
            "--retry-failed retries the failed cells of a run: add --resume [RUN_FILE]"
        )
    try:
        suite = suites.load(args.suite, device=args.device)
        plan = runner.plan(
            suite, args.out, only=args.only, resume=args.resume, retry_failed=args.retry_failed
        )
    except (suites.SuiteError, runner.RunError, results.SchemaError) as err:
        raise UsageError(str(err)) from None
    for line in (*suite.notes, *plan.warnings):
        print(f"rinbench: note: {line}", file=sys.stderr)
    if args.dry_run:
        for item in plan.todo:
            print(item.cell.id)
        return EXIT_OK

    needs_cuda = any(
        i.cell.device == "cuda" and i.cell.phase not in STATIC_PHASES for i in plan.todo
    )
    if needs_cuda:
        import torch

        if not torch.cuda.is_available():
            raise UsageError(
                f"suite {suite.name!r} measures cells on cuda, but no CUDA device is visible here; "
                "pass --device cpu to run them on the CPU, or --only to pick other cells"
            )

    writer = results.Writer(plan.path)
    try:
        writer.open()
    except OSError as err:
        raise UsageError(
            f"cannot write results to {plan.path.parent}: {err.strerror or err}"
        ) from None
    done = f", {plan.already_done} already recorded" if plan.already_done else ""
    print(
        f"rinbench: suite {suite.name}: {len(plan.todo)} of {plan.selected} cells to measure{done}"
        f" -> {plan.path}",
        file=sys.stderr,
    )
    try:
        summary = runner.execute(
            plan, writer, timeout_s=args.timeout, measure=measure, progress=not args.no_progress
        )
    finally:
        writer.close()

    if summary.interrupted:
        again = ["rinbench", "run", args.suite, "--resume", str(plan.path)]
        for flag, value in (("--device", args.device), ("--timeout", args.timeout)):
            if value is not None:
                again += [flag, str(value)]
        for pattern in args.only or ():
            again += ["--only", pattern]
        print(
            f"rinbench: interrupted; {summary.measured} cells recorded in {plan.path}.\n"
            f"rinbench: finish the run with: {shlex.join(again)}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED

    records = _read_records([plan.path])
    report_path, html_path = plan.path.with_suffix(".md"), plan.path.with_suffix(".html")
    text = _write_run_report(
        records, report_path, html_path, f"rinbench {suite.name}: {plan.run['id']}"
    )
    print(text, end="")
    latest = results.latest_per_cell(records)
    tally = _tally(r["status"] for r in latest.values())
    print(
        f"rinbench: {len(latest)} cells in {plan.path} ({tally}); table in {report_path}, "
        f"full report in {html_path}",
        file=sys.stderr,
    )
    failed = any(r["status"] in results.FAILED_STATUSES for r in latest.values())
    return EXIT_FAILED_CELLS if failed else EXIT_OK


def _write_run_report(records: list[dict], md_path: Path, html_path: Path, title: str) -> str:
    """The run's table as Markdown and its full report as one HTML page, beside the run file;
    returns the Markdown. A report that cannot be written is a warning: the results are safe."""
    from reports import html
    from reports.report import compose, summary_markdown, write_atomic

    report = compose(records, title=title)
    text = summary_markdown(report, details=f"verdicts in {html_path.name}")
    try:
        write_atomic(md_path, text)
        write_atomic(html_path, html.page(report))
    except OSError as err:
        print(f"rinbench: warning: cannot write the report: {err}", file=sys.stderr)
    return text


def _tally(statuses) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


# --- env --------------------------------------------------------------------------------------


def cmd_env(args, *, measure: str) -> int:
    import torch

    from bench.measure.hardware import environment

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("no CUDA device is visible here; valid: --device cpu")
    print(json.dumps(environment(device), indent=2, default=str))
    return EXIT_OK


# --- report -----------------------------------------------------------------------------------


def cmd_report(args, *, measure: str) -> int:
    import reports
    from bench import claims, results

    records = _read_records(args.results)
    if not records:
        raise UsageError(f"no result records in {', '.join(map(str, args.results))}")
    out = args.out or _default_report_dir(args.results)
    try:
        report = reports.compose(
            records, title=args.title or "rinbench results", claims=args.claims
        )
    except (claims.ClaimsError, results.SchemaError) as err:
        raise UsageError(str(err)) from None
    try:
        written = reports.write(report, out)
    except OSError as err:
        raise UsageError(f"cannot write the report to {out}: {err.strerror or err}") from None
    print(reports.summary_markdown(report, details=f"verdicts in {out / 'report.html'}"), end="")
    figures = sum(1 for f in report.figures if f.png is not None)
    print(
        f"rinbench: report written to {out}: report.html, report.md, {len(written)} files "
        f"in all ({figures} figures)",
        file=sys.stderr,
    )
    return EXIT_OK


def _default_report_dir(inputs: list[Path]) -> Path:
    if len(inputs) == 1:
        only = inputs[0]
        return only / "report" if only.is_dir() else only.with_name(f"{only.stem}-report")
    folders = [p if p.is_dir() else p.parent for p in inputs]
    return Path(os.path.commonpath([f.resolve() for f in folders])) / "report"


# --- claims -----------------------------------------------------------------------------------

CLAIMS_DESCRIPTION = """\
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


def _add_claims_parser(commands) -> None:
    parser = commands.add_parser(
        "claims",
        help="check the RIN paper's claims against result files: holds, fails or cannot check",
        description=CLAIMS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="files or folders")
    parser.add_argument(
        "--claims",
        default="rin_paper",
        metavar="NAME|FILE",
        help="a built-in claims file (rin_paper) or a .toml path (default: rin_paper)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "markdown", "csv"),
        default="text",
        help="text (default), a Markdown table, or CSV",
    )
    parser.set_defaults(handler=cmd_claims)


def cmd_claims(args, *, measure: str) -> int:
    from bench import claims, results
    from reports import load, tables

    records = _read_records(args.results)
    if not records:
        raise UsageError(f"no result records in {', '.join(map(str, args.results))}")
    try:
        records = load.upgrade(records)
        claim_list = claims.load(args.claims)
    except (claims.ClaimsError, results.SchemaError) as err:
        raise UsageError(str(err)) from None
    verdicts = claims.evaluate(claim_list, records)
    convention = claims.convention_summary(claims.convention_fits(claim_list, records), claim_list)
    if args.format == "csv":
        print(tables.verdict_table(verdicts).csv(), end="")
        return EXIT_OK
    if args.format == "markdown":
        print(tables.verdict_table(verdicts).markdown())
    else:
        for verdict in verdicts:
            print(_verdict_line(verdict))
    print("\nFLOP convention:")
    for line in convention:
        print(f"  - {line}")
    counts = claims.tally(verdicts)
    print(
        f"\n{len(verdicts)} verdicts on {len(claim_list)} claims: {counts[claims.HOLDS]} hold, "
        f"{counts[claims.FAILS]} fail, {counts[claims.CANNOT_CHECK]} cannot be checked"
    )
    return EXIT_OK


def _verdict_line(verdict) -> str:
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


def _read_records(paths: list[Path]) -> list[dict]:
    """results.read, with its warnings about skipped lines printed one per line on stderr."""
    from bench import results

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", results.CorruptRecordWarning)
        try:
            records = results.read(paths)
        except (FileNotFoundError, results.SchemaError) as err:
            raise UsageError(str(err)) from None
    for warning in caught:
        print(f"rinbench: warning: {warning.message}", file=sys.stderr)
    return records


# --- compare ----------------------------------------------------------------------------------

EXIT_REGRESSION = 1
COMPARE_DESCRIPTION = """\
Compare two sets of results cell by cell (matched by cell id) and print a Markdown diff:
better / worse / unchanged / missing / new, per metric.

Rules: params and MACs are exact (any change is 'changed' and fails: the model changed);
time, memory and energy fail ('worse') beyond a relative threshold, and are compared only
between records from the same device model (GPU name; CPU model and core count); a cell
that was ok and now ends oom/unsupported/error/timeout is 'worse'; a cell of BASE that
NEW lacks is 'missing' and fails (see --allow-missing).

Exit status: 0 no regression, 1 regression, 2 bad input.

examples:
  rinbench compare benchmarks/baselines/ci-cpu.jsonl results/ci
  rinbench compare old/ new/ --fail-above 5% --out compare.md
  rinbench compare base.jsonl new.jsonl --only '*.params.*' --only '*.flops.*'
"""


def _add_compare_parser(commands) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare two result sets cell by cell; exit 1 on a regression",
        description=COMPARE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "base", type=Path, metavar="BASE", help="reference results: file or folder"
    )
    compare.add_argument("new", type=Path, metavar="NEW", help="results to check: file or folder")
    compare.add_argument(
        "--fail-above",
        type=_percentage,
        metavar="PCT",
        help="threshold for every time, memory and energy metric that --thresholds does not set, "
        "e.g. 5%% (default: time 10%%, memory 5%%, energy 10%%)",
    )
    compare.add_argument(
        "--thresholds",
        type=Path,
        metavar="FILE",
        help="TOML file with a [thresholds] table keyed by kind (time, memory, energy) or metric "
        "(latency_ms_median, peak_alloc_bytes, peak_rss_bytes, max_batch, joules_per_image), "
        'values like "5%%" or "off"; the most specific entry wins',
    )
    compare.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="compare only cells whose id matches this shell pattern; repeat to add more",
    )
    compare.add_argument(
        "--allow-missing",
        action="store_true",
        help="report cells and metrics of BASE that NEW lacks, but do not fail on them",
    )
    compare.add_argument(
        "--all", dest="all_rows", action="store_true", help="list unchanged rows as well"
    )
    compare.add_argument("--out", type=Path, metavar="FILE", help="also write the Markdown to FILE")
    compare.set_defaults(handler=cmd_compare)


def _percentage(text: str) -> float:
    from bench.compare import CompareError, parse_threshold

    try:
        value = parse_threshold(text)
    except CompareError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if value is None:
        raise argparse.ArgumentTypeError(
            "takes a percentage; set kinds 'off' in a --thresholds file"
        )
    return value


def cmd_compare(args, *, measure: str) -> int:
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
    return EXIT_REGRESSION if outcome.regressed else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
