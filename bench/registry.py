"""The one table of backbones: slug -> family, config, builder, source.

Every backbone config has the same four fields, so the harness can build inputs for any of them:
`name` (the slug it was built from), `resolution` (pixels per side), `in_channels`, `num_classes`
(0 = unconditional), and the property `input_shape` (C, H, W) of the tensor `forward` takes
(DiT in latent space takes 4 x resolution/8 x resolution/8; video models take C x frames x H x W).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from baselines.dit import DiT
from baselines.presets import DIT_PRESETS, UNET_PRESETS
from baselines.unet import UNet
from baselines.unet3d import UNet3D
from baselines.video_presets import VIDEO_UNET_PRESETS
from rin.model import RIN
from rin.presets import PRESETS as RIN_PRESETS

# "harness": a configuration of our own for one of the harness's experiments, not from any paper.
SOURCE_KINDS = (
    "paper text",
    "released config",
    "author comment",
    "reconstructed",
    "harness",
    "test",
)


@dataclass(frozen=True)
class Entry:
    slug: str
    family: str  # "rin" | "adm" | "dit" | "vdm" (the 3-D U-Net of Video Diffusion Models)
    config: Any  # the family's frozen config dataclass, with `name` set to the slug
    source: str  # "<kind>: <detail>", kind one of SOURCE_KINDS
    builder: Callable[[Any], torch.nn.Module]

    @property
    def source_kind(self) -> str:
        return self.source.split(":", 1)[0]


def _entries() -> dict[str, Entry]:
    families = (
        ("rin", RIN_PRESETS, RIN),
        ("adm", UNET_PRESETS, UNet),
        ("dit", DIT_PRESETS, DiT),
        ("vdm", VIDEO_UNET_PRESETS, UNet3D),
    )
    table: dict[str, Entry] = {}
    for family, presets, builder in families:
        for slug, (config, source) in presets.items():
            if slug in table:
                raise ValueError(f"preset slug {slug!r} is defined twice")
            if source.split(":", 1)[0] not in SOURCE_KINDS:
                raise ValueError(f"preset {slug!r}: source kind must be one of {SOURCE_KINDS}")
            config = dataclasses.replace(config, name=slug)
            table[slug] = Entry(slug, family, config, source, builder)
    return table


REGISTRY: dict[str, Entry] = _entries()


def get(slug: str) -> Entry:
    """The registry entry for `slug`; an unknown slug lists the known ones."""
    try:
        return REGISTRY[slug]
    except KeyError:
        raise KeyError(f"unknown preset {slug!r}; known: {', '.join(sorted(REGISTRY))}") from None


def config(slug: str, resolution: int | None = None) -> Any:
    """The preset's config, at another pixel resolution if given (ValueError if it cannot)."""
    entry = get(slug)
    if resolution is None or resolution == entry.config.resolution:
        return entry.config
    try:
        return dataclasses.replace(entry.config, resolution=resolution)
    except ValueError as err:
        raise ValueError(f"{slug}: {err}") from None


def build(slug: str, resolution: int | None = None) -> torch.nn.Module:
    """Build the backbone on the current default device (use `with torch.device("meta")`)."""
    cfg = config(slug, resolution)
    return get(slug).builder(cfg)


def slugs(family: str | None = None) -> list[str]:
    return sorted(s for s, e in REGISTRY.items() if family is None or e.family == family)


def example_inputs(
    cfg: Any, batch: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, t, y) for any backbone: x (B, *input_shape), t (B,) in [0, 1], y (B,) int64 or None."""
    x = torch.randn(batch, *cfg.input_shape, device=device, dtype=dtype)
    t = torch.rand(batch, device=device)
    y = torch.randint(0, cfg.num_classes, (batch,), device=device) if cfg.num_classes else None
    return x, t, y
