"""NVML (package nvidia-ml-py, module `pynvml`), optional: every failure becomes a reason string.

Without a driver `import pynvml` works and `nvmlInit()` raises NVMLError_LibraryNotFound (nvidia-ml-py's
pynvml.py, which loads libnvidia-ml.so.1 only in nvmlInit), so both the import and the init are guarded,
and so is every query:
a GPU may answer NotSupported or NoPermission for single fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any


@contextmanager
def nvml_session() -> Iterator[tuple[Any, str | None]]:
    """Yield (pynvml, None) with NVML initialised, or (None, reason) when it cannot be used.
    NVML's init is reference-counted, so sessions may nest; each one shuts down what it opened."""
    try:
        import pynvml
    except ImportError as err:
        yield None, f"nvidia-ml-py not importable: {err}"
        return
    try:
        pynvml.nvmlInit()
    except Exception as err:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        yield None, f"nvmlInit failed: {type(err).__name__}: {err}"
        return
    try:
        yield pynvml, None
    finally:
        # If the driver went away there is nothing left to shut down; the readings are taken.
        with suppress(Exception):
            pynvml.nvmlShutdown()


def query(function: Callable, *args) -> tuple[Any, str | None]:
    """(value, None), or (None, reason) when NVML refuses (NotSupported, NoPermission, GpuIsLost, ...)."""
    try:
        value = function(*args)
    except Exception as err:
        return None, f"{getattr(function, '__name__', 'query')}: {type(err).__name__}: {err}"
    return (value.decode() if isinstance(value, bytes) else value), None


def handle_for(pynvml, device_index: int) -> tuple[Any, str | None]:
    """The NVML handle of CUDA device `device_index`, matched by UUID: NVML numbers devices in PCI
    order, CUDA by speed unless CUDA_DEVICE_ORDER=PCI_BUS_ID, and CUDA_VISIBLE_DEVICES renumbers them."""
    import torch

    uuid = str(torch.cuda.get_device_properties(device_index).uuid)
    # torch prints the bare UUID; NVML wants it with its "GPU-" (or "MIG-") prefix.
    candidates = [uuid] if uuid.startswith(("GPU-", "MIG-")) else [f"GPU-{uuid}", f"MIG-{uuid}"]
    reasons = []
    for candidate in candidates:
        handle, reason = query(pynvml.nvmlDeviceGetHandleByUUID, candidate)
        if handle is not None:
            return handle, None
        reasons.append(reason)
    return None, f"no NVML device with the UUID of cuda:{device_index} ({'; '.join(reasons)})"
