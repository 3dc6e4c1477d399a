"""Helpers the baseline models share: the sinusoidal timestep features of ADM and DiT, and the
checks of the class labels."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0):
    """(B,) float timesteps -> (B, dim) sinusoidal features, [cos | sin] (ADM's order; DiT's too,
    both after GLIDE)."""
    half = dim // 2
    steps = torch.arange(half, dtype=torch.float32, device=timesteps.device)
    freqs = torch.exp(-math.log(max_period) * steps / half)
    args = timesteps.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def check_labels(name: str, num_classes: int, y: torch.Tensor | None, batch: int) -> bool:
    """Raise ValueError unless y suits a model with `num_classes` classes (0 = unconditional): None
    for an unconditional model, (batch,) int64 or int32 labels for a conditional one. Returns
    whether the caller may check the label values: labels given, on CPU (on a GPU a value check
    costs a host sync every step) and not while compiling (a value check breaks the graph)."""
    if num_classes == 0:
        if y is not None:
            raise ValueError(f"{name}: unconditional model (num_classes=0) takes y=None")
        return False
    if y is None:
        raise ValueError(f"{name}: class-conditional model needs labels y of shape (B,)")
    if y.shape != (batch,) or y.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"{name}: expected y of shape ({batch},) and dtype int64, got {tuple(y.shape)} {y.dtype}"
        )
    return y.device.type == "cpu" and y.numel() > 0 and not torch.compiler.is_compiling()
