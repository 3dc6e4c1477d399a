"""Wall-clock timing of one call, repeated: warm-up, then at least N calls and T seconds.

GPU: a CUDA event pair around each call and a wait for the second one before the next call, so each
sample is one end-to-end call (launch overhead included, no overlap between calls). Unsynchronised
timings measure only the launch: one unsynchronised call of a 31.5 ms DiT forward read 3-4 ms on an H100
(measured; pytorch/pytorch#75393 on timing CUDA work).
CPU: `time.perf_counter` around each call.

Statistics are over the per-call samples: median and quantiles (robust to the odd slow call), IQR
and CV for spread. The samples themselves are returned too.

The conditions of the timed window come with them, so that a reader can tell a slow machine from a
busy one: torch's thread counts, the 1-minute load average before and after, and the process's CPU
time over the window's wall time (cpu_util_timed: near torch_threads when the cell had its cores,
far below when another job held them).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch


def time_calls(
    fn: Callable[[], object],
    *,
    device: str | torch.device = "cpu",
    warmup: int = 3,
    min_repeats: int = 10,
    min_seconds: float = 1.0,
    window: AbstractContextManager | None = None,
) -> dict:
    """Call `fn` `warmup` times untimed, then time it until both `min_repeats` calls and
    `min_seconds` of wall time have passed.

    `window` (e.g. an energy meter, a peak-memory probe) is entered after the warm-up and exited after
    the last timed call, with the device idle at both ends.

    Returns latency_ms_samples and the statistics of `latency_stats`, plus timer, warmup_iters,
    timed_iters, timed_window_s (wall time of the timed loop) and the window's conditions
    (`window_conditions`).
    """
    if warmup < 0 or min_repeats < 1 or min_seconds < 0:
        raise ValueError(
            f"need warmup >= 0, min_repeats >= 1, min_seconds >= 0; "
            f"got {warmup}, {min_repeats}, {min_seconds}"
        )
    device = torch.device(device)
    on_gpu = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if on_gpu else (lambda: None)

    for _ in range(warmup):
        fn()
    sync()

    samples_ms: list[float] = []
    load_before = load_avg_1m()
    with window if window is not None else nullcontext():
        start_cpu = time.process_time()
        start_wall = time.perf_counter()
        while len(samples_ms) < min_repeats or time.perf_counter() - start_wall < min_seconds:
            if on_gpu:
                start, end = (
                    torch.cuda.Event(enable_timing=True),
                    torch.cuda.Event(enable_timing=True),
                )
                start.record()
                fn()
                end.record()
                end.synchronize()
                samples_ms.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                samples_ms.append((time.perf_counter() - t0) * 1e3)
        sync()
        window_s = time.perf_counter() - start_wall
        cpu_s = time.process_time() - start_cpu
    load_after = load_avg_1m()

    return {
        "timer": "cuda_events" if on_gpu else "perf_counter",
        "warmup_iters": warmup,
        "timed_iters": len(samples_ms),
        "timed_window_s": window_s,
        "latency_ms_samples": samples_ms,
        **latency_stats(samples_ms),
        **window_conditions(cpu_s, window_s, load_before, load_after),
    }


LoadAverage = tuple[float | None, str | None]  # (value, reason it is None)
# The CPU time of a process's other threads reaches its clock a little late: over a window of a few
# milliseconds that lag alone read 2.7 busy cores on this 2-core machine (tests/test_measure_cell.py,
# min_seconds=0), so shorter windows get no ratio.
MIN_CPU_WINDOW_S = 0.1


def load_avg_1m() -> LoadAverage:
    """The system's 1-minute load average (runnable processes, averaged), or None and the reason:
    os.getloadavg exists on Unix only and raises OSError where the value is unobtainable (Python
    docs, os.getloadavg)."""
    try:
        return os.getloadavg()[0], None
    except (AttributeError, OSError) as err:
        return None, f"no load average: {type(err).__name__}: {err}"


def window_conditions(
    cpu_s: float, window_s: float, load_before: LoadAverage, load_after: LoadAverage
) -> dict:
    """torch_threads, torch_interop_threads, load_avg_1m_before/_after (+ load_avg_reason where
    missing) and cpu_util_timed: the process's CPU time over the window's wall time.

    time.process_time is the sum of system and user CPU time of the current process (Python docs,
    time.process_time); on Linux it reads CLOCK_PROCESS_CPUTIME_ID, which counts every thread of the
    process (clock_gettime(2)), so 2 threads busy the whole window read 2.0. On CUDA the host mostly
    waits for the device, and a spinning wait counts as busy: the ratio speaks for CPU cells.
    """
    conditions = {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_avg_1m_before": load_before[0],
        "load_avg_1m_after": load_after[0],
        "cpu_util_timed": cpu_s / window_s if window_s >= MIN_CPU_WINDOW_S else None,
    }
    if conditions["cpu_util_timed"] is None:
        conditions["cpu_util_reason"] = (
            f"a timed window of {window_s * 1e3:.1f} ms is too short to read CPU use "
            f"(at least {MIN_CPU_WINDOW_S * 1e3:.0f} ms)"
        )
    reason = load_before[1] or load_after[1]
    if reason is not None:
        conditions["load_avg_reason"] = reason
    return conditions


def latency_stats(samples_ms: list[float]) -> dict[str, float | None]:
    """latency_ms_{median,p10,p90,iqr,mean,min,max} and latency_cv (stdev / mean; None for one sample)."""
    p10, p25, median, p75, p90 = (float(v) for v in np.percentile(samples_ms, [10, 25, 50, 75, 90]))
    mean = statistics.fmean(samples_ms)
    return {
        "latency_ms_median": median,
        "latency_ms_p10": p10,
        "latency_ms_p90": p90,
        "latency_ms_iqr": p75 - p25,
        "latency_ms_mean": mean,
        "latency_ms_min": min(samples_ms),
        "latency_ms_max": max(samples_ms),
        "latency_cv": statistics.stdev(samples_ms) / mean
        if len(samples_ms) > 1 and mean > 0
        else None,
    }


def throughput(
    latency_ms: float,
    *,
    images_per_call: int,
    flops_per_call: int | float | None = None,
    peak_tflops: float | None = None,
) -> dict[str, float | None]:
    """images_per_s, achieved_tflops (model FLOPs / median time) and mfu (achieved / peak)."""
    seconds = latency_ms / 1e3
    achieved = flops_per_call / seconds / 1e12 if flops_per_call is not None else None
    return {
        "images_per_s": images_per_call / seconds,
        "achieved_tflops": achieved,
        "mfu": achieved / peak_tflops if achieved is not None and peak_tflops else None,
    }


def matmul_peak(device: str | torch.device = "cpu", *, min_seconds: float = 0.5) -> dict:
    """The device's measured dense matmul throughput, the denominator of MFU.

    CUDA: an 8192^3 bf16 matmul (on the project's H100: ~800 TFLOP/s, 81% of the 989.4 TFLOP/s
    dense BF16 peak of NVIDIA's H100 Tensor Core GPU datasheet, whose 1,979 headline assumes 2:4
    sparsity). CPU: a 1024^3 fp32 matmul, a rough yardstick only.
    Measure once per run; the cells of one run share it.

    Returns matmul_peak_tflops (median over the timed calls), matmul_peak_dtype, matmul_peak_n.
    """
    device = torch.device(device)
    if device.type == "cuda":
        n, dtype = 8192, torch.bfloat16
    else:
        n, dtype = 1024, torch.float32
    stats = _time_matmul(n, dtype, device, min_seconds)
    if device.type == "cuda":
        torch.cuda.empty_cache()  # give the 400 MB back, so the next phase's reserved memory is its own
    tflops = 2 * n**3 / (stats["latency_ms_median"] / 1e3) / 1e12
    return {
        "matmul_peak_tflops": tflops,
        "matmul_peak_dtype": str(dtype).removeprefix("torch."),
        "matmul_peak_n": n,
    }


def _time_matmul(n: int, dtype: torch.dtype, device: torch.device, min_seconds: float) -> dict:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return time_calls(
        lambda: torch.mm(a, b, out=out),
        device=device,
        warmup=3,
        min_repeats=5,
        min_seconds=min_seconds,
    )
