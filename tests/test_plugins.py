"""Families from other packages (bench/plugins.py): a stand-in package declares one through the entry
point group "rinbench.families", and rinbench lists it, counts it and times it as its own; a plugin
that cannot be loaded is one line naming its package, and exit 2.

The stand-in is installed the way pip leaves a package: its module beside a `*.dist-info` folder
whose entry_points.txt names the family, on a folder that PYTHONPATH puts on sys.path, so that
importlib.metadata finds it in the CLI's process and in the worker processes alike.
"""

import dataclasses
import json
import sys
from importlib import metadata
from pathlib import Path

import pytest
from helpers import rinbench

from bench import plugins
from bench.family import Family

STAND_IN = '''
"""A stand-in for someone's own backbone: the DiT of rinbench under another config class."""
import dataclasses

from baselines.dit import DiT, DiTConfig
from baselines.families import by_dit_block_kind
from bench.family import Family, Preset, Source, gaussian_inputs, require


@dataclasses.dataclass(frozen=True)
class StandInConfig(DiTConfig):
    pass


@dataclasses.dataclass(frozen=True)
class AbsentConfig(DiTConfig):
    pass


ONE_BLOCK = dict(resolution=32, num_classes=4, in_channels=3, latent_factor=1, patch_size=4,
                 depth=1, hidden_size=32, num_heads=2)


class AbsentPeer(DiT):
    """A peer whose package is not installed: it says so when built."""

    def __init__(self, cfg):
        require("no_such_peer_package", "peers")


FAMILY = Family(
    name="standin",
    description="a stand-in plugin family (tests/test_plugins.py)",
    model=DiT,
    config=StandInConfig,
    presets={
        "standin-tiny": Preset(
            StandInConfig(**ONE_BLOCK),
            Source("test", "tests/test_plugins.py", "a one-block DiT on 32 px pixels"),
        )
    },
    flop_grouping=by_dit_block_kind,
    make_inputs=gaussian_inputs,
)

# The same declaration as a peer of DiT whose package is missing.
ABSENT = dataclasses.replace(
    FAMILY,
    name="absent",
    description="a peer family without its package (tests/test_plugins.py)",
    model=AbsentPeer,
    config=AbsentConfig,
    presets={"absent-tiny": Preset(AbsentConfig(**ONE_BLOCK), Source(
        "test", "tests/test_plugins.py", "the stand-in's config"), counterpart="dit-tiny")},
    requires=("no_such_peer_package",),
    extra="peers",
    peer_of="dit",
)

FAMILIES = [FAMILY, ABSENT]
'''


def install(folder: Path, package: str, module_text: str, target: str) -> Path:
    """A package `package` whose entry point 'standin' names `target`, as pip would leave it."""
    module = target.split(":")[0]
    (folder / f"{module}.py").write_text(module_text)
    dist = folder / f"{package.replace('-', '_')}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{plugins.GROUP}]\nstandin = {target}\n")
    return folder


@pytest.mark.slow
def test_a_plugin_family_is_listed_counted_and_timed_like_a_built_in_one(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install(site, "stand-in-family", STAND_IN, "stand_in:FAMILIES")
    listed = rinbench("list", cwd=tmp_path, path=site)
    assert listed.returncode == 0, listed.stderr
    assert "standin-tiny" in listed.stdout
    assert "standin: standin, absent (package stand-in-family)" in listed.stdout
    # A peer without its package: listed with how to install it, never built.
    assert "absent-tiny" in listed.stdout and "not installed" in listed.stdout
    assert "python -m pip install 'rinbench[peers]'" in listed.stdout
    suite = tmp_path / "plugin.toml"
    suite.write_text(
        "[settings]\nwarmup = 0\nmin_repeats = 2\nmin_seconds = 0.0\nmax_seconds = 0.2\n"
        '[[grid]]\npresets = ["standin-tiny", "dit-tiny", "absent-tiny", "adm-tiny"]\n'
        'phases = ["params", "flops", "forward"]\n'
        '[[grid]]\npresets = ["standin-tiny"]\nphases = ["train_step", "sample"]\n'
        '[pairs]\npresets = [["dit-tiny", "standin-tiny"], ["absent-tiny", "adm-tiny"]]\n'
        "rounds = 2\n"
    )
    ran = rinbench("run", str(suite), "--out", str(tmp_path / "out"), "--no-progress",
                   cwd=tmp_path, path=site)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "3 cells of absent will end unsupported: no_such_peer_package not installed" in (
        ran.stderr
    )
    (run_file,) = (tmp_path / "out" / "plugin").glob("*.jsonl")
    records = [json.loads(line) for line in run_file.read_text().splitlines()]
    mine = {r["cell"]["phase"]: r for r in records if r["cell"]["preset"] == "standin-tiny"}
    assert {phase: r["status"] for phase, r in mine.items()} == dict.fromkeys(
        ("params", "flops", "forward", "train_step", "sample"), "ok"
    )
    assert mine["params"]["model"]["family"] == "standin"
    assert mine["forward"]["details"]["pair"]["with"].startswith("dit-tiny.")
    absent = [r for r in records if r["cell"]["preset"] == "absent-tiny"]
    assert {r["status"] for r in absent} == {"unsupported"} and len(absent) == 3
    assert all(
        r["error"] == "no_such_peer_package is not installed: python -m pip install "
        "'rinbench[peers]'"
        for r in absent
    )
    assert "Traceback" not in ran.stderr
    (partner,) = [r for r in records if r["cell"]["id"].startswith("adm-tiny.r32.b1.fp32.forward")]
    assert partner["status"] == "ok"  # the side whose peer could not be built went on alone
    assert partner["details"]["pair"]["partner_ended"].startswith("unsupported: no_such_peer")


def test_a_plugin_that_cannot_be_loaded_stops_list_and_run_with_one_line(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install(site, "bad-plugin", "raise ImportError('no module named dit_checkout')", "bad:FAMILY")
    for args in (("list",), ("run", "quick", "--dry-run")):
        done = rinbench(*args, cwd=tmp_path, path=site)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip().splitlines()[-1] == (
            "rinbench: error: plugin 'standin' (bad:FAMILY) from package 'bad-plugin' failed to load: "
            "ImportError: no module named dit_checkout"
        )
        assert "Traceback" not in done.stderr
        if args == ("list",):  # declared but not loaded: not "none installed"
            assert "Plugin families: none loaded (the errors below say why)" in done.stdout


@pytest.mark.parametrize(
    ("declared", "says"),
    [
        ("raise", "failed to load: ValueError: broken on purpose"),
        (42, "gives int, not a bench.family.Family (or a list of them)"),
        ([], "gives list, not a bench.family.Family (or a list of them)"),
    ],
)
def test_what_a_plugin_gives_is_checked(monkeypatch, declared, says):
    module = type(sys)("declares_badly")

    def broken():
        raise ValueError("broken on purpose")

    module.FAMILY = broken if declared == "raise" else declared
    monkeypatch.setitem(sys.modules, "declares_badly", module)
    entry = metadata.EntryPoint("mine", "declares_badly:FAMILY", plugins.GROUP)
    found, (problem,) = plugins.discover([entry])
    assert found == () and problem.startswith("plugin 'mine' (declares_badly:FAMILY)")
    assert problem.endswith(says)


def test_a_plugin_that_clashes_with_a_built_in_family_is_left_out():
    from bench import registry

    dit = registry.get("dit-tiny").declared_by
    again = plugins.Plugin("again", "copycat", (dit,))
    families, taken, (problem,) = registry._with_plugins(registry.BUILT_IN, ((again,), ()))
    assert families == registry.BUILT_IN and taken == ()
    assert (
        problem
        == "plugin 'again' from package 'copycat': family name 'dit' is taken by another family"
    )


@dataclasses.dataclass
class Unfrozen:
    name: str = ""
    resolution: int = 32
    in_channels: int = 3
    num_classes: int = 0


@dataclasses.dataclass(frozen=True)
class Nameless:
    resolution: int = 32
    in_channels: int = 3
    num_classes: int = 0


@dataclasses.dataclass(frozen=True)
class Shapeless:
    name: str = ""
    resolution: int = 32
    in_channels: int = 3
    num_classes: int = 0


class Shaped(Shapeless):
    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.resolution, self.resolution)


@pytest.mark.parametrize(
    ("config", "slug", "says"),
    [
        (Unfrozen, "mine-x", "family 'mine': its config <class "),
        (Nameless, "mine-x", "its config Nameless lacks the fields name (the registry sets"),
        (Shapeless, "mine-x", "its config Shapeless needs an input_shape property"),
        (Shaped, "other-x", "preset slug 'other-x' does not start with 'mine-'"),
    ],
)
def test_a_plugin_family_is_held_to_what_the_registry_relies_on(config, slug, says):
    """Left out with one line, where it would otherwise break every command later (a config
    without `name` made the registry's replace(name=slug) raise TypeError in every process)."""
    from bench import registry
    from bench.family import Preset, Source

    dit = registry.get("dit-tiny").declared_by
    presets = {slug: Preset(config(), Source("test", "tests/test_plugins.py"))}
    mine = dataclasses.replace(dit, name="mine", config=config, presets=presets)
    plugin = plugins.Plugin("mine", "my-package", (mine,))
    families, taken, (problem,) = registry._with_plugins(registry.BUILT_IN, ((plugin,), ()))
    assert taken == () and families == registry.BUILT_IN
    assert (
        problem.startswith("plugin 'mine' from package 'my-package': family ") and says in problem
    )
    if config is Shaped:  # the same family with its slug mended is taken
        fine = dataclasses.replace(mine, presets={"mine-x": presets[slug]})
        plugin = plugins.Plugin("mine", "my-package", (fine,))
        assert registry._with_plugins(registry.BUILT_IN, ((plugin,), ()))[1] == (plugin,)


def test_discover_takes_a_family_a_list_or_a_function_of_them(monkeypatch):
    from bench import registry

    dit = registry.get("dit-tiny").declared_by
    module = type(sys)("declares")
    module.ONE, module.SEVERAL, module.LATER = dit, [dit], lambda: (dit,)
    monkeypatch.setitem(sys.modules, "declares", module)
    entries = [
        metadata.EntryPoint(name, f"declares:{attr}", plugins.GROUP)
        for name, attr in (("one", "ONE"), ("several", "SEVERAL"), ("later", "LATER"))
    ]
    found, problems = plugins.discover(entries)
    assert problems == ()
    assert [p.name for p in found] == ["later", "one", "several"]
    assert all(isinstance(f, Family) for p in found for f in p.families)
    assert {p.package for p in found} == {"?"}  # not from an installed distribution


# --- rinbench's own families come the same way ---------------------------------------------------


def test_the_built_in_families_are_the_entry_points_pyproject_declares():
    from bench import registry

    declared = plugins.own_entry_points()
    assert [family.name for family in registry.BUILT_IN] == [entry.name for entry in declared]
    assert {"rin", "adm", "dit", "vdm"} <= {entry.name for entry in declared}
    assert registry.FAMILIES[: len(registry.BUILT_IN)] == registry.BUILT_IN


def test_a_new_built_in_family_is_one_module_and_one_line_of_pyproject(tmp_path, monkeypatch):
    """The stand-in as a family of rinbench's own: its module, and its line in the table."""
    from bench import registry

    module = type(sys)("one_more_family")
    monkeypatch.setitem(sys.modules, "one_more_family", module)
    exec(STAND_IN, module.__dict__)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "rinbench"\n'
        f'[project.entry-points."{plugins.GROUP}"]\n'
        'dit = "baselines.families:DIT"\nstandin = "one_more_family:FAMILY"\n'
    )
    families = registry.built_in(plugins.own_entry_points(pyproject))
    assert [family.name for family in families] == ["dit", "standin"]  # sorted by entry point
    entries = registry._entries(families)
    assert entries["standin-tiny"].declared_by is module.FAMILY and "dit-tiny" in entries
    # A line naming no family is rinbench's own bug: it raises instead of becoming a reason.
    pyproject.write_text(pyproject.read_text() + 'broken = "one_more_family:ONE_BLOCK"\n')
    with pytest.raises(plugins.NotAFamily, match="gives dict"):
        registry.built_in(plugins.own_entry_points(pyproject))


def test_an_installed_rinbench_declares_its_families_in_its_metadata(tmp_path):
    """Without its pyproject.toml (a wheel), the installed distribution's entry points are the
    built-in families, and never taken for plugins."""
    dist = tmp_path / "rinbench-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rinbench\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{plugins.GROUP}]\nrin = rin.family:FAMILY\ndit = baselines.families:DIT\n"
    )
    installed = list(metadata.distributions(path=[str(tmp_path)]))[0].entry_points
    other_project = tmp_path / "pyproject.toml"
    other_project.write_text('[project]\nname = "someone-else"\n')
    for pyproject in (tmp_path / "absent.toml", other_project):
        own = plugins.own_entry_points(pyproject, installed)
        assert [entry.name for entry in own] == ["dit", "rin"]
    assert plugins.discover(installed) == ((), ())
    with pytest.raises(LookupError, match="declared nowhere"):
        plugins.own_entry_points(tmp_path / "absent.toml", [])
