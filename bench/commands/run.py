"""`rinbench run`: measure every cell of a suite, then write and print its report."""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path

from bench.commands.common import (
    add_command,
    add_device_option,
    add_only_option,
    add_out_option,
    add_progress_option,
    add_timeout_option,
    open_run,
    plural,
    read_records,
)
from bench.errors import (
    EXIT_FAILED_CELLS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    require_device,
)
from bench.launch.settings import add_options as add_launcher_options

DEFAULT_OUT = Path("results")
RESUME_LATEST = "latest"  # bench.runner.LATEST, spelled out so that parsing needs no runner

DESCRIPTION = """\
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
  rinbench run paper --device cuda --devices all   one cell per GPU of this node at a time
  rinbench run paper --launcher slurm --partitions a100,h100 --account lab
                                                the paper suite on two Slurm partitions
                                                (docs/slurm.md)
"""


def add_parser(commands) -> None:
    parser = add_command(
        commands,
        "run",
        run,
        help="measure a suite (default: quick) and print its report",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "suite",
        nargs="?",
        default="quick",
        metavar="SUITE",
        help="a built-in suite (see `rinbench list`) or a path to a suite .toml file",
    )
    add_device_option(parser, default="the devices the suite names")
    parser.add_argument(
        "--devices",
        metavar="LIST",
        help="spread the CUDA cells over these GPUs of this node, one cell per GPU at a time, "
        "each worker pinned through CUDA_VISIBLE_DEVICES: indices as torch numbers them "
        "('0,1,2,3') or 'all' (--device cuda:N is --device cuda --devices N); a cell that "
        "needs the whole node (fid) waits for every GPU (default: one device, one cell at a time)",
    )
    add_only_option(parser, "measure")
    add_out_option(
        parser,
        f"folder for result files; the run goes to DIR/SUITE/RUN_ID.jsonl (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=RESUME_LATEST,
        metavar="RUN_FILE",
        help="continue a run: skip the cells RUN_FILE holds (a warning names settings they differ "
        "in now), append the rest to it where it lies (no RUN_FILE: SUITE's newest run in DIR); "
        "put it after SUITE. RUN_FILE must be a run file `rinbench run` wrote, and an --out given "
        "with it the DIR it lies in (DIR/SUITE/RUN_FILE) (default: start a new run)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume, measure cells that ended in error or timeout again "
        "(oom and unsupported are results and are kept)",
    )
    add_timeout_option(parser, "a cell's process", default="the suite's timeout_s, else 600")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the ids of the cells that would be measured, and stop",
    )
    parser.add_argument(
        "--no-figures",
        action="store_true",
        help="write the run's table and HTML page without the figures, seconds sooner "
        "(`rinbench report` draws them; the GPU check does, once over all its runs)",
    )
    _add_prestart_option(parser)
    add_progress_option(parser)
    add_launcher_options(parser)  # --launcher slurm and its knobs (docs/slurm.md)


def _add_prestart_option(parser) -> None:
    parser.add_argument(
        "--prestart",
        action="store_true",
        help="start each cell's process while the cell before it runs, so that its Python and "
        "torch imports and its counts on meta cost no time (one device; the running cell's "
        "timed calls, and on a CPU its first call, wait until they are done); the GPU check "
        "uses it",
    )


def run(args) -> int:
    from bench import devices, runner

    pinned = _settle_device_and_out(args)
    launcher = getattr(args, "launcher", "local")
    if args.prestart and launcher != "local":
        raise UsageError("--prestart works in this process's sweep, not with --launcher")
    if launcher != "local":
        from bench.launch import cli as launch

        report = functools.partial(_report, with_figures=not args.no_figures)
        return launch.run(args, report=report, check_here=_check_cuda)
    _refuse_launcher_flags(args)
    suite, plan = _plan(args)
    if args.devices is not None:
        devices.check_cells(args.devices, [cell.device for cell in suite.cells])
    if args.dry_run:
        for item in plan.todo:
            print(item.cell.id)
        return EXIT_OK
    if pinned:
        require_device(pinned)  # in the words the user gave, before --devices' own check
    chosen = devices.choose(args.devices) if args.devices is not None else None
    if args.prestart and chosen is not None and len(chosen) > 1:
        raise UsageError(
            f"--prestart starts the next cell beside the running one on one device; --devices "
            f"{args.devices} names {len(chosen)}: give one or the other"
        )
    _check_cuda(suite, plan)
    writer = open_run(plan)
    try:
        summary = runner.execute(
            plan,
            writer,
            timeout_s=args.timeout,
            measure_spec=args.measure_spec,
            progress=not args.no_progress,
            devices=chosen,
            prestart=args.prestart,
        )
    finally:
        writer.close()
    if summary.interrupted:
        _say_how_to_resume(args, plan, summary)
        return EXIT_INTERRUPTED
    return _report(suite, plan, with_figures=not args.no_figures)


def _settle_device_and_out(args) -> str | None:
    """Bring --device and --out to the form the runner and the launcher take, after refusing
    combinations that would leave one of them unheard; returns the device "cuda:N" named, if any.
    --device cuda:N is --device cuda --devices N. --resume RUN_FILE continues that file where it
    lies, so an --out given with it must be the folder that holds it (DIR in DIR/SUITE/RUN_FILE)."""
    kind, _, index = (args.device or "").partition(":")
    launcher = getattr(args, "launcher", "local")
    if index and args.devices is not None:
        raise UsageError(
            f"--device {args.device} and --devices {args.devices} both pick GPUs: give --device "
            f"{args.device} alone, or --device cuda --devices {args.devices}"
        )
    if index and launcher != "local":
        raise UsageError(
            f"--device {args.device} picks a GPU of this node, but --launcher {launcher} runs "
            "the cells elsewhere: give --device cuda"
        )
    pinned = args.device if index else None
    if index:
        args.device, args.devices = kind, index
    given_file = args.resume not in (None, RESUME_LATEST)
    if given_file:  # a file that is no run file, or is not there, says so before where it lies
        from bench import planning

        try:
            planning.resume_path(DEFAULT_OUT, args.resume)
        except planning.RunError as err:
            raise UsageError(str(err)) from None
    if given_file and args.out and Path(args.resume).resolve().parent.parent != args.out.resolve():
        raise UsageError(
            f"--resume continues the run file where it lies, so --out must be "
            f"{Path(args.resume).resolve().parent.parent} (DIR of DIR/SUITE/RUN_FILE), not "
            f"{args.out}; drop --out, or give --resume alone to continue the newest run in --out"
        )
    args.out = args.out or DEFAULT_OUT
    return pinned


def _refuse_launcher_flags(args) -> None:
    from bench.launch.settings import given_flags

    given = [name for name, value in given_flags(args).items() if value is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(f"{flag} is a setting of a cluster launch: add --launcher slurm")


def _plan(args):
    from bench import runner, suites
    from bench.record import SchemaError

    if args.retry_failed and args.resume is None:
        raise UsageError(
            "--retry-failed retries the failed cells of a run: add --resume [RUN_FILE]"
        )
    from bench import registry

    try:
        registry.check_plugins()  # a partial registry would measure a suite short of its presets
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        suite = suites.load(args.suite, device=args.device)
        plan = runner.plan(
            suite, args.out, only=args.only, resume=args.resume, retry_failed=args.retry_failed
        )
    except (suites.SuiteError, runner.RunError, SchemaError) as err:
        raise UsageError(str(err)) from None
    for line in (*suite.notes, *plan.warnings, *_not_installed(plan)):
        print(f"rinbench: note: {line}", file=sys.stderr)
    return suite, plan


def _not_installed(plan) -> list[str]:
    """One line per family whose packages are missing (a peer without its extra): its cells will be
    recorded unsupported, with the install line as the reason, and the rest of the suite runs."""
    from bench import registry

    cells: dict = {}
    for item in plan.todo:
        family = registry.get(item.cell.preset).declared_by
        cells[family] = cells.get(family, 0) + 1
    missing = {family: family.missing() for family in cells}  # one look-up per family
    return [
        f"{count} cells of {family.name} will end unsupported: {', '.join(missing[family])} "
        f"not installed ({family.install_hint})"
        for family, count in cells.items()
        if missing[family]
    ]


def _check_cuda(suite, plan) -> None:
    from bench.cell import STATIC_PHASES

    if not any(i.cell.device == "cuda" and i.cell.phase not in STATIC_PHASES for i in plan.todo):
        return
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            f"suite {suite.name!r} measures cells on cuda, but no CUDA device is visible here; "
            "pass --device cpu to run them on the CPU, or --only to pick other cells"
        )


def _say_how_to_resume(args, plan, summary) -> None:
    again = ["rinbench", "run", args.suite, "--resume", str(plan.path)]
    for flag, value in (
        ("--device", args.device),
        ("--devices", args.devices),
        ("--timeout", args.timeout),
    ):
        if value is not None:
            again += [flag, str(value)]
    for pattern in args.only or ():
        again += ["--only", pattern]
    # The run asked for goes on as asked: the failed cells it was retrying, workers started ahead.
    again += [
        flag
        for flag, on in (("--retry-failed", args.retry_failed), ("--prestart", args.prestart))
        if on
    ]
    print(
        f"rinbench: interrupted; {plural(summary.measured, 'cell')} recorded in {plan.path}.\n"
        f"rinbench: finish the run with: {shlex.join(again)}",
        file=sys.stderr,
    )


def _report(suite, plan, *, with_figures: bool = True) -> int:
    """Write the run's table and HTML page beside the run file, print the table and a tally."""
    from bench import results
    from bench.record import FAILED_STATUSES

    records = read_records([plan.path])
    report_path, html_path = plan.path.with_suffix(".md"), plan.path.with_suffix(".html")
    text = _write_run_report(
        records, report_path, html_path, f"rinbench {suite.name}: {plan.run.id}", with_figures
    )
    print(text, end="")
    latest = results.latest_per_cell(records)
    tally = _tally(r.status for r in latest.values())
    print(
        f"rinbench: {plural(len(latest), 'cell')} in {plan.path} ({tally}); table in {report_path}, "
        f"full report in {html_path}",
        file=sys.stderr,
    )
    failed = any(r.status in FAILED_STATUSES for r in latest.values())
    return EXIT_FAILED_CELLS if failed else EXIT_OK


def _write_run_report(
    records: list, md_path: Path, html_path: Path, title: str, with_figures: bool = True
) -> str:
    """The run's table as Markdown and its full report as one HTML page, beside the run file;
    returns the Markdown. A report that cannot be written is a warning: the results are safe."""
    from reports import html, md
    from reports.files import write_atomic
    from reports.report import compose

    report = compose(records, title=title, with_figures=with_figures)
    text = md.summary(report, details=f"verdicts in {html_path.name}")
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
