"""diffusers' `UNet2DModel` (huggingface/diffusers `src/diffusers/models/unets/unet_2d.py`)
configured as the ADM U-Net, behind rinbench's backbone interface, so that the harness counts and
times it with the code that measures our ADM (`baselines/unet.py`).

`from_adm` maps an ADM config onto UNet2DModel's options the way diffusers' consistency-models
conversion (`scripts/convert_consistency_to_diffusers.py`, IMAGENET_64_UNET_CONFIG) maps ADM
ImageNet-64: a level's width as `block_out_channels`, `num_res_blocks` as `layers_per_block`, levels
at an attention resolution as `AttnDownBlock2D` / `AttnUpBlock2D`, BigGAN-style resampling as
`downsample_type` / `upsample_type` "resnet" (`ResnetDownsampleBlock2D` / `ResnetUpsampleBlock2D`
for levels without attention), AdaGN as `resnet_time_scale_shift` "scale_shift", 64-channel heads as
`attention_head_dim`, and `attn_norm_num_groups` 32 to keep the middle attention's GroupNorm (which
UNet2DModel leaves out under "scale_shift" otherwise). The modules are then ADM's one for one, with
the same parameters and forward MACs to the unit (adm-in64: 295,904,454, the official count; tests/
test_peers_diffusers.py); what differs from ours:
- q, k and v are three linear maps (`to_q`, `to_k`, `to_v`), where ADM has one fused 1x1 conv; the
  same weights and MACs. ADM's legacy head order (adm-in256: each head's q, k, v adjacent in the
  fused output) has no option here: the split is always the new order's.
- No ADM initialisation (zeroed output convs): diffusers' modules keep PyTorch's defaults, since
  UNet2DModel is meant to load released weights.
What UNet2DModel cannot express is refused by `from_adm` with the reason: a fixed head count
(`num_heads` without `num_head_channels`: its attention takes a head width), and a first level of
another width than model_channels (its time embedding is 4 x block_out_channels[0] wide, ADM's 4 x
model_channels: ADM-512's channel_mult starts at 0.5).
diffusers is imported when a model is built, not when this module is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.families import by_resolution
from baselines.layers import check_image_inputs
from baselines.peers.declare import EXTRA, peer_family
from baselines.presets import UNET_PRESETS
from baselines.unet import GROUPS, UNetConfig
from bench.family import Preset, Source, require

# ADM conditions on the step index of its 1000-step schedule.
TIMESTEP_SCALE = 1000.0


@dataclass(frozen=True, kw_only=True)
class DiffusersUNetConfig:
    """UNet2DModel's options as the ADM U-Net uses them; `unet2d_kwargs` spells out the rest."""

    name: str = "custom"  # the registry sets it to the preset slug
    resolution: int  # pixels per side; UNet2DModel's `sample_size`
    in_channels: int = 3
    num_classes: int = 0  # 0 = unconditional; else `num_class_embeds`, a label table
    block_out_channels: tuple[int, ...]  # width of each level, from the top
    layers_per_block: int  # ResNet blocks per level going down (one more going up)
    attention_resolutions: tuple[int, ...]  # feature-map sizes (px per side) with attention
    attention_head_dim: int  # channels per head (ADM's num_head_channels)
    dropout: float = 0.0  # in every ResNet block, before its last conv
    learn_sigma: bool = True  # also predict the variance interpolation: out_channels = 2 C
    scale_shift_norm: bool = True  # AdaGN ("scale_shift"); else the embedding is added ("default")
    resnet_resampling: bool = True  # BigGAN-style ResNet blocks resample ("resnet"); else convs

    def __post_init__(self):
        if not self.block_out_channels:
            raise ValueError("block_out_channels needs at least one level")
        if min(self.in_channels, self.layers_per_block, self.attention_head_dim) < 1:
            raise ValueError(
                "in_channels, layers_per_block and attention_head_dim must be positive"
            )
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0 = unconditional): {self.num_classes}")
        factor = 2 ** (len(self.block_out_channels) - 1)
        if self.resolution < factor or self.resolution % factor:
            raise ValueError(
                f"resolution {self.resolution} does not work with {len(self.block_out_channels)} "
                f"levels: it must be a positive multiple of {factor}"
            )
        for width in self.block_out_channels:
            if width < GROUPS or width % GROUPS:
                raise ValueError(f"level width {width} is not a multiple of {GROUPS} (GroupNorm)")
        # UNet2DModel makes width // attention_head_dim heads without checking the remainder; the
        # middle block always has attention.
        attended = [w for w, a in zip(self.block_out_channels, self.attended, strict=True) if a]
        for width in [*attended, self.block_out_channels[-1]]:
            if width % self.attention_head_dim:
                raise ValueError(
                    f"level width {width} is not divisible by attention_head_dim "
                    f"{self.attention_head_dim}"
                )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.resolution, self.resolution)

    @property
    def out_channels(self) -> int:
        return 2 * self.in_channels if self.learn_sigma else self.in_channels

    @property
    def attended(self) -> tuple[bool, ...]:
        """Whether each level has attention: its feature map is one of attention_resolutions."""
        sizes = (self.resolution // 2**level for level in range(len(self.block_out_channels)))
        return tuple(size in self.attention_resolutions for size in sizes)

    def unet2d_kwargs(self) -> dict:
        """The keyword arguments of UNet2DModel."""
        resample = "resnet" if self.resnet_resampling else "conv"
        plain_down = "ResnetDownsampleBlock2D" if self.resnet_resampling else "DownBlock2D"
        plain_up = "ResnetUpsampleBlock2D" if self.resnet_resampling else "UpBlock2D"
        down = tuple("AttnDownBlock2D" if a else plain_down for a in self.attended)
        up = tuple("AttnUpBlock2D" if a else plain_up for a in reversed(self.attended))
        return dict(
            sample_size=self.resolution,
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            # ADM's [cos | sin] features with frequencies 10^4^(-k / half): no shift.
            time_embedding_type="positional",
            flip_sin_to_cos=True,
            freq_shift=0,
            down_block_types=down,
            up_block_types=up,
            block_out_channels=self.block_out_channels,
            layers_per_block=self.layers_per_block,
            downsample_type=resample,
            upsample_type=resample,
            dropout=self.dropout,
            attention_head_dim=self.attention_head_dim,
            norm_num_groups=GROUPS,
            attn_norm_num_groups=GROUPS,  # ADM's middle attention has its GroupNorm
            resnet_time_scale_shift="scale_shift" if self.scale_shift_norm else "default",
            num_class_embeds=self.num_classes or None,
        )


def from_adm(cfg: UNetConfig) -> DiffusersUNetConfig:
    """Our ADM config as UNet2DModel's options; ValueError for what UNet2DModel cannot express."""
    if cfg.num_head_channels == -1:
        raise ValueError(
            f"a fixed head count (num_heads {cfg.num_heads}) has no UNet2DModel option: its "
            "attention takes a head width (attention_head_dim)"
        )
    if cfg.channel_mult[0] != 1:
        raise ValueError(
            f"channel_mult starts at {cfg.channel_mult[0]}: UNet2DModel sizes the time embedding "
            "from the first level's width, ADM from model_channels"
        )
    return DiffusersUNetConfig(
        resolution=cfg.resolution,
        in_channels=cfg.in_channels,
        num_classes=cfg.num_classes,
        block_out_channels=tuple(int(m * cfg.model_channels) for m in cfg.channel_mult),
        layers_per_block=cfg.num_res_blocks,
        attention_resolutions=cfg.attention_resolutions,
        attention_head_dim=cfg.num_head_channels,
        dropout=cfg.dropout,
        learn_sigma=cfg.learn_sigma,
        scale_shift_norm=cfg.use_scale_shift_norm,
        resnet_resampling=cfg.resblock_updown,
    )


class DiffusersUNet(nn.Module):
    """x (B, C, H, W), t (B,) in [0, 1], y (B,) int64 or None -> ((B, C_out, H, W), None), as our
    ADM. `self.net` is the UNet2DModel itself."""

    def __init__(self, cfg: DiffusersUNetConfig):
        super().__init__()
        self.cfg = cfg
        require("diffusers", EXTRA)
        from diffusers.models.unets.unet_2d import UNet2DModel

        self.net = UNet2DModel(**cfg.unet2d_kwargs())

    def forward(self, x, t, y=None, state=None) -> tuple[torch.Tensor, None]:
        del state  # only RIN carries state between steps
        check_image_inputs(self.cfg, x, t, y)
        # ADM embeds the step index of its 1000-step schedule; UNet2DModel takes it as a float
        # tensor, so t * 1000 passes unrounded (continuous), as our ADM embeds it.
        timestep_B = t.float() * TIMESTEP_SCALE
        return self.net(x, timestep_B, class_labels=y, return_dict=False)[0], None


# The timestep MLP and label table of UNet2DModel: "other", as ours (their input is no image).
EMBEDDINGS = ("net.time_embedding", "net.class_embedding")


def by_resolution_of_unet2d(name: str, spatial: tuple[int, int] | None) -> str:
    """Our ADM's breakdown (baselines.families.by_resolution). Below the adapter's root, `net` takes
    the image, so the embeddings it runs would inherit its size: they are named instead."""
    if name.startswith(EMBEDDINGS):
        return "other"
    return by_resolution(name, spatial)


# --- presets --------------------------------------------------------------------------------------

WHERE = "huggingface/diffusers scripts/convert_consistency_to_diffusers.py"


def _mirror(adm_slug: str, note: str) -> Preset:
    """The ADM preset `adm_slug` through from_adm, its counterpart."""
    config = from_adm(UNET_PRESETS[adm_slug].config)
    return Preset(config, Source("reconstructed", WHERE, note), counterpart=adm_slug)


PRESETS = {
    "diffusers-unet-in64": _mirror(
        "adm-in64",
        "IMAGENET_64_UNET_CONFIG (ADM-64 as consistency models use it) with adm-in64's "
        "out_channels 6 (learn_sigma) and dropout 0.1; 295,904,454 params, adm-in64's to the unit "
        "(every ADM module has its counterpart; qkv split into to_q/to_k/to_v)",
    ),
    "diffusers-unet-in256": _mirror(
        "adm-in256",
        "IMAGENET_64_UNET_CONFIG's mapping applied to adm-in256's flags (6 levels of 256-1024, "
        "attention at 32/16/8 px, 2 blocks a level, 64-channel heads, scale_shift, resnet "
        "resampling, 1000 classes, out 6); 553,838,086 params, adm-in256's to the unit; ADM-256's "
        "legacy head order becomes the new one",
    ),
    "diffusers-unet-tiny": Preset(
        from_adm(UNET_PRESETS["adm-tiny"].config),
        Source(
            "test",
            "CPU tests",
            "adm-tiny through from_adm, the mapping of the in64 and in256 presets",
        ),
        counterpart="adm-tiny",
    ),
}

FAMILY = peer_family(
    "diffusers-unet", "ADM U-Net as huggingface/diffusers' UNet2DModel expresses it",
    DiffusersUNet, DiffusersUNetConfig, PRESETS, by_resolution_of_unet2d,
    package="diffusers", peer_of="adm",
)  # fmt: skip
