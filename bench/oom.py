"""Whether an exception is an out-of-memory failure: the one rule for every place that asks.

The worker files a failed cell as "oom" or "error" by it, `bench.measure.memory.max_batch` tells
"too big" from any other failure by it, and a compiled cell's first call tells an OOM from a failed
compile by it. One rule, so that the same failure cannot be an OOM to one of them and an error to
another.

Standard library only: torch's own OOM types are looked up in `sys.modules` (an exception of theirs
can exist only once torch is loaded), so the runner and the reports can import this without torch.
"""

from __future__ import annotations

import sys

# Failed allocations that surface as a plain RuntimeError (or inside a wrapper's message) rather than
# as an OOM type. Case matters: the allocators write these exactly so.
OOM_MESSAGES = (
    "out of memory",  # CUDA's caching allocator ("CUDA out of memory"), "CUDA error: out of memory"
    "can't allocate memory",  # the CPU allocator: "DefaultCPUAllocator: can't allocate memory"
    "STATUS_ALLOC_FAILED",  # cuDNN 8 and cuBLAS workspaces: CUDNN_/CUBLAS_STATUS_ALLOC_FAILED
    # cuDNN 9 (torch 2.11 and 2.14 ship 9.x) names a failed allocation only thus:
    # CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED, ..._HOST_ALLOCATION_FAILED.
    "_ALLOCATION_FAILED",
)

# Where one exception keeps the one it wraps: Python's chain (`raise ... from`, an error raised
# while handling another) and torch._dynamo's BackendCompilerFailed, which torch.compile raises
# with the backend's error in `inner_exception`.
WRAPPED_ATTRIBUTES = ("__cause__", "__context__", "inner_exception")


def is_out_of_memory(exc: BaseException | None) -> bool:
    """True when `exc`, or any exception it wraps, is an out-of-memory failure: torch's
    OutOfMemoryError (CUDA), Python's MemoryError (the host), or an error whose message is an
    allocator's (OOM_MESSAGES: the CPU allocator, cuDNN's and cuBLAS's failed workspaces)."""
    oom_types = (MemoryError, *_torch_oom_types())
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:  # a chain may loop back on itself
            continue
        seen.add(id(current))
        if isinstance(current, oom_types):
            return True
        if any(message in str(current) for message in OOM_MESSAGES):
            return True
        pending.extend(getattr(current, name, None) for name in WRAPPED_ATTRIBUTES)
    return False


def _torch_oom_types() -> tuple[type[BaseException], ...]:
    torch = sys.modules.get("torch")  # not loaded: no exception of torch's can exist
    if torch is None:
        return ()
    found = (
        getattr(torch, "OutOfMemoryError", None),
        getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None),
    )
    return tuple(t for t in found if isinstance(t, type))
