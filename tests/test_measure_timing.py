"""bench.measure.timing: statistics on a known sleep, the repeat rules (minimums, then until steady or
the budget), stalls and the noisy flag, throughput, MFU and when an MFU is suspect."""

import dataclasses
import itertools
import os
import random
import time

import numpy as np
import pytest
import torch

from bench.measure import timing
from bench.measure.timing import (
    LatencyStats,
    Timing,
    WindowConditions,
    judge_noise,
    latency_stats,
    matmul_peak,
    mfu_suspect,
    throughput,
    time_calls,
    warm_up,
)


def test_a_known_sleep():
    """A 20 ms sleep: every sample is at least 20 ms, and the median is close (the OS may wake a
    loaded CI machine late, hence the generous upper bound)."""
    timed = time_calls(lambda: time.sleep(0.02), warmup=1, min_repeats=8, min_seconds=0.0)
    assert timed.timer == "perf_counter"
    assert timed.timed_iters == 8 == len(timed.samples_ms)
    stats = timed.stats
    assert stats.min_ms >= 20.0
    assert 20.0 <= stats.median_ms < 35.0
    assert stats.p10_ms <= stats.median_ms <= stats.p90_ms
    assert stats.iqr_ms >= 0
    assert stats.cv < 0.5


# What a timed cell's record stores of its timing, in this order (old records hold the same keys).
STORED_TIMING_KEYS = (
    "timer",
    "warmup_iters",
    "timed_iters",
    "timed_window_s",
    "latency_ms_samples",
    "latency_ms_warmup",
    "latency_ms_median",
    "latency_ms_p10",
    "latency_ms_p90",
    "latency_ms_iqr",
    "latency_ms_mean",
    "latency_ms_min",
    "latency_ms_max",
    "latency_cv",
    "latency_rel_iqr",
    "latency_stalls",
    "latency_noisy",
    "latency_noisy_reason",
    "torch_threads",
    "torch_interop_threads",
    "load_avg_1m_before",
    "load_avg_1m_after",
    "cpu_util_timed",
)


def test_the_stored_keys_of_a_timing_are_its_typed_fields():
    timed = time_calls(lambda: busy(0.002), warmup=0, min_repeats=3, min_seconds=0.12)
    values = timed.values()
    assert tuple(values) == STORED_TIMING_KEYS  # a window long enough to read: no reasons
    assert values["latency_ms_samples"] == timed.samples_ms
    assert values["timed_iters"] == timed.timed_iters and values["timed_window_s"] == timed.window_s
    assert values["latency_ms_median"] == timed.stats.median_ms
    assert values["latency_noisy"] == int(timed.noisy) and values["latency_noisy"] in (0, 1)
    assert values["cpu_util_timed"] == timed.conditions.cpu_util_timed


def test_repeats_until_both_minimums():
    stats = time_calls(lambda: time.sleep(0.002), warmup=0, min_repeats=3, min_seconds=0.1).values()
    assert stats["timed_iters"] > 3  # the 0.1 s minimum needs ~50 calls
    assert stats["timed_window_s"] >= 0.1


def test_warmup_calls_are_kept_apart_and_the_window_excludes_them():
    calls = []

    class Window:
        def __enter__(self):
            calls.append("enter")

        def __exit__(self, *exc):
            calls.append("exit")

    stats = time_calls(
        lambda: calls.append("call"), warmup=2, min_repeats=3, min_seconds=0.0, window=Window()
    ).values()
    assert calls == ["call", "call", "enter", "call", "call", "call", "exit"]
    assert (stats["warmup_iters"], stats["timed_iters"]) == (2, 3)
    assert len(stats["latency_ms_warmup"]) == 2 and len(stats["latency_ms_samples"]) == 3


def test_a_warm_up_ends_at_the_first_call_within_a_fraction_of_the_one_before():
    """warmup_steady_within: the warm-up stops once two calls in a row agree (a step that re-takes
    its memory, then steadies), never runs past its calls, and a step still moving gets them all."""

    def clocked(*times_ms):
        times = iter(times_ms)
        return lambda fn: next(times)

    settling = (30.0, 12.0, 10.2, 10.0, 10.0)
    assert warm_up(lambda: None, clocked(*settling), 5, 0.05) == [30.0, 12.0, 10.2, 10.0]
    assert warm_up(lambda: None, clocked(*settling), 5) == list(settling)  # the fixed count
    assert warm_up(lambda: None, clocked(30.0, 20.0, 15.0, 12.0, 11.0), 5, 0.05) == [
        30.0, 20.0, 15.0, 12.0, 11.0
    ]  # fmt: skip
    assert warm_up(lambda: None, clocked(5.0, 5.0), 1, 0.05) == [5.0]  # one call says nothing
    # Through time_calls: warmup_iters counts the calls made, latency_ms_warmup holds them.
    timed = time_calls(
        lambda: time.sleep(0.002), warmup=5, min_repeats=3, min_seconds=0.0,
        warmup_steady_within=0.99,
    ).values()  # fmt: skip
    assert timed["warmup_iters"] == len(timed["latency_ms_warmup"]) == 2
    with pytest.raises(ValueError, match="warmup_steady_within"):
        time_calls(lambda: None, warmup=2, warmup_steady_within=1.0)


NEW_CONDITION_KEYS = (
    "torch_threads",
    "torch_interop_threads",
    "load_avg_1m_before",
    "load_avg_1m_after",
    "cpu_util_timed",
)


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_the_window_records_its_conditions():
    stats = time_calls(lambda: busy(0.01), warmup=0, min_repeats=5, min_seconds=0.15).values()
    assert set(NEW_CONDITION_KEYS) <= set(stats)
    assert stats["torch_threads"] == torch.get_num_threads() >= 1
    assert stats["torch_interop_threads"] == torch.get_num_interop_threads() >= 1
    assert stats["load_avg_1m_before"] >= 0 and stats["load_avg_1m_after"] >= 0
    assert "load_avg_reason" not in stats
    # One Python thread spinning: about 1 busy core (less when the machine is shared).
    assert 0 < stats["cpu_util_timed"] <= os.cpu_count() + 0.5


def test_a_sleeping_call_uses_no_cpu():
    stats = time_calls(lambda: time.sleep(0.01), warmup=0, min_repeats=5, min_seconds=0.15)
    assert 0 <= stats.conditions.cpu_util_timed < 0.5


@pytest.mark.parametrize("missing", ["no_function", "unobtainable"])
def test_a_missing_load_average_is_none_with_a_reason(monkeypatch, missing):
    if missing == "no_function":  # not Unix
        monkeypatch.delattr(os, "getloadavg", raising=False)
    else:

        def unobtainable():
            raise OSError("load average unobtainable")

        monkeypatch.setattr(os, "getloadavg", unobtainable)
    stats = time_calls(lambda: None, warmup=0, min_repeats=2, min_seconds=0.0).values()
    assert stats["load_avg_1m_before"] is None and stats["load_avg_1m_after"] is None
    assert stats["load_avg_reason"].startswith("no load average")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="min_repeats"):
        time_calls(lambda: None, min_repeats=0)


def test_quantiles_match_numpy():
    rng = random.Random(0)
    values = [rng.random() for _ in range(37)]
    stats = latency_stats(values)
    assert stats.median_ms == pytest.approx(np.quantile(values, 0.5))
    assert stats.p10_ms == pytest.approx(np.quantile(values, 0.1))
    assert stats.p90_ms == pytest.approx(np.quantile(values, 0.9))
    iqr = np.quantile(values, 0.75) - np.quantile(values, 0.25)
    assert stats.iqr_ms == pytest.approx(iqr)
    assert stats.min_ms == min(values) and stats.max_ms == max(values)


def test_latency_stats_of_known_samples():
    stats = latency_stats([5.0, 1.0, 3.0, 2.0, 4.0]).values()
    assert stats["latency_ms_median"] == 3.0
    assert stats["latency_ms_p10"] == pytest.approx(1.4)
    assert stats["latency_ms_p90"] == pytest.approx(4.6)
    assert stats["latency_ms_iqr"] == 2.0
    assert (stats["latency_ms_mean"], stats["latency_ms_min"], stats["latency_ms_max"]) == (3, 1, 5)
    assert stats["latency_cv"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1) / 3)
    assert latency_stats([2.0]).cv is None


def test_throughput_and_mfu_in_both_conventions():
    out = throughput(
        50.0,
        images_per_call=32,
        flops_per_call=10e12,
        peak_tflops=800.0,
        datasheet_peak_tflops=1000.0,
    )
    assert out["images_per_s"] == pytest.approx(640.0)
    assert out["achieved_tflops"] == pytest.approx(200.0)
    assert out["mfu"] == pytest.approx(0.25)
    assert out["mfu_datasheet"] == pytest.approx(0.2)
    bare = throughput(50.0, images_per_call=1)
    assert bare["mfu"] is None and bare["mfu_datasheet"] is None


def test_matmul_peak_on_cpu():
    peak = matmul_peak("cpu", min_seconds=0.05)
    assert peak.dtype == "float32"
    assert peak.n == 1024
    assert 1e-4 < peak.tflops < 100


@pytest.mark.gpu
def test_cuda_events_agree_with_a_bare_event_loop():
    """The harness's median within 3% of a hand-written CUDA-event loop (issue 3's check)."""
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    stats = time_calls(lambda: a @ a, device="cuda", warmup=5, min_repeats=50, min_seconds=0.5)
    assert stats.timer == "cuda_events"
    bare = []
    for _ in range(50):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ a
        end.record()
        end.synchronize()
        bare.append(start.elapsed_time(end))
    assert stats.stats.median_ms == pytest.approx(float(np.median(bare)), rel=0.03)


@pytest.mark.gpu
def test_matmul_peak_on_cuda():
    peak = matmul_peak("cuda")
    assert peak.dtype == "bfloat16"
    assert peak.tflops > 10


def test_a_window_too_short_for_the_cpu_clocks_gets_no_ratio():
    stats = time_calls(lambda: None, warmup=0, min_repeats=3, min_seconds=0.0).values()
    assert stats["cpu_util_timed"] is None and "too short" in stats["cpu_util_reason"]


# --- repeat until steady, stalls, the noisy flag -------------------------------------------------


class ScriptedClock:
    """A wall clock that moves only when the timed function runs: each call takes the next of
    `durations_ms`, so the samples are exactly the script (no sleeping, no jitter)."""

    def __init__(self, durations_ms):
        self.now, self.calls = 0.0, 0
        self.durations = iter(durations_ms)

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:
        self.now += next(self.durations) / 1e3
        self.calls += 1


def scripted(monkeypatch, durations_ms, load=0.0, **kwargs) -> tuple[dict, ScriptedClock]:
    """time_calls over scripted call times, on a machine whose load average is `load` (the calls
    use no CPU, so a load above the usable cores reads as a timing short of cores)."""
    clock = ScriptedClock(durations_ms)
    monkeypatch.setattr(timing, "wall_clock", clock)
    monkeypatch.setattr(timing, "load_avg_1m", lambda: (load, None))
    monkeypatch.setattr(timing.hardware, "usable_cores", lambda: 2)
    settings = dict(warmup=0, min_repeats=5, min_seconds=0.0) | kwargs
    return time_calls(clock.call, **settings).values(), clock


def test_steady_samples_stop_at_the_minimum(monkeypatch):
    stats, clock = scripted(monkeypatch, itertools.repeat(10.0), max_seconds=60.0)
    assert stats["timed_iters"] == clock.calls == 5
    assert stats["latency_ms_samples"] == pytest.approx([10.0] * 5)
    assert stats["latency_rel_iqr"] == pytest.approx(0, abs=1e-9) and stats["latency_stalls"] == 0
    assert stats["latency_noisy"] == 0
    assert stats["latency_noisy_reason"].startswith(
        "steady: spread (IQR / median) 0.0% within 5.0%"
    )


def test_a_noisy_sequence_runs_to_the_budget_and_ends_flagged(monkeypatch):
    stats, _ = scripted(monkeypatch, itertools.cycle([5.0, 15.0]), max_seconds=1.0)
    # The loop stops when the next call (about the median, 10 ms) would end past 1 s.
    assert 90 <= stats["timed_iters"] <= 100
    assert stats["timed_window_s"] <= 1.0 + 1e-9  # never past the budget
    assert stats["latency_rel_iqr"] == pytest.approx(1.0)  # IQR 10 ms over a median of 10 ms
    assert stats["latency_noisy"] == 1
    reason = stats["latency_noisy_reason"]
    assert reason.startswith("noisy: spread (IQR / median) 100.0% over the 5.0% threshold")
    assert "samples in 1.00 s (budget 1 s)" in reason


def test_a_timing_that_settles_stops_before_the_budget(monkeypatch):
    durations = itertools.chain([5.0, 15.0] * 5, itertools.repeat(10.0))
    stats, _ = scripted(monkeypatch, durations, max_seconds=60.0, max_rel_iqr=0.05)
    assert stats["latency_noisy"] == 0
    assert 10 < stats["timed_iters"] < 100  # steady once the 10 ms calls fill the middle half
    assert stats["timed_window_s"] < 1.0


def test_the_default_budget_is_a_multiple_of_min_seconds(monkeypatch):
    stats, _ = scripted(monkeypatch, itertools.cycle([5.0, 15.0]), min_seconds=0.1)
    assert timing.default_budget(0.1, None) == pytest.approx(0.5)
    assert 0.45 <= stats["timed_window_s"] <= 0.5 + 1e-9


def test_min_repeats_wins_over_the_budget(monkeypatch):
    stats, _ = scripted(monkeypatch, itertools.repeat(400.0), min_repeats=3, max_seconds=0.5)
    assert stats["timed_iters"] == 3 and stats["timed_window_s"] == pytest.approx(1.2)
    assert stats["latency_noisy"] == 0
    assert "overrun by the minimums" in stats["latency_noisy_reason"]


def test_a_stall_is_counted_kept_and_left_out_of_the_statistics(monkeypatch):
    stats, _ = scripted(monkeypatch, [5.0, 5.0, 500.0, 5.0, 5.0], max_seconds=0.0)
    assert stats["latency_ms_samples"] == pytest.approx([5.0, 5.0, 500.0, 5.0, 5.0])
    assert stats["latency_stalls"] == 1
    for key in ("latency_ms_median", "latency_ms_mean", "latency_ms_p90"):
        assert stats[key] == pytest.approx(5.0)
    assert stats["latency_cv"] == pytest.approx(0, abs=1e-9)
    assert stats["latency_ms_max"] == pytest.approx(500.0)
    # One stall in five samples is over the 10% a steady timing allows.
    assert stats["latency_noisy"] == 1
    assert "1 stalls (over 2x the median) in 5 samples" in stats["latency_noisy_reason"]


def test_a_rare_stall_is_left_out_and_the_reason_says_why_the_timing_is_steady(monkeypatch):
    durations = [5.0] * 10 + [500.0] + [5.0] * 9
    stats, _ = scripted(monkeypatch, durations, min_repeats=20, max_seconds=0.0)
    assert stats["latency_stalls"] == 1 and stats["latency_ms_mean"] == pytest.approx(5.0)
    assert stats["latency_noisy"] == 0
    assert "left out of the statistics, within 10%" in stats["latency_noisy_reason"]


def test_stalls_keep_the_timing_going_until_they_are_rare(monkeypatch):
    durations = itertools.chain([5.0, 500.0, 5.0, 5.0, 5.0], itertools.repeat(5.0))
    stats, _ = scripted(monkeypatch, durations, max_seconds=60.0)
    assert stats["latency_noisy"] == 0 and stats["latency_stalls"] == 1
    assert stats["timed_iters"] == 10  # the first count at which one stall is 10%


def test_too_few_samples_to_judge_are_noisy(monkeypatch):
    stats, _ = scripted(monkeypatch, itertools.repeat(10.0), min_repeats=2, max_seconds=0.0)
    assert stats["latency_noisy"] == 1 and "too few to judge" in stats["latency_noisy_reason"]


def test_judge_noise_thresholds():
    steady = latency_stats([10.0, 10.1, 10.2, 10.0])
    assert judge_noise(steady, 4, 0.05)[0] is False
    assert judge_noise(steady, 4, 0.001)[0] is True


@pytest.mark.parametrize(
    "kwargs",
    [dict(max_seconds=0.5, min_seconds=1.0), dict(max_rel_iqr=0.0)],
)
def test_bad_budget_or_threshold_raise(kwargs):
    with pytest.raises(ValueError, match="max_"):
        time_calls(lambda: None, **kwargs)


def test_matmul_peak_records_how_far_it_can_be_trusted():
    peak = matmul_peak("cpu", min_seconds=0.05, max_seconds=0.3).values()
    assert peak["matmul_peak_noisy"] in (0, 1)
    assert peak["matmul_peak_noisy_reason"].startswith(("steady", "noisy"))
    assert peak["matmul_peak_stalls"] >= 0 and peak["matmul_peak_rel_iqr"] >= 0
    assert peak["matmul_peak_threads"] == torch.get_num_threads()
    assert peak["matmul_peak_load_avg_1m"] >= 0
    assert peak["matmul_peak_cpu_util"] is None or peak["matmul_peak_cpu_util"] >= 0


# The conditions of a window whose threads had their cores on a quiet 2-core machine.
QUIET = WindowConditions(
    torch_threads=2,
    torch_interop_threads=1,
    load_avg_1m_before=1.0,
    load_avg_1m_after=None,
    cpu_util_timed=1.9,
)


def test_matmul_peak_is_timed_by_the_same_rule(monkeypatch):
    seen = {}

    def fake_time_calls(fn, **kwargs):
        seen.update(kwargs)
        stats = LatencyStats(10.0, 9.0, 14.0, 3.0, 10.5, 8.0, 30.0, 0.2, rel_iqr=0.3, stalls=2)
        conditions = dataclasses.replace(QUIET, load_avg_1m_before=2.5, cpu_util_timed=0.9)
        return Timing("perf_counter", 3, [10.0] * 5, 0.05, stats, True, "noisy: ...", conditions)

    monkeypatch.setattr(timing, "time_calls", fake_time_calls)
    peak = matmul_peak("cpu", min_seconds=0.1, max_seconds=0.4, max_rel_iqr=0.02)
    assert (seen["min_seconds"], seen["max_seconds"], seen["max_rel_iqr"]) == (0.1, 0.4, 0.02)
    assert peak.tflops == pytest.approx(2 * 1024**3 / 0.01 / 1e12)
    values = peak.values()
    assert values["matmul_peak_tflops"] == peak.tflops
    assert (values["matmul_peak_noisy"], values["matmul_peak_stalls"]) == (1, 2)
    assert values["matmul_peak_noisy_reason"] == "noisy: ..."
    assert (values["matmul_peak_threads"], values["matmul_peak_cpu_util"]) == (2, 0.9)
    assert values["matmul_peak_load_avg_1m"] == 2.5  # the one load average there was


def test_a_timing_short_of_cores_is_noisy(monkeypatch):
    stats, _ = scripted(monkeypatch, itertools.repeat(10.0), load=3.0, min_seconds=0.2)
    assert stats["latency_rel_iqr"] == pytest.approx(0, abs=1e-9)  # steady, but...
    assert stats["cpu_util_timed"] < 0.75 * stats["torch_threads"]  # the calls used no CPU
    assert stats["latency_noisy"] == 1
    assert stats["latency_noisy_reason"].startswith("noisy: short of cores: ")
    assert "load average of 3.00 on 2 usable cores" in stats["latency_noisy_reason"]


@pytest.mark.parametrize(
    ("change", "short"),
    [
        ({}, False),
        ({"cpu_util_timed": 1.0}, False),  # few threads busy on a quiet machine: serial stretches
        ({"load_avg_1m_after": 3.5}, False),  # a busy machine, but the threads had their cores
        ({"cpu_util_timed": 1.0, "load_avg_1m_after": 3.5}, True),
        ({"cpu_util_timed": 1.0, "load_avg_1m_before": 2.5}, True),
        ({"cpu_util_timed": 1.5, "load_avg_1m_before": 2.5}, False),  # 75% of 2 threads
        ({"cpu_util_timed": None, "load_avg_1m_before": 9.0}, False),  # a window too short
        ({"cpu_util_timed": 0.1, "load_avg_1m_before": None}, False),  # no load average
    ],
)
def test_short_of_cores_needs_idle_threads_and_a_load_above_the_cores(change, short):
    reason = timing.short_of_cores(dataclasses.replace(QUIET, **change), usable_cores=2)
    assert (reason is not None) == short
    if short:
        assert reason.startswith("short of cores: 1.00 of 2 threads busy (under 75%)")


STEADY_PEAK = {
    "mfu": 0.3,
    "matmul_peak_noisy": 0,
    "matmul_peak_load_avg_1m": 1.0,
    "matmul_peak_cpu_util": 1.9,
    "matmul_peak_threads": 2,
}


@pytest.mark.parametrize(
    ("change", "device", "suspect", "why"),
    [
        ({}, "cpu", 0, "steady, with its cores"),
        ({"matmul_peak_noisy": 1}, "cpu", 1, "timing was noisy"),
        ({"matmul_peak_load_avg_1m": 2.5}, "cpu", 1, "load average 2.50 over the 2 usable"),
        ({"matmul_peak_load_avg_1m": 2.0}, "cpu", 0, "steady"),  # at the core count: not over
        ({"matmul_peak_cpu_util": 1.4}, "cpu", 1, "kept 1.40 of its 2 threads busy"),
        ({"matmul_peak_cpu_util": 1.5}, "cpu", 0, "steady"),  # 75% of 2 threads
        ({"mfu": 1.2}, "cpu", 1, "MFU of 120% is over 100%"),
        ({"matmul_peak_load_avg_1m": 9.0, "matmul_peak_cpu_util": 0.1}, "cuda", 0, "steady"),
        ({"matmul_peak_noisy": 1}, "cuda", 1, "timing was noisy"),
        ({"matmul_peak_load_avg_1m": None, "matmul_peak_cpu_util": None}, "cpu", 0, "steady"),
    ],
)
def test_the_mfu_suspect_rule(change, device, suspect, why):
    verdict = mfu_suspect(STEADY_PEAK | change, device, usable_cores=2)
    assert verdict["mfu_suspect"] == suspect
    assert why in verdict["mfu_suspect_reason"]


def test_no_mfu_no_verdict():
    assert mfu_suspect(STEADY_PEAK | {"mfu": None}, "cpu", usable_cores=2) == {}


def test_a_peak_without_its_conditions_is_not_called_steady():
    verdict = mfu_suspect({"mfu": 0.3, "matmul_peak_tflops": 1.0}, "cpu", usable_cores=2)
    assert verdict == {
        "mfu_suspect": 0,
        "mfu_suspect_reason": "the peak came without its conditions",
    }


def test_the_cuda_timing_and_memory_paths_run_with_torch_cuda_faked(monkeypatch):
    """The CUDA-only branches of time_calls and PeakMemory, which CI never runs for real, run
    through with torch.cuda's calls faked: each fake takes the real function's arguments (a renamed
    or misused call fails here, not on a GPU lease) and times every call at 2 ms."""
    import inspect

    from bench.measure import memory

    def faked(name: str, impl):
        signature = inspect.signature(getattr(torch.cuda, name))

        def checked(*args, **kwargs):
            signature.bind(*args, **kwargs)
            return impl(*args, **kwargs)

        monkeypatch.setattr(torch.cuda, name, checked)

    class FakeEvent:
        def __init__(self, enable_timing=False, blocking=False, interprocess=False):
            self.at = None

        def record(self, stream=None):
            self.at = len(calls)

        def synchronize(self):
            pass

        def elapsed_time(self, end_event):
            return 2.0 * (end_event.at - self.at)

    inspect.signature(torch.cuda.Event).bind(enable_timing=True)
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    for name in ("synchronize", "reset_peak_memory_stats", "empty_cache"):
        faked(name, lambda device=None: None)
    faked("memory_allocated", lambda device=None: 1 << 20)
    faked("max_memory_allocated", lambda device=None: 3 << 20)
    faked("max_memory_reserved", lambda device=None: 4 << 20)
    monkeypatch.setattr(memory, "nvml_used_bytes", lambda device: (None, "faked: no NVML"))
    calls = []

    probe = memory.PeakMemory("cuda")
    result = timing.time_calls(
        lambda: calls.append(1), device="cuda", warmup=2, min_repeats=5, min_seconds=0, window=probe
    )
    assert result.timer == "cuda_events" and result.warmup_iters == 2
    assert result.warmup_ms == [2.0, 2.0]  # by the timed calls' clock, CUDA events
    assert result.samples_ms == [2.0] * len(result.samples_ms) and len(result.samples_ms) >= 5
    assert probe.values == {
        "alloc_before_bytes": 1 << 20,
        "peak_alloc_bytes": 3 << 20,
        "peak_reserved_bytes": 4 << 20,
        "nvml_used_bytes": None,
        "nvml_used_reason": "faked: no NVML",
    }
