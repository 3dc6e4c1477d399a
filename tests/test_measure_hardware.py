"""bench.measure.hardware / nvml / energy: the environment of a record, with and without NVML."""

import json
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch
from helpers import optional_import

from bench.measure import hardware
from bench.measure.energy import EnergyMeter, joules_per_image
from bench.measure.hardware import environment, git_state
from bench.measure.nvml import nvml_session, query


def test_cpu_environment():
    env = environment("cpu")
    json.dumps(env)  # a record field: plain JSON
    assert env["python"].count(".") == 2
    assert env["torch"] == torch.__version__
    assert env["cpu_model"] and env["cpu_count"] >= 1
    assert set(env["numerics"]) >= {"tf32_matmul", "tf32_cudnn", "cudnn_benchmark"}
    assert env["gpu"] is None and env["nvml"].startswith("not queried")
    assert env["git_commit"] is None or len(env["git_commit"]) == 40
    assert (env["git_commit"] is None) == (env["git_reason"] is not None)


@pytest.fixture
def fake_cuda_device(monkeypatch):
    """torch answers as if one GPU were present (its NVML side is what the tests vary)."""
    props = SimpleNamespace(
        name="Fake GPU",
        uuid="01234567-89ab-cdef-0123-456789abcdef",
        major=9,
        minor=0,
        total_memory=80 << 30,
        multi_processor_count=132,
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91000)


def test_environment_without_nvidia_ml_py(monkeypatch, fake_cuda_device):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` now raises ImportError
    env = environment("cuda")
    assert env["gpu"]["name"] == "Fake GPU"
    assert env["gpu"]["compute_capability"] == "9.0"
    assert env["nvml"].startswith("unavailable: nvidia-ml-py not importable")
    json.dumps(env)


def test_environment_when_nvml_init_fails(monkeypatch, fake_cuda_device):
    pynvml = optional_import("pynvml")

    def no_driver():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    env = environment("cuda")
    assert env["gpu"]["name"] == "Fake GPU"
    assert env["nvml"].startswith("unavailable: nvmlInit failed")


def test_environment_with_nvml_queries_refused(monkeypatch, fake_cuda_device):
    """NVML initialises but the GPU refuses single queries: those fields are None, listed as errors."""
    pynvml = optional_import("pynvml")

    def refuse(*args):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByUUID", lambda uuid: "handle")
    monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", lambda: "580.159.04")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda handle: b"Fake GPU")
    for name in dir(pynvml):
        if name.startswith("nvmlDeviceGet") and name not in (
            "nvmlDeviceGetHandleByUUID",
            "nvmlDeviceGetName",
        ):
            monkeypatch.setattr(pynvml, name, refuse)
    env = environment("cuda")
    gpu = env["gpu"]
    assert env["nvml"] == "ok"
    assert (gpu["driver"], gpu["nvml_name"]) == ("580.159.04", "Fake GPU")
    assert gpu["power_limit_w"] is None and gpu["clock_sm_mhz"] is None
    assert gpu["nvml_errors"]
    json.dumps(env)


def test_nvml_session_and_query_never_raise(monkeypatch):
    with nvml_session() as (pynvml, reason):
        assert (pynvml is None) != (reason is None)

    def broken():
        raise RuntimeError("GPU is lost")

    assert query(broken) == (None, "broken: RuntimeError: GPU is lost")
    assert query(lambda: b"bytes") == ("bytes", None)


def test_git_state(tmp_path):
    assert git_state(tmp_path)["git_commit"] is None
    assert "no commit" in git_state(tmp_path)["git_reason"]

    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    try:
        git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-qm", "first")
    clean = git_state(tmp_path)
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] is False
    (tmp_path / "a.txt").write_text("changed")
    assert git_state(tmp_path)["git_dirty"] is True


def test_repo_dir_holds_the_bench_package():
    assert (hardware.REPO_DIR / "bench" / "measure" / "hardware.py").is_file()


def test_energy_on_cpu_is_none_with_a_reason():
    with EnergyMeter("cpu") as meter:
        pass
    assert meter.values["energy_j"] is None
    assert "CPU" in meter.values["energy_reason"]
    assert joules_per_image(meter.values, 10) is None


def test_energy_without_nvidia_ml_py(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with EnergyMeter("cuda") as meter:
        pass
    assert meter.values["energy_j"] is None
    assert "nvidia-ml-py" in meter.values["energy_reason"]


def test_energy_from_the_counter(monkeypatch, fake_cuda_device):
    """Counter readings 1000 mJ apart around a 1 s window: 1 J, about 1 W."""
    pynvml = optional_import("pynvml")
    readings = iter([5_000, 6_000])
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByUUID", lambda uuid: "handle")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", lambda h: next(readings))
    monkeypatch.setattr("bench.measure.energy.MIN_WINDOW_S", 0.01)
    with EnergyMeter("cuda") as meter:
        time.sleep(0.02)
    assert meter.values["energy_j"] == 1.0
    assert meter.values["energy_reason"] is None
    assert meter.values["avg_power_w"] == pytest.approx(1.0 / meter.values["energy_window_s"])
    assert joules_per_image(meter.values, 4) == 0.25


def test_energy_window_too_short(monkeypatch, fake_cuda_device):
    pynvml = optional_import("pynvml")
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByUUID", lambda uuid: "handle")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", lambda h: 5_000)
    with EnergyMeter("cuda") as meter:
        pass
    assert meter.values["energy_j"] is None
    assert "shorter than" in meter.values["energy_reason"]


@pytest.mark.gpu
def test_cuda_environment_for_real():
    env = environment("cuda")
    assert env["gpu"]["name"] == torch.cuda.get_device_name(0)
    json.dumps(env)


@pytest.mark.gpu
def test_energy_over_one_second_of_work():
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    with EnergyMeter("cuda") as meter:
        start = time.perf_counter()
        while time.perf_counter() - start < 1.2:
            a @ a
        torch.cuda.synchronize()
    if meter.values["energy_reason"] is not None:
        pytest.skip(f"no energy counter here: {meter.values['energy_reason']}")
    assert 10 < meter.values["avg_power_w"] < 2000


# --- CPU threads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "usable", "torch_default", "threads", "source"),
    [
        ({}, 2, 2, 2, "default: 2 = the smaller of torch's default (2) and the 2 usable cores"),
        ({}, 4, 16, 4, "the 4 usable cores"),  # affinity (taskset, a cpuset) below torch's count
        ({}, 32, 16, 16, "torch's default (16)"),  # SMT siblings beyond the physical cores
        ({"OMP_NUM_THREADS": "3"}, 2, 2, None, "OMP_NUM_THREADS=3 (set by the user"),
        ({"MKL_NUM_THREADS": "1"}, 8, 8, None, "MKL_NUM_THREADS=1"),
        ({"OMP_NUM_THREADS": ""}, 2, 2, 2, "default: 2"),  # empty: not set
    ],
)
def test_cpu_threads_default_and_source(environ, usable, torch_default, threads, source):
    chosen, said = hardware.cpu_threads(environ, usable, torch_default)
    assert chosen == threads
    assert source in said


def test_usable_cores_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert hardware.usable_cores() == 3
    monkeypatch.delattr(hardware.os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 6)
    assert hardware.usable_cores() == 6


@pytest.fixture
def torch_threads():
    """Restore torch's intra-op threads after a test that sets them."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_set_cpu_threads_sets_torch_or_respects_the_user(monkeypatch, torch_threads):
    monkeypatch.setattr(hardware, "usable_cores", lambda: 1)
    source = hardware.set_cpu_threads({})
    assert torch.get_num_threads() == 1 and source.startswith("default: 1")
    torch.set_num_threads(2)
    source = hardware.set_cpu_threads({"OMP_NUM_THREADS": "2"})
    assert torch.get_num_threads() == 2 and source.startswith("OMP_NUM_THREADS=2")


def test_the_environment_records_the_usable_cores():
    assert environment("cpu")["cpu_usable_cores"] == hardware.usable_cores() >= 1
