"""Why does the harness's matmul peak differ from other measurements of the same GPU? Four timings
of the same dense matmul, in one process, so that the next lease answers it.

    python benchmarks/gpu/peak.py --device cuda --out peak.json

The first GPU check on an H200 measured 667 TFLOP/s with `bench.measure.timing.matmul_peak` (8192^3
bf16, each call timed apart between CUDA events, median) where earlier measurements on such machines
gave 769-798 (the mean of ten products between two events, after three warm-ups). The variants
separate the suspects:

    harness         matmul_peak() as a sweep takes it, first thing in a fresh process
    ten_in_a_row    ten products between one pair of events after three warm-ups (the earlier method)
    after_warm_up   the harness's per-call timing again, after 2 s of untimed products (clocks and
                    power settled)
    plain_operator  as after_warm_up, with `a @ b` instead of `torch.mm(a, b, out=out)`

Writes one JSON object to --out and prints a line per variant. A CPU (--device cpu) times a 1024^3
fp32 product the same four ways: the dry run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def variants(device_name: str, warm_up_s: float) -> dict:
    import torch

    from bench.measure.timing import matmul_peak, time_calls

    device = torch.device(device_name)
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    flop = 2 * n**3
    found = {"harness": matmul_peak(device).tflops}

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    found["ten_in_a_row"] = flop * 10 / _ten_in_a_row(lambda: a @ b, device) / 1e12

    stop = time.perf_counter() + warm_up_s
    while time.perf_counter() < stop:
        torch.mm(a, b, out=out)
    timing = {"device": device, "warmup": 3, "min_repeats": 20, "min_seconds": 0.5}
    mm_ms = time_calls(lambda: torch.mm(a, b, out=out), **timing).stats.median_ms
    found["after_warm_up"] = flop / (mm_ms / 1e3) / 1e12
    op_ms = time_calls(lambda: a @ b, **timing).stats.median_ms
    found["plain_operator"] = flop / (op_ms / 1e3) / 1e12
    return {"device": device_name, "n": n, "dtype": str(dtype), "tflops": found}


def _ten_in_a_row(call, device) -> float:
    """Seconds for ten calls between two marks, after three untimed ones."""
    import torch

    for _ in range(3):
        call()
    if device.type != "cuda":
        start = time.perf_counter()
        for _ in range(10):
            call()
        return time.perf_counter() - start
    torch.cuda.synchronize(device)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(10):
        call()
    end.record()
    end.synchronize()
    return begin.elapsed_time(end) / 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda", help="default: cuda")
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds (default: 2)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    args = parser.parse_args(argv)
    if args.warm_up < 0:
        print("--warm-up must be 0 or more seconds", file=sys.stderr)
        return 2
    result = variants(args.device, args.warm_up)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name, tflops in result["tflops"].items():
        print(f"matmul peak, {name}: {tflops:,.4g} TFLOP/s ({result['n']}^3 {result['dtype']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
