"""Presets for the baseline backbones: slug -> (config, "<kind>: <source>").

Resolution variants: `dataclasses.replace(config, resolution=r)`.
"""

from baselines.dit import DiTConfig
from baselines.unet import UNetConfig

# ADM U-Net (Dhariwal & Nichol 2021). Flags are the guided-diffusion README's MODEL_FLAGS for each
# released checkpoint (research/baselines.md section 1.2); channel_mult is `create_model`'s default
# for that image_size. The checkpoints were trained at these flags with fp16 (512: fp32); precision
# is the harness's choice, not part of the config. Official parameter counts: 64 px 295,904,454;
# 128 px 421,529,606; 256 px 553,838,086; 512 px 558,997,638 (tests/test_unet.py).
UNET_PRESETS: dict[str, tuple[UNetConfig, str]] = {
    "adm-in64": (
        UNetConfig(
            resolution=64,
            num_classes=1000,
            model_channels=192,
            num_res_blocks=3,
            channel_mult=(1, 2, 3, 4),
            attention_resolutions=(32, 16, 8),
            num_head_channels=64,
            dropout=0.1,
            learn_sigma=True,
            use_scale_shift_norm=True,
            resblock_updown=True,
            use_new_attention_order=True,
        ),
        "released config: guided-diffusion README, ImageNet 64x64 flags (64x64_diffusion.pt)",
    ),
    "adm-in128": (
        UNetConfig(
            resolution=128,
            num_classes=1000,
            model_channels=256,
            num_res_blocks=2,
            channel_mult=(1, 1, 2, 3, 4),
            attention_resolutions=(32, 16, 8),
            num_heads=4,
            learn_sigma=True,
            use_scale_shift_norm=True,
            resblock_updown=True,
        ),
        "released config: guided-diffusion README, ImageNet 128x128 flags (128x128_diffusion.pt)",
    ),
    "adm-in256": (
        UNetConfig(
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
        ),
        "released config: guided-diffusion README, ImageNet 256x256 flags (256x256_diffusion.pt)",
    ),
    "adm-in256-uncond": (
        UNetConfig(
            resolution=256,
            num_classes=0,
            model_channels=256,
            num_res_blocks=2,
            channel_mult=(1, 1, 2, 2, 4, 4),
            attention_resolutions=(32, 16, 8),
            num_head_channels=64,
            learn_sigma=True,
            use_scale_shift_norm=True,
            resblock_updown=True,
        ),
        "released config: guided-diffusion README, unconditional ImageNet 256x256 flags "
        "(256x256_diffusion_uncond.pt)",
    ),
    "adm-in512": (
        UNetConfig(
            resolution=512,
            num_classes=1000,
            model_channels=256,
            num_res_blocks=2,
            channel_mult=(0.5, 1, 1, 2, 2, 4, 4),
            attention_resolutions=(32, 16, 8),
            num_head_channels=64,
            learn_sigma=True,
            use_scale_shift_norm=True,
            resblock_updown=True,
        ),
        "released config: guided-diffusion README, ImageNet 512x512 flags (512x512_diffusion.pt)",
    ),
    "adm-tiny": (
        UNetConfig(
            resolution=32,
            num_classes=4,
            model_channels=32,
            num_res_blocks=1,
            channel_mult=(1, 2),
            attention_resolutions=(16,),
            num_head_channels=32,
            learn_sigma=True,
            use_scale_shift_norm=True,
            resblock_updown=True,
            use_new_attention_order=True,
        ),
        "test: two-level ADM U-Net with every released feature, for CPU tests",
    ),
    "adm-small": (
        UNetConfig(
            resolution=64,
            num_classes=8,
            model_channels=64,
            num_res_blocks=2,
            channel_mult=(1, 2, 2, 2),
            attention_resolutions=(16, 8),
            num_head_channels=32,
            learn_sigma=True,
            use_scale_shift_norm=True,
            resblock_updown=True,
            use_new_attention_order=True,
        ),
        "harness: a small 64-px model of the equal-compute FID experiment (rinbench train equal-compute)",
    ),
}

# DiT (Peebles & Xie 2023). Latent presets: the twelve model definitions of facebookresearch/DiT
# models.py (S/B/L/XL x patch 2/4/8) at 256 px = a 32x32x4 SD-VAE latent (latent_factor 8), with the
# released defaults learn_sigma=True and class_dropout_prob=0.1 (a null-class row). Official counts:
# XL/2 675,129,632 params at 256 px and 676,014,368 at 512 px (both include the frozen sin-cos
# position table); GMACs in the paper's Table 4 (research/baselines.md section 2.2, tests/test_dit.py).
# Pixel-space presets: no VAE; patch 16 on 3-channel 256 px images keeps the 256 tokens of the /2
# latent models, so their transformer costs about as much as DiT-B/2 and DiT-XL/2.
DIT_PRESETS: dict[str, tuple[DiTConfig, str]] = {
    "dit-s-2": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=2,
            depth=12,
            hidden_size=384,
            num_heads=6,
        ),
        "released config: DiT models.py DiT_S_2, 256 px (32x32x4 latent)",
    ),
    "dit-s-4": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=4,
            depth=12,
            hidden_size=384,
            num_heads=6,
        ),
        "released config: DiT models.py DiT_S_4, 256 px (32x32x4 latent)",
    ),
    "dit-s-8": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=8,
            depth=12,
            hidden_size=384,
            num_heads=6,
        ),
        "released config: DiT models.py DiT_S_8, 256 px (32x32x4 latent)",
    ),
    "dit-b-2": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=2,
            depth=12,
            hidden_size=768,
            num_heads=12,
        ),
        "released config: DiT models.py DiT_B_2, 256 px (32x32x4 latent)",
    ),
    "dit-b-4": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=4,
            depth=12,
            hidden_size=768,
            num_heads=12,
        ),
        "released config: DiT models.py DiT_B_4, 256 px (32x32x4 latent)",
    ),
    "dit-b-8": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=8,
            depth=12,
            hidden_size=768,
            num_heads=12,
        ),
        "released config: DiT models.py DiT_B_8, 256 px (32x32x4 latent)",
    ),
    "dit-l-2": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=2,
            depth=24,
            hidden_size=1024,
            num_heads=16,
        ),
        "released config: DiT models.py DiT_L_2, 256 px (32x32x4 latent)",
    ),
    "dit-l-4": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=4,
            depth=24,
            hidden_size=1024,
            num_heads=16,
        ),
        "released config: DiT models.py DiT_L_4, 256 px (32x32x4 latent)",
    ),
    "dit-l-8": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=8,
            depth=24,
            hidden_size=1024,
            num_heads=16,
        ),
        "released config: DiT models.py DiT_L_8, 256 px (32x32x4 latent)",
    ),
    "dit-xl-2": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=2,
            depth=28,
            hidden_size=1152,
            num_heads=16,
        ),
        "released config: DiT models.py DiT_XL_2, 256 px (32x32x4 latent)",
    ),
    "dit-xl-4": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=4,
            depth=28,
            hidden_size=1152,
            num_heads=16,
        ),
        "released config: DiT models.py DiT_XL_4, 256 px (32x32x4 latent)",
    ),
    "dit-xl-8": (
        DiTConfig(
            resolution=256,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=8,
            depth=28,
            hidden_size=1152,
            num_heads=16,
        ),
        "released config: DiT models.py DiT_XL_8, 256 px (32x32x4 latent)",
    ),
    "dit-xl-2-512": (
        DiTConfig(
            resolution=512,
            in_channels=4,
            num_classes=1000,
            latent_factor=8,
            patch_size=2,
            depth=28,
            hidden_size=1152,
            num_heads=16,
        ),
        "released config: DiT models.py DiT_XL_2 with --image-size 512 (README; 64x64x4 latent)",
    ),
    "dit-b-16-px": (
        DiTConfig(
            resolution=256,
            in_channels=3,
            num_classes=1000,
            latent_factor=1,
            patch_size=16,
            depth=12,
            hidden_size=768,
            num_heads=12,
        ),
        "reconstructed: DiT-B on 3-channel pixels (no VAE); patch 16 chosen here so that 256 px "
        "gives the 256 tokens of DiT-B/2 on latents; DiT released no pixel-space model",
    ),
    "dit-xl-16-px": (
        DiTConfig(
            resolution=256,
            in_channels=3,
            num_classes=1000,
            latent_factor=1,
            patch_size=16,
            depth=28,
            hidden_size=1152,
            num_heads=16,
        ),
        "reconstructed: DiT-XL on 3-channel pixels (no VAE); patch 16 chosen here so that 256 px "
        "gives the 256 tokens of DiT-XL/2 on latents; DiT released no pixel-space model",
    ),
    "dit-tiny": (
        DiTConfig(
            resolution=32,
            in_channels=3,
            num_classes=4,
            latent_factor=1,
            patch_size=2,
            depth=2,
            hidden_size=64,
            num_heads=4,
        ),
        "test: 2-block DiT on 32 px pixels (256 tokens), 4 classes, for CPU tests",
    ),
    "dit-small": (
        DiTConfig(
            resolution=64,
            in_channels=3,
            num_classes=8,
            latent_factor=1,
            patch_size=4,
            depth=12,
            hidden_size=384,
            num_heads=6,
        ),
        "harness: a small 64-px model of the equal-compute FID experiment (rinbench train equal-compute)",
    ),
}
