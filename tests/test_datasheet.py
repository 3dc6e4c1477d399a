"""bench.datasheet: the data-sheet dense peaks, their lookup by device name, and the data-sheet MFU
that the report derives for records written before cells recorded it (the first H200 check)."""

import dataclasses
import math

import pytest
from helpers import load_script

from bench import datasheet
from bench.cell import DTYPES, Cell
from bench.record import Record
from reports import load


@pytest.mark.parametrize(
    ("name", "dtype", "tflops", "model"),
    [
        ("NVIDIA H200", "bf16", 989.4, "H200 SXM"),  # the name torch gave on the project's H200
        ("NVIDIA H100 80GB HBM3", "bf16", 989.4, "H100 SXM"),
        ("NVIDIA H100 80GB HBM3", "tf32", 494.7, "H100 SXM"),
        ("NVIDIA H100 80GB HBM3", "fp32", 66.9, "H100 SXM"),
        ("NVIDIA H100 PCIe", "fp16", 756.0, "H100 PCIe"),
        ("NVIDIA A100-SXM4-80GB", "tf32", 156.0, "A100"),
        ("NVIDIA A100 80GB PCIe", "bf16", 312.0, "A100"),
        ("A100-SXM4-40GB", "fp32", 19.5, "A100"),  # older drivers leave out "NVIDIA "
        ("NVIDIA L40S", "bf16", 362.05, "L40S"),
    ],
)
def test_known_gpus_give_their_dense_peak_and_its_source(name, dtype, tflops, model):
    found = datasheet.datasheet_peak("cuda", name, dtype)
    assert found.found and found.reason is None
    assert found.peak_tflops == tflops
    assert "datasheet" in found.source and f"{model}, {dtype} dense" in found.source
    assert found.values() == {
        "datasheet_peak_tflops": tflops,
        "datasheet_peak_source": found.source,
    }


@pytest.mark.parametrize(
    "name",
    [
        "NVIDIA H200 NVL",  # a lower peak than the H200 SXM its name contains: never guessed
        "NVIDIA A100-SXM4-40GB MIG 1g.5gb",  # a slice of the GPU
        "NVIDIA GeForce RTX 4090",
    ],
)
def test_a_gpu_the_table_lacks_is_named_not_guessed(name):
    missing = datasheet.datasheet_peak("cuda", name, "bf16")
    assert not missing.found and missing.peak_tflops is None and missing.source is None
    assert repr(name) in missing.reason and "not in the data-sheet table" in missing.reason
    assert missing.values() == {"mfu_datasheet_reason": missing.reason}


def test_a_cpu_and_an_unnamed_gpu_have_no_peak_with_a_reason():
    cpu = datasheet.datasheet_peak("cpu", "Intel Xeon", "fp32")
    assert not cpu.found and "CPU" in cpu.reason
    unnamed = datasheet.datasheet_peak("cuda", None, "bf16")
    assert not unnamed.found and "name was not recorded" in unnamed.reason


def test_unknown_dtypes_and_devices_are_refused():
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        datasheet.datasheet_peak("cuda", "NVIDIA H200", "int8")
    with pytest.raises(ValueError, match="unknown device type 'mps'"):
        datasheet.datasheet_peak("mps", "Apple M2", "fp32")
    with pytest.raises(ValueError, match="a peak and its source, or only a reason"):
        datasheet.Lookup(989.4)


def test_every_row_covers_every_dtype_and_no_name_is_claimed_twice():
    for gpu in datasheet.GPUS:
        assert set(gpu.dense_tflops) == set(DTYPES) and gpu.source
        # bf16 and fp16 share the Tensor Cores' 16-bit rate; FP32 without TF32 is far below.
        assert gpu.dense_tflops["bf16"] == gpu.dense_tflops["fp16"]
        assert gpu.dense_tflops["fp32"] < gpu.dense_tflops["tf32"] < gpu.dense_tflops["bf16"]
    with pytest.raises(ValueError, match="names both"):
        datasheet._by_name((datasheet.GPUS[0], datasheet.GPUS[0]))
    with pytest.raises(ValueError, match="must cover the dtypes"):
        datasheet.DatasheetGpu("X", ("X",), {"bf16": 1.0}, "a sheet")


def timed_record(cell_id: str, gpu_name: str | None, **values) -> Record:
    cell = Cell.from_id(cell_id)
    env = {"device": cell.device} | ({"gpu": {"name": gpu_name}} if gpu_name else {})
    return Record.from_json(
        {
            "schema": 2,
            "run": {"id": "run-a", "suite": "gpu-check", "started": "2026-11-30T15:54:40+00:00"},
            "cell": cell.as_dict(),
            "settings": {},
            "model": None,
            "env": env,
            "status": "ok",
            "values": values,
            "details": {},
            "error": None,
        }
    )


H200_TRAIN = "rin-in256.r256.b32.bf16.train_step.eager.cuda"


def test_the_report_derives_the_data_sheet_mfu_of_an_older_h200_record():
    # As the first H200 check recorded it: achieved TFLOP/s and the measured-peak MFU only.
    older = timed_record(H200_TRAIN, "NVIDIA H200", achieved_tflops=272.8, mfu=0.409)
    row = load.frame([older]).iloc[0]
    assert row["mfu_datasheet"] == pytest.approx(272.8 / 989.4)
    assert row["datasheet_peak_tflops"] == 989.4 and row["mfu"] == pytest.approx(0.409)
    assert datasheet.mfu_of(older) == pytest.approx(272.8 / 989.4)


def test_a_recorded_data_sheet_mfu_is_kept_as_recorded():
    newer = timed_record(
        H200_TRAIN,
        "NVIDIA H200",
        achieved_tflops=272.8,
        mfu_datasheet=0.3,
        datasheet_peak_tflops=1.0,
    )
    assert datasheet.derived_for(newer) == {}
    assert load.frame([newer]).iloc[0]["mfu_datasheet"] == 0.3


def test_a_cpu_record_or_an_unknown_gpu_gets_no_data_sheet_mfu_and_no_error():
    cpu = timed_record("rin-tiny.r16.b4.fp32.forward.eager.cpu", None, achieved_tflops=0.0075)
    unknown = timed_record(H200_TRAIN, "NVIDIA H200 NVL", achieved_tflops=272.8)
    unnamed = timed_record(H200_TRAIN, None, achieved_tflops=272.8)
    for record in (cpu, unknown, unnamed):
        assert datasheet.derived_for(record) == {} and datasheet.mfu_of(record) is None
    frame = load.frame([cpu, unknown, unnamed])
    assert "mfu_datasheet" not in frame or frame["mfu_datasheet"].isna().all()
    with_h200 = load.frame([cpu, timed_record(H200_TRAIN, "NVIDIA H200", achieved_tflops=98.94)])
    assert math.isnan(with_h200["mfu_datasheet"].iloc[0])
    assert with_h200["mfu_datasheet"].iloc[1] == pytest.approx(0.1)


def test_the_gpu_check_summary_gives_the_targets_over_both_peaks():
    summary = load_script("benchmarks/gpu/summary.py")
    cell_id = "dit-xl-2.r256.b64.bf16.train_step.compile.cuda"
    # 354.1 TFLOP/s: 53.0% of the run's 668 measured, 44.8% of the 790 yardstick, 35.8% of 989.4.
    record = timed_record(cell_id, "NVIDIA H200", achieved_tflops=354.1, mfu=0.530)
    lines = summary._targets({cell_id: record})
    assert "| MFU (run's peak) | MFU (yardstick) | MFU (data sheet) |" in lines[4]
    row = next(line for line in lines if line.startswith(f"| {cell_id} "))
    assert "| 53.0% | 44.8% | 35.8% | 50.0% | no | no |" in row


def test_the_gpu_check_summary_judges_each_target_at_its_fastest_lever():
    """A lever twin faster than its plain cell is the one the targets are judged on; a plain cell
    that ran out of memory leaves its lever twin (the norms in bf16) to be judged alone."""
    summary = load_script("benchmarks/gpu/summary.py")
    rin = "rin-in256.r256.b32.bf16.train_step.eager.cuda"
    adm = "adm-in256.r256.b16.bf16.train_step.eager.cuda"
    plain = {rin: timed_record(rin, "NVIDIA H100 80GB HBM3", achieved_tflops=300.0)}
    plain[adm] = dataclasses.replace(
        timed_record(adm, "NVIDIA H100 80GB HBM3"), status="oom", error="CUDA out of memory"
    )
    flash = timed_record(rin, "NVIDIA H100 80GB HBM3", achieved_tflops=360.0)
    flash = dataclasses.replace(flash, settings={"sdpa_backend": "flash", "fused_optimizer": True})
    norms = timed_record(adm, "NVIDIA H100 80GB HBM3", achieved_tflops=280.0)
    norms = dataclasses.replace(norms, settings={"low_precision_norms": True})
    levered = {"norms": {adm: norms}, "levers": {rin: flash}, "memory": {}}
    lines = summary._best_with_levers(plain, levered)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    # 360 / 790 = 45.6% over the yardstick, 36.4% over 989.4: the RIN target (45%) met on one only.
    assert (
        "| levers: sdpa_backend=flash, fused_optimizer=True | 45.6% | 36.4% | 45.0% | yes | no |"
        in rows[rin]
    )
    assert "| norms: low_precision_norms=True | 35.4% |" in rows[adm]
    assert "| none timed |" in rows["dit-xl-2.r256.b64.bf16.train_step.eager.cuda"]
