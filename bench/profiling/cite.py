"""What a wall-clock verdict cites from the profiles: where the faster model's time goes.

    "rin-in256 is 9.1× cheaper in MACs but 5.9× faster; its write group takes 31% of the time
    for 19% of the MACs (profiled forward, cpu fp32 b1 eager)"

`profile_for` picks the profile record of a timed cell (same preset, resolution, machine and
phase; the same dtype, batch and mode when there is one), `widest_gap` the FLOP group
whose share of the time exceeds its share of the MACs the most (where the MAC ratio and the
wall-clock ratio part), and `sentence` says it. Standard library only, like bench.claims.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench import selection
from bench.cell import PROFILE_PREFIX
from bench.profiling import NOT_GROUPS
from bench.record import Record, is_number


def profile_for(
    records: Iterable[Record],
    preset: str,
    resolution: int,
    phase: str,
    hardware: str,
    setup: tuple[str, int, str] | None = None,
) -> Record | None:
    """The newest ok profile of `preset` at `resolution` in `phase` ("forward") on the machine
    `hardware` (bench.selection.hardware) with a time split: of the `setup` (dtype, batch, mode)
    if there is one, else of any. None when the records hold none."""
    candidates = [
        r
        for r in records
        if r.status == "ok"
        and r.cell.phase == PROFILE_PREFIX + phase
        and (r.cell.preset, r.cell.resolution) == (preset, resolution)
        and selection.hardware(r) == hardware
        and isinstance(r.values.get("time_share_by_group"), dict)
    ]
    same_setup = [r for r in candidates if (r.cell.dtype, r.cell.batch, r.cell.mode) == setup]
    chosen = same_setup or candidates
    return chosen[-1] if chosen else None


def widest_gap(record: Record) -> tuple[str, float, float] | None:
    """(group, time share, MAC share) of the FLOP group whose time share exceeds its MAC share the
    most; None without a split."""
    times = record.values.get("time_share_by_group") or {}
    macs = record.values.get("mac_share_by_group") or {}
    gaps = [
        (times[g] - macs[g], g)
        for g in times
        if g not in NOT_GROUPS and is_number(times[g]) and is_number(macs.get(g))
    ]
    if not gaps:
        return None
    _, group = max(gaps)
    return group, times[group], macs[group]


def sentence(preset: str, mac_factor: float | None, time_factor: float, profile: Record) -> str:
    """'rin-in256 is 9.1× cheaper in MACs but 5.9× faster; its write group takes 31% of the
    time for 19% of the MACs (profiled forward, cpu fp32 b1 eager)'; '' without a split."""
    gap = widest_gap(profile)
    if gap is None:
        return ""
    group, time_share, mac_share = gap
    where = f"profiled {profile.cell.phase.removeprefix(PROFILE_PREFIX)}, "
    where += selection.setup_label(profile)
    cheaper = f" {mac_factor:.3g}× cheaper in MACs but" if mac_factor else ""
    faster = f"{time_factor:.3g}× " + ("faster" if time_factor >= 1 else "as fast")
    return (
        f"{preset} is{cheaper} {faster}; its {group} group takes "
        f"{100 * time_share:.0f}% of the time for {100 * mac_share:.0f}% of the MACs ({where})"
    )
