"""The equal-compute experiment: small RIN, U-Net and DiT models trained to the same training MACs
on the built-in data, with their FID/KID at each milestone.

The one part of bench.train that imports bench.fid: it trains, then measures.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import registry
from bench.data import BUILTIN_NAME, BUILTIN_PHOTOS
from bench.distributed import Distributed, distributed
from bench.fid.evaluate import fid_for_checkpoint, store_result
from bench.fid.features import inception_extractor
from bench.fid.metrics import kid_subset_size_for
from bench.train.loop import train
from bench.train.model import model_config, schedule_for, train_step_macs
from bench.train.settings import EQUAL_COMPUTE_MODELS, TrainSettings


@dataclasses.dataclass(frozen=True)
class _Experiment:
    """What every milestone of the experiment shares."""

    out_dir: Path
    dist: Distributed
    n_samples: int
    n_reference: int | None
    sampler: str
    sample_steps: int
    kid_subset_size: int | None
    extractor: Any
    cache_dir: str | os.PathLike | None
    progress: bool
    log: Callable[[str], None] | None


def equal_compute(
    budget_macs: float,
    out_dir: str | os.PathLike,
    *,
    models: dict[str, tuple[str, dict[str, Any]]] | None = None,
    fractions: tuple[float, ...] = (0.25, 0.5, 1.0),
    batch: int = 64,
    lr: float = 2e-4,
    data_size: int = 4096,
    n_samples: int = 2048,
    n_reference: int | None = None,
    sampler: str = "ddim",
    sample_steps: int = 50,
    kid_subset_size: int | None = None,
    inception_weights: str | None = None,
    extractor=None,
    cache_dir: str | os.PathLike | None = None,
    device: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Train each model to the same training MACs (at `fractions` of `budget_macs`) on the built-in
    data, compute FID/KID at each milestone, and return one row per (model, milestone).

    Steps per milestone = round(fraction x budget / (MACs per image per step x batch)), at least 1,
    so each model spends the budget in its own number of steps; the row records the MACs actually
    spent. FID is against a second built-in set (seed 1), with the samples' own resolution; KID's
    subset size is `kid_subset_size`, or min(1000, the smaller set) when None. Each FID is also
    stored as a `fid` record under out_dir/results, which `rinbench report` plots against training
    compute.
    """
    models = models or EQUAL_COMPUTE_MODELS
    if budget_macs <= 0 or not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ValueError("need budget_macs > 0 and fractions in (0, 1]")
    kid_subset_size_for(kid_subset_size, n_samples, n_reference or n_samples)
    out_dir = Path(out_dir)
    dist = distributed(device)
    if extractor is None:
        extractor = inception_extractor(inception_weights, device=dist.device)
    experiment = _Experiment(
        out_dir,
        dist,
        n_samples,
        n_reference,
        sampler,
        sample_steps,
        kid_subset_size,
        extractor,
        cache_dir,
        progress,
        log,
    )
    common = dict(data_size=data_size, batch=batch, lr=lr, steps=1, device=device)
    budgets = [fraction * budget_macs for fraction in sorted(fractions)]
    rows = []
    for label, (slug, overrides) in models.items():
        rows += _milestones(label, slug, overrides, common, budgets, experiment)
    return rows


def _milestones(
    label: str, slug: str, overrides: dict, common: dict, budgets: list[float], exp: _Experiment
) -> list[dict]:
    """Model `label`, preset `slug` with `overrides`, trained with the `common` settings on to
    each of `budgets` (training MACs, ascending), each milestone resuming the one before: one row
    each."""
    base = TrainSettings(
        slug, str(exp.out_dir / label), overrides=tuple(overrides.items()), **common
    )
    cfg = model_config(base, len(BUILTIN_PHOTOS) if base.conditional else 0)
    macs = train_step_macs(registry.get(slug).builder, cfg, schedule_for(cfg, None), 0.9)
    row = {"model": label, "preset": slug, "overrides": overrides}
    return [_milestone(row, base, cfg, macs, budget, exp) for budget in budgets]


def _milestone(row: dict, base: TrainSettings, cfg, macs: dict, budget: float, exp) -> dict:
    """Train `base` on to `budget` training MACs (resuming the previous milestone), compute its
    FID, store it as a record, and return the experiment's row."""
    steps = max(1, round(budget / (macs["macs_train_step"] * base.batch)))
    settings = dataclasses.replace(base, steps=steps, checkpoint_every=steps)
    summary = train(settings, resume=True, progress=exp.progress, log=exp.log, dist=exp.dist)
    result = fid_for_checkpoint(
        summary["checkpoint"],
        n=exp.n_samples,
        sampler=exp.sampler,
        steps=exp.sample_steps,
        out_dir=Path(base.out_dir) / f"samples-step{steps}",
        reference=BUILTIN_NAME,
        n_reference=exp.n_reference,
        kid_subset_size=exp.kid_subset_size,
        extractor=exp.extractor,
        cache_dir=exp.cache_dir,
        dist=exp.dist,
        progress=exp.progress,
    )
    if exp.dist.is_main:  # as a fid record too, for `rinbench report OUT/results`
        # A fid cell's batch is its sampling batch, as `rinbench fid model` stores it.
        store_result(result, exp.out_dir / "results", batch=result["batch"], device=exp.dist.device)
    return (
        row
        | {
            "family": registry.get(base.preset).family,
            "resolution": cfg.resolution,
            "params": summary["params"],
            "macs_fwd": macs["macs_fwd"],
            "macs_train_step": macs["macs_train_step"],
            "budget_macs": budget,
            "train_macs": summary["train_macs"],
            "train_steps": steps,
            "loss": summary["loss"],
        }
        | {k: v for k, v in result.items() if k not in ("preset", "config", "batch")}
        # The batch the training MACs were spent at, beside the one the FID's samples were drawn at.
        | {"batch": base.batch, "sample_batch": result["batch"]}
    )
