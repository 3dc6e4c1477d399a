"""The one table of backbones: slug -> family, config, model, source, gathered from the families.

Each family declares itself (bench/family.py: model class, config class, presets with their sources,
FLOP grouping, input maker, what the diffusion process needs) in its own module, and every family is
found one way: an entry point of the group "rinbench.families" (bench/plugins.py). rinbench's own
are the ones its pyproject.toml declares (BUILT_IN, sorted by name), so adding a backbone is its
module plus one line there; from a package of one's own, the same line in that package's
pyproject.toml (docs/peers.md): its families join FAMILIES, named in PLUGINS with their package; a
plugin that cannot be loaded or clashes with another family leaves its reason in PLUGIN_PROBLEMS
instead. This module imports no family by name.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench import plugins
from bench.family import SOURCE_KINDS as SOURCE_KINDS  # re-exported: the kinds a source may have
from bench.family import DiffusionNeeds, Family, Grouping, Source


def built_in(entry_points: tuple) -> tuple[Family, ...]:
    """The families rinbench's own entry points name (plugins.own_entry_points), in their order.
    One that cannot be loaded is a bug of rinbench's, not a plugin's: its error propagates."""
    return tuple(family for entry in entry_points for family in plugins.load(entry))


BUILT_IN: tuple[Family, ...] = built_in(plugins.own_entry_points())


@dataclass(frozen=True)
class Entry:
    slug: str
    declared_by: Family
    config: Any  # the family's frozen config dataclass, with `name` set to the slug
    source_info: Source

    @property
    def family(self) -> str:
        """The family's name: "rin" | "adm" | "dit" | "vdm" (the 3-D U-Net of Video Diffusion Models)."""
        return self.declared_by.name

    @property
    def builder(self) -> Callable[[Any], torch.nn.Module]:
        return self.declared_by.model

    @property
    def flop_grouping(self) -> Grouping:
        return self.declared_by.flop_grouping

    @property
    def source(self) -> str:
        """The one-line form records carry: "<kind>: <where>; <note>"."""
        return str(self.source_info)

    @property
    def source_kind(self) -> str:
        return self.source_info.kind


def _entries(families: tuple[Family, ...]) -> dict[str, Entry]:
    table: dict[str, Entry] = {}
    for family in families:
        for slug, preset in family.presets.items():
            if slug in table:
                raise ValueError(f"preset slug {slug!r} is defined twice")
            config = dataclasses.replace(preset.config, name=slug)
            table[slug] = Entry(slug, family, config, preset.source)
    return table


def _by_config_type(families: tuple[Family, ...]) -> dict[type, Family]:
    by_type: dict[type, Family] = {}
    for family in families:
        if family.config in by_type:
            raise ValueError(
                f"families {by_type[family.config].name!r} and {family.name!r} share a config class"
            )
        by_type[family.config] = family
    return by_type


# What the registry and the harness rely on of a config: the slug goes into `name`; inputs are made
# from the rest.
CONFIG_FIELDS = ("name", "resolution", "in_channels", "num_classes")


def _check_declaration(family: Family, others: tuple[Family, ...]) -> None:
    """ValueError naming the first thing a plugin's family gets wrong that the registry relies on
    (tests/test_contract.py holds the built-in families to the same, and more)."""
    config = family.config
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)) or not (
        config.__dataclass_params__.frozen
    ):
        raise ValueError(f"family {family.name!r}: its config {config!r} is not a frozen dataclass")
    lacking = sorted(set(CONFIG_FIELDS) - {f.name for f in dataclasses.fields(config)})
    if lacking:
        raise ValueError(
            f"family {family.name!r}: its config {config.__name__} lacks the fields "
            f"{', '.join(lacking)} (the registry sets name to the slug)"
        )
    if not isinstance(getattr(config, "input_shape", None), property):
        raise ValueError(
            f"family {family.name!r}: its config {config.__name__} needs an input_shape property"
        )
    for slug in family.presets:
        if not slug.startswith(f"{family.name}-"):
            raise ValueError(
                f"family {family.name!r}: preset slug {slug!r} does not start with {family.name + '-'!r}"
            )
    if any(other.name == family.name for other in others):
        raise ValueError(f"family name {family.name!r} is taken by another family")


def _with_plugins(
    built_in: tuple[Family, ...], discovered: tuple | None = None
) -> tuple[tuple[Family, ...], tuple[plugins.Plugin, ...], tuple[str, ...]]:
    """The built-in families and those of the installed plugins (or of `discovered`, what
    plugins.discover returns) that load and clash with none: (families, the plugins taken, one
    line per plugin left out)."""
    found, problems = plugins.discover() if discovered is None else discovered
    families, taken, problems = list(built_in), [], list(problems)
    for plugin in found:
        try:
            for number, family in enumerate(plugin.families):
                _check_declaration(family, (*families, *plugin.families[:number]))
            _entries((*families, *plugin.families))
            _by_config_type((*families, *plugin.families))
        except ValueError as err:
            problems.append(f"plugin {plugin.name!r} from package {plugin.package!r}: {err}")
            continue
        families += plugin.families
        taken.append(plugin)
    return tuple(families), tuple(taken), tuple(problems)


FAMILIES, PLUGINS, PLUGIN_PROBLEMS = _with_plugins(BUILT_IN)
REGISTRY: dict[str, Entry] = _entries(FAMILIES)
_FAMILY_OF_CONFIG: dict[type, Family] = _by_config_type(FAMILIES)


def plugin_of(family: Family) -> plugins.Plugin | None:
    """The plugin that declared `family`, or None for a built-in one."""
    return next((p for p in PLUGINS if family in p.families), None)


def check_plugins() -> None:
    """Raise ValueError with the first plugin that could not be loaded (one line): commands that
    resolve presets refuse to run on a partial registry."""
    if PLUGIN_PROBLEMS:
        more = len(PLUGIN_PROBLEMS) - 1
        extra = f" (and {more} more: rinbench list)" if more else ""
        raise ValueError(PLUGIN_PROBLEMS[0] + extra)


def get(slug: str) -> Entry:
    """The registry entry for `slug`; an unknown slug lists the known ones."""
    try:
        return REGISTRY[slug]
    except KeyError:
        broken = f"; plugins not loaded: {'; '.join(PLUGIN_PROBLEMS)}" if PLUGIN_PROBLEMS else ""
        raise KeyError(f"unknown preset {slug!r}; {known_presets(slug)}{broken}") from None


def known_presets(wanted: str) -> str:
    """What an error about a name that is no preset says about the presets there are, short enough
    for one line (every slug would take 500 characters): the first of each family, to show how
    they are named, how many more there are, and the ones spelled most like `wanted`."""
    first_of_family: dict[str, str] = {}
    for slug in sorted(REGISTRY):
        first_of_family.setdefault(REGISTRY[slug].family, slug)
    text = f"known: {', '.join(sorted(first_of_family.values()))}"
    more = len(REGISTRY) - len(first_of_family)
    if more:
        text += f" and {more} more (`rinbench list` shows them all)"
    closest = difflib.get_close_matches(wanted, sorted(REGISTRY), n=3, cutoff=0.5)
    return text + (f"; closest: {', '.join(closest)}" if closest else "")


def config(slug: str, resolution: int | None = None) -> Any:
    """The preset's config, at another pixel resolution if given (ValueError if it cannot)."""
    entry = get(slug)
    if resolution is None or resolution == entry.config.resolution:
        return entry.config
    try:
        return dataclasses.replace(entry.config, resolution=resolution)
    except ValueError as err:
        raise ValueError(f"{slug}: {err}") from None


def build(slug: str, resolution: int | None = None) -> torch.nn.Module:
    """Build the backbone on the current default device (use `with torch.device("meta")`)."""
    cfg = config(slug, resolution)
    return get(slug).builder(cfg)


def slugs(family: str | None = None) -> list[str]:
    return sorted(s for s, e in REGISTRY.items() if family is None or e.family == family)


def family_of(cfg: Any) -> Family:
    """The family whose config class `cfg` is an instance of."""
    try:
        return _FAMILY_OF_CONFIG[type(cfg)]
    except KeyError:
        known = ", ".join(sorted(t.__name__ for t in _FAMILY_OF_CONFIG))
        raise TypeError(
            f"no family declares {type(cfg).__name__}; known configs: {known}"
        ) from None


def diffusion_needs(cfg: Any) -> DiffusionNeeds:
    """What bench.diffusion needs to know of cfg's model (its state, its schedule, its context
    frames), as the family that declares cfg's config class says."""
    return family_of(cfg).diffusion_needs(cfg)


def example_inputs(
    cfg: Any, batch: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, t, y) for any backbone: x (B, *input_shape), t (B,) in [0, 1], y (B,) int64 or None,
    made by the family that declares cfg's config class."""
    return family_of(cfg).make_inputs(cfg, batch, device, dtype)
