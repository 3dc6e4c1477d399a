"""Data-sheet dense peaks per GPU model and precision: the MFU denominator the field publishes with.

rinbench records two MFUs for a timed cell. `mfu` divides the achieved model FLOP/s by the matmul
peak measured on the device in the same run (bench.measure.timing.matmul_peak); `mfu_datasheet`
divides it by the vendor's data-sheet dense peak for the cell's dtype, as published MFUs do
(torchtitan's docs/performance.md, nanoGPT PR #464, foundation-model-stack/fms-fsdp #89). In bf16
the measured peak is the lower (about 790 against 989.4 TFLOP/s on an H200), so the same run reads
as a higher `mfu` than `mfu_datasheet`; an fp32 cell's `mfu` is over the bf16 matmul peak, its
`mfu_datasheet` over the FP32 rate without TF32.

The table holds dense figures only. NVIDIA's data sheets headline Tensor Core rates "with
sparsity" (2:4 structured sparsity), twice the dense rate: 1,979 bf16 TFLOP/s for an H100 SXM is
989.4 dense. A dense model's FLOPs are counted dense, so the dense peak is the one to divide by.

A device is found by its exact name as torch (`torch.cuda.get_device_name`) and NVML report it;
a name the table lacks is never guessed from a similar one (an "H200 NVL" or a MIG slice has a
lower peak than the "H200" its name contains): the lookup says the table lacks it.

Standard library only: `reports/` derives `mfu_datasheet` for records written before the cells
recorded it, without torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bench.cell import DEVICES, DTYPES
from bench.record import Record, is_number
from bench.results import device_model

# The record keys this module writes: the first two are metrics (bench.metrics), the other two
# diagnostics (bench.record.is_diagnostic sends text and *_reason keys to a record's details).
MFU_KEY = "mfu_datasheet"
PEAK_KEY = "datasheet_peak_tflops"
SOURCE_KEY = "datasheet_peak_source"
REASON_KEY = "mfu_datasheet_reason"


@dataclass(frozen=True)
class DatasheetGpu:
    """One GPU model's dense peaks in TFLOP/s per cell dtype, and where they come from."""

    model: str  # what the data sheet calls it: "H100 SXM"
    names: tuple[str, ...]  # the device names torch and NVML report for it
    dense_tflops: Mapping[str, float]  # cell dtype (bench.cell.DTYPES) -> TFLOP/s
    source: str  # the vendor document the figures are from

    def __post_init__(self):
        if set(self.dense_tflops) != set(DTYPES):
            raise ValueError(
                f"{self.model}: the peaks must cover the dtypes {', '.join(DTYPES)}, "
                f"got {', '.join(self.dense_tflops)}"
            )
        for dtype, tflops in self.dense_tflops.items():
            if not is_number(tflops) or tflops <= 0:
                raise ValueError(f"{self.model}: the {dtype} peak must be positive, got {tflops!r}")
        if not self.names:
            raise ValueError(f"{self.model}: at least one device name is needed to find it")


def _peaks(fp32: float, tf32: float, half: float) -> dict[str, float]:
    """The cell dtypes' peaks: fp32 is FP32 without TF32 (CUDA cores: rinbench turns TF32 off for
    it, bench.measure.numerics), tf32 the TF32 Tensor Core rate, bf16 and fp16 the 16-bit one."""
    return {"fp32": fp32, "tf32": tf32, "bf16": half, "fp16": half}


# Dense (no sparsity) peaks. The data sheets print the Tensor Core rates with sparsity, marked
# "*"; the dense ones here are half of those. The H100's exact dense values (494.7, 989.4) are
# those of NVIDIA's H100 Tensor Core GPU Architecture whitepaper, which the data sheet rounds.
# fmt: off
GPUS: tuple[DatasheetGpu, ...] = (
    DatasheetGpu("H100 SXM", ("NVIDIA H100 80GB HBM3",), _peaks(66.9, 494.7, 989.4),
                 "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM (dense: the H100 Tensor Core GPU "
                 "Architecture whitepaper)"),
    DatasheetGpu("H100 PCIe", ("NVIDIA H100 PCIe",), _peaks(51.2, 378.0, 756.0),
                 "NVIDIA H100 Tensor Core GPU datasheet, H100 PCIe (dense: the H100 Tensor Core "
                 "GPU Architecture whitepaper)"),
    # The H200 SXM is the H100 SXM's GH100 at the same clocks with more and faster memory: its data
    # sheet gives the same rates (67 FP32, 989 TF32*, 1,979 BF16/FP16*). The H200 NVL does not.
    DatasheetGpu("H200 SXM", ("NVIDIA H200",), _peaks(66.9, 494.7, 989.4),
                 "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM (the H100 SXM's Tensor Core "
                 "peaks)"),
    # One column for every A100 in the data sheet: 40 and 80 GB, SXM and PCIe share the rates.
    DatasheetGpu("A100", ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-80GB",
                          "NVIDIA A100-PCIE-40GB", "NVIDIA A100 80GB PCIe"),
                 _peaks(19.5, 156.0, 312.0), "NVIDIA A100 Tensor Core GPU datasheet"),
    DatasheetGpu("L40S", ("NVIDIA L40S",), _peaks(91.6, 183.0, 362.05),
                 "NVIDIA L40S GPU datasheet"),
)
# fmt: on


def _normalised(name: str) -> str:
    """A device name without case, runs of spaces or the "NVIDIA " prefix (older drivers report
    an A100 as "A100-SXM4-40GB"): spelling, not a guess at another model."""
    return re.sub(r"\s+", " ", name).strip().casefold().removeprefix("nvidia ")


def _by_name(gpus: tuple[DatasheetGpu, ...]) -> dict[str, DatasheetGpu]:
    table: dict[str, DatasheetGpu] = {}
    for gpu in gpus:
        for name in gpu.names:
            key = _normalised(name)
            if key in table:
                raise ValueError(f"{name!r} names both {table[key].model} and {gpu.model}")
            table[key] = gpu
    return table


BY_NAME = _by_name(GPUS)


@dataclass(frozen=True)
class Lookup:
    """A data-sheet peak (`peak_tflops` with its `source`), or `reason` why there is none."""

    peak_tflops: float | None
    source: str | None = None
    reason: str | None = None

    def __post_init__(self):
        found = self.peak_tflops is not None and self.source is not None
        missing = self.peak_tflops is None and self.source is None and self.reason is not None
        if found == missing:
            raise ValueError("a lookup holds a peak and its source, or only a reason")

    @property
    def found(self) -> bool:
        return self.peak_tflops is not None

    def values(self) -> dict:
        """The keys a timed cell records: the peak and its source, or the reason."""
        if self.found:
            return {PEAK_KEY: self.peak_tflops, SOURCE_KEY: self.source}
        return {REASON_KEY: self.reason}


def datasheet_peak(device_type: str, device_name: str | None, dtype: str) -> Lookup:
    """The data-sheet dense peak of the device for a cell dtype (bench.cell.DTYPES), or why there
    is none: a CPU (no data-sheet figure in this table), a GPU without its name recorded, a GPU
    the table lacks. ValueError for a device type or dtype rinbench does not know."""
    if device_type not in DEVICES:
        raise ValueError(f"unknown device type {device_type!r}; known: {', '.join(DEVICES)}")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    if device_type == "cpu":
        return Lookup(
            None,
            reason="a CPU has no data-sheet peak in bench.datasheet: its MFU is over the measured "
            "matmul peak only",
        )
    if not device_name:
        return Lookup(None, reason="the GPU's name was not recorded")
    gpu = BY_NAME.get(_normalised(device_name))
    if gpu is None:
        return Lookup(
            None,
            reason=f"{device_name!r} is not in the data-sheet table (bench.datasheet.GPUS): "
            "add its dense peaks and their source there",
        )
    source = f"{gpu.source}: {gpu.model}, {dtype} dense"
    return Lookup(gpu.dense_tflops[dtype], source=source)


def mfu(achieved_tflops: float | None, peak_tflops: float | None) -> float | None:
    """Achieved model TFLOP/s over a data-sheet peak; None where either is missing."""
    if achieved_tflops is None or peak_tflops is None:
        return None
    if not (is_number(peak_tflops) and peak_tflops > 0):
        raise ValueError(f"a data-sheet peak must be positive, got {peak_tflops!r}")
    return achieved_tflops / peak_tflops


def derived_for(record: Record) -> dict:
    """For a record written before timed cells recorded `mfu_datasheet` (the first H200 check):
    {mfu_datasheet, datasheet_peak_tflops} from its achieved_tflops, the GPU named in its env and
    its dtype. Empty when the record has its own, or has no achieved TFLOP/s, or the device has no
    data-sheet peak (a CPU, a GPU the table lacks): the report then shows no data-sheet MFU."""
    values = record.values
    if is_number(values.get(MFU_KEY)) or not is_number(values.get("achieved_tflops")):
        return {}
    lookup = datasheet_peak(record.cell.device, device_model(record), record.cell.dtype)
    if not lookup.found:
        return {}
    achieved = values["achieved_tflops"]
    return {MFU_KEY: mfu(achieved, lookup.peak_tflops), PEAK_KEY: lookup.peak_tflops}


def mfu_of(record: Record) -> float | None:
    """The record's data-sheet MFU: its own, else the one `derived_for` gives it; None where there
    is none (a CPU, a GPU the table lacks, a cell without a FLOP count)."""
    recorded = record.values.get(MFU_KEY)
    if is_number(recorded):
        return recorded
    return derived_for(record).get(MFU_KEY)
