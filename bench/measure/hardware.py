"""The environment a record was measured in: GPU, driver, clocks and power limit (NVML), CUDA,
torch, numerics flags, CPU, Python, and the git commit of this checkout.

Nothing here is fatal: a missing NVML, a GPU that refuses a query or a tree that is not a git checkout
each become a value of None plus a reason, so every record carries an environment.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path

import torch

from bench.measure.numerics import numerics_flags
from bench.measure.nvml import handle_for, nvml_session, query

# The checkout whose commit is recorded: the one holding the `bench` package.
REPO_DIR = Path(__file__).resolve().parents[2]


def environment(device: str = "cpu") -> dict:
    """One dict describing where a cell runs. `device` is "cpu", "cuda" or "cuda:N"; GPU fields are
    filled for CUDA devices only (a CPU cell on a GPU host does not depend on the GPU)."""
    env = {
        "device": device,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable_cores": usable_cores(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "numerics": numerics_flags(),
        "packages": package_versions(),
    }
    env |= git_state(REPO_DIR)
    if torch.device(device).type == "cuda":
        env |= gpu_state(device)
    else:
        env |= {"gpu": None, "nvml": "not queried: the cell runs on the CPU"}
    return env


def usable_cores() -> int:
    """The CPUs this process may run on: its affinity mask where the OS has one (Linux; taskset,
    a container's cpuset), else every CPU of the machine (os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


# Environment variables that set torch's intra-op threads at startup (ATen's
# intraop_default_num_threads reads both, aten/src/ATen/ParallelCommon.cpp).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_threads(
    environ: Mapping[str, str], usable: int, torch_default: int
) -> tuple[int | None, str]:
    """(the intra-op threads to set for a CPU cell, or None to leave torch's; where the number comes
    from). A user's OMP_NUM_THREADS or MKL_NUM_THREADS wins: torch already read it. Else the
    smaller of torch's default and the usable cores. torch's default is the physical cores cpuinfo
    counts (c10/core/thread_pool.cpp, TaskThreadPoolBase::defaultNumThreads); where that counts
    cores outside the process's affinity mask, torch would run more threads than it has cores, and
    threads that wait at every parallel region for a descheduled sibling turn milliseconds into
    time slices. Logical CPUs beyond the physical cores (SMT siblings) share the same arithmetic
    units, so the default stays at the physical count where that is smaller. Deciding it here, and
    recording the source, keeps it from being left to the build."""
    for name in THREAD_VARIABLES:
        if environ.get(name):
            return None, f"{name}={environ[name]} (set by the user; torch runs {torch_default})"
    threads = max(1, min(torch_default, usable))
    return threads, (
        f"default: {threads} = the smaller of torch's default ({torch_default}) and the "
        f"{usable} usable cores"
    )


def set_cpu_threads(environ: Mapping[str, str] | None = None) -> str:
    """Set torch's intra-op threads as `cpu_threads` decides for this process; returns the source."""
    threads, source = cpu_threads(
        os.environ if environ is None else environ, usable_cores(), torch.get_num_threads()
    )
    if threads is not None:
        torch.set_num_threads(threads)
    return source


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: platform.processor() below is the portable answer
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("triton", "nvidia-ml-py", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_state(repo_dir: Path) -> dict:
    """{"git_commit": sha | None, "git_dirty": bool | None, "git_reason": None | why not known}.
    Dirty means tracked changes or untracked, not ignored files. `--no-optional-locks` keeps `status`
    from taking the index lock, since a benchmark may run while someone else uses the checkout."""

    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(repo_dir), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if completed.returncode:
            raise RuntimeError(completed.stderr.strip() or f"git {args[0]} failed")
        return completed.stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as err:
        return {"git_commit": None, "git_dirty": None, "git_reason": f"no commit: {err}"}
    try:
        dirty = bool(git("status", "--porcelain").strip())
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as err:
        return {"git_commit": commit, "git_dirty": None, "git_reason": f"status failed: {err}"}
    return {"git_commit": commit, "git_dirty": dirty, "git_reason": None}


def gpu_state(device: str) -> dict:
    """{"gpu": {...}, "nvml": "ok" | "unavailable: ..."}. torch gives name, UUID, capability and
    memory; NVML adds driver, clocks, power limit, temperature, throttling and memory in use."""
    if not torch.cuda.is_available():
        return {"gpu": None, "nvml": "not queried: CUDA is not available to torch"}
    index = torch.device(device).index
    index = torch.cuda.current_device() if index is None else index
    props = torch.cuda.get_device_properties(index)
    gpu = {
        "index": index,
        "name": props.name,
        "uuid": str(props.uuid),
        "compute_capability": f"{props.major}.{props.minor}",
        "total_memory_bytes": props.total_memory,
        "multiprocessors": props.multi_processor_count,
        "cudnn": torch.backends.cudnn.version(),
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    with nvml_session() as (pynvml, reason):
        if pynvml is None:
            return {"gpu": gpu, "nvml": f"unavailable: {reason}"}
        handle, reason = handle_for(pynvml, index)
        if handle is None:
            return {"gpu": gpu, "nvml": f"unavailable: {reason}"}
        gpu |= nvml_fields(pynvml, handle)
    return {"gpu": gpu, "nvml": "ok"}


def nvml_fields(pynvml, handle) -> dict:
    """Every NVML reading the records use; a refused query gives None and an entry in `nvml_errors`."""
    errors: list[str] = []

    def get(function, *args, scale=None):
        value, reason = query(function, *args)
        if reason:
            errors.append(reason)
        return value if value is None or scale is None else value * scale

    memory = get(pynvml.nvmlDeviceGetMemoryInfo, handle)
    fields = {
        "nvml_name": get(pynvml.nvmlDeviceGetName, handle),
        "nvml_uuid": get(pynvml.nvmlDeviceGetUUID, handle),
        "driver": get(pynvml.nvmlSystemGetDriverVersion),
        # e.g. 13000 = CUDA 13.0: the newest CUDA the driver supports, not the toolkit torch uses.
        "cuda_driver_version": get(pynvml.nvmlSystemGetCudaDriverVersion_v2),
        "vbios": get(pynvml.nvmlDeviceGetVbiosVersion, handle),
        "clock_mem_mhz": get(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_MEM),
        "clock_sm_max_mhz": get(pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_SM),
        "clock_mem_max_mhz": get(pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_MEM),
        "power_limit_w": get(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle, scale=1e-3),
        **nvml_state(pynvml, handle, get),
        "performance_state": get(pynvml.nvmlDeviceGetPerformanceState, handle),
        "persistence_mode": get(pynvml.nvmlDeviceGetPersistenceMode, handle),
        "mig_mode": get(pynvml.nvmlDeviceGetMigMode, handle),
        "memory_used_bytes": getattr(memory, "used", None),
        "memory_total_bytes": getattr(memory, "total", None),
    }
    fields["nvml_errors"] = errors
    return fields


def nvml_state(pynvml, handle, get=None) -> dict:
    """The readings that change as the GPU works: SM clock, power draw, temperature and the active
    clock-event reasons, each read by `get(function, *args, scale=None)` (nvml_fields' own, which
    notes a refusal; by default None for a refused query)."""
    if get is None:

        def get(function, *args, scale=None):
            value, _ = query(function, *args)
            return value if value is None or scale is None else value * scale

    return {
        "clock_sm_mhz": get(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
        "power_draw_w": get(pynvml.nvmlDeviceGetPowerUsage, handle, scale=1e-3),
        # The V form replaces nvmlDeviceGetTemperature, which is deprecated for CUDA 14.
        "temperature_c": get(
            getattr(pynvml, "nvmlDeviceGetTemperatureV", pynvml.nvmlDeviceGetTemperature),
            handle,
            pynvml.NVML_TEMPERATURE_GPU,
        ),
        # Bitmask of active clock-event ("throttle") reasons; 0 or GpuIdle is a clean state.
        # Older bindings only have the deprecated "ThrottleReasons" name for the same call.
        "clock_event_reasons": get(
            getattr(
                pynvml,
                "nvmlDeviceGetCurrentClocksEventReasons",
                pynvml.nvmlDeviceGetCurrentClocksThrottleReasons,
            ),
            handle,
        ),
    }
