"""The per-operator table of a profile, and where the device sat idle.

`op_table` reads `prof.key_averages()`: per operator its self time (CPU op time on a CPU, kernel time
its launches ran on CUDA), calls, share of the step and FLOPs where torch's profiler has a formula
(`with_flops=True`: matmuls and convolutions; None for the rest), each per profiled step.
rinbench's own ranges and autograd's node wrappers are not operators and are left out.

`idle_gaps` (CUDA only) lists the longest stretches between one kernel's end and the next one's start
inside the profiled steps: launch overhead, synchronisation, Python. A CPU runs the operators itself
and has no device to wait for, so on a CPU there is nothing to list.
"""

from __future__ import annotations

from bench.profiling.groups import BACKWARD_NODE_PREFIX, RINBENCH_RANGES

TOP_OPS = 15  # rows kept in a record's op table
TOP_GAPS = 5
NO_IDLE_ON_CPU = (
    "a CPU runs the operators itself: there is no device that waits, so no idle gaps to list"
)


# torch's own annotations around an optimizer's calls: spans over the kernels they launch (on CUDA
# their GPU-side span too), not operators or kernels of their own.
ANNOTATION_PREFIXES = ("Optimizer.step#", "Optimizer.zero_grad#")


def is_annotation(name: str) -> bool:
    """A profiler span that holds operators rather than being one: rinbench's ranges, autograd's
    node wrappers, the step markers and torch's optimizer annotations."""
    return name.startswith(
        (RINBENCH_RANGES, BACKWARD_NODE_PREFIX, "ProfilerStep", *ANNOTATION_PREFIXES)
    )


def _is_operator(name: str) -> bool:
    return not is_annotation(name)  # on CUDA the ranges' GPU-side spans too


def op_table(
    averages, *, steps: int, step_ms: float, device: str, top: int = TOP_OPS, kernels: bool = False
) -> dict:
    """{operator: {"self_ms", "calls", "share", "flops"}} per step, the `top` by self time, largest
    first. `averages` is `prof.key_averages()`; `share` is of `step_ms`. On CUDA an operator's
    self time is the kernel time of its own launches; `kernels=True` lists the kernels instead."""
    import torch

    on_cuda = device == "cuda"
    wanted = torch.autograd.DeviceType.CUDA if kernels else torch.autograd.DeviceType.CPU
    rows = []
    for average in averages:
        if not _is_operator(average.key) or getattr(average, "device_type", wanted) != wanted:
            continue
        self_us = average.self_device_time_total if on_cuda else average.self_cpu_time_total
        if self_us <= 0:
            continue
        flops = getattr(average, "flops", 0) or 0
        rows.append(
            (
                average.key,
                {
                    "self_ms": self_us * 1e-3 / steps,
                    "calls": average.count / steps,
                    "share": self_us * 1e-3 / steps / step_ms if step_ms > 0 else None,
                    "flops": flops / steps if flops > 0 else None,
                },
            )
        )
    rows.sort(key=lambda row: -row[1]["self_ms"])
    return dict(rows[:top])


def idle_gaps(kineto_events, step_ranges: list[tuple[int, int]], top: int = TOP_GAPS) -> list:
    """The `top` longest gaps between consecutive CUDA kernels inside the steps, longest first:
    [{"gap_ms", "after", "before"}]. `kineto_events` is `prof.profiler.kineto_results.events()`,
    `step_ranges` the steps' (start_ns, end_ns)."""
    import torch

    kernels = sorted(
        (e.start_ns(), e.end_ns(), e.name())
        for e in kineto_events
        if e.device_type() == torch.autograd.DeviceType.CUDA and _is_operator(e.name())
    )
    gaps = []
    for (_, end, name), (start, _, next_name) in zip(kernels, kernels[1:], strict=False):
        inside = any(low <= end and start <= high for low, high in step_ranges)
        if inside and start > end:
            gaps.append({"gap_ms": (start - end) * 1e-6, "after": name, "before": next_name})
    gaps.sort(key=lambda gap: -gap["gap_ms"])
    return gaps[:top]
