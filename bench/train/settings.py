"""What a training run is asked to do: `TrainSettings`, checked when made. Standard library only
(and bench.data's names), so that the command line reads the defaults without loading torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.data import BUILTIN_NAME, DEFAULT_RESIZE

# For backbones without a schedule of their own (ADM, DiT): RIN's CIFAR-10 training schedule,
# sigmoid with start -3, end 3, tau 0.9 (Jabri et al. 2023, §3.3; the author's comment in
# google-research/pix2seq#35).
FALLBACK_SCHEDULE = "sigmoid@-3,3,0.9"
OPTIMIZERS = ("adamw", "lamb")
LR_DECAYS = ("constant", "cosine")
AMP_DTYPES = ("fp32", "bf16")
# Settings that may change when a run is resumed; any other difference is an error.
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every", "out_dir", "device")

# The equal-compute experiment's models: small pixel-space presets for a few-minute run per family
# at 64 px (label -> (slug, config overrides)). Forward GMACs per image: RIN 2.0 (24.1M params),
# ADM 6.8 (11.1M), DiT 6.1 (32.6M); training steps 8.1 / 20.4 / 18.2 GMACs (RIN's includes its
# self-conditioning pass). RIN's preset trains with the sigmoid@-3,3,0.9 schedule, and the other
# two take it from FALLBACK_SCHEDULE.
EQUAL_COMPUTE_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    slug: (slug, {}) for slug in ("rin-small", "adm-small", "dit-small")
}


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
    self_cond_rate: float = 0.9  # RIN only: share of examples that see their self-cond latents
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
