"""Diffusion training for any backbone in the registry, and the equal-compute experiment.

    python -m bench.train rin-tiny --steps 200 --batch 32 --out runs/rin-tiny
    torchrun --nproc-per-node 8 -m bench.train rin-tiny --resolution 64 ... (data-parallel, DDP)
    python -m bench.train equal-compute --budget-macs 2e15 --out runs/equal

Recipe (one for every family, so that only the backbone differs): the ε target and MSE loss of
`bench.diffusion.training_loss` at uniform t; the model's own noise schedule where it has one (RIN
embeds γ(t)) and otherwise sigmoid@-3,3,0.9 (Jabri et al. §3.3, Chen 2023); AdamW or LAMB (RIN's
released configs: LAMB, weight decay on all but biases and norm gains, global norm clipping at 1,
EMA 0.9999; research/rin-paper.md §2.1); linear warm-up; an EMA of the weights; RIN's latent
self-conditioning at rate 0.9 (§3.4).

Determinism: step k draws its batch indices and seeds its noise from (seed, k, rank) alone, so a
resumed run repeats the uninterrupted one exactly.

Training compute: MACs per image of one training step are counted once with FlopCounterMode on the
meta device, forward *and* backward (bench.measure.flops; RIN's step includes its no-grad
self-conditioning pass), not estimated as 3x the forward. MACs so far = steps x global batch x that.

Checkpoints hold only tensors and plain Python values (the config as a dict), so they load with
`torch.load(weights_only=True)`; they are written to a temporary name and renamed, so an
interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import os
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench import registry
from bench.data import (
    BUILTIN_NAME,
    DEFAULT_RESIZE,
    Distributed,
    distributed,
    open_images,
    read_all,
    to_model_range,
)
from bench.diffusion import resolve_schedule, training_loss

CHECKPOINT_FORMAT = "rinbench-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.jsonl"
# For backbones without a schedule of their own (ADM, DiT): RIN's sigmoid schedule (Jabri et al. §3.3).
FALLBACK_SCHEDULE = "sigmoid@-3,3,0.9"
OPTIMIZERS = ("adamw", "lamb")
LR_DECAYS = ("constant", "cosine")
AMP_DTYPES = ("fp32", "bf16")
DEVICE_DATA_BYTES = 2**30  # training images up to this size are kept on the GPU
# Settings that may change when a run is resumed; any other difference is an error.
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every", "out_dir", "device")


@dataclass(frozen=True)
class TrainSettings:
    preset: str
    out_dir: str
    resolution: int | None = None  # None: the preset's own
    overrides: tuple[tuple[str, Any], ...] = ()  # config fields replaced, e.g. (("patch_size", 4),)
    data: str = BUILTIN_NAME  # "builtin", a folder or an .npz (bench.data.open_images)
    data_size: int = 4096  # images made by the built-in set (a folder/npz is used whole)
    data_seed: int = 0
    resize: str = DEFAULT_RESIZE
    conditional: bool = True  # train on the data's labels (one class per photo for "builtin")
    steps: int = 1000  # total optimizer steps (a resumed run continues up to this)
    batch: int = 32  # global batch, split evenly over the ranks
    optimizer: str = "adamw"
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    lr_decay: str = "constant"
    grad_clip: float = 1.0  # max global gradient norm; 0 = off
    ema_decay: float = 0.9999
    self_cond_rate: float = (
        0.9  # RIN only: share of examples that see their self-conditioning latents
    )
    schedule: str | None = None  # None: the model's own, else FALLBACK_SCHEDULE
    amp: str = "fp32"  # "bf16": autocast the forward and backward
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    device: str | None = None  # None: cuda if available

    def __post_init__(self):
        for name, value, valid in (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("lr_decay", self.lr_decay, LR_DECAYS),
            ("amp", self.amp, AMP_DTYPES),
        ):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; known: {', '.join(valid)}")
        if self.steps < 1 or self.batch < 1 or self.data_size < 1:
            raise ValueError("steps, batch and data_size must be positive")
        if self.lr <= 0 or self.grad_clip < 0 or not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("need lr > 0, grad_clip >= 0 and ema_decay in [0, 1)")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("checkpoint_every and log_every must be positive")

    def as_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------------------------
# Model configuration and cost
# ----------------------------------------------------------------------------------------------


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
    changes["num_classes"] = num_classes
    cfg = dataclasses.replace(cfg, **changes)
    if tuple(cfg.input_shape) != (3, cfg.resolution, cfg.resolution):
        raise ValueError(
            f"{settings.preset} takes inputs of shape {tuple(cfg.input_shape)}, not RGB pixels at "
            f"{cfg.resolution} px (a latent-space model needs a VAE, which the harness does not "
            "have); train a pixel-space preset"
        )
    return cfg


def schedule_for(cfg: Any, requested: str | None) -> str:
    """`requested`, else the model's own schedule (RIN's), else the sigmoid schedule."""
    return resolve_schedule(cfg, requested, FALLBACK_SCHEDULE)


@functools.cache  # configs are frozen dataclasses; a count takes about a second
def train_step_macs(builder: Callable, cfg: Any, schedule: str, self_cond_rate: float) -> dict:
    """MACs per image of one forward and one training step (forward + backward), counted on meta."""
    from bench.measure.flops import count_flops

    def loss(model, x, y):
        return training_loss(model, x, y, schedule=schedule, self_cond_rate=self_cond_rate)

    counts = count_flops(
        lambda: builder(cfg),
        lambda model: registry.example_inputs(cfg, 2, "meta"),
        train_step=True,
        loss=loss,
    )
    return {"macs_fwd": counts["macs_fwd"], "macs_train_step": counts["macs_train_step"]}


# ----------------------------------------------------------------------------------------------
# Optimizers, learning rate, EMA
# ----------------------------------------------------------------------------------------------


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al. 2020, Algorithm 2): Adam's bias-corrected moments plus decoupled weight
    decay form the update, and each tensor's step is scaled by the trust ratio ||w|| / ||update||."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = m / (1 - beta1 ** state["step"])
                v_hat = v / (1 - beta2 ** state["step"])
                update = m_hat / (v_hat.sqrt() + group["eps"]) + group["weight_decay"] * p
                w_norm, u_norm = p.norm(), update.norm()
                # Trust ratio 1 where either norm is 0 (fresh zero-initialised layers).
                trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, 1.0)
                p.sub_(group["lr"] * trust * update)
        return loss


def make_optimizer(settings: TrainSettings, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW or LAMB; weight decay only on matrices and tables (ndim >= 2), not on biases and
    normalisation gains, as RIN's configs exclude `bias`, `beta` and `gamma`."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": settings.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    if settings.optimizer == "lamb":
        return Lamb(groups, lr=settings.lr)
    return torch.optim.AdamW(groups, lr=settings.lr)


def learning_rate(settings: TrainSettings, step: int) -> float:
    """Linear warm-up over `warmup_steps`, then constant or cosine decay to 0 at `steps`."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    if settings.lr_decay == "cosine":
        span = max(1, settings.steps - settings.warmup_steps)
        return settings.lr * 0.5 * (1 + math.cos(math.pi * (step - settings.warmup_steps) / span))
    return settings.lr


def ema_decay_at(decay: float, step: int) -> float:
    """The EMA decay with TF's `num_updates` warm-up, min(decay, (1 + k) / (10 + k)): without it a
    run of a few hundred steps at 0.9999 would sample from nearly untrained weights."""
    return min(decay, (1 + step) / (10 + step))


class EMA:
    """An exponential moving average of a model's state, in float32: `state` is what sampling uses."""

    def __init__(self, model: nn.Module, state: dict[str, torch.Tensor] | None = None):
        live = model.state_dict()
        self.state = state or {k: v.detach().float().clone() for k, v in live.items()}
        if set(self.state) != set(live):
            raise ValueError("EMA state and model have different entries")
        # state_dict() tensors share storage with the parameters, which the optimizer updates in
        # place, so the pairs are gathered once.
        floats = [k for k, v in live.items() if v.is_floating_point()]
        self._ema = [self.state[k] for k in floats]
        self._live = [live[k] for k in floats]

    @torch.no_grad()
    def update(self, decay: float) -> None:
        torch._foreach_lerp_(self._ema, [v.float() for v in self._live], 1 - decay)


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A rinbench checkpoint, loaded with weights_only=True; a clear ValueError if it is corrupt,
    truncated, not a rinbench checkpoint, or from a newer format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch wraps the reason ("Unsupported operand 123", "Unsupported global: ...") in advice
        # to load with weights_only=False, which is exactly what a checkpoint must not need.
        text = str(exc)
        reason = text.split("WeightsUnpickler error:")[-1].split("Check the documentation")[0]
        raise ValueError(
            f"{path}: not a readable checkpoint (not a torch file, or it holds objects that "
            f"weights_only=True refuses: {' '.join(reason.split())[:200]})"
        ) from exc
    except Exception as exc:  # truncated or foreign files: RuntimeError, EOFError, ...
        raise ValueError(
            f"{path}: not a readable checkpoint "
            f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]})"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a rinbench checkpoint (written by bench.train)")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {ckpt['version']} is newer than this code's "
            f"{CHECKPOINT_VERSION}"
        )
    missing = {"preset", "config", "model", "ema", "step", "schedule"} - set(ckpt)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {', '.join(sorted(missing))}")
    return ckpt


def config_from_checkpoint(ckpt: dict) -> Any:
    """The model config stored in a checkpoint, rebuilt as the preset family's dataclass."""
    try:
        entry = registry.get(ckpt["preset"])
    except KeyError as err:
        raise ValueError(f"checkpoint of an unknown preset: {err.args[0]}") from None
    try:
        return type(entry.config)(**ckpt["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint config does not fit {ckpt['preset']}'s {type(entry.config).__name__}: {err}"
        ) from None


def model_from_checkpoint(ckpt: dict, weights: str = "ema", device="cpu") -> nn.Module:
    """The backbone with the checkpoint's `weights` ("ema" or "model"), in eval mode on `device`."""
    if weights not in ("ema", "model"):
        raise ValueError(f"weights must be 'ema' or 'model', got {weights!r}")
    cfg = config_from_checkpoint(ckpt)
    with torch.device("meta"):
        model = registry.get(ckpt["preset"]).builder(cfg)
    try:
        model.load_state_dict(ckpt[weights], strict=True, assign=True)
    except RuntimeError as err:
        raise ValueError(
            f"checkpoint weights do not fit {ckpt['preset']} with its stored config: "
            f"{str(err).splitlines()[0]} ..."
        ) from None
    return model.to(device).eval()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


class _DDP(nn.parallel.DistributedDataParallel):
    """DDP that still exposes what bench.diffusion reads off a backbone (`cfg`, `recurrent_state`):
    without them, training_loss would silently skip RIN's self-conditioning."""

    @property
    def cfg(self):
        return self.module.cfg

    @property
    def recurrent_state(self) -> bool:
        return getattr(self.module, "recurrent_state", False)


def _seed(*words: int) -> int:
    """A 63-bit seed mixed from non-negative integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, np.uint64)[0] >> 1)


_BATCH_STREAM, _NOISE_STREAM = 0, 1


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
    out_dir = Path(settings.out_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    say = log if (log is not None and dist.is_main) else (lambda line: None)

    source = open_images(
        settings.data,
        resolution=_resolution(settings),
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

    ckpt = None
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        _check_resumable(ckpt, settings, cfg)
    elif not resume and ckpt_path.exists():
        raise FileExistsError(
            f"{ckpt_path} exists; resume it with --resume or choose another output folder"
        )

    macs = (
        {
            "macs_fwd": ckpt["macs_fwd_per_image"],
            "macs_train_step": ckpt["macs_train_step_per_image"],
        }
        if ckpt is not None
        else train_step_macs(entry.builder, cfg, schedule, settings.self_cond_rate)
    )
    images, labels = read_all(source)
    # A small data set lives on the device (no copies per step); a large one stays in host memory.
    home = dist.device if images.nbytes <= DEVICE_DATA_BYTES else torch.device("cpu")
    images = torch.from_numpy(images).to(home)
    labels = torch.from_numpy(labels).to(home) if (labels is not None and num_classes) else None

    torch.manual_seed(settings.seed)
    with torch.device(dist.device):
        model = entry.builder(cfg)
    optimizer = make_optimizer(settings, model)
    step = 0
    train_macs = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, train_macs = ckpt["step"], ckpt["train_macs"]
    ema = EMA(
        model, None if ckpt is None else {k: v.to(dist.device) for k, v in ckpt["ema"].items()}
    )
    net: nn.Module = model
    if dist.world > 1:
        net = _DDP(model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    net.train()

    params = sum(p.numel() for p in model.parameters())
    say(
        f"{settings.preset}: {params:,} params, {cfg.resolution} px, {num_classes} classes, "
        f"schedule {schedule}; {macs['macs_train_step'] / 1e9:.4g} GMACs per image per train step "
        f"(FlopCounterMode on meta, forward + backward); data {json.dumps(source.describe())}"
    )
    if step >= settings.steps:
        say(f"checkpoint is at step {step} >= {settings.steps}: nothing to do")

    per_rank = settings.batch // dist.world
    out_dir.mkdir(parents=True, exist_ok=True)
    log_file = (out_dir / LOG_NAME).open("a") if dist.is_main else None
    bar = None
    if progress and dist.is_main:
        from tqdm import tqdm

        bar = tqdm(total=settings.steps, initial=step, desc=settings.preset, file=sys.stderr)

    def save(step: int, train_macs: int) -> None:
        if dist.is_main:
            _save_atomic(
                {
                    "format": CHECKPOINT_FORMAT,
                    "version": CHECKPOINT_VERSION,
                    "preset": settings.preset,
                    "family": entry.family,
                    "config": asdict(cfg),
                    "settings": settings.as_dict(),
                    "schedule": schedule,
                    "target": "eps",
                    "step": step,
                    "images_seen": step * settings.batch,
                    "train_macs": train_macs,
                    "macs_train_step_per_image": macs["macs_train_step"],
                    "macs_fwd_per_image": macs["macs_fwd"],
                    "train_macs_method": "FlopCounterMode on meta, forward + backward",
                    "model": model.state_dict(),
                    "ema": ema.state,
                    "optimizer": optimizer.state_dict(),
                    "data": source.describe(),
                    "torch_version": str(torch.__version__),
                },
                ckpt_path,
            )
        dist.barrier()

    autocast = torch.autocast(
        dist.device.type, dtype=torch.bfloat16, enabled=settings.amp == "bf16"
    )
    started, t_window, step_window = time.perf_counter(), time.perf_counter(), step
    loss_value = float("nan")
    try:
        while step < settings.steps:
            # Batch k depends only on (seed, k): the same indices on every rank, each takes a slice.
            chooser = torch.Generator().manual_seed(_seed(settings.seed, _BATCH_STREAM, step))
            index = torch.randint(len(images), (settings.batch,), generator=chooser)
            index = index[dist.rank * per_rank : (dist.rank + 1) * per_rank].to(home)
            # Noise, t, self-conditioning mask, dropout: from the global generator, reseeded.
            torch.manual_seed(_seed(settings.seed, _NOISE_STREAM, step, dist.rank))
            x0 = to_model_range(images[index].to(dist.device))
            y = labels[index].to(dist.device) if labels is not None else None
            lr = learning_rate(settings, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast:
                loss = training_loss(
                    net, x0, y, schedule=schedule, self_cond_rate=settings.self_cond_rate
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = (
                nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                if settings.grad_clip > 0
                else torch.tensor(float("nan"))
            )
            optimizer.step()
            ema.update(ema_decay_at(settings.ema_decay, step))
            step += 1
            train_macs += macs["macs_train_step"] * settings.batch

            if step % settings.log_every == 0 or step == settings.steps:
                loss_value = _mean_over_ranks(loss.detach(), dist)
                now = time.perf_counter()
                record = {
                    "step": step,
                    "loss": loss_value,
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "train_macs": train_macs,
                    "images_per_s": (step - step_window) * settings.batch / (now - t_window),
                    "elapsed_s": now - started,
                }
                t_window, step_window = now, step
                if log_file is not None:
                    log_file.write(json.dumps(record) + "\n")
                    log_file.flush()
                say(
                    f"step {step}/{settings.steps} loss {loss_value:.4f} lr {lr:.3g} "
                    f"train {train_macs / 1e12:.4g} TMACs"
                )
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_value:.4f}", tmacs=f"{train_macs / 1e12:.3g}")
            if bar is not None:
                bar.update(1)
            if step % settings.checkpoint_every == 0 or step == settings.steps:
                save(step, train_macs)
    finally:
        if bar is not None:
            bar.close()
        if log_file is not None:
            log_file.close()
    return {
        "checkpoint": str(ckpt_path),
        "preset": settings.preset,
        "config": asdict(cfg),
        "step": step,
        "train_macs": train_macs,
        "macs_train_step_per_image": macs["macs_train_step"],
        "macs_fwd_per_image": macs["macs_fwd"],
        "params": params,
        "loss": loss_value,
        "seconds": time.perf_counter() - started,
        "world_size": dist.world,
    }


def _resolution(settings: TrainSettings) -> int:
    overrides = dict(settings.overrides)
    if "resolution" in overrides:
        return overrides["resolution"]
    return settings.resolution or registry.config(settings.preset).resolution


def _mean_over_ranks(value: torch.Tensor, dist: Distributed) -> float:
    if dist.world > 1:
        value = value.float().clone()
        torch.distributed.all_reduce(value)
        value /= dist.world
    return float(value)


def _check_resumable(ckpt: dict, settings: TrainSettings, cfg: Any) -> None:
    stored = ckpt.get("settings", {})
    now = settings.as_dict()
    changed = [
        f"{key}: {stored.get(key)!r} -> {now[key]!r}"
        for key in now
        if key not in RESUMABLE_CHANGES and _plain(stored.get(key)) != _plain(now[key])
    ]
    if changed:
        raise ValueError(
            "cannot resume: the checkpoint was trained with other settings ("
            + "; ".join(changed)
            + f"); only {', '.join(RESUMABLE_CHANGES)} may change"
        )
    if _plain(ckpt["config"]) != _plain(asdict(cfg)):
        raise ValueError("cannot resume: the checkpoint's model config differs from this run's")


def _plain(value):
    """Tuples and lists compare equal (a checkpoint may hold either)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------------------------
# The equal-compute experiment
# ----------------------------------------------------------------------------------------------

# Small pixel-space presets for a few-minute run per family at 64 px (label -> (slug, overrides)).
# Forward GMACs per image: RIN 2.0 (24.1M params), ADM 6.8 (11.1M), DiT 6.1 (32.6M); training steps
# 8.1 / 20.4 / 18.2 GMACs (RIN's includes its self-conditioning pass). RIN's preset trains with the
# sigmoid@-3,3,0.9 schedule, and the other two take it from TrainSettings' default.
EQUAL_COMPUTE_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    slug: (slug, {}) for slug in ("rin-small", "adm-small", "dit-small")
}


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
    kid_subset_size: int = 1000,
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
    spent. FID is against a second built-in set (seed 1), with the samples' own resolution. Each FID
    is also stored as a `fid` record under out_dir/results, which `rinbench report` plots against
    training compute.
    """
    from bench import fid

    models = models or EQUAL_COMPUTE_MODELS
    if budget_macs <= 0 or not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ValueError("need budget_macs > 0 and fractions in (0, 1]")
    out_dir = Path(out_dir)
    dist = distributed(device)
    if extractor is None:
        extractor = fid.inception_extractor(inception_weights, device=dist.device)
    fid.check_kid_sizes(kid_subset_size, n_samples, n_reference or n_samples)
    rows = []
    for label, (slug, overrides) in models.items():
        base = TrainSettings(
            preset=slug,
            out_dir=str(out_dir / label),
            overrides=tuple(overrides.items()),
            data_size=data_size,
            batch=batch,
            lr=lr,
            steps=1,
            device=device,
        )
        cfg = model_config(base, 0 if not base.conditional else _builtin_classes())
        macs = train_step_macs(registry.get(slug).builder, cfg, schedule_for(cfg, None), 0.9)
        for fraction in sorted(fractions):
            steps = max(1, round(fraction * budget_macs / (macs["macs_train_step"] * batch)))
            settings = dataclasses.replace(base, steps=steps, checkpoint_every=steps)
            summary = train(settings, resume=True, progress=progress, log=log, dist=dist)
            result = fid.fid_for_checkpoint(
                summary["checkpoint"],
                n=n_samples,
                sampler=sampler,
                steps=sample_steps,
                out_dir=out_dir / label / f"samples-step{steps}",
                reference=BUILTIN_NAME,
                n_reference=n_reference,
                kid_subset_size=kid_subset_size,
                extractor=extractor,
                cache_dir=cache_dir,
                dist=dist,
                progress=progress,
            )
            if dist.is_main:  # as a fid record too, for `rinbench report OUT/results`
                fid.store_result(result, out_dir / "results", batch=batch, device=dist.device)
            rows.append(
                {
                    "model": label,
                    "preset": slug,
                    "overrides": overrides,
                    "family": registry.get(slug).family,
                    "resolution": cfg.resolution,
                    "params": summary["params"],
                    "macs_fwd": macs["macs_fwd"],
                    "macs_train_step": macs["macs_train_step"],
                    "budget_macs": fraction * budget_macs,
                    "train_macs": summary["train_macs"],
                    "train_steps": steps,
                    "batch": batch,
                    "loss": summary["loss"],
                }
                | {k: v for k, v in result.items() if k not in ("preset", "config")}
            )
    return rows


def _builtin_classes() -> int:
    from bench.data import BUILTIN_PHOTOS

    return len(BUILTIN_PHOTOS)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def _override(text: str) -> tuple[str, Any]:
    """'key=value' with value parsed as JSON where it can be (numbers, lists), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key, tuple(parsed) if isinstance(parsed, list) else parsed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rinbench train",
        description="Diffusion training of a registry preset on the built-in data, a folder or an "
        ".npz (torchrun for data-parallel). `rinbench train equal-compute --help` for the "
        "equal-compute experiment.",
    )
    p.add_argument("preset", help="registry slug (pixel-space presets)")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt and train_log.jsonl")
    p.add_argument("--resolution", type=int, help="pixels per side (default: the preset's)")
    p.add_argument(
        "--set",
        dest="overrides",
        type=_override,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="replace a config field, e.g. --set patch_size=4",
    )
    p.add_argument("--data", default=BUILTIN_NAME, help="'builtin', an image folder or an .npz")
    p.add_argument("--data-size", type=int, default=4096, help="built-in images to crop")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--resize", default=DEFAULT_RESIZE, help="resize protocol for the data")
    p.add_argument("--unconditional", action="store_true", help="ignore the data's labels")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=32, help="global batch")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--lr-decay", choices=LR_DECAYS, default="constant")
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--ema-decay", type=float, default=0.9999)
    p.add_argument("--self-cond-rate", type=float, default=0.9)
    p.add_argument("--schedule", help="noise schedule for models without their own")
    p.add_argument("--amp", choices=AMP_DTYPES, default="fp32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true")
    return p


def build_equal_compute_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rinbench train equal-compute",
        description="Train small RIN, U-Net and DiT models to equal training MACs on the built-in "
        "data, compute FID at each milestone, and write one JSON row per model and milestone.",
    )
    p.add_argument("--budget-macs", type=float, required=True, help="training MACs per model")
    p.add_argument("--out", required=True, help="folder for runs, samples and rows.jsonl")
    p.add_argument(
        "--models",
        nargs="+",
        choices=sorted(EQUAL_COMPUTE_MODELS),
        default=sorted(EQUAL_COMPUTE_MODELS),
    )
    p.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--data-size", type=int, default=4096)
    p.add_argument("--num-samples", type=int, default=2048, help="samples per FID")
    p.add_argument("--sampler", default="ddim")
    p.add_argument("--sample-steps", type=int, default=50)
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--inception-weights", help="see `rinbench fid weights --help`")
    p.add_argument("--device")
    p.add_argument("--no-progress", action="store_true")
    return p


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "equal-compute":
        return equal_compute_main(argv[1:])
    args = build_parser().parse_args(argv)
    return run_command("rinbench train", lambda: _run(args))


def run_command(prog: str, run: Callable[[], int]) -> int:
    """Run a command of the fid/train/fvd family: bad input, and a missing optional library, become
    one line on stderr and exit status 2 instead of a traceback."""
    try:
        return run()
    except ImportError as err:
        print(
            f"{prog}: error: {err}; install the extra: python -m pip install 'rinbench[fid]'",
            file=sys.stderr,
        )
    except (ValueError, KeyError, OSError) as err:
        print(
            f"{prog}: error: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr
        )
    return 2


def _run(args: argparse.Namespace) -> int:
    settings = TrainSettings(
        preset=args.preset,
        out_dir=args.out,
        resolution=args.resolution,
        overrides=tuple(args.overrides),
        data=args.data,
        data_size=args.data_size,
        data_seed=args.data_seed,
        resize=args.resize,
        conditional=not args.unconditional,
        steps=args.steps,
        batch=args.batch,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        lr_decay=args.lr_decay,
        grad_clip=args.grad_clip,
        ema_decay=args.ema_decay,
        self_cond_rate=args.self_cond_rate,
        schedule=args.schedule,
        amp=args.amp,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        device=args.device,
    )
    summary = train(settings, resume=args.resume, progress=not args.no_progress, log=_stderr)
    if distributed(args.device).is_main:
        print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    return 0


def equal_compute_main(argv: list[str] | None = None) -> int:
    args = build_equal_compute_parser().parse_args(argv)
    return run_command("rinbench train equal-compute", lambda: _run_equal_compute(args))


def _run_equal_compute(args: argparse.Namespace) -> int:
    rows = equal_compute(
        args.budget_macs,
        args.out,
        models={name: EQUAL_COMPUTE_MODELS[name] for name in args.models},
        fractions=tuple(args.fractions),
        batch=args.batch,
        lr=args.lr,
        data_size=args.data_size,
        n_samples=args.num_samples,
        sampler=args.sampler,
        sample_steps=args.sample_steps,
        kid_subset_size=args.kid_subset_size,
        inception_weights=args.inception_weights,
        device=args.device,
        progress=not args.no_progress,
        log=_stderr,
    )
    if distributed(args.device).is_main:
        rows_path = Path(args.out) / "rows.jsonl"
        with rows_path.open("a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        for row in rows:
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
