"""bench.measure.timing: statistics on a known sleep, the repeat rules, throughput and MFU."""

import os
import random
import time

import numpy as np
import pytest
import torch

from bench.measure.timing import latency_stats, matmul_peak, throughput, time_calls


def test_a_known_sleep():
    """A 20 ms sleep: every sample is at least 20 ms, and the median is close (the OS may wake a
    loaded CI machine late, hence the generous upper bound)."""
    stats = time_calls(lambda: time.sleep(0.02), warmup=1, min_repeats=8, min_seconds=0.0)
    assert stats["timer"] == "perf_counter"
    assert stats["timed_iters"] == 8 == len(stats["latency_ms_samples"])
    assert stats["latency_ms_min"] >= 20.0
    assert 20.0 <= stats["latency_ms_median"] < 35.0
    assert stats["latency_ms_p10"] <= stats["latency_ms_median"] <= stats["latency_ms_p90"]
    assert stats["latency_ms_iqr"] >= 0
    assert stats["latency_cv"] < 0.5


def test_repeats_until_both_minimums():
    stats = time_calls(lambda: time.sleep(0.002), warmup=0, min_repeats=3, min_seconds=0.1)
    assert stats["timed_iters"] > 3  # the 0.1 s minimum needs ~50 calls
    assert stats["timed_window_s"] >= 0.1


def test_warmup_calls_are_not_timed_and_the_window_excludes_them():
    calls = []

    class Window:
        def __enter__(self):
            calls.append("enter")

        def __exit__(self, *exc):
            calls.append("exit")

    stats = time_calls(
        lambda: calls.append("call"), warmup=2, min_repeats=3, min_seconds=0.0, window=Window()
    )
    assert calls == ["call", "call", "enter", "call", "call", "call", "exit"]
    assert (stats["warmup_iters"], stats["timed_iters"]) == (2, 3)


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
    stats = time_calls(lambda: busy(0.01), warmup=0, min_repeats=5, min_seconds=0.15)
    assert set(NEW_CONDITION_KEYS) <= set(stats)
    assert stats["torch_threads"] == torch.get_num_threads() >= 1
    assert stats["torch_interop_threads"] == torch.get_num_interop_threads() >= 1
    assert stats["load_avg_1m_before"] >= 0 and stats["load_avg_1m_after"] >= 0
    assert "load_avg_reason" not in stats
    # One Python thread spinning: about 1 busy core (less when the machine is shared).
    assert 0 < stats["cpu_util_timed"] <= os.cpu_count() + 0.5


def test_a_sleeping_call_uses_no_cpu():
    stats = time_calls(lambda: time.sleep(0.01), warmup=0, min_repeats=5, min_seconds=0.15)
    assert 0 <= stats["cpu_util_timed"] < 0.5


@pytest.mark.parametrize("missing", ["no_function", "unobtainable"])
def test_a_missing_load_average_is_none_with_a_reason(monkeypatch, missing):
    if missing == "no_function":  # not Unix
        monkeypatch.delattr(os, "getloadavg", raising=False)
    else:

        def unobtainable():
            raise OSError("load average unobtainable")

        monkeypatch.setattr(os, "getloadavg", unobtainable)
    stats = time_calls(lambda: None, warmup=0, min_repeats=2, min_seconds=0.0)
    assert stats["load_avg_1m_before"] is None and stats["load_avg_1m_after"] is None
    assert stats["load_avg_reason"].startswith("no load average")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="min_repeats"):
        time_calls(lambda: None, min_repeats=0)


def test_quantiles_match_numpy():
    rng = random.Random(0)
    values = [rng.random() for _ in range(37)]
    stats = latency_stats(values)
    assert stats["latency_ms_median"] == pytest.approx(np.quantile(values, 0.5))
    assert stats["latency_ms_p10"] == pytest.approx(np.quantile(values, 0.1))
    assert stats["latency_ms_p90"] == pytest.approx(np.quantile(values, 0.9))
    iqr = np.quantile(values, 0.75) - np.quantile(values, 0.25)
    assert stats["latency_ms_iqr"] == pytest.approx(iqr)
    assert stats["latency_ms_min"] == min(values) and stats["latency_ms_max"] == max(values)


def test_latency_stats_of_known_samples():
    stats = latency_stats([5.0, 1.0, 3.0, 2.0, 4.0])
    assert stats["latency_ms_median"] == 3.0
    assert stats["latency_ms_p10"] == pytest.approx(1.4)
    assert stats["latency_ms_p90"] == pytest.approx(4.6)
    assert stats["latency_ms_iqr"] == 2.0
    assert (stats["latency_ms_mean"], stats["latency_ms_min"], stats["latency_ms_max"]) == (3, 1, 5)
    assert stats["latency_cv"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1) / 3)
    assert latency_stats([2.0])["latency_cv"] is None


def test_throughput_and_mfu():
    out = throughput(50.0, images_per_call=32, flops_per_call=10e12, peak_tflops=800.0)
    assert out["images_per_s"] == pytest.approx(640.0)
    assert out["achieved_tflops"] == pytest.approx(200.0)
    assert out["mfu"] == pytest.approx(0.25)
    assert throughput(50.0, images_per_call=1)["mfu"] is None


def test_matmul_peak_on_cpu():
    peak = matmul_peak("cpu", min_seconds=0.05)
    assert peak["matmul_peak_dtype"] == "float32"
    assert peak["matmul_peak_n"] == 1024
    assert 1e-4 < peak["matmul_peak_tflops"] < 100


@pytest.mark.gpu
def test_cuda_events_agree_with_a_bare_event_loop():
    """The harness's median within 3% of a hand-written CUDA-event loop (issue 3's check)."""
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    stats = time_calls(lambda: a @ a, device="cuda", warmup=5, min_repeats=50, min_seconds=0.5)
    assert stats["timer"] == "cuda_events"
    bare = []
    for _ in range(50):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ a
        end.record()
        end.synchronize()
        bare.append(start.elapsed_time(end))
    assert stats["latency_ms_median"] == pytest.approx(float(np.median(bare)), rel=0.03)


@pytest.mark.gpu
def test_matmul_peak_on_cuda():
    peak = matmul_peak("cuda")
    assert peak["matmul_peak_dtype"] == "bfloat16"
    assert peak["matmul_peak_tflops"] > 10


def test_a_window_too_short_for_the_cpu_clocks_gets_no_ratio():
    stats = time_calls(lambda: None, warmup=0, min_repeats=3, min_seconds=0.0)
    assert stats["cpu_util_timed"] is None and "too short" in stats["cpu_util_reason"]
