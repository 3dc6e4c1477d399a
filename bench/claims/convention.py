"""Which FLOP convention each origin of published GFLOPs uses, inferred from our MAC counts.

`convention_fits` infers, per origin of the numbers, whether a published "GFLOP" is one multiply-add
(MACs) or two (2·MACs), from the presets built from released configs (reports.convention says it in
sentences).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bench.claims.evaluation import Measured
from bench.claims.spec import CONVENTIONS, Claim
from bench.claims.verdict import allows
from bench.record import Record


@dataclass(frozen=True)
class ConventionFit:
    """How one origin's published GFLOPs compare with our MAC counts of the same models."""

    origin: str
    fits: str  # "macs", "2macs", or "neither" (the nearest convention is still in `nearest`)
    nearest: str
    exact: bool  # decided on presets built from released configs (EXACT_KINDS)
    count: int  # numbers it was decided on
    ratios_macs: tuple[float, float]  # min, max of reported / measured GMACs
    ratios_2macs: tuple[float, float]  # min, max of reported / measured 2·GMACs
    presets: tuple[str, ...]


def convention_fits(claims: Iterable[Claim], records: Iterable[Record]) -> list[ConventionFit]:
    """Per origin of published GFLOPs: which convention makes them equal our MAC counts. Decided on
    the presets built from released configs where the origin has any, else on the others (`exact`
    False: weak evidence, since their MACs are uncertain too)."""
    measured = Measured.of(records)
    by_origin: dict[str, list[tuple[Claim, float, bool]]] = {}
    for claim in claims:
        if claim.kind != "gflops":
            continue
        macs = measured.macs((claim.preset, claim.resolution))
        if macs is None:
            continue
        exact = measured.exact(claim.preset)
        by_origin.setdefault(claim.origin or claim.source, []).append((claim, macs / 1e9, exact))
    fits = []
    for origin, rows in by_origin.items():
        exact_rows = [row for row in rows if row[2]]
        used = exact_rows or rows
        per_macs = [claim.reported / gmacs for claim, gmacs, _ in used]
        per_2macs = [r / 2 for r in per_macs]
        # Nearest convention per number, by log distance; the origin's when all agree.
        nearest_each = {
            "macs" if abs(math.log(m)) <= abs(math.log(m2)) else "2macs"
            for m, m2 in zip(per_macs, per_2macs, strict=True)
        }
        nearest = nearest_each.pop() if len(nearest_each) == 1 else "neither"
        fit = nearest
        if nearest != "neither":
            # The verdicts' own rule (measured against reported), so that the two never disagree.
            within = [allows(claim, CONVENTIONS[nearest] * gmacs) for claim, gmacs, _ in used]
            fit = nearest if all(within) else "neither"
        fits.append(
            ConventionFit(
                origin=origin,
                fits=fit,
                nearest=nearest,
                exact=bool(exact_rows),
                count=len(used),
                ratios_macs=(min(per_macs), max(per_macs)),
                ratios_2macs=(min(per_2macs), max(per_2macs)),
                presets=tuple(dict.fromkeys(claim.preset for claim, _, _ in used)),
            )
        )
    return fits
