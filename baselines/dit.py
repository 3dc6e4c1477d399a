"""DiT: the Diffusion Transformer with adaLN-Zero blocks (Peebles & Xie, arXiv:2212.09748).

A re-implementation of the architecture in facebookresearch/DiT `models.py` (commit ed81ce2,
CC-BY-NC 4.0; no code copied), with the harness's interface `forward(x, t, y, state) -> (out, None)`.
The same network serves SD-VAE latents (`latent_factor=8`, 4 channels, as in the paper) and pixels
(`latent_factor=1`, 3 channels). Parameter counts equal the official code's to the unit, and the
forward MACs on the meta device reproduce the paper's "Gflops" (which are MACs, incl. attention).

Legend: B batch, C channels, H/W height/width of x, P patch size, T tokens, D hidden width,
N heads, K head width (D / N).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import check_image_inputs, check_positive, timestep_embedding

# DiT embeds the timestep with 256 sinusoidal features and period up to 10^4 (GLIDE's choice).
TIMESTEP_FEATURES = 256
# DiT's diffusion has 1000 discrete steps; its network sees the step index, not t in [0, 1].
TIMESTEP_SCALE = 1000.0


@dataclass(frozen=True)
class DiTConfig:
    resolution: int  # pixels per side of the image (a latent model sees resolution / latent_factor)
    in_channels: int  # channels of x: 4 for SD-VAE latents, 3 for pixels
    num_classes: int  # 0 = unconditional; class-conditional DiT on ImageNet uses 1000
    patch_size: int  # P: side of the square patch that becomes one token
    depth: int  # number of DiT blocks
    hidden_size: int  # D: token width
    num_heads: int  # N: attention heads; D must be divisible by N
    name: str = "custom"  # the registry sets it to the preset slug
    latent_factor: int = 8  # pixels per input cell: 8 = SD-VAE latent space, 1 = pixel space
    mlp_ratio: float = 4.0  # MLP hidden width = int(D * mlp_ratio)
    learn_sigma: bool = True  # also predict the variance interpolation: out_channels = 2 * C
    class_dropout_prob: float = 0.1  # > 0: a learned null-class row (CFG), dropped in training

    def __post_init__(self):
        sizes = ("resolution", "in_channels", "latent_factor", "patch_size", "depth")
        check_positive(self, *sizes, "hidden_size", "num_heads")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {self.num_classes}")
        if not 0.0 <= self.class_dropout_prob < 1.0:
            raise ValueError(f"class_dropout_prob must be in [0, 1), got {self.class_dropout_prob}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}"
            )
        # The 2-D sin-cos embedding gives each axis D/2 channels, half sine and half cosine.
        if self.hidden_size % 4:
            raise ValueError(f"hidden_size must be a multiple of 4, got {self.hidden_size}")
        step = self.latent_factor * self.patch_size
        if self.resolution % step:
            works = ", ".join(str(r) for r in (64, 128, 256, 512, 1024) if r % step == 0)
            raise ValueError(
                f"resolution {self.resolution} px does not tile into patches; it must be "
                f"a multiple of {step} (latent factor {self.latent_factor} x patch {self.patch_size})"
                + (f", e.g. {works}" if works else "")
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        side = self.resolution // self.latent_factor
        return (self.in_channels, side, side)

    @property
    def out_channels(self) -> int:
        return 2 * self.in_channels if self.learn_sigma else self.in_channels

    @property
    def grid_size(self) -> int:
        """Tokens per side: resolution / (latent_factor * patch_size)."""
        return self.resolution // (self.latent_factor * self.patch_size)

    @property
    def num_tokens(self) -> int:
        return self.grid_size**2

    @property
    def has_null_class(self) -> bool:
        """Label `num_classes` is the learned "no class" embedding (classifier-free guidance)."""
        return self.num_classes > 0 and self.class_dropout_prob > 0


# --- fixed embeddings ------------------------------------------------------------------------------


def sincos_position_embedding(
    grid_size: int, dim: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """(grid_size**2, dim) float32 fixed 2-D sin-cos embedding, tokens in row-major order.

    Layout of DiT (inherited from MAE's pos_embed): the first dim/2 channels encode the column
    index, the last dim/2 the row index; each half is [sin(pos * w) | cos(pos * w)] with
    w_k = 10000^(-k / (dim/4)). Computed in float64 as the reference does, then cast.
    """
    quarter = dim // 4
    omega = 1.0 / 10_000 ** (torch.arange(quarter, dtype=torch.float64, device=device) / quarter)
    coords = torch.arange(grid_size, dtype=torch.float64, device=device)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")

    def encode(position: torch.Tensor) -> torch.Tensor:
        angles = position.reshape(-1, 1) * omega[None, :]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)

    return torch.cat([encode(cols), encode(rows)], dim=-1).float()


def modulate(x_BTD: torch.Tensor, shift_B1D: torch.Tensor, scale_B1D: torch.Tensor) -> torch.Tensor:
    # adaLN: scale around 1 so that a zero-initialised modulation leaves x unchanged (DiT §3.2).
    return x_BTD * (1 + scale_B1D) + shift_B1D


# --- layers ----------------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused QKV projection (timm Attention, qkv_bias=True)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x_BTD: torch.Tensor) -> torch.Tensor:
        B, T, D = x_BTD.shape
        qkv_3BNTK = (
            self.qkv(x_BTD)
            .reshape(B, T, 3, self.num_heads, D // self.num_heads)
            .permute(2, 0, 3, 1, 4)
        )
        q_BNTK, k_BNTK, v_BNTK = qkv_3BNTK.unbind(0)
        out_BNTK = F.scaled_dot_product_attention(q_BNTK, k_BNTK, v_BNTK)
        return self.proj(out_BNTK.transpose(1, 2).reshape(B, T, D))


class DiTBlock(nn.Module):
    """Transformer block with adaLN-Zero conditioning (DiT §3.2, Figure 3).

    The conditioning vector c regresses shift, scale and a residual gate for each of the two
    branches; the gates start at zero, so every block starts as the identity.
    """

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.hidden_size
        # Non-affine norms: adaLN supplies the scale and shift.
        self.norm_attn = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(d, cfg.num_heads)
        self.norm_mlp = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d)
        )
        self.ada_ln = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x_BTD: torch.Tensor, c_BD: torch.Tensor) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = (
            self.ada_ln(c_BD).unsqueeze(1).chunk(6, dim=-1)
        )
        x_BTD = x_BTD + gate_a * self.attn(modulate(self.norm_attn(x_BTD), shift_a, scale_a))
        x_BTD = x_BTD + gate_m * self.mlp(modulate(self.norm_mlp(x_BTD), shift_m, scale_m))
        return x_BTD


class FinalLayer(nn.Module):
    """adaLN (shift, scale; no gate) then a linear map of each token to its P x P x C_out patch."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.hidden_size
        self.norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_ln = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.linear = nn.Linear(d, cfg.patch_size**2 * cfg.out_channels)

    def forward(self, x_BTD: torch.Tensor, c_BD: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada_ln(c_BD).unsqueeze(1).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x_BTD), shift, scale))


# --- the model -------------------------------------------------------------------------------------


class DiT(nn.Module):
    """x (B, C, H, W), t (B,) in [0, 1], y (B,) int64 -> ((B, C_out, H, W), None).

    C_out = 2C with learn_sigma: the noise prediction, then the variance interpolation.
    Labels: 0 .. num_classes-1, plus num_classes for "no class" when the config has a null class.
    """

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        # Patchify (DiT §3.2): a P x P, stride-P convolution = a linear map of each patch.
        self.patch_embed = nn.Conv2d(
            cfg.in_channels, d, kernel_size=cfg.patch_size, stride=cfg.patch_size
        )
        # Fixed sin-cos positions. A frozen Parameter as in the reference, so that
        # sum(p.numel() for p in parameters()) equals the official counts (675,129,632 for
        # XL/2 at 256 px includes these T * D values). init_weights() fills it.
        self.pos_embed = nn.Parameter(torch.empty(cfg.num_tokens, d), requires_grad=False)
        self.t_embed = nn.Sequential(nn.Linear(TIMESTEP_FEATURES, d), nn.SiLU(), nn.Linear(d, d))
        self.y_embed = (
            nn.Embedding(cfg.num_classes + int(cfg.has_null_class), d) if cfg.num_classes else None
        )
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.final_layer = FinalLayer(cfg)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """DiT's initialisation; also fills a model materialised from meta with `to_empty()`."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        # The patch embedding is initialised as the linear map it is.
        nn.init.xavier_uniform_(self.patch_embed.weight.view(self.cfg.hidden_size, -1))
        nn.init.zeros_(self.patch_embed.bias)
        self.pos_embed.copy_(
            sincos_position_embedding(
                self.cfg.grid_size, self.cfg.hidden_size, device=self.pos_embed.device
            )
        )
        nn.init.normal_(self.t_embed[0].weight, std=0.02)
        nn.init.normal_(self.t_embed[2].weight, std=0.02)
        if self.y_embed is not None:
            nn.init.normal_(self.y_embed.weight, std=0.02)
        # adaLN-Zero: zero modulation makes every block the identity at initialisation (DiT §3.2),
        # and the zero output layer makes the initial prediction 0.
        for block in self.blocks:
            nn.init.zeros_(block.ada_ln[1].weight)
            nn.init.zeros_(block.ada_ln[1].bias)
        for layer in (self.final_layer.ada_ln[1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x, t, y=None, state=None) -> tuple[torch.Tensor, None]:
        del state  # only RIN carries state between steps
        check_image_inputs(self.cfg, x, t, y, null_class=self.cfg.has_null_class)
        cfg = self.cfg
        timestep_B = t.float() * TIMESTEP_SCALE  # DiT embeds the discrete-step index 0..999
        x_BTD = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        # Features in the MLP's dtype: a no-op under autocast, needed for a model cast to bf16.
        # The same [cos | sin] features as ADM's (both after GLIDE), 256 of them.
        features = timestep_embedding(timestep_B, TIMESTEP_FEATURES)
        c_BD = self.t_embed(features.to(self.t_embed[0].weight.dtype))
        if self.y_embed is not None:
            if self.training and cfg.has_null_class:
                # Label dropout for classifier-free guidance (DiT §3.1, "Classifier-free guidance").
                dropped_B = torch.rand(y.shape, device=y.device) < cfg.class_dropout_prob
                y = torch.where(dropped_B, cfg.num_classes, y)
            c_BD = c_BD + self.y_embed(y)
        for block in self.blocks:
            x_BTD = block(x_BTD, c_BD)
        patches_BTF = self.final_layer(x_BTD, c_BD)
        return self._unpatchify(patches_BTF), None

    def _unpatchify(self, patches_BTF: torch.Tensor) -> torch.Tensor:
        """(B, T, P*P*C_out), channels fastest within a patch -> (B, C_out, H, W)."""
        B = patches_BTF.shape[0]
        g, p, c = self.cfg.grid_size, self.cfg.patch_size, self.cfg.out_channels
        x = patches_BTF.reshape(B, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(B, c, g * p, g * p)


# --- closed-form cost ------------------------------------------------------------------------------


def analytic_macs(cfg: DiTConfig) -> int:
    """Forward multiply-accumulates for one sample, in the DiT paper's convention.

    Counts every Linear, the patch convolution and the two attention products (QK^T, AV); norms,
    activations, softmax and embedding look-ups count zero. It is a test oracle for the counter.
    """
    T, D, P = cfg.num_tokens, cfg.hidden_size, cfg.patch_size
    mlp_hidden = int(D * cfg.mlp_ratio)
    patch_embed = T * D * P * P * cfg.in_channels
    timestep_mlp = TIMESTEP_FEATURES * D + D * D
    per_block = (
        6 * D * D  # adaLN regression of shift/scale/gate x 2, once per sample
        + T * D * 3 * D  # fused QKV
        + 2 * T * T * D  # QK^T and attention x V, all heads together
        + T * D * D  # output projection
        + 2 * T * D * mlp_hidden  # MLP in and out
    )
    final = 2 * D * D + T * D * P * P * cfg.out_channels
    return patch_embed + timestep_mlp + cfg.depth * per_block + final
