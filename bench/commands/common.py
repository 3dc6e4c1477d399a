"""What several commands share: reading result files with their warnings shown, and argparse types."""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from pathlib import Path

from bench.errors import DEVICE_NAME, UsageError


def open_run(plan, partition: str | None = None):
    """The opened bench.results.Writer of a run plan (bench.runner.RunPlan), after saying on stderr
    how many of its cells are still to measure and where they go; UsageError if the folder is not
    writable."""
    from bench import results

    writer = results.Writer(plan.path)
    try:
        writer.open()
    except OSError as err:
        raise UsageError(
            f"cannot write results to {plan.path.parent}: {err.strerror or err}"
        ) from None
    done = f", {plan.already_done} already recorded" if plan.already_done else ""
    where = f" on partition {partition}" if partition else ""
    print(
        f"rinbench: suite {plan.suite.name}{where}: {len(plan.todo)} of {plan.selected} cells to "
        f"measure{done} -> {plan.path}",
        file=sys.stderr,
    )
    return writer


def read_records(paths: list[Path]) -> list:
    """bench.results.read (bench.record.Record objects), with its warnings about skipped lines printed one per line on stderr;
    UsageError for a path that is not there or records from a newer rinbench."""
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


def read_some_records(paths: list[Path]) -> list:
    """read_records, and UsageError when the files hold no record at all."""
    records = read_records(paths)
    if not records:
        raise UsageError(f"no result records in {', '.join(map(str, paths))}")
    return records


def plural(count: int, noun: str) -> str:
    """'1 cell', '3 cells'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def positive_seconds(text: str) -> float:
    """argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):  # NaN fails this too
        raise argparse.ArgumentTypeError("the timeout must be a positive, finite number of seconds")
    return value


def require_at_least(args: argparse.Namespace, **least: int) -> None:
    """UsageError, in the option's own words, for a count option given below its least value
    (argparse's int takes 0 and -3; left to the library, they fail later in its words, e.g. an
    empty built-in data set for --num-samples 0). An option left unset (None) is not checked."""
    for name, minimum in least.items():
        value = getattr(args, name)
        if value is not None and value < minimum:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} must be at least {minimum}, got {value}")


def add_command(
    commands, name: str, run, *, help: str, description: str
) -> argparse.ArgumentParser:
    """Register command `name` on the root's subparsers with the house formatter; `run(args) -> int`
    is what the root calls."""
    parser = commands.add_parser(
        name, help=help, description=description, formatter_class=HelpFormatter
    )
    parser.set_defaults(run=run)
    return parser


def library_checks_as_usage(run):
    """Wrap a command's `run` whose arguments go straight into the library (fid, train, fvd): the
    library's own checks of them (an unknown preset, a file that is not there, a bad config value)
    raise ValueError, KeyError or OSError, which become UsageError, one line."""

    @functools.wraps(run)
    def wrapped(args) -> int:
        try:
            return run(args)
        except UsageError:
            raise
        except KeyError as err:
            raise UsageError(str(err.args[0]) if err.args else repr(err)) from err
        except (ValueError, OSError) as err:
            raise UsageError(" ".join(str(err).split())) from err

    return wrapped


def distributed_on(device: str | None):
    """The process group set-up (bench.distributed) on `device`, after UsageError for a device this
    machine does not have; None picks cuda when there is one (fid, train)."""
    from bench.distributed import distributed
    from bench.errors import require_device

    if device is not None:
        require_device(device)
    return distributed(device)


def add_device_option(
    parser: argparse.ArgumentParser, *, default: str = "cuda if there is one, else cpu"
) -> None:
    """--device, with one meaning in every command: cpu, cuda, or cuda:N (GPU N as torch numbers
    them), its form checked at parse time (device_name); whether this machine has the device is
    checked where the command is about to use it (bench.errors.require_device). `default`: what
    the command does without it, in words."""
    parser.add_argument(
        "--device",
        type=device_name,
        metavar="DEVICE",
        help=f"cpu, cuda or cuda:N (GPU N) (default: {default})",
    )


def device_name(text: str) -> str:
    """argparse type of --device: cpu, cuda or cuda:N."""
    if not DEVICE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; give cpu, cuda or cuda:N")
    return text


def add_out_option(
    parser: argparse.ArgumentParser,
    what: str,
    *,
    default: Path | None = None,
    required: bool = False,
    metavar: str = "DIR",
) -> None:
    """--out, the one name every command gives the place it writes to (a folder, or compare's
    Markdown file), always a path. `what`: what goes there and, without a default, what happens
    without it."""
    parser.add_argument(
        "--out",
        type=Path,
        default=default,
        required=required,
        metavar=metavar,
        help=f"{what} (required, no default)" if required else what,
    )


def add_only_option(parser: argparse.ArgumentParser, verb: str) -> None:
    """--only GLOB, repeatable: the cells a command `verb`s (measure, compare), by their id."""
    parser.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help=f"{verb} only the cells whose id matches this shell pattern, e.g. '*-tiny.*' or "
        "'*.forward.*'; repeat to add more (default: every cell)",
    )


def add_timeout_option(
    parser: argparse.ArgumentParser, process: str, *, default: float | str
) -> None:
    """--timeout SECONDS: kill `process` after this long. `default`: seconds, or in words a
    default the command decides later (the option is None then)."""
    in_words = isinstance(default, str)
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None if in_words else default,
        metavar="SECONDS",
        help=f"kill {process} after this long and record status timeout"
        + (f" (default: {default})" if in_words else ""),
    )


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """--no-progress, for the commands that show progress on stderr."""
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written, and ends an option's help with its default unless the help
    already says it (an option whose default is None says in words what happens without it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS):
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text  # a required positional has no default
        if action.nargs == 0:  # a flag: off unless given
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"
