"""The model a run trains: its config at the run's resolution, its noise schedule, and the MACs of
one training step."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from bench import registry
from bench.diffusion import resolve_schedule, training_loss
from bench.train.settings import FALLBACK_SCHEDULE, TrainSettings


def model_config(settings: TrainSettings, num_classes: int) -> Any:
    """The preset's config at the run's resolution, with the overrides, conditioned on the data's
    `num_classes` (0 = unconditional). Only pixel-space RGB backbones can train on images."""
    cfg = registry.config(settings.preset, settings.resolution)
    changes = dict(settings.overrides)
    unknown = set(changes) - {f.name for f in dataclasses.fields(cfg)}
    if unknown:
        raise ValueError(
            f"{settings.preset}: unknown config field(s) {', '.join(sorted(unknown))}; known: "
            f"{', '.join(f.name for f in dataclasses.fields(cfg))}"
        )
    if "num_classes" in changes:  # the data's labels set it; an override would be dropped
        raise ValueError(
            f"{settings.preset}: num_classes comes from the data's labels ({num_classes} here); "
            "drop --set num_classes (--unconditional trains without labels)"
        )
    for key, value in changes.items():
        current = getattr(cfg, key)
        if current is not None and not _same_kind(value, current):
            raise ValueError(
                f"{settings.preset}: {key}={value!r} must be of type {type(current).__name__}, "
                f"like the preset's {key}={current!r}"
            )
    changes["num_classes"] = num_classes
    cfg = dataclasses.replace(cfg, **changes)
    if tuple(cfg.input_shape) != (3, cfg.resolution, cfg.resolution):
        raise ValueError(
            f"{settings.preset} takes inputs of shape {tuple(cfg.input_shape)}, not RGB pixels at "
            f"{cfg.resolution} px (a latent-space model needs a VAE, which the harness does not "
            "have); train a pixel-space preset"
        )
    return cfg


def _same_kind(value: Any, current: Any) -> bool:
    """An override fits a field when it has the field's type (an int where a float goes too)."""
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(current, bool)
    if isinstance(current, float):
        return isinstance(value, int | float)
    return isinstance(value, type(current))


def schedule_for(cfg: Any, requested: str | None) -> str:
    """`requested`, else the model's own schedule (RIN's), else the sigmoid schedule."""
    return resolve_schedule(registry.diffusion_needs(cfg), requested, FALLBACK_SCHEDULE)


@functools.cache  # configs are frozen dataclasses; a count takes about a second
def train_step_macs(builder: Callable, cfg: Any, schedule: str, self_cond_rate: float) -> dict:
    """MACs per image of one forward and one training step (forward + backward), counted on meta."""
    from bench.measure.flops import count_flops

    needs = registry.diffusion_needs(cfg)

    def loss(model, x, y):
        return training_loss(
            model, x, y, needs=needs, schedule=schedule, self_cond_rate=self_cond_rate
        )

    counts = count_flops(
        lambda: builder(cfg),
        lambda model: registry.example_inputs(cfg, 2, "meta"),
        train_step=True,
        loss=loss,
        needs=needs,
    )
    return {"macs_fwd": counts["macs_fwd"], "macs_train_step": counts["macs_train_step"]}


def training_resolution(settings: TrainSettings) -> int:
    """The resolution the data is made at: an override, else --resolution, else the preset's."""
    overrides = dict(settings.overrides)
    if "resolution" in overrides:
        return overrides["resolution"]
    return settings.resolution or registry.config(settings.preset).resolution
