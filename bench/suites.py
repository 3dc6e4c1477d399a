"""Suites: TOML files that name the cells a sweep measures.

A suite file (`bench/suites/<name>.toml`, or any path a user passes) holds one or more `[[grid]]`
blocks. Each grid lists values per axis, and the suite is the Cartesian product of every grid:

    description = "what the suite is for, shown by `rinbench list`"
    timeout_s = 600                  # per subprocess cell; `rinbench run --timeout` overrides it
    devices = ["cpu"]                # any axis given at the top is the default for every grid

    [settings]                       # bench.measure.cell.Settings for every grid
    warmup = 1
    [settings.cuda]                  # overrides for the cells on one device
    warmup = 10

    [[grid]]
    presets = ["*", "rin-in256"]     # registry slugs or shell globs over them
    resolutions = ["native", 64]     # pixels per side; "native" is each preset's own resolution
    batches = [1]
    dtypes = ["fp32"]                # bench.cell.DTYPES
    phases = ["params", "flops"]     # bench.cell.PHASES
    modes = ["eager"]                # bench.cell.MODES
    [grid.settings]                  # overrides [settings] for this grid only
    min_repeats = 3
    [[grid.exclude]]                 # drop the combinations that match every key given
    preset = "*-tiny"

    [[exclude]]                      # excludes for every grid
    phase = "train_step"
    dtype = "fp16"

    [pairs]                          # optional: time these presets' cells as pairs (bench.paired)
    presets = [["adm-in256", "rin-in256"]]   # each timed cell of the first beside the second's
    rounds = 5                       # interleaved rounds, each a window of either side
    stop_within = 0.01               # optional: no more rounds once the factor's 95% interval
    min_rounds = 3                   # is within +-1%, after at least this many (default 3)

    [launcher]                       # optional: Slurm knobs for `run --launcher slurm`
    partition = "a100"               # (bench.launch.settings lists the keys)

Any axis but `devices` may instead be a table keyed by device, for a suite that runs anywhere with a
setup sized for each device (a GPU takes a batch of 32 in bf16 where a CPU takes one in fp32):

    batches = { cpu = [1], cuda = [32] }
    phases = { cpu = ["forward"], cuda = ["forward", "train_step"] }

Such a table names every device the grid runs on (the `--device` override included); the cells of
each device then come from its own values.

The settings are the fields of bench.measure.cell.Settings (its docstring says what each does): the
timing (warmup, warmup_steady_within, min_repeats, min_seconds, max_seconds, max_rel_iqr),
sampling (sample_steps, sampler), max_batch and max_batch_limit, compile_backend (a name that
torch.compiler.list_backends(exclude_tags=()) gives, debug ones such as "eager" included, checked as
the suite loads), cudnn_benchmark, profile, and the levers,
each off when its key is left out: channels_last (true/false), sdpa_backend ("flash",
"efficient", "cudnn", "math"), fused_optimizer (true/false), compile_mode ("default",
"reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"), checkpointing ("attention",
"blocks") and low_precision_norms (true/false; a bf16 or fp16 cell). Every record stores its cell's
settings, but a cell's id names what it computes, not how: a cell may not sit in two grids with
different settings, so a lever cell and its plain twin belong to two suites, each run into its own
results (the built-in `levers` suite holds lever twins of `gpu-check` cells).

Axes left out default to: resolutions ["native"], batches [1], dtypes ["fp32"], modes ["eager"],
devices ["cpu"]; `presets` and `phases` are required. A resolution a preset's architecture cannot
take is skipped with a note (Suite.notes), not an error: scaling grids list one range for all
families.

`[pairs]` names presets whose timings a ratio will compare (a wall-clock claim): every timed cell of
the first preset is paired with its twin, the cell of the second preset that is equal on every other
axis, and the two are timed interleaved over `rounds` rounds (bench.paired; docs/verdicts.md says
why), at the place of whichever of the two cells comes first in the suite's order. With
`stop_within` a pair plays fewer rounds where the spread is already small: none after `min_rounds`
(default 3) or more once the factor's 95% interval is within +-stop_within. A twin needs the
same settings; cells without a twin are timed alone, but a pair of presets with no twins at all is
an error.
`presets` may be a table keyed by device (`{ cuda = [[...]], cpu = [] }`), like the axes. Every other mistake raises SuiteError with one line naming the problem and what is valid.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bench import registry
from bench.cell import DEVICES, DTYPES, MODES, PHASES, Cell
from bench.launch.settings import LaunchError, check_table
from bench.measure.cell import Settings

DEFAULT_SUITE = "quick"
DEFAULT_TIMEOUT_S = 600.0

AXES = {  # TOML key -> Cell field
    "presets": "preset",
    "resolutions": "resolution",
    "batches": "batch",
    "dtypes": "dtype",
    "phases": "phase",
    "modes": "mode",
    "devices": "device",
}
AXIS_DEFAULTS = {
    "resolutions": ["native"],
    "batches": [1],
    "dtypes": ["fp32"],
    "modes": ["eager"],
    "devices": ["cpu"],
}
NATIVE = "native"
TOP_LEVEL_KEYS = (
    "description",
    "timeout_s",
    "settings",
    "grid",
    "exclude",
    "launcher",
    "pairs",
    *AXES,
)
PAIRS_KEYS = ("presets", "rounds", "stop_within", "min_rounds")
DEFAULT_ROUNDS = 5
# Rounds a pair plays before `stop_within` may end it: Student's t over fewer has dof 1 (12.7).
DEFAULT_MIN_ROUNDS = 3
# The phases a pair times side by side; counts are exact and need no partner.
PAIRED_PHASES = ("forward", "train_step", "sample")
GRID_KEYS = ("settings", "exclude", *AXES)


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


class SuiteError(ValueError):
    """A suite that cannot be loaded; the message is one line a user can act on."""


@dataclass(frozen=True)
class Planned:
    """One cell of a suite and the settings to measure it with."""

    cell: Cell
    settings: Settings


@dataclass(frozen=True)
class Pair:
    """Two cells timed interleaved, A B, B A, ... for `rounds` rounds (bench.paired): `first` is
    the claim's baseline (the side whose time is the numerator of the factor). With `stop_within`,
    fewer rounds where the spread is already small: none after `min_rounds` or more once the
    factor's 95% interval over them is within +-stop_within (bench.paired.early_stop)."""

    first: Planned
    second: Planned
    rounds: int
    stop_within: float | None = None
    min_rounds: int | None = None  # set exactly when stop_within is

    @property
    def cells(self) -> tuple[Cell, Cell]:
        return self.first.cell, self.second.cell


@dataclass(frozen=True)
class Suite:
    name: str  # the built-in name, or the file's stem for a user's file
    description: str
    path: str  # the TOML file it came from
    timeout_s: float  # per subprocess cell
    plan: tuple[Planned, ...]
    notes: tuple[str, ...]  # combinations skipped at expansion, one line each
    # The [launcher] table (bench.launch.settings): how `run --launcher slurm` submits the cells.
    launcher: dict = field(default_factory=dict, hash=False, compare=False)
    pairs: tuple[Pair, ...] = ()  # the [pairs] table, expanded to cells

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(item.cell for item in self.plan)

    def pair_of(self, cell: Cell) -> Pair | None:
        """The pair `cell` belongs to, or None."""
        return next((pair for pair in self.pairs if cell in pair.cells), None)


def builtin_names() -> list[str]:
    folder = resources.files("bench") / "suites"
    return sorted(
        entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml")
    )


def load(name_or_path: str, device: str | None = None) -> Suite:
    """The suite named `name_or_path` (a built-in name or a path to a TOML file), expanded to cells.
    `device` replaces the devices axis of every grid (e.g. run the cuda suite's cells on cpu)."""
    if device is not None and device not in DEVICES:
        raise SuiteError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    looks_like_path = name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path
    if looks_like_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise SuiteError(f"no suite file at {path}")
        try:
            name, text = path.stem, path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise SuiteError(f"suite file {path} is not UTF-8 text: {err.reason}") from None
    else:
        names = builtin_names()
        if name_or_path not in names:
            raise SuiteError(
                f"unknown suite {name_or_path!r}; valid: {', '.join(names)} (or a path to a .toml file)"
            )
        resource = resources.files("bench") / "suites" / f"{name_or_path}.toml"
        name, path, text = name_or_path, Path(str(resource)), resource.read_text(encoding="utf-8")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(f"suite file {path} is not valid TOML: {err}") from None
    return parse(table, name=name, path=str(path), device=device)


def parse(table: dict, *, name: str, path: str = "<memory>", device: str | None = None) -> Suite:
    """Validate a suite's parsed TOML and expand it to cells."""
    where = Path(path).name
    _check_keys(table, TOP_LEVEL_KEYS, where)
    description = table.get("description", "")
    if not isinstance(description, str):
        raise SuiteError(f"{where}: 'description' must be a string")
    timeout_s = table.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise SuiteError(f"{where}: 'timeout_s' must be a positive number of seconds")
    base_settings = _settings_table(table.get("settings", {}), where)
    try:
        launcher = check_table(table.get("launcher", {}), where)
    except LaunchError as err:
        raise SuiteError(str(err)) from None
    shared_excludes = _excludes(table.get("exclude", []), where)
    defaults = AXIS_DEFAULTS | {key: table[key] for key in AXES if key in table}
    grids = _grids(table, where)

    plan: dict[Cell, tuple[Planned, int]] = {}
    notes: list[str] = []
    for number, grid in enumerate(grids, start=1):
        grid_where = f"{where} grid {number}" if len(grids) > 1 else where
        _check_keys(grid, GRID_KEYS, grid_where)
        axes = defaults | {key: grid[key] for key in AXES if key in grid}
        if device is not None:
            axes["devices"] = [device]
        grid_settings = _settings_table(grid.get("settings", {}), grid_where)
        settings_of = {
            name: _settings(base_settings, grid_settings, name, grid_where) for name in DEVICES
        }
        excludes = shared_excludes + _excludes(grid.get("exclude", []), grid_where)
        for cell in _expand(axes, grid_where, notes):
            if any(_matches(cell, exclude) for exclude in excludes):
                continue
            settings = settings_of[cell.device]
            if cell in plan:
                earlier, earlier_grid = plan[cell]
                if earlier.settings != settings:
                    raise SuiteError(
                        f"{where}: cell {cell.id} is in grids {earlier_grid} and {number} "
                        "with different settings; exclude it from one of them"
                    )
                continue
            plan[cell] = (Planned(cell, settings), number)
    if not plan:
        raise SuiteError(f"{where}: the suite has no cells ({_why_no_cells(notes)})")
    items = {cell: planned for cell, (planned, _) in plan.items()}
    _check_compile_backends(items.values(), where)
    return Suite(
        name=name,
        description=description,
        path=path,
        timeout_s=float(timeout_s),
        plan=tuple(planned for planned, _ in plan.values()),
        notes=tuple(dict.fromkeys(notes)),  # a preset in several grids is noted once
        launcher=launcher,
        pairs=_pairs(table.get("pairs"), items, where),
    )


# Registered by every torch since 2.0: inductor (the default) and dynamo's debug backends, which
# the GPU check's dry run uses on a CPU.
ALWAYS_KNOWN_COMPILE_BACKENDS = frozenset({"inductor", "eager", "aot_eager"})


def _check_compile_backends(plan: typing.Iterable[Planned], where: str) -> None:
    """Every compiled cell's backend is one torch.compile knows: a misspelt name would otherwise
    fail only when its cell runs, perhaps hours into a sweep. Torch's list imports dynamo (2 s on
    2 cores), so only a suite naming a backend beyond those every torch since 2.0 has pays."""
    named = {item.settings.compile_backend for item in plan if item.cell.mode == "compile"}
    named -= ALWAYS_KNOWN_COMPILE_BACKENDS
    if not named:
        return
    import torch

    known = torch.compiler.list_backends(exclude_tags=())  # debug ones ("eager") included
    unknown = sorted(named - set(known))
    if unknown:
        closest = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"did you mean {closest[0]!r}? " if closest else ""
        raise SuiteError(
            f"{where}: unknown compile_backend {unknown[0]!r} (settings of a compiled cell); {hint}"
            f"known: {', '.join(torch.compiler.list_backends())}, and debug ones such as eager "
            "and aot_eager"
        )


def _grids(table: dict, where: str) -> list[dict]:
    """The suite's [[grid]] tables; a suite without them is one grid made of its top-level axes."""
    grids = table.get("grid")
    if grids is None:
        return [{}]
    if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise SuiteError(f"{where}: 'grid' must be a list of tables, written [[grid]]")
    return grids


def _why_no_cells(notes: list[str]) -> str:
    """Why a suite has no cells, with the first reason a combination was skipped (its note)."""
    notes = list(dict.fromkeys(notes))  # a preset in several grids is noted once
    if not notes:
        return "every combination excluded or skipped"
    more = len(notes) - 1
    others = f"; {more} other preset-resolution pair{'s' * (more > 1)} skipped" if more else ""
    return f"every combination excluded or skipped; {notes[0]}{others}"


def _pairs(spec: Any, items: dict[Cell, Planned], where: str) -> tuple[Pair, ...]:
    """The [pairs] table expanded: each timed cell of a pair's first preset with the cell of its
    second preset that equals it on every other axis. `presets` may be a table keyed by device, as
    the axes may: each device's pairs then pair that device's cells."""
    if spec is None:
        return ()
    if not isinstance(spec, dict):
        raise SuiteError(f"{where}: 'pairs' must be a table, written [pairs]")
    _check_keys(spec, PAIRS_KEYS, f"{where} [pairs]")
    rounds = _pair_rounds(spec, where)
    presets = spec.get("presets")
    per_device = presets if isinstance(presets, dict) else dict.fromkeys(DEVICES, presets)
    unknown = sorted(set(per_device) - set(DEVICES))
    if unknown:
        raise SuiteError(
            f"{where}: [pairs] presets names unknown devices {unknown}; valid: {', '.join(DEVICES)}"
        )
    pairs: list[Pair] = []
    taken: dict[Cell, str] = {}
    devices_used = {cell.device for cell in items}
    for device, listed in per_device.items():
        if device not in devices_used and isinstance(presets, dict):
            continue
        _check_pair_list(listed, where)
        timed = [c for c in items if c.phase in PAIRED_PHASES and c.device == device]
        if not timed and not isinstance(presets, dict):
            continue  # a list applies to every device; this one has no timed cells
        for first, second in listed:
            pairs += _pairs_of(first, second, timed, items, taken, rounds, where)
    if presets is not None and not isinstance(presets, dict) and not pairs:
        _check_pair_list(presets, where)
        if not presets:
            raise SuiteError(
                f"{where}: [pairs] presets is empty: name [first, second] pairs, or leave out [pairs]"
            )
        first, second = presets[0]
        raise SuiteError(f"{where}: [pairs] {first}/{second}: no timed cells to pair in the suite")
    return tuple(pairs)


def _check_pair_list(listed: Any, where: str) -> None:
    if not isinstance(listed, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in listed
    ):
        raise SuiteError(
            f"{where}: [pairs] presets must be a list of [first, second] preset slugs, e.g. "
            '[["adm-in256", "rin-in256"]], or a table of such lists by device'
        )


def _pair_rounds(spec: dict, where: str) -> dict:
    """The [pairs] table's rounds, stop_within and min_rounds, checked: Pair's keyword arguments."""
    rounds = spec.get("rounds", DEFAULT_ROUNDS)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise SuiteError(f"{where}: [pairs] rounds must be an integer >= 1, got {rounds!r}")
    stop_within = spec.get("stop_within")
    if stop_within is None:
        if "min_rounds" in spec:
            raise SuiteError(f"{where}: [pairs] min_rounds needs stop_within (it is when to stop)")
        return {"rounds": rounds}
    if isinstance(stop_within, bool) or not isinstance(stop_within, int | float):
        raise SuiteError(f"{where}: [pairs] stop_within must be a number, got {stop_within!r}")
    if not 0 < stop_within < 1:
        raise SuiteError(
            f"{where}: [pairs] stop_within is the interval's half-width relative to the factor, "
            f"between 0 and 1 (0.01: +-1%), got {stop_within!r}"
        )
    if rounds < 2:
        raise SuiteError(f"{where}: [pairs] stop_within needs rounds >= 2, got {rounds}")
    min_rounds = spec.get("min_rounds", min(DEFAULT_MIN_ROUNDS, rounds))
    if isinstance(min_rounds, bool) or not isinstance(min_rounds, int) or min_rounds < 2:
        raise SuiteError(f"{where}: [pairs] min_rounds must be an integer >= 2, got {min_rounds!r}")
    if min_rounds > rounds:
        raise SuiteError(f"{where}: [pairs] min_rounds {min_rounds} is over rounds {rounds}")
    return {"rounds": rounds, "stop_within": float(stop_within), "min_rounds": min_rounds}


def _pairs_of(
    first: str,
    second: str,
    timed: list[Cell],
    items: dict[Cell, Planned],
    taken: dict[Cell, str],
    rounds: dict,
    where: str,
) -> list[Pair]:
    """The pairs of two presets among one device's timed cells: every cell of `first` whose twin
    (the same cell with preset `second`) is in the suite. Cells without a twin are timed alone;
    a pair of presets with no twins at all is an error (the suite asks to pair what it lacks)."""
    name = f"{first}/{second}"
    if first == second:
        raise SuiteError(f"{where}: [pairs] {name} pairs a preset with itself")
    for preset in (first, second):
        try:
            registry.get(preset)  # a typo or a glob: [pairs] takes slugs only
        except KeyError as err:
            raise SuiteError(f"{where}: [pairs] {name}: {err.args[0]}") from None
        if not any(cell.preset == preset for cell in timed):
            phases = ", ".join(PAIRED_PHASES)
            raise SuiteError(
                f"{where}: [pairs] {name}: {preset} has no timed cell ({phases}) in the suite"
            )
    found = []
    for cell in (c for c in timed if c.preset == first):
        twin = dataclasses.replace(cell, preset=second)
        if twin not in items:
            continue
        for member in (cell, twin):
            if member in taken:
                raise SuiteError(
                    f"{where}: [pairs] {member.id} is in pairs {taken[member]} and {name}"
                )
            taken[member] = name
        if items[cell].settings != items[twin].settings:
            raise SuiteError(
                f"{where}: [pairs] {cell.id} and {twin.id} have different settings; a pair is "
                "timed alike"
            )
        if items[cell].settings.max_batch:  # the rounds time windows; the search is a cell's own
            raise SuiteError(
                f"{where}: [pairs] {cell.id}: max_batch is not searched in a pair's rounds; "
                "give it to cells of their own (an unpaired [[grid]])"
            )
        found.append(Pair(items[cell], items[twin], **rounds))
    if not found:
        example = next(c for c in timed if c.preset == first)
        twin = dataclasses.replace(example, preset=second)
        raise SuiteError(
            f"{where}: [pairs] {name}: no cell of {first} has its twin in the suite, e.g. "
            f"{example.id} has no {twin.id}"
        )
    return found


def _check_keys(table: dict, valid: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in valid:
            raise SuiteError(f"{where}: unknown key {key!r}; valid: {', '.join(valid)}")


def _settings_table(table: Any, where: str) -> dict:
    """A [settings] table checked key by key: Settings fields, and per-device sub-tables of them
    ([settings.cuda]) whose values apply to that device's cells only."""
    if not isinstance(table, dict):
        raise SuiteError(f"{where}: 'settings' must be a table, written [settings]")
    known = typing.get_type_hints(Settings)
    for key, value in table.items():
        if key in DEVICES:
            if not isinstance(value, dict):
                raise SuiteError(f"{where}: settings for {key} must be a table, [settings.{key}]")
            _settings_table({k: v for k, v in value.items() if k not in DEVICES}, where)
            if any(k in DEVICES for k in value):
                raise SuiteError(f"{where}: [settings.{key}] cannot hold another device's table")
            continue
        if key not in known:
            valid = ", ".join([*known, *(f"{d} (a table)" for d in DEVICES)])
            raise SuiteError(f"{where}: unknown setting {key!r}; valid: {valid}")
        if not _fits(value, known[key]):
            raise SuiteError(f"{where}: setting {key!r} must be {_kind(known[key])}, got {value!r}")
    return table


def _settings(suite: dict, grid: dict, device: str, where: str) -> Settings:
    """The settings of one device's cells: the suite's, then its device's, then the grid's, then
    the grid's device's, each overriding the one before."""

    def common(table: dict) -> dict:
        return {key: value for key, value in table.items() if key not in DEVICES}

    layers = (common(suite), suite.get(device, {}), common(grid), grid.get(device, {}))
    merged: dict = {}
    for layer in layers:
        merged |= layer
    try:
        return Settings(**merged)
    except (TypeError, ValueError) as err:
        raise SuiteError(f"{where}: invalid settings: {err}") from None


def _fits(value: Any, hint: Any) -> bool:
    """Does a TOML value fit a Settings field's type (bool is not an int here; an int is a float)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if hint is bool:
        return isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return hint is type(None) and value is None


def _kind(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(hint) if option is not type(None)]
        return " or ".join(_kind(option) for option in options)
    return _KINDS.get(hint, getattr(hint, "__name__", str(hint)))


def _excludes(tables: Any, where: str) -> list[dict]:
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SuiteError(f"{where}: 'exclude' must be a list of tables, written [[exclude]]")
    fields = tuple(AXES.values())
    for table in tables:
        _check_keys(table, fields, f"{where} exclude")
        if not table:
            raise SuiteError(f"{where}: an empty exclude table would drop every cell")
        for key, wanted in table.items():
            _check_exclude_values(key, wanted, f"{where} exclude")
    return tables


def _check_exclude_values(key: str, wanted: Any, where: str) -> None:
    """An exclude's values must be able to match: a typo ('trian_step') would exclude nothing and
    measure what the suite meant to drop; `true` for a batch would equal 1 and drop it."""
    options = wanted if isinstance(wanted, list) else [wanted]
    if not options:
        raise SuiteError(f"{where}: {key} = [] matches nothing; leave the key out instead")
    if key in ("resolution", "batch"):
        bad = [o for o in options if isinstance(o, bool) or not isinstance(o, int) or o < 1]
        if bad:
            raise SuiteError(f"{where}: {key} takes whole numbers >= 1, got {bad[0]!r}")
        return
    known = {
        "preset": registry.slugs(),
        "dtype": DTYPES,
        "phase": PHASES,
        "mode": MODES,
        "device": DEVICES,
    }[key]
    for option in options:
        if not isinstance(option, str) or not fnmatch.filter(known, option):
            valid = "rinbench list names them" if key == "preset" else ", ".join(known)
            raise SuiteError(f"{where}: {key} {option!r} matches no {key}; valid: {valid}")


def _matches(cell: Cell, exclude: dict) -> bool:
    """True if the cell matches every key of the exclude table (strings are shell globs; a list
    means any of its values)."""
    for key, wanted in exclude.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        value = getattr(cell, key)
        if not any(
            fnmatch.fnmatchcase(value, option)
            if isinstance(value, str) and isinstance(option, str)
            else value == option
            for option in options
        ):
            return False
    return True


def _axis(axes: dict, key: str, where: str) -> list:
    if key not in axes:
        raise SuiteError(f"{where}: missing {key!r}, a list of {AXES[key]} values")
    values = axes[key]
    if not isinstance(values, list) or not values:
        raise SuiteError(f"{where}: {key!r} must be a non-empty list, e.g. {key} = [...]")
    return values


def _choices(axes: dict, key: str, valid: tuple[str, ...], where: str) -> list[str]:
    values = _axis(axes, key, where)
    for value in values:
        if value not in valid:
            raise SuiteError(f"{where}: unknown {AXES[key]} {value!r}; valid: {', '.join(valid)}")
    return values


def _presets(axes: dict, where: str) -> list[str]:
    known = registry.slugs()
    chosen: list[str] = []
    for pattern in _axis(axes, "presets", where):
        if not isinstance(pattern, str):
            raise SuiteError(f"{where}: presets are slugs or globs (strings), got {pattern!r}")
        if any(ch in pattern for ch in "*?["):
            matched = fnmatch.filter(known, pattern)
            if not matched:
                raise SuiteError(
                    f"{where}: preset pattern {pattern!r} matches no preset; "
                    + registry.known_presets(pattern)
                )
        elif pattern in known:
            matched = [pattern]
        else:
            raise SuiteError(
                f"{where}: unknown preset {pattern!r}; {registry.known_presets(pattern)}"
            )
        chosen.extend(slug for slug in matched if slug not in chosen)
    return chosen


def _positive_ints(axes: dict, key: str, where: str, allowed_words: tuple[str, ...] = ()) -> list:
    values = _axis(axes, key, where)
    for value in values:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if not ((is_int and value > 0) or value in allowed_words):
            words = " or ".join(repr(w) for w in allowed_words)
            valid = f"positive integers{' or ' + words if words else ''}"
            raise SuiteError(f"{where}: {key} must be {valid}, got {value!r}")
    return values


def _expand(axes: dict, where: str, notes: list[str]) -> list[Cell]:
    """The grid's cells; axes given per device (a table keyed by device) are expanded per device."""
    per_device = [key for key, value in axes.items() if isinstance(value, dict)]
    if not per_device:
        return _product(axes, where, notes)
    if "devices" in per_device:
        raise SuiteError(f"{where}: 'devices' must be a list; other axes may be tables by device")
    cells = []
    for device in _choices(axes, "devices", DEVICES, where):
        chosen = {"devices": [device]}
        for key in per_device:
            table = axes[key]
            unknown = sorted(set(table) - set(DEVICES))
            if unknown:
                raise SuiteError(
                    f"{where}: {key!r} names unknown devices {unknown}; valid: {', '.join(DEVICES)}"
                )
            if device not in table:
                raise SuiteError(
                    f"{where}: {key!r} is given per device but not for {device!r}; "
                    f"add {device} = [...] to it"
                )
            chosen[key] = table[device]
        cells.extend(_product(axes | chosen, f"{where} ({device})", notes))
    return cells


def _product(axes: dict, where: str, notes: list[str]) -> list[Cell]:
    presets = _presets(axes, where)
    resolutions = _positive_ints(axes, "resolutions", where, allowed_words=(NATIVE,))
    batches = _positive_ints(axes, "batches", where)
    dtypes = _choices(axes, "dtypes", DTYPES, where)
    phases = _choices(axes, "phases", PHASES, where)
    modes = _choices(axes, "modes", MODES, where)
    devices = _choices(axes, "devices", DEVICES, where)
    cells = []
    for preset in presets:
        native = registry.get(preset).config.resolution
        for wanted in resolutions:
            resolution = native if wanted == NATIVE else wanted
            try:
                registry.config(preset, resolution)
            except ValueError as err:
                reason = str(err).removeprefix(f"{preset}: ")
                notes.append(f"skipped {preset} at {resolution} px: {reason}")
                continue
            for batch in batches:
                for dtype in dtypes:
                    for phase in phases:
                        for mode in modes:
                            for device in devices:
                                cells.append(
                                    Cell(preset, resolution, batch, dtype, phase, mode, device)
                                )
    return cells
