"""RIN: exact sizes, the cost split, self-conditioning and input errors."""

import dataclasses

import pytest
import torch
from helpers import meta_counts

from rin.model import RIN, RINConfig, analytic_macs, noise_level
from rin.presets import PRESETS

# Our counts for the released configs; an independent analytic count of the same configs gives ~31M
# and ~157M (the paper states neither).
EXPECTED_PARAMS = {
    "rin-cifar10": 30_951_180,
    "rin-in64-released": 157_780_160,
    "rin-in64": 157_730_864,
    "rin-in256": 395_928_256,
    "rin-in512": 320_606_400,
}


def tiny(**changes) -> RINConfig:
    return dataclasses.replace(PRESETS["rin-tiny"].config, name="rin-tiny", **changes)


def meta_macs(cfg: RINConfig) -> int:
    return meta_counts(RIN, cfg)[1]


@pytest.mark.parametrize("slug", sorted(EXPECTED_PARAMS))
def test_parameter_counts(slug):
    with torch.device("meta"):
        model = RIN(PRESETS[slug].config)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[slug]


@pytest.mark.parametrize("slug", ["rin-cifar10", "rin-in64", "rin-in256", "rin-in1024", "rin-tiny"])
def test_analytic_macs_equal_counter(slug):
    cfg = PRESETS[slug].config
    assert sum(analytic_macs(cfg).values()) == meta_macs(cfg)


def test_interface_cost_is_linear_in_tokens():
    # Doubling the side quadruples the tokens; read/write grow 4x, latent compute stays put.
    small, large = (
        analytic_macs(PRESETS["rin-in512"].config),
        analytic_macs(PRESETS["rin-in1024"].config),
    )
    assert large["compute"] == small["compute"]
    assert large["read"] < 4.01 * small["read"] and large["write"] < 4.01 * small["write"]


def test_forward_backward_shapes():
    cfg = tiny()
    model = RIN(cfg)
    x = torch.randn(3, *cfg.input_shape)
    out, latents = model(x, torch.rand(3), torch.tensor([0, 1, 3]))
    assert out.shape == x.shape
    assert latents.shape == (3, cfg.num_latents, cfg.latent_dim)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_warm_start_equals_initial_latents_at_init():
    # Z = Z_init + LN(Z' + MLP(Z')) with the LN scale and bias at zero: previous latents change nothing.
    cfg = tiny()
    model = RIN(cfg).eval()
    x, t, y = torch.randn(2, *cfg.input_shape), torch.rand(2), torch.tensor([1, 2])
    out_cold, _ = model(x, t, y)
    out_warm, _ = model(x, t, y, state=torch.randn(2, cfg.num_latents, cfg.latent_dim))
    torch.testing.assert_close(out_warm, out_cold)
    with torch.no_grad():
        model.prev_latent_norm.weight.fill_(1.0)
    out_trained, _ = model(x, t, y, state=torch.randn(2, cfg.num_latents, cfg.latent_dim))
    assert not torch.allclose(out_trained, out_cold)


def test_state_round_trip_changes_output_once_warm_start_is_trained():
    cfg = tiny()
    model = RIN(cfg).eval()
    with torch.no_grad():
        model.prev_latent_norm.weight.fill_(1.0)
    x, t, y = torch.randn(2, *cfg.input_shape), torch.rand(2), torch.tensor([0, 3])
    _, state = model(x, t, y)
    out_a, state_a = model(x, t, y, state)
    out_b, _ = model(x, t, y, state_a)
    assert state_a.shape == state.shape and not torch.allclose(out_a, out_b)


def test_time_token_sees_the_noise_level():
    cfg = tiny()
    model = RIN(cfg).eval()
    x, y = torch.randn(1, *cfg.input_shape), torch.tensor([0])
    out_0, _ = model(x, torch.tensor([0.1]), y)
    out_1, _ = model(x, torch.tensor([0.9]), y)
    assert not torch.allclose(out_0, out_1)


def test_dropout_and_drop_path_are_training_only():
    cfg = tiny(dropout=0.5, drop_path=0.5)
    model = RIN(cfg)
    x, t, y = torch.randn(4, *cfg.input_shape), torch.rand(4), torch.tensor([0, 1, 2, 3])
    model.eval()
    torch.testing.assert_close(model(x, t, y)[0], model(x, t, y)[0])
    model.train()
    assert not torch.allclose(model(x, t, y)[0], model(x, t, y)[0])


def test_bad_resolution_names_valid_ones():
    with pytest.raises(ValueError, match="multiples of 4"):
        tiny(resolution=18)


def test_wrong_channels_and_labels_name_the_preset():
    cfg = tiny()
    model = RIN(cfg)
    with pytest.raises(ValueError, match="rin-tiny: x must have shape"):
        model(torch.randn(1, 1, 16, 16), torch.rand(1), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"rin-tiny: labels must lie in \[0, 4\)"):
        model(torch.randn(1, 3, 16, 16), torch.rand(1), torch.tensor([4]))
    with pytest.raises(ValueError, match="rin-tiny: needs int64 labels"):
        model(torch.randn(1, 3, 16, 16), torch.rand(1))
    with pytest.raises(ValueError, match="rin-tiny: needs int64 labels"):
        model(torch.randn(1, 3, 16, 16), torch.rand(1), torch.tensor([0.0]))


@pytest.mark.parametrize("schedule", ["cosine", "linear", "sigmoid@-3,3,0.9"])
def test_noise_schedules_run_from_clean_to_noise(schedule):
    gamma = noise_level(torch.linspace(0, 1, 101), schedule)
    assert gamma[0] > 0.999 and gamma[-1] < 1e-3
    assert torch.all(gamma[1:] <= gamma[:-1])


def test_unknown_schedule_lists_known_ones():
    with pytest.raises(ValueError, match="known: cosine, linear"):
        tiny(noise_schedule="quadratic")


def patchify(x: torch.Tensor, cfg: RINConfig) -> torch.Tensor:
    """Reference patch order: tokens over (t, h, w), values over (pt, ph, pw, C)."""
    video = x if cfg.frames else x[:, :, None]
    (gt, gh, gw), (pt, ph, pw) = cfg.patch_grid, (1, *cfg.patch_shape)[-3:]
    B, C = x.shape[:2]
    v = video.reshape(B, C, gt, pt, gh, ph, gw, pw).permute(0, 2, 4, 6, 3, 5, 7, 1)
    return v.reshape(B, gt * gh * gw, pt * ph * pw * C)


@pytest.mark.parametrize("slug", ["rin-tiny", "rin-video-tiny"])
def test_unpatchify_inverts_the_patch_order(slug):
    from rin.model import unpatchify

    cfg = PRESETS[slug].config
    x = torch.randn(2, *cfg.input_shape)
    torch.testing.assert_close(unpatchify(patchify(x, cfg), cfg), x)


def test_video_uses_3d_patches_and_shares_the_network():
    video = PRESETS["rin-k600"].config
    assert video.input_shape == (3, 16, 64, 64) and video.num_tokens == 2048  # paper p. 5
    with torch.device("meta"):
        model = RIN(video)
    assert sum(p.numel() for p in model.parameters()) == 395_330_144  # reported: 411M
    assert isinstance(model.stem, torch.nn.Conv3d) and model.stem.kernel_size == (2, 4, 4)
    assert sum(analytic_macs(video).values()) == meta_macs(video)


def test_video_forward_backward():
    cfg = PRESETS["rin-video-tiny"].config
    model = RIN(cfg)
    x = torch.randn(2, *cfg.input_shape)
    out, latents = model(x, torch.rand(2))
    assert out.shape == x.shape and latents.shape == (2, cfg.num_latents, cfg.latent_dim)
    out.square().mean().backward()
