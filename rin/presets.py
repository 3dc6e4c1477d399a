"""RIN presets: slug -> (config, "<source kind>: <detail>").

Sources (details and citations in ../shared/research/rin-paper.md §2): the official configs in
google-research/pix2seq (`configs/config_diffusion_{cifar10,imagenet64}.py`), the paper's text (patch 4 for
64 and 128 px, 8 above, Jabri et al. p. 5), author comments in GitHub issues, and for the rest our own
reconstruction. Paper-reported parameter counts (410M at 256 px, 320M at 512 px) are claims checked by the
report, not inputs: a reconstructed preset may miss them, and the report says by how much.
"""

from rin.model import RINConfig

PRESETS: dict[str, tuple[RINConfig, str]] = {
    "rin-cifar10": (
        RINConfig(
            resolution=32,
            num_classes=10,
            patch_size=2,
            interface_dim=256,
            num_latents=128,
            latent_dim=512,
            blocks=3,
            latent_depth=2,
            latent_heads=16,
            rw_heads=8,
            latent_mlp_ratio=4,
            interface_mlp_ratio=2,
            dropout=0.1,
            drop_path=0.1,
            noise_schedule="sigmoid@-3,3,0.9",
        ),
        "released config: pix2seq config_diffusion_cifar10.py (tape sweep); training schedule "
        "sigmoid@-3,3,0.9 per the author in google-research/pix2seq#35",
    ),
    "rin-in64-released": (
        RINConfig(
            resolution=64,
            num_classes=1000,
            patch_size=8,
            interface_dim=512,
            num_latents=128,
            latent_dim=768,
            blocks=4,
            latent_depth=4,
            latent_heads=16,
            rw_heads=16,
            latent_mlp_ratio=4,
            interface_mlp_ratio=4,
            noise_schedule="linear",
        ),
        "released config: pix2seq config_diffusion_imagenet64.py (patch 8, simple_linear schedule)",
    ),
    "rin-in64": (
        RINConfig(
            resolution=64,
            num_classes=1000,
            patch_size=4,
            interface_dim=512,
            num_latents=128,
            latent_dim=768,
            blocks=4,
            latent_depth=4,
            latent_heads=16,
            rw_heads=16,
            latent_mlp_ratio=4,
            interface_mlp_ratio=4,
            noise_schedule="linear",
        ),
        "paper text: patch 4 for 64x64 (Jabri et al. p. 5); other fields from the released "
        "ImageNet-64 config. EDM2 reprints 281M params for the paper's model: not matched",
    ),
    "rin-in128": (
        RINConfig(
            resolution=128,
            num_classes=1000,
            patch_size=4,
            interface_dim=512,
            num_latents=256,
            latent_dim=1024,
            blocks=6,
            latent_depth=4,
            latent_heads=16,
            rw_heads=16,
            noise_schedule="sigmoid@-3,3,0.9",
        ),
        "reconstructed: patch 4 from the paper text; widths and depth from the 256-px "
        "reconstruction (no source gives the 128-px model)",
    ),
    "rin-in256": (
        RINConfig(
            resolution=256,
            num_classes=1000,
            patch_size=8,
            interface_dim=512,
            num_latents=256,
            latent_dim=1024,
            blocks=6,
            latent_depth=4,
            latent_heads=16,
            rw_heads=16,
            noise_schedule="sigmoid@-3,3,0.9",
        ),
        "reconstructed: patch 8 from the paper text; 256 latents x 1024, 6 blocks x 4 from the "
        "third-party nicolas-dufour/CAD cc12m_256_rin.yaml (396M vs the reported 410M)",
    ),
    "rin-in512": (
        RINConfig(
            resolution=512,
            num_classes=1000,
            patch_size=8,
            interface_dim=512,
            num_latents=256,
            latent_dim=768,
            blocks=6,
            latent_depth=6,
            latent_heads=16,
            rw_heads=16,
            noise_schedule="sigmoid@-3,3,0.9",
        ),
        "reconstructed: patch 8 from the paper text; widths chosen to land on the reported 320M "
        "parameters (JiT Table 8)",
    ),
    "rin-in1024": (
        RINConfig(
            resolution=1024,
            num_classes=1000,
            patch_size=8,
            interface_dim=512,
            num_latents=256,
            latent_dim=768,
            blocks=6,
            latent_depth=6,
            latent_heads=16,
            rw_heads=16,
            noise_schedule="sigmoid@-3,3,0.9",
        ),
        "reconstructed: 16384 tokens with 256 latents (author, lucidrains/"
        "recurrent-interface-network-pytorch#2); widths as the 512-px reconstruction",
    ),
    "rin-k600": (
        RINConfig(
            resolution=64,
            frames=16,
            frame_patch=2,
            cond_frames=5,
            num_classes=0,
            patch_size=4,
            interface_dim=512,
            num_latents=256,
            latent_dim=1024,
            blocks=6,
            latent_depth=4,
            latent_heads=16,
            rw_heads=16,
            noise_schedule="sigmoid@-3,3,0.9",
        ),
        "reconstructed: 16x64x64 with 2x4x4 patches = 2048 tokens (paper p. 5); widths as the 256-px "
        "reconstruction, aiming at the reported 411M (W.A.L.T Table 1). Frame prediction: the first 5 "
        "frames are given clean in x_t and left out of the loss; the network sees one video tensor",
    ),
    "rin-video-tiny": (
        RINConfig(
            resolution=16,
            frames=4,
            frame_patch=2,
            cond_frames=1,
            num_classes=0,
            patch_size=4,
            interface_dim=32,
            num_latents=8,
            latent_dim=48,
            blocks=2,
            latent_depth=1,
            latent_heads=2,
            rw_heads=2,
            latent_mlp_ratio=2,
            interface_mlp_ratio=2,
        ),
        "test: the video path in a few thousand parameters",
    ),
    "rin-small": (
        RINConfig(
            resolution=64,
            num_classes=8,
            patch_size=4,
            interface_dim=256,
            num_latents=64,
            latent_dim=384,
            blocks=4,
            latent_depth=2,
            latent_heads=6,
            rw_heads=4,
            latent_mlp_ratio=4,
            interface_mlp_ratio=2,
            noise_schedule="sigmoid@-3,3,0.9",
        ),
        "harness: a small 64-px model of the equal-compute FID experiment (rinbench train equal-compute)",
    ),
    "rin-tiny": (
        RINConfig(
            resolution=16,
            num_classes=4,
            patch_size=4,
            interface_dim=32,
            num_latents=8,
            latent_dim=48,
            blocks=2,
            latent_depth=1,
            latent_heads=2,
            rw_heads=2,
            latent_mlp_ratio=2,
            interface_mlp_ratio=2,
        ),
        "test: a few thousand parameters for CPU tests",
    ),
}
