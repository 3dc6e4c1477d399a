"""bench.measure.cell.measure end to end on the tiny presets, and every failure as a status."""

import dataclasses
import json
import os
import re
import threading
import warnings

import pytest
import torch
from helpers import needs

from bench import cell as cell_module
from bench import metrics, registry
from bench.cell import Cell
from bench.measure import cell as measure_module
from bench.measure import timing
from bench.measure.cell import Settings, measure
from bench.measure.facts import MatmulPeak
from bench.measure.timing import MIN_CPU_WINDOW_S
from bench.record import CELL_TIME_KEY, Outcome, Record, RunInfo

FAST = Settings(warmup=1, min_repeats=2, min_seconds=0.0, sample_steps=2)
# A made-up matmul peak, so that the cells skip measuring one (about a second each).
PEAK = MatmulPeak(tflops=0.05, dtype="float32", n=1024)
TINY = [slug for slug in ("rin-tiny", "adm-tiny", "dit-tiny") if slug in registry.REGISTRY]


def tiny_cell(slug: str, phase: str, **changes) -> Cell:
    fields = (
        dict(preset=slug, resolution=registry.config(slug).resolution, batch=1, phase=phase)
        | changes
    )
    return Cell(**fields)


def check_ok(result: Outcome) -> Outcome:
    assert result.status == "ok", result.details.get("traceback") or result.error
    assert result.error is None
    json.dumps(result.to_json())  # it becomes a JSON line as it is
    return result


@pytest.mark.parametrize("slug", TINY)
def test_static_phases(slug):
    params = measure(tiny_cell(slug, "params"))
    assert check_ok(params).values["params"] == params.model.params > 0
    model = params.model
    assert model.family == registry.get(slug).family
    assert re.fullmatch(r"[0-9a-f]{12}", model.config_sha)
    assert model.config["resolution"] == registry.config(slug).resolution
    assert model.source == registry.get(slug).source_info
    assert str(model.source) == registry.get(slug).source

    out = check_ok(measure(tiny_cell(slug, "flops"), FAST))
    assert out.values["flops_fwd"] == 2 * out.values["macs_fwd"]
    assert out.values["macs_fwd_batch"] == out.values["macs_fwd"]  # batch 1
    assert out.values["macs_train_step"] > 2.9 * out.values["macs_fwd"]
    assert out.values["macs_sample"] == FAST.sample_steps * out.values["macs_fwd"]
    assert sum(out.values["macs_fwd_by_group"].values()) == out.values["macs_fwd"]


@pytest.mark.parametrize("slug", TINY)
@pytest.mark.parametrize("phase", ["forward", "train_step", "sample"])
def test_timed_phases_on_cpu(slug, phase):
    out = check_ok(measure(tiny_cell(slug, phase), FAST, peak=PEAK))
    assert out.details["timer"] == "perf_counter"
    assert out.values["timed_iters"] >= 2 and out.values["warmup_iters"] == 1
    assert out.values["latency_ms_median"] > 0
    assert out.values["images_per_s"] == pytest.approx(1 / (out.values["latency_ms_median"] / 1e3))
    assert out.values["peak_rss_bytes"] > 0
    check_window_conditions(out)
    assert out.values["energy_j"] is None and out.details["energy_reason"]
    assert out.values["joules_per_image"] is None
    assert out.details["numerics"]["tf32_matmul"] is False
    assert out.values["matmul_peak_tflops"] == PEAK.tflops
    assert out.values["mfu"] == pytest.approx(out.values["achieved_tflops"] / 0.05)
    # A CPU has no data-sheet peak: no data-sheet MFU, and the reason among the diagnostics.
    assert out.values["mfu_datasheet"] is None and "datasheet_peak_tflops" not in out.values
    assert "CPU" in out.details["mfu_datasheet_reason"]
    flops = {"forward": "flops_fwd", "train_step": "flops_train_step", "sample": "flops_sample"}
    assert out.values["flops_per_call"] == out.values[flops[phase]]  # batch 1
    if phase == "sample":
        assert out.values["ms_per_step"] == pytest.approx(out.values["latency_ms_median"] / 2)
        assert out.details["sampler"] == FAST.sampler
    # Measured numbers in values, diagnostics in details.
    assert not any(isinstance(value, str) for value in out.values.values())
    assert {"numerics", "timer", "energy_reason", "peak_rss_scope"} <= set(out.details)
    assert not set(out.values) & set(out.details)
    check_cell_time(out)


def check_cell_time(out: Outcome) -> None:
    """Where a timed cell's seconds went: every part of the set-up and the windows, inside the
    whole measurement (the worker's parent adds the process's wall time)."""
    spent = out.details[CELL_TIME_KEY]
    parts = ("count", "peak", "build", "first_call", "windows")
    assert set(parts) | {"measure"} == set(spent)
    assert all(spent[part] >= 0 for part in parts)
    assert spent["first_call"] >= out.values["first_call_s"]
    assert spent["windows"] >= out.values["timed_window_s"]
    assert sum(spent[part] for part in parts) <= spent["measure"]


def test_timed_calls_wait_for_the_next_cells_worker_to_be_ready(monkeypatch, tmp_path):
    """--prestart: a cell's timed calls start once the next cell's held worker is ready."""
    ready = tmp_path / "ready"
    monkeypatch.setenv(measure_module.QUIET_FILE_ENV, str(ready))
    threading.Timer(0.2, ready.touch).start()
    out = measure_module.Measurements()
    measure_module.wait_for_quiet(out)
    assert 0.15 < out.details[CELL_TIME_KEY]["quiet_wait"] < 5 and "quiet_reason" not in out.details
    assert "--prestart" in out.details["prestart_reason"]
    # A held worker that died before saying so costs QUIET_WAIT_S, once a cell, and the record
    # says why.
    monkeypatch.setattr(measure_module, "QUIET_WAIT_S", 0.05)
    ready.unlink()
    measure_module.wait_for_quiet(out := measure_module.Measurements())
    assert "may have overlapped this timing" in out.details["quiet_reason"]
    waited = out.details[CELL_TIME_KEY]["quiet_wait"]
    measure_module.wait_for_quiet(out)
    assert out.details[CELL_TIME_KEY]["quiet_wait"] == waited


@pytest.mark.parametrize("profiled", [False, True])
def test_a_cpu_cells_first_call_waits_for_the_next_workers_imports(monkeypatch, tmp_path, profiled):
    """--prestart, through the measurement and the profiler's: a CPU cell's first call, its
    warm-up and its timed calls all come after the next cell's worker is ready."""
    from bench.profiling.measure import measure_profile

    ready = tmp_path / "ready"
    monkeypatch.setenv(measure_module.QUIET_FILE_ENV, str(ready))
    first_call, found_ready = measure_module._first_call, []

    def watched_first_call(*args):
        found_ready.append(ready.exists())
        return first_call(*args)

    monkeypatch.setattr(measure_module, "_first_call", watched_first_call)
    threading.Timer(0.3, ready.touch).start()
    if profiled:  # which sets the threads a timed cell gets: one, as this process has them
        monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))
        outcome = measure_profile(tiny_cell("dit-tiny", "profile:forward"), FAST.as_dict(), PEAK)
    else:
        outcome = measure(tiny_cell("dit-tiny", "forward"), FAST, peak=PEAK)
    check_ok(outcome)
    assert found_ready == [True] and outcome.details[CELL_TIME_KEY]["quiet_wait"] > 0.1


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_gpu_cells_first_call_runs_beside_the_next_workers_imports_a_cpu_cells_waits(
    monkeypatch, tmp_path, device
):
    """--prestart: a CPU cell's first call waits for the next cell's worker to be ready; a GPU
    cell's runs beside its imports and says so. Neither returns before it is ready: no warm-up or
    timed call follows beside them. (The step here is a CPU stand-in; only the cell names cuda.)"""
    ready = tmp_path / "ready"
    monkeypatch.setenv(measure_module.QUIET_FILE_ENV, str(ready))
    threading.Timer(0.3, ready.touch).start()
    first_call_found_ready = []

    def make(batch):
        return lambda: first_call_found_ready.append(ready.exists())

    out = measure_module.Measurements()
    cell = tiny_cell("dit-tiny", "forward", device=device)
    measure_module.first_call_then_quiet(make, cell, lambda: None, out)
    assert ready.exists() and out.details[CELL_TIME_KEY]["quiet_wait"] > 0
    assert first_call_found_ready == [device == "cpu"]
    assert ("first_call_beside_reason" in out.details) == (device == "cuda")


def test_a_held_worker_counts_its_cell_ahead_and_the_measurement_takes_those_counts(monkeypatch):
    """--prestart: prepare(cell) counts a timed cell on meta ahead of its turn; the measurement
    takes those counts, once, and says how long they took then (count_ahead), the same numbers
    as counting on its turn, with the warnings they raised then. A profile cell's worker (another
    measure function) counts nothing."""
    monkeypatch.setattr(measure_module, "_counted_ahead", {})
    cell = tiny_cell("dit-tiny", "train_step")
    on_its_turn = check_ok(measure(cell, FAST, peak=PEAK))
    measure_module.prepare(dataclasses.replace(cell, phase="profile:forward"))
    assert not measure_module._counted_ahead
    described = measure_module.model_info

    def described_with_a_warning(cell):  # as a peer's package may warn as it is imported
        warnings.warn("a peer package's warning", FutureWarning, stacklevel=2)
        return described(cell)

    monkeypatch.setattr(measure_module, "model_info", described_with_a_warning)
    measure_module.prepare(cell)
    assert set(measure_module._counted_ahead) == {(cell, "model"), (cell, "flops")}

    def counted_again(*args, **kwargs):
        raise AssertionError("counted again on its turn")

    monkeypatch.setattr(measure_module, "model_info", counted_again)
    monkeypatch.setattr(measure_module, "_count", counted_again)
    ahead = check_ok(measure(cell, FAST, peak=PEAK))
    assert not measure_module._counted_ahead  # taken once
    assert ahead.model == on_its_turn.model
    for key in ("macs_fwd", "flops_fwd", "macs_train_step", "flops_train_step", "flops_per_call"):
        assert ahead.values[key] == on_its_turn.values[key], key
    assert ahead.details[CELL_TIME_KEY]["count_ahead"] > 0
    assert "count_ahead" not in on_its_turn.details[CELL_TIME_KEY]
    assert "FutureWarning: a peer package's warning" in ahead.details["warnings"]


def check_window_conditions(out: Outcome) -> None:
    """The conditions of the timed window (bench.measure.timing.window_conditions) and the memory
    the phase adds over the built model (bench.measure.memory.rss_added), with sane values."""
    values = out.values
    assert values["torch_threads"] >= 1 and values["torch_interop_threads"] >= 1
    assert values["load_avg_1m_before"] >= 0 and values["load_avg_1m_after"] >= 0
    if values["timed_window_s"] >= MIN_CPU_WINDOW_S:
        assert 0 <= values["cpu_util_timed"] <= os.cpu_count() + 0.5
    else:
        assert values["cpu_util_timed"] is None and "too short" in out.details["cpu_util_reason"]
    assert 0 < values["rss_after_build_bytes"] <= values["peak_rss_bytes"]
    # How far the timing can be trusted: the flag as a number (the report frame keeps numbers),
    # the reason among the diagnostics.
    assert values["latency_noisy"] in (0, 1) and values["latency_stalls"] >= 0
    assert out.details["latency_noisy_reason"].startswith(("steady", "noisy"))
    assert values["mfu_suspect"] in (0, 1) and out.details["mfu_suspect_reason"]
    if out.details["peak_rss_scope"] == "phase":
        assert 0 <= values["rss_added_bytes"] < values["peak_rss_bytes"]
    else:
        assert values["rss_added_bytes"] is None and out.details["rss_added_reason"]


WINDOW_KEYS = (
    "torch_threads",
    "torch_interop_threads",
    "load_avg_1m_before",
    "load_avg_1m_after",
    "cpu_util_timed",
    "rss_after_build_bytes",
    "rss_added_bytes",
    "latency_rel_iqr",
    "latency_stalls",
    "latency_noisy",
    "mfu_suspect",
)


def test_the_new_keys_round_trip_through_a_record_and_the_report_frame():
    from reports import load

    out = check_ok(measure(tiny_cell(TINY[0], "forward"), FAST, peak=PEAK))
    record = Record(
        run=RunInfo("run-a", "quick"),
        cell=tiny_cell(TINY[0], "forward"),
        settings=FAST.as_dict(),
        env={"device": "cpu"},
        **{f.name: getattr(out, f.name) for f in dataclasses.fields(Outcome)},
    )
    again = Record.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record
    row = load.frame([again]).iloc[0]
    for key in WINDOW_KEYS:
        if out.values[key] is None:
            assert key not in row or row[key] != row[key]  # absent or NaN
        else:
            assert row[key] == pytest.approx(out.values[key])
            assert metrics.get(key).compare is None  # explains the times, gated by none


@pytest.mark.parametrize(
    ("slug", "phase", "dtype"),
    [
        ("dit-tiny", "forward", "bf16"),
        ("rin-tiny", "train_step", "fp16"),  # through the GradScaler
    ],
)
def test_autocast_dtypes_on_cpu(slug, phase, dtype):
    result = measure(tiny_cell(slug, phase, dtype=dtype, batch=1), FAST, peak=PEAK)
    if result.status == "unsupported":  # a torch build without CPU autocast for this dtype
        assert dtype in result.error
        return
    assert check_ok(result).details["numerics"]["tf32_cudnn"] is False


def test_matmul_peak_is_measured_without_one():
    out = check_ok(measure(tiny_cell("dit-tiny", "forward"), FAST))
    assert out.details["matmul_peak_dtype"] == "float32" and out.values["matmul_peak_tflops"] > 0


def test_tf32_on_cpu_is_unsupported():
    result = measure(tiny_cell("dit-tiny", "forward", dtype="tf32"), FAST, peak=PEAK)
    assert result.status == "unsupported"
    assert "tf32" in result.error


def test_fid_is_unsupported_for_now():
    result = measure(tiny_cell("dit-tiny", "fid"), FAST)
    assert result.status == "unsupported" and "fid" in result.error


def test_cuda_without_cuda_is_unsupported():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = measure(tiny_cell("dit-tiny", "forward", device="cuda"), FAST, peak=PEAK)
    assert result.status == "unsupported" and "CUDA" in result.error


def test_an_unknown_compile_backend_is_a_compile_error():
    settings = Settings(**FAST.as_dict() | {"compile_backend": "no-such-backend"})
    result = measure(tiny_cell("dit-tiny", "forward", mode="compile"), settings, peak=PEAK)
    assert result.status == "error"
    assert result.error.startswith("compile failed: ")
    assert "no-such-backend" in result.error


def test_a_backend_that_fails_while_compiling_is_a_compile_error():
    from torch._dynamo import register_backend

    def failing_backend(graph_module, example_inputs):
        raise RuntimeError("this backend cannot compile anything")

    name = "rinbench-test-failing-backend"
    register_backend(failing_backend, name=name)
    settings = Settings(**FAST.as_dict() | {"compile_backend": name})
    result = measure(tiny_cell("rin-tiny", "forward", mode="compile"), settings, peak=PEAK)
    assert result.status == "error"
    assert result.error.startswith("compile failed: ")
    assert "cannot compile anything" in result.error


def test_compile_mode_runs_with_a_working_backend():
    """The "eager" backend traces with dynamo but generates no code: seconds, not minutes."""
    settings = Settings(**FAST.as_dict() | {"compile_backend": "eager"})
    out = check_ok(
        measure(tiny_cell("rin-tiny", "train_step", mode="compile"), settings, peak=PEAK)
    )
    assert out.details["compile_backend"] == "eager"
    assert out.values["first_call_s"] > 0
    # The label check is skipped while compiling, so the whole train step traces without breaks.
    assert out.values["compile_graph_breaks"] == 0


class ReplayedOutputs:
    """CUDA graphs' contract (torch.compile's mode "reduce-overhead") on a CPU: a call's outputs stay
    valid only until the next call begins, whose replay overwrites the memory pool they live in
    (here: they turn to NaN)."""

    def __init__(self, model):
        self.model, self.previous = model, []

    def __call__(self, *args):
        with torch.no_grad():
            for tensor in self.previous:
                tensor.fill_(float("nan"))
        outputs = self.model(*args)
        self.previous = [out.detach() for out in outputs if isinstance(out, torch.Tensor)]
        return outputs


@pytest.mark.parametrize(
    "slug",
    ["rin-tiny", pytest.param("lucidrains-rin-tiny", marks=needs("rin_pytorch", extra="peers"))],
)
@pytest.mark.parametrize("phase", ["forward", "train_step", "sample"])
def test_what_a_step_feeds_back_outlives_the_next_call(slug, phase):
    """RIN's latents go from one call of the network into the next (the forward cell's, the
    self-conditioning pass's, the sampler's); under CUDA graphs each step must copy them first."""

    def two_calls(replayed: bool) -> list:
        torch.manual_seed(0)
        model = registry.build(slug)
        cfg = registry.config(slug)
        model_fn = ReplayedOutputs(model) if replayed else model
        context = measure_module.step_context(
            model, cfg, "fp32", torch.device("cpu"), FAST, model_fn=model_fn
        )
        step = measure_module.PHASE_STEPS[phase](context)(2)
        results = []
        for _ in range(2):  # each result copied before the next call overwrites it
            result = step()
            results.append((result[0] if isinstance(result, tuple) else result).detach().clone())
        return results

    replayed, plain = two_calls(replayed=True), two_calls(replayed=False)
    for got, want in zip(replayed, plain, strict=True):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, want)


def test_out_of_memory_is_a_status(monkeypatch):
    def out_of_memory(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setitem(measure_module.PHASE_MEASURES, "forward", out_of_memory)
    result = measure(tiny_cell("dit-tiny", "forward"), FAST)
    assert result.status == "oom"
    assert "out of memory" in result.error


def test_an_unknown_preset_is_an_error_naming_known_ones_and_where_all_are_listed():
    result = measure(Cell("no-such-preset", 32, 1, phase="params"))
    assert result.status == "error"
    assert "unknown preset 'no-such-preset'; known: " in result.error
    assert "dit-b-16-px" in result.error and "`rinbench list` shows them all" in result.error
    assert "Traceback" in result.details["traceback"]


def test_max_batch_search_needs_cuda():
    settings = Settings(**FAST.as_dict() | {"max_batch": True})
    out = check_ok(measure(tiny_cell("dit-tiny", "forward"), settings, peak=PEAK))
    assert out.values["max_batch"] is None and "CUDA" in out.details["max_batch_reason"]


def test_a_cell_batch_over_the_search_limit_starts_the_search_at_the_limit(monkeypatch):
    """The search itself runs on CUDA only; its probes are faked here (every batch fits)."""
    from bench.measure import memory

    monkeypatch.setattr(memory, "free_memory", lambda device: None)
    probed = []
    settings = Settings(**FAST.as_dict() | {"max_batch": True, "max_batch_limit": 64})
    out = measure_module.Measurements()
    cell = tiny_cell("dit-tiny", "forward", device="cuda", batch=128)
    make = lambda batch: lambda: probed.append(batch)  # noqa: E731  the step of one batch
    measure_module._max_batch(make, cell, settings, lambda: None, out)
    assert (out.values["max_batch"], out.values["max_batch_capped"]) == (64, True)
    assert probed == [64] and out.values["max_batch_trials"] == [[64, True]]


def test_measure_prints_nothing(capsys):
    measure(tiny_cell("dit-tiny", "forward"), FAST, peak=PEAK)
    measure(tiny_cell("dit-tiny", "forward", dtype="tf32"), FAST, peak=PEAK)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_settings_validate():
    with pytest.raises(ValueError, match="ddim"):
        Settings(sampler="euler")
    with pytest.raises(ValueError, match="min_repeats"):
        Settings(min_repeats=0)
    with pytest.raises(ValueError, match="known: warmup"):
        Settings.from_mapping({"warmups": 3})
    assert Settings.from_mapping({"warmup": 5}).warmup == 5
    with pytest.raises(ValueError, match="max_seconds >= min_seconds"):
        Settings(min_seconds=2.0, max_seconds=1.0)
    with pytest.raises(ValueError, match="max_rel_iqr > 0"):
        Settings(max_rel_iqr=0.0)
    for steady in (0, 1.5, True, "5%"):
        with pytest.raises(ValueError, match="0 < warmup_steady_within < 1"):
            Settings(warmup_steady_within=steady)
    table = Settings.from_mapping({"min_seconds": 0.2, "max_seconds": 0.5, "max_rel_iqr": 0.1})
    assert (table.max_seconds, table.max_rel_iqr) == (0.5, 0.1)
    assert Settings(min_seconds=3.0).max_seconds is None  # the budget: 5 x min_seconds


def test_a_warm_up_ends_once_steady_in_a_cell_and_in_each_window_of_a_paired_cell():
    """warmup_steady_within reaches the timing: a lone cell's window and each window a paired
    cell's worker serves (bench.measure.cell.windows) stop warming up at the second call that
    agrees (0.99: any two do), and say so."""
    settings = dataclasses.replace(FAST, warmup=5, warmup_steady_within=0.99)
    cell = tiny_cell("dit-tiny", "forward")
    alone = check_ok(measure(cell, settings, peak=PEAK)).values
    assert alone["warmup_iters"] == len(alone["latency_ms_warmup"]) == 2
    served = measure_module.windows(cell, settings, peak=PEAK)
    try:
        check_ok(next(served))  # the set-up
        for _ in range(2):
            window = check_ok(next(served)).values
            assert window["warmup_iters"] == len(window["latency_ms_warmup"]) == 2
    finally:
        served.close()


def test_a_timed_cell_stops_when_steady_or_at_its_budget(monkeypatch):
    """The suite's budget and threshold reach time_calls; a spread the threshold cannot meet runs
    the cell to its budget and flags it noisy."""
    settings = Settings(warmup=0, min_repeats=3, min_seconds=0.0, max_seconds=0.4, max_rel_iqr=1e-9)
    out = check_ok(measure(tiny_cell("dit-tiny", "forward"), settings, peak=PEAK))
    assert out.values["latency_noisy"] == 1
    assert "over the 0.0% threshold" in out.details["latency_noisy_reason"]
    # It stopped because the next call (about the median) would have ended past the budget, and
    # no later than the budget (or the 3 calls min_repeats asks for) plus one slow last call.
    values = out.values
    median_s, slowest_s = values["latency_ms_median"] / 1e3, values["latency_ms_max"] / 1e3
    first_three_s = sum(values["latency_ms_samples"][:3]) / 1e3
    assert values["timed_window_s"] + median_s >= 0.4 * 0.99
    assert values["timed_window_s"] <= max(0.4, first_three_s) + slowest_s


def test_tables_agree_with_their_sources():
    from bench.diffusion import SAMPLERS

    assert measure_module.SAMPLERS == SAMPLERS
    assert measure_module.DEFAULT_MAX_REL_IQR == timing.DEFAULT_MAX_REL_IQR
    assert measure_module.BUDGET_PER_MIN_SECONDS == timing.BUDGET_PER_MIN_SECONDS
    assert set(measure_module.PHASE_MEASURES) == set(cell_module.PHASES)


def test_importing_settings_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, bench.measure.cell; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- CUDA ---------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["fp32", "tf32", "bf16", "fp16"])
@pytest.mark.parametrize("phase", ["forward", "train_step", "sample"])
def test_timed_phases_on_cuda(dtype, phase, cuda_peak):
    cell = tiny_cell("dit-tiny", phase, dtype=dtype, device="cuda")
    out = check_ok(measure(cell, FAST, peak=cuda_peak))
    assert out.details["timer"] == "cuda_events"
    assert out.values["peak_alloc_bytes"] > out.values["alloc_before_bytes"] > 0
    assert out.values["peak_reserved_bytes"] >= out.values["peak_alloc_bytes"]
    assert out.details["numerics"]["tf32_matmul"] is (dtype == "tf32")
    assert out.details["matmul_peak_dtype"] == "bfloat16"
    # The data-sheet MFU where bench.datasheet knows the GPU, the reason where it does not.
    if "datasheet_peak_tflops" in out.values:
        peak = out.values["datasheet_peak_tflops"]
        assert out.values["mfu_datasheet"] == pytest.approx(out.values["achieved_tflops"] / peak)
        assert f", {dtype} dense" in out.details["datasheet_peak_source"]
    else:
        assert out.values["mfu_datasheet"] is None and out.details["mfu_datasheet_reason"]


@pytest.mark.gpu
@pytest.mark.slow
def test_inductor_compile_on_cuda(cuda_peak):
    cell = tiny_cell("dit-tiny", "forward", mode="compile", device="cuda")
    out = check_ok(measure(cell, FAST, peak=cuda_peak))
    assert out.details["compile_backend"] == "inductor"


@pytest.mark.gpu
def test_energy_and_max_batch_on_cuda():
    settings = Settings(
        warmup=1, min_repeats=2, min_seconds=1.0, max_batch=True, max_batch_limit=64
    )
    out = check_ok(measure(tiny_cell("dit-tiny", "forward", device="cuda"), settings))
    assert out.details["energy_reason"] is not None or out.values["joules_per_image"] > 0
    assert (out.values["max_batch"], out.values["max_batch_capped"]) == (64, True)


@pytest.mark.gpu
def test_cuda_flop_count_equals_meta():
    """FlopCounterMode on real CUDA tensors (SDPA through a fused kernel) equals the meta count."""
    from torch.utils.flop_counter import FlopCounterMode

    for slug in TINY:
        cfg = registry.config(slug)
        out = check_ok(measure(tiny_cell(slug, "flops", batch=2), FAST))
        with torch.device("cuda"):
            model = registry.build(slug).eval()
        x, t, y = registry.example_inputs(cfg, 2, "cuda")
        with torch.no_grad():
            state = model(x, t, y)[1]
            with FlopCounterMode(display=False) as counter:
                model(x, t, y, state)
        assert counter.get_total_flops() // 2 == out.values["macs_fwd_batch"], slug
