"""`python -m bench ...` is `rinbench ...`."""

from bench.cli import main

raise SystemExit(main())
