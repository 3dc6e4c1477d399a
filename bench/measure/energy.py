"""GPU energy over a timed window, from NVML's total-energy counter (Volta and newer).

The counter (mJ since the driver loaded) updates every 20-100 ms, so a window shorter than about 1 s
is mostly rounding (the update period PETSc's documentation of its NVML energy logging gives; NVIDIA's
NVML API reference, nvmlDeviceGetTotalEnergyConsumption); such windows give None with the reason. The counter
covers the whole physical GPU: other processes on it, or MIG neighbours, are counted too.
"""

from __future__ import annotations

import time

import torch

from bench.measure.nvml import handle_for, nvml_session, query

MIN_WINDOW_S = 1.0


class EnergyMeter:
    """Context manager around a window whose ends the caller synchronises (`time_calls` does).
    After exit, `.values` holds energy_j, energy_window_s and avg_power_w, or None for each with
    energy_reason saying why."""

    def __init__(self, device: str | torch.device):
        self.device = torch.device(device)
        self.values: dict = {}
        self._session = None

    def __enter__(self):
        self._start_mj = None
        self._reason = None
        if self.device.type != "cuda":
            self._reason = "no energy counter: NVML measures GPUs and the cell runs on the CPU"
            return self
        self._session = nvml_session()
        self._pynvml, reason = self._session.__enter__()
        if self._pynvml is None:
            self._reason = reason
            return self
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        self._handle, reason = handle_for(self._pynvml, index)
        if self._handle is None:
            self._reason = reason
            return self
        self._start_mj, self._reason = self._read()
        self._start_s = time.perf_counter()
        return self

    def _read(self) -> tuple[int | None, str | None]:
        return query(self._pynvml.nvmlDeviceGetTotalEnergyConsumption, self._handle)

    def __exit__(self, *exc_info):
        try:
            if self._start_mj is None:
                self.values = _unavailable(self._reason)
                return False
            end_mj, reason = self._read()
            window_s = time.perf_counter() - self._start_s
            if end_mj is None:
                self.values = _unavailable(reason)
            elif window_s < MIN_WINDOW_S:
                self.values = _unavailable(
                    f"window of {window_s:.2f} s is shorter than {MIN_WINDOW_S} s: "
                    "NVML's counter updates every 20-100 ms"
                )
            else:
                joules = (end_mj - self._start_mj) / 1e3
                self.values = {
                    "energy_j": joules,
                    "energy_window_s": window_s,
                    "avg_power_w": joules / window_s,
                    "energy_reason": None,
                }
        finally:
            if self._session is not None:
                self._session.__exit__(None, None, None)
                self._session = None
        return False


def _unavailable(reason: str | None) -> dict:
    return {"energy_j": None, "energy_window_s": None, "avg_power_w": None, "energy_reason": reason}


def joules_per_image(energy: dict, images: int) -> float | None:
    """Energy of the window divided by the images processed in it (timed calls x images per call)."""
    return energy["energy_j"] / images if energy.get("energy_j") is not None else None
