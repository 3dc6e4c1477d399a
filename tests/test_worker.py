"""bench.worker: the threads a timed CPU cell gets, and the probe's peak taken with the same."""

import pytest
import torch

from bench import worker
from bench.cell import Cell
from bench.measure import cell as measure_module
from bench.measure import hardware, timing
from bench.record import Outcome


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fake_measure(monkeypatch):
    """measure() records the threads it ran with instead of measuring."""

    def measure(cell, settings, peak=None):
        return Outcome("ok", {"torch_threads": torch.get_num_threads()}, details={"timer": "x"})

    monkeypatch.setattr(measure_module, "measure", measure)
    for name in hardware.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_a_timed_cpu_cell_gets_no_more_threads_than_usable_cores(
    monkeypatch, fake_measure, torch_threads
):
    monkeypatch.setattr(hardware, "usable_cores", lambda: 1)
    out = worker.measure_cell(Cell("dit-tiny", 32, 1, phase="forward"), {})
    assert out.values["torch_threads"] == 1
    assert out.details["torch_threads_source"].startswith("default: 1 = the smaller of")
    assert out.details["timer"] == "x"  # the measurement's own details stay


def test_the_users_omp_num_threads_is_respected_and_recorded(
    monkeypatch, fake_measure, torch_threads
):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setattr(hardware, "usable_cores", lambda: 1)
    before = torch.get_num_threads()
    out = worker.measure_cell(Cell("dit-tiny", 32, 1, phase="train_step"), {})
    assert out.values["torch_threads"] == before  # not capped to the one usable core
    assert out.details["torch_threads_source"].startswith("OMP_NUM_THREADS=7")


@pytest.mark.parametrize(
    "cell",
    [Cell("dit-tiny", 32, 1, phase="flops"), Cell("dit-tiny", 32, 1, device="cuda")],
)
def test_counts_and_cuda_cells_keep_torchs_threads(monkeypatch, fake_measure, torch_threads, cell):
    monkeypatch.setattr(hardware, "usable_cores", lambda: 1)
    before = torch.get_num_threads()
    out = worker.measure_cell(cell, {})
    assert out.values["torch_threads"] == before and "torch_threads_source" not in out.details


def test_the_cpu_probe_takes_its_peak_with_the_cells_threads(monkeypatch, torch_threads):
    monkeypatch.setattr(hardware, "usable_cores", lambda: 1)
    for name in hardware.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        timing, "matmul_peak", lambda device: {"matmul_peak_threads": torch.get_num_threads()}
    )
    facts = worker.probe("cpu", with_peak=True)
    assert facts["peak"] == {"matmul_peak_threads": 1}
    assert facts["env"]["device"] == "cpu"
    assert worker.probe("cpu", with_peak=False)["peak"] is None
