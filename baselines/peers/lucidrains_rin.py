"""lucidrains' RIN (github.com/lucidrains/recurrent-interface-network-pytorch, the `rin-pytorch`
package, class `rin_pytorch.RIN`) behind rinbench's backbone interface: a peer of our RIN (rin/),
counted and timed by the same harness code.

The adapter builds `rin_pytorch.RIN` from a config whose numbers carry the names of ours (interface
width, latents, blocks, latent layers, patch; `from_rin` maps one of our image configs) and calls
it; no code of the package is copied. The package is imported when a model is built, never when
this module is: importing it loads accelerate, torchvision and ema_pytorch (seconds), and a machine
without it still lists the presets.

How lucidrains' network differs from ours at matching numbers (each preset's note repeats the list):
- Unconditional: no class token and no class input, so `num_classes` is always 0.
- Time enters by adaptive scale and shift: a learned-frequency Fourier code of t itself (not of the
  noise level gamma(t)) -> MLP of width 4 x interface_dim -> in every attention (read, latent
  self-attention, write) a zero-initialised Linear that scales and shifts the normalised queries.
  Ours puts gamma(t) into one latent token. lucidrains offers the token too (`time_token`; the
  presets keep his default).
- x self-conditioning: the network concatenates a previous x0 estimate to its input, so the patch
  embedding reads 2 x in_channels. The harness has no x self-conditioning and passes None (zeros):
  the cost and parameters are there, the information is not.
- Interface: each patch goes through LayerNorm -> Linear -> LayerNorm ("dual patchnorm"), positions
  come from two axial MLPs (1 -> D/2 -> D/2 -> D, one for rows, one for columns) instead of a learned
  table, and every block starts with a depthwise 3x3 convolution over the interface (PEG). Linear
  attention among interface tokens is an option (`interface_self_attention`), off in the presets
  as in the paper.
- Attention: one `heads` x `head_dim` for every attention, so the read and write inner width is
  heads x head_dim where ours is min(interface_dim, latent_dim); keys and values are LayerNormed
  (ours: not, as the official code); no biases on the projections; explicit softmax(QK^T)V, not
  scaled_dot_product_attention (`flash=False`, the package's default; `flash=True` prints a line
  on CUDA machines and goes through the deprecated `torch.backends.cuda.sdp_kernel`).
- LayerNorms have no learned shift (a zero buffer) and eps 1e-5 (ours: shift, 1e-6), except the
  patch embedding's two; the latents are LayerNormed at the end of every block (ours: not).
- Feed-forward layers are 4x wide everywhere (ours: latent_mlp_ratio / interface_mlp_ratio).
- Latent self-conditioning adds LN(MLP(LN(z'))) to the latents (ours: LN(z' + MLP(LN(z'))), and a
  state of None is zeros); here a state of None skips it. The state handed back is the latents after
  the last block's LayerNorm.
- Initialisation: PyTorch's layer defaults, latents N(0, 0.02) (ours: the official Keras one).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.layers import check_labels, check_positive
from baselines.peers.declare import EXTRA, peer_family
from bench.family import DiffusionNeeds, Preset, Source, require
from bench.schedules import check_schedule
from rin.model import RINConfig
from rin.presets import PRESETS as RIN_PRESETS

PACKAGE = "rin_pytorch"
WHERE = "lucidrains/recurrent-interface-network-pytorch rin_pytorch/rin_pytorch.py"


@dataclass(frozen=True)
class LucidrainsRINConfig:
    name: str = "custom"  # preset slug; the registry sets it
    resolution: int = 64  # pixels per side: RIN(image_size=)
    in_channels: int = 3  # RIN(channels=); the network reads twice as many (x self-conditioning)
    num_classes: int = 0  # always 0: lucidrains' RIN takes no class labels
    patch_size: int = 4  # RIN(patch_size=)
    interface_dim: int = 512  # D: RIN(dim=)
    num_latents: int = 128  # learned latents, RIN(num_latents=); no time or class token among them
    latent_dim: int = 768  # L: RIN(dim_latent=)
    blocks: int = 4  # read-compute-write blocks: RIN(depth=)
    latent_depth: int = 4  # latent self-attention layers per block: RIN(latent_self_attn_depth=)
    heads: int = 16  # heads of every attention: RIN(heads=)
    head_dim: int = 48  # width of each head of every attention: RIN(dim_head=)
    # Linear attention among the interface tokens in every block: RIN(patches_self_attn=). Not in
    # the paper; lucidrains' default is on, ours is off.
    interface_self_attention: bool = False
    # Time as one more latent token instead of adaptive scale/shift: RIN(latent_token_time_cond=).
    time_token: bool = False
    # The schedule whose time t the network embeds: lucidrains' GaussianDiffusion(noise_schedule=),
    # whose default is sigmoid@-3,3,1. The harness trains and samples with it (the family's
    # diffusion needs; bench/diffusion.py resolve_schedule, model_time), so that t and the noise
    # in x_t agree.
    noise_schedule: str = "cosine"

    def __post_init__(self):
        sizes = ("resolution", "in_channels", "patch_size", "interface_dim", "num_latents")
        check_positive(self, *sizes, "latent_dim", "blocks", "latent_depth", "heads", "head_dim")
        if self.num_classes != 0:
            raise ValueError(
                f"lucidrains' RIN is unconditional: num_classes must be 0, got {self.num_classes}"
            )
        if self.resolution % self.patch_size:
            raise ValueError(
                f"resolution {self.resolution} is not divisible by patch size {self.patch_size}; "
                f"valid resolutions are multiples of {self.patch_size}"
            )
        if self.interface_dim % 2:  # the axial position MLPs are interface_dim / 2 wide
            raise ValueError(f"interface_dim must be even, got {self.interface_dim}")
        check_schedule(self.noise_schedule)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.resolution, self.resolution)

    @property
    def out_channels(self) -> int:
        return self.in_channels

    @property
    def num_tokens(self) -> int:
        """Interface tokens: one per patch."""
        return (self.resolution // self.patch_size) ** 2


class LucidrainsRIN(nn.Module):
    """forward(x, t, y=None, state=None) -> (prediction, latents), through `rin_pytorch.RIN`.

    x (B, C, H, W); t (B,) in [0, 1], 1 = pure noise; y must be None; state: the latents
    (B, num_latents, latent_dim) a previous call returned, or None (no latent self-conditioning).
    """

    def __init__(self, cfg: LucidrainsRINConfig):
        super().__init__()
        self.cfg = cfg
        rin_pytorch = require(PACKAGE, EXTRA)
        self.net = rin_pytorch.RIN(
            dim=cfg.interface_dim,
            image_size=cfg.resolution,
            patch_size=cfg.patch_size,
            channels=cfg.in_channels,
            depth=cfg.blocks,
            latent_self_attn_depth=cfg.latent_depth,
            dim_latent=cfg.latent_dim,
            num_latents=cfg.num_latents,
            latent_token_time_cond=cfg.time_token,
            patches_self_attn=cfg.interface_self_attention,
            heads=cfg.heads,
            dim_head=cfg.head_dim,
            # flash stays at its default, False (module docstring). Not passed: every attention
            # takes these keyword arguments, and the interface's LinearAttention has no `flash`.
        )
        # The last block's closing LayerNorm acts only on the latents handed back as state, which
        # lucidrains' GaussianDiffusion and bench/diffusion.py both use only in passes without
        # gradients: its scale never trains. Frozen, so the optimiser and the trainable count see
        # that, and DDP does not wait for its gradient.
        self.net.blocks[-1].latent_final_norm.gamma.requires_grad_(False)

    def forward(self, x, t, y=None, state=None) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        check_labels(cfg.name, cfg.num_classes, y, x.shape[0])
        check_shapes(cfg, x, t, state)
        # lucidrains' GaussianDiffusion draws times ~ U[0, 1], noises with gamma = schedule(times)
        # (gamma(1) ~ 0: pure noise) and hands the network `times` itself, in training
        # (`self.model(noised_img, times, ...)`) and in sampling (times from linspace(1, 0)). Our t
        # means the same under cfg.noise_schedule, so it passes unchanged. No x self-conditioning
        # (None: zeros); the latents of the previous call warm-start this one.
        return self.net(x, t, x_self_cond=None, latent_self_cond=state, return_latents=True)


def check_shapes(cfg: LucidrainsRINConfig, x, t, state) -> None:
    """The shapes the wrapped network assumes (it would fail deeper down, in einops' words)."""
    if tuple(x.shape[1:]) != cfg.input_shape:
        expected = ", ".join(map(str, cfg.input_shape))
        raise ValueError(f"{cfg.name}: x must have shape (B, {expected}), got {tuple(x.shape)}")
    if t.shape != (x.shape[0],):
        raise ValueError(f"{cfg.name}: t must have shape ({x.shape[0]},), got {tuple(t.shape)}")
    shape = (x.shape[0], cfg.num_latents, cfg.latent_dim)
    if state is not None and tuple(state.shape) != shape:
        raise ValueError(f"{cfg.name}: state must have shape {shape}, got {tuple(state.shape)}")


# lucidrains' module names -> our RIN's FLOP groups (rin/family.py by_rin_stage), each block's
# feed-forward with the attention it follows; what ours lacks gets its own group.
BLOCK_PARTS = {
    "latents_attend_to_patches": "read",
    "latents_cross_attn_ff": "read",
    "latent_self_attns": "compute",
    "latent_final_norm": "compute",
    "patches_attend_to_latents": "write",
    "patches_cross_attn_ff": "write",
    "patches_peg": "peg",  # the depthwise convolution over the interface
    "patches_self_attn": "interface_self_attention",
    "patches_self_attn_ff": "interface_self_attention",
}


def by_rin_stage(name: str, spatial: tuple[int, int] | None) -> str:
    """read / compute / write as ours; time_conditioning (the scale/shift Linear inside every
    attention), peg, interface_self_attention; other: patch embedding, axial positions, time MLP,
    self-conditioning MLP, readout."""
    parts = name.split(".")
    if "time_cond" in parts:  # checked first: it sits inside the read, compute and write modules
        return "time_conditioning"
    return next((group for part, group in BLOCK_PARTS.items() if part in parts), "other")


# Every difference from our RIN at matching numbers, shared by the paper-scale presets' notes.
DIFFERENCES = (
    "unconditional (no class token: num_classes 0); time by adaptive scale/shift of the queries "
    "of every attention from a learned-Fourier MLP of t (width 4 x interface), not a time token "
    "of gamma(t); the input is concatenated with an x self-conditioning image (zeros here: 2 x "
    "channels into the patch embedding); dual patchnorm (LN, Linear, LN) and axial position MLPs "
    "instead of a conv stem, LN and a learned table; a depthwise 3x3 conv (PEG) on the interface "
    "in every block; no interface self-attention (patches_self_attn=False, lucidrains' linear "
    "attention option off, as in the paper); one heads x dim_head for every attention, so read "
    "and write are heads x dim_head wide where ours are min(D, L); keys and values LayerNormed; "
    "no attention biases; LayerNorms without shift, eps 1e-5; latents LayerNormed after every "
    "block; feed-forwards 4x everywhere; self-conditioning LN(MLP(LN(z'))), skipped without state; "
    "explicit softmax attention (flash=False); PyTorch default init"
)


# LucidrainsRINConfig's fields that are RINConfig's too, under the same name and meaning.
SHARED_FIELDS = (
    "resolution",
    "in_channels",
    "patch_size",
    "interface_dim",
    "num_latents",
    "latent_dim",
    "blocks",
    "latent_depth",
    "noise_schedule",
)


def from_rin(cfg: RINConfig) -> LucidrainsRINConfig:
    """The numbers of our RIN image config in lucidrains' terms: the same resolution, patch,
    widths, latents (ours count the time and class tokens among them), depth and noise schedule,
    and every attention with our latent attention's heads (lucidrains has one heads x head_dim for
    all; RINConfig has checked that they divide the latent width). ValueError for video, which
    lucidrains' RIN does not take."""
    if cfg.frames:
        raise ValueError(f"lucidrains' RIN takes images, not video ({cfg.frames} frames)")
    return LucidrainsRINConfig(
        **{field: getattr(cfg, field) for field in SHARED_FIELDS},
        heads=cfg.latent_heads,
        head_dim=cfg.latent_dim // cfg.latent_heads,
    )


def _matched(counterpart: str, numbers: str) -> Preset:
    """The RIN preset `counterpart` through from_rin, its note listing every difference."""
    return Preset(
        from_rin(RIN_PRESETS[counterpart].config),
        Source(
            "reconstructed",
            WHERE,
            f"the numbers of {counterpart}: {numbers}. Differences: {DIFFERENCES}",
        ),
        counterpart=counterpart,
    )


PRESETS = {
    "lucidrains-rin-in256": _matched(
        "rin-in256",
        "256 px, patch 8, interface 512, 256 latents x 1024 (ours: 254 learned + time + class "
        "token), 6 blocks x 4 latent layers, 16 heads x 64 (latent attention 1024 wide as ours; "
        "read and write 1024 wide, ours 512), schedule sigmoid@-3,3,0.9 (ours; lucidrains' "
        "default tau is 1); rin-in256 has 1000 classes",
    ),
    "lucidrains-rin-in64": _matched(
        "rin-in64",
        "64 px, patch 4, interface 512, 128 latents x 768 (ours: 126 learned + time + class "
        "token), 4 blocks x 4 latent layers, 16 heads x 48 (latent attention 768 wide as ours; "
        "read and write 768 wide, ours 512), linear schedule (ours); rin-in64 has 1000 classes",
    ),
    "lucidrains-rin-tiny": Preset(
        from_rin(RIN_PRESETS["rin-tiny"].config),
        Source(
            "test",
            "CPU tests",
            "rin-tiny's numbers: 16 px, patch 4, interface 32, 8 latents x 48, 2 blocks x 1, "
            "2 heads x 24; unconditional (rin-tiny: 4 classes), feed-forwards 4x (rin-tiny: 2x)",
        ),
        counterpart="rin-tiny",
    ),
}


def lucidrains_diffusion_needs(cfg: LucidrainsRINConfig) -> DiffusionNeeds:
    """The latents a call returns condition the next (its latent self-conditioning), and t means
    the time of the config's schedule."""
    return DiffusionNeeds(recurrent_state=True, noise_schedule=cfg.noise_schedule)


FAMILY = peer_family(
    "lucidrains-rin", f"RIN as lucidrains wrote it ({WHERE}), unconditional",
    LucidrainsRIN, LucidrainsRINConfig, PRESETS, by_rin_stage,
    package=PACKAGE, peer_of="rin", diffusion_needs=lucidrains_diffusion_needs,
)  # fmt: skip
