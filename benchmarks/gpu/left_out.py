"""The cells of the GPU check's suites that have no record yet, for several suites in one Python.

    python benchmarks/gpu/left_out.py --device cuda [--only GLOB ...] \
        --suite SUITE FOLDER FILE [--suite SUITE FOLDER FILE ...]

For each --suite: the suite's plan on the device, narrowed by --only, resumed from the newest run in
FOLDER/SUITE where there is one; the ids of its cells without a record go to FILE, one a line (an
empty FILE where --only selects none of the suite's cells). This is what `rinbench run SUITE
--device D --dry-run [--out FOLDER --resume] [--only GLOB ...]` prints, asked for every suite in one
start of Python and torch, which on a GPU lease costs lease time. benchmarks/gpu/check.sh writes
its skipped.txt and skipped-<lever suite>.txt with it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def left_out(suite_name: str, folder: Path, device: str, only: list[str]) -> list[str]:
    from bench import runner, suites

    suite = suites.load(suite_name, device=device)
    resume = runner.LATEST if any((folder / suite.name).glob("*.jsonl")) else None
    try:
        plan = runner.plan(suite, folder, only=only or None, resume=resume)
    except runner.RunError as err:
        if "matches none" in str(err):
            return []
        raise
    return [item.cell.id for item in plan.todo]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", required=True, choices=["cpu", "cuda"])
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument(
        "--suite", nargs=3, action="append", required=True, metavar=("SUITE", "FOLDER", "FILE")
    )
    args = parser.parse_args(argv)
    for name, folder, file in args.suite:
        cells = left_out(name, Path(folder), args.device, args.only)
        Path(file).write_text("".join(f"{cell}\n" for cell in cells), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
