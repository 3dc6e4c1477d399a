"""Does the harness time what a bare loop times? One forward cell, three ways, in one process.

    python benchmarks/gpu/bare_loop.py --device cuda --preset dit-xl-2 --batch 64 --out bare.json

A bare loop (the harness's own forward step: the same model from the same seed, inputs, autocast
and numerics flags; CUDA events around each call with no synchronisation between calls;
perf_counter on a CPU) runs before and after the harness's own measurement of the cell (`bench.worker.measure_cell`,
as a sweep's worker calls it). The check holds when the harness's median latency lies within
`--tolerance` (default 3%) of the mean of the two bare medians, and the two bare medians agree
with each other as closely (else the machine drifted and the comparison says so). Writes one JSON
object to --out and prints one line; exit status 0 whether or not it holds (it is a measurement),
2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

BARE_SECONDS = 2.0  # timed per bare loop, after 10 warm-up calls


def bare_forward_ms(cell, seconds: float) -> list[float]:
    """Per-call forward latencies (ms) of the step the harness times (the same model from seed 0,
    inputs, autocast and numerics flags: bench.measure.cell's own forward step), timed as plainly
    as it can be: only the timing differs from the harness's."""
    import torch

    from bench.measure.cell import PHASE_STEPS, Settings, build_model, check_dtype, step_context
    from bench.measure.numerics import numerics

    device = torch.device(cell.device)
    check_dtype(cell.dtype, device)
    model, cfg = build_model(cell, device)
    settings = Settings()
    with numerics(tf32=cell.dtype == "tf32", cudnn_benchmark=settings.cudnn_benchmark):
        make = PHASE_STEPS["forward"](step_context(model, cfg, cell.dtype, device, settings))
        call = make(cell.batch)
        for _ in range(10):
            call()
        if device.type == "cuda":
            return _cuda_loop(call, seconds, device)
        return _cpu_loop(call, seconds)


def _cuda_loop(call, seconds: float, device) -> list[float]:
    import torch

    torch.cuda.synchronize(device)
    start = time.perf_counter()
    call()
    torch.cuda.synchronize(device)
    calls = max(10, int(seconds / max(time.perf_counter() - start, 1e-4)))
    events = [
        (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        for _ in range(calls)
    ]
    for begin, end in events:
        begin.record()
        call()
        end.record()
    torch.cuda.synchronize(device)
    return [begin.elapsed_time(end) for begin, end in events]


def _cpu_loop(call, seconds: float) -> list[float]:
    samples, deadline = [], time.perf_counter() + seconds
    while len(samples) < 10 or time.perf_counter() < deadline:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


# The harness as the check's cells run it: gpu-check.toml's [settings.cuda] warm-up and repeats
# (tests/test_gpu_check.py holds the two together).
HARNESS_TIMING = {"warmup": 5, "warmup_steady_within": 0.02, "min_repeats": 10}


def compare(cell, tolerance: float, seconds: float) -> dict:
    from bench.measure.cell import cpu_threads_for
    from bench.worker import measure_cell

    cpu_threads_for(cell)  # a CPU cell's threads, as the harness sets them, for both loops
    before = statistics.median(bare_forward_ms(cell, seconds))
    outcome = measure_cell(cell, HARNESS_TIMING | {"min_seconds": seconds})
    after = statistics.median(bare_forward_ms(cell, seconds))
    result = {"cell": cell.id, "harness_status": outcome.status, "harness_error": outcome.error}
    result |= {"bare_ms_median_before": before, "bare_ms_median_after": after}
    if outcome.status != "ok":
        return result | {"holds": False}
    harness = outcome.values["latency_ms_median"]
    bare = (before + after) / 2
    result |= {
        "harness_ms_median": harness,
        "harness_rel_iqr": outcome.values.get("latency_rel_iqr"),
        "harness_timer": outcome.values.get("timer") or outcome.details.get("timer"),
        "harness_over_bare": harness / bare,
        "bare_drift": abs(after / before - 1),
        "tolerance": tolerance,
        "holds": abs(harness / bare - 1) <= tolerance,
        "device_name": _device_name(cell.device),
    }
    return result


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device == "cuda" else device


def main(argv: list[str] | None = None) -> int:
    from bench import registry
    from bench.cell import Cell

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda", help="default: cuda")
    parser.add_argument("--preset", default="dit-xl-2", help="default: dit-xl-2")
    parser.add_argument("--batch", type=int, default=64, help="default: 64")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="bf16", help="default: bf16")
    parser.add_argument("--tolerance", type=float, default=0.03, help="default: 0.03")
    parser.add_argument("--seconds", type=float, default=BARE_SECONDS, help="default: 2")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    args = parser.parse_args(argv)
    if args.preset not in registry.slugs():
        print(f"unknown preset {args.preset!r}; see `rinbench list`", file=sys.stderr)
        return 2
    if args.batch < 1 or args.seconds <= 0 or args.tolerance <= 0:
        print("--batch, --seconds and --tolerance must be positive", file=sys.stderr)
        return 2
    resolution = registry.get(args.preset).config.resolution
    cell = Cell(args.preset, resolution, args.batch, args.dtype, "forward", "eager", args.device)
    result = compare(cell, args.tolerance, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if "harness_over_bare" not in result:
        print(
            f"bare loop: {cell.id}: harness {result['harness_status']}: {result['harness_error']}"
        )
    else:
        verdict = "within" if result["holds"] else "OUTSIDE"
        print(
            f"bare loop: {cell.id}: harness {result['harness_ms_median']:.3f} ms, bare "
            f"{result['bare_ms_median_before']:.3f}/{result['bare_ms_median_after']:.3f} ms: "
            f"{result['harness_over_bare']:.3f}x, {verdict} {args.tolerance:.0%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
