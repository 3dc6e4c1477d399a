"""Every registry entry obeys the one backbone interface (DESIGN.md "One backbone interface")."""

import contextlib
import io

import pytest
import torch

from bench import registry

SLUGS = registry.slugs()
TINY = [s for s in SLUGS if s.endswith("-tiny")]


def labels(cfg, batch, device="cpu"):
    return torch.zeros(batch, dtype=torch.long, device=device) if cfg.num_classes else None


@pytest.mark.parametrize("slug", SLUGS)
def test_builds_on_meta_silently_with_the_interface(slug):
    entry = registry.get(slug)
    cfg = entry.config
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), torch.device("meta"):
        model = registry.build(slug)
        x = torch.empty(2, *cfg.input_shape)
        out, state = model(x, torch.rand(2), labels(cfg, 2))
        out2, state2 = model(x, torch.rand(2), labels(cfg, 2), state)
    assert printed.getvalue() == ""
    assert model.cfg.name == slug and entry.source_kind in registry.SOURCE_KINDS
    assert out.shape == (2, cfg.out_channels, *cfg.input_shape[1:])
    assert out2.shape == out.shape
    if entry.family == "rin":
        assert state is not None and state2.shape == state.shape
    else:
        assert state is None and state2 is None


def test_every_family_has_a_tiny_preset():
    assert {registry.get(s).family for s in TINY} == {"rin", "adm", "dit", "vdm"}


@pytest.mark.parametrize("slug", TINY)
def test_tiny_forward_backward_on_cpu(slug):
    model = registry.build(slug)
    cfg = model.cfg
    x, t, y = registry.example_inputs(cfg, 2)
    out, state = model(x, t, y)
    out, _ = model(x, t, y, state.detach() if state is not None else None)
    out.float().square().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("slug", TINY)
def test_t_covers_the_closed_interval(slug):
    model = registry.build(slug).eval()
    cfg = model.cfg
    x = torch.randn(2, *cfg.input_shape)
    out, _ = model(x, torch.tensor([0.0, 1.0]), labels(cfg, 2))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("slug", TINY)
def test_seeded_builds_are_identical(slug):
    torch.manual_seed(3)
    a = registry.build(slug)
    torch.manual_seed(3)
    b = registry.build(slug)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb)


@pytest.mark.parametrize("family", ["rin", "adm", "dit"])
def test_builds_at_every_resolution_its_patching_allows(family):
    slug = {"rin": "rin-in256", "adm": "adm-in256", "dit": "dit-xl-2"}[family]
    for resolution in (64, 128, 256, 512, 1024):
        with torch.device("meta"):
            model = registry.build(slug, resolution)
            out, _ = model(
                torch.empty(1, *model.cfg.input_shape), torch.rand(1), labels(model.cfg, 1)
            )
        assert out.shape[-1] == model.cfg.input_shape[-1]


def test_unknown_slug_lists_known_ones():
    with pytest.raises(KeyError, match="known: .*rin-tiny"):
        registry.get("rin-huge")


def test_resolution_error_names_preset_and_valid_sizes():
    with pytest.raises(ValueError, match="rin-in256: .*multiples of 8"):
        registry.build("rin-in256", 100)
