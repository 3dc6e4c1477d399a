"""Diffusion training of any pixel-space preset: data-parallel under torchrun, resumable exactly.

Recipe (one for every family, so that only the backbone differs): the ε target and MSE loss of
`bench.diffusion.training_loss` at uniform t; the model's own noise schedule where it has one (RIN
embeds γ(t)) and otherwise sigmoid@-3,3,0.9 (Jabri et al. 2023, §3.3; Chen 2023, "On the Importance
of Noise Scheduling for Diffusion Models"); AdamW or LAMB, linear warm-up and an EMA of the weights
(bench.train.optim); RIN's latent self-conditioning at rate 0.9 (Jabri et al. 2023, §3.4).

Determinism: step k draws its batch indices and seeds its noise from (seed, k, rank) alone, so a
resumed run repeats the uninterrupted one exactly.

Training compute: MACs per image of one training step are counted once with FlopCounterMode on the
meta device, forward *and* backward (bench.measure.flops; RIN's step includes its no-grad
self-conditioning pass), not estimated as 3x the forward. MACs so far = steps x global batch x that.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench import registry
from bench.data import BUILTIN_NAME, open_images, read_all, to_model_range
from bench.diffusion import training_loss
from bench.distributed import Distributed, distributed, seed_from
from bench.family import DiffusionNeeds
from bench.progress import progress as progress_bar
from bench.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    check_resumable,
    load_checkpoint,
    save_atomic,
)
from bench.train.model import model_config, schedule_for, train_step_macs, training_resolution
from bench.train.optim import EMA, ema_decay_at, learning_rate, make_optimizer
from bench.train.settings import TrainSettings

LOG_NAME = "train_log.jsonl"
DEVICE_DATA_BYTES = 2**30  # training images up to this size are kept on the GPU
_BATCH_STREAM, _NOISE_STREAM = 0, 1  # the two random streams of a step (seed_from's first word)


@dataclass
class _Run:
    """What a run holds from one step to the next."""

    settings: TrainSettings
    dist: Distributed
    family: str
    cfg: Any
    needs: DiffusionNeeds  # what the loss needs to know of the model, as its family declares
    schedule: str
    macs: dict  # per image: macs_fwd, macs_train_step
    data: dict  # the data's describe()
    images: torch.Tensor  # uint8 (N, 3, H, W), on the device when small enough
    labels: torch.Tensor | None
    model: nn.Module
    net: nn.Module  # the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    ema: EMA
    step: int = 0
    train_macs: int = 0

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.settings.out_dir) / CHECKPOINT_NAME


def train(
    settings: TrainSettings,
    *,
    resume: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    dist: Distributed | None = None,
) -> dict:
    """Train to `settings.steps` and return a summary (checkpoint path, step, train MACs, loss).

    Everything that can fail fast is checked before the first step: the preset and overrides, the
    data, a resumed checkpoint's integrity and its settings against these.
    """
    dist = dist or distributed(settings.device)
    say = log if (log is not None and dist.is_main) else (lambda line: None)
    run = _prepare(settings, dist, resume)
    params = sum(p.numel() for p in run.model.parameters())
    say(
        f"{settings.preset}: {params:,} params, {run.cfg.resolution} px, "
        f"{run.cfg.num_classes} classes, schedule {run.schedule}; "
        f"{run.macs['macs_train_step'] / 1e9:.4g} GMACs per image per train step "
        f"(FlopCounterMode on meta, forward + backward); data {json.dumps(run.data)}"
    )
    if run.step >= settings.steps:
        say(f"checkpoint is at step {run.step} >= {settings.steps}: nothing to do")
    started = time.perf_counter()
    loss = _train_steps(run, started, progress=progress, say=say)
    return {
        "checkpoint": str(run.checkpoint_path),
        "preset": settings.preset,
        "config": asdict(run.cfg),
        "step": run.step,
        "train_macs": run.train_macs,
        "macs_train_step_per_image": run.macs["macs_train_step"],
        "macs_fwd_per_image": run.macs["macs_fwd"],
        "params": params,
        "loss": loss,
        "seconds": time.perf_counter() - started,
        "world_size": dist.world,
    }


def _prepare(settings: TrainSettings, dist: Distributed, resume: bool) -> _Run:
    """Data, config, checkpoint, model, optimizer and EMA, all checked before the first step."""
    source = open_images(
        settings.data,
        resolution=training_resolution(settings),
        resize=settings.resize,
        n=settings.data_size if settings.data == BUILTIN_NAME else None,
        seed=settings.data_seed,
    )
    num_classes = source.num_classes if settings.conditional else 0
    cfg = model_config(settings, num_classes)
    schedule = schedule_for(cfg, settings.schedule)
    if settings.batch % dist.world:
        raise ValueError(f"global batch {settings.batch} does not split over {dist.world} ranks")
    entry = registry.get(settings.preset)
    ckpt = _checkpoint_to_resume(settings, cfg, resume)
    if ckpt is None:
        macs = train_step_macs(entry.builder, cfg, schedule, settings.self_cond_rate)
    else:
        macs = {
            "macs_fwd": ckpt["macs_fwd_per_image"],
            "macs_train_step": ckpt["macs_train_step_per_image"],
        }
    images, labels = _data_on_device(source, num_classes, dist)
    model, optimizer, ema = _model_optimizer_ema(settings, entry.builder, cfg, ckpt, dist)
    net = model
    if dist.world > 1:
        device_ids = [dist.device.index] if dist.device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    net.train()
    return _Run(
        settings=settings,
        dist=dist,
        family=entry.family,
        cfg=cfg,
        needs=registry.diffusion_needs(cfg),
        schedule=schedule,
        macs=macs,
        data=source.describe(),
        images=images,
        labels=labels,
        model=model,
        net=net,
        optimizer=optimizer,
        ema=ema,
        step=0 if ckpt is None else ckpt["step"],
        train_macs=0 if ckpt is None else ckpt["train_macs"],
    )


def _data_on_device(source, num_classes: int, dist: Distributed):
    """All images (and labels when the model is conditional) as tensors: on the device when they
    fit in DEVICE_DATA_BYTES (no copy per step), else in host memory."""
    images, labels = read_all(source)
    home = dist.device if images.nbytes <= DEVICE_DATA_BYTES else torch.device("cpu")
    images = torch.from_numpy(images).to(home)
    labels = torch.from_numpy(labels).to(home) if (labels is not None and num_classes) else None
    return images, labels


def _model_optimizer_ema(settings: TrainSettings, builder, cfg, ckpt: dict | None, dist):
    """The model built on the device from `settings.seed`, its optimizer and EMA, and their state
    from a checkpoint being resumed."""
    torch.manual_seed(settings.seed)
    with torch.device(dist.device):
        model = builder(cfg)
    optimizer = make_optimizer(settings, model)
    if ckpt is None:
        return model, optimizer, EMA(model)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return model, optimizer, EMA(model, {k: v.to(dist.device) for k, v in ckpt["ema"].items()})


def _checkpoint_to_resume(settings: TrainSettings, cfg: Any, resume: bool) -> dict | None:
    path = Path(settings.out_dir) / CHECKPOINT_NAME
    if not path.exists():
        return None
    if not resume:
        raise FileExistsError(
            f"{path} exists; resume it with --resume or choose another output folder"
        )
    ckpt = load_checkpoint(path)
    check_resumable(ckpt, settings, cfg)
    return ckpt


def _train_steps(run: _Run, started: float, *, progress: bool, say) -> float | None:
    """Step to `settings.steps`, logging and checkpointing on the way; returns the last logged loss
    (None, JSON's null, when no step was taken)."""
    settings, dist = run.settings, run.dist
    Path(settings.out_dir).mkdir(parents=True, exist_ok=True)
    log_file = (Path(settings.out_dir) / LOG_NAME).open("a") if dist.is_main else None
    bar = progress_bar(
        settings.steps, settings.preset, enabled=progress and dist.is_main, initial=run.step
    )
    window = (started, run.step)  # time and step of the last log line
    loss_value = None
    try:
        while run.step < settings.steps:
            loss, grad_norm, lr = _step(run)
            if run.step % settings.log_every == 0 or run.step == settings.steps:
                loss_value = dist.mean(loss.detach())
                now = time.perf_counter()
                record = {
                    "step": run.step,
                    "loss": _finite_or_none(loss_value),
                    "lr": lr,
                    "grad_norm": None if grad_norm is None else _finite_or_none(float(grad_norm)),
                    "train_macs": run.train_macs,
                    "images_per_s": (run.step - window[1]) * settings.batch / (now - window[0]),
                    "elapsed_s": now - started,
                }
                window = (now, run.step)
                _log(record, log_file, say, bar, settings.steps)
            bar.update(1)
            if run.step % settings.checkpoint_every == 0 or run.step == settings.steps:
                _save(run)
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
    return None if loss_value is None else _finite_or_none(loss_value)


def _step(run: _Run) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One optimizer step on this rank's slice of batch `run.step`; returns (loss, gradient norm
    before clipping, learning rate)."""
    settings, dist = run.settings, run.dist
    per_rank = settings.batch // dist.world
    # Batch k depends only on (seed, k): the same indices on every rank, each takes its slice.
    chooser = torch.Generator().manual_seed(seed_from(settings.seed, _BATCH_STREAM, run.step))
    index = torch.randint(len(run.images), (settings.batch,), generator=chooser)
    index = index[dist.rank * per_rank : (dist.rank + 1) * per_rank].to(run.images.device)
    # Noise, t, self-conditioning mask, dropout: from the global generator, reseeded.
    torch.manual_seed(seed_from(settings.seed, _NOISE_STREAM, run.step, dist.rank))
    x0 = to_model_range(run.images[index].to(dist.device))
    y = run.labels[index].to(dist.device) if run.labels is not None else None
    lr = learning_rate(settings, run.step)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    with torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=settings.amp == "bf16"):
        loss = training_loss(
            run.net,
            x0,
            y,
            needs=run.needs,
            schedule=run.schedule,
            self_cond_rate=settings.self_cond_rate,
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = (  # None without clipping: no norm was taken (JSON's null, not NaN)
        nn.utils.clip_grad_norm_(run.model.parameters(), settings.grad_clip)
        if settings.grad_clip > 0
        else None
    )
    run.optimizer.step()
    run.ema.update(ema_decay_at(settings.ema_decay, run.step))
    run.step += 1
    run.train_macs += run.macs["macs_train_step"] * settings.batch
    return loss, grad_norm, lr


def _finite_or_none(value: float) -> float | None:
    """A number for the JSON log: None (null) for a NaN or an infinity, which JSON cannot hold (a
    diverged loss reads null, and the line stays valid for every reader)."""
    return value if math.isfinite(value) else None


def _log(record: dict, log_file, say, bar, steps: int) -> None:
    if log_file is not None:
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
    tmacs = record["train_macs"] / 1e12
    loss = "non-finite" if record["loss"] is None else f"{record['loss']:.4f}"
    say(f"step {record['step']}/{steps} loss {loss} lr {record['lr']:.3g} train {tmacs:.4g} TMACs")
    bar.set_postfix(loss=loss, tmacs=f"{tmacs:.3g}")


def _save(run: _Run) -> None:
    """The checkpoint of the run as it is now (rank 0 writes; every rank waits)."""
    settings = run.settings
    if run.dist.is_main:
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "preset": settings.preset,
            "family": run.family,
            "config": asdict(run.cfg),
            "settings": settings.as_dict(),
            "schedule": run.schedule,
            "target": "eps",
            "step": run.step,
            "images_seen": run.step * settings.batch,
            "train_macs": run.train_macs,
            "macs_train_step_per_image": run.macs["macs_train_step"],
            "macs_fwd_per_image": run.macs["macs_fwd"],
            "train_macs_method": "FlopCounterMode on meta, forward + backward",
            "model": run.model.state_dict(),
            "ema": run.ema.state,
            "optimizer": run.optimizer.state_dict(),
            "data": run.data,
            "torch_version": str(torch.__version__),
        }
        save_atomic(checkpoint, run.checkpoint_path)
    run.dist.barrier()
