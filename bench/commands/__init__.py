"""The commands of `rinbench`, one module each; `bench.cli` gathers them into one parser.

A command module exposes `add_parser(commands)`: it registers its parser (and any nested
subcommands) on the root's subparsers and sets `run=<function(args) -> int>` on every leaf parser.
Bad input raises `bench.errors.UsageError`; only the root prints it. Command modules import no torch
at module level, so `rinbench --help` starts at once.
"""
