"""DiT baseline: official parameter counts, the paper's Gflops (MACs), the interface contract."""

import dataclasses
import math

import pytest
import torch
from helpers import meta_counts
from torch.utils.flop_counter import FlopCounterMode

from baselines.dit import DiT, DiTConfig, analytic_macs, sincos_position_embedding
from baselines.presets import DIT_PRESETS

LATENT_SLUGS = sorted(s for s, p in DIT_PRESETS.items() if p.config.latent_factor == 8)

# DiT paper Table 4 "Gflops" at 256 px (Peebles & Xie 2023): forward MACs with the attention matmuls,
# "each multiply-add is 1 flop" (W. Peebles in facebookresearch/DiT#14).
PAPER_GMACS = {
    "dit-s-8": 0.36,
    "dit-s-4": 1.41,
    "dit-s-2": 6.06,
    "dit-b-8": 1.42,
    "dit-b-4": 5.56,
    "dit-b-2": 23.01,
    "dit-l-8": 5.01,
    "dit-l-4": 19.70,
    "dit-l-2": 80.71,
    "dit-xl-8": 7.39,
    "dit-xl-4": 29.05,
    "dit-xl-2": 118.64,
}

# The official code (facebookresearch/DiT models.py, commit ed81ce2) instantiated and counted on an
# H100: parameters as sum(p.numel() for p in model.parameters()), MACs = FlopCounterMode total / 2.
ANCHORS = {
    "dit-xl-2": (675_129_632, 118_621_421_568),
    "dit-b-2": (130_512_416, 23_005_102_080),
    "dit-xl-2-512": (676_014_368, 524_538_298_368),
}


def preset(slug: str, **changes) -> DiTConfig:
    """The preset's config named as the registry names it."""
    return dataclasses.replace(DIT_PRESETS[slug].config, name=slug, **changes)


def meta_macs(cfg: DiTConfig) -> int:
    """Forward MACs for batch 1, counted on the meta device (where SDPA is counted); cached."""
    return meta_counts(DiT, cfg)[1]


def randomize(model: DiT) -> DiT:
    """Overwrite the zero-initialised (adaLN-Zero) weights so the output depends on every layer."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0.0, 0.05)
    return model


def tiny_inputs(cfg: DiTConfig, batch: int = 2):
    labels = torch.randint(0, cfg.num_classes, (batch,)) if cfg.num_classes else None
    return torch.randn(batch, *cfg.input_shape), torch.rand(batch), labels


@pytest.mark.parametrize("slug", sorted(ANCHORS))
def test_params_and_macs_equal_official(slug):
    params, macs = ANCHORS[slug]
    cfg = preset(slug)
    with torch.device("meta"):
        model = DiT(cfg)
    assert sum(p.numel() for p in model.parameters()) == params
    # The official count includes the frozen sin-cos table (T x D values), as DiT stores it.
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert params - trainable == cfg.num_tokens * cfg.hidden_size
    assert meta_macs(cfg) == macs


@pytest.mark.parametrize("slug", sorted(PAPER_GMACS))
def test_macs_match_paper_table(slug):
    paper = PAPER_GMACS[slug]
    measured = meta_macs(preset(slug)) / 1e9
    # 0.5 %, or half a unit of the paper's last printed digit (S/8: 0.358 is printed 0.36).
    assert abs(measured - paper) <= max(0.005 * paper, 0.005), (measured, paper)


@pytest.mark.parametrize("slug", sorted(DIT_PRESETS))
def test_analytic_macs_match_counter(slug):
    cfg = preset(slug)
    assert analytic_macs(cfg) == pytest.approx(meta_macs(cfg), rel=0.01)


def test_analytic_macs_match_counter_at_other_resolutions():
    for slug, resolution in (("dit-xl-2", 512), ("dit-s-8", 1024), ("dit-b-16-px", 128)):
        cfg = preset(slug, resolution=resolution)
        assert analytic_macs(cfg) == pytest.approx(meta_macs(cfg), rel=0.01)


@pytest.mark.parametrize("slug", LATENT_SLUGS)
def test_latent_presets_build_on_meta_at_64_to_1024_px(slug):
    for resolution in (64, 128, 256, 512, 1024):
        cfg = preset(slug, resolution=resolution)
        assert cfg.input_shape == (4, resolution // 8, resolution // 8)
        with torch.device("meta"):
            model = DiT(cfg)
            assert model.pos_embed.shape == (cfg.num_tokens, cfg.hidden_size)
            # Shapes do not depend on depth: one block keeps the meta forward quick.
            shallow = DiT(dataclasses.replace(cfg, depth=1))
            x = torch.randn(2, *cfg.input_shape)
            out, state = shallow(x, torch.rand(2), torch.zeros(2, dtype=torch.long))
        assert out.shape == (2, 8, resolution // 8, resolution // 8)
        assert state is None


def test_tiny_forward_backward_on_cpu():
    cfg = preset("dit-tiny")
    model = randomize(DiT(cfg))
    x, t, y = tiny_inputs(cfg)
    out, state = model(x, t, y)
    assert out.shape == (2, 2 * cfg.in_channels, *cfg.input_shape[1:])
    assert cfg.out_channels == 2 * cfg.in_channels  # learn_sigma: noise and variance
    assert state is None
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.pos_embed.grad is None


def test_fresh_model_predicts_zero_and_blocks_are_identity():
    # adaLN-Zero: zero gates and a zero output layer (DiT section 3.2).
    cfg = preset("dit-tiny")
    model = DiT(cfg)
    x, t, y = tiny_inputs(cfg)
    out, _ = model(x, t, y)
    assert torch.count_nonzero(out) == 0
    tokens = torch.randn(2, cfg.num_tokens, cfg.hidden_size)
    assert torch.equal(model.blocks[0](tokens, torch.randn(2, cfg.hidden_size)), tokens)


def test_position_embedding_is_real_sincos_on_cpu():
    cfg = preset("dit-tiny")
    pos = DiT(cfg).pos_embed
    g, d = cfg.grid_size, cfg.hidden_size
    assert pos.shape == (g * g, d) and not pos.requires_grad
    # Independent formula: token (row, col); first half encodes col, second half row (as DiT).
    quarter = d // 4
    expected = torch.empty(g * g, d, dtype=torch.float64)
    for row in range(g):
        for col in range(g):
            for k in range(quarter):
                w = 10_000 ** (-k / quarter)
                token = row * g + col
                expected[token, k] = math.sin(col * w)
                expected[token, quarter + k] = math.cos(col * w)
                expected[token, 2 * quarter + k] = math.sin(row * w)
                expected[token, 3 * quarter + k] = math.cos(row * w)
    torch.testing.assert_close(pos, expected.float(), rtol=0, atol=1e-6)


def test_model_materialised_from_meta_gets_real_position_embedding():
    cfg = preset("dit-tiny")
    with torch.device("meta"):
        model = DiT(cfg)
    model = model.to_empty(device="cpu")
    model.init_weights()
    expected = sincos_position_embedding(cfg.grid_size, cfg.hidden_size)
    assert torch.equal(model.pos_embed, expected)


def test_unpatchify_inverts_the_patch_token_order():
    cfg = preset("dit-tiny", learn_sigma=False)
    model = DiT(cfg)
    g, p, c = cfg.grid_size, cfg.patch_size, cfg.in_channels
    x = torch.randn(2, *cfg.input_shape)
    # Tokens in the patch convolution's row-major order, channels fastest within a patch.
    patches = x.reshape(2, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(2, g * g, p * p * c)
    assert torch.equal(model._unpatchify(patches), x)


def test_bad_resolution_says_which_work():
    with pytest.raises(ValueError, match=r"resolution 200 px .* multiple of 16") as err:
        preset("dit-xl-2", resolution=200)
    assert "256" in str(err.value)


def test_sizes_must_be_positive():
    with pytest.raises(ValueError, match="num_heads must be positive, got 0"):
        dataclasses.replace(preset("dit-tiny"), num_heads=0)


def test_wrong_inputs_name_the_preset():
    cfg = preset("dit-tiny")
    model = DiT(cfg)
    x, t, y = tiny_inputs(cfg)
    with pytest.raises(ValueError, match=r"dit-tiny: expected x of shape \(B, 3, 32, 32\)"):
        model(torch.randn(2, 4, 32, 32), t, y)
    with pytest.raises(ValueError, match="dit-tiny: labels must be in"):
        model(x, t, torch.tensor([0, cfg.num_classes + 1]))
    with pytest.raises(ValueError, match="dit-tiny: labels must be in"):
        model(x, t, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="dit-tiny: class-conditional model needs labels"):
        model(x, t, None)
    with pytest.raises(ValueError, match="dit-tiny: expected t of shape"):
        model(x, torch.rand(3), y)
    # Label num_classes is the learned null class (classifier-free guidance).
    out, _ = model(x, t, torch.tensor([cfg.num_classes, 0]))
    assert out.shape[0] == 2


def test_unconditional_model_takes_no_labels():
    cfg = preset("dit-tiny", num_classes=0)
    model = DiT(cfg)
    assert model.y_embed is None
    x, t, _ = tiny_inputs(cfg)
    assert model(x, t)[0].shape == (2, cfg.out_channels, *cfg.input_shape[1:])
    with pytest.raises(ValueError, match="dit-tiny: unconditional model"):
        model(x, t, torch.zeros(2, dtype=torch.long))


def test_training_mode_drops_labels_to_the_null_class():
    cfg = preset("dit-tiny", class_dropout_prob=0.5)
    model = randomize(DiT(cfg))
    x, t, y = tiny_inputs(cfg, batch=16)
    null = torch.full_like(y, cfg.num_classes)
    with torch.no_grad():
        model.train()
        trained = model(x, t, y)[0]
        model.eval()
        conditional, unconditional = model(x, t, y)[0], model(x, t, null)[0]
    took_null = (trained - unconditional).flatten(1).abs().amax(1) == 0
    took_label = (trained - conditional).flatten(1).abs().amax(1) == 0
    assert torch.all(took_null ^ took_label)
    assert 0 < took_null.sum() < 16


def test_seeded_build_and_forward_are_deterministic():
    cfg = preset("dit-tiny")
    outputs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = randomize(DiT(cfg))
        outputs.append(model(*tiny_inputs(cfg))[0])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_model_cast_to_bfloat16_runs():
    cfg = preset("dit-tiny")
    model = randomize(DiT(cfg)).to(torch.bfloat16)
    x, t, y = tiny_inputs(cfg)
    out, _ = model(x.to(torch.bfloat16), t, y)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


@pytest.mark.gpu
def test_cuda_bf16_macs_equal_meta_count_and_backward_runs():
    # On CUDA the counter sees the fused SDPA kernel (flash / cuDNN / efficient) by its own formula.
    cfg = preset("dit-b-2")
    with torch.device("cuda"):
        model = randomize(DiT(cfg))
        x, t, y = tiny_inputs(cfg, batch=4)
    with torch.autocast("cuda", dtype=torch.bfloat16), FlopCounterMode(display=False) as counter:
        out, _ = model(x, t, y)
    assert counter.get_total_flops() // 2 == 4 * meta_macs(cfg)
    out.float().square().mean().backward()
    assert torch.isfinite(out).all() and model.blocks[0].attn.qkv.weight.grad is not None
