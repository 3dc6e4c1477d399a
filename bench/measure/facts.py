"""What a sweep knows of a device before it measures a cell, as typed objects: `DeviceFacts` (the
record's environment and the device's matmul peak) and `MatmulPeak` (the MFU denominator, with the
conditions it was timed under).

They travel typed from the runner (bench.devicefacts takes them once per run) through the worker's
request (bench.worker.WorkerRequest) to the measurement (bench.measure.cell.measure); JSON is only
their form on the way between processes: `DeviceFacts.to_json`, and `MatmulPeak.values`, the
matmul_peak_* keys a timed cell's record stores (bench.metrics declares them).

Standard library only: the runner, which never imports torch, reads and writes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

# Every stored key of the peak is this prefix and a field's name: matmul_peak_tflops, ...
PEAK_PREFIX = "matmul_peak_"


@dataclass(frozen=True)
class PeakConditions:
    """How far a measured matmul peak can be trusted (bench.measure.timing.mfu_suspect judges it):
    the spread and stalls of its timed calls, whether its timing ended noisy and why, torch's
    threads, the CPU use over its window and the higher load average of before and after it."""

    rel_iqr: float | None  # IQR / median of the calls without stalls; None under two samples
    stalls: int | None
    noisy: int | None  # 1 or 0
    noisy_reason: str | None  # None when read from a record's values: text goes to its details
    threads: int | None
    cpu_util: float | None  # the process's CPU time over the window's wall time
    load_avg_1m: float | None

    @classmethod
    def recorded_in(cls, values: Mapping) -> PeakConditions | None:
        """The conditions among the matmul_peak_* keys of `values` (a peak's own, or a timed
        cell's values, which hold them), or None for a peak that came without them."""
        if PEAK_PREFIX + "noisy" not in values:
            return None
        return cls(**{f.name: values.get(PEAK_PREFIX + f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class MatmulPeak:
    """The device's measured dense matmul throughput (bench.measure.timing.matmul_peak), the
    denominator of MFU: TFLOP/s over the median call of an n^3 matmul in `dtype`. `conditions` is
    None for a peak given without them (a test's, or one measured elsewhere)."""

    tflops: float
    dtype: str
    n: int
    conditions: PeakConditions | None = None

    def values(self) -> dict:
        """The stored keys, as a timed cell's record holds them: matmul_peak_tflops, _dtype, _n,
        then the conditions' (matmul_peak_rel_iqr, ...) where there are conditions."""
        fields = {"tflops": self.tflops, "dtype": self.dtype, "n": self.n}
        if self.conditions is not None:
            fields |= dataclasses.asdict(self.conditions)
        return {PEAK_PREFIX + name: value for name, value in fields.items()}

    @classmethod
    def from_values(cls, values: Mapping) -> MatmulPeak:
        """The peak from its stored keys (`values`); ValueError naming a missing one."""
        missing = [key for key in ("tflops", "dtype", "n") if PEAK_PREFIX + key not in values]
        if missing:
            raise ValueError(f"a matmul peak needs {', '.join(PEAK_PREFIX + k for k in missing)}")
        return cls(
            tflops=values[PEAK_PREFIX + "tflops"],
            dtype=values[PEAK_PREFIX + "dtype"],
            n=values[PEAK_PREFIX + "n"],
            conditions=PeakConditions.recorded_in(values),
        )


@dataclass(frozen=True)
class DeviceFacts:
    """One device's facts, taken once per run: its environment (bench.measure.hardware.environment,
    the record's `env`) and its matmul peak, or None where no timed cell needs one or its probe
    failed (then each timed cell measures its own, and `env["error"]` says what went wrong)."""

    env: dict
    peak: MatmulPeak | None = None

    def to_json(self) -> dict:
        return {"env": self.env, "peak": None if self.peak is None else self.peak.values()}

    @classmethod
    def from_json(cls, data: Mapping) -> DeviceFacts:
        peak = data.get("peak")
        return cls(data["env"], None if peak is None else MatmulPeak.from_values(peak))
