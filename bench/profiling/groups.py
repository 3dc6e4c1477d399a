"""Time per FLOP group: profiler ranges opened from module hooks, and the walk that reads them back.

`GroupRanges` is `bench.measure.flops._CallPath` (the module tracker the FLOP split is counted with,
so a module lands in the same group for its time as for its MACs) plus a
`torch.profiler.record_function` range named "rinbench.group:<group>" around every module call that
enters a group other than the one it is called from.

`group_times(events, device)` walks the events of each "rinbench.step" range and gives every event a
label, inherited from its parent unless it opens one:
- a group range labels its subtree with its group (the forward pass, and RIN's no-grad
  self-conditioning pass, are attributed here);
- a backward node (autograd's "autograd::engine::evaluate_function: ..." events) labels its subtree
  with the group of the forward op that created the node: autograd numbers each node with the
  forward op's sequence number, which the profiler records on both. Backward nodes whose number no
  forward op in a group carries (the loss's, parameters' AccumulateGrad) go to BACKWARD_UNATTRIBUTED;
- anything else in the step (the loss, the optimizer, the sampler's arithmetic, Python between
  calls) is OUTSIDE.
On a CPU each event's self time (its duration less its children's) is added to its label: the labels
partition the step range exactly, so the groups plus OUTSIDE and BACKWARD_UNATTRIBUTED add up to the
traced step. On CUDA the device (kernel) time each op launched is added instead, and DEVICE_IDLE
holds the step's wall time the device had no kernel running, so the parts add up to the step again.

Under torch.compile the modules run inside compiled graphs whose kernels fuse across modules: no
hooks are installed and no per-group time is given (the reason says so).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from bench.family import Grouping
from bench.measure.flops import _CallPath
from bench.profiling import BACKWARD_UNATTRIBUTED, DEVICE_IDLE, NOT_GROUPS, OUTSIDE

RINBENCH_RANGES = "rinbench."  # the prefix of every range rinbench opens
STEP_RANGE = "rinbench.step"
GROUP_PREFIX = "rinbench.group:"
BACKWARD_NODE_PREFIX = "autograd::engine::evaluate_function"


class GroupRanges(_CallPath):
    """Module hooks (on every module, through torch's global hooks) that open a profiler range
    whenever a module call enters another FLOP group than its caller's, and close it on return."""

    def __init__(self, root: nn.Module, grouping: Grouping):
        super().__init__(root, grouping)
        self._ranges: list = []  # per module call: its open range, or None when none was opened

    def _push(self, module: nn.Module, args: tuple) -> None:
        outer = self._stack[-1][0] if self._stack else None
        super()._push(module, args)
        group = self._stack[-1][0]
        opened = None
        if group != outer:
            opened = torch.autograd.profiler.record_function(GROUP_PREFIX + group)
            opened.__enter__()
        self._ranges.append(opened)

    def _pop(self, module: nn.Module, args: tuple, output) -> None:
        super()._pop(module, args, output)
        opened = self._ranges.pop() if self._ranges else None
        if opened is not None:
            opened.__exit__(None, None, None)

    def __exit__(self, *exc_info):
        while self._ranges:  # a call that raised left its ranges open
            opened = self._ranges.pop()
            if opened is not None:
                opened.__exit__(None, None, None)
        return super().__exit__(*exc_info)


@dataclass(frozen=True)
class GroupTimes:
    """Per profiled step (a mean over `steps`), in ms: `ms_by_group` holds every group plus the
    NOT_GROUPS parts that occurred, and adds up to `step_ms`; `backward_ms_by_group` is the part of
    each group's time spent in its backward nodes. `step_ms` is the traced step's wall time."""

    steps: int
    step_ms: float
    ms_by_group: dict[str, float]
    backward_ms_by_group: dict[str, float]
    clock: str  # "cpu op self time" or "cuda kernel time"


def group_times(events: Iterable, device: str) -> GroupTimes:
    """Time per group from a profiler's events (`prof.events()`) that hold STEP_RANGE ranges."""
    events = list(events)
    # On CUDA the ranges also have a GPU-side span of the same name; the step is the CPU's range.
    cpu = torch.autograd.DeviceType.CPU
    steps = [e for e in events if e.name == STEP_RANGE and e.device_type == cpu]
    if not steps:
        raise RuntimeError(f"the profile holds no {STEP_RANGE!r} range: no step was profiled")
    on_cuda = device == "cuda"
    roots = [(step, _concurrent_roots(step, events) if on_cuda else []) for step in steps]
    creators = _creators(root for step, others in roots for root in (step, *others))
    totals: dict[str, float] = defaultdict(float)
    backward: dict[str, float] = defaultdict(float)
    wall = 0.0
    for step, others in roots:
        wall += step.time_range.elapsed_us()
        for event, (group, is_backward) in _labelled((step, *others), creators):
            spent = _own_kernel_us(event) if on_cuda else event.self_cpu_time_total
            totals[group] += spent
            if is_backward:
                backward[group] += spent
    if on_cuda:
        totals[DEVICE_IDLE] = max(wall - sum(totals.values()), 0.0)
    per_step = 1e-3 / len(steps)  # us summed over the steps -> ms per step
    return GroupTimes(
        steps=len(steps),
        step_ms=wall * per_step,
        ms_by_group={group: us * per_step for group, us in sorted(totals.items()) if us > 0},
        backward_ms_by_group={group: us * per_step for group, us in sorted(backward.items())},
        clock="cuda kernel time" if on_cuda else "cpu op self time",
    )


def _own_kernel_us(event) -> float:
    """The device time of the kernels `event` itself launched. Not `self_device_time_total`: the
    GPU side of rinbench's own ranges (Kineto's gpu_user_annotation spans) can be linked to the
    ranges as if they were kernels, and would count every kernel inside them twice."""
    return sum(k.duration for k in event.kernels if not k.name.startswith(RINBENCH_RANGES))


def _concurrent_roots(step, events: list) -> list:
    """Top-level CPU events of other threads inside the step's time (CUDA: autograd's device
    thread). Kernels are events too, but each is counted once, through the op that launched it."""
    start, end = step.time_range.start, step.time_range.end
    return [
        e
        for e in events
        if e.device_type == torch.autograd.DeviceType.CPU
        and e.cpu_parent is None
        and e.thread != step.thread
        and start <= e.time_range.start
        and e.time_range.end <= end
    ]


def _labelled(roots: Iterable, creators: dict[int, str]) -> Iterator[tuple]:
    """(event, (group, in_backward)) for every event under `roots`, depth first in time order."""
    pending = [(root, (OUTSIDE, False)) for root in reversed(list(roots))]
    while pending:  # a stack, children pushed last-first: events come out in time order
        event, label = pending.pop()
        name = event.name
        if name.startswith(GROUP_PREFIX):
            label = (name[len(GROUP_PREFIX) :], label[1])
        elif name.startswith(BACKWARD_NODE_PREFIX):
            label = (creators.get(event.sequence_nr, BACKWARD_UNATTRIBUTED), True)
        yield event, label
        pending.extend((child, label) for child in reversed(event.cpu_children))


def _creators(roots: Iterable) -> dict[int, str]:
    """Autograd sequence number -> the group of the forward op that carries it (the last such op
    wins: a no-grad op records the number the next node will get, which the grad pass then makes)."""
    creators: dict[int, str] = {}
    for event, (group, in_backward) in _labelled(roots, {}):
        if not in_backward and group not in NOT_GROUPS and event.sequence_nr >= 0:
            creators[event.sequence_nr] = group
    return creators
