"""bench.profiling: time per FLOP group that adds up to the step, backward attributed through
autograd's sequence numbers, the operator table, and a trace that opens as JSON. Tiny presets, CPU, in-process
(the worker calls the same function); the CUDA paths under the `gpu` marker."""

import gzip
import json
from pathlib import Path

import pytest
import torch

from bench import worker
from bench.cell import PROFILE_ASK, Cell
from bench.measure.cell import Settings, windows
from bench.profiling import BACKWARD_UNATTRIBUTED, DEVICE_IDLE, NOT_GROUPS, OUTSIDE
from bench.profiling.artifacts import MemoryHistory
from bench.profiling.groups import BACKWARD_NODE_PREFIX as BACKWARD_NODE
from bench.profiling.measure import TRACE_DIR, measure_profile
from bench.record import CELL_TIME_KEY

FAST = {"warmup": 1}


@pytest.fixture(scope="module", autouse=True)
def one_thread_per_profile():
    """The profile sets the threads a timed cell gets (bench.measure.cell.cpu_threads_for), which
    honour OMP_NUM_THREADS: one here, as tests/conftest.py's one_cpu_thread does for a busy 2-core
    box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what torch would have read from the variable at its start
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)


def profile(
    tmp_path_factory, preset, phase, resolution=16, batch=2, device="cpu", mode="eager", **settings
):
    folder = tmp_path_factory.mktemp("traces")
    cell = Cell(preset, resolution, batch, "fp32", f"profile:{phase}", mode, device)
    outcome = measure_profile(cell, FAST | settings | {TRACE_DIR: str(folder)})
    assert outcome.status == "ok", (outcome.error, outcome.details.get("traceback"))
    return outcome


@pytest.fixture(scope="module")
def rin_forward(tmp_path_factory):
    return profile(tmp_path_factory, "rin-tiny", "forward")


@pytest.fixture(scope="module")
def rin_train(tmp_path_factory):
    return profile(tmp_path_factory, "rin-tiny", "train_step")


def assert_adds_up(values):
    """The parts partition the traced step, and the traced step is the profiled call's wall time
    but for the profiler's own overhead."""
    parts = values["time_ms_by_group"]
    assert sum(parts.values()) == pytest.approx(values["traced_step_ms"], rel=1e-6)
    assert sum(values["time_share_by_group"].values()) == pytest.approx(1.0, rel=1e-6)
    # The traced step is the profiled call less the instants outside its range (a mean against a
    # median, on a busy machine: a quarter's slack, plus the profiler's own overhead).
    wall, traced = values["profiled_ms_median"], values["traced_step_ms"]
    overhead = max(wall - values["unprofiled_ms_median"], 0.0)
    assert abs(wall - traced) <= overhead + 0.25 * wall + 1.0


def test_forward_group_times_add_up_to_the_step(rin_forward):
    values = rin_forward.values
    assert_adds_up(values)
    assert values["profile_steps"] == 3
    assert values["profiler_slowdown"] > 0
    # The threads a timed cell gets, and the conditions of the profiled window.
    assert values["torch_threads"] == 1 and "load_avg_1m_before" in values
    assert rin_forward.details["torch_threads_source"]
    groups = values["time_ms_by_group"]
    assert {"read", "compute", "write"} <= set(groups)
    assert all(groups[g] > 0 for g in ("read", "compute", "write"))
    # The model is nearly all of a forward step.
    assert groups.get(OUTSIDE, 0.0) < 0.5 * values["traced_step_ms"]


def test_groups_are_the_flop_split_s_groups(rin_forward):
    values = rin_forward.values
    assert set(values["mac_share_by_group"]) == set(values["macs_fwd_by_group"])
    assert sum(values["mac_share_by_group"].values()) == pytest.approx(1.0)
    assert set(values["time_ms_by_group"]) - set(NOT_GROUPS) <= set(values["macs_fwd_by_group"])
    achieved = values["achieved_tflops_by_group"]
    assert set(achieved) <= set(values["macs_fwd_by_group"]) and achieved["read"] > 0
    assert values["mfu_by_group"]["read"] == pytest.approx(
        achieved["read"] / values["matmul_peak_tflops"]
    )


def test_unet_groups_by_feature_map_size(tmp_path_factory):
    values = profile(tmp_path_factory, "adm-tiny", "forward", resolution=16, batch=1).values
    assert_adds_up(values)
    px_groups = {g for g in values["time_ms_by_group"] if g.endswith("px")}
    assert px_groups and px_groups <= set(values["macs_fwd_by_group"])


def test_train_step_backward_is_attributed_to_the_groups(rin_train):
    values = rin_train.values
    assert_adds_up(values)
    backward = values["backward_ms_by_group"]
    assert all(backward.get(g, 0) > 0 for g in ("read", "compute", "write"))
    attributed = sum(ms for g, ms in backward.items() if g != BACKWARD_UNATTRIBUTED)
    assert backward.get(BACKWARD_UNATTRIBUTED, 0.0) < 0.25 * attributed
    assert values["profile_steps"] == 2
    # The optimizer and the loss run outside every module call.
    assert values["time_ms_by_group"][OUTSIDE] > 0


def test_a_sampler_call_is_one_step_with_the_sampler_outside_the_model(tmp_path_factory):
    values = profile(tmp_path_factory, "rin-tiny", "sample", sample_steps=2).values
    assert_adds_up(values)
    assert values["profile_steps"] == 1
    assert values["time_ms_by_group"][OUTSIDE] > 0 and values["time_ms_by_group"]["read"] > 0
    assert values["flops_per_call"] == 2 * 2 * values["flops_fwd"]  # steps x batch x per image


def test_the_operator_table_ranks_ops_by_self_time(rin_forward):
    ops = rin_forward.values["top_ops"]
    assert 0 < len(ops) <= 15
    times = [row["self_ms"] for row in ops.values()]
    assert times == sorted(times, reverse=True)
    assert all(0 < row["share"] <= 1 and row["calls"] > 0 for row in ops.values())
    assert not any(name.startswith("rinbench.") for name in ops)
    counted = [row["flops"] for row in ops.values() if row["flops"]]
    assert counted, "torch's profiler counts the matmuls' FLOPs"


def test_the_trace_opens_as_json_with_the_step_and_group_ranges(rin_forward):
    path = Path(rin_forward.details["trace_file"])
    assert path.name.endswith(".trace.json.gz")
    assert rin_forward.values["trace_bytes"] == path.stat().st_size < 5 * 2**20
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        trace = json.load(handle)
    names = {event.get("name") for event in trace["traceEvents"]}
    assert "rinbench.step" in names and "rinbench.group:read" in names


def test_a_cpu_profile_says_why_it_has_no_memory_snapshot_nor_idle_gaps(rin_forward, tmp_path):
    details = rin_forward.details
    assert "CPU" in details["memory_snapshot_reason"]
    assert "CPU" in details["idle_gaps_reason"]
    assert "idle_gaps" not in rin_forward.values
    assert details["profile_clock"] == "cpu op self time"
    with MemoryHistory("cpu", tmp_path / "x.pickle") as memory:
        pass
    assert not (tmp_path / "x.pickle").exists() and "memory_snapshot_reason" in memory.values


def test_compiled_cells_give_operators_and_say_why_no_groups(tmp_path_factory):
    outcome = profile(
        tmp_path_factory, "dit-tiny", "forward", mode="compile", compile_backend="eager"
    )
    assert "time_ms_by_group" not in outcome.values
    assert "torch.compile" in outcome.details["time_ms_by_group_reason"]
    assert outcome.values["top_ops"]


def test_without_a_folder_no_file_is_written_and_the_reason_is_recorded():
    outcome = measure_profile(Cell("dit-tiny", 16, 1, phase="profile:forward"), FAST)
    assert outcome.status == "ok"
    assert "trace_file" not in outcome.details and outcome.details["trace_file_reason"]


def test_a_cell_that_is_no_profile_is_an_error_outcome():
    outcome = measure_profile(Cell("dit-tiny", 16, 1, phase="forward"), FAST)
    assert outcome.status == "error" and "not a profile cell" in outcome.error


def test_an_unsupported_dtype_is_recorded_not_raised():
    outcome = measure_profile(Cell("dit-tiny", 16, 1, "tf32", phase="profile:forward"), FAST)
    assert outcome.status == "unsupported" and "tf32" in outcome.error


@pytest.mark.gpu
def test_cuda_kernel_time_per_group_idle_gaps_and_memory_snapshot(tmp_path_factory):
    outcome = profile(tmp_path_factory, "rin-tiny", "train_step", device="cuda")
    values, details = outcome.values, outcome.details
    assert details["profile_clock"] == "cuda kernel time"
    assert_adds_up(values)
    assert DEVICE_IDLE in values["time_ms_by_group"]
    assert all(values["time_ms_by_group"].get(g, 0) > 0 for g in ("read", "compute", "write"))
    assert isinstance(values["idle_gaps"], list)
    assert Path(details["memory_snapshot"]).stat().st_size > 0
    assert values["peak_alloc_bytes"] > 0


# --- the CUDA attribution, on made-up events (the real thing runs under the gpu marker) ---------


class FakeRange:
    def __init__(self, start, end):
        self.start, self.end = start, end

    def elapsed_us(self):
        return self.end - self.start


def event(name, start, end, *, thread=1, children=(), kernels=(), seq=-1, cuda=False):
    from types import SimpleNamespace

    DeviceType = torch.autograd.DeviceType  # noqa: N806 (torch's name)

    made = SimpleNamespace(
        name=name,
        time_range=FakeRange(start, end),
        thread=thread,
        cpu_children=list(children),
        cpu_parent=None,
        kernels=[SimpleNamespace(name=k, device=0, duration=d) for k, d in kernels],
        sequence_nr=seq,
        device_type=DeviceType.CUDA if cuda else DeviceType.CPU,
    )
    for child in made.cpu_children:
        child.cpu_parent = made
    return made


def test_cuda_time_is_each_op_s_own_kernels_and_the_rest_is_device_idle():
    from bench.profiling.groups import group_times

    forward_mm = event("aten::mm", 12, 20, seq=5, kernels=[("gemm", 15)])
    # Kineto may link the GPU-side span of a range to it as if it were a kernel: not counted.
    read = event(
        "rinbench.group:read", 10, 40, children=[forward_mm], kernels=[("rinbench.group:read", 30)]
    )
    outside = event("aten::add", 50, 55, kernels=[("add_kernel", 5)])
    step = event("rinbench.step", 0, 100, children=[read, outside])
    backward_mm = event("aten::mm", 61, 79, thread=2, kernels=[("gemm_bw", 25)])
    node = event(f"{BACKWARD_NODE}MmBackward0", 60, 80, thread=2, seq=5, children=[backward_mm])
    gpu_span = event("rinbench.step", 0, 100, thread=7, cuda=True)
    times = group_times([step, read, forward_mm, outside, backward_mm, node, gpu_span], "cuda")
    assert times.steps == 1 and times.step_ms == pytest.approx(0.1)
    assert times.ms_by_group == pytest.approx({"read": 0.040, OUTSIDE: 0.005, DEVICE_IDLE: 0.055})
    assert times.backward_ms_by_group == pytest.approx({"read": 0.025})
    assert times.clock == "cuda kernel time"


def test_idle_gaps_are_between_kernels_inside_the_steps_longest_first():
    from types import SimpleNamespace

    from bench.profiling.ops import idle_gaps

    def kineto(name, start, end, cuda=True):
        kind = torch.autograd.DeviceType.CUDA if cuda else torch.autograd.DeviceType.CPU
        return SimpleNamespace(
            name=lambda: name, start_ns=lambda: start, end_ns=lambda: end, device_type=lambda: kind
        )

    events = [
        kineto("gemm", 0, 10),
        kineto("rinbench.step", 0, 100),  # the step's GPU-side span is no kernel
        kineto("softmax", 15, 20),
        kineto("aten::mm", 20, 90, cuda=False),
        kineto("gemm", 40, 50),
        kineto("after the step", 500, 510),
    ]
    gaps = idle_gaps(events, [(0, 100)])
    assert [(g["gap_ms"] * 1e6, g["after"], g["before"]) for g in gaps] == [
        (pytest.approx(20), "softmax", "gemm"),
        (pytest.approx(5), "gemm", "softmax"),
    ]


def test_a_pair_worker_profiles_the_step_it_timed_as_a_profile_cell_would(rin_train, tmp_path):
    # bench.paired asks each side's worker for its profile after the rounds: the same values as
    # the profile cell measured in a process of its own, without a second build or first call,
    # and the set-up's details (the numerics flags, a lever's) as that cell's own set-up records.
    cell = Cell("rin-tiny", 16, 2, "fp32", "train_step")
    quick = FAST | {"min_repeats": 2, "min_seconds": 0.0, "max_seconds": 0.2}
    served = worker.serve_cell(cell, quick | {"checkpointing": "blocks"})
    set_up, window = next(served), next(served)
    taken = served.send({PROFILE_ASK: {"trace_dir": str(tmp_path)}})
    after = next(served)  # windows go on after it
    served.close()
    assert [o.status for o in (set_up, window, taken, after)] == ["ok"] * 4, taken.error
    assert_adds_up(taken.values)
    assert set(taken.values) == set(rin_train.values)
    assert taken.values["macs_fwd_by_group"] == rin_train.values["macs_fwd_by_group"]
    assert taken.values["first_call_s"] == set_up.values["first_call_s"]  # the one first call
    assert taken.values["profile_steps"] == 2 and "latency_ms_median" in after.values
    carried = set(set_up.details) - {CELL_TIME_KEY, "warnings", "traceback"}
    assert carried <= set(taken.details) and "checkpointed_modules" in carried
    assert taken.details["numerics"] == set_up.details["numerics"]
    trace = Path(taken.details["trace_file"])
    assert trace.parent == tmp_path and trace.name == Path(rin_train.details["trace_file"]).name
    assert set(taken.details[CELL_TIME_KEY]) == {"profile", "measure"}  # counted in the set-up


def test_a_serving_worker_without_a_profiler_says_so():
    served = windows(Cell("dit-tiny", 16, 1, phase="forward"), Settings(warmup=0, min_repeats=1))
    assert next(served).status == "ok"
    refused = served.send({PROFILE_ASK: {}})
    assert refused.status == "error" and "no profiler" in refused.error
