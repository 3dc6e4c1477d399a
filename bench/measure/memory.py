"""Peak memory of a phase, and the largest batch that fits.

CUDA: torch's allocator peaks (allocated = live tensors, reserved = what the caching allocator holds),
reset when the probe opens; NVML's device view adds the CUDA context and other processes (about 0.7 GB
more than `max_memory_reserved`, measured on an H100 80GB with `nvmlDeviceGetMemoryInfo` v2).
CPU: the process's peak resident set (VmHWM), reset through /proc/self/clear_refs where Linux allows it,
else the peak since the process started, labelled as such. The process peak includes the Python
interpreter and torch's libraries (hundreds of MB, even for a tiny model), so `rss_added` gives the
part a phase adds over the process as it was right after the model was built.
"""

from __future__ import annotations

import gc
import re
import resource
from collections.abc import Callable

import torch

from bench.measure.nvml import handle_for, nvml_session, query
from bench.oom import is_out_of_memory


def free_memory(device: torch.device) -> None:
    """After a CUDA OOM: collect the failed step's garbage and return cached blocks to the driver.
    (A CPU that runs out of memory kills the process instead, so there is nothing to do there.)"""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


class PeakMemory:
    """Context manager measuring one phase. After exit, `.values` holds for CUDA peak_alloc_bytes,
    peak_reserved_bytes, alloc_before_bytes (resident when the probe opened: weights, optimizer
    state, inputs) and nvml_used_bytes (device view at the end; None + nvml_used_reason without
    NVML); for CPU peak_rss_bytes, rss_before_bytes and peak_rss_scope ("phase" or "process")."""

    def __init__(self, device: str | torch.device):
        self.device = torch.device(device)
        self.values: dict = {}

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.values = {"alloc_before_bytes": torch.cuda.memory_allocated(self.device)}
        else:
            scope = "phase" if reset_peak_rss() else "process"
            self.values = {"rss_before_bytes": current_rss(), "peak_rss_scope": scope}
        return self

    def __exit__(self, *exc_info):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.values |= {
                "peak_alloc_bytes": torch.cuda.max_memory_allocated(self.device),
                "peak_reserved_bytes": torch.cuda.max_memory_reserved(self.device),
            }
            used, reason = nvml_used_bytes(self.device)
            self.values |= {"nvml_used_bytes": used, "nvml_used_reason": reason}
        else:
            self.values["peak_rss_bytes"] = peak_rss()
        return False


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def current_rss() -> int | None:
    kib = _proc_status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss() -> int:
    """Peak resident set in bytes: VmHWM (resettable) or, without /proc, getrusage's lifetime peak."""
    kib = _proc_status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write "5" to /proc/self/clear_refs).
    False where not permitted; the peak then covers the whole process."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def rss_added(peak: dict, rss_after_build: int | None) -> dict:
    """rss_added_bytes: the phase's peak resident set (`PeakMemory(cpu).values`) minus the RSS right
    after the model was built: activations, gradients, optimizer state and inputs, without the
    interpreter, the libraries and the weights. None with rss_added_reason where the peak is not the
    phase's own (it then covers the whole process) or the RSS could not be read."""
    if rss_after_build is None or peak.get("peak_rss_bytes") is None:
        return {"rss_added_bytes": None, "rss_added_reason": "no resident-set reading (/proc)"}
    if peak.get("peak_rss_scope") != "phase":
        return {
            "rss_added_bytes": None,
            "rss_added_reason": "the peak could not be reset (/proc/self/clear_refs): it covers "
            "the whole process, not the phase",
        }
    return {"rss_added_bytes": peak["peak_rss_bytes"] - rss_after_build}


def nvml_used_bytes(device: torch.device) -> tuple[int | None, str | None]:
    index = device.index if device.index is not None else torch.cuda.current_device()
    with nvml_session() as (pynvml, reason):
        if pynvml is None:
            return None, reason
        handle, reason = handle_for(pynvml, index)
        if handle is None:
            return None, reason
        info, reason = query(pynvml.nvmlDeviceGetMemoryInfo, handle)
        return (info.used if info is not None else None), reason


def max_batch(
    fits: Callable[[int], object],
    *,
    device: str | torch.device = "cuda",
    start: int = 1,
    limit: int = 1 << 16,
) -> dict:
    """The largest batch b in [1, limit] for which `fits(b)` runs without running out of memory:
    double from `start` until a failure, then bisect between the last success and the failure.
    Errors other than OOM propagate. Assumes memory grows with the batch.

    Returns max_batch (0 when not even batch 1 fits), max_batch_trials [[batch, fitted], ...],
    max_batch_limit and max_batch_capped (True when `limit` itself fitted: the true maximum may be
    larger).
    """
    if not 1 <= start <= limit:
        raise ValueError(f"need 1 <= start <= limit, got start={start}, limit={limit}")
    device = torch.device(device)
    trials: list[list] = []

    def try_batch(batch: int) -> bool:
        oom = False
        try:
            fits(batch)
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            oom = True  # free outside the except block: its traceback pins the failed tensors
        if oom:
            free_memory(device)
        trials.append([batch, not oom])
        return not oom

    good, bad = 0, None
    batch = start
    while True:
        if try_batch(batch):
            good = batch
            if batch == limit:
                break
            batch = min(2 * batch, limit)
        else:
            bad = batch
            break
    while bad is not None and bad - good > 1:
        middle = (good + bad) // 2
        if try_batch(middle):
            good = middle
        else:
            bad = middle
    return {
        "max_batch": good,
        "max_batch_trials": trials,
        "max_batch_limit": limit,
        "max_batch_capped": bad is None,
    }
