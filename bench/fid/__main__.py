"""`python -m bench.fid ARGS` (and `torchrun ... -m bench.fid ARGS`) is `rinbench fid ARGS`."""

import sys

from bench.cli import main

raise SystemExit(main(["fid", *sys.argv[1:]]))
