"""measure_profile(cell, settings, peak): one profile cell in this process, as a bench.record.Outcome.
profile_served(cell, settings, ready, peak, trace_dir, out): the same profile, taken by a pair's
serving worker on the step its windows ran (bench.measure.cell.windows), after the rounds.

The worker runs it (`python -m bench.worker --measure bench.profiling.measure:measure_profile`)
for a cell of phase "profile:<phase>": the step is built exactly as the timed cell builds it
(bench.measure.cell: the same model, inputs, dtype, mode and levers, through `make_steps`), run
once (compiling in compile mode), warmed up (`settings.warmup` calls), run PROFILE_STEPS[phase] times under
torch.profiler with the FLOP-group ranges of bench.profiling.groups, and timed unprofiled over
UNPROFILED_CALLS calls before and as many after the profiled ones (so that neither side has the
warmer caches). The profile's slowdown over the unprofiled calls is recorded with it.

Values (per profiled step; "by_group" dicts are keyed by the family's FLOP groups plus the parts of
bench.profiling.NOT_GROUPS): profile_steps, unprofiled_ms_median, profiled_ms_median, traced_step_ms,
profiler_slowdown, time_ms_by_group, time_share_by_group, backward_ms_by_group, mac_share_by_group,
achieved_tflops_by_group, mfu_by_group, top_ops (bench.profiling.ops), on CUDA top_kernels, idle_gaps
and peak_alloc_bytes (over the memory snapshot's step), trace_bytes, and the counts a timed cell
records (macs_fwd, macs_fwd_by_group, flops_per_call, ...). Details: trace_file, memory_snapshot
(CUDA), profile_clock, and a *_reason for each of these that is missing. Like a timed window, the
profiled steps record torch_threads, the load average around them and cpu_util_timed.

MACs per group are counted for the forward pass (`macs_fwd_by_group`); a train step's and a
sampler call's FLOPs per group are that split scaled to the phase's total (a matmul's backward costs
twice its forward in every group alike), which `achieved_tflops_by_group` divides by each group's time.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

from bench.cell import Cell, profile_of, profiled
from bench.measure.cell import (
    Measurements,
    Settings,
    _count,
    build_model,
    check_dtype,
    check_sdpa_backend,
    cpu_threads_for,
    first_call_then_quiet,
    make_steps,
    measured_outcome,
    prepare,  # noqa: F401  what a worker held ahead of a profile cell imports (bench.worker --hold)
    spent,
    wait_for_quiet,
)
from bench.measure.facts import MatmulPeak
from bench.record import Outcome

PROFILE_MEASURE_SPEC = "bench.profiling.measure:measure_profile"
# Steps under the profiler: enough to average over, few enough to bound the trace's size.
PROFILE_STEPS = {"forward": 3, "train_step": 2, "sample": 1}
UNPROFILED_CALLS = 2  # before and after the profile: the slowdown's denominator is their median
TRACE_DIR = "trace_dir"  # the request's settings may carry the folder for the trace; not a Setting


def measure_profile(cell: Cell, settings: dict, peak: MatmulPeak | None = None) -> Outcome:
    """Profile one cell of a PROFILE_PHASES phase. `settings` is the suite's settings (a dict, as
    the worker passes it), optionally with TRACE_DIR, the folder the trace and the memory snapshot
    go to (without it none is written and the reason says so). Never raises for a failed
    measurement: the Outcome says what failed, with what was measured before."""
    settings = dict(settings)
    trace_dir = settings.pop(TRACE_DIR, None)
    phase = profiled(cell.phase)
    if phase is None:
        return Outcome("error", error=f"{cell.id} is not a profile cell (phase profile:...)")
    out = Measurements()
    # The intra-op threads the timed cell gets (cpu_threads_for), so both run alike.
    threads_source = cpu_threads_for(dataclasses.replace(cell, phase=phase))
    if threads_source is not None:
        out.details["torch_threads_source"] = threads_source
    return measured_outcome(
        cell,
        out,
        lambda: _profile(cell, phase, Settings.from_mapping(settings), out, peak, trace_dir),
    )


def _profile(
    cell: Cell, phase: str, settings: Settings, out: Measurements, peak, trace_dir
) -> None:
    import torch

    from bench.measure.numerics import numerics
    from bench.measure.timing import matmul_peak

    device = torch.device(cell.device)
    timed = dataclasses.replace(cell, phase=phase)
    check_dtype(cell.dtype, device)
    check_sdpa_backend(settings.sdpa_backend, cell.dtype, device)
    with spent(out, "count"):
        counts = _count(timed, train_step=phase == "train_step")
    if peak is None:  # timed here: not beside the next cell's imports
        wait_for_quiet(out)
    out.add((peak if peak is not None else matmul_peak(device)).values())
    with spent(out, "build"):
        model, cfg = build_model(cell, device, settings)  # with the timed cell's levers
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    with numerics(tf32=cell.dtype == "tf32", cudnn_benchmark=settings.cudnn_benchmark) as flags:
        out.details["numerics"] = flags
        with spent(out, "build"):
            make = make_steps(model, cfg, timed, settings, device, out)
        step = first_call_then_quiet(make, timed, sync, out)  # no profiled call beside imports
        _profile_step(cell, phase, settings, (model, step, sync), counts, out, trace_dir)


def profile_served(
    cell: Cell,
    settings: Settings,
    ready: tuple,
    peak: MatmulPeak,
    trace_dir,
    out: Measurements,
    counts: dict | None = None,
) -> None:
    """The profile of a paired cell's step into `out`, taken by the worker that served its timed
    windows (bench.measure.cell.windows, after the pair's rounds): `ready` is (model, step, sync)
    as the windows ran them, already built, compiled and autotuned, so none of that is done
    twice. `cell` is the timed cell; the measurements are its profile cell's, as
    `measure_profile` takes them after its own set-up (warm-up, unprofiled and profiled calls,
    the memory snapshot, the analysis, the trace), with `peak` and the FLOP counts per group
    (`counts`, the set-up's; counted on meta here without them). Raises for a failed
    measurement, with what it measured before in `out`."""
    with spent(out, "measure"):
        if counts is None:
            with spent(out, "count"):
                counts = _count(cell, train_step=cell.phase == "train_step")
        out.add(peak.values())
        profile_cell = dataclasses.replace(cell, phase=profile_of(cell.phase))  # names the files
        with spent(out, "profile"):
            _profile_step(profile_cell, cell.phase, settings, ready, counts, out, trace_dir)


def _profile_step(
    cell: Cell, phase: str, settings: Settings, ready: tuple, counts: dict, out, trace_dir
) -> None:
    """Profile the ready (model, step, sync), whose step ran at least once: the warm-up, the
    unprofiled calls on either side of the profiled ones, the memory snapshot, the analysis
    against `counts` and the trace, into `out`. `cell` is the profile cell, `phase` its timed
    twin's."""
    from bench import registry

    model, step, sync = ready
    for _ in range(settings.warmup):
        step()
    before = _time_unprofiled(step, sync)
    hooks = None if cell.mode == "compile" else (model, registry.get(cell.preset).flop_grouping)
    prof, walls = _run_profiled(step, PROFILE_STEPS[phase], cell, sync, hooks, trace_dir, out)
    unprofiled = statistics.median(before + _time_unprofiled(step, sync))
    _snapshot_memory(step, cell, sync, trace_dir, out)
    out.values |= {
        "profile_steps": len(walls),
        "unprofiled_ms_median": unprofiled,
        "profiled_ms_median": statistics.median(walls),
        "profiler_slowdown": statistics.median(walls) / unprofiled,
    }
    _analyse(prof, cell, phase, settings, counts, hooks is not None, out)
    _write_trace(prof, cell, trace_dir, out)


def _time_unprofiled(step, sync) -> list[float]:
    """UNPROFILED_CALLS calls' wall times, in ms."""
    sync()
    times = []
    for _ in range(UNPROFILED_CALLS):
        start = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _run_profiled(step, steps: int, cell: Cell, sync, hooks, trace_dir, out: Measurements):
    """`steps` calls under torch.profiler, each in a STEP_RANGE range (and the group ranges when
    `hooks` is (model, grouping)); returns the profiler and each call's wall time in ms."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from bench.measure.timing import load_avg_1m, window_conditions
    from bench.profiling.groups import STEP_RANGE, GroupRanges

    activities = [ProfilerActivity.CPU]
    if cell.device == "cuda":
        activities.append(ProfilerActivity.CUDA)
    ranges = GroupRanges(*hooks) if hooks is not None else nullcontext()
    walls = []
    load_before, cpu_start, wall_start = load_avg_1m(), time.process_time(), time.perf_counter()
    with profile(activities=activities, with_flops=True) as prof, ranges:
        for _ in range(steps):
            start = time.perf_counter()
            with record_function(STEP_RANGE):
                step()
                sync()
            walls.append((time.perf_counter() - start) * 1e3)
    cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
    # The conditions a timed window records (threads, load, busy threads): was the machine free?
    out.add(window_conditions(cpu_s, wall_s, load_before, load_avg_1m()).values())
    return prof, walls


def _snapshot_memory(step, cell: Cell, sync, trace_dir, out: Measurements) -> None:
    """On CUDA one more step with the allocator's history recorded, dumped beside the trace (not
    during the profiled steps: recording every allocation's stack would slow them); on a CPU the
    reason there is none."""
    from bench.profiling.artifacts import MemoryHistory, file_stem

    folder = None if trace_dir is None else Path(trace_dir)
    path = None if folder is None else folder / f"{file_stem(cell.id)}.memory.pickle"
    with MemoryHistory(cell.device, path) as memory:
        if cell.device == "cuda":
            step()
            sync()
    out.add(memory.values)


def _analyse(prof, cell: Cell, phase, settings, counts: dict, grouped: bool, out) -> None:
    """Time per group against MACs per group, the operator table and the idle gaps into `out`."""
    from bench.profiling.groups import group_times
    from bench.profiling.ops import NO_IDLE_ON_CPU, idle_gaps, op_table

    times = group_times(prof.events(), cell.device)
    out.values["traced_step_ms"] = times.step_ms
    out.details["profile_clock"] = times.clock
    out.add(_counts(counts, phase, settings))
    if grouped:
        out.add(_by_group(times, counts, phase, settings, out.values))
    else:
        out.details["time_ms_by_group_reason"] = (
            "torch.compile fuses operators across modules into its own kernels: time per module "
            "group is not attributable; see top_ops, or profile in eager mode"
        )
    out.values["top_ops"] = op_table(
        prof.key_averages(), steps=times.steps, step_ms=times.step_ms, device=cell.device
    )
    if cell.device == "cuda":
        out.values["top_kernels"] = op_table(
            prof.key_averages(),
            steps=times.steps,
            step_ms=times.step_ms,
            device=cell.device,
            kernels=True,
        )
        steps = [
            (e.start_ns(), e.end_ns())
            for e in prof.profiler.kineto_results.events()
            if e.name() == "rinbench.step"
        ]
        out.values["idle_gaps"] = idle_gaps(prof.profiler.kineto_results.events(), steps)
    else:
        out.details["idle_gaps_reason"] = NO_IDLE_ON_CPU


def _counts(counts: dict, phase: str, settings: Settings) -> dict:
    keys = ["macs_fwd", "flops_fwd", "macs_fwd_by_group"]
    if phase == "train_step":
        keys += ["macs_train_step", "flops_train_step"]
    return {key: counts[key] for key in keys} | {
        "flops_per_call": _phase_flops(counts, phase, settings)
    }


def _phase_flops(counts: dict, phase: str, settings: Settings) -> int:
    """The FLOPs of one call of the phase, for the whole batch."""
    if phase == "train_step":
        return counts["flops_train_step_batch"]
    if phase == "sample":
        return settings.sample_steps * counts["flops_fwd_batch"]
    return counts["flops_fwd_batch"]


def _by_group(times, counts: dict, phase, settings, values: dict) -> dict:
    """time_ms_by_group and its shares, beside mac_share_by_group, achieved TFLOP/s and MFU per
    group (a group's share of the phase's FLOPs over the group's time)."""
    macs = counts["macs_fwd_by_group"]
    total_macs = sum(macs.values())
    step_ms = times.step_ms
    phase_flops = _phase_flops(counts, phase, settings)
    peak = values.get("matmul_peak_tflops")
    achieved, mfu = {}, {}
    for group, group_macs in macs.items():
        ms = times.ms_by_group.get(group)
        if not ms or not total_macs:
            continue
        achieved[group] = phase_flops * group_macs / total_macs / (ms * 1e-3) / 1e12
        if peak:
            mfu[group] = achieved[group] / peak
    return {
        "time_ms_by_group": times.ms_by_group,
        "time_share_by_group": {g: ms / step_ms for g, ms in times.ms_by_group.items()},
        "backward_ms_by_group": times.backward_ms_by_group,
        "mac_share_by_group": {g: m / total_macs for g, m in macs.items()} if total_macs else {},
        "achieved_tflops_by_group": achieved,
        "mfu_by_group": mfu,
    }


def _write_trace(prof, cell: Cell, trace_dir, out: Measurements) -> None:
    from bench.profiling.artifacts import file_stem, write_trace

    if trace_dir is None:
        out.details["trace_file_reason"] = "no folder for files was given"
        return
    path, size = write_trace(prof, Path(trace_dir), file_stem(cell.id))
    out.details["trace_file"] = str(path)
    out.values["trace_bytes"] = size
