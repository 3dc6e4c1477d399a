"""Every registry entry obeys the one backbone interface (DESIGN.md "One backbone interface")."""

import contextlib
import dataclasses
import io
import subprocess
import sys

import pytest
import torch

from bench import registry
from bench.family import Source

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
    if registry.diffusion_needs(cfg).recurrent_state:  # RIN: the latents carry to the next call
        assert state is not None and state2.shape == state.shape
    else:
        assert state is None and state2 is None


def test_every_family_has_a_tiny_preset():
    assert {registry.get(s).family for s in TINY} == {f.name for f in registry.FAMILIES}
    assert {f.name for f in registry.FAMILIES} >= {"rin", "adm", "dit", "vdm"}


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


# --- families declare themselves (bench/family.py) -----------------------------------------------------


@pytest.mark.parametrize("family", registry.FAMILIES, ids=lambda f: f.name)
def test_every_family_declares_everything(family):
    assert family.name and family.description
    assert issubclass(family.model, torch.nn.Module)
    assert dataclasses.is_dataclass(family.config) and family.config.__dataclass_params__.frozen
    fields = {f.name for f in dataclasses.fields(family.config)}
    assert {"name", "resolution", "in_channels", "num_classes"} <= fields
    assert isinstance(getattr(family.config, "input_shape", None), property)
    assert f"{family.name}-tiny" in family.presets
    for slug, preset in family.presets.items():
        assert slug.startswith(f"{family.name}-") and slug == slug.lower()
        assert isinstance(preset.source, Source) and preset.source.where
        assert registry.get(slug).declared_by is family
    assert callable(family.flop_grouping) and callable(family.make_inputs)


@pytest.mark.parametrize("family", registry.FAMILIES, ids=lambda f: f.name)
def test_family_inputs_fit_its_tiny_model(family):
    cfg = registry.config(f"{family.name}-tiny")
    x, t, y = family.make_inputs(cfg, 3, "cpu", torch.float64)
    assert x.shape == (3, *cfg.input_shape) and x.dtype == torch.float64 and t.shape == (3,)
    assert (y is None) == (cfg.num_classes == 0)
    assert registry.family_of(cfg) is family


@pytest.mark.parametrize("family", registry.FAMILIES, ids=lambda f: f.name)
def test_flop_grouping_names_the_models_modules(family):
    """Most of the tiny model's MACs land in named groups, not in "other": the grouping knows the
    module names the model uses (a renamed submodule would fall through to "other")."""
    from bench.measure.flops import count_flops

    slug = f"{family.name}-tiny"
    cfg = registry.config(slug)
    result = count_flops(
        lambda: family.model(cfg),
        lambda model: family.make_inputs(cfg, 1, "meta", torch.float32),
        group=family.flop_grouping,
        needs=family.diffusion_needs(cfg),
    )
    groups = result["macs_fwd_by_group"]
    assert len(groups) >= 2
    assert groups.get("other", 0) < 0.5 * result["macs_fwd"], groups
    with torch.device("meta"):
        names = [name for name, _ in family.model(cfg).named_modules()]
    assert all(isinstance(family.flop_grouping(name, None), str) for name in names)


def test_family_names_and_config_classes_are_unique():
    names = [family.name for family in registry.FAMILIES]
    assert len(set(names)) == len(names)
    assert len({family.config for family in registry.FAMILIES}) == len(names)


def test_example_inputs_for_an_unknown_config_names_the_known_ones():
    @dataclasses.dataclass(frozen=True)
    class Other:
        input_shape: tuple = (3, 8, 8)
        num_classes: int = 0

    with pytest.raises(TypeError, match="no family declares Other; known configs: .*RINConfig"):
        registry.example_inputs(Other(), 1)


def test_a_source_is_one_of_the_known_kinds_and_reads_back_as_text():
    source = Source("paper text", "Jabri et al. 2023, p. 5", "patch 4 for 64x64")
    assert str(source) == "paper text: Jabri et al. 2023, p. 5; patch 4 for 64x64"
    assert Source.from_text(str(source)).kind == "paper text"
    assert str(Source("test", "CPU tests")) == "test: CPU tests"
    with pytest.raises(ValueError, match="unknown source kind 'paper'; known: 'paper text'"):
        Source("paper", "Jabri et al. 2023")
    entry = registry.get("rin-in256")
    assert entry.source == str(entry.source_info) and entry.source_kind == "reconstructed"


def test_the_registry_imports_none_of_the_peers_packages():
    """Peers import their package when a model is built (bench.family.require), so rinbench
    starts as fast without them and lists them where they are missing."""
    packages = sorted({m for family in registry.FAMILIES for m in family.requires})
    code = (
        "import sys, bench.registry; "
        f"loaded = [m for m in {packages!r} if m in sys.modules]; assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_declaring_a_family_loads_no_torch():
    code = (
        "import sys, bench.family; assert 'torch' not in sys.modules, 'bench.family loaded torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_peer_package_is_one_line_with_the_install_command(tmp_path, monkeypatch):
    from bench.cli import one_line_error
    from bench.family import MissingPackage, require

    with pytest.raises(MissingPackage) as missing:
        require("no_such_peer_package", "peers")
    line = "no_such_peer_package is not installed: python -m pip install 'rinbench[peers]'"
    assert str(missing.value) == line and one_line_error(missing.value) == line
    # A package that is there but broken keeps its own error: ours would hide the cause.
    (tmp_path / "broken_peer.py").write_text("import no_such_dependency_of_it\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_of_it"):
        require("broken_peer", "peers")


@pytest.mark.parametrize(
    "family", [f for f in registry.FAMILIES if f.peer_of], ids=lambda f: f.name
)
def test_a_peer_family_names_its_packages_extra_and_counterparts(family):
    assert family.requires and family.extra == "peers" and family.missing() == ()
    assert family.peer_of in {f.name for f in registry.FAMILIES if not f.peer_of}
    for slug, preset in family.presets.items():
        counterpart = registry.get(preset.counterpart)
        assert counterpart.family == family.peer_of, slug
        assert counterpart.config.resolution == preset.config.resolution, slug
