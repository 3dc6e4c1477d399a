"""Norms in the autocast dtype as a lever (Settings.low_precision_norms): bf16 or fp16 norms.

Under CUDA's autocast, group_norm and layer_norm run in fp32 whatever their input, and hand fp32 on:
the scale and shift after the norm, the SiLU after that, are fp32 too, and a train step keeps those
fp32 tensors for its backward until the next convolution or linear casts down again. The official
ADM code does otherwise: its GroupNorm32 (guided-diffusion `nn.py`) computes in fp32 and returns the
input's dtype, fp16 in its fp16 path, so everything between two convolutions stays half precision.
CPU autocast, for its part, leaves the norms alone: a norm there runs in its input's dtype, which in
RIN's and DiT's fp32 residual streams is fp32.

With the lever, every GroupNorm and LayerNorm module of the model runs in the cell's autocast dtype
on either device: its input and its affine parameters cast down, autocast off around the kernel
(whose mean and variance accumulate in fp32: torch's norm kernels use an fp32 accumulator for
half-precision inputs), its output in that dtype. The math is the norm's; what changes is that its
output is rounded to bf16 or fp16, as every convolution's and linear's output already is under
autocast. Only a cell under autocast (bf16, fp16) has a dtype to run them in.

torch is imported in the functions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from bench.measure.meta_emulation import STATE_DEVICE


def norm_modules(model) -> list:
    """The model's GroupNorm and LayerNorm modules that run torch's own forward (a subclass with a
    forward of its own computes something of its own, and is left alone), in module order."""
    import torch

    own = (torch.nn.GroupNorm.forward, torch.nn.LayerNorm.forward)
    return [m for m in model.modules() if type(m).forward in own]


def run_norms_in(model, dtype) -> int:
    """Make every norm of `norm_modules(model)` run in `dtype` (torch.bfloat16 or torch.float16)
    and hand it on, in place; returns how many modules changed."""
    modules = norm_modules(model)
    for module in modules:
        module.forward = _in_dtype(module, dtype)
    return len(modules)


def _in_dtype(module, dtype) -> Callable:
    import torch

    normalize = _group_norm if isinstance(module, torch.nn.GroupNorm) else _layer_norm

    @functools.wraps(module.forward)
    def run(x):
        # Autocast off: under CUDA's it would cast the input back up to fp32. Meta tensors have no
        # autocast; the emulation of it (bench.measure.meta_emulation) reads the CPU's state.
        device_type = STATE_DEVICE if x.device.type == "meta" else x.device.type
        with torch.autocast(device_type, enabled=False):
            return normalize(
                module, x.to(dtype), _cast(module.weight, dtype), _cast(module.bias, dtype)
            )

    return run


def _cast(parameter, dtype):
    return None if parameter is None else parameter.to(dtype)


def _group_norm(module, x, weight, bias):
    import torch.nn.functional as F

    return F.group_norm(x, module.num_groups, weight, bias, module.eps)


def _layer_norm(module, x, weight, bias):
    import torch.nn.functional as F

    return F.layer_norm(x, module.normalized_shape, weight, bias, module.eps)
