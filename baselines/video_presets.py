"""Presets for the video baselines: slug -> Preset(config, Source).

Resolution variants: `dataclasses.replace(config, resolution=r)`; frame-count variants likewise with
`frames=` (and `cond_frames=`).
"""

from dataclasses import replace

from baselines.presets import TINY_LEVELS
from baselines.unet3d import UNet3DConfig
from bench.family import Preset, Source

# 3-D U-Net of Video Diffusion Models (Ho et al. 2022, arXiv:2204.03458), Kinetics-600 frame
# prediction at 16x64x64 with 5 clean conditioning frames, the task of RIN's video comparison (Jabri
# et al. 2023, Figure 1: VD FVD 16.6 vs RIN 10.8). VDM released no code or config, and its Kinetics
# hyperparameters are not published in a form we could retrieve; the widths are reconstructed as an
# ADM-style 64-px U-Net at VDM's scale: base 256, channel_mult (1, 2, 4, 8), 2 ResBlocks per level,
# attention at 32/16/8 px, 64-channel heads, a 1024-wide (4C) embedding. Counted here: 1,165,591,243
# parameters (127,007,176 of them in the temporal attention blocks), 6.0 % above the 1.1B that
# W.A.L.T's Table 1 (Gupta et al. 2023, arXiv:2312.06662) lists for Video Diffusion on Kinetics-600
# (a rounded third-party figure); 3,424.85 GMACs per 16-frame video, 214.05 GMACs per frame
# (tests/test_unet3d.py).
VDM_K600 = UNet3DConfig(
    resolution=64,
    frames=16,
    cond_frames=5,
    num_classes=0,
    model_channels=256,
    num_res_blocks=2,
    channel_mult=(1, 2, 4, 8),
    attention_resolutions=(32, 16, 8),
    num_head_channels=64,
    dropout=0.1,
    use_scale_shift_norm=True,
    learn_sigma=False,
)

VIDEO_UNET_PRESETS: dict[str, Preset] = {
    "vdm-k600": Preset(
        VDM_K600,
        Source(
            "reconstructed",
            "Ho et al. 2022 (arXiv:2204.03458), section 3",
            "VDM's factorised space-time 3-D U-Net (1x3x3 convs, spatial then temporal attention "
            "with relative position bias, space-only resampling) at 16x64x64; widths reconstructed "
            "(base 256, mult 1-2-4-8, 2 blocks, attention 32/16/8, dropout 0.1 as ADM-64), aiming "
            "at the 1.1B of W.A.L.T Table 1: 1.166B here (+6 %). Frame prediction: the first 5 "
            "frames are given clean in x_t and left out of the loss; the network sees one video "
            "tensor",
        ),
    ),
    "vdm-tiny": Preset(
        replace(
            VDM_K600,
            resolution=16,
            frames=4,
            cond_frames=1,
            attention_resolutions=(8,),
            dropout=0.0,
            **TINY_LEVELS,
        ),
        Source("test", "CPU tests", "two-level factorised space-time U-Net, 4 frames of 16 px"),
    ),
}
