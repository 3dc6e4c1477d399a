"""A competing load for noise experiments: one process busy half of every second on one core.

    python benchmarks/noise/spin_load.py [SECONDS]     # default: an hour; Ctrl-C ends it

It spins for 0.5 s, then sleeps 0.5 s, as a neighbour's job that wakes and works would; the paired
claims run beside it in BENCHMARKS.md (issue 21) used it.
"""

import sys
import time


def main(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        busy_until = time.time() + 0.5
        while time.time() < busy_until:
            pass
        time.sleep(0.5)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3600.0)
