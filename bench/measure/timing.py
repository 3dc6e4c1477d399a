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

The results are typed (`Timing`, its `LatencyStats` and `WindowConditions`; `matmul_peak` gives a
bench.measure.facts.MatmulPeak); each has a `values()` with the keys a record stores.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from bench import datasheet
from bench.measure import hardware
from bench.measure.facts import MatmulPeak, PeakConditions

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


@dataclass(frozen=True)
class LatencyStats:
    """The statistics of a timing's samples, in ms: over the samples that are not stalls
    (STALL_FACTOR), the median, p10, p90, IQR and mean, the CV (stdev / mean) and the relative IQR
    (IQR / median), these two None under two samples; over every sample the min and the max (the
    max is the worst stall); and how many samples were stalls."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    iqr_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    cv: float | None
    rel_iqr: float | None
    stalls: int

    def values(self) -> dict:
        """The stored keys (bench.metrics declares them)."""
        return {
            "latency_ms_median": self.median_ms,
            "latency_ms_p10": self.p10_ms,
            "latency_ms_p90": self.p90_ms,
            "latency_ms_iqr": self.iqr_ms,
            "latency_ms_mean": self.mean_ms,
            "latency_ms_min": self.min_ms,
            "latency_ms_max": self.max_ms,
            "latency_cv": self.cv,
            "latency_rel_iqr": self.rel_iqr,
            "latency_stalls": self.stalls,
        }


@dataclass(frozen=True)
class WindowConditions:
    """The conditions of a timed window (`window_conditions`), under their stored names; a reason
    says why a reading is missing."""

    torch_threads: int
    torch_interop_threads: int
    load_avg_1m_before: float | None
    load_avg_1m_after: float | None
    cpu_util_timed: float | None
    cpu_util_reason: str | None = None
    load_avg_reason: str | None = None

    @property
    def highest_load_avg_1m(self) -> float | None:
        """The higher of the load averages before and after the window (None: neither read)."""
        loads = (self.load_avg_1m_before, self.load_avg_1m_after)
        return max((load for load in loads if load is not None), default=None)

    def values(self) -> dict:
        """The stored keys; a reason only where a reading is missing."""
        return {
            key: value
            for key, value in dataclasses.asdict(self).items()
            if value is not None or not key.endswith("_reason")
        }


@dataclass(frozen=True)
class Timing:
    """What `time_calls` measured: every sample (stalls included) and their statistics, whether
    the timing ended noisy and why, and the timed loop's conditions."""

    timer: str  # "cuda_events" or "perf_counter"
    warmup_iters: int
    samples_ms: list[float]
    window_s: float  # wall time of the timed loop
    stats: LatencyStats
    noisy: bool
    noisy_reason: str
    conditions: WindowConditions
    # Each warm-up call's time, by the timed calls' clock: whether the warm-up was needed, and
    # whether fewer calls would do (bench.timespent.warm_up).
    warmup_ms: list[float] = field(default_factory=list)

    @property
    def timed_iters(self) -> int:
        return len(self.samples_ms)

    def values(self) -> dict:
        """The stored keys, as a timed cell's record holds them (bench.metrics declares them)."""
        return {
            "timer": self.timer,
            "warmup_iters": self.warmup_iters,
            "timed_iters": self.timed_iters,
            "timed_window_s": self.window_s,
            "latency_ms_samples": self.samples_ms,
            "latency_ms_warmup": self.warmup_ms,
            **self.stats.values(),
            "latency_noisy": int(self.noisy),
            "latency_noisy_reason": self.noisy_reason,
            **self.conditions.values(),
        }


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
    warmup_steady_within: float | None = None,
) -> Timing:
    """Call `fn` `warmup` times outside the window (with `warmup_steady_within`, fewer where the
    step is steady sooner: `warm_up`), then time it until both `min_repeats` calls and
    `min_seconds` of wall time have passed, and then on until the timing is not noisy
    (`judge_noise` with `max_rel_iqr`) or the next call would end past the budget (`max_seconds`;
    None: `default_budget`). The budget never cuts the minimums short: a call slower than the
    budget still gets its `min_repeats` samples. The warm-up calls are clocked as the timed ones
    are, and kept apart (`warmup_ms`): no statistic counts them.

    `window` (e.g. an energy meter, a peak-memory probe) is entered after the warm-up and exited after
    the last timed call, with the device idle at both ends. Returns the typed `Timing`; its
    `values()` are the keys a timed cell's record stores.
    """
    _check_timing_arguments(
        warmup, min_repeats, min_seconds, max_seconds, max_rel_iqr, warmup_steady_within
    )
    budget_s = default_budget(min_seconds, max_seconds)
    device = torch.device(device)
    on_gpu = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if on_gpu else (lambda: None)

    call = _cuda_sample if on_gpu else _cpu_sample
    warmup_ms = warm_up(fn, call, warmup, warmup_steady_within)
    sync()

    rule = _StopRule(min_repeats, min_seconds, budget_s, max_rel_iqr)
    samples_ms, window_s, conditions = _timed_loop(fn, call, sync, rule, window)
    stats = latency_stats(samples_ms)
    short = None if on_gpu else short_of_cores(conditions, hardware.usable_cores())
    noisy, reason = judge_noise(stats, len(samples_ms), max_rel_iqr, also=[short] if short else [])
    return Timing(
        timer="cuda_events" if on_gpu else "perf_counter",
        warmup_iters=len(warmup_ms),
        samples_ms=samples_ms,
        window_s=window_s,
        stats=stats,
        noisy=noisy,
        noisy_reason=reason + _budget_note(len(samples_ms), window_s, budget_s),
        conditions=conditions,
        warmup_ms=warmup_ms,
    )


def warm_up(
    fn: Callable[[], object],
    call: Callable[[Callable[[], object]], float],
    calls: int,
    steady_within: float | None = None,
) -> list[float]:
    """Each warm-up call's time, `calls` calls of `fn` clocked by `call`; with `steady_within`,
    fewer: the warm-up ends at the first call within that fraction of the one before it. Two calls
    in a row that agree say the step has done what its first calls do once (allocating, cuDNN's
    workspaces, recording CUDA graphs), which a fixed count can only guess; a step still moving
    by more gets every call. A step still settling slowly may lend its first timed calls a little
    of its trend, which the median over the window, of at least min_repeats calls, shrugs off."""
    calls_ms: list[float] = []
    for _ in range(calls):
        calls_ms.append(call(fn))
        if steady_within is not None and len(calls_ms) >= 2:
            before, last = calls_ms[-2], calls_ms[-1]
            if abs(last - before) <= steady_within * before:
                break
    return calls_ms


def _check_timing_arguments(
    warmup: int,
    min_repeats: int,
    min_seconds: float,
    max_seconds: float | None,
    max_rel_iqr: float,
    warmup_steady_within: float | None = None,
) -> None:
    budget_s = default_budget(min_seconds, max_seconds)
    if warmup < 0 or min_repeats < 1 or min_seconds < 0 or budget_s < min_seconds:
        raise ValueError(
            f"need warmup >= 0, min_repeats >= 1, min_seconds >= 0 and max_seconds >= "
            f"min_seconds; got {warmup}, {min_repeats}, {min_seconds}, {max_seconds}"
        )
    if max_rel_iqr <= 0:
        raise ValueError(f"need max_rel_iqr > 0, got {max_rel_iqr}")
    if warmup_steady_within is not None and not 0 < warmup_steady_within < 1:
        raise ValueError(f"need 0 < warmup_steady_within < 1, got {warmup_steady_within}")


def _timed_loop(
    fn: Callable[[], object],
    call: Callable[[Callable[[], object]], float],
    sync: Callable[[], None],
    rule: _StopRule,
    window: AbstractContextManager | None,
) -> tuple[list[float], float, WindowConditions]:
    """Take one sample per `call` of `fn` until `rule` is done, inside `window`: the samples, the
    loop's wall time (the device idle at its end) and its conditions."""
    samples_ms: list[float] = []
    load_before = load_avg_1m()
    with window if window is not None else nullcontext():
        start_cpu = time.process_time()
        start_wall = wall_clock()
        while not rule.done(samples_ms, wall_clock() - start_wall):
            samples_ms.append(call(fn))
        sync()
        window_s = wall_clock() - start_wall
        cpu_s = time.process_time() - start_cpu
    return samples_ms, window_s, window_conditions(cpu_s, window_s, load_before, load_avg_1m())


def _budget_note(count: int, window_s: float, budget_s: float) -> str:
    """How the timed loop ended against its budget, for the end of the noise reason."""
    note = f"; {count} samples in {window_s:.2f} s (budget {budget_s:g} s"
    overrun = window_s > budget_s + 1e-3  # a millisecond past is the clocks' rounding
    return note + (", overrun by the minimums or a slow last call)" if overrun else ")")


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
            if not judge_noise(latency_stats(samples_ms), count, self.max_rel_iqr)[0]:
                return True
        return elapsed_s + self.typical_s > self.budget_s


def judge_noise(
    stats: LatencyStats, n_samples: int, max_rel_iqr: float, also: Sequence[str] = ()
) -> tuple[bool, str]:
    """(noisy, why) for the statistics of `latency_stats` over `n_samples` samples. Noisy: fewer than
    MIN_JUDGED_SAMPLES samples without stalls, a relative IQR above `max_rel_iqr`, stalls in more
    than MAX_STALL_SHARE of the samples, or any reason in `also` (`short_of_cores`)."""
    stalls, spread = stats.stalls, stats.rel_iqr
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


def short_of_cores(conditions: WindowConditions, usable_cores: int) -> str | None:
    """Why a CPU timing did not have its cores, or None: its process kept fewer than MIN_UTIL_SHARE
    of torch's threads busy while the load average (before or after) was above the usable cores.
    The load alone is not enough (the average lags a minute, and counts our own threads), nor the
    CPU use alone (a model with long serial stretches lets the threads sleep on an idle machine)."""
    util, threads = conditions.cpu_util_timed, conditions.torch_threads
    load = conditions.highest_load_avg_1m
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
) -> WindowConditions:
    """torch's threads, the load averages before and after (with a reason where missing) and
    cpu_util_timed: the process's CPU time over the window's wall time.

    time.process_time is the sum of system and user CPU time of the current process (Python docs,
    time.process_time); on Linux it reads CLOCK_PROCESS_CPUTIME_ID, which counts every thread of the
    process (clock_gettime(2)), so 2 threads busy the whole window read 2.0. On CUDA the host mostly
    waits for the device, and a spinning wait counts as busy: the ratio speaks for CPU cells.
    """
    long_enough = window_s >= MIN_CPU_WINDOW_S
    return WindowConditions(
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        load_avg_1m_before=load_before[0],
        load_avg_1m_after=load_after[0],
        cpu_util_timed=cpu_s / window_s if long_enough else None,
        cpu_util_reason=None
        if long_enough
        else (
            f"a timed window of {window_s * 1e3:.1f} ms is too short to read CPU use "
            f"(at least {MIN_CPU_WINDOW_S * 1e3:.0f} ms)"
        ),
        load_avg_reason=load_before[1] or load_after[1],
    )


def latency_stats(samples_ms: list[float]) -> LatencyStats:
    """The statistics of the samples (`LatencyStats`): stalls are the samples over STALL_FACTOR x
    the median of all samples."""
    median_all = float(np.median(samples_ms))
    kept = [s for s in samples_ms if s <= STALL_FACTOR * median_all]
    p10, p25, median, p75, p90 = (float(v) for v in np.percentile(kept, [10, 25, 50, 75, 90]))
    mean = statistics.fmean(kept)
    several = len(kept) > 1
    return LatencyStats(
        median_ms=median,
        p10_ms=p10,
        p90_ms=p90,
        iqr_ms=p75 - p25,
        mean_ms=mean,
        min_ms=min(samples_ms),
        max_ms=max(samples_ms),
        cv=statistics.stdev(kept) / mean if several and mean > 0 else None,
        rel_iqr=(p75 - p25) / median if several and median > 0 else None,
        stalls=len(samples_ms) - len(kept),
    )


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
) -> MatmulPeak:
    """The device's measured dense matmul throughput, the denominator of MFU, timed the way the cells
    are (`time_calls`: until steady or `max_seconds`, stalls left out).

    CUDA: an 8192^3 bf16 matmul (on the project's H100: ~800 TFLOP/s, 81% of the 989.4 TFLOP/s
    dense BF16 peak of NVIDIA's H100 Tensor Core GPU datasheet, whose 1,979 headline assumes 2:4
    sparsity). CPU: a 1024^3 fp32 matmul, a rough yardstick only.
    Measure once per run; the cells of one run share it.

    Returns the peak's TFLOP/s (over the median call), its dtype and n, and how far it can be
    trusted (`PeakConditions`, which `mfu_suspect` judges): the spread, stalls and noise of its
    timing, and its window's threads, CPU use and the higher of its load averages.
    """
    device = torch.device(device)
    if device.type == "cuda":
        n, dtype = 8192, torch.bfloat16
    else:
        n, dtype = 1024, torch.float32
    timing = _time_matmul(n, dtype, device, min_seconds, max_seconds, max_rel_iqr)
    if device.type == "cuda":
        torch.cuda.empty_cache()  # give the 400 MB back, so the next phase's reserved memory is its own
    return MatmulPeak(
        tflops=2 * n**3 / (timing.stats.median_ms / 1e3) / 1e12,
        dtype=str(dtype).removeprefix("torch."),
        n=n,
        conditions=PeakConditions(
            rel_iqr=timing.stats.rel_iqr,
            stalls=timing.stats.stalls,
            noisy=int(timing.noisy),
            noisy_reason=timing.noisy_reason,
            threads=timing.conditions.torch_threads,
            cpu_util=timing.conditions.cpu_util_timed,
            load_avg_1m=timing.conditions.highest_load_avg_1m,
        ),
    )


def _time_matmul(
    n: int,
    dtype: torch.dtype,
    device: torch.device,
    min_seconds: float,
    max_seconds: float,
    max_rel_iqr: float,
) -> Timing:
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
    cell's mfu and the stored keys of its `matmul_peak` (MatmulPeak.values). Suspect when:
    - the peak's timing was noisy;
    - on a CPU, the load average around the peak's window was above the cores this process may use
      (other jobs wanted the cores: the 1-minute average counts runnable threads, ours among them);
    - on a CPU, the peak's matmul kept fewer than MIN_UTIL_SHARE of its threads busy;
    - the MFU is over 100%: no model beats the device's dense matmul, so the peak was taken low.
    On a GPU the host's load says nothing of the device, so only the first and the last apply.
    """
    mfu = values.get("mfu")
    if mfu is None:
        return {}
    conditions = PeakConditions.recorded_in(values)
    reasons = [] if conditions is None else _peak_doubts(conditions, device_type, usable_cores)
    if mfu > 1:
        reasons.append(f"an MFU of {mfu:.0%} is over 100%: the peak was measured low")
    if reasons:
        return {"mfu_suspect": 1, "mfu_suspect_reason": "suspect: " + "; ".join(reasons)}
    if conditions is None:  # a peak from elsewhere
        return {"mfu_suspect": 0, "mfu_suspect_reason": "the peak came without its conditions"}
    trusted = "the matmul peak was steady" + (
        ", with its cores to itself" if device_type == "cpu" else ""
    )
    return {"mfu_suspect": 0, "mfu_suspect_reason": trusted}


def _peak_doubts(conditions: PeakConditions, device_type: str, usable_cores: int) -> list[str]:
    """Why the peak's own timing cannot be trusted (the first three rules of `mfu_suspect`)."""
    doubts = []
    if conditions.noisy:
        doubts.append("the matmul peak's timing was noisy")
    if device_type != "cpu":
        return doubts
    load = conditions.load_avg_1m
    if load is not None and load > usable_cores:
        doubts.append(
            f"load average {load:.2f} over the {usable_cores} usable cores while the peak was timed"
        )
    util, threads = conditions.cpu_util, conditions.threads
    if util is not None and threads and util < MIN_UTIL_SHARE * threads:
        doubts.append(
            f"the peak's matmul kept {util:.2f} of its {threads} threads busy "
            f"(under {MIN_UTIL_SHARE:.0%})"
        )
    return doubts
