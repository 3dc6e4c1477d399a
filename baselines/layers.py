"""Helpers the baseline models share: the sinusoidal timestep features of ADM and DiT, and when a
label value check may run."""

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


def label_values_checkable(y: torch.Tensor) -> bool:
    """Whether a check of the label values may run: on CPU only (on a GPU it would cost a host sync
    every step) and not while compiling (a value check breaks the graph)."""
    return y.device.type == "cpu" and y.numel() > 0 and not torch.compiler.is_compiling()
