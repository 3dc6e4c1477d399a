"""The baseline families as the harness sees them: ADM's U-Net, DiT, and VDM's 3-D U-Net."""

from baselines.dit import DiT, DiTConfig
from baselines.presets import DIT_PRESETS, UNET_PRESETS
from baselines.unet import UNet, UNetConfig
from baselines.unet3d import UNet3D, UNet3DConfig
from baselines.video_presets import VIDEO_UNET_PRESETS
from bench.family import Family, gaussian_inputs


def by_resolution(name: str, spatial: tuple[int, int] | None) -> str:
    """U-Nets: the feature-map size an op runs at ("32px"); ops with no image-like input below the
    root (time and label embeddings) are "other". A strided conv counts at its input size."""
    if spatial is None:
        return "other"
    height, width = spatial
    return f"{height}px" if height == width else f"{height}x{width}px"


def by_dit_block_kind(name: str, spatial: tuple[int, int] | None) -> str:
    """DiT: attention / mlp / adaln (the adaLN-Zero regressions, final layer included) / other."""
    parts = name.split(".")
    if "attn" in parts:
        return "attention"
    if "mlp" in parts:
        return "mlp"
    if "ada_ln" in parts:
        return "adaln"
    return "other"  # patch embedding, timestep embedding, final linear


ADM = Family(
    name="adm",
    description="ADM U-Net (Dhariwal & Nichol 2021; openai/guided-diffusion)",
    model=UNet,
    config=UNetConfig,
    presets=UNET_PRESETS,
    flop_grouping=by_resolution,
    make_inputs=gaussian_inputs,
)

DIT = Family(
    name="dit",
    description="Diffusion Transformer (Peebles & Xie 2023; facebookresearch/DiT)",
    model=DiT,
    config=DiTConfig,
    presets=DIT_PRESETS,
    flop_grouping=by_dit_block_kind,
    make_inputs=gaussian_inputs,
)

VDM = Family(
    name="vdm",
    description="factorised space-time 3-D U-Net of Video Diffusion Models (Ho et al. 2022)",
    model=UNet3D,
    config=UNet3DConfig,
    presets=VIDEO_UNET_PRESETS,
    # The video U-Net folds frames into the batch around its 2-D ops: its convs see 4-D maps.
    flop_grouping=by_resolution,
    make_inputs=gaussian_inputs,
)
