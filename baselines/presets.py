"""Presets for the image baselines: slug -> Preset(config, Source), each a base config plus the fields
that differ.

Resolution variants: `dataclasses.replace(config, resolution=r)`.
"""

from dataclasses import replace

from baselines.dit import DiTConfig
from baselines.unet import UNetConfig
from bench.family import Preset, Source

# ADM U-Net (Dhariwal & Nichol 2021, arXiv:2105.05233). Flags are the MODEL_FLAGS of each released
# checkpoint in the openai/guided-diffusion README (model sizes as in the paper's Table 11);
# channel_mult is `create_model`'s default for that image_size (guided_diffusion/script_util.py). The
# checkpoints were trained at these flags with fp16 (512: fp32); precision is the harness's choice,
# not part of the config. Official parameter counts: 64 px 295,904,454; 128 px 421,529,606; 256 px
# 553,838,086; 512 px 558,997,638 (tests/test_unet.py).
ADM_IN256 = UNetConfig(
    resolution=256,
    num_classes=1000,
    model_channels=256,
    num_res_blocks=2,
    channel_mult=(1, 1, 2, 2, 4, 4),
    attention_resolutions=(32, 16, 8),
    num_head_channels=64,
    learn_sigma=True,
    use_scale_shift_norm=True,
    resblock_updown=True,
)


# Ours, with every released feature (learned sigma, AdaGN, BigGAN-style resampling, the new attention
# order) and 32-channel heads: the equal-compute experiment's 64-px model; adm-tiny narrows it to two
# levels.
ADM_SMALL = replace(
    ADM_IN256,
    resolution=64,
    num_classes=8,
    model_channels=64,
    channel_mult=(1, 2, 2, 2),
    attention_resolutions=(16, 8),
    num_head_channels=32,
    use_new_attention_order=True,
)

# The tiny U-Nets' levels (2-D here, 3-D in video_presets.py), ours for CPU tests: two levels of 32
# and 64 channels, one ResBlock each, 32-channel heads.
TINY_LEVELS = dict(model_channels=32, num_res_blocks=1, channel_mult=(1, 2), num_head_channels=32)


def _guided_diffusion(flags: str) -> Source:
    return Source("released config", "openai/guided-diffusion README.md", flags)


UNET_PRESETS: dict[str, Preset] = {
    "adm-in64": Preset(
        replace(
            ADM_IN256,
            resolution=64,
            model_channels=192,
            num_res_blocks=3,
            channel_mult=(1, 2, 3, 4),
            dropout=0.1,
            use_new_attention_order=True,
        ),
        _guided_diffusion("ImageNet 64x64 flags (64x64_diffusion.pt)"),
    ),
    "adm-in128": Preset(
        replace(
            ADM_IN256,
            resolution=128,
            channel_mult=(1, 1, 2, 3, 4),
            num_heads=4,
            num_head_channels=-1,
        ),
        _guided_diffusion("ImageNet 128x128 flags (128x128_diffusion.pt)"),
    ),
    "adm-in256": Preset(
        ADM_IN256, _guided_diffusion("ImageNet 256x256 flags (256x256_diffusion.pt)")
    ),
    "adm-in256-uncond": Preset(
        replace(ADM_IN256, num_classes=0),
        _guided_diffusion("unconditional ImageNet 256x256 flags (256x256_diffusion_uncond.pt)"),
    ),
    "adm-in512": Preset(
        replace(ADM_IN256, resolution=512, channel_mult=(0.5, 1, 1, 2, 2, 4, 4)),
        _guided_diffusion("ImageNet 512x512 flags (512x512_diffusion.pt)"),
    ),
    "adm-tiny": Preset(
        replace(
            ADM_SMALL, resolution=32, num_classes=4, attention_resolutions=(16,), **TINY_LEVELS
        ),
        Source("test", "CPU tests", "two-level ADM U-Net with every released feature"),
    ),
    "adm-small": Preset(
        ADM_SMALL,
        Source(
            "harness",
            "rinbench train equal-compute",
            "a small 64-px model of the equal-compute FID experiment",
        ),
    ),
}

# DiT (Peebles & Xie 2023, arXiv:2212.09748). Latent presets: the twelve model definitions at the end
# of facebookresearch/DiT models.py (commit ed81ce2; S/B/L/XL x patch 2/4/8) at 256 px = a 32x32x4
# SD-VAE latent (latent_factor 8), with the released defaults learn_sigma=True and
# class_dropout_prob=0.1 (a null-class row). Official counts: XL/2 675,129,632 params at 256 px and
# 676,014,368 at 512 px (both include the frozen sin-cos position table); GMACs in the paper's
# Table 4 (tests/test_dit.py). Pixel-space presets: no VAE; patch 16 on 3-channel 256 px images keeps
# the 256 tokens of the /2 latent models, so their transformer costs about as much as DiT-B/2 and
# DiT-XL/2.
#
# The model sizes of models.py: depth, hidden size D, heads.
DIT_SIZES = {
    "S": dict(depth=12, hidden_size=384, num_heads=6),
    "B": dict(depth=12, hidden_size=768, num_heads=12),
    "L": dict(depth=24, hidden_size=1024, num_heads=16),
    "XL": dict(depth=28, hidden_size=1152, num_heads=16),
}
# The released models' input: the SD-VAE latent of a 256-px ImageNet image, 32x32x4.
LATENT_256 = dict(resolution=256, in_channels=4, num_classes=1000, latent_factor=8)
# No VAE: the network patches the 3-channel image itself.
PIXELS = dict(in_channels=3, latent_factor=1)
DIT_XL_2 = DiTConfig(**LATENT_256, **DIT_SIZES["XL"], patch_size=2)
DIT_TINY = dict(depth=2, hidden_size=64, num_heads=4)  # ours, for CPU tests


def _dit(size: str, patch_size: int) -> Preset:
    """DiT-<size>/<patch_size> of models.py (e.g. DiT_XL_2) on the 256-px latent."""
    config = DiTConfig(**LATENT_256, **DIT_SIZES[size], patch_size=patch_size)
    where = "facebookresearch/DiT models.py"
    note = f"DiT_{size}_{patch_size}, 256 px (32x32x4 latent)"
    return Preset(config, Source("released config", where, note))


def _pixels(size: str) -> Preset:
    """DiT-<size> on 3-channel pixels with patch 16: 256 tokens at 256 px, as its /2 latent model."""
    config = DiTConfig(**(LATENT_256 | PIXELS), **DIT_SIZES[size], patch_size=16)
    note = (
        f"DiT-{size} on 3-channel pixels (no VAE); patch 16 chosen here so that 256 px gives the "
        f"256 tokens of DiT-{size}/2 on latents; DiT released no pixel-space model"
    )
    return Preset(config, Source("reconstructed", "facebookresearch/DiT models.py", note))


DIT_PRESETS: dict[str, Preset] = {
    "dit-s-2": _dit("S", 2),
    "dit-s-4": _dit("S", 4),
    "dit-s-8": _dit("S", 8),
    "dit-b-2": _dit("B", 2),
    "dit-b-4": _dit("B", 4),
    "dit-b-8": _dit("B", 8),
    "dit-l-2": _dit("L", 2),
    "dit-l-4": _dit("L", 4),
    "dit-l-8": _dit("L", 8),
    "dit-xl-2": _dit("XL", 2),
    "dit-xl-4": _dit("XL", 4),
    "dit-xl-8": _dit("XL", 8),
    "dit-xl-2-512": Preset(
        replace(DIT_XL_2, resolution=512),
        Source(
            "released config",
            "facebookresearch/DiT models.py and README.md",
            "DiT_XL_2 with --image-size 512 (64x64x4 latent)",
        ),
    ),
    "dit-b-16-px": _pixels("B"),
    "dit-xl-16-px": _pixels("XL"),
    "dit-tiny": Preset(
        DiTConfig(resolution=32, num_classes=4, **PIXELS, patch_size=2, **DIT_TINY),
        Source("test", "CPU tests", "2-block DiT on 32 px pixels (256 tokens), 4 classes"),
    ),
    "dit-small": Preset(
        DiTConfig(resolution=64, num_classes=8, **PIXELS, patch_size=4, **DIT_SIZES["S"]),
        Source(
            "harness",
            "rinbench train equal-compute",
            "a small 64-px model of the equal-compute FID experiment",
        ),
    ),
}
