"""3-D U-Net of "Video Diffusion Models" (Ho, Salimans, Gritsenko, Chan, Norouzi & Fleet 2022,
arXiv:2204.03458, section 3), the video baseline RIN compares against on Kinetics-600 16x64x64.

VDM's section 3 turns the 2-D image U-Net into a "factorised space-time" 3-D U-Net:
- every 3x3 convolution becomes a space-only 1x3x3 convolution;
- every spatial attention block attends within each frame, and is followed by a temporal attention
  block that attends over the frames at each spatial position, with relative position embeddings
  over frame offsets so the network knows frame order without an absolute notion of time;
- down- and upsampling act on space only; the number of frames is kept at every level.
No code for VDM was released, so this is a re-implementation, not a port. The 2-D parts are the ADM
U-Net of `baselines/unet.py` (Dhariwal & Nichol 2021), whose blocks are imported, not copied.

Implementation choices (none changes parameters or MACs against the paper's description):
- Frames are folded into the batch for every spatial op, (B, C, T, H, W) -> (B*T, C, H, W): a 1x3x3
  Conv3d and a 3x3 Conv2d on folded frames have the same weights (up to a unit axis) and MACs. The
  folded form is chosen because it reuses ADM's blocks and runs on cuDNN's 2-D convolutions, the
  most used and tuned path, including channels-last (`model.to(memory_format=torch.channels_last)`;
  every reshape here keeps the layout). Not yet timed on a GPU; on a 2-core CPU the two forms were
  equal and channels-last made either about 1.5x faster.
- GroupNorm statistics are per frame (a consequence of folding). VDM trains jointly on videos and
  independent images appended as extra frames, masking only the temporal attention to keep those
  images independent, which implies that nothing else mixes frames; this is not confirmed by code.
- The relative position bias is a learned table over offsets -(T-1)..(T-1) per head and per
  temporal block, added to the attention logits (Shaw et al. 2018 via T5's bias form).
- The time (and class) embedding is projected once per video in every ResBlock and broadcast over
  the frames, not recomputed per frame.
Frame prediction (Kinetics-600: 5 clean frames, 11 predicted) is the diffusion process's job
(`bench/diffusion.py`): it replaces the first `cond_frames` frames of x_t with the clean frames and
leaves them out of the loss, so the model sees one (B, C, T, H, W) tensor and nothing else.

Legend for tensor names: B batch, C channels, T frames, H/W height/width, N = B*T folded frames,
S = H*W positions per frame, E embedding width (4 * model_channels), h heads, d head width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from baselines.unet import (
    GROUPS,
    AttentionBlock,
    Downsample,
    ResBlock,
    UNetLevels,
    UNetTrunk,
    Upsample,
    check_inputs,
    unet_levels_macs,
    zero_init,
)


@dataclass(frozen=True, kw_only=True)
class UNet3DConfig(UNetLevels):
    """One factorised space-time U-Net: the levels of ADM's (UNetLevels: `resolution` is pixels per
    side of every frame, `attention_resolutions` the sizes with spatial and temporal attention),
    then its frames and heads. VDM predicts eps / v with fixed variances, so `learn_sigma` stays
    False (out_channels = in_channels)."""

    frames: int  # T, frames per video; every level keeps all of them
    num_head_channels: int = 64  # d; heads = width // d, in spatial and temporal attention alike
    cond_frames: int = 0  # leading clean frames at frame prediction; see the module docstring

    example_resolution: ClassVar[int] = 16

    def __post_init__(self):
        if self.frames < 1:
            raise ValueError(
                f"frames must be >= 1 (any number of frames works, e.g. 16), got {self.frames}"
            )
        if not 0 <= self.cond_frames < self.frames:
            raise ValueError(
                f"cond_frames must lie in [0, frames) = [0, {self.frames}), got {self.cond_frames}"
            )
        super().__post_init__()

    def check_heads(self, width: int) -> None:
        if width % self.num_head_channels:
            raise ValueError(f"width {width} not divisible by {self.num_head_channels=}")

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.in_channels, self.frames, self.resolution, self.resolution)

    def heads(self, width: int) -> int:
        return width // self.num_head_channels


# --- layers ------------------------------------------------------------------------------------


class RelativePositionBias(nn.Module):
    """A learned additive attention bias per head for every frame offset key - query in
    -(T-1)..(T-1) (VDM section 3: relative position embeddings in temporal attention)."""

    def __init__(self, heads: int, frames: int):
        super().__init__()
        # Zeros: no preferred offset at the start (the block's output projection starts at zero too).
        self.table = nn.Parameter(torch.zeros(heads, 2 * frames - 1))
        offsets = torch.arange(frames)[None, :] - torch.arange(frames)[:, None]  # key - query
        self.register_buffer("offset_index", offsets + frames - 1, persistent=False)

    def forward(self) -> torch.Tensor:
        """(h, T, T) bias; entry [i, q, k] is head i's logit bias for query frame q, key frame k."""
        return self.table[:, self.offset_index]


class TemporalAttention(nn.Module):
    """Multi-head self-attention over the T frames at each of the S positions, residual (VDM
    section 3). Input and output are folded frames (N, C, H, W), N = B*T, in any memory layout."""

    def __init__(self, channels: int, heads: int, frames: int):
        super().__init__()
        self.heads = heads
        self.frames = frames
        self.norm = nn.GroupNorm(GROUPS, channels)  # per frame, like every norm here
        self.qkv = nn.Linear(channels, 3 * channels)
        self.relative_position = RelativePositionBias(heads, frames)
        self.proj_out = zero_init(nn.Linear(channels, channels))

    def forward(self, x_NCHW):
        N, C, H, W = x_NCHW.shape
        T, h, d = self.frames, self.heads, C // self.heads
        B, S = N // T, H * W
        # Positions become the batch: (B, T, C, S) -> (B*S, T, C), one copy.
        tokens_BSTC = self.norm(x_NCHW).reshape(B, T, C, S).permute(0, 3, 1, 2).reshape(B * S, T, C)
        qkv = self.qkv(tokens_BSTC).view(B * S, T, 3, h, d).permute(2, 0, 3, 1, 4)
        q_BShTd, k_BShTd, v_BShTd = qkv.unbind(0)
        # A float attn_mask is added to the logits and broadcasts over the B*S sequences. Any mask
        # rules out the flash kernel on CUDA (SDPA then picks memory-efficient or math attention);
        # with T = 16 keys per query the attention matmuls are a small share of the block's cost.
        bias_hTT = self.relative_position().to(q_BShTd.dtype)
        out = F.scaled_dot_product_attention(q_BShTd, k_BShTd, v_BShTd, attn_mask=bias_hTT)
        out_BSTC = self.proj_out(out.transpose(1, 2).reshape(B * S, T, C))
        # Add in 5-D on a strided view: one kernel, output in x's layout, no extra copy.
        out_BTCHW = out_BSTC.view(B, H, W, T, C).permute(0, 3, 4, 1, 2)
        return (x_NCHW.unflatten(0, (B, T)) + out_BTCHW).flatten(0, 1)


class VideoResBlock(ResBlock):
    """ADM's ResBlock (same modules and parameters) on folded frames (N, C, H, W), with the
    embedding projected once per video (B, E) and broadcast over its T frames."""

    def forward(self, x_NCHW, emb_BE):
        B = emb_BE.shape[0]
        norm_in, act_in, conv_in = self.in_layers
        h = conv_in(act_in(norm_in(x_NCHW)))
        emb = self.emb_layers(emb_BE)[:, None, :, None, None].to(h.dtype)  # (B, 1, C', 1, 1)
        norm_out, act_out, drop_out, conv_out = self.out_layers
        if self.use_scale_shift_norm:
            scale, shift = emb.chunk(2, dim=2)
            h_BTCHW = norm_out(h).unflatten(0, (B, -1))
            h = (h_BTCHW * (1 + scale) + shift).flatten(0, 1)
        else:
            h = norm_out((h.unflatten(0, (B, -1)) + emb).flatten(0, 1))
        h = conv_out(drop_out(act_out(h)))
        return self.skip_connection(x_NCHW) + h


# --- model -------------------------------------------------------------------------------------


class UNet3D(UNetTrunk):
    """VDM's factorised space-time U-Net on ADM's blocks (conv resampling, space only).

    forward(x, t, y=None, state=None) -> (out, None): x (B, *cfg.input_shape) = (B, C, T, H, W);
    t (B,) float in [0, 1]; y (B,) int64 labels in [0, num_classes) or None when unconditional.
    out is (B, cfg.out_channels, T, H, W): the prediction for every frame, the clean conditioning
    frames included (the loss ignores those). `state` is ignored and None is returned in its place.
    """

    def __init__(self, cfg: UNet3DConfig):
        emb_channels = 4 * cfg.model_channels

        def res_block(channels, out_channels):
            return VideoResBlock(
                channels, emb_channels, out_channels, cfg.dropout, cfg.use_scale_shift_norm
            )

        def attention(channels):
            # Spatial attention within each frame, then temporal attention across frames (VDM §3).
            heads = cfg.heads(channels)
            return [
                AttentionBlock(channels, heads, use_new_attention_order=True),
                TemporalAttention(channels, heads, cfg.frames),
            ]

        super().__init__(cfg, res_block, attention, Downsample, Upsample)

    def forward(self, x, t, y=None, state=None):
        check_inputs(self.cfg, x, t, y)
        B, _, T, H, W = x.shape
        h = x.transpose(1, 2).flatten(0, 1)  # (B, C, T, H, W) -> (N, C, H, W), frames in the batch
        out_NCHW = self.out(self.levels(h, self.embed(t, y)))
        return out_NCHW.unflatten(0, (B, T)).transpose(1, 2), None


# --- closed-form cost ----------------------------------------------------------------------------


def analytic_macs(cfg: UNet3DConfig) -> int:
    """Forward multiply-accumulates per video, in the papers' convention: every conv (T*H*W*k^2*Cin*Cout
    for a 1xkxk conv), linear layer and attention matmul (spatial: T frames of 2*S^2*C for QK^T and
    AV; temporal: S positions of 2*T^2*C), no norms, activations, softmax, resampling or biases.
    Embedding projections run once per video. A test oracle for the FLOP counter."""
    C, T = cfg.model_channels, cfg.frames
    E = 4 * C
    time_embed = C * E + E * E

    def conv(size, k, c_in, c_out):
        return T * size * size * k * k * c_in * c_out

    def res_block(size, c_in, c_out):
        emb_out = 2 * c_out if cfg.use_scale_shift_norm else c_out
        skip = conv(size, 1, c_in, c_out) if c_in != c_out else 0
        return E * emb_out + conv(size, 3, c_in, c_out) + conv(size, 3, c_out, c_out) + skip

    def attention(size, c):
        S = size * size
        projections = 2 * (4 * T * S * c * c)  # qkv and proj_out, spatial and temporal
        return projections + T * 2 * S * S * c + S * 2 * T * T * c

    # Resampling is space only: a 3x3 conv at the output size.
    def down(size, w):
        return conv(size // 2, 3, w, w)

    def up(size, w):
        return conv(size * 2, 3, w, w)

    return time_embed + unet_levels_macs(cfg, conv, res_block, attention, down, up)
