"""`python -m bench.train ARGS` (and `torchrun ... -m bench.train ARGS`) is `rinbench train ARGS`."""

import sys

from bench.cli import main

raise SystemExit(main(["train", *sys.argv[1:]]))
