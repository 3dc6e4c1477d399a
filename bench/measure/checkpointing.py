"""Activation checkpointing as a lever (Settings.checkpointing): memory for recomputation.

A train step keeps, for its backward, the activations every op saved on the way forward. With
checkpointing, a unit of the network (an attention block, or a whole block) keeps only its inputs;
the backward runs the unit's forward again to get the rest (Chen et al. 2016, "Training Deep Nets
with Sublinear Memory Cost"). The math is the same (recomputation under the same RNG state gives
the same dropout masks), the peak memory falls, and the step does more work: the recomputed
forwards are hardware FLOPs, not model FLOPs, so the cell's MFU, counted over model FLOPs, falls
with them. The official ADM code checkpoints every attention block unconditionally
(guided-diffusion `AttentionBlock.forward`): kind "attention" on our ADM is its memory regime.

Which modules are units is a family's declaration (bench.family.Family.checkpoint_units: kind ->
module classes), so that the harness needs no knowledge of any architecture. torch is imported in
the functions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

# The kinds of Settings.checkpointing, from the least recomputation to the most.
CHECKPOINTING_KINDS = ("attention", "blocks")
# What each kind wraps, in the words of the family's declaration.
KIND_MEANING = {
    "attention": "every attention module (self- and cross-attention, with its projections)",
    "blocks": "every block of the network's trunk (residual, attention or transformer block)",
}


def checkpoint_units(model, units: tuple[type, ...]) -> int:
    """Wrap the forward of every module of `model` that is an instance of `units` in activation
    checkpointing, in place, outermost first (a unit inside a wrapped unit stays as it is: its
    activations are recomputed with its parent's). Returns how many modules were wrapped.

    The wrapped forward checkpoints only where autograd records (a train step's forward); under
    no_grad (a sampler call, RIN's self-conditioning pass) it is the plain forward."""
    wrapped: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, units) or any(_is_inside(name, outer) for outer in wrapped):
            continue
        module.forward = _checkpointed(module.forward)
        wrapped.append(name)
    return len(wrapped)


def _is_inside(name: str, outer: str) -> bool:
    return outer == "" or name.startswith(outer + ".")


def _checkpointed(forward: Callable) -> Callable:
    @functools.wraps(forward)
    def run(*args, **kwargs):
        import torch
        from torch.utils.checkpoint import checkpoint

        if not torch.is_grad_enabled():
            return forward(*args, **kwargs)
        # Non-reentrant: works with keyword arguments, inputs that need no grad and torch.compile.
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)

    return run


def saved_activation_bytes(model, step: Callable[[], object]) -> int:
    """Bytes of the tensors autograd keeps for the backward while `step()` runs `model` forward,
    the model's own parameters left out (they are held anyway); each storage counts once (a tensor
    saved by two ops, or a view of a saved one). Inside a checkpointed unit only the unit's inputs
    are kept, and they are what is counted. Works on the meta device, so that a model of any size
    can be sized without its memory; there, attention is counted as the fused kernels a GPU runs
    keep it (bench.measure.meta_emulation.fused_attention: no attention matrix), and a
    mixed-precision step is sized by running `step` under meta_emulation.emulated_autocast."""
    import torch

    from bench.measure.meta_emulation import fused_attention

    held = {p.untyped_storage()._cdata for p in model.parameters()}
    storages: dict[int, int] = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage._cdata not in held:
            storages[storage._cdata] = storage.nbytes()
        return tensor

    with fused_attention(), torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        step()
    return sum(storages.values())
