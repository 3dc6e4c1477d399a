"""FLOPs of one network evaluation and of one training step, counted on the meta device.

`torch.utils.flop_counter.FlopCounterMode` reads shapes off every aten op; on `meta` tensors it needs no
memory or GPU, works at 1024 px and is deterministic. Two pitfalls decide how it is used here:
- On CPU it counts 0 for `F.scaled_dot_product_attention`: the CPU flash kernel has no FLOP formula
  (pytorch#195460). On meta, SDPA runs as its math decomposition (two bmm), which is counted; on CUDA
  the fused kernels have formulas, and the totals agree (tests/test_measure_cell.py, gpu marker).
- Its module tracker registers autograd hooks on every module input and asserts ("Expected gradient
  function to be set") under `no_grad` when a module receives a view of a parameter. RIN's
  self-conditioning pass runs under `no_grad`, so the tracker is replaced by `_CallPath`, which attributes
  each op to the innermost module call through forward hooks only.
And one cost: several meta kernels are Python code, slow enough to dominate a count; `FastMetaKernels`
answers five of them from their inputs' shapes.

Conventions: FlopCounterMode counts 2 FLOPs per multiply-accumulate; the papers' "GFLOPs" are GMACs
(DiT: W. Peebles in facebookresearch/DiT#14; ADM: Dhariwal & Nichol 2021, appendix A.1, counted with
THOP, which returns MACs). Both are stored, `macs_*` and `flops_*` = 2 x MACs, per image (the papers'
number) and per batch (`*_batch`). Only matmul-class ops (linear, conv, bmm, attention) carry formulas:
norms, activations and other elementwise ops count zero, as in the papers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from bench.family import NO_DIFFUSION_NEEDS, DiffusionNeeds, Grouping


class _CallPath:
    """Stand-in for FlopCounterMode's ModuleTracker: `parents` is {"Global", group of the innermost
    module call}, so each op is counted once in "Global" and once in its group.

    Forward hooks only: ops of the backward pass land in "Global" alone."""

    def __init__(self, root: nn.Module, grouping: Grouping):
        self._names = {id(module): name for name, module in root.named_modules()}
        self._grouping = grouping
        self._stack: list[tuple[str, tuple[int, int] | None]] = []  # (group, spatial) per call
        self.parents: set[str] = {"Global"}
        self._handles: list = []

    def __enter__(self):
        from torch.nn.modules.module import (
            register_module_forward_hook,
            register_module_forward_pre_hook,
        )

        self._handles = [
            register_module_forward_pre_hook(self._push),
            register_module_forward_hook(self._pop, always_call=True),
        ]
        return self

    def __exit__(self, *exc_info):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._stack.clear()
        self.parents = {"Global"}

    def _push(self, module: nn.Module, args: tuple) -> None:
        name = self._names.get(id(module))
        if name is None:  # a module outside the model, e.g. in the loss
            name = type(module).__name__
        if name == "":  # the root: its input resolution says nothing about the op
            spatial = None
        else:
            spatial = next(
                (tuple(a.shape[-2:]) for a in args if isinstance(a, torch.Tensor) and a.ndim >= 4),
                self._stack[-1][1] if self._stack else None,
            )
        group = self._grouping(name, spatial)
        self._stack.append((group, spatial))
        self.parents = {"Global", group}

    def _pop(self, module: nn.Module, args: tuple, output) -> None:
        if self._stack:
            self._stack.pop()
        self.parents = {"Global", self._stack[-1][0]} if self._stack else {"Global"}


# --- faster meta kernels ----------------------------------------------------------------------------
# torch implements the meta kernels of several ops in Python (torch._refs): on meta a layer norm costs
# ~450 us, a tanh-GELU ~650 us, an addmm ~250 us (its bias broadcast), against ~15 us for a linear's
# mm. Counting all paper presets at 64-1024 px spent 2/3 of its time there. For the ops below the
# output's shape, dtype and layout follow from the inputs in one line, for the inputs where that is
# certain (fp32, contiguous, shapes that fit together); anything else goes to torch's own kernel, which
# then raises for a model that could not run. tests/test_measure_flops.py compares each stand-in
# with torch's kernel.


def _empty(like: torch.Tensor, shape, dtype: torch.dtype | None = None) -> torch.Tensor:
    return torch.empty(tuple(shape), dtype=dtype or like.dtype, device=like.device)


def _addmm(bias, mat1, mat2, *, beta=1, alpha=1):
    if not bias.dtype == mat1.dtype == mat2.dtype or mat1.ndim != 2 or mat2.ndim != 2:
        return None
    shape = (mat1.shape[0], mat2.shape[1])
    if mat1.shape[1] != mat2.shape[0] or bias.ndim > 2 or not _broadcasts(bias.shape, shape):
        return None
    return _empty(mat1, shape)


def _broadcasts(small, shape) -> bool:
    return all(s in (1, n) for s, n in zip(reversed(small), reversed(shape), strict=False))


def _native_layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    if x.dtype != torch.float32 or not x.is_contiguous():
        return None
    shape = tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape) :]) != shape or any(
        p is not None and tuple(p.shape) != shape for p in (weight, bias)
    ):
        return None
    axis = x.ndim - len(normalized_shape)
    stats = (*x.shape[:axis], *(1,) * len(normalized_shape))
    return _empty(x, x.shape), _empty(x, stats), _empty(x, stats)


def _native_group_norm(x, weight, bias, batch, channels, pixels, groups, eps):
    if x.dtype != torch.float32 or not x.is_contiguous():
        return None
    if x.ndim < 2 or x.shape[:2] != (batch, channels) or channels % groups:
        return None
    if any(p is not None and p.numel() != channels for p in (weight, bias)):
        return None
    return _empty(x, x.shape), _empty(x, (batch, groups)), _empty(x, (batch, groups))


def _safe_softmax(x, dim, dtype=None):
    return _empty(x, x.shape, dtype) if x.is_contiguous() else None


def _gelu(x, *, approximate="none"):
    return _empty(x, x.shape) if x.is_contiguous() else None


_STAND_INS = {
    "addmm": _addmm,
    "native_layer_norm": _native_layer_norm,
    "native_group_norm": _native_group_norm,
    "_safe_softmax": _safe_softmax,  # SDPA's math path on meta; absent from older torch
    "gelu": _gelu,
}
FAST_META_KERNELS = {
    getattr(torch.ops.aten, name).default: stand_in
    for name, stand_in in _STAND_INS.items()
    if hasattr(torch.ops.aten, name)
}


class FastMetaKernels(TorchDispatchMode):
    """Answers the ops of FAST_META_KERNELS on meta tensors from their inputs' shapes. Enter it
    outside FlopCounterMode, so that the counter still sees (and counts) every op first."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        fast = FAST_META_KERNELS.get(func)
        if fast is not None and all(
            a.device.type == "meta" for a in args if isinstance(a, torch.Tensor)
        ):
            out = fast(*args, **kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)


def _counter(model: nn.Module, grouping: Grouping) -> FlopCounterMode:
    counter = FlopCounterMode(display=False)
    if not hasattr(counter, "mod_tracker"):
        raise RuntimeError(
            f"torch {torch.__version__}: FlopCounterMode has no `mod_tracker`; "
            "bench.measure.flops needs updating for this torch release"
        )
    counter.mod_tracker = _CallPath(model, grouping)
    return counter


def _per_image(total: int, batch: int) -> int | float:
    # Every op here is linear in the batch, so the division is exact; a remainder means a model
    # does per-batch work, which is kept visible as a fraction rather than rounded away.
    return total // batch if total % batch == 0 else total / batch


def _macs(flops: int) -> int:
    return flops // 2  # every formula in torch's registry counts 2 FLOPs per multiply-accumulate


def count_flops(
    build: Callable[[], nn.Module],
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
    | Callable[[nn.Module], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]],
    *,
    train_step: bool = False,
    group: Grouping | None = None,
    loss: Callable | None = None,
    needs: DiffusionNeeds = NO_DIFFUSION_NEEDS,
) -> dict:
    """Count the FLOPs of one forward pass (and optionally one training step) on the meta device.

    `build()` is called under `torch.device("meta")`. `inputs` is (x, t, y) on meta, or a function of
    the built model returning it (also called under meta). `needs` is what the model's family
    declares to the diffusion process (`registry.diffusion_needs(cfg)`; the default: nothing). The
    forward is counted under no_grad in eval mode, the way a sampler calls the network after its
    first step: a model whose needs say `recurrent_state` (RIN) gets the `state` a previous call
    returned, the others None.

    `train_step=True` also counts `loss(model, x, y).backward()` in train mode; `loss` defaults to
    `bench.diffusion.training_loss` with `needs` (for RIN: its self-conditioning pass, the pass with
    gradients and the backward). The AdamW update adds no matmul FLOPs and is not run.

    `group` maps each module call to a bucket of `macs_fwd_by_group` (bench.family.Grouping; a family's
    is `registry.get(slug).flop_grouping`); None puts everything in "other".

    Returns per-image and per-batch counts: macs_fwd, flops_fwd, macs_fwd_batch, flops_fwd_batch,
    macs_fwd_by_group, macs_fwd_by_op (per image), and with train_step macs_train_step,
    flops_train_step, macs_train_step_batch, flops_train_step_batch, macs_train_step_by_op.
    """
    if group is not None and not callable(group):
        raise TypeError(
            f"group must be a grouping function (a family's flop_grouping), not {group!r}"
        )
    grouping = group or (lambda name, spatial: "other")
    with torch.device("meta"):
        model = build()
        x, t, y = inputs(model) if callable(inputs) else inputs
    for tensor in (x, t, y):
        if tensor is not None and tensor.device.type != "meta":
            raise ValueError(
                f"count_flops needs meta tensors (exact and free); got one on {tensor.device}"
            )
    result = _count_forward(model, (x, t, y), grouping, needs.recurrent_state)
    if train_step:
        result |= _count_train_step(model, (x, t, y), grouping, loss or _diffusion_loss(needs))
    return result


def _diffusion_loss(needs: DiffusionNeeds) -> Callable:
    """bench.diffusion's training loss of a model with `needs`, as loss(model, x0, y)."""
    from bench.diffusion import training_loss

    return lambda model, x0, y: training_loss(model, x0, y, needs=needs)


def _count_forward(model: nn.Module, inputs: tuple, grouping: Grouping, recurrent: bool) -> dict:
    """The forward pass, as a sampler calls it after its first step, in eval mode under no_grad."""
    x, t, y = inputs
    batch = x.shape[0]
    model.eval()
    with torch.no_grad(), FastMetaKernels():
        # Only a recurrent model's output state changes what the next call computes; skipping the
        # extra pass for the others halves the cost of a count.
        state = model(x, t, y)[1] if recurrent else None
        counter = _counter(model, grouping)
        with counter:
            model(x, t, y, state)
    fwd_counts = counter.get_flop_counts()
    fwd_total = counter.get_total_flops()
    by_group = {name: sum(ops.values()) for name, ops in fwd_counts.items() if name != "Global"}
    outside = fwd_total - sum(by_group.values())
    if outside:
        by_group["other"] = by_group.get("other", 0) + outside
    return {
        "batch": batch,
        "macs_fwd": _per_image(_macs(fwd_total), batch),
        "flops_fwd": _per_image(fwd_total, batch),
        "macs_fwd_batch": _macs(fwd_total),
        "flops_fwd_batch": fwd_total,
        "macs_fwd_by_group": {k: _per_image(_macs(v), batch) for k, v in sorted(by_group.items())},
        "macs_fwd_by_op": _by_op(fwd_counts.get("Global", {}), batch),
        "flop_counter": f"torch.utils.flop_counter.FlopCounterMode on meta, torch {torch.__version__}",
    }


def _count_train_step(model: nn.Module, inputs: tuple, grouping: Grouping, loss: Callable) -> dict:
    """`loss(model, x, y).backward()` in train mode (the optimizer update has no matmul FLOPs)."""
    x, _, y = inputs
    batch = x.shape[0]
    model.train()
    counter = _counter(model, grouping)
    with FastMetaKernels(), counter:
        loss(model, x, y).backward()
    train_total = counter.get_total_flops()
    return {
        "macs_train_step": _per_image(_macs(train_total), batch),
        "flops_train_step": _per_image(train_total, batch),
        "macs_train_step_batch": _macs(train_total),
        "flops_train_step_batch": train_total,
        "macs_train_step_by_op": _by_op(counter.get_flop_counts().get("Global", {}), batch),
    }


def _by_op(counts: dict, batch: int) -> dict[str, int | float]:
    """{aten op name without the "aten." prefix: MACs per image}."""
    out: dict[str, int] = {}
    for op, flops in counts.items():
        name = str(op).removeprefix("aten.")
        out[name] = out.get(name, 0) + flops
    return {name: _per_image(_macs(flops), batch) for name, flops in sorted(out.items())}


def count_params(model: nn.Module) -> dict[str, int]:
    """Parameter counts (works on meta). `params` counts every parameter, frozen ones included, as the
    papers and the official implementations do (DiT's fixed positional table is a frozen parameter)."""
    params = list(model.parameters())
    return {
        "params": sum(p.numel() for p in params),
        "params_trainable": sum(p.numel() for p in params if p.requires_grad),
        "buffers": sum(b.numel() for b in model.buffers()),
    }
