"""ADM U-Net: the diffusion backbone of Dhariwal & Nichol, "Diffusion Models Beat GANs on Image
Synthesis" (arXiv:2105.05233), as released in openai/guided-diffusion (`guided_diffusion/unet.py`,
`UNetModel`, commit 22e0df8, MIT licence).

Written fresh with the same structure and parameter layout as the released model: the same modules
in the same order under the same attribute names (`time_embed`, `label_emb`, `input_blocks`,
`middle_block`, `output_blocks`, `out`, and inside blocks `in_layers`, `emb_layers`, `out_layers`,
`skip_connection`, `norm`, `qkv`, `proj_out`), so the parameter count matches to the unit and a
released checkpoint's state dict loads as is. Two deliberate differences, neither of which changes
parameters or MACs: attention runs through `scaled_dot_product_attention` instead of two einsums,
and nothing is gradient-checkpointed (the release always checkpoints its attention blocks).

Legend for tensor names: B batch, C channels, H/W height/width, T = H*W tokens, E embedding width
(4 * model_channels), h heads, d head width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import check_labels, timestep_embedding

# GroupNorm with 32 groups everywhere (ADM's `normalization`).
GROUPS = 32


@dataclass(frozen=True, kw_only=True)
class UNetLevels:
    """What the 2-D U-Net (ADM) and the 3-D one (`baselines/unet3d.py`) configure alike: a ladder of
    levels, each `num_res_blocks` ResBlocks wide, halving the feature map from one to the next. Flag
    names follow guided-diffusion's `create_model` arguments. Each subclass adds its attention heads
    (`heads`, `check_heads`) and its input shape."""

    name: str = "custom"  # the registry sets it to the preset slug
    resolution: int  # pixels per side of the input image (of every frame, for video)
    in_channels: int = 3
    num_classes: int = 0  # 0 = unconditional; else a label embedding is added (`class_cond`)
    model_channels: int  # C, `num_channels`: base width; the time embedding is 4C wide
    num_res_blocks: int  # ResBlocks per level on the way down (one more per level on the way up)
    channel_mult: tuple[float, ...]  # width of level i = int(channel_mult[i] * C); one per level
    attention_resolutions: tuple[int, ...]  # feature-map sizes (px per side) that get attention
    dropout: float = 0.0  # inside every ResBlock, before its last conv
    learn_sigma: bool = False  # True: also predict the variance interpolation (2x channels out)
    use_scale_shift_norm: bool = True  # AdaGN: GroupNorm(h) * (1 + scale) + shift; else + bias

    # The smallest resolution an error message suggests.
    example_resolution: ClassVar[int] = 64

    def __post_init__(self):
        if not self.channel_mult:
            raise ValueError("channel_mult needs at least one level")
        if self.model_channels < 1 or self.num_res_blocks < 1 or self.in_channels < 1:
            raise ValueError("model_channels, num_res_blocks and in_channels must be positive")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0 = unconditional): {self.num_classes}")
        factor = self.downsample_factor
        if self.resolution < factor or self.resolution % factor:
            first = max(factor, self.example_resolution)
            examples = ", ".join(str(first * 2**k) for k in range(5))
            raise ValueError(
                f"resolution {self.resolution} does not work with {len(self.channel_mult)} levels "
                f"(channel_mult {self.channel_mult}): it must be a positive multiple of {factor} "
                f"(e.g. {examples})"
            )
        widths = [int(m * self.model_channels) for m in self.channel_mult]
        for width in widths:
            if width < GROUPS or width % GROUPS:
                raise ValueError(f"level width {width} is not a multiple of {GROUPS} (GroupNorm)")
        # The middle block always has attention; levels only where the feature map is listed.
        sizes = self.level_sizes
        attended = [
            w for w, s in zip(widths, sizes, strict=True) if s in self.attention_resolutions
        ]
        for width in [*attended, widths[-1]]:
            self.check_heads(width)

    def check_heads(self, width: int) -> None:
        """Raise ValueError when an attention block `width` channels wide cannot split into heads."""
        raise NotImplementedError

    @property
    def out_channels(self) -> int:
        # learn_sigma: epsilon and the variance interpolation v (Nichol & Dhariwal 2021, eq. 15).
        return self.in_channels * (2 if self.learn_sigma else 1)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    @property
    def level_sizes(self) -> tuple[int, ...]:
        """Feature-map size (px per side) at each level."""
        return tuple(self.resolution // 2**level for level in range(len(self.channel_mult)))


@dataclass(frozen=True, kw_only=True)
class UNetConfig(UNetLevels):
    """One ADM U-Net: the levels of UNetLevels, then its attention and resampling flags."""

    num_heads: int = 4  # used when num_head_channels == -1
    num_head_channels: int = -1  # -1 = fixed num_heads; else heads = width // num_head_channels
    resblock_updown: bool = False  # BigGAN-style ResBlocks resample; else strided/upsampling convs
    use_new_attention_order: bool = False  # split qkv into q, k, v before heads (else per head)

    def check_heads(self, width: int) -> None:
        if self.num_head_channels != -1 and width % self.num_head_channels:
            raise ValueError(f"width {width} not divisible by {self.num_head_channels=}")
        if self.num_head_channels == -1 and width % self.num_heads:
            raise ValueError(f"width {width} not divisible by {self.num_heads=}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.resolution, self.resolution)

    def heads(self, width: int) -> int:
        return self.num_heads if self.num_head_channels == -1 else width // self.num_head_channels


# --- helpers -----------------------------------------------------------------------------------


def zero_init(module: nn.Module) -> nn.Module:
    # Output layers of every residual branch start at zero, so each block starts as the identity.
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


# --- layers ------------------------------------------------------------------------------------


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3x3 conv (used when resblock_updown is False)."""

    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    """Double H and W: nearest neighbour, then a 3x3 conv (used when resblock_updown is False)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv; add the embedding (AdaGN scale/shift or a bias); GroupNorm, SiLU,
    dropout, zero-initialised conv; plus a skip (1x1 conv when the width changes).
    With `resample` ("up"/"down") both branches are resampled without parameters in the middle
    of the first stage (BigGAN-style, ADM section 3)."""

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        out_channels: int,
        dropout: float,
        use_scale_shift_norm: bool,
        resample: str | None = None,
    ):
        super().__init__()
        self.resample = resample
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            nn.GroupNorm(GROUPS, channels),
            nn.SiLU(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )
        self.emb_layers = nn.Sequential(
            nn.SiLU(),
            nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels),
        )
        self.out_layers = nn.Sequential(
            nn.GroupNorm(GROUPS, out_channels),
            nn.SiLU(),
            nn.Dropout(dropout),
            zero_init(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        if out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def _resample(self, x):
        if self.resample == "down":
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x_BCHW, emb_BE):
        norm_in, act_in, conv_in = self.in_layers
        # Resample after the activation and before the conv, so the conv runs at the new size.
        h = conv_in(self._resample(act_in(norm_in(x_BCHW))))
        x_BCHW = self._resample(x_BCHW)
        emb = self.emb_layers(emb_BE)[:, :, None, None].to(h.dtype)
        norm_out, act_out, drop_out, conv_out = self.out_layers
        if self.use_scale_shift_norm:
            scale, shift = emb.chunk(2, dim=1)
            h = norm_out(h) * (1 + scale) + shift
        else:
            h = norm_out(h + emb)
        h = conv_out(drop_out(act_out(h)))
        return self.skip_connection(x_BCHW) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, residual.

    The projections are stored as kernel-1 Conv1d weights, as in the release (same parameters,
    loadable checkpoints), and applied as linear maps over tokens so that the head dimension is
    the contiguous axis SDPA's fused kernels want (and, for channels-last inputs, the token
    transpose is free: on a CPU, whose GroupNorm keeps the layout; CUDA's returns NCHW). Scaling
    is 1/sqrt(d) as in ADM's QKVAttention.
    """

    def __init__(self, channels: int, heads: int, use_new_attention_order: bool):
        super().__init__()
        self.heads = heads
        self.use_new_attention_order = use_new_attention_order
        self.norm = nn.GroupNorm(GROUPS, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_init(nn.Conv1d(channels, channels, 1))

    def forward(self, x_BCHW):
        B, C, H, W = x_BCHW.shape
        h, d = self.heads, C // self.heads
        tokens_BTC = self.norm(x_BCHW).flatten(2).transpose(1, 2)
        qkv = F.linear(tokens_BTC, self.qkv.weight[:, :, 0], self.qkv.bias)  # (B, T, 3C)
        # New order: channels are [q | k | v], each split into heads. Legacy order: channels are
        # split into heads first, each head holding its own [q | k | v].
        if self.use_new_attention_order:
            qkv = qkv.view(B, H * W, 3, h, d).permute(2, 0, 3, 1, 4)
        else:
            qkv = qkv.view(B, H * W, h, 3, d).permute(3, 0, 2, 1, 4)
        q_BhTd, k_BhTd, v_BhTd = qkv.unbind(0)
        out_BhTd = F.scaled_dot_product_attention(q_BhTd, k_BhTd, v_BhTd)
        out_BTC = out_BhTd.transpose(1, 2).reshape(B, H * W, C)
        out_BTC = F.linear(out_BTC, self.proj_out.weight[:, :, 0], self.proj_out.bias)
        return x_BCHW + out_BTC.transpose(1, 2).reshape(B, C, H, W)


class EmbedSequential(nn.Sequential):
    """A Sequential whose ResBlocks also receive the time/class embedding."""

    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


# --- model -------------------------------------------------------------------------------------


def unet_levels(cfg, res_block, attention, down, up):
    """The U-Net's blocks from its config: (input_blocks, middle_block, output_blocks, out width).

    One walk over the levels for the 2-D and the 3-D U-Net, which differ only in the modules the
    callables make: res_block(c_in, c_out), attention(width) -> list of modules, down(width),
    up(width). Module names and order are guided-diffusion's, so its state dicts load as they are.
    """
    C = cfg.model_channels
    # Down path. `skip_widths` records the width of every activation pushed for the up path.
    width = int(cfg.channel_mult[0] * C)
    input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(cfg.in_channels, width, 3, padding=1))])
    skip_widths = [width]
    last = len(cfg.channel_mult) - 1
    for level, (mult, size) in enumerate(zip(cfg.channel_mult, cfg.level_sizes, strict=True)):
        for _ in range(cfg.num_res_blocks):
            layers = [res_block(width, int(mult * C))]
            width = int(mult * C)
            if size in cfg.attention_resolutions:
                layers += attention(width)
            input_blocks.append(EmbedSequential(*layers))
            skip_widths.append(width)
        if level != last:
            input_blocks.append(EmbedSequential(down(width)))
            skip_widths.append(width)

    middle_block = EmbedSequential(
        res_block(width, width), *attention(width), res_block(width, width)
    )

    # Up path: one more ResBlock per level than on the way down, each eating one skip.
    output_blocks = nn.ModuleList()
    for level in range(last, -1, -1):
        mult, size = cfg.channel_mult[level], cfg.level_sizes[level]
        for i in range(cfg.num_res_blocks + 1):
            layers = [res_block(width + skip_widths.pop(), int(mult * C))]
            width = int(mult * C)
            if size in cfg.attention_resolutions:
                layers += attention(width)
            if level > 0 and i == cfg.num_res_blocks:
                layers.append(up(width))
            output_blocks.append(EmbedSequential(*layers))
    return input_blocks, middle_block, output_blocks, width


class UNetTrunk(nn.Module):
    """What the 2-D and the 3-D U-Net build and run alike: the time (and label) embedding, the levels
    of `unet_levels` from the subclass's blocks, and the output head; `embed` and `levels` run them.
    Modules are registered in guided-diffusion's order, so the state dict keys are its own."""

    def __init__(self, cfg, res_block, attention, down, up):
        super().__init__()
        self.cfg = cfg
        C = cfg.model_channels
        emb_channels = 4 * C
        self.time_embed = nn.Sequential(
            nn.Linear(C, emb_channels), nn.SiLU(), nn.Linear(emb_channels, emb_channels)
        )
        if cfg.num_classes > 0:
            self.label_emb = nn.Embedding(cfg.num_classes, emb_channels)
        self.input_blocks, self.middle_block, self.output_blocks, width = unet_levels(
            cfg, res_block, attention, down, up
        )
        self.out = nn.Sequential(
            nn.GroupNorm(GROUPS, width),
            nn.SiLU(),
            zero_init(nn.Conv2d(width, cfg.out_channels, 3, padding=1)),
        )

    def embed(self, t, y):
        """(B, E): the time embedding of t plus, when conditional, the label embedding of y."""
        timesteps = t * 1000  # ADM conditions on the integer step index of a 1000-step schedule.
        emb_in = timestep_embedding(timesteps, self.cfg.model_channels)
        emb_BE = self.time_embed(emb_in.to(self.time_embed[0].weight.dtype))
        if self.cfg.num_classes > 0:
            emb_BE = emb_BE + self.label_emb(y)
        return emb_BE

    def levels(self, h, emb_BE):
        """Down the levels, through the middle and back up, each up block eating one skip."""
        skips = []
        for block in self.input_blocks:
            h = block(h, emb_BE)
            skips.append(h)
        h = self.middle_block(h, emb_BE)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb_BE)
        return h


class UNet(UNetTrunk):
    """ADM U-Net (guided-diffusion `UNetModel`, 2-D, conv resampling, no checkpointing).

    forward(x, t, y=None, state=None) -> (out, None): x (B, *cfg.input_shape); t (B,) float in
    [0, 1]; y (B,) int64 labels in [0, num_classes) or None when unconditional. out is
    (B, cfg.out_channels, H, W): epsilon, then (learn_sigma) the variance interpolation v.
    `state` is ignored (it is RIN's latents) and None is returned in its place.
    """

    def __init__(self, cfg: UNetConfig):
        emb_channels = 4 * cfg.model_channels

        def res_block(channels, out_channels, resample=None):
            return ResBlock(
                channels,
                emb_channels,
                out_channels,
                cfg.dropout,
                cfg.use_scale_shift_norm,
                resample,
            )

        def attention(channels):
            return [AttentionBlock(channels, cfg.heads(channels), cfg.use_new_attention_order)]

        down = (lambda w: res_block(w, w, "down")) if cfg.resblock_updown else Downsample
        up = (lambda w: res_block(w, w, "up")) if cfg.resblock_updown else Upsample
        super().__init__(cfg, res_block, attention, down, up)

    def forward(self, x, t, y=None, state=None):
        check_inputs(self.cfg, x, t, y)
        return self.out(self.levels(x, self.embed(t, y))), None


def check_inputs(cfg, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> None:
    """Shapes and labels for any U-Net config (2-D or 3-D); label values on CPU only."""
    if tuple(x.shape[1:]) != tuple(cfg.input_shape):
        axes = "(B, C, T, H, W) = " if len(cfg.input_shape) == 4 else ""  # name a video's axes
        raise ValueError(
            f"{cfg.name}: x must be {axes}(B, {', '.join(map(str, cfg.input_shape))}), "
            f"got {tuple(x.shape)}"
        )
    if t.shape != (x.shape[0],):
        raise ValueError(f"{cfg.name}: t must be ({x.shape[0]},), got {tuple(t.shape)}")
    if check_labels(cfg.name, cfg.num_classes, y, x.shape[0]) and (
        y.min() < 0 or y.max() >= cfg.num_classes
    ):
        raise ValueError(
            f"{cfg.name}: labels must lie in [0, {cfg.num_classes}), "
            f"got min {int(y.min())} max {int(y.max())}"
        )


# --- closed-form cost ----------------------------------------------------------------------------


def analytic_macs(cfg: UNetConfig) -> int:
    """Forward multiply-accumulates per image, in the papers' convention: every conv
    (H*W*k^2*Cin*Cout), linear layer and attention matmul (QK^T and AV: 2*T^2*C), no norms,
    activations, softmax, resampling or biases. A test oracle for the FLOP counter."""
    C = cfg.model_channels
    E = 4 * C

    def conv(size, k, c_in, c_out):
        return size * size * k * k * c_in * c_out

    def res_block(size_in, c_in, c_out, resample=None):
        # The first conv runs after resampling, the second and the skip at the output size.
        size = {"down": size_in // 2, "up": size_in * 2, None: size_in}[resample]
        emb_out = 2 * c_out if cfg.use_scale_shift_norm else c_out
        skip = conv(size, 1, c_in, c_out) if c_in != c_out else 0
        return E * emb_out + conv(size, 3, c_in, c_out) + conv(size, 3, c_out, c_out) + skip

    def attention(size, c):
        T = size * size
        return T * c * 3 * c + 2 * T * T * c + T * c * c  # qkv, QK^T and AV, proj_out

    # Resampling: a ResBlock (BigGAN-style) or a 3x3 conv at the output size.
    def down(size, w):
        return res_block(size, w, w, "down") if cfg.resblock_updown else conv(size // 2, 3, w, w)

    def up(size, w):
        return res_block(size, w, w, "up") if cfg.resblock_updown else conv(size * 2, 3, w, w)

    time_embed = C * E + E * E
    return time_embed + unet_levels_macs(cfg, conv, res_block, attention, down, up)


def unet_levels_macs(cfg, conv, res_block, attention, down, up) -> int:
    """The MACs of `unet_levels`' walk, from the cost of each op: conv(size, k, c_in, c_out),
    res_block(size, c_in, c_out), attention(size, width), down(size, width), up(size, width); size
    is the feature map's side at the op's input. Shared by the 2-D and the 3-D U-Net's closed forms."""
    C, sizes, last = cfg.model_channels, cfg.level_sizes, len(cfg.channel_mult) - 1
    width = int(cfg.channel_mult[0] * C)
    macs = conv(sizes[0], 3, cfg.in_channels, width)
    skip_widths = [width]
    for level, mult in enumerate(cfg.channel_mult):
        size = sizes[level]
        for _ in range(cfg.num_res_blocks):
            macs += res_block(size, width, int(mult * C))
            width = int(mult * C)
            macs += attention(size, width) if size in cfg.attention_resolutions else 0
            skip_widths.append(width)
        if level != last:
            macs += down(size, width)
            skip_widths.append(width)
    size = sizes[last]
    macs += 2 * res_block(size, width, width) + attention(size, width)
    for level in range(last, -1, -1):
        size, c_level = sizes[level], int(cfg.channel_mult[level] * C)
        for i in range(cfg.num_res_blocks + 1):
            macs += res_block(size, width + skip_widths.pop(), c_level)
            width = c_level
            macs += attention(size, width) if size in cfg.attention_resolutions else 0
            if level > 0 and i == cfg.num_res_blocks:
                macs += up(size, width)
    return macs + conv(sizes[0], 3, width, cfg.out_channels)
