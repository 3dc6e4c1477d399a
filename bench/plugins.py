"""Families from other packages: a backbone of anyone's, declared without editing rinbench.

A package declares its families under the entry-point group GROUP, in its pyproject.toml:

    [project.entry-points."rinbench.families"]
    dit-official = "my_adapters.dit:FAMILY"

The object named is a `bench.family.Family`, a sequence of them, or a function of no arguments that
returns either. bench.registry gathers them beside the built-in families when it is imported, in this
process and in every worker process alike (they see the same installed packages). docs/peers.md
walks through one adapter.

A plugin that cannot be loaded (its module is missing or raises, it names no Family, a slug or a
config class clashes with another family's) does not stop rinbench: `discover` returns its families
apart from the reason, one line naming the entry point and the package it came from, and the
commands that resolve presets refuse to run while such a reason stands (`rinbench list` shows it).
Standard library only; the plugin's own imports are its business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from bench.family import Family

GROUP = "rinbench.families"


@dataclass(frozen=True)
class Plugin:
    """One entry point's families, and the package that declared it."""

    name: str  # the entry point's name
    package: str  # the distribution that declares it
    families: tuple[Family, ...]


def discover(entry_points: Iterable | None = None) -> tuple[tuple[Plugin, ...], tuple[str, ...]]:
    """(the plugins that loaded, one line per plugin that did not). `entry_points` defaults to the
    installed ones of GROUP."""
    found = metadata.entry_points(group=GROUP) if entry_points is None else entry_points
    plugins, problems = [], []
    for entry in sorted(found, key=lambda e: e.name):
        package = entry.dist.name if getattr(entry, "dist", None) is not None else "?"
        where = f"plugin {entry.name!r} ({entry.value}) from package {package!r}"
        try:
            declared = entry.load()
            if callable(declared) and not isinstance(declared, Family | type):
                declared = declared()
        except Exception as err:  # any failure of someone else's code is a reason, not a crash
            problems.append(f"{where} failed to load: {type(err).__name__}: {_line(err)}")
            continue
        families = (declared,) if isinstance(declared, Family) else declared
        if (
            not isinstance(families, list | tuple)
            or not families
            or not all(isinstance(f, Family) for f in families)
        ):
            problems.append(
                f"{where} gives {type(declared).__name__}, not a bench.family.Family (or a list "
                "of them)"
            )
            continue
        plugins.append(Plugin(entry.name, package, tuple(families)))
    return tuple(plugins), tuple(problems)


def _line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:299] + "…"
