"""bench.measure.memory: the per-phase probes, OOM recognition and the largest-batch search."""

import mmap

import pytest
import torch

from bench.measure.memory import PeakMemory, current_rss, max_batch, rss_added

MiB = 1 << 20


def touch_fresh_pages(size: int) -> None:
    """Make `size` bytes resident and free them again. An anonymous mapping gives pages no earlier
    test can have left in malloc's free lists, so the resident set must grow by `size`."""
    block = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        block[offset] = 1
    block.close()


def test_cpu_probe_sees_a_phase_allocation():
    with PeakMemory("cpu") as probe:
        touch_fresh_pages(64 * MiB)
    values = probe.values
    assert values["peak_rss_scope"] in ("phase", "process")
    assert values["peak_rss_bytes"] - values["rss_before_bytes"] >= 48 * MiB


def test_cpu_probe_resets_between_phases():
    with PeakMemory("cpu") as first:
        touch_fresh_pages(96 * MiB)
    with PeakMemory("cpu") as second:
        pass
    if second.values["peak_rss_scope"] != "phase":
        pytest.skip("this kernel does not let a process reset its peak RSS")
    assert second.values["peak_rss_bytes"] < first.values["peak_rss_bytes"] - 48 * MiB
    assert current_rss() > 0


def test_rss_added_is_the_phase_over_the_process_after_build():
    after_build = current_rss()
    with PeakMemory("cpu") as probe:
        touch_fresh_pages(64 * MiB)
    if probe.values["peak_rss_scope"] != "phase":
        pytest.skip("this kernel does not let a process reset its peak RSS")
    added = rss_added(probe.values, after_build)["rss_added_bytes"]
    assert 48 * MiB <= added < probe.values["peak_rss_bytes"]


def test_rss_added_says_why_it_has_no_number():
    process_wide = {"peak_rss_bytes": 10 * MiB, "peak_rss_scope": "process"}
    for peak, after_build in ((process_wide, MiB), (process_wide | {"peak_rss_bytes": None}, MiB)):
        result = rss_added(peak, after_build)
        assert result["rss_added_bytes"] is None and result["rss_added_reason"]
    result = rss_added({"peak_rss_bytes": 10 * MiB, "peak_rss_scope": "phase"}, None)
    assert result["rss_added_bytes"] is None and "/proc" in result["rss_added_reason"]


def oom_above(limit: int, calls: list):
    def fits(batch: int):
        calls.append(batch)
        if batch > limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory at batch {batch}")

    return fits


@pytest.mark.parametrize("limit", [1, 2, 37, 64, 1000])
def test_max_batch_finds_the_largest_fitting_batch(limit):
    calls = []
    result = max_batch(oom_above(limit, calls), device="cpu", start=1, limit=4096)
    assert result["max_batch"] == limit
    assert not result["max_batch_capped"]
    assert [b for b, _ in result["max_batch_trials"]] == calls
    assert len(calls) <= 2 * 12 + 1  # doubling then bisection: logarithmic


def test_max_batch_when_nothing_fits_or_everything_does():
    assert max_batch(oom_above(0, []), device="cpu", start=4)["max_batch"] == 0
    result = max_batch(oom_above(10**9, []), device="cpu", start=3, limit=100)
    assert (result["max_batch"], result["max_batch_capped"]) == (100, True)


def test_max_batch_passes_other_errors_through():
    def broken(batch):
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError, match="not a memory problem"):
        max_batch(broken, device="cpu")


@pytest.mark.gpu
def test_cuda_probe_sees_a_phase_allocation():
    with PeakMemory("cuda") as probe:
        block = torch.empty(256 * MiB, dtype=torch.uint8, device="cuda")
        del block
    values = probe.values
    assert values["peak_alloc_bytes"] - values["alloc_before_bytes"] >= 256 * MiB
    assert values["peak_reserved_bytes"] >= values["peak_alloc_bytes"]
    assert values["nvml_used_bytes"] is None or values["nvml_used_bytes"] > 256 * MiB


@pytest.mark.gpu
def test_max_batch_on_cuda_for_real():
    """Allocations of 1 GiB per batch element: the search stops below the card's memory."""
    free, total = torch.cuda.mem_get_info()

    def fits(batch):
        block = torch.empty(batch, 1 << 30, dtype=torch.uint8, device="cuda")
        del block

    result = max_batch(fits, device="cuda", start=1, limit=1024)
    assert 0 < result["max_batch"] <= total // (1 << 30)
    assert not result["max_batch_capped"]
