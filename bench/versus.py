"""Two implementations side by side, from records: ours beside a peer's, or any two presets.

`side_by_side(records, pairs)` takes (first, second, resolution) preset pairs and gives, per pair, the
counts (parameters, forward MACs per image) and, for every setup on which both were timed (machine,
dtype, batch, mode, phase and, on a CPU, torch's thread count, as the claims count a setup), each
side's images per second, peak memory and MFU, with the speed factor first / second. The factor
carries its 95% interval where the two were timed interleaved (a suite's [pairs]:
`bench.intervals.factor_of_pair`); timed apart, it is a plain ratio, and says so.

Which pairs: `peer_pairs` matches each peer preset in the records with the preset of ours it is
configured to match (`Preset.counterpart`, baselines/peers/); `named_pairs` matches the presets of
any two families (or presets) a user names at equal resolutions. Data only: the report's section
"Against the public implementations" (reports/peers.py) and `rinbench claims --versus` render it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench import intervals, selection
from bench.claims.evaluation import Measured, phase_order
from bench.intervals import Interval
from bench.record import Record, is_number

Pair = tuple[str, str, int]  # (first preset, second preset, resolution in px)


@dataclass(frozen=True)
class Counts:
    """Both presets' exact counts (None where a side was not counted)."""

    first: str
    second: str
    resolution: int
    params: tuple[float | None, float | None]
    macs_fwd: tuple[float | None, float | None]  # per image, one network evaluation


@dataclass(frozen=True)
class Timed:
    """Both presets timed on one setup: what each achieved, and first's speed over second's."""

    first: str
    second: str
    resolution: int
    setup: str  # in words: 'AMD EPYC 7B13 (2 CPUs, 2 threads, fp32, b1, eager)'
    phase: str
    gpu: bool
    images_per_s: tuple[float | None, float | None]
    peak_memory_bytes: tuple[float | None, float | None]  # a GPU's allocator peak, a CPU's RSS
    mfu: tuple[float | None, float | None]
    mfu_suspect: tuple[bool, bool]  # over a matmul peak taken low or noisy (timing.mfu_suspect)
    factor: Interval | None  # images/s of first / of second; None unless both sides ended ok
    failures: tuple[str, ...]  # "<preset> <status> (<reason>)" of a side that did not end ok


@dataclass(frozen=True)
class SideBySide:
    counts: list[Counts]
    timed: list[Timed]

    @property
    def empty(self) -> bool:
        return not self.counts and not self.timed


def side_by_side(records: Iterable[Record], pairs: Iterable[Pair]) -> SideBySide:
    """The counts of every pair, and its timings on every setup both sides were timed on (GPU
    setups first, then by machine, dtype, batch, mode and phase)."""
    measured = Measured.of(records)
    counts, timed = [], []
    for first, second, resolution in dict.fromkeys(pairs):
        keys = ((first, resolution), (second, resolution))
        counts.append(
            Counts(
                first,
                second,
                resolution,
                tuple(measured.params(key) for key in keys),
                tuple(measured.macs(key) for key in keys),
            )
        )
        mine, theirs = (measured.timed.get(key, {}) for key in keys)
        for setup, partner in sorted(_common_setups(mine, theirs), key=_setup_order):
            sides = (mine[setup], theirs[partner])
            if setup == partner:  # an unthreaded partner never ran: no rounds to look for
                sides = measured.together(keys[0], keys[1], setup, sides)
            timed.append(_timed(first, second, resolution, *sides))
    gpu_first = sorted(range(len(timed)), key=lambda i: not timed[i].gpu)  # stable otherwise
    return SideBySide(counts, [timed[i] for i in gpu_first])


def _common_setups(mine: dict[tuple, Record], theirs: dict[tuple, Record]) -> list[tuple]:
    """(my setup, its partner's) for every setup both were timed on. A side that never ran (a peer
    without its package, a set-up that failed) recorded no thread count: it matches on the rest."""
    common = []
    for setup in mine:
        if setup in theirs:
            common.append((setup, setup))
            continue
        unthreaded = [
            other
            for other in theirs
            if other[:5] == setup[:5] and None in (setup[5], other[5]) and other not in mine
        ]
        if unthreaded:
            common.append((setup, unthreaded[0]))
    return common


def _setup_order(setups: tuple[tuple, tuple]) -> tuple:
    hardware, dtype, batch, mode, phase, threads = setups[0]
    return (hardware, dtype, batch, mode, phase_order(phase), threads or 0)


def _timed(first: str, second: str, resolution: int, mine: Record, theirs: Record) -> Timed:
    sides = (mine, theirs)
    speeds = tuple(_ok_number(record, "images_per_s") for record in sides)
    memory = tuple(_peak_memory(record) for record in sides)
    failures = tuple(
        f"{r.cell.preset} {r.status}" + (f" ({r.error})" if r.error else "")
        for r in sides
        if r.status != "ok"
    )
    factor = None
    if None not in speeds:
        # factor_of_pair is time(a) / time(b): first's speed over second's is time(second) / time(first).
        factor = intervals.factor_of_pair(theirs, mine) or Interval(
            speeds[0] / speeds[1], reason=intervals.unpaired_reason(theirs, mine)
        )
    return Timed(
        first,
        second,
        resolution,
        selection.setup_words(mine),
        mine.cell.phase,
        selection.is_gpu(mine),
        speeds,
        memory,
        tuple(_ok_number(record, "mfu") for record in sides),
        tuple(record.values.get("mfu_suspect") == 1 for record in sides),
        factor,
        failures,
    )


def _ok_number(record: Record, key: str) -> float | None:
    value = record.values.get(key)
    return float(value) if record.status == "ok" and is_number(value) else None


def _peak_memory(record: Record) -> float | None:
    _, value = selection.first_number(record.values, selection.PEAK_MEMORY_KEYS)
    return value


# --- which pairs -----------------------------------------------------------------------------------


def peer_pairs(records: Iterable[Record]) -> list[Pair]:
    """(ours, peer, resolution) for every peer preset in the records whose counterpart (the preset of
    ours it is configured to match, Preset.counterpart) is in them at the same resolution."""
    from bench import registry

    present = {(r.cell.preset, r.cell.resolution) for r in records}
    pairs = []
    for preset, resolution in sorted(present):
        entry = registry.REGISTRY.get(preset)
        if entry is None:
            continue
        ours = entry.declared_by.presets[preset].counterpart
        if ours and (ours, resolution) in present:
            pairs.append((ours, preset, resolution))
    return pairs


def _family(record: Record) -> str | None:
    """A record's family: its model block's, or the registry's for its preset where the model could
    not be built (a peer whose package was missing: its cells ended unsupported, without one)."""
    if record.model is not None:
        return record.model.family
    try:  # the registry builds on torch; reports read records where there is none
        from bench import registry
    except ImportError:
        return None
    entry = registry.REGISTRY.get(record.cell.preset)
    return None if entry is None else entry.family


class UnknownName(ValueError):
    """A name given to `named_pairs` is neither a family nor a preset of the records."""


def named_pairs(records: Iterable[Record], first: str, second: str) -> list[Pair]:
    """Every (a, b, resolution) where a is a preset of `first` and b one of `second` (each a family
    name or a preset slug), both in the records at that resolution, a != b. UnknownName when a
    name matches nothing in them, or the two have no resolution in common."""
    records = list(records)
    by_name: dict[str, set[tuple[str, int]]] = {}
    families: set[str] = set()
    for record in records:
        key = (record.cell.preset, record.cell.resolution)
        by_name.setdefault(record.cell.preset, set()).add(key)
        family = _family(record)
        if family is not None:
            by_name.setdefault(family, set()).add(key)
            families.add(family)
    if first == second:
        raise UnknownName(f"{first!r} is named twice: name two families or presets to compare")
    for name in (first, second):
        if name not in by_name:
            raise UnknownName(
                f"no records of {name!r} (a family or a preset); these results hold the families "
                f"{', '.join(sorted(families)) or 'none'} (`rinbench report` on them lists their "
                "presets)"
            )
    pairs = sorted(
        (a, b, res_a)
        for a, res_a in by_name[first]
        for b, res_b in by_name[second]
        if res_a == res_b and a != b
    )
    if not pairs:
        raise UnknownName(f"{first!r} and {second!r} were not measured at one resolution")
    return pairs
