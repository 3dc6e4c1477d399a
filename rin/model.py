"""Recurrent Interface Network (RIN): Jabri, Fleet & Chen, "Scalable Adaptive Computation for Iterative
Generation", ICML 2023 (arXiv 2212.11972).

Structure follows the paper (§3, Algorithm 1–3) and the official TensorFlow code, google-research/pix2seq
`architectures/tape.py` and `architectures/transformers.py` @ eabd4e9 (Apache-2.0), read for the layout,
the initialisation (`RIN.reset_parameters`) and the video layout (`patch_layout`); no code is copied.

The network holds two sets of tokens: the *interface* (one token per image patch, X in R^{n x d}) and a
small set of *latents* (Z in R^{m x d'}, m << n). Every block reads (latents cross-attend to the interface),
computes (self-attention among latents) and writes (interface cross-attends to latents). Interface tokens
never attend to each other, so cost grows linearly in the number of patches.

Legend for tensor names: B batch, C channels, H/W height/width, N interface tokens, M latents,
D interface width, L latent width, P patch values (p*p*C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.schedules import check_schedule, noise_level

# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------

INITS = ("keras", "torch")


def same_padding(size: int, stride: int) -> tuple[int, int]:
    """Zeros before and after `size` so that a stride-`stride` kernel of the same length covers it:
    TF's padding='SAME' for kernel == stride (the smaller half first)."""
    total = -size % stride
    return total // 2, total - total // 2


@dataclass(frozen=True)
class RINConfig:
    name: str = "custom"  # preset slug; the registry sets it
    resolution: int = 64  # pixels per side
    in_channels: int = 3
    num_classes: int = 0  # 0 = unconditional; else one class token among the latents
    patch_size: int = 4  # interface tokens = (resolution / patch_size)^2
    interface_dim: int = 512  # D, "tape_dim" in the official code
    num_latents: int = 128  # M, including the time token and the class token
    latent_dim: int = 768  # L
    blocks: int = 4  # read-compute-write blocks; weights are not tied (author, lucidrains/rin#2)
    latent_depth: int = 4  # latent self-attention layers per block
    latent_heads: int = 16
    rw_heads: int = 16  # heads of the read and write cross-attention
    latent_mlp_ratio: int = 4
    interface_mlp_ratio: int = 4  # 0 = no MLP after the write
    dropout: float = 0.0  # inside the latent MLPs ("drop_units")
    drop_path: float = 0.0  # stochastic depth on latent self-attention layers
    time_scaling: float = 1000.0  # the time token embeds gamma * time_scaling
    noise_schedule: str = "cosine"  # maps the interface's t to the gamma the time token embeds
    frames: int = 0  # 0 = images (B, C, H, W); else video (B, C, frames, H, W) with 3-D patches
    frame_patch: int = 1  # frames per patch (2 for Kinetics-600: 2x4x4 patches, Jabri et al. p. 5)
    # Leading frames given clean at frame prediction (the diffusion process holds them clean and
    # leaves them out of the loss); the network patches them apart from the frames it predicts.
    cond_frames: int = 0
    init: str = "keras"  # "keras": the official code's initialisation; "torch": PyTorch's defaults

    def __post_init__(self):
        sizes = ("resolution", "in_channels", "patch_size", "interface_dim", "num_latents")
        for field in (*sizes, "latent_dim", "blocks", "latent_depth", "frame_patch"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be positive, got {getattr(self, field)}")
        if self.num_classes < 0 or self.frames < 0:
            raise ValueError("num_classes and frames must be >= 0 (0: unconditional, images)")
        if not self.frames and self.frame_patch != 1:
            raise ValueError("frame_patch applies to video: set frames too, or leave it at 1")
        if self.cond_frames and not 0 < self.cond_frames < self.frames:
            raise ValueError(
                f"cond_frames must lie in [0, frames), got {self.cond_frames} of {self.frames}"
            )
        if self.frames and not self.cond_frames and self.frames % self.frame_patch:
            raise ValueError(
                f"frames {self.frames} is not divisible by frame patch {self.frame_patch}"
            )
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; known: {', '.join(INITS)}")
        if self.resolution % self.patch_size:
            raise ValueError(
                f"resolution {self.resolution} is not divisible by patch size {self.patch_size}; "
                f"valid resolutions are multiples of {self.patch_size}"
            )
        if self.num_latents <= self.num_conditioning_tokens:
            raise ValueError(
                f"num_latents must exceed the {self.num_conditioning_tokens} condition tokens"
            )
        for width, heads in ((self.latent_dim, self.latent_heads), (self.cross_dim, self.rw_heads)):
            if width % heads:
                raise ValueError(f"width {width} is not divisible by {heads} heads")
        check_schedule(self.noise_schedule)

    @property
    def input_shape(self) -> tuple[int, ...]:
        side = (self.resolution, self.resolution)
        return (self.in_channels, self.frames, *side) if self.frames else (self.in_channels, *side)

    @property
    def out_channels(self) -> int:
        return self.in_channels  # the network predicts epsilon (or x0 / v) in pixel space

    @property
    def num_tokens(self) -> int:
        return self.patch_grid[0] * self.patch_grid[1] * self.patch_grid[2]

    @property
    def patch_grid(self) -> tuple[int, int, int]:
        """Patches along (time, height, width); time is 1 for images. At frame prediction the
        frames to predict and the context frames are patched apart, each padded to whole patches."""
        side = self.resolution // self.patch_size
        time = sum(sum(pad) + n for _, n, pad in self.frame_groups) // self.frame_patch
        return (time if self.frames else 1, side, side)

    @property
    def frame_groups(self) -> tuple[tuple[int, int, tuple[int, int]], ...]:
        """(first frame, frames, (zero frames before, after)) of each group of frames patched on its
        own, in token order: the frames to predict, then the context frames (as the official
        VideoTapeDenoiser orders them). Each group is padded like TF's 'SAME' convolution."""
        groups = ((self.cond_frames, self.frames - self.cond_frames), (0, self.cond_frames))
        return tuple((first, n, same_padding(n, self.frame_patch)) for first, n in groups if n)

    @property
    def patch_shape(self) -> tuple[int, ...]:
        """The stem's kernel: (p, p) for images, (frame_patch, p, p) for video."""
        square = (self.patch_size, self.patch_size)
        return (self.frame_patch, *square) if self.frames else square

    @property
    def patch_values(self) -> int:
        """Numbers in one patch: what one interface token reads in and writes out."""
        return math.prod(self.patch_shape) * self.in_channels

    @property
    def num_conditioning_tokens(self) -> int:
        return 1 + (self.num_classes > 0)  # time, then class

    @property
    def cross_dim(self) -> int:
        # Keras MHA in the official read/write units: key_dim = min(tape_dim, latent_dim) // heads.
        return min(self.interface_dim, self.latent_dim)


# ----------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------


def layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)  # the official code uses 1e-6 throughout


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per example."""
    if rate == 0.0 or not training:
        return x
    keep = torch.empty(x.shape[0], *(1,) * (x.ndim - 1), device=x.device, dtype=x.dtype)
    return x * keep.bernoulli_(1.0 - rate) / (1.0 - rate)


class FeedForward(nn.Module):
    """x + MLP(LN(x)), MLP = Linear -> GELU -> Dropout -> Linear (pix2seq `MLP`, one layer)."""

    def __init__(self, dim: int, ratio: int, dropout: float = 0.0, drop_path_rate: float = 0.0):
        super().__init__()
        self.norm = layer_norm(dim)
        self.fc1 = nn.Linear(dim, dim * ratio)
        self.fc2 = nn.Linear(dim * ratio, dim)
        self.dropout = nn.Dropout(dropout)
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc2(self.dropout(F.gelu(self.fc1(self.norm(x)))))
        return x + drop_path(h, self.drop_path_rate, self.training)


class Attention(nn.Module):
    """Multi-head attention through SDPA. Self-attention fuses Q, K and V in one projection;
    cross-attention projects the queries and fuses K and V of the context."""

    def __init__(self, dim: int, heads: int, inner_dim: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.is_cross = context_dim is not None
        if self.is_cross:
            self.q = nn.Linear(dim, inner_dim)
            self.kv = nn.Linear(context_dim, 2 * inner_dim)
        else:
            self.qkv = nn.Linear(dim, 3 * inner_dim)
        self.proj = nn.Linear(inner_dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        # (B, T, 3 * heads * d) -> three (B, heads, T, d) views, with no copy until SDPA.
        if self.is_cross:
            q = self.q(x).unflatten(-1, (self.heads, -1)).transpose(1, 2)
            k, v = self.kv(context).unflatten(-1, (2, self.heads, -1)).permute(2, 0, 3, 1, 4)
        else:
            q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).flatten(2))

    @torch.no_grad()
    def keras_init_(self) -> None:
        """Keras MultiHeadAttention's defaults: glorot-uniform kernels, zero biases (official
        `tf.keras.layers.MultiHeadAttention(num_heads, key_dim)`, architectures/transformers.py
        l. 466-467 and 566-567). Keras keeps each projection as a 3-D EinsumDense kernel, Q/K/V
        (width, heads, key_dim) and output (heads, key_dim, width), and computes glorot fans of a
        3-D kernel as of a convolution (`_compute_fans`: every axis but the last two is a receptive
        field), so the bounds are sqrt(6 / (width (heads + key_dim))) for Q/K/V and
        sqrt(6 / (heads (key_dim + width))) for the output: several times below a plain Dense's."""
        key_dim = self.proj.in_features // self.heads
        projections = (self.q, self.kv) if self.is_cross else (self.qkv,)
        for layer in projections:  # Q, K and V kernels stacked along the output axis
            glorot_uniform_(layer.weight, layer.in_features * (self.heads + key_dim))
        glorot_uniform_(self.proj.weight, self.heads * (key_dim + self.proj.out_features))
        for layer in (*projections, self.proj):
            nn.init.zeros_(layer.bias)


def keras_init_(model: nn.Module) -> None:
    """Every layer of `model` as Keras initialises its counterpart in the official code."""
    attention = [m for m in model.modules() if isinstance(m, Attention)]
    inside_attention = {id(m) for a in attention for m in a.modules()}
    for module in model.modules():
        if id(module) in inside_attention:
            continue
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            nn.init.xavier_uniform_(module.weight)  # fans of (out, in, *kernel) = Keras' fans
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for module in attention:
        module.keras_init_()


def glorot_uniform_(weight: torch.Tensor, fan_sum: int) -> None:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): Keras' glorot_uniform (VarianceScaling with
    scale 1, mode fan_avg, uniform)."""
    bound = math.sqrt(6.0 / fan_sum)
    nn.init.uniform_(weight, -bound, bound)


class CrossAttentionUnit(nn.Module):
    """One read or write unit (Algorithm 3, lines 3–4 and 7–8): queries are pre-normalised, the keys
    and values are not (official `use_enc_ln=False`), then a feed-forward layer."""

    def __init__(self, dim: int, context_dim: int, heads: int, inner_dim: int, mlp_ratio: int):
        super().__init__()
        self.norm = layer_norm(dim)
        self.attn = Attention(dim, heads, inner_dim, context_dim=context_dim)
        self.ff = FeedForward(dim, mlp_ratio) if mlp_ratio > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.ff(x + self.attn(self.norm(x), context))


class LatentLayer(nn.Module):
    """Pre-LN transformer layer over the latents (Algorithm 3, lines 5–6)."""

    def __init__(self, cfg: RINConfig):
        super().__init__()
        dim = cfg.latent_dim
        self.norm = layer_norm(dim)
        self.attn = Attention(dim, cfg.latent_heads, dim)
        self.ff = FeedForward(dim, cfg.latent_mlp_ratio, cfg.dropout, cfg.drop_path)
        self.drop_path_rate = cfg.drop_path

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z + drop_path(self.attn(self.norm(z)), self.drop_path_rate, self.training)
        return self.ff(z)


class RINBlock(nn.Module):
    """read -> compute -> write. No normalisation of the latents at the block's end (official code)."""

    def __init__(self, cfg: RINConfig):
        super().__init__()
        # Read: latents (queries) gather information from the interface (Jabri et al. §3.1).
        self.read = CrossAttentionUnit(
            cfg.latent_dim, cfg.interface_dim, cfg.rw_heads, cfg.cross_dim, cfg.latent_mlp_ratio
        )
        # Compute: global processing among the m << n latents.
        self.compute = nn.Sequential(*(LatentLayer(cfg) for _ in range(cfg.latent_depth)))
        # Write: the interface (queries) takes updates back from the latents.
        self.write = CrossAttentionUnit(
            cfg.interface_dim, cfg.latent_dim, cfg.rw_heads, cfg.cross_dim, cfg.interface_mlp_ratio
        )

    def forward(
        self, z_BML: torch.Tensor, x_BND: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z_BML = self.read(z_BML, x_BND)
        z_BML = self.compute(z_BML)
        x_BND = self.write(x_BND, z_BML)
        return z_BML, x_BND


class ScalarEmbedding(nn.Module):
    """Noise level -> one latent token: sinusoidal code of gamma * scaling over L/4 features, standardised
    per example, then Linear(L/4, L) -> SiLU -> Linear(L, L) (pix2seq transunet.ScalarEmbedding)."""

    def __init__(self, dim: int, scaling: float):
        super().__init__()
        self.code_dim = dim // 4
        self.scaling = scaling
        self.fc1 = nn.Linear(self.code_dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, gamma_B: torch.Tensor) -> torch.Tensor:
        i = torch.arange(self.code_dim, device=gamma_B.device, dtype=torch.float32)
        angles = gamma_B.float()[:, None] * self.scaling / 10000.0 ** (2 * (i // 2) / self.code_dim)
        code = torch.cat([angles[:, 0::2].sin(), angles[:, 1::2].cos()], dim=-1)
        code = (code - code.mean(-1, keepdim=True)) / code.std(-1, keepdim=True, correction=0)
        # In the weights' dtype: a no-op under autocast, needed for a model cast to bf16.
        return self.fc2(F.silu(self.fc1(code.to(self.fc1.weight.dtype))))


# ----------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------


class RIN(nn.Module):
    """forward(x, t, y=None, state=None) -> (prediction, latents).

    x (B, C, H, W); t (B,) in [0, 1]; y (B,) int64 labels or None; state: latents (B, M, L) from the
    previous sampling step or the self-conditioning pass, or None (= zeros, as the official code).
    The family says so to the diffusion process (rin/family.py, `rin_diffusion_needs`).
    """

    def __init__(self, cfg: RINConfig):
        super().__init__()
        self.cfg = cfg
        d, l = cfg.interface_dim, cfg.latent_dim
        # Interface: linear patch embedding, LayerNorm, learned positions (§3.1; official `stem_ln`).
        # Video uses 3-D patches and is otherwise the same network (p. 5).
        conv = nn.Conv3d if cfg.frames else nn.Conv2d
        self.stem = conv(cfg.in_channels, d, kernel_size=cfg.patch_shape, stride=cfg.patch_shape)
        self.stem_norm = layer_norm(d)
        self.interface_pos = nn.Parameter(torch.empty(cfg.num_tokens, d))
        # Latents: a learned table; time and class embeddings take the last one or two slots (§3.1).
        self.latents = nn.Parameter(torch.empty(cfg.num_latents - cfg.num_conditioning_tokens, l))
        self.time_embed = ScalarEmbedding(l, cfg.time_scaling)
        # One-hot label -> Linear(num_classes, L): a column lookup plus bias (official `cond_proj`).
        self.class_embed = nn.Linear(cfg.num_classes, l) if cfg.num_classes else None
        # Latent self-conditioning: Z = Z_init + LN(Z' + MLP(Z')), LN initialised to zero (§3.4).
        self.prev_latent_ff = FeedForward(l, cfg.latent_mlp_ratio)
        self.prev_latent_norm = layer_norm(l)
        self.blocks = nn.ModuleList(RINBlock(cfg) for _ in range(cfg.blocks))
        # Readout: LN, linear to patch values, unpatchify (§3.1).
        self.out_norm = layer_norm(d)
        self.out_proj = nn.Linear(d, cfg.patch_values)
        # PyTorch's layers come initialised by their constructors: "torch" only adds RIN's own.
        self.reset_parameters(layers=cfg.init != "torch")

    @torch.no_grad()
    def reset_parameters(self, layers: bool = True) -> None:
        """Every weight as `cfg.init` says; with `layers=False` only the tables and the
        self-conditioning LayerNorm. Also fills a model materialised from meta with `to_empty()`.

        "keras" is the official code's (google-research/pix2seq @ eabd4e9). Its layers take Keras
        defaults, glorot-uniform kernels and zero biases: the stem Conv2D / Conv3D (tape.py
        l. 423-425, 502-509), `cond_proj` (l. 86-87), `output_linear` (l. 191-192), the MLPs'
        Dense layers (transformers.py l. 390-393) and MultiHeadAttention (`Attention.keras_init_`);
        the time MLP's VarianceScaling(1, fan_avg, uniform) is glorot-uniform too (transunet.py
        l. 34-36, 66-73); LayerNorms scale one, shift zero. The learned position and latent
        tables are TruncatedNormal(std 0.02) (transformers.py l. 111-113, 147-152), which Keras
        cuts at two standard deviations. "torch" is PyTorch's layer defaults (kaiming-uniform
        kernels, uniform biases), the model as it was before this option."""
        keras = self.cfg.init == "keras"
        if layers and keras:
            keras_init_(self)
        elif layers:
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d, nn.LayerNorm)):
                    module.reset_parameters()
        cut = 0.04 if keras else 2.0  # "torch" keeps the earlier cut, at 100 std
        for table in (self.interface_pos, self.latents):
            nn.init.trunc_normal_(table, std=0.02, a=-cut, b=cut)
        # Self-conditioning: LN with zero scale and shift, so that Z = Z_init early in training
        # (Jabri et al. p. 4; official `latent_prev_ln`, gamma_initializer='zeros', tape.py l. 103-104).
        nn.init.zeros_(self.prev_latent_norm.weight)
        nn.init.zeros_(self.prev_latent_norm.bias)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor | None = None,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        check_inputs(cfg, x, t, y, state)
        B = x.shape[0]
        x_BND = self.tokenize(x)

        # The time token embeds the noise level gamma(t), as the official code conditions on gamma * 1000.
        tokens = [
            self.latents.expand(B, -1, -1),
            self.time_embed(noise_level(t, cfg.noise_schedule))[:, None],
        ]
        if self.class_embed is not None:
            tokens.append((self.class_embed.weight.T[y] + self.class_embed.bias)[:, None])
        z_BML = torch.cat(tokens, dim=1).to(x_BND.dtype)
        if state is None:
            state = torch.zeros_like(z_BML)
        z_BML = z_BML + self.prev_latent_norm(self.prev_latent_ff(state))

        for block in self.blocks:
            z_BML, x_BND = block(z_BML, x_BND)

        # The readout runs on every token, context tokens included, as the official one does.
        patches_BNP = self.out_proj(self.out_norm(x_BND))
        return unpatchify(patches_BNP, cfg), z_BML

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """x -> the interface (B, N, D): patch embedding, LayerNorm, learned positions."""
        x_BND = self.stem(patch_layout(x, self.cfg)).flatten(2).transpose(1, 2)
        return self.stem_norm(x_BND) + self.interface_pos


# Frame prediction follows the official VideoTapeDenoiser (google-research/pix2seq
# architectures/tape.py @ eabd4e9): the noisy frames and the clean context frames go through the
# same Conv3D stem separately, each zero-padded to whole patches by padding='SAME' (l. 502-509,
# 569-573), so no patch mixes a context frame with a noisy one; the context tokens follow the noisy
# ones in one learned position table (l. 529-533, 544, 570-573), whose length counts the padding
# (t_pad, l. 476-478); the readout unfolds every token and keeps the predicted frames (l. 547-557).
# Here both groups sit in one padded tensor, patched by one stride = kernel convolution, which
# gives the same tokens. With Kinetics-600's 5 context frames of 16 and 2-frame patches that is
# 6 + 3 time patches, 2304 tokens at 64x64 / 4x4, where the paper (p. 5) counts 2048 for 16 frames
# in 2x4x4 patches; 2048 holds when the context fills whole patches (e.g. 4 context frames).


def patch_layout(x: torch.Tensor, cfg: RINConfig) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T', H, W): the frames of `cfg.frame_groups` in token order, each
    group zero-padded to whole patches. Images and unconditional video pass unchanged."""
    if not cfg.cond_frames:
        return x
    groups = [
        F.pad(x[:, :, first : first + n], (0, 0, 0, 0, *pad)) for first, n, pad in cfg.frame_groups
    ]
    return torch.cat(groups, dim=2)


def frames_from_layout(x: torch.Tensor, cfg: RINConfig) -> torch.Tensor:
    """The inverse of `patch_layout`: drop the padding frames, put the frames back in time order."""
    if not cfg.cond_frames:
        return x
    groups, offset = {}, 0
    for first, n, (before, after) in cfg.frame_groups:
        groups[first] = x[:, :, offset + before : offset + before + n]
        offset += before + n + after
    return torch.cat([groups[first] for first in sorted(groups)], dim=2)


def unpatchify(patches_BNP: torch.Tensor, cfg: RINConfig) -> torch.Tensor:
    """(B, N, P) -> (B, C, [T,] H, W): each token's values become its patch (depth_to_space); at
    frame prediction the padding frames are dropped and the frames put back in time order."""
    (gt, gh, gw), (pt, ph, pw) = cfg.patch_grid, (1, *cfg.patch_shape)[-3:]
    B = patches_BNP.shape[0]
    x = patches_BNP.reshape(B, gt, gh, gw, pt, ph, pw, cfg.out_channels)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(B, cfg.out_channels, gt * pt, gh * ph, gw * pw)
    return frames_from_layout(x, cfg) if cfg.frames else x.squeeze(2)


def check_inputs(cfg: RINConfig, x, t, y, state) -> None:
    """Shape checks (free) and, on CPU in eager mode only, label range (a value check would sync a
    GPU and break a compiled graph)."""
    expected = tuple(cfg.input_shape)
    if tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"{cfg.name}: x must have shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
        )
    if t.shape != (x.shape[0],):
        raise ValueError(f"{cfg.name}: t must have shape ({x.shape[0]},), got {tuple(t.shape)}")
    if cfg.num_classes == 0:
        if y is not None:
            raise ValueError(f"{cfg.name}: unconditional model, got labels y")
    else:
        if y is None or y.shape != (x.shape[0],) or y.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"{cfg.name}: needs int64 labels y of shape ({x.shape[0]},) in [0, {cfg.num_classes})"
            )
        if (
            y.device.type == "cpu"
            and not torch.compiler.is_compiling()  # a value check would break the graph
            and y.numel()
            and (int(y.min()) < 0 or int(y.max()) >= cfg.num_classes)
        ):
            raise ValueError(
                f"{cfg.name}: labels must lie in [0, {cfg.num_classes}), got {y.min()}..{y.max()}"
            )
    shape = (x.shape[0], cfg.num_latents, cfg.latent_dim)
    if state is not None and tuple(state.shape) != shape:
        raise ValueError(f"{cfg.name}: state must have shape {shape}, got {tuple(state.shape)}")


# ----------------------------------------------------------------------------------------------
# Closed-form cost (a test oracle for the FLOP counter, not the reported number)
# ----------------------------------------------------------------------------------------------


def analytic_macs(cfg: RINConfig) -> dict[str, int]:
    """Forward multiply-accumulates per image, split like the paper's read / compute / write / other."""
    n, m, d, l, c = (
        cfg.num_tokens,
        cfg.num_latents,
        cfg.interface_dim,
        cfg.latent_dim,
        cfg.cross_dim,
    )
    p2c = cfg.patch_values

    def cross(q_tokens, q_dim, kv_tokens, kv_dim, mlp_ratio):
        projections = q_tokens * q_dim * c + kv_tokens * kv_dim * 2 * c + q_tokens * c * q_dim
        attention = 2 * q_tokens * kv_tokens * c  # Q K^T and A V
        return projections + attention + q_tokens * 2 * mlp_ratio * q_dim * q_dim

    latent_layer = m * 4 * l * l + 2 * m * m * l + m * 2 * cfg.latent_mlp_ratio * l * l
    read = cross(m, l, n, d, cfg.latent_mlp_ratio)
    write = cross(n, d, m, l, cfg.interface_mlp_ratio)
    other = (
        n * p2c * d  # stem
        + n * d * p2c  # readout
        + (l // 4) * l
        + l * l  # time embedding
        + m * 2 * cfg.latent_mlp_ratio * l * l  # self-conditioning MLP
    )
    return {
        "read": cfg.blocks * read,
        "compute": cfg.blocks * cfg.latent_depth * latent_layer,
        "write": cfg.blocks * write,
        "other": other,
    }
