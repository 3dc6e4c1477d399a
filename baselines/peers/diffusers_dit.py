"""diffusers' DiT (`DiTTransformer2DModel`, huggingface/diffusers
`src/diffusers/models/transformers/dit_transformer_2d.py`) behind rinbench's backbone interface, so
that the harness counts and times it with the code that measures our DiT (`baselines/dit.py`).

Configured as our DiT presets are (`from_dit` maps one of our configs), with diffusers' own defaults
for what ours does not configure. The architecture is DiT's; where diffusers differs from ours (and
from facebookresearch/DiT):
- Every transformer block owns its conditioning embedder (`norm1.emb`: a timestep MLP and a label
  table), where DiT has one for the whole network; the final layer reuses block 0's. diffusers'
  conversion of the released checkpoints copies DiT's one embedder into each block. Parameters: 27
  extra embedders at XL/2; forward MACs: the timestep MLP runs 29 times instead of once.
- The sin-cos position table is a buffer, where DiT (and ours) keep it as a frozen parameter.
- In training mode each block draws its own label dropout (classifier-free guidance), where DiT
  drops a sample's label once for all blocks.
- The timestep features' frequencies are 10000^(-k/127) (`downscale_freq_shift=1`), DiT's
  10000^(-k/128); the MLP's LayerNorm has eps 1e-5 (the released config's default), DiT's 1e-6.
- No DiT initialisation (adaLN-Zero's zeros, Xavier): diffusers' modules keep PyTorch's defaults,
  since diffusers' DiT is meant to load the released weights.
- Class-conditional only: a label embedding with a null row (dropout 0.1) is always built.
diffusers is imported when a model is built, not when this module is imported: declaring the family
needs no diffusers.

Legend: B batch, C channels of x, D hidden width, T tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.dit import TIMESTEP_FEATURES, TIMESTEP_SCALE, DiTConfig
from baselines.layers import check_image_inputs, check_positive
from baselines.peers.declare import EXTRA, peer_family
from baselines.presets import DIT_PRESETS
from bench.family import Preset, Source, require

# diffusers' CombinedTimestepLabelEmbeddings fixes the label dropout at 0.1, so the label table
# always has a null row; DiT's released default is the same.
LABEL_DROPOUT = 0.1
# BasicTransformerBlock's FeedForward is 4 D wide (DiT's mlp_ratio 4).
MLP_RATIO = 4.0


@dataclass(frozen=True)
class DiffusersDiTConfig:
    """The arguments of DiTTransformer2DModel that differ between presets, named as diffusers names
    them, plus the input geometry rinbench needs (resolution, latent_factor)."""

    resolution: int  # pixels per side of the image (the model sees resolution / latent_factor)
    in_channels: int  # channels of x: 4 for SD-VAE latents, 3 for pixels
    num_classes: int  # >= 1: `num_embeds_ada_norm`, the label table's rows (plus a null row)
    patch_size: int  # side of the square patch that becomes one token
    num_layers: int  # transformer blocks (DiT's depth)
    num_attention_heads: int
    attention_head_dim: int  # channels per head; hidden width D = heads * head_dim
    name: str = "custom"  # the registry sets it to the preset slug
    latent_factor: int = 8  # pixels per input cell: 8 = SD-VAE latent space, 1 = pixel space
    learn_sigma: bool = True  # out_channels = 2 C: the noise and the variance interpolation

    def __post_init__(self):
        sizes = ("resolution", "in_channels", "patch_size", "num_layers", "latent_factor")
        check_positive(self, *sizes, "num_attention_heads", "attention_head_dim")
        if self.num_classes < 1:
            raise ValueError(
                "diffusers' DiTTransformer2DModel is class-conditional only (its adaLN-Zero embeds "
                f"a label): num_classes must be >= 1, got {self.num_classes}"
            )
        # The 2-D sin-cos table gives each axis D/2 channels, half sine and half cosine.
        if self.hidden_size % 4:
            raise ValueError(f"hidden width must be a multiple of 4, got {self.hidden_size}")
        step = self.latent_factor * self.patch_size
        if self.resolution % step:
            raise ValueError(
                f"resolution {self.resolution} px does not tile into patches; it must be a "
                f"multiple of {step} (latent factor {self.latent_factor} x patch {self.patch_size})"
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.sample_size, self.sample_size)

    @property
    def out_channels(self) -> int:
        return 2 * self.in_channels if self.learn_sigma else self.in_channels

    @property
    def sample_size(self) -> int:
        """diffusers' `sample_size`: the side of x (of the latent, for a latent model)."""
        return self.resolution // self.latent_factor

    @property
    def hidden_size(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def num_tokens(self) -> int:
        return (self.sample_size // self.patch_size) ** 2

    def diffusers_kwargs(self) -> dict:
        """The keyword arguments of DiTTransformer2DModel: the released DiT-XL-2-256 config's keys,
        with what the released config leaves to diffusers' defaults spelled out, so a change of
        defaults in a later diffusers cannot change the model unnoticed."""
        return dict(
            num_attention_heads=self.num_attention_heads,
            attention_head_dim=self.attention_head_dim,
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            num_layers=self.num_layers,
            dropout=0.0,
            attention_bias=True,
            sample_size=self.sample_size,
            patch_size=self.patch_size,
            activation_fn="gelu-approximate",
            num_embeds_ada_norm=self.num_classes,
            upcast_attention=False,
            norm_type="ada_norm_zero",
            norm_elementwise_affine=False,
            norm_eps=1e-5,
        )


# DiffusersDiTConfig's fields that are DiTConfig's too, under the same name and meaning.
SHARED_FIELDS = (
    "resolution",
    "in_channels",
    "num_classes",
    "patch_size",
    "latent_factor",
    "learn_sigma",
)


def from_dit(cfg: DiTConfig) -> DiffusersDiTConfig:
    """Our DiT config as DiTTransformer2DModel's arguments; ValueError where it cannot say it."""
    if cfg.mlp_ratio != MLP_RATIO:
        raise ValueError(
            f"DiTTransformer2DModel's MLP is {MLP_RATIO:g} D wide, not {cfg.mlp_ratio}"
        )
    if cfg.num_classes and cfg.class_dropout_prob != LABEL_DROPOUT:
        raise ValueError(
            f"DiTTransformer2DModel drops labels at {LABEL_DROPOUT}, not {cfg.class_dropout_prob}"
        )
    return DiffusersDiTConfig(
        **{field: getattr(cfg, field) for field in SHARED_FIELDS},
        num_layers=cfg.depth,
        num_attention_heads=cfg.num_heads,
        attention_head_dim=cfg.hidden_size // cfg.num_heads,
    )


def conditioning_parameters(cfg: DiffusersDiTConfig) -> int:
    """Parameters of one block's conditioning embedder (`norm1.emb`): the timestep MLP on DiT's
    256 sinusoidal features and the label table with its null row. DiT has one; diffusers, one a
    block."""
    d = cfg.hidden_size
    timestep_mlp = (TIMESTEP_FEATURES * d + d) + (d * d + d)
    return timestep_mlp + (cfg.num_classes + 1) * d


class DiffusersDiT(nn.Module):
    """x (B, C, H, W), t (B,) in [0, 1], y (B,) int64 -> ((B, 2C, H, W), None), as our DiT.

    Labels: 0 .. num_classes-1, plus num_classes for "no class" (the null row). `self.net` is the
    DiTTransformer2DModel itself.
    """

    def __init__(self, cfg: DiffusersDiTConfig):
        super().__init__()
        self.cfg = cfg
        require("diffusers", EXTRA)
        from diffusers.models.transformers.dit_transformer_2d import DiTTransformer2DModel

        self.net = DiTTransformer2DModel(**cfg.diffusers_kwargs())

    def forward(self, x, t, y=None, state=None) -> tuple[torch.Tensor, None]:
        del state  # only RIN carries state between steps
        check_image_inputs(self.cfg, x, t, y, null_class=True)  # row num_classes: no class
        # DiT embeds the step index of its 1000-step schedule; diffusers takes it as a float
        # tensor, so t * 1000 passes unrounded (continuous), as our DiT embeds it.
        timestep_B = t.float() * TIMESTEP_SCALE
        out = self.net(x, timestep=timestep_B, class_labels=y, return_dict=False)[0]
        return out, None


# diffusers' module names -> the FLOP groups of our DiT (baselines.families.by_dit_block_kind).
# In order: `norm1.emb` (each block's timestep MLP and label table) is "other" as our t_embed is,
# though it sits inside `norm1`, whose `linear` is the block's adaLN-Zero regression; `proj_out_1`
# is the final layer's adaLN, `proj_out_2` its patch projection ("other", as ours).
DIFFUSERS_DIT_PARTS = (
    ("emb", "other"),
    ("attn1", "attention"),
    ("ff", "mlp"),
    ("norm1", "adaln"),
    ("proj_out_1", "adaln"),
)


def by_diffusers_dit_part(name: str, spatial: tuple[int, int] | None) -> str:
    """attention / mlp / adaln / other, as our DiT's breakdown."""
    parts = name.split(".")
    return next((group for part, group in DIFFUSERS_DIT_PARTS if part in parts), "other")


# --- presets --------------------------------------------------------------------------------------

WHERE = "huggingface/diffusers src/diffusers/models/transformers/dit_transformer_2d.py"


def _counts(dit_slug: str, peer_params: int, our_params: int) -> str:
    """The peer's parameter count against our DiT's, the difference decomposed to the unit
    (tests/test_peers_diffusers.py checks the numbers)."""
    cfg = from_dit(DIT_PRESETS[dit_slug].config)
    table = cfg.num_tokens * cfg.hidden_size
    return (
        f"{peer_params:,} params = {dit_slug}'s {our_params:,} + {cfg.num_layers - 1} x "
        f"{conditioning_parameters(cfg):,} (a timestep MLP and label table in every block, DiT "
        f"has one) - {table:,} (the {cfg.num_tokens} x {cfg.hidden_size} sin-cos table, a buffer "
        "here, a frozen parameter in DiT)"
    )


PRESETS = {
    "diffusers-dit-xl-2": Preset(
        from_dit(DIT_PRESETS["dit-xl-2"].config),
        Source(
            "released config",
            "huggingface.co/facebook/DiT-XL-2-256 transformer/config.json",
            "num_layers 28, 16 heads of 72, patch 2, sample_size 32, in 4, out 8, "
            "num_embeds_ada_norm 1000, ada_norm_zero, gelu-approximate; "
            + _counts("dit-xl-2", 749_826_464, 675_129_632),
        ),
        counterpart="dit-xl-2",
    ),
    "diffusers-dit-b-2": Preset(
        from_dit(DIT_PRESETS["dit-b-2"].config),
        Source(
            "reconstructed",
            WHERE,
            "DiT_B_2 (12 layers, 12 heads of 64) in the released XL/2 config's settings; no "
            "released diffusers B/2; " + _counts("dit-b-2", 147_439_904, 130_512_416),
        ),
        counterpart="dit-b-2",
    ),
    "diffusers-dit-tiny": Preset(
        from_dit(DIT_PRESETS["dit-tiny"].config),
        Source(
            "test", "CPU tests", "dit-tiny's settings: 2 blocks of 64 (4 heads) on 32 px pixels"
        ),
        counterpart="dit-tiny",
    ),
}

FAMILY = peer_family(
    "diffusers-dit", "DiT as implemented in huggingface/diffusers (DiTTransformer2DModel)",
    DiffusersDiT, DiffusersDiTConfig, PRESETS, by_diffusers_dit_part,
    package="diffusers", peer_of="dit",
)  # fmt: skip
