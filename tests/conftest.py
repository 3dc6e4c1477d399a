"""Shared test setup: the `gpu` marker skips without CUDA; tests run on CPU by default.

The README's test command runs them in parallel (`pytest -n auto`, pytest-xdist): a worker per core,
at most 4, each taking whole test files (a file's module fixtures are built once), the files that
hold slow tests first (so that the workers end together), every worker single-threaded."""

import os

import pytest
import torch

MAX_WORKERS = 4  # `-n auto` on a large machine: each worker holds its own torch (about 0.5 GB)


def under_xdist() -> bool:
    """Whether this process is a pytest-xdist worker."""
    return bool(os.environ.get("PYTEST_XDIST_WORKER"))


def pytest_configure(config):
    # Each worker, and each process a test starts, keeps to one intra-op thread: two OpenMP threads
    # per process on a 2-core machine make every small op wait on a spinning peer (see
    # one_cpu_thread). A test that sets the variable itself still does.
    if under_xdist():
        torch.set_num_threads(1)
        os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, usable or 1))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadFileScheduling

    # Hand out the files in collection order (slow files first, pytest_collection_modifyitems),
    # not xdist's default of the files with the most tests first: the longest files hold few tests.
    config.option.loadscopereorder = False
    return LoadFileScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    if under_xdist():
        # Files in collection order, those with a slow test first: the scheduler hands out files
        # in this order, so the longest start at once instead of last.
        slow_files = {item.path for item in items if "slow" in item.keywords}
        items.sort(key=lambda item: item.path not in slow_files)  # stable: order kept within
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_cpu_thread():
    """Tiny models on a busy 2-core machine: with two OpenMP threads each small op waits on a
    spinning peer (a 3 s test took 50 s), so tests that ask for this run single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def cuda_peak():
    """The GPU's matmul peak, timed once for the session: each `measure` without one times its own
    (half a second or more), and the GPU check gives its `pytest -m gpu` step 90 s in all."""
    from bench.measure.timing import matmul_peak

    return matmul_peak("cuda")
