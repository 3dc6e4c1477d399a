"""RIN: exact sizes, the cost split, self-conditioning and input errors."""

import dataclasses
import math

import pytest
import torch
from helpers import meta_counts

from bench.schedules import noise_level
from rin.model import RIN, RINConfig, analytic_macs
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


@pytest.mark.parametrize("slug", ["rin-tiny", "rin-video-tiny", "rin-k600"])
def test_unpatchify_inverts_the_patch_order(slug):
    from rin.model import patch_layout, unpatchify

    cfg = PRESETS[slug].config
    x = torch.randn(1, *cfg.input_shape)
    torch.testing.assert_close(unpatchify(patchify(patch_layout(x, cfg), cfg), cfg), x)


def test_video_uses_3d_patches_and_shares_the_network():
    video = PRESETS["rin-k600"].config
    # 11 noisy frames -> 6 time patches, 5 context frames -> 3: the official VideoTapeDenoiser's
    # n_time = (seq_len + t_pad) // seq_stride with t_pad = 11 % 2 + 5 % 2 (pix2seq tape.py).
    assert video.input_shape == (3, 16, 64, 64) and video.num_tokens == 9 * 16 * 16 == 2304
    with torch.device("meta"):
        model = RIN(video)
    assert sum(p.numel() for p in model.parameters()) == 395_461_216  # reported: 411M
    assert isinstance(model.stem, torch.nn.Conv3d) and model.stem.kernel_size == (2, 4, 4)
    assert sum(analytic_macs(video).values()) == meta_macs(video)


def test_paper_token_count_holds_when_the_context_fills_whole_patches():
    k600 = PRESETS["rin-k600"].config
    assert dataclasses.replace(k600, cond_frames=4).num_tokens == 2048  # paper p. 5
    assert dataclasses.replace(k600, cond_frames=0).num_tokens == 2048
    # Any frame count works once the groups are padded apart; unconditional video still divides.
    assert dataclasses.replace(k600, frames=15, cond_frames=5).patch_grid[0] == 5 + 3
    with pytest.raises(ValueError, match="frames 15 is not divisible by frame patch 2"):
        dataclasses.replace(k600, frames=15, cond_frames=0)


def video_tiny(**changes) -> RINConfig:
    return dataclasses.replace(PRESETS["rin-video-tiny"].config, **changes)


@pytest.mark.parametrize(
    "cfg",
    [video_tiny(), video_tiny(frames=16, cond_frames=5), video_tiny(frames=6, cond_frames=3)],
    ids=["4-frames-1-given", "16-frames-5-given", "6-frames-3-given"],
)
def test_no_patch_mixes_a_context_frame_with_a_noisy_frame(cfg):
    # The tokens that move when the context frames change and those that move when the noisy frames
    # change are disjoint, and together they are every token.
    model = RIN(cfg).eval()
    k = cfg.cond_frames
    x = torch.randn(1, *cfg.input_shape)
    base = model.tokenize(x)

    def moved(frames: slice) -> torch.Tensor:
        changed = x.clone()
        changed[:, :, frames] += 1.0
        return (model.tokenize(changed) - base).abs().amax(-1)[0] > 1e-6

    context, noisy = moved(slice(0, k)), moved(slice(k, None))
    assert not (context & noisy).any()
    assert (context | noisy).all()
    assert int(noisy.sum()) == -(-(cfg.frames - k) // 2) * 16  # the noisy frames come first


def test_predicted_frames_come_back_in_time_order():
    # A model whose readout copies each token's patch values reproduces its input, context included.
    cfg = video_tiny(frames=6, cond_frames=3)
    x = torch.randn(2, *cfg.input_shape)
    from rin.model import frames_from_layout, patch_layout

    laid_out = patch_layout(x, cfg)
    assert laid_out.shape[2] == 8  # 3 noisy + 1 zero frame, 3 context + 1 zero frame
    assert laid_out[:, :, 3].abs().sum() == 0 and laid_out[:, :, 7].abs().sum() == 0
    torch.testing.assert_close(laid_out[:, :, :3], x[:, :, 3:])
    torch.testing.assert_close(frames_from_layout(laid_out, cfg), x)


# --- initialisation -----------------------------------------------------------------------------


def glorot_bound(fan_in: int, fan_out: int) -> float:
    return (6.0 / (fan_in + fan_out)) ** 0.5


def keras_bounds(model: RIN) -> dict[str, float]:
    """The bound Keras' glorot_uniform gives each RIN weight: fans of a Dense / Conv kernel, and of
    MultiHeadAttention's 3-D kernels for the attention projections (official code: Keras defaults)."""
    from rin.model import Attention

    bounds = {}
    for name, module in model.named_modules():
        if isinstance(module, Attention):
            h, key_dim = module.heads, module.proj.in_features // module.heads
            for proj in ("q", "kv", "qkv"):
                if hasattr(module, proj):
                    width = getattr(module, proj).in_features
                    bounds[f"{name}.{proj}.weight"] = glorot_bound(width * h, width * key_dim)
            width = module.proj.out_features
            bounds[f"{name}.proj.weight"] = glorot_bound(h * key_dim, h * width)
        elif isinstance(module, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Conv3d)):
            out_width, in_width, *kernel = module.weight.shape  # fans count the kernel's size
            field = math.prod(kernel)
            bounds.setdefault(f"{name}.weight", glorot_bound(in_width * field, out_width * field))
    return bounds


def check_keras_init(model: RIN) -> None:
    bounds = keras_bounds(model)
    for name, p in model.named_parameters():
        if name in bounds:
            assert p.abs().max() <= bounds[name], name
            assert p.abs().max() > 0.9 * bounds[name], name  # uniform up to the bound
        elif name.endswith("bias"):
            assert not p.any(), name
        elif name in ("interface_pos", "latents"):
            assert p.abs().max() <= 0.04 and p.std() > 0.015, name  # Keras TruncatedNormal(0.02)
        elif name == "prev_latent_norm.weight":
            assert not p.any()  # zero-initialised self-conditioning LayerNorm
        else:
            assert name.endswith("norm.weight") and (p == 1).all(), name


def test_default_init_is_the_official_keras_one():
    model = RIN(tiny())
    assert model.cfg.init == "keras"
    assert len(keras_bounds(model)) == sum(
        isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) for m in model.modules()
    )
    check_keras_init(model)
    check_keras_init(RIN(PRESETS["rin-video-tiny"].config))


def test_keras_init_spread_matches_the_uniform():
    # Large layers of rin-small: the empirical std is the uniform's, bound / sqrt(3).
    model = RIN(PRESETS["rin-small"].config)
    bounds = keras_bounds(model)
    for name in ("blocks.0.compute.0.ff.fc1.weight", "blocks.0.compute.0.attn.qkv.weight"):
        weight = model.get_parameter(name)
        assert weight.numel() > 400_000
        assert float(weight.detach().std()) == pytest.approx(bounds[name] / 3**0.5, rel=0.01)
    # Keras' 3-D attention kernels: far below a plain Dense's glorot bound of the same matrix.
    qkv = model.get_parameter("blocks.0.compute.0.attn.qkv.weight")
    assert bounds["blocks.0.compute.0.attn.qkv.weight"] < glorot_bound(*qkv.shape[::-1]) / 3


def test_keras_init_fills_a_model_materialised_from_meta():
    with torch.device("meta"):
        model = RIN(tiny())
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    model.reset_parameters()
    check_keras_init(model)


def test_torch_init_keeps_pytorch_defaults_and_the_counts():
    keras, pytorch = tiny(), tiny(init="torch")
    model = RIN(pytorch)
    assert model.out_proj.bias.any() and not model.prev_latent_norm.weight.any()
    assert meta_counts(RIN, keras) == meta_counts(RIN, pytorch)
    with pytest.raises(ValueError, match="unknown init 'jax'; known: keras, torch"):
        tiny(init="jax")


def test_video_forward_backward():
    cfg = PRESETS["rin-video-tiny"].config
    model = RIN(cfg)
    x = torch.randn(2, *cfg.input_shape)
    out, latents = model(x, torch.rand(2))
    assert out.shape == x.shape and latents.shape == (2, cfg.num_latents, cfg.latent_dim)
    out.square().mean().backward()
