"""The shared diffusion process: targets, the self-conditioning loss and the samplers."""

import dataclasses

import pytest
import torch
from torch import nn

from bench import diffusion, registry
from bench.family import NO_DIFFUSION_NEEDS
from rin.model import RIN
from rin.presets import PRESETS

TINY_RIN = dataclasses.replace(PRESETS["rin-tiny"].config, name="rin-tiny")
RIN_NEEDS = registry.diffusion_needs(TINY_RIN)  # recurrent, with its own schedule


class Recorder(nn.Module):
    """Wraps a backbone and records the `state` and grad mode of every call."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.cfg, self.calls = inner, inner.cfg, []

    def forward(self, x, t, y=None, state=None):
        self.calls.append((None if state is None else state.clone(), torch.is_grad_enabled()))
        return self.inner(x, t, y, state)


@pytest.mark.parametrize("target", diffusion.TARGETS)
def test_targets_invert_exactly(target):
    x0 = torch.rand(4, 3, 8, 8) * 1.8 - 0.9
    eps = torch.randn(4, 3, 8, 8)
    gamma = torch.tensor([0.05, 0.3, 0.7, 0.99])
    g = gamma[:, None, None, None]
    x_t = g.sqrt() * x0 + (1 - g).sqrt() * eps
    pred = diffusion.training_target(x0, eps, gamma, target)
    x0_hat, eps_hat = diffusion.prediction_to_x0_eps(pred, x_t, gamma, target, clip=None)
    torch.testing.assert_close(x0_hat, x0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(eps_hat, eps, atol=1e-4, rtol=1e-4)


def test_self_conditioning_pass_keeps_latents_for_the_given_rate():
    model = Recorder(RIN(TINY_RIN))
    x0 = torch.rand(64, *TINY_RIN.input_shape) * 2 - 1
    y = torch.randint(0, 4, (64,))
    loss = diffusion.training_loss(
        model,
        x0,
        y,
        needs=RIN_NEEDS,
        self_cond_rate=0.9,
        generator=torch.Generator().manual_seed(0),
    )
    (first_state, first_grad), (second_state, second_grad) = model.calls
    assert first_state is None and not first_grad  # whole batch, no gradient
    assert second_grad and second_state is not None
    kept = second_state.flatten(1).abs().sum(1) > 0
    assert 0.75 <= kept.float().mean() <= 1.0  # ~90% of 64 examples
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_rate_zero_and_stateless_models_run_one_pass():
    model = Recorder(RIN(TINY_RIN))
    x0 = torch.zeros(2, *TINY_RIN.input_shape)
    diffusion.training_loss(model, x0, torch.tensor([0, 1]), needs=RIN_NEEDS, self_cond_rate=0.0)
    assert len(model.calls) == 1
    # What the family declares decides, not the model: declared stateless, one pass at any rate.
    diffusion.training_loss(model, x0, torch.tensor([0, 1]), needs=NO_DIFFUSION_NEEDS)
    assert len(model.calls) == 2 and model.calls[1][0] is None


@pytest.mark.parametrize("sampler", diffusion.SAMPLERS)
def test_sampler_feeds_latents_back_every_step(sampler):
    model = Recorder(RIN(TINY_RIN).eval())
    out = diffusion.sample(
        model,
        TINY_RIN,
        2,
        needs=RIN_NEEDS,
        steps=5,
        sampler=sampler,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.shape == (2, *TINY_RIN.input_shape)
    assert out.abs().max() <= 1.0
    states = [state for state, _ in model.calls]
    assert len(states) == 5 and states[0] is None and all(s is not None for s in states[1:])


def test_sampling_is_seeded():
    model = RIN(TINY_RIN).eval()

    def run(seed):
        return diffusion.sample(
            model,
            TINY_RIN,
            2,
            needs=RIN_NEEDS,
            steps=3,
            sampler="ddpm",
            generator=torch.Generator().manual_seed(seed),
        )

    torch.testing.assert_close(run(1), run(1))
    assert not torch.allclose(run(1), run(2))


def test_bad_arguments_are_named():
    model = RIN(TINY_RIN)
    with pytest.raises(ValueError, match="known: ddpm, ddim"):
        diffusion.sample(model, TINY_RIN, 1, needs=RIN_NEEDS, steps=2, sampler="euler")
    with pytest.raises(ValueError, match="known: eps, x0, v"):
        x0, y = torch.zeros(1, 3, 16, 16), torch.tensor([0])
        diffusion.training_loss(model, x0, y, needs=RIN_NEEDS, target="score")


TINY_VIDEO = dataclasses.replace(PRESETS["rin-video-tiny"].config, name="rin-video-tiny")
VIDEO_NEEDS = registry.diffusion_needs(TINY_VIDEO)  # recurrent, its first frames given clean


def test_frame_prediction_holds_context_frames_clean():
    model = Recorder(RIN(TINY_VIDEO).eval())
    k = TINY_VIDEO.cond_frames
    assert VIDEO_NEEDS.context_frames == k
    context = torch.rand(2, 3, k, 16, 16)
    seeded = torch.Generator().manual_seed(0)
    out = diffusion.sample(
        model, TINY_VIDEO, 2, needs=VIDEO_NEEDS, steps=3, context=context, generator=seeded
    )
    torch.testing.assert_close(out[:, :, :k], context)
    with pytest.raises(ValueError, match="context must have shape"):
        diffusion.sample(
            model, TINY_VIDEO, 2, needs=VIDEO_NEEDS, steps=1, context=context[:, :, :0]
        )


def test_frame_prediction_loss_ignores_context_frames():
    # A model exact on the predicted frames and wildly wrong on the context frames has zero loss.
    x0 = torch.rand(2, *TINY_VIDEO.input_shape) * 2 - 1

    class Oracle(torch.nn.Module):
        cfg = TINY_VIDEO

        def forward(self, x_t, t, y=None, state=None):
            g = diffusion.noise_level(t, TINY_VIDEO.noise_schedule)[:, None, None, None, None]
            eps = (x_t - g.sqrt() * x0) / (1 - g).sqrt()
            eps[:, :, : TINY_VIDEO.cond_frames] = 1e3
            return eps, None

    assert diffusion.training_loss(Oracle(), x0, needs=VIDEO_NEEDS, self_cond_rate=0.0) < 1e-6
    model = RIN(TINY_VIDEO)
    diffusion.training_loss(model, x0, needs=VIDEO_NEEDS).backward()
    assert model.stem.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("schedule", ["cosine", "linear", "sigmoid@-3,3,0.9", "sigmoid@0,3,1.1"])
def test_noise_time_inverts_noise_level(schedule):
    t = torch.linspace(0.01, 0.99, 50)
    gamma = diffusion.noise_level(t, schedule)
    t_again = diffusion.noise_time(gamma, schedule)
    torch.testing.assert_close(diffusion.noise_level(t_again, schedule), gamma)


def test_rin_sampled_under_another_schedule_sees_that_schedules_noise_level():
    # The paper trains with a sigmoid schedule and samples with the cosine one (pix2seq#35): RIN
    # embeds gamma of its own schedule, so it is handed the time at which that gamma is reached.
    cfg = dataclasses.replace(TINY_RIN, noise_schedule="sigmoid@-3,3,0.9")
    needs = registry.diffusion_needs(cfg)
    model = Recorder(RIN(cfg).eval())
    seen = []
    model.inner.time_embed.register_forward_hook(lambda m, args, out: seen.append(args[0].clone()))
    diffusion.sample(model, cfg, 1, needs=needs, steps=4, schedule="cosine")
    grid = torch.tensor([1.0, 0.75, 0.5, 0.25])
    torch.testing.assert_close(torch.cat(seen), diffusion.noise_level(grid, "cosine"))
    assert diffusion.resolve_schedule(needs, None) == "sigmoid@-3,3,0.9"


def test_context_for_a_model_without_context_frames_is_an_error():
    with pytest.raises(ValueError, match="cond_frames is 0"):
        context = torch.zeros(1, 3, 1, 16, 16)
        diffusion.sample(RIN(TINY_RIN), TINY_RIN, 1, needs=RIN_NEEDS, steps=1, context=context)
