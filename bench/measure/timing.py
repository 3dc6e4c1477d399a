"""Wall-clock timing of one call, repeated: warm-up, at least N calls and T seconds, then on until the
spread is small or a time budget runs out.

GPU: a CUDA event pair around each call and a wait for the second one before the next call, so each
sample is one end-to-end call (launch overhead included, no overlap between calls). Unsynchronised
timings measure only the launch: one unsynchronised call of a 31.5 ms DiT forward read 3-4 ms on an H100
(measured; pytorch/pytorch#75393 on timing CUDA work).
CPU: `time.perf_counter` around each call.

Statistics are over the per-call samples that are not stalls (`STALL_FACTOR`): median and quantiles,
IQR, CV and the relative IQR (IQR / median, the spread that decides when to stop). The samples
themselves are returned too, stalls included. A timing that ends with its spread above the threshold,
with too many stalls, or short of cores (a CPU timing whose threads were not kept busy while other
jobs loaded the machine) is flagged noisy (`judge_noise`), with the reason.

The conditions of the timed window come with them, so that a reader can tell a slow machine from a
busy one: torch's thread counts, the 1-minute load average before and after, and the process's CPU
time over the window's wall time (cpu_util_timed: near torch_threads when the cell had its cores,
far below when another job held them).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

from bench import datasheet
from bench.measure import hardware

# The clock of the timed loop and of CPU samples; tests replace it with a scripted one.
wall_clock: Callable[[], float] = time.perf_counter

# A call repeats the same work on the same inputs, so on a quiet machine its time varies by a few
# percent. One that takes more than twice the median of all samples was held up by something other
# than its work (another process took the core, page faults, a garbage collection, a clock drop): a
# stall. It is counted and kept among the raw samples, but left out of the statistics, so that one
# 500 ms stall among 5 ms calls does not become the mean. A multiple of the median rather than
# median + k MAD: on a steady machine the MAD is near zero and ordinary jitter would read as stalls.
STALL_FACTOR = 2.0
# Stalls in more than this share of the samples make the timing noisy: the statistics then describe
# the quieter moments of a busy machine, not the machine.
MAX_STALL_SHARE = 0.1
# The spread of fewer samples (without stalls) than this says nothing; such a timing is noisy.
MIN_JUDGED_SAMPLES = 3
# Repeat until the relative IQR (IQR / median of the non-stall samples) is at most this.
DEFAULT_MAX_REL_IQR = 0.05
# Without a max_seconds, the budget is this multiple of min_seconds.
BUDGET_PER_MIN_SECONDS = 5.0
# torch's OpenMP threads spin while they wait for work, so a CPU timing that had its cores keeps
# about torch_threads busy (cpu_util_timed 2.0 with 2 threads, measured on the quick suite). Under
# this share of its threads, with the load average above the usable cores, other jobs held the cores:
# each parallel region then waits for a descheduled thread, and the same cell ran 200x slower, with a
# spread of 1% (rin-tiny forward, 7.7 against 1,675 img/s in back-to-back quick runs here).
MIN_UTIL_SHARE = 0.75


def default_budget(min_seconds: float, max_seconds: float | None) -> float:
    """The timed window's budget: `max_seconds`, or BUDGET_PER_MIN_SECONDS x `min_seconds`."""
    return BUDGET_PER_MIN_SECONDS * min_seconds if max_seconds is None else max_seconds


def time_calls(
    fn: Callable[[], object],
    *,
    device: str | torch.device = "cpu",
    warmup: int = 3,
    min_repeats: int = 10,
    min_seconds: float = 1.0,
    max_seconds: float | None = None,
    max_rel_iqr: float = DEFAULT_MAX_REL_IQR,
    window: AbstractContextManager | None = None,
) -> dict:
    """Call `fn` `warmup` times untimed, then time it until both `min_repeats` calls and
    `min_seconds` of wall time have passed, and then on until the timing is not noisy
    (`judge_noise` with `max_rel_iqr`) or the next call would end past the budget (`max_seconds`;
    None: `default_budget`). The budget never cuts the minimums short: a call slower than the
    budget still gets its `min_repeats` samples.

    `window` (e.g. an energy meter, a peak-memory probe) is entered after the warm-up and exited after
    the last timed call, with the device idle at both ends.

    Returns latency_ms_samples (every sample, stalls included), the statistics of `latency_stats`,
    latency_noisy (1 or 0) and latency_noisy_reason, plus timer, warmup_iters, timed_iters,
    timed_window_s (wall time of the timed loop) and the window's conditions (`window_conditions`).
    """
    budget_s = default_budget(min_seconds, max_seconds)
    if warmup < 0 or min_repeats < 1 or min_seconds < 0 or budget_s < min_seconds:
        raise ValueError(
            f"need warmup >= 0, min_repeats >= 1, min_seconds >= 0 and max_seconds >= "
            f"min_seconds; got {warmup}, {min_repeats}, {min_seconds}, {max_seconds}"
        )
    if max_rel_iqr <= 0:
        raise ValueError(f"need max_rel_iqr > 0, got {max_rel_iqr}")
    device = torch.device(device)
    on_gpu = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if on_gpu else (lambda: None)
    call = _cuda_sample if on_gpu else _cpu_sample

    for _ in range(warmup):
        fn()
    sync()

    samples_ms: list[float] = []
    rule = _StopRule(min_repeats, min_seconds, budget_s, max_rel_iqr)
    load_before = load_avg_1m()
    with window if window is not None else nullcontext():
        start_cpu = time.process_time()
        start_wall = wall_clock()
        while not rule.done(samples_ms, wall_clock() - start_wall):
            samples_ms.append(call(fn))
        sync()
        window_s = wall_clock() - start_wall
        cpu_s = time.process_time() - start_cpu
    load_after = load_avg_1m()

    stats = latency_stats(samples_ms)
    conditions = window_conditions(cpu_s, window_s, load_before, load_after)
    short = None if on_gpu else short_of_cores(conditions, hardware.usable_cores())
    noisy, reason = judge_noise(stats, len(samples_ms), max_rel_iqr, also=[short] if short else [])
    reason += f"; {len(samples_ms)} samples in {window_s:.2f} s (budget {budget_s:g} s"
    overrun = window_s > budget_s + 1e-3  # a millisecond past is the clocks' rounding
    reason += ", overrun by the minimums or a slow last call)" if overrun else ")"
    return {
        "timer": "cuda_events" if on_gpu else "perf_counter",
        "warmup_iters": warmup,
        "timed_iters": len(samples_ms),
        "timed_window_s": window_s,
        "latency_ms_samples": samples_ms,
        **stats,
        "latency_noisy": int(noisy),
        "latency_noisy_reason": reason,
        **conditions,
    }


def _cpu_sample(fn: Callable[[], object]) -> float:
    start = wall_clock()
    fn()
    return (wall_clock() - start) * 1e3


def _cuda_sample(fn: Callable[[], object]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


class _StopRule:
    """When the timed loop ends: the minimums first, then a timing that is not noisy, or a next call
    that would end past the budget (its length guessed as the median so far). The noise is judged at
    every call up to 50 samples, then at every 10% more, so that a fast call timed for seconds does
    not sort its growing sample list after every call."""

    def __init__(self, min_repeats: int, min_seconds: float, budget_s: float, max_rel_iqr: float):
        self.min_repeats, self.min_seconds = min_repeats, min_seconds
        self.budget_s, self.max_rel_iqr = budget_s, max_rel_iqr
        self.next_check, self.typical_s = 0, 0.0

    def done(self, samples_ms: list[float], elapsed_s: float) -> bool:
        if len(samples_ms) < self.min_repeats or elapsed_s < self.min_seconds:
            return False
        count = len(samples_ms)
        if count >= self.next_check:
            self.next_check = count + (1 if count <= 50 else count // 10)
            self.typical_s = float(np.median(samples_ms)) / 1e3
            stats = latency_stats(samples_ms)
            if not judge_noise(stats, count, self.max_rel_iqr)[0]:
                return True
        return elapsed_s + self.typical_s > self.budget_s


def judge_noise(
    stats: Mapping, n_samples: int, max_rel_iqr: float, also: Sequence[str] = ()
) -> tuple[bool, str]:
    """(noisy, why) for the statistics of `latency_stats` over `n_samples` samples. Noisy: fewer than
    MIN_JUDGED_SAMPLES samples without stalls, a relative IQR above `max_rel_iqr`, stalls in more
    than MAX_STALL_SHARE of the samples, or any reason in `also` (`short_of_cores`)."""
    stalls, spread = stats["latency_stalls"], stats["latency_rel_iqr"]
    kept = n_samples - stalls
    reasons, fine = list(also), []
    if kept < MIN_JUDGED_SAMPLES:
        reasons.append(
            f"{kept} samples without stalls: too few to judge the spread "
            f"(at least {MIN_JUDGED_SAMPLES})"
        )
    elif spread is None:
        reasons.append("no spread: the median call took no measurable time")
    elif spread > max_rel_iqr:
        reasons.append(f"spread (IQR / median) {spread:.1%} over the {max_rel_iqr:.1%} threshold")
    else:
        fine.append(f"spread (IQR / median) {spread:.1%} within {max_rel_iqr:.1%}")
    if stalls:
        share = f"{stalls} stalls (over {STALL_FACTOR:g}x the median) in {n_samples} samples"
        if stalls > MAX_STALL_SHARE * n_samples:
            reasons.append(f"{share}, over the {MAX_STALL_SHARE:.0%} a steady timing allows")
        else:
            fine.append(f"{share} left out of the statistics, within {MAX_STALL_SHARE:.0%}")
    if reasons:
        return True, "noisy: " + "; ".join(reasons + fine)
    return False, "steady: " + "; ".join(fine)


def short_of_cores(conditions: Mapping, usable_cores: int) -> str | None:
    """Why a CPU timing did not have its cores, or None: its process kept fewer than MIN_UTIL_SHARE
    of torch's threads busy while the load average (before or after) was above the usable cores.
    The load alone is not enough (the average lags a minute, and counts our own threads), nor the
    CPU use alone (a model with long serial stretches lets the threads sleep on an idle machine)."""
    util, threads = conditions.get("cpu_util_timed"), conditions.get("torch_threads")
    loads = [conditions.get(k) for k in ("load_avg_1m_before", "load_avg_1m_after")]
    load = max((v for v in loads if v is not None), default=None)
    if util is None or not threads or load is None:
        return None
    if util < MIN_UTIL_SHARE * threads and load > usable_cores:
        return (
            f"short of cores: {util:.2f} of {threads} threads busy (under {MIN_UTIL_SHARE:.0%}) "
            f"with a load average of {load:.2f} on {usable_cores} usable cores"
        )
    return None


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


def latency_stats(samples_ms: list[float]) -> dict[str, float | int | None]:
    """latency_stalls (samples over STALL_FACTOR x the median of all samples) and, over the other
    samples, latency_ms_{median,p10,p90,iqr,mean}, latency_cv (stdev / mean) and latency_rel_iqr
    (IQR / median); the last two are None for fewer than two samples. latency_ms_min and
    latency_ms_max are over every sample: the max is the worst stall."""
    median_all = float(np.median(samples_ms))
    kept = [s for s in samples_ms if s <= STALL_FACTOR * median_all]
    p10, p25, median, p75, p90 = (float(v) for v in np.percentile(kept, [10, 25, 50, 75, 90]))
    mean = statistics.fmean(kept)
    several = len(kept) > 1
    return {
        "latency_ms_median": median,
        "latency_ms_p10": p10,
        "latency_ms_p90": p90,
        "latency_ms_iqr": p75 - p25,
        "latency_ms_mean": mean,
        "latency_ms_min": min(samples_ms),
        "latency_ms_max": max(samples_ms),
        "latency_cv": statistics.stdev(kept) / mean if several and mean > 0 else None,
        "latency_rel_iqr": (p75 - p25) / median if several and median > 0 else None,
        "latency_stalls": len(samples_ms) - len(kept),
    }


def throughput(
    latency_ms: float,
    *,
    images_per_call: int,
    flops_per_call: int | float | None = None,
    peak_tflops: float | None = None,
    datasheet_peak_tflops: float | None = None,
) -> dict[str, float | None]:
    """images_per_s, achieved_tflops (model FLOPs / median time), mfu (achieved / the measured
    matmul peak, `peak_tflops`) and mfu_datasheet (achieved / the data-sheet dense peak for the
    cell's dtype, bench.datasheet)."""
    seconds = latency_ms / 1e3
    achieved = flops_per_call / seconds / 1e12 if flops_per_call is not None else None
    return {
        "images_per_s": images_per_call / seconds,
        "achieved_tflops": achieved,
        "mfu": achieved / peak_tflops if achieved is not None and peak_tflops else None,
        datasheet.MFU_KEY: datasheet.mfu(achieved, datasheet_peak_tflops),
    }


def device_datasheet_peak(device: str | torch.device, dtype: str) -> dict:
    """The data-sheet dense peak of the device for the cell's dtype, as a timed cell records it:
    {datasheet_peak_tflops, datasheet_peak_source}, or {mfu_datasheet_reason} where the table has
    none (a CPU, a GPU it lacks). The device's name is the one torch reports, as in the record's
    env (bench.measure.hardware.gpu_state)."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return datasheet.datasheet_peak(device.type, name, dtype).values()


def matmul_peak(
    device: str | torch.device = "cpu",
    *,
    min_seconds: float = 0.5,
    max_seconds: float = 2.0,
    max_rel_iqr: float = DEFAULT_MAX_REL_IQR,
) -> dict:
    """The device's measured dense matmul throughput, the denominator of MFU, timed the way the cells
    are (`time_calls`: until steady or `max_seconds`, stalls left out).

    CUDA: an 8192^3 bf16 matmul (on the project's H100: ~800 TFLOP/s, 81% of the 989.4 TFLOP/s
    dense BF16 peak of NVIDIA's H100 Tensor Core GPU datasheet, whose 1,979 headline assumes 2:4
    sparsity). CPU: a 1024^3 fp32 matmul, a rough yardstick only.
    Measure once per run; the cells of one run share it.

    Returns matmul_peak_tflops (over the median call), matmul_peak_dtype, matmul_peak_n, and how
    trustworthy it is: matmul_peak_rel_iqr, matmul_peak_stalls, matmul_peak_noisy (+ _reason), and
    the window's conditions: matmul_peak_threads, matmul_peak_cpu_util and matmul_peak_load_avg_1m
    (the higher of the load averages before and after), which `mfu_suspect` judges.
    """
    device = torch.device(device)
    if device.type == "cuda":
        n, dtype = 8192, torch.bfloat16
    else:
        n, dtype = 1024, torch.float32
    stats = _time_matmul(n, dtype, device, min_seconds, max_seconds, max_rel_iqr)
    if device.type == "cuda":
        torch.cuda.empty_cache()  # give the 400 MB back, so the next phase's reserved memory is its own
    tflops = 2 * n**3 / (stats["latency_ms_median"] / 1e3) / 1e12
    loads = [v for v in (stats["load_avg_1m_before"], stats["load_avg_1m_after"]) if v is not None]
    return {
        "matmul_peak_tflops": tflops,
        "matmul_peak_dtype": str(dtype).removeprefix("torch."),
        "matmul_peak_n": n,
        "matmul_peak_rel_iqr": stats["latency_rel_iqr"],
        "matmul_peak_stalls": stats["latency_stalls"],
        "matmul_peak_noisy": stats["latency_noisy"],
        "matmul_peak_noisy_reason": stats["latency_noisy_reason"],
        "matmul_peak_threads": stats["torch_threads"],
        "matmul_peak_cpu_util": stats["cpu_util_timed"],
        "matmul_peak_load_avg_1m": max(loads, default=None),
    }


def _time_matmul(
    n: int,
    dtype: torch.dtype,
    device: torch.device,
    min_seconds: float,
    max_seconds: float,
    max_rel_iqr: float,
) -> dict:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return time_calls(
        lambda: torch.mm(a, b, out=out),
        device=device,
        warmup=3,
        min_repeats=5,
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        max_rel_iqr=max_rel_iqr,
    )


def mfu_suspect(values: Mapping, device_type: str, usable_cores: int) -> dict:
    """Whether a cell's MFU rests on a peak that cannot be trusted: {"mfu_suspect": 1 or 0,
    "mfu_suspect_reason": why (or why not)}, or {} for a cell without an MFU. `values` holds the
    cell's mfu and the matmul_peak_* keys of `matmul_peak`. Suspect when:
    - the peak's timing was noisy (matmul_peak_noisy);
    - on a CPU, the load average around the peak's window was above the cores this process may use
      (other jobs wanted the cores: the 1-minute average counts runnable threads, ours among them);
    - on a CPU, the peak's matmul kept fewer than MIN_UTIL_SHARE of its threads busy;
    - the MFU is over 100%: no model beats the device's dense matmul, so the peak was taken low.
    On a GPU the host's load says nothing of the device, so only the first and the last apply.
    """
    mfu = values.get("mfu")
    if mfu is None:
        return {}
    reasons = []
    if values.get("matmul_peak_noisy"):
        reasons.append("the matmul peak's timing was noisy")
    if device_type == "cpu":
        load = values.get("matmul_peak_load_avg_1m")
        if load is not None and load > usable_cores:
            reasons.append(
                f"load average {load:.2f} over the {usable_cores} usable cores while the peak "
                "was timed"
            )
        util, threads = values.get("matmul_peak_cpu_util"), values.get("matmul_peak_threads")
        if util is not None and threads and util < MIN_UTIL_SHARE * threads:
            reasons.append(
                f"the peak's matmul kept {util:.2f} of its {threads} threads busy "
                f"(under {MIN_UTIL_SHARE:.0%})"
            )
    if mfu > 1:
        reasons.append(f"an MFU of {mfu:.0%} is over 100%: the peak was measured low")
    if reasons:
        return {"mfu_suspect": 1, "mfu_suspect_reason": "suspect: " + "; ".join(reasons)}
    if "matmul_peak_noisy" not in values:  # a peak from elsewhere, without its conditions
        return {"mfu_suspect": 0, "mfu_suspect_reason": "the peak came without its conditions"}
    trusted = "the matmul peak was steady" + (
        ", with its cores to itself" if device_type == "cpu" else ""
    )
    return {"mfu_suspect": 0, "mfu_suspect_reason": trusted}
