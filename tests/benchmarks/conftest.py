"""pytest-benchmark set-up: the hardware a timing depends on goes into every saved run's machine_info,
and a comparison against a run from other hardware stops instead of gating on it.

pytest-benchmark's own machine_info names the CPU and Python but no GPU, driver or CUDA, and its
storage key (`Linux-CPython-3.11-64bit`) is the same on every Linux machine; by default a comparison
across machines only warns (ionelmc/pytest-benchmark, src/pytest_benchmark/plugin.py:
`pytest_benchmark_generate_machine_info`, `pytest_benchmark_compare_machine_info`; utils.py:
`get_machine_id`). `rinbench compare` compares timings only between records of the same device
model; this is the same rule for pytest-benchmark.
"""

from __future__ import annotations

import os

import pytest
import torch

from bench.measure.hardware import cpu_model, gpu_state

# Fields of bench.measure.hardware.gpu_state that do not change while a machine stays the same
# (clocks, temperature and memory in use do, and would make every saved run look foreign).
GPU_FIELDS = ("name", "compute_capability", "total_memory_bytes", "driver", "cuda_driver_version")


def hardware_facts() -> dict:
    """CPU, GPU (name, driver, CUDA), torch; "fingerprint" is what two runs must share to compare."""
    cpu = f"{cpu_model()} ({os.cpu_count()} cpus)"
    facts = {
        "cpu": cpu,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "gpu": None,
        "gpu_count": 0,
    }
    if torch.cuda.is_available():
        state = gpu_state("cuda")
        facts["gpu"] = {key: state["gpu"].get(key) for key in GPU_FIELDS} | {"nvml": state["nvml"]}
        facts["gpu_count"] = torch.cuda.device_count()
    gpu = f"{facts['gpu_count']}x {facts['gpu']['name']}" if facts["gpu"] else "no GPU"
    facts["fingerprint"] = f"{cpu}; {gpu}"
    return facts


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["rinbench"] = hardware_facts()


def pytest_benchmark_compare_machine_info(
    config, benchmarksession, machine_info, compared_benchmark
):
    saved = (compared_benchmark["machine_info"].get("rinbench") or {}).get("fingerprint")
    here = machine_info["rinbench"]["fingerprint"]
    if saved is None:
        benchmarksession.logger.warning(
            "the saved run records no rinbench hardware fingerprint; comparing without checking it"
        )
    elif saved != here:
        raise pytest.UsageError(
            f"the saved benchmark run was measured on {saved!r}, this machine is {here!r}: timings "
            "compare only on the same hardware. Keep one --benchmark-storage per machine type, or "
            "save a run here first (--benchmark-autosave)."
        )
