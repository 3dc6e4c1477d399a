"""Shared test setup: the `gpu` marker skips without CUDA; tests run on CPU by default."""

import pytest
import torch


def pytest_collection_modifyitems(config, items):
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
