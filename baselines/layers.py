"""Helpers the baseline models share: the sinusoidal timestep features of ADM and DiT, the checks
of the class labels and of an image model's inputs, and of a config's sizes."""

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


def check_positive(cfg, *fields: str) -> None:
    """Raise ValueError unless each of `cfg`'s `fields` (sizes and counts) is at least 1."""
    for field in fields:
        if getattr(cfg, field) < 1:
            raise ValueError(f"{field} must be positive, got {getattr(cfg, field)}")


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


def check_image_inputs(
    cfg, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, *, null_class: bool = False
) -> None:
    """Raise ValueError unless (x, t, y) suit the image model of `cfg`: x (B, *cfg.input_shape),
    t (B,), y as `check_labels` asks, with values in [0, num_classes), or [0, num_classes] for a
    model that keeps a null class for label dropout (`null_class`: DiT's, diffusers' DiT's)."""
    if x.ndim != 4 or tuple(x.shape[1:]) != cfg.input_shape:
        raise ValueError(
            f"{cfg.name}: expected x of shape (B, {', '.join(map(str, cfg.input_shape))}), "
            f"got {tuple(x.shape)}"
        )
    if t.shape != x.shape[:1]:
        raise ValueError(f"{cfg.name}: expected t of shape ({x.shape[0]},), got {tuple(t.shape)}")
    if check_labels(cfg.name, cfg.num_classes, y, x.shape[0]):
        top = cfg.num_classes + int(null_class)
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= top:
            null = f" ({cfg.num_classes} = no class)" if null_class else ""
            raise ValueError(
                f"{cfg.name}: labels must be in [0, {top - 1}]{null}, got [{low}, {high}]"
            )
