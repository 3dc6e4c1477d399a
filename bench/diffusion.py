"""The diffusion process shared by every backbone: schedules, targets, the training loss and samplers.

Continuous time t in [0, 1] with gamma(t) the signal variance: x_t = sqrt(gamma) x0 + sqrt(1 - gamma) eps
(Jabri et al. 2023 §3 and Algorithm 1; the official pix2seq `models/diffusion_utils.py`); the schedules
are `bench.schedules`'. Every model is called as `out, state = model(x_t, t, y, state)`. What else the
process needs to know of a model its family declares (`bench.family.DiffusionNeeds`, from
`registry.diffusion_needs(cfg)`), and the caller hands it in as `needs`; this module imports no family
and reads nothing else off a model:
- `recurrent_state` (RIN): the state a call returns is fed back, during training through the
  self-conditioning pass, during sampling from step to step;
- `noise_schedule` (RIN): the schedule whose gamma(t) the model embeds, used unless another is asked
  for, and any other schedule's t translated to it (`model_time`);
- `context_frames`: video frame prediction (e.g. Kinetics-600 with 5 given frames): the leading frames
  of x_t are replaced by the clean context frames at every call and left out of the loss, so the
  backbone sees one (B, C, T, H, W) tensor.

Models with learned variances (ADM, DiT: `learn_sigma`) return 2C channels; the first C are the prediction
and the rest is ignored, since both samplers here use fixed variances.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.family import DiffusionNeeds
from bench.schedules import check_schedule, noise_level, noise_time

TARGETS = ("eps", "x0", "v")
SAMPLERS = ("ddpm", "ddim")
DEFAULT_SCHEDULE = "cosine"

__all__ = [
    "DEFAULT_SCHEDULE",
    "SAMPLERS",
    "TARGETS",
    "check_schedule",
    "noise_level",
    "noise_time",
    "prediction_to_x0_eps",
    "model_time",
    "resolve_schedule",
    "sample",
    "training_loss",
    "training_target",
]


def resolve_schedule(
    needs: DiffusionNeeds, requested: str | None, fallback: str = DEFAULT_SCHEDULE
) -> str:
    """The schedule that makes x_t: `requested`, else the one the model is conditioned on (RIN
    embeds gamma(t) of its own schedule), else `fallback`. Training and sampling use it so that
    the t a model sees and the noise in x_t always agree."""
    schedule = requested or needs.noise_schedule or fallback
    check_schedule(schedule)
    return schedule


def model_time(needs: DiffusionNeeds, t: torch.Tensor, schedule: str) -> torch.Tensor:
    """The t to hand the model so that it sees the noise level `schedule` puts at t.

    RIN turns its t into gamma with its own schedule; under another schedule it gets the time at
    which its own schedule reaches the same gamma. The other backbones embed t itself.
    """
    own = needs.noise_schedule
    if own is None or own == schedule:
        return t
    return noise_time(noise_level(t, schedule), own)


def _broadcast(gamma_B: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return gamma_B.reshape(-1, *(1,) * (like.ndim - 1)).to(like.dtype)


def training_target(
    x0: torch.Tensor, eps: torch.Tensor, gamma: torch.Tensor, target: str
) -> torch.Tensor:
    """What the network learns to output for x_t built from (x0, eps) at noise level gamma."""
    if target == "eps":
        return eps
    if target == "x0":
        return x0
    if target == "v":  # v = sqrt(gamma) eps - sqrt(1 - gamma) x0 (Salimans & Ho 2022)
        g = _broadcast(gamma, x0)
        return g.sqrt() * eps - (1 - g).sqrt() * x0
    raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")


def prediction_to_x0_eps(
    pred: torch.Tensor,
    x_t: torch.Tensor,
    gamma: torch.Tensor,
    target: str,
    clip: float | None = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, eps) implied by a prediction. x0 is clipped to [-clip, clip] and eps re-derived from the
    clipped x0, as the official sampler does (`x0_clip='auto'`, `truncate_noise=True`)."""
    g = _broadcast(gamma, x_t)
    sqrt_g, sqrt_1mg = g.sqrt(), (1 - g).sqrt()
    if target == "eps":
        x0 = (x_t - sqrt_1mg * pred) / sqrt_g
    elif target == "x0":
        x0 = pred
    elif target == "v":
        x0 = sqrt_g * x_t - sqrt_1mg * pred
    else:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
    eps = (x_t - sqrt_g * x0) / sqrt_1mg.clamp_min(1e-12)
    return x0, eps


def training_loss(
    model: nn.Module,
    x0: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    needs: DiffusionNeeds,
    schedule: str | None = None,
    target: str = "eps",
    self_cond_rate: float = 0.9,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean squared error of the target at uniform t (Jabri et al. Algorithm 1), a scalar.

    For a model whose `needs` say recurrent_state (RIN), latent self-conditioning (§3.4): a first pass
    on the whole batch with no gradient, its latents kept for a random `self_cond_rate` of the examples
    and zeroed for the rest, then the second pass, with gradients, conditioned on them (the official
    `self_cond_by_masking`). Other models: one pass.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    if not 0.0 <= self_cond_rate <= 1.0:
        raise ValueError(f"self_cond_rate must lie in [0, 1], got {self_cond_rate}")
    schedule = resolve_schedule(needs, schedule)
    B, C = x0.shape[:2]
    t = torch.rand(B, device=x0.device, generator=generator)
    eps = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    gamma = noise_level(t, schedule)
    g = _broadcast(gamma, x0)
    x_t = g.sqrt() * x0 + (1 - g).sqrt() * eps
    k = needs.context_frames
    if k:
        x_t = torch.cat([x0[:, :, :k], x_t[:, :, k:]], dim=2)

    t_model = model_time(needs, t, schedule)
    state = None
    if needs.recurrent_state and self_cond_rate > 0:
        with torch.no_grad():  # stop-gradient: sg(Z~_t) in the paper
            _, state = model(x_t, t_model, y, None)
        keep = torch.rand(B, device=x0.device, generator=generator) < self_cond_rate
        state = torch.where(keep[:, None, None], state, torch.zeros_like(state))
    pred, _ = model(x_t, t_model, y, state)
    target_values = training_target(x0, eps, gamma, target)
    return F.mse_loss(pred[:, :C, k:].float(), target_values[:, :, k:].float())


@torch.no_grad()
def sample(
    model: nn.Module,
    cfg,
    batch: int,
    *,
    needs: DiffusionNeeds,
    steps: int,
    sampler: str = "ddim",
    y: torch.Tensor | None = None,
    target: str = "eps",
    schedule: str | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    context: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generate `batch` samples with `steps` network evaluations; returns x0 in [-1, 1], (B, *input_shape).

    DDIM (eta = 0) or DDPM ancestral sampling with the "large" variance beta_t, from t = 1 to 0 in equal
    steps. RIN's latents from each step condition the next ("at inference time, we directly use latents
    from the previous time step", Jabri et al. p. 5). The last step returns the x0 prediction.
    Frame prediction: `context` (B, C, context_frames, H, W) is held clean in every x_t; None means
    zeros, which costs the same and suits cost measurements.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    schedule = resolve_schedule(needs, schedule)
    k = needs.context_frames
    _check_context(context, cfg, batch, k)
    C = cfg.input_shape[0]
    if y is None and cfg.num_classes:
        y = torch.randint(0, cfg.num_classes, (batch,), device=device, generator=generator)
    x = torch.randn(batch, *cfg.input_shape, device=device, generator=generator)
    if k and context is None:
        context = torch.zeros_like(x[:, :, :k])
    state = None
    for i in range(steps):
        t = torch.full((batch,), 1.0 - i / steps, device=device)
        s = torch.full((batch,), 1.0 - (i + 1) / steps, device=device)
        gamma_t, gamma_s = noise_level(t, schedule), noise_level(s, schedule)
        if k:
            x = torch.cat([context.to(x.dtype), x[:, :, k:]], dim=2)
        out, state = model(x, model_time(needs, t, schedule), y, state)
        if state is not None:  # a compiled model under CUDA graphs returns it in the graphs' pool,
            state = state.clone()  # which the next call's replay overwrites while reading it
        x0, eps = prediction_to_x0_eps(out[:, :C].float(), x, gamma_t, target)
        if i == steps - 1:
            return torch.cat([context.to(x0.dtype), x0[:, :, k:]], dim=2) if k else x0
        x = _step_back(sampler, x, x0, eps, gamma_t, gamma_s, generator)
    raise AssertionError("unreachable: the loop returns at its last step")


def _check_context(context: torch.Tensor | None, cfg, batch: int, frames: int) -> None:
    """Raise ValueError for context frames the model cannot take: any, when it predicts every frame
    (`frames` is 0), or a tensor of another shape than (batch, C, frames, H, W)."""
    if context is None:
        return
    if not frames:
        raise ValueError(f"{cfg.name} predicts no frames from context (cond_frames is 0)")
    channels, _, *side = cfg.input_shape
    expected = (batch, channels, frames, *side)
    if tuple(context.shape) != expected:
        raise ValueError(f"context must have shape {expected}, got {tuple(context.shape)}")


def _step_back(
    sampler: str,
    x: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    gamma_t: torch.Tensor,
    gamma_s: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """x_s, one step from x_t towards the data, given the step's (x0, eps) prediction."""
    if sampler == "ddim":
        g_s = _broadcast(gamma_s, x)
        return g_s.sqrt() * x0 + (1 - g_s).sqrt() * eps
    # x_s = (x_t - beta / sqrt(1 - gamma_t) * eps) / sqrt(alpha) + sqrt(beta) z, alpha = gamma_t / gamma_s.
    alpha = _broadcast(gamma_t / gamma_s, x)
    beta = 1 - alpha
    noise = torch.randn(x.shape, device=x.device, generator=generator)
    g_t = _broadcast(gamma_t, x)
    return (x - beta / (1 - g_t).sqrt() * eps) / alpha.sqrt() + beta.sqrt() * noise
