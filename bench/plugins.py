"""How families are found: rinbench's own and anyone's, through one entry-point group, GROUP.

A package declares its families under GROUP, in its pyproject.toml:

    [project.entry-points."rinbench.families"]
    dit-official = "my_adapters.dit:FAMILY"

The object named is a `bench.family.Family`, a sequence of them, or a function of no arguments that
returns either. rinbench declares its built-in families the same way, in its own pyproject.toml, so
that adding one is its module plus one line there. bench.registry gathers them all when it is
imported, in this process and in every worker process alike (they see the same installed packages).
docs/peers.md walks through one adapter.

rinbench's own entry points (`own_entry_points`) are read from the pyproject.toml beside the
package where there is one, a checkout run from PYTHONPATH or installed editable (the file is never
older than the metadata pip built from it, and a checkout that was never installed has no
metadata), and from the installed distribution's metadata otherwise. A built-in family that cannot
be loaded is rinbench's bug and raises. Another package's (`discover`) that cannot be loaded (its
module is missing or raises, it names no Family, a family breaks what the registry relies on
(bench.registry._check_declaration), or a name, a slug or a config class clashes with another
family's) does not stop rinbench: `discover` returns its families apart from the reason, one line
naming the entry point and the package it came from, and the commands that resolve presets refuse
to run while such a reason stands (`rinbench list` shows it). Standard library only; a plugin's own
imports are its business.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.family import Family

GROUP = "rinbench.families"
OWN_DISTRIBUTION = "rinbench"
# rinbench's pyproject.toml in a checkout (the folder above the bench package); absent in a wheel.
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


class NotAFamily(TypeError):
    """An entry point names something that is not a Family, a sequence of them or a function
    returning either."""


@dataclass(frozen=True)
class Plugin:
    """One entry point's families, and the package that declared it."""

    name: str  # the entry point's name
    package: str  # the distribution that declares it
    families: tuple[Family, ...]


def load(entry: metadata.EntryPoint) -> tuple[Family, ...]:
    """The families an entry point names. Raises what importing its module raises, and NotAFamily
    for an object that declares no families."""
    declared = entry.load()
    if callable(declared) and not isinstance(declared, Family | type):
        declared = declared()
    families = (declared,) if isinstance(declared, Family) else declared
    if (
        not isinstance(families, list | tuple)
        or not families
        or not all(isinstance(f, Family) for f in families)
    ):
        raise NotAFamily(
            f"gives {type(declared).__name__}, not a bench.family.Family (or a list of them)"
        )
    return tuple(families)


def own_entry_points(
    pyproject: Path = PYPROJECT, installed: Iterable | None = None
) -> tuple[metadata.EntryPoint, ...]:
    """rinbench's own families' entry points, sorted by name (installed metadata lists them sorted,
    so a checkout and a wheel agree): `pyproject`'s table of GROUP where that file is rinbench's,
    else those of `installed` (default: the installed ones of GROUP) that rinbench's distribution
    declares. LookupError where neither declares any."""
    declared = _declared_in(pyproject) if pyproject.is_file() else None
    if declared is not None:
        return tuple(sorted(declared, key=lambda entry: entry.name))
    found = metadata.entry_points(group=GROUP) if installed is None else installed
    own = tuple(entry for entry in found if entry.group == GROUP and _is_own(entry))
    if not own:
        raise LookupError(
            f"rinbench's families are declared nowhere: no {pyproject} and no installed "
            f"distribution {OWN_DISTRIBUTION!r} with entry points {GROUP!r} "
            "(python -m pip install -e . in the checkout)"
        )
    return tuple(sorted(own, key=lambda entry: entry.name))


def _declared_in(pyproject: Path) -> tuple[metadata.EntryPoint, ...] | None:
    """The entry points of GROUP that a pyproject.toml of rinbench's declares; None for another
    project's file."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    if project.get("name") != OWN_DISTRIBUTION:
        return None
    table = project.get("entry-points", {}).get(GROUP, {})
    return tuple(metadata.EntryPoint(name, value, GROUP) for name, value in table.items())


def _is_own(entry: metadata.EntryPoint) -> bool:
    dist = getattr(entry, "dist", None)
    return dist is not None and dist.name.replace("_", "-").lower() == OWN_DISTRIBUTION


def discover(entry_points: Iterable | None = None) -> tuple[tuple[Plugin, ...], tuple[str, ...]]:
    """(the plugins that loaded, one line per plugin that did not). `entry_points` defaults to the
    installed ones of GROUP; rinbench's own are left to `own_entry_points`."""
    found = metadata.entry_points(group=GROUP) if entry_points is None else entry_points
    plugins, problems = [], []
    for entry in sorted((e for e in found if not _is_own(e)), key=lambda e: e.name):
        package = entry.dist.name if getattr(entry, "dist", None) is not None else "?"
        where = f"plugin {entry.name!r} ({entry.value}) from package {package!r}"
        try:
            families = load(entry)
        except NotAFamily as err:
            problems.append(f"{where} {err}")
            continue
        except Exception as err:  # any failure of someone else's code is a reason, not a crash
            problems.append(f"{where} failed to load: {type(err).__name__}: {_line(err)}")
            continue
        plugins.append(Plugin(entry.name, package, families))
    return tuple(plugins), tuple(problems)


def _line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:299] + "…"
