"""ADM U-Net: official parameter counts and MACs, the closed-form count, and the forward contract."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from helpers import (
    assert_seeded_build_and_forward_are_deterministic,
    forward_backward,
    meta_counts,
    randomized,
)

from baselines.presets import UNET_PRESETS
from baselines.unet import AttentionBlock, UNet, UNetConfig, analytic_macs

# Parameters and forward MACs (FlopCounterMode / 2, batch 1, attention included) of
# openai/guided-diffusion's own UNetModel (commit 22e0df8, README flags), instantiated and counted on
# an H100. Published GMACs: DiT Table 6 and EDM2 Tables 2-3; the 512 px
# numbers are whole GMACs, and the 512 px "1983" is 0.7 above the released code's 1982.33.
OFFICIAL = {
    "adm-in64": (295_904_454, 109_678_018_560, 110),
    "adm-in128": (421_529_606, 306_927_894_528, 307),
    "adm-in256": (553_838_086, 1_119_832_768_512, 1120),
    "adm-in512": (558_997_638, 1_982_334_763_008, 1983),
}


def preset(slug: str) -> UNetConfig:
    return dataclasses.replace(UNET_PRESETS[slug].config, name=slug)


@pytest.mark.parametrize("slug", sorted(OFFICIAL))
def test_official_params_and_macs(slug):
    params, macs, published_gmacs = OFFICIAL[slug]
    cfg = preset(slug)
    counted_params, counted_macs = meta_counts(UNet, cfg)
    assert counted_params == params
    assert counted_macs == macs
    assert abs(counted_macs / 1e9 - published_gmacs) < 1
    assert analytic_macs(cfg) == pytest.approx(counted_macs, rel=0.01)


@pytest.mark.parametrize("slug", sorted(UNET_PRESETS))
def test_builds_at_every_power_of_two_resolution(slug):
    cfg = preset(slug)
    for resolution in (64, 128, 256, 512, 1024):
        if resolution % cfg.downsample_factor == 0:
            with torch.device("meta"):
                UNet(dataclasses.replace(cfg, resolution=resolution))


@pytest.mark.parametrize(
    ("slug", "resolution"), [("adm-in64", 256), ("adm-in256", 1024), ("adm-in512", 64)]
)
def test_analytic_macs_at_other_resolutions(slug, resolution):
    cfg = dataclasses.replace(preset(slug), resolution=resolution)
    assert analytic_macs(cfg) == pytest.approx(meta_counts(UNet, cfg)[1], rel=0.01)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"resblock_updown": False},
        {"use_scale_shift_norm": False},
        {"use_new_attention_order": False, "num_head_channels": -1, "num_heads": 2},
        {"num_classes": 0, "learn_sigma": False, "channel_mult": (1, 2, 2)},
    ],
)
def test_tiny_variants_counter_matches_analytic(change):
    cfg = dataclasses.replace(preset("adm-tiny"), **change)
    assert analytic_macs(cfg) == meta_counts(UNet, cfg)[1]


def test_tiny_forward_backward_on_cpu():
    cfg = preset("adm-tiny")
    x, t = torch.randn(2, *cfg.input_shape), torch.rand(2)
    y = torch.tensor([0, cfg.num_classes - 1])
    out, state = forward_backward(UNet(cfg), x, t, y)
    assert out.shape == (2, 6, cfg.resolution, cfg.resolution) and cfg.out_channels == 6
    assert state is None


def test_unconditional_without_learn_sigma():
    cfg = dataclasses.replace(preset("adm-tiny"), num_classes=0, learn_sigma=False)
    out, _ = UNet(cfg)(torch.randn(1, *cfg.input_shape), torch.rand(1))
    assert out.shape == (1, 3, cfg.resolution, cfg.resolution)


def test_seeded_build_and_forward_are_deterministic():
    cfg = preset("adm-tiny")
    x, t, y = torch.randn(2, *cfg.input_shape), torch.rand(2), torch.tensor([1, 3])
    assert_seeded_build_and_forward_are_deterministic(UNet, cfg, x, t, y)


def test_attention_orders_match_einsum_reference():
    channels, heads, d = 64, 2, 32
    new = randomized(AttentionBlock(channels, heads, use_new_attention_order=True), seed=3)
    legacy = AttentionBlock(channels, heads, use_new_attention_order=False)
    legacy.load_state_dict(new.state_dict())
    # New order keeps rows [q | k | v] x heads; legacy keeps heads x [q | k | v].
    w = new.qkv.weight.view(3, heads, d, channels).transpose(0, 1).reshape(3 * channels, -1, 1)
    b = new.qkv.bias.view(3, heads, d).transpose(0, 1).reshape(-1)
    with torch.no_grad():
        legacy.qkv.weight.copy_(w)
        legacy.qkv.bias.copy_(b)
    x = torch.randn(2, channels, 4, 4)
    # Reference in ADM's (B*h, d, T) layout with einsums.
    qkv = F.conv1d(new.norm(x).flatten(2), new.qkv.weight, new.qkv.bias)
    q, k, v = (part.reshape(2 * heads, d, 16) for part in qkv.chunk(3, dim=1))
    weights = torch.softmax(torch.einsum("bct,bcs->bts", q, k) / d**0.5, dim=-1)
    attended = torch.einsum("bts,bcs->bct", weights, v).reshape(2, channels, 16)
    expected = x + F.conv1d(attended, new.proj_out.weight, new.proj_out.bias).view_as(x)
    torch.testing.assert_close(new(x), expected)
    torch.testing.assert_close(legacy(x), expected)


def test_bad_resolution_says_which_work():
    with pytest.raises(ValueError, match=r"multiple of 8 \(e\.g\. 64, 128, 256, 512, 1024\)"):
        dataclasses.replace(preset("adm-in64"), resolution=100)
    with pytest.raises(ValueError, match="multiple of 64"):
        dataclasses.replace(preset("adm-in512"), resolution=32)


def test_bad_inputs_name_the_preset():
    cfg = preset("adm-tiny")
    model = UNet(cfg)
    x, t, y = torch.randn(1, *cfg.input_shape), torch.rand(1), torch.tensor([0])
    with pytest.raises(ValueError, match=r"adm-tiny: x must be \(B, 3, 32, 32\)"):
        model(torch.randn(1, 4, 32, 32), t, y)
    with pytest.raises(ValueError, match=r"adm-tiny: labels must lie in \[0, 4\)"):
        model(x, t, torch.tensor([4]))
    with pytest.raises(ValueError, match="adm-tiny: class-conditional model"):
        model(x, t)
    unconditional = UNet(dataclasses.replace(cfg, num_classes=0))
    with pytest.raises(ValueError, match="adm-tiny: unconditional model"):
        unconditional(x, t, y)


def test_presets_are_labelled():
    for slug, declared in UNET_PRESETS.items():
        cfg, source = declared.config, declared.source
        assert slug.startswith("adm-") and slug == slug.lower()
        assert source.kind in ("released config", "harness", "test")
        assert cfg.input_shape == (3, cfg.resolution, cfg.resolution)
