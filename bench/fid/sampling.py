"""Samples of a checkpoint (or of a preset's random weights) written as PNGs: sharded over ranks,
resumable, and refusing to mix settings in one folder.

Sample batch k (images k*batch ...) draws all its noise and labels from a generator seeded with
(seed, k), so any rank can make any batch, a resumed run skips batches whose files all exist, and
the files equal those of an uninterrupted single-process run. A manifest (samples.json) records the
settings the folder's samples were made with.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench import registry
from bench.data import to_uint8
from bench.diffusion import SAMPLERS, resolve_schedule, sample
from bench.distributed import Distributed, batch_spans, seed_from
from bench.progress import progress as progress_bar
from bench.train.checkpoint import (
    config_from_checkpoint,
    file_sha256,
    load_checkpoint,
    model_from_checkpoint,
)

SAMPLE_MANIFEST = "samples.json"


def sample_path(out_dir: Path, index: int) -> Path:
    return out_dir / f"{index:06d}.png"


def generate(
    slug: str | None,
    checkpoint: str | os.PathLike | None,
    n: int,
    sampler: str,
    steps: int,
    out_dir: str | os.PathLike,
    seed: int = 0,
    batch: int = 64,
    *,
    weights: str = "ema",
    schedule: str | None = None,
    dist: Distributed | None = None,
    progress: bool = False,
) -> dict:
    """Write n PNG samples 000000.png ... to out_dir; return what was done.

    The checkpoint's model (its EMA weights by default) samples with `sampler` in `steps` network
    evaluations, class-conditional with uniformly drawn labels where the model is. Without a
    checkpoint, the preset `slug` with seeded random weights (for smoke tests and timing). The
    manifest refuses to mix samples of different settings (seed, batch, sampler, steps, weights,
    schedule); n may grow. `schedule` is the sampler's noise schedule, by default the one the
    checkpoint trained with (RIN trains with a sigmoid schedule and samples with the cosine one:
    author's comment in google-research/pix2seq#35).
    """
    dist = dist or Distributed()
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    if n < 1 or steps < 1 or batch < 1:
        raise ValueError("n, steps and batch must be positive")
    out_dir = Path(out_dir)
    model, cfg, origin = sampling_model(slug, checkpoint, weights, seed, dist.device)
    # Record the schedule the sampler really uses (a preset without a checkpoint has none stored).
    needs = registry.diffusion_needs(cfg)
    origin = origin | {"schedule": resolve_schedule(needs, schedule or origin["schedule"])}
    manifest = _manifest(cfg, origin, sampler=sampler, steps=steps, seed=seed, batch=batch)
    if dist.is_main:
        _check_manifest(out_dir, manifest)
    dist.barrier()
    started = time.perf_counter()
    generated = dist.sum(_sample_missing(model, cfg, manifest, n, out_dir, dist, progress))
    dist.barrier()
    return (
        {
            "samples_dir": str(out_dir),
            "n_samples": n,
            "n_generated_now": generated,
            "n_reused": n - generated,
            "seconds_sampling": time.perf_counter() - started,
            "resolution": cfg.resolution,
            "num_classes": cfg.num_classes,
        }
        | {k: v for k, v in manifest.items() if k != "config"}
        | origin
    )


def _manifest(cfg, origin: dict, **settings) -> dict:
    """What a sample folder's files depend on: the model, its weights, and the sampling settings."""
    return {
        "preset": origin["preset"],
        "config": json.loads(json.dumps(dataclasses.asdict(cfg))),
        "checkpoint_sha256": origin.get("checkpoint_sha256"),
        "weights": origin["weights"],
        "schedule": origin["schedule"],
    } | settings


def _sample_missing(model, cfg, manifest: dict, n: int, out_dir: Path, dist, progress) -> int:
    """Sample this rank's batches that lack a file; returns the number of images written."""
    batch = manifest["batch"]
    spans = batch_spans(n, batch)
    todo = [
        k
        for k in dist.my_batches(len(spans))
        if not all(sample_path(out_dir, i).exists() for i in range(*spans[k]))
    ]
    bar = progress_bar(len(todo), "sampling", enabled=progress and dist.is_main)
    for k in todo:
        start, stop = spans[k]
        generator = torch.Generator(dist.device).manual_seed(seed_from(manifest["seed"], k))
        with torch.no_grad():
            # Always a full batch (the tail of the last one is dropped): image i is then the same
            # whatever n is, so a run with a larger n extends, rather than changes, a smaller one.
            x0 = sample(
                model,
                cfg,
                batch,
                needs=registry.diffusion_needs(cfg),
                steps=manifest["steps"],
                sampler=manifest["sampler"],
                schedule=manifest["schedule"],
                generator=generator,
                device=dist.device,
            )
        _write_pngs(to_uint8(x0[: stop - start]).cpu().numpy(), out_dir, start)
        bar.update(1)
    bar.close()
    return sum(spans[k][1] - spans[k][0] for k in todo)


def sampling_model(slug, checkpoint, weights: str, seed: int, device):
    """(model in eval mode on `device`, its config, where it came from) for a checkpoint, or for
    the preset `slug` with weights seeded by `seed`. Only RGB pixel-space models make images."""
    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint)
        if slug is not None and slug != ckpt["preset"]:
            raise ValueError(f"{checkpoint} holds a {ckpt['preset']} model, not {slug}")
        cfg = config_from_checkpoint(ckpt)
        model = model_from_checkpoint(ckpt, weights, device)
        origin = {
            "preset": ckpt["preset"],
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": file_sha256(checkpoint),
            "checkpoint_step": ckpt["step"],
            "train_macs": ckpt.get("train_macs"),
            "images_seen": ckpt.get("images_seen"),  # what the FID claims weigh the training by
            "weights": weights,
            "schedule": ckpt["schedule"],
        }
    elif slug is not None:
        cfg = registry.config(slug)
        torch.manual_seed(seed)
        with torch.device(device):
            model = registry.build(slug).eval()
        origin = {"preset": slug, "weights": "random-init", "schedule": None}
    else:
        raise ValueError("generate needs a checkpoint or a preset slug")
    if tuple(cfg.input_shape) != (3, cfg.resolution, cfg.resolution):
        raise ValueError(
            f"{origin['preset']} samples tensors of shape {tuple(cfg.input_shape)}, not RGB images "
            "(latent-space models need a VAE decoder, which the harness does not have)"
        )
    return model, cfg, origin


def _write_pngs(images_NCHW: np.ndarray, out_dir: Path, start: int) -> None:
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    for offset, image in enumerate(images_NCHW):
        path = sample_path(out_dir, start + offset)
        tmp = path.with_name(f".{path.name}.tmp")  # rename: a killed run leaves no partial PNG
        Image.fromarray(image.transpose(1, 2, 0)).save(tmp, format="PNG")
        os.replace(tmp, path)


def _check_manifest(out_dir: Path, manifest: dict) -> None:
    path = out_dir / SAMPLE_MANIFEST
    if path.is_file():
        stored = json.loads(path.read_text())
        changed = [
            f"{k}: {stored.get(k)!r} -> {v!r}" for k, v in manifest.items() if stored.get(k) != v
        ]
        if changed:
            raise ValueError(
                f"{out_dir} holds samples made with other settings ({'; '.join(changed)}); "
                "use an empty folder"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2))
