"""The diffusers peers (baselines/peers/): DiTTransformer2DModel and UNet2DModel behind our
interface. Parameters and forward MACs reconcile with ours to the unit (the U-Net's equal ours; the
DiT's differ by what diffusers builds once per block), t reaches them as DiT's and ADM's continuous
step index, and the tiny presets run forward, backward and the training loss on CPU."""

import dataclasses
import json
import sys
from collections import Counter

import pytest
import torch
from helpers import count_preset, optional_import

from baselines.dit import TIMESTEP_FEATURES
from baselines.peers.diffusers_dit import conditioning_parameters, from_dit
from baselines.peers.diffusers_unet import from_adm
from baselines.presets import DIT_PRESETS, UNET_PRESETS
from bench import registry
from bench.family import MissingPackage

optional_import("diffusers", extra="peers")

# (peer, ours, the peer's parameters, ours): sum(p.numel() for p in model.parameters()) on meta.
DIT_PARAMS = [
    ("diffusers-dit-xl-2", "dit-xl-2", 749_826_464, 675_129_632),
    ("diffusers-dit-b-2", "dit-b-2", 147_439_904, 130_512_416),
    ("diffusers-dit-tiny", "dit-tiny", 201_944, 197_400),
]
# (peer, ours, the parameters of both): adm-in64's and adm-in256's are the official counts.
UNET_PARAMS = [
    ("diffusers-unet-in64", "adm-in64", 295_904_454),
    ("diffusers-unet-in256", "adm-in256", 553_838_086),
    ("diffusers-unet-tiny", "adm-tiny", 828_870),
]
# huggingface.co/facebook/DiT-XL-2-256 transformer/config.json, the keys that shape the model, as
# the file writes them.
RELEASED_DIT_XL_2_256 = json.loads("""{
    "num_layers": 28, "num_attention_heads": 16, "attention_head_dim": 72, "in_channels": 4,
    "out_channels": 8, "patch_size": 2, "sample_size": 32, "num_embeds_ada_norm": 1000,
    "norm_type": "ada_norm_zero", "activation_fn": "gelu-approximate", "attention_bias": true,
    "norm_elementwise_affine": false, "dropout": 0.0, "upcast_attention": false
}""")


def on_meta(slug: str, resolution: int | None = None) -> torch.nn.Module:
    with torch.device("meta"):
        return registry.build(slug, resolution)


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def labels(cfg, batch: int):
    return torch.arange(batch) % cfg.num_classes if cfg.num_classes else None


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("peer_slug", "our_slug", "peer_count", "our_count"), DIT_PARAMS)
def test_dit_parameters_differ_from_ours_by_the_embedders_and_the_position_table(
    peer_slug, our_slug, peer_count, our_count
):
    peer, ours = on_meta(peer_slug), on_meta(our_slug)
    assert (params(peer), params(ours)) == (peer_count, our_count)
    cfg = peer.cfg
    # Each block owns a timestep MLP and a label table (DiT: one for the network) ...
    embedder = conditioning_parameters(cfg)
    d = cfg.hidden_size
    assert embedder == (TIMESTEP_FEATURES * d + d) + (d * d + d) + (cfg.num_classes + 1) * d
    for block in peer.net.transformer_blocks:
        assert params(block.norm1.emb) == embedder
    assert params(ours.t_embed) + params(ours.y_embed) == embedder
    # ... and the sin-cos table is a buffer, where DiT keeps a frozen parameter.
    table = cfg.num_tokens * d
    assert peer.net.pos_embed.pos_embed.shape == (1, cfg.num_tokens, d)
    assert ours.pos_embed.numel() == table and not ours.pos_embed.requires_grad
    assert params(peer) - params(ours) == (cfg.num_layers - 1) * embedder - table
    if not peer_slug.endswith("-tiny"):  # the source states the counts and the decomposition
        stated = f"{peer_count:,} params = {our_slug}'s {our_count:,} + {cfg.num_layers - 1} x "
        assert stated + f"{embedder:,}" in registry.get(peer_slug).source


def test_dit_xl_2_decomposition_in_numbers():
    # 28 blocks, D = 1152: 27 extra embedders of 2,777,472; a 256 x 1152 table.
    assert conditioning_parameters(registry.config("diffusers-dit-xl-2")) == 2_777_472
    assert 749_826_464 - 675_129_632 == 27 * 2_777_472 - 256 * 1152


def without_fused_qkv(model: torch.nn.Module) -> Counter:
    """Sizes of the parameter tensors, ADM's fused qkv counted as the three maps it holds."""
    sizes = Counter()
    for name, p in model.named_parameters():
        if name.endswith(("qkv.weight", "qkv.bias")):
            sizes[p.numel() // 3] += 3
        else:
            sizes[p.numel()] += 1
    return sizes


@pytest.mark.parametrize(("peer_slug", "our_slug", "count"), UNET_PARAMS)
def test_unet_parameters_equal_ours_tensor_for_tensor(peer_slug, our_slug, count):
    peer, ours = on_meta(peer_slug), on_meta(our_slug)
    assert params(peer) == params(ours) == count
    # Every ADM tensor has a counterpart of its size: the modules are ADM's one for one.
    assert Counter(p.numel() for p in peer.parameters()) == without_fused_qkv(ours)


def test_the_xl_2_preset_is_the_released_config():
    net = on_meta("diffusers-dit-xl-2").net
    assert {key: net.config[key] for key in RELEASED_DIT_XL_2_256} == RELEASED_DIT_XL_2_256


def test_presets_name_their_counterparts():
    for tiny in ("diffusers-dit-tiny", "diffusers-unet-tiny"):
        peer = registry.get(tiny).declared_by
        assert peer.requires == ("diffusers",) and peer.extra == "peers" and not peer.missing()
        for slug, preset in peer.presets.items():
            assert registry.get(preset.counterpart).family == peer.peer_of, slug
    # The U-Nets' sources state their counts, ours to the unit.
    assert "295,904,454" in registry.get("diffusers-unet-in64").source
    assert "553,838,086" in registry.get("diffusers-unet-in256").source


# --- MACs -----------------------------------------------------------------------------------------


def macs(slug: str) -> dict:
    return count_preset(slug, batch=1)


def test_dit_macs_exceed_ours_by_the_repeated_timestep_mlp():
    peer, ours = macs("diffusers-dit-xl-2"), macs("dit-xl-2")
    assert (peer["macs_fwd"], ours["macs_fwd"]) == (118_666_838_016, 118_621_421_568)
    d, layers = 1152, 28
    # The MLP runs in every block and once more for the final layer, where DiT runs it once.
    assert peer["macs_fwd"] - ours["macs_fwd"] == layers * (TIMESTEP_FEATURES * d + d * d)
    extra = peer["macs_fwd_by_group"].pop("other") - ours["macs_fwd_by_group"].pop("other")
    assert extra == layers * (TIMESTEP_FEATURES * d + d * d)
    assert peer["macs_fwd_by_group"] == ours["macs_fwd_by_group"]  # attention, mlp, adaln


def test_unet_macs_equal_ours_level_by_level():
    peer, ours = macs("diffusers-unet-tiny"), macs("adm-tiny")
    assert peer["macs_fwd"] == ours["macs_fwd"]
    assert peer["macs_fwd_by_group"] == ours["macs_fwd_by_group"]


# --- the interface --------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["diffusers-dit-tiny", "diffusers-unet-tiny"])
def test_t_reaches_diffusers_as_the_continuous_step_index(slug, monkeypatch, one_cpu_thread):
    torch.manual_seed(0)
    model = registry.build(slug).eval()
    cfg = model.cfg
    x, y = torch.randn(2, *cfg.input_shape), labels(cfg, 2)
    t = torch.tensor([0.1234, 1.0])
    seen = []
    forward = model.net.forward

    def spy(sample, timestep, *args, **kwargs):
        seen.append(timestep)
        return forward(sample, timestep, *args, **kwargs)

    monkeypatch.setattr(model.net, "forward", spy)
    with torch.no_grad():
        out, state = model(x, t, y)
    torch.testing.assert_close(seen[0], torch.tensor([123.4, 1000.0]))  # not rounded
    assert state is None
    with torch.no_grad():
        direct = forward(x, t * 1000, class_labels=y, return_dict=False)[0]
    torch.testing.assert_close(out, direct)


@pytest.mark.parametrize("slug", ["diffusers-dit-tiny", "diffusers-unet-tiny"])
def test_tiny_forward_backward_and_output_shape(slug, one_cpu_thread):
    torch.manual_seed(0)
    model = registry.build(slug)
    cfg = model.cfg
    x, t, y = registry.example_inputs(cfg, 3)
    out, _ = model(x, t, y)
    assert out.shape == (3, 2 * cfg.in_channels, *cfg.input_shape[1:])
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_training_loss_runs_through_the_peers(one_cpu_thread):
    from bench.diffusion import training_loss

    for slug in ("diffusers-dit-tiny", "diffusers-unet-tiny"):
        model = registry.build(slug).train()
        x, _, y = registry.example_inputs(model.cfg, 2)
        loss = training_loss(model, x, y, needs=registry.diffusion_needs(model.cfg))
        loss.backward()
        assert torch.isfinite(loss)


@pytest.mark.parametrize(
    ("slug", "resolution"), [("diffusers-dit-xl-2", 512), ("diffusers-unet-in64", 128)]
)
def test_resolution_changes_like_ours(slug, resolution):
    model = on_meta(slug, resolution)
    with torch.device("meta"):
        x = torch.empty(1, *model.cfg.input_shape)
        out, _ = model(x, torch.rand(1), labels(model.cfg, 1))
    assert out.shape[-1] == x.shape[-1] == resolution // getattr(model.cfg, "latent_factor", 1)


def test_labels_outside_the_table_are_refused_and_the_null_class_accepted(one_cpu_thread):
    model = registry.build("diffusers-dit-tiny").eval()
    cfg = model.cfg
    x, t = torch.randn(2, *cfg.input_shape), torch.rand(2)
    model(x, t, torch.tensor([0, cfg.num_classes]))  # the null row of classifier-free guidance
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\]"):
        model(x, t, torch.tensor([0, cfg.num_classes + 1]))
    unet = registry.build("diffusers-unet-tiny")
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\]"):
        unet(torch.randn(2, *unet.cfg.input_shape), t, torch.tensor([0, 4]))


# --- what cannot be expressed ---------------------------------------------------------------------


def test_what_diffusers_cannot_express_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="fixed head count"):
        from_adm(UNET_PRESETS["adm-in128"].config)
    with pytest.raises(ValueError, match="channel_mult starts at 0.5"):
        from_adm(UNET_PRESETS["adm-in512"].config)
    with pytest.raises(ValueError, match="MLP is 4 D wide"):
        from_dit(dataclasses.replace(DIT_PRESETS["dit-tiny"].config, mlp_ratio=2.0))
    with pytest.raises(ValueError, match="class-conditional only"):
        dataclasses.replace(registry.config("diffusers-dit-tiny"), num_classes=0)
    with pytest.raises(ValueError, match="not divisible by attention_head_dim 48"):
        dataclasses.replace(registry.config("diffusers-unet-tiny"), attention_head_dim=48)


# --- packaging ------------------------------------------------------------------------------------


def test_a_missing_diffusers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` now raises
    with pytest.raises(MissingPackage, match=r"rinbench\[peers\]"):
        registry.build("diffusers-unet-tiny")
