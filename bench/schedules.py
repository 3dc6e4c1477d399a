"""The noise schedules of the diffusion process: t in [0, 1] -> gamma(t), the signal variance, and back.

Every backbone's training and sampling make x_t with one of them (bench/diffusion.py), and a model
conditioned on the noise level rather than on t (RIN embeds gamma(t), as the official pix2seq
`models/diffusion_utils.py` conditions on it) maps its t through its own schedule. So this module
belongs to neither: it imports torch and nothing of the project, and both `bench.diffusion` and the
model packages import it.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("cosine", "linear", "sigmoid@START,END,TAU")


def check_schedule(schedule: str) -> None:
    """Raise ValueError for a schedule name `noise_level` does not know."""
    if schedule.startswith("sigmoid@"):
        parse_sigmoid(schedule)
    elif schedule not in ("cosine", "linear"):
        raise ValueError(f"unknown noise schedule {schedule!r}; known: {', '.join(SCHEDULES)}")


def noise_level(t: torch.Tensor, schedule: str) -> torch.Tensor:
    """gamma(t) in [1e-9, 1] for t in [0, 1]: 1 is clean data, ~0 is pure noise.

    `schedule` is "cosine", "linear" (gamma = 1 - t) or "sigmoid@start,end,tau" (Jabri et al. §3.3;
    Chen 2023 "On the importance of noise scheduling", Algorithm 1).
    """
    if schedule == "cosine":
        # The offset keeps gamma(0) just below 1 and gamma(1) just above 0, as in the official code.
        gamma = torch.cos((t + 0.0002) / 1.00025 * math.pi / 2) ** 2
    elif schedule == "linear":
        gamma = 1.0 - t
    elif schedule.startswith("sigmoid@"):
        start, end, tau = parse_sigmoid(schedule)
        v_start, v_end = (1.0 / (1.0 + math.exp(-v / tau)) for v in (start, end))
        output = torch.sigmoid((t * (end - start) + start) / tau)
        gamma = (v_end - output) / (v_end - v_start)
    else:
        check_schedule(schedule)
    return gamma.clamp(1e-9, 1.0)


def noise_time(gamma: torch.Tensor, schedule: str) -> torch.Tensor:
    """The inverse of `noise_level`: the t in [0, 1] at which `schedule` reaches noise level gamma.

    Lets a model conditioned on one schedule's gamma(t) be trained or sampled under another (the
    paper trains with a sigmoid schedule and samples with the cosine one, pix2seq#35)."""
    gamma = gamma.clamp(1e-9, 1.0)
    if schedule == "cosine":
        t = torch.acos(gamma.sqrt()) * 2 / math.pi * 1.00025 - 0.0002
    elif schedule == "linear":
        t = 1.0 - gamma
    elif schedule.startswith("sigmoid@"):
        start, end, tau = parse_sigmoid(schedule)
        v_start, v_end = (1.0 / (1.0 + math.exp(-v / tau)) for v in (start, end))
        output = (v_end - gamma * (v_end - v_start)).clamp(1e-12, 1 - 1e-12)
        t = (torch.logit(output) * tau - start) / (end - start)
    else:
        check_schedule(schedule)
    return t.clamp(0.0, 1.0)


def parse_sigmoid(schedule: str) -> tuple[float, float, float]:
    try:
        start, end, tau = (float(v) for v in schedule.removeprefix("sigmoid@").split(","))
    except ValueError:
        raise ValueError(
            f"bad sigmoid schedule {schedule!r}; expected 'sigmoid@start,end,tau'"
        ) from None
    if not (end > start and tau > 0):
        raise ValueError(f"bad sigmoid schedule {schedule!r}; need end > start and tau > 0")
    return start, end, tau
