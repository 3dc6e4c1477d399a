"""`main(argv)` for the fid, train and fvd commands while the root still passes their arguments
through to them (bench.cli's DELEGATED). Temporary: it goes once the root registers their
`add_parser` itself."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import HelpFormatter
from bench.errors import EXIT_USAGE


def run_command(name: str, add_parser, argv: list[str] | None) -> int:
    """Parse `rinbench NAME ARGV` with the command's own parser and run it, with the root's one
    error path (one line on stderr, exit status 2)."""
    from bench.cli import _remember_parsers, one_line_error

    parser = argparse.ArgumentParser(prog="rinbench", formatter_class=HelpFormatter)
    add_parser(parser.add_subparsers(dest="command", required=True))
    _remember_parsers(parser)
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = parser.parse_known_args([name, *argv])
    if extra:
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.run(args)
    except Exception as err:
        message = one_line_error(err)
        if message is None:
            raise
        print(f"rinbench: error: {message}", file=sys.stderr)
        return EXIT_USAGE
