"""lucidrains' RIN as a peer family (baselines/peers/lucidrains_rin.py): exact sizes beside ours with
the difference taken apart, the cost split, the state, the time it is handed, and its errors."""

import dataclasses
import sys

import pytest
import torch
from helpers import count_preset, optional_import

rin_pytorch = optional_import("rin_pytorch", extra="peers")

from baselines.peers.lucidrains_rin import FAMILY, LucidrainsRINConfig, from_rin  # noqa: E402
from bench import registry  # noqa: E402
from bench.diffusion import resolve_schedule, sample, training_loss  # noqa: E402
from bench.family import MissingPackage  # noqa: E402
from bench.measure.flops import count_flops  # noqa: E402
from bench.schedules import noise_level  # noqa: E402

COUNTERPARTS = {slug: preset.counterpart for slug, preset in FAMILY.presets.items()}

# (peer, ours): parameters, counted on the meta device.
PARAMS = {
    "lucidrains-rin-in256": (555_000_264, 395_928_256),
    "lucidrains-rin-in64": (237_253_624, 157_730_864),
}
# (peer, ours): forward MACs per image at batch 1, the harness's count (bench.measure.flops).
MACS = {
    "lucidrains-rin-in256": (134_703_269_888, 121_535_463_424),
    "lucidrains-rin-in64": (23_392_200_704, 22_226_354_176),
}
# The 256-px difference in parameters, cause by cause (what `parameter_difference` computes).
IN256_DIFFERENCE = {
    "time MLP, 4 x interface wide (ours: the time token's MLP)": 2_920_456,
    "time scale/shift Linear in every attention": 138_479_616,
    "no class embedding": -1_025_024,
    "no time or class slot among the latents": 2_048,
    "patch embedding reads 2 x channels (x self-conditioning)": 98_304,
    "LayerNorm over the patch (dual patchnorm)": 768,
    "axial position MLPs (ours: a table)": -128_512,
    "PEG depthwise conv in every block": 30_720,
    "latents LayerNormed after every block": 6_144,
    "read and write heads x head_dim wide (ours: min(D, L))": 18_874_368,
    "no attention biases": -125_952,
    "keys and values LayerNormed": 9_216,
    "LayerNorms without shift": -70_144,
    "feed-forwards 4x (ours: latent / interface ratio)": 0,
}


def build(slug: str, device: str = "meta") -> torch.nn.Module:
    with torch.device(device):
        return registry.build(slug)


def num_params(slug: str) -> int:
    return sum(p.numel() for p in build(slug).parameters())


def parameter_difference(peer: LucidrainsRINConfig, ours) -> dict[str, int]:
    """Peer minus ours in parameters, by cause, from the two configs (ours a RINConfig)."""
    D, L, b, k = peer.interface_dim, peer.latent_dim, peer.blocks, peer.latent_depth
    patch = peer.in_channels * peer.patch_size**2  # values in one patch
    inner, ours_cross = peer.heads * peer.head_dim, ours.cross_dim
    time_width, fourier = 4 * D, 16  # lucidrains' time_dim and learned_sinusoidal_dim
    half = D // 2

    def mlp(width, ratio):  # Linear(width, ratio width) -> Linear(ratio width, width), biases
        return 2 * ratio * width * width + ratio * width + width

    def scale_shift(width):  # Linear(time_width, 2 width)
        return 2 * width * time_width + 2 * width

    # Learned Fourier frequencies, Linear(fourier + 1, time_width), Linear(time_width, time_width).
    time_mlp = fourier // 2 + (fourier + 1) * time_width + time_width + time_width**2 + time_width
    ours_time_mlp = (L // 4) * L + L + L * L + L
    axial = 2 * (half + half + half * half + half + half * D + D)
    latent_ffs, interface_ffs = b * (1 + k) + 1, b  # + 1: the self-conditioning MLP
    return {
        "time MLP, 4 x interface wide (ours: the time token's MLP)": time_mlp - ours_time_mlp,
        "time scale/shift Linear in every attention": b
        * ((k + 1) * scale_shift(L) + scale_shift(D)),
        "no class embedding": -(ours.num_classes * L + L) if ours.num_classes else 0,
        "no time or class slot among the latents": ours.num_conditioning_tokens * L,
        "patch embedding reads 2 x channels (x self-conditioning)": patch * D,
        "LayerNorm over the patch (dual patchnorm)": 2 * 2 * patch,
        "axial position MLPs (ours: a table)": axial - ours.num_tokens * D,
        "PEG depthwise conv in every block": b * (9 * D + D),
        "latents LayerNormed after every block": b * L,
        "read and write heads x head_dim wide (ours: min(D, L))": b
        * (inner - ours_cross)
        * 4
        * (L + D),
        "no attention biases": -b * ((3 * ours_cross + L) + k * 4 * L + (3 * ours_cross + D)),
        "keys and values LayerNormed": b * (D + L),
        "LayerNorms without shift": -(b * (2 * L + 2 * k * L + 2 * D) + D + 2 * L),
        "feed-forwards 4x (ours: latent / interface ratio)": latent_ffs
        * (mlp(L, 4) - mlp(L, ours.latent_mlp_ratio))
        + interface_ffs * (mlp(D, 4) - mlp(D, ours.interface_mlp_ratio)),
    }


def macs(slug: str) -> dict:
    return count_preset(slug, batch=1)


# --- sizes and cost beside ours ------------------------------------------------------------------


@pytest.mark.parametrize("slug", sorted(PARAMS))
def test_parameter_counts_are_pinned_with_ours_beside_them(slug):
    assert (num_params(slug), num_params(COUNTERPARTS[slug])) == PARAMS[slug]


@pytest.mark.parametrize("slug", sorted(FAMILY.presets))
def test_the_difference_from_ours_is_accounted_for_cause_by_cause(slug):
    peer, ours = registry.config(slug), registry.config(COUNTERPARTS[slug])
    # The latent self-attention is as wide as ours, so it adds no term.
    assert peer.heads * peer.head_dim == ours.latent_dim
    difference = parameter_difference(peer, ours)
    assert sum(difference.values()) == num_params(slug) - num_params(COUNTERPARTS[slug])
    if slug == "lucidrains-rin-in256":
        assert difference == IN256_DIFFERENCE


def test_time_conditioning_is_where_the_difference_says():
    """The two time terms are the parameters lucidrains' time modules hold, less our time MLP."""
    peer, ours = build("lucidrains-rin-in256"), build("rin-in256")
    held = sum(
        p.numel()
        for name, p in peer.named_parameters()
        if "time_mlp" in name.split(".") or "time_cond" in name.split(".")
    )
    ours_held = sum(p.numel() for p in ours.time_embed.parameters())
    time_terms = [v for cause, v in IN256_DIFFERENCE.items() if cause.startswith("time")]
    assert held - ours_held == sum(time_terms)


@pytest.mark.parametrize("slug", sorted(MACS))
def test_macs_are_pinned_and_the_latent_compute_equals_ours(slug):
    peer, ours = macs(slug), macs(COUNTERPARTS[slug])
    assert (peer["macs_fwd"], ours["macs_fwd"]) == MACS[slug]
    # Same latent tokens (ours counts the time and class tokens among them), widths, 4x MLPs.
    assert peer["macs_fwd_by_group"]["compute"] == ours["macs_fwd_by_group"]["compute"]


def test_the_256px_mac_difference_is_accounted_for():
    cfg, ours_cfg = registry.config("lucidrains-rin-in256"), registry.config("rin-in256")
    peer, ours = macs("lucidrains-rin-in256"), macs("rin-in256")
    N, M, D, L = cfg.num_tokens, cfg.num_latents, cfg.interface_dim, cfg.latent_dim
    b, k, side, time_width = cfg.blocks, cfg.latent_depth, cfg.resolution // cfg.patch_size, 4 * D
    wider = cfg.heads * cfg.head_dim - ours_cfg.cross_dim
    # Read and write alike: queries, keys/values, output projection and Q K^T, A V, wider.
    cross = b * wider * (2 * M * L + 2 * N * D + 2 * M * N)
    other = (
        N * cfg.in_channels * cfg.patch_size**2 * D  # the zero x self-conditioning half
        + 2 * side * (D // 2 + (D // 2) ** 2 + (D // 2) * D)  # axial position MLPs
        + (17 * time_width + time_width**2)  # time MLP ...
        - ((L // 4) * L + L * L)  # ... less ours
    )
    expected = {
        "read": cross,
        "write": cross,
        "compute": 0,
        "time_conditioning": b * ((k + 1) * 2 * L + 2 * D) * time_width,
        "peg": b * N * D * 9,
        "other": other,
    }
    groups, ours_groups = peer["macs_fwd_by_group"], ours["macs_fwd_by_group"]
    assert {g: groups[g] - ours_groups.get(g, 0) for g in groups} == expected
    assert sum(expected.values()) == peer["macs_fwd"] - ours["macs_fwd"]


# --- the interface -------------------------------------------------------------------------------


def test_tiny_forward_backward_trains_all_but_the_last_latent_norm(one_cpu_thread):
    model = build("lucidrains-rin-tiny", "cpu")
    cfg = model.cfg
    x, t, _ = registry.example_inputs(cfg, 2)
    out, state = model(x, t)
    out, _ = model(x, t, None, state.detach())
    out.square().mean().backward()
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen == [f"net.blocks.{cfg.blocks - 1}.latent_final_norm.gamma"]
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_the_latents_are_the_state_carried_from_call_to_call(one_cpu_thread):
    model = build("lucidrains-rin-tiny", "cpu").eval()
    cfg = model.cfg
    x, t, _ = registry.example_inputs(cfg, 2)
    with torch.no_grad():
        # The self-conditioning LayerNorm's scale starts at zero: the state would change nothing.
        model.net.init_self_cond_latents[-1].gamma.fill_(1.0)
        first, state = model(x, t)
        second, state2 = model(x, t, None, state)
        zeros, _ = model(x, t, None, torch.zeros_like(state))
    assert state.shape == state2.shape == (2, cfg.num_latents, cfg.latent_dim)
    assert not torch.allclose(first, second)  # the state is read
    # lucidrains skips self-conditioning without a state; a state of zeros still adds LN(MLP(0)).
    assert not torch.allclose(first, zeros)


def test_the_time_token_option_keeps_the_state_shape():
    cfg = dataclasses.replace(registry.config("lucidrains-rin-tiny"), time_token=True)
    with torch.device("meta"):
        model = FAMILY.model(cfg)
        _, state = model(torch.empty(2, *cfg.input_shape), torch.rand(2))
    assert state.shape == (2, cfg.num_latents, cfg.latent_dim)
    assert not any("time_cond" in name for name, _ in model.named_parameters())


def test_interface_self_attention_has_its_own_flop_group():
    cfg = dataclasses.replace(registry.config("lucidrains-rin-tiny"), interface_self_attention=True)
    result = count_flops(
        lambda: FAMILY.model(cfg),
        lambda model: FAMILY.make_inputs(cfg, 1, "meta"),
        group=FAMILY.flop_grouping,
        needs=FAMILY.diffusion_needs(cfg),
    )
    assert result["macs_fwd_by_group"]["interface_self_attention"] > 0


def test_t_reaches_the_network_unchanged():
    """lucidrains' GaussianDiffusion hands the network the time t itself (1 = noise), as we do."""
    model = build("lucidrains-rin-tiny")
    seen = []
    model.net.time_mlp.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    t = torch.tensor([0.0, 1.0], device="meta")
    model(torch.empty(2, *model.cfg.input_shape, device="meta"), t)
    assert seen[0] is t


@pytest.mark.parametrize(
    ("schedule", "theirs"),
    [
        ("sigmoid@-3,3,1", rin_pytorch.rin_pytorch.sigmoid_schedule),
        ("linear", rin_pytorch.rin_pytorch.simple_linear_schedule),
    ],
)
def test_our_schedules_give_the_noise_levels_lucidrains_trains_at(schedule, theirs):
    """So t means the same noise level to the network under the harness as under his
    GaussianDiffusion (whose default is sigmoid with tau 1)."""
    t = torch.linspace(0, 1, 11)
    torch.testing.assert_close(noise_level(t, schedule), theirs(t))


def test_the_harness_trains_and_samples_it_with_self_conditioning(one_cpu_thread):
    model = build("lucidrains-rin-tiny", "cpu")
    cfg = model.cfg
    needs = registry.diffusion_needs(cfg)
    assert needs.recurrent_state and resolve_schedule(needs, None) == cfg.noise_schedule
    x0, _, _ = registry.example_inputs(cfg, 2)
    training_loss(model, x0, needs=needs, generator=torch.Generator().manual_seed(0)).backward()
    seeded = torch.Generator().manual_seed(0)
    images = sample(model.eval(), cfg, 2, needs=needs, steps=2, generator=seeded)
    assert images.shape == (2, *cfg.input_shape) and torch.isfinite(images).all()


# --- errors --------------------------------------------------------------------------------------


def test_labels_and_classes_are_refused():
    model = build("lucidrains-rin-tiny")
    x = torch.empty(2, *model.cfg.input_shape)
    with pytest.raises(ValueError, match="unconditional model"):
        model(x, torch.rand(2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="num_classes must be 0"):
        LucidrainsRINConfig(num_classes=1000)


def test_shapes_and_resolutions_are_checked():
    model = build("lucidrains-rin-tiny")
    cfg = model.cfg
    with pytest.raises(ValueError, match="state must have shape"):
        model(torch.empty(2, *cfg.input_shape), torch.rand(2), None, torch.empty(2, 3, 4))
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.empty(2, 3, 8, 8), torch.rand(2))
    with pytest.raises(ValueError, match="lucidrains-rin-in256: .*multiples of 8"):
        registry.config("lucidrains-rin-in256", 100)
    assert registry.config("lucidrains-rin-in256", 512).num_tokens == 64 * 64


def test_from_rin_refuses_video():
    with pytest.raises(ValueError, match="images, not video"):
        from_rin(registry.config("rin-video-tiny"))


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rin_pytorch", None)  # import now fails as if absent
    with pytest.raises(MissingPackage, match=r"pip install 'rinbench\[peers\]'"):
        FAMILY.model(registry.config("lucidrains-rin-tiny"))
