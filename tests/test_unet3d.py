"""VDM's 3-D U-Net: pinned cost of the Kinetics preset, the closed-form count, the factorised
space-time structure (which ops mix frames), and the forward contract."""

import dataclasses

import pytest
import torch
from helpers import (
    assert_seeded_build_and_forward_are_deterministic,
    forward_backward,
    meta_counts,
    randomized,
)

from baselines.unet3d import RelativePositionBias, TemporalAttention, UNet3D, analytic_macs
from baselines.video_presets import VIDEO_UNET_PRESETS

# Counted here (FlopCounterMode / 2 on the meta device, batch 1, attention included). Reconstructed
# widths, so these pin the reconstruction, not a published number (baselines/video_presets.py).
VDM_K600_PARAMS = 1_165_591_243
VDM_K600_MACS = 3_424_849_231_872  # per 16-frame video


def preset(slug: str):
    return dataclasses.replace(VIDEO_UNET_PRESETS[slug].config, name=slug)


def tiny_model(seed: int = 2, **change):
    cfg = dataclasses.replace(preset("vdm-tiny"), **change)
    return randomized(UNet3D(cfg), seed).eval()


def outputs_before_and_after_changing_frame_0(model):
    """The model's output for a random video, and for the same video with frame 0 raised by 1."""
    x, t = torch.randn(1, *model.cfg.input_shape), torch.rand(1)
    changed = x.clone()
    changed[:, :, 0] += 1.0
    with torch.no_grad():
        return model(x, t)[0], model(changed, t)[0]


def test_vdm_k600_params_and_macs_are_pinned():
    cfg = preset("vdm-k600")
    assert cfg.input_shape == (3, 16, 64, 64) and cfg.cond_frames == 5 and cfg.num_classes == 0
    params, macs = meta_counts(UNet3D, cfg)
    assert params == VDM_K600_PARAMS
    assert macs == VDM_K600_MACS
    assert analytic_macs(cfg) == macs
    assert round(macs / cfg.frames / 1e9, 2) == 214.05  # GMACs per frame
    assert abs(params / 1.1e9 - 1) < 0.07  # W.A.L.T Table 1 lists Video Diffusion at 1.1B


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"use_scale_shift_norm": False},
        {"num_classes": 5, "learn_sigma": True},
        {"attention_resolutions": (16, 8), "channel_mult": (1, 2, 2)},
        {"frames": 1, "cond_frames": 0},
        {"resolution": 32, "frames": 7},
    ],
)
def test_analytic_macs_match_the_counter(change):
    cfg = dataclasses.replace(preset("vdm-tiny"), **change)
    assert analytic_macs(cfg) == meta_counts(UNet3D, cfg)[1]


def test_tiny_forward_backward_on_cpu():
    cfg = preset("vdm-tiny")
    out, state = forward_backward(UNet3D(cfg), torch.randn(2, *cfg.input_shape), torch.rand(2))
    assert out.shape == (2, 3, 4, 16, 16) == (2, cfg.out_channels, *cfg.input_shape[1:])
    assert state is None


def test_temporal_attention_mixes_frames():
    model = tiny_model()
    before, after = outputs_before_and_after_changing_frame_0(model)
    assert (before[:, :, 3] - after[:, :, 3]).abs().max() > 1e-4


def test_without_temporal_attention_frames_are_independent():
    # Convs, norms, spatial attention and resampling act per frame; only temporal attention mixes.
    model = tiny_model()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, TemporalAttention):
                module.proj_out.weight.zero_()
                module.proj_out.bias.zero_()
    before, after = outputs_before_and_after_changing_frame_0(model)
    assert (before[:, :, 0] - after[:, :, 0]).abs().max() > 1e-4
    torch.testing.assert_close(after[:, :, 1:], before[:, :, 1:], rtol=0, atol=1e-6)


def test_relative_position_bias_is_one_value_per_head_and_offset():
    heads, frames = 3, 5
    bias = randomized(RelativePositionBias(heads, frames), seed=1)
    assert bias.table.shape == (heads, 2 * frames - 1)
    values = bias()
    assert values.shape == (heads, frames, frames)
    for q in range(frames):
        for k in range(frames):
            torch.testing.assert_close(values[:, q, k], bias.table[:, k - q + frames - 1])


def test_temporal_attention_matches_an_einsum_reference():
    B, T, C, heads, H, W = 2, 4, 64, 2, 3, 5
    d = C // heads
    block = randomized(TemporalAttention(C, heads, T), seed=3)
    x = torch.randn(B * T, C, H, W)
    # Reference: positions as the batch, frames as the sequence, written out with einsums.
    tokens = block.norm(x).view(B, T, C, H * W).permute(0, 3, 1, 2)  # (B, S, T, C)
    q, k, v = block.qkv(tokens).view(B, H * W, T, 3, heads, d).unbind(3)
    logits = torch.einsum("bsqhd,bskhd->bshqk", q, k) / d**0.5 + block.relative_position()
    mixed = torch.einsum("bshqk,bskhd->bsqhd", logits.softmax(-1), v).reshape(B, H * W, T, C)
    expected = x + block.proj_out(mixed).permute(0, 2, 3, 1).reshape(B * T, C, H, W)
    torch.testing.assert_close(block(x), expected)


def test_channels_last_gives_the_same_output():
    model = tiny_model()
    x, t = torch.randn(2, *model.cfg.input_shape), torch.rand(2)
    with torch.no_grad():
        expected = model(x, t)[0]
        actual = model.to(memory_format=torch.channels_last)(x, t)[0]
    torch.testing.assert_close(actual, expected)


def test_seeded_build_and_forward_are_deterministic():
    cfg = preset("vdm-tiny")
    x, t = torch.randn(2, *cfg.input_shape), torch.rand(2)
    assert_seeded_build_and_forward_are_deterministic(UNet3D, cfg, x, t)


def test_bad_configs_say_what_works():
    cfg = preset("vdm-k600")
    with pytest.raises(ValueError, match=r"multiple of 8 \(e\.g\. 16, 32, 64, 128, 256\)"):
        dataclasses.replace(cfg, resolution=100)
    with pytest.raises(ValueError, match=r"frames must be >= 1"):
        dataclasses.replace(cfg, frames=0, cond_frames=0)
    with pytest.raises(ValueError, match=r"cond_frames must lie in \[0, frames\) = \[0, 4\)"):
        dataclasses.replace(cfg, frames=4)


def test_bad_inputs_name_the_preset():
    model = UNet3D(preset("vdm-tiny"))
    t = torch.rand(1)
    with pytest.raises(
        ValueError, match=r"vdm-tiny: x must be \(B, C, T, H, W\) = \(B, 3, 4, 16, 16\)"
    ):
        model(torch.randn(1, 3, 5, 16, 16), t)
    with pytest.raises(ValueError, match=r"vdm-tiny: x must be"):
        model(torch.randn(1, 3, 16, 16), t)  # an image, not a video
    with pytest.raises(ValueError, match="vdm-tiny: unconditional model"):
        model(torch.randn(1, 3, 4, 16, 16), t, torch.tensor([0]))
    conditional = UNet3D(dataclasses.replace(preset("vdm-tiny"), num_classes=3))
    with pytest.raises(ValueError, match=r"vdm-tiny: labels must lie in \[0, 3\)"):
        conditional(torch.randn(1, 3, 4, 16, 16), t, torch.tensor([3]))


def test_presets_are_labelled():
    for slug, declared in VIDEO_UNET_PRESETS.items():
        cfg, source = declared.config, declared.source
        assert slug.startswith("vdm-") and slug == slug.lower()
        assert source.kind in ("reconstructed", "test")
        assert cfg.input_shape == (3, cfg.frames, cfg.resolution, cfg.resolution)
        assert not cfg.learn_sigma and cfg.num_classes == 0


@pytest.mark.gpu
def test_cuda_bf16_channels_last_matches_fp32():
    model = tiny_model().cuda()
    x, t = torch.randn(2, *model.cfg.input_shape, device="cuda"), torch.rand(2, device="cuda")
    with torch.no_grad():
        expected = model(x, t)[0]
        model = model.to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            actual = model(x, t)[0]
    torch.testing.assert_close(actual.float(), expected, rtol=0.05, atol=0.05)


@pytest.mark.gpu
def test_cuda_temporal_attention_over_more_than_65535_positions():
    # B*H*W sequences go into one SDPA call; CUDA grids cap a dimension at 65535 (pytorch#146704).
    block = TemporalAttention(32, 1, 4).cuda()
    x = torch.randn(4, 32, 257, 257, device="cuda")  # 66049 positions
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        out = block(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
