"""`rinbench list`: the built-in suites and every preset with its parameter count and source."""

from __future__ import annotations

import sys

from bench.commands.common import add_command
from bench.errors import EXIT_OK, EXIT_USAGE, UsageError


def add_parser(commands) -> None:
    add_command(
        commands,
        "list",
        run,
        help="list the suites and the presets (with parameter counts and sources)",
        description="List the built-in suites (name, cells, purpose) and every model preset "
        "(family, native resolution, parameters counted on the meta device, source), and the "
        "families that installed packages declare as plugins (entry points of the group "
        "'rinbench.families', docs/peers.md), and the peer families (public implementations, with how "
        "to install them where they are not). Exit 2 when a plugin cannot be loaded, with the "
        "reason and the package it came from, or a preset's model cannot be built.",
    )


def run(args) -> int:
    from bench import registry

    _print_suites()
    width = max(len(family.name) for family in registry.FAMILIES)
    unbuildable = _print_presets(width)
    peers = [family for family in registry.FAMILIES if family.peer_of]
    if peers:
        print("Peer families (public implementations measured beside ours: rinbench run peers):")
        for family in peers:
            missing = family.missing()
            state = f"not installed: {family.install_hint}" if missing else "installed"
            print(
                f"  {family.name:<{width}} beside {family.peer_of:<4} {state}; {family.description}"
            )
        print()
    if registry.PLUGINS:
        print("Plugin families (entry points 'rinbench.families'):")
        for plugin in registry.PLUGINS:
            names = ", ".join(family.name for family in plugin.families)
            print(f"  {plugin.name}: {names} (package {plugin.package})")
    elif registry.PLUGIN_PROBLEMS:  # declared, but none loaded: the errors below say why
        print("Plugin families: none loaded (the errors below say why)")
    else:
        print(
            "Plugin families: none installed; a package of yours declares one under the entry "
            "point group 'rinbench.families' (docs/peers.md)"
        )
    problems = (*registry.PLUGIN_PROBLEMS, *unbuildable)
    for problem in problems:
        print(f"rinbench: error: {problem}", file=sys.stderr)
    return EXIT_USAGE if problems else EXIT_OK


def _print_suites() -> None:
    from bench import suites

    print("Suites (rinbench run SUITE):")
    names = suites.builtin_names()
    name_width = max(len(name) for name in names)
    for name in names:
        try:
            suite = suites.load(name)
        except suites.SuiteError as err:
            raise UsageError(f"built-in suite {name!r} is broken: {err}") from None
        devices = ", ".join(sorted({c.device for c in suite.cells}))
        print(
            f"  {name:<{name_width}} {len(suite.plan):>4} cells on {devices:<9} {suite.description}"
        )
    print()


def _print_presets(width: int) -> list[str]:
    """One line per preset, its parameters counted on the meta device; returns one line per preset
    whose model cannot be built."""
    import torch

    from bench import registry
    from bench.measure.flops import count_params

    print("Presets (parameters counted on the meta device):")
    print(f"  {'preset':<22} {'family':<{width}} {'res':>5} {'params':>15}  source")
    unbuildable = []
    for slug in registry.slugs():
        entry = registry.get(slug)
        if entry.declared_by.missing():
            params = "not installed"
        else:
            try:
                with torch.device("meta"):
                    params = f"{count_params(registry.build(slug))['params']:,}"
            except Exception as err:  # a plugin's model that imports what is not there, say
                params = "cannot build"
                reason = " ".join(f"{type(err).__name__}: {err}".split())
                unbuildable.append(f"preset {slug} cannot be built: {reason}")
        print(
            f"  {slug:<22} {entry.family:<{width}} {entry.config.resolution:>5} {params:>15}  "
            f"{entry.source}"
        )
    print()
    return unbuildable
