"""bench.worker: the threads a timed CPU cell gets, the probe's peak taken with the same, and the
facts and requests that cross the process boundary as JSON."""

import io
import json
import sys
import time
import types

import pytest
import torch
from helpers import MEASURED_PEAK

from bench import worker
from bench.cell import Cell
from bench.measure import cell as measure_module
from bench.measure import hardware, timing
from bench.measure.facts import DeviceFacts, MatmulPeak
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
        timing, "matmul_peak", lambda device: MatmulPeak(torch.get_num_threads(), "float32", 1024)
    )
    facts = worker.probe("cpu", with_peak=True)
    assert facts.peak == MatmulPeak(1, "float32", 1024)  # its TFLOP/s are the threads it saw
    assert facts.env["device"] == "cpu"
    assert worker.probe("cpu", with_peak=False).peak is None


# --- what crosses the process boundary as JSON ----------------------------------------------------


def test_a_peak_is_stored_under_its_record_keys_and_read_back_whole():
    values = MEASURED_PEAK.values()
    assert list(values) == [
        "matmul_peak_tflops",
        "matmul_peak_dtype",
        "matmul_peak_n",
        "matmul_peak_rel_iqr",
        "matmul_peak_stalls",
        "matmul_peak_noisy",
        "matmul_peak_noisy_reason",
        "matmul_peak_threads",
        "matmul_peak_cpu_util",  # None is kept: the reading was missing
        "matmul_peak_load_avg_1m",
    ]
    assert MatmulPeak.from_values(json.loads(json.dumps(values))) == MEASURED_PEAK
    given = MatmulPeak(0.05, "float32", 1024)  # without its conditions: none are invented
    assert given.values() == {
        "matmul_peak_tflops": 0.05,
        "matmul_peak_dtype": "float32",
        "matmul_peak_n": 1024,
    }
    assert MatmulPeak.from_values(given.values()) == given
    with pytest.raises(ValueError, match="matmul_peak_dtype, matmul_peak_n"):
        MatmulPeak.from_values({"matmul_peak_tflops": 1.0})


def test_the_facts_and_the_request_cross_the_process_boundary_unchanged():
    facts = DeviceFacts({"device": "cpu", "torch": "2.x"}, MEASURED_PEAK)
    assert DeviceFacts.from_json(json.loads(json.dumps(facts.to_json()))) == facts
    assert (
        DeviceFacts.from_json({"env": {"device": "cuda", "error": "x"}, "peak": None}).peak is None
    )
    cell = Cell("dit-tiny", 32, 1, phase="forward")
    request = worker.WorkerRequest(cell, {"warmup": 0}, MEASURED_PEAK)
    data = json.loads(json.dumps(request.to_json()))
    assert data["peak"] == MEASURED_PEAK.values() and data["cell"] == cell.as_dict()
    assert worker.WorkerRequest.from_json(data) == request
    assert worker.WorkerRequest.from_json(data | {"peak": None}).peak is None


def test_a_held_worker_prepares_says_ready_and_measures_only_after_go(tmp_path):
    calls = []

    def measure(cell, settings, peak=None):
        calls.append(cell.id)
        return Outcome("ok")

    ready = tmp_path / "ready"
    ready_at, held_s = worker.hold_until_go(measure, ready, io.StringIO("go\n"))
    assert held_s >= 0 and ready_at <= time.time() and ready.is_file()
    assert worker.hold_until_go(measure, tmp_path / "again", io.StringIO("")) is None  # stopped
    assert (tmp_path / "again").is_file()  # ready all the same: the cell before it must not wait
    # The command line: a cell never let go writes no result, and measures nothing.
    request = tmp_path / "request.json"
    cell = Cell("dit-tiny", 32, 1, phase="forward")
    request.write_text(json.dumps(worker.WorkerRequest(cell, {}).to_json()))
    result = tmp_path / "result.json"
    args = ["--request", str(request), "--result", str(result), "--hold", str(tmp_path / "r")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(""))
        patch.setattr(measure_module, "_counted_ahead", {})  # its counts, never taken: not left
        assert worker.main(args) == 0  # the harness's measure, prepared, never called
    assert not result.exists() and (tmp_path / "r").is_file()
    # A measure function that cannot load still says ready, and its error waits for its turn.
    args[-1] = str(tmp_path / "r2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO("go\n"))
        assert worker.main([*args, "--measure", "no_such_module:measure"]) == 0
    assert (tmp_path / "r2").is_file() and "No module named" in json.loads(result.read_text())[
        "error"
    ]


def test_a_held_worker_prepares_the_cell_it_was_asked_for(monkeypatch, tmp_path):
    """--hold: the measure module's prepare() is given the request's cell (the harness's counts
    it on meta ahead of its turn), and the cell is measured after GO."""
    module = types.ModuleType("held_measure")
    prepared, measured = [], []
    module.prepare = prepared.append
    module.measure = lambda cell, settings, peak=None: measured.append(cell) or Outcome("ok")
    module.measure.__module__ = "held_measure"
    monkeypatch.setitem(sys.modules, "held_measure", module)
    cell = Cell("dit-tiny", 32, 1, phase="forward")
    request, result = tmp_path / "request.json", tmp_path / "result.json"
    request.write_text(json.dumps(worker.WorkerRequest(cell, {}).to_json()))
    monkeypatch.setattr("sys.stdin", io.StringIO("go\n"))
    args = ["--request", str(request), "--result", str(result), "--hold", str(tmp_path / "ready")]
    assert worker.main([*args, "--measure", "held_measure:measure"]) == 0
    assert prepared == [cell] and measured == [cell]
    assert json.loads(result.read_text())["status"] == "ok"
