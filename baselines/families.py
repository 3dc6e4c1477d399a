"""The baseline families as the harness sees them: ADM's U-Net, DiT, and VDM's 3-D U-Net."""

from baselines.dit import DiT, DiTBlock, DiTConfig, SelfAttention
from baselines.presets import DIT_PRESETS, UNET_PRESETS
from baselines.unet import AttentionBlock, ResBlock, UNet, UNetConfig
from baselines.unet3d import TemporalAttention, UNet3D, UNet3DConfig
from baselines.video_presets import VIDEO_UNET_PRESETS
from bench.family import DiffusionNeeds, Family, Grouping, gaussian_inputs, no_diffusion_needs


def by_resolution(name: str, spatial: tuple[int, int] | None) -> str:
    """U-Nets: the feature-map size an op runs at ("32px"); ops with no image-like input below the
    root (time and label embeddings) are "other". A strided conv counts at its input size."""
    if spatial is None:
        return "other"
    height, width = spatial
    return f"{height}px" if height == width else f"{height}x{width}px"


# DiT's module names -> its FLOP groups; the adaLN-Zero regressions include the final layer's.
DIT_BLOCK_PARTS = {"attn": "attention", "mlp": "mlp", "ada_ln": "adaln"}


def by_dit_block_kind(name: str, spatial: tuple[int, int] | None) -> str:
    """DiT: attention / mlp / adaln / other (patch embedding, timestep embedding, final linear)."""
    parts = name.split(".")
    return next((group for part, group in DIT_BLOCK_PARTS.items() if part in parts), "other")


DESCRIPTIONS = {
    "adm": "ADM U-Net (Dhariwal & Nichol 2021; openai/guided-diffusion)",
    "dit": "Diffusion Transformer (Peebles & Xie 2023; facebookresearch/DiT)",
    "vdm": "factorised space-time 3-D U-Net of Video Diffusion Models (Ho et al. 2022)",
}


def _baseline(
    name: str,
    model: type,
    config: type,
    presets: dict,
    grouping: Grouping,
    units: dict,
    needs=no_diffusion_needs,
) -> Family:
    """A baseline family: every baseline takes Gaussian inputs of its config's input_shape. Each
    embeds t itself and returns no state, so the diffusion process needs to know nothing more of
    it, except VDM's frames given clean (`needs`)."""
    return Family(
        name, DESCRIPTIONS[name], model, config, presets, grouping, gaussian_inputs,
        checkpoint_units=units, diffusion_needs=needs,
    )  # fmt: skip


def video_diffusion_needs(cfg: UNet3DConfig) -> DiffusionNeeds:
    """The video U-Net at frame prediction is given its `cond_frames` leading frames clean."""
    return DiffusionNeeds(context_frames=cfg.cond_frames)


# ADM's official code checkpoints every AttentionBlock (guided-diffusion unet.py): "attention".
UNET_UNITS = {"attention": (AttentionBlock,), "blocks": (ResBlock, AttentionBlock)}
ADM = _baseline("adm", UNet, UNetConfig, UNET_PRESETS, by_resolution, UNET_UNITS)
DIT = _baseline(
    "dit", DiT, DiTConfig, DIT_PRESETS, by_dit_block_kind,
    {"attention": (SelfAttention,), "blocks": (DiTBlock,)},
)  # fmt: skip
# The video U-Net folds frames into the batch around its 2-D ops: its convs see 4-D maps. Its
# blocks are ADM's (VideoResBlock is a ResBlock) and its temporal attention.
VDM = _baseline(
    "vdm", UNet3D, UNet3DConfig, VIDEO_UNET_PRESETS, by_resolution,
    {
        "attention": (AttentionBlock, TemporalAttention),
        "blocks": (ResBlock, AttentionBlock, TemporalAttention),
    },
    video_diffusion_needs,
)  # fmt: skip
