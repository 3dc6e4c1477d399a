"""The optimizers (AdamW, LAMB), the learning-rate schedule and the EMA of the weights.

RIN's released configs (google-research/pix2seq, `configs/config_diffusion_base.py`,
`config_diffusion_cifar10.py`, `config_diffusion_imagenet64.py`) train with LAMB, β1 0.9, β2 0.999,
eps 1e-8, weight decay on all but `bias`, `beta` and `gamma`, global norm clipping at 1, linear
warm-up, and an EMA of 0.9999.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.train.settings import TrainSettings


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
