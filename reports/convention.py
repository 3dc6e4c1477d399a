"""The FLOP convention in sentences: what bench.claims.convention_fits found, per origin of the
published numbers, and what follows for a table that prints numbers of several origins."""

from __future__ import annotations

import math
from collections.abc import Iterable

from bench import claims


def convention_summary(
    fits: list[claims.ConventionFit], claim_list: Iterable[claims.Claim] = ()
) -> list[str]:
    """The convention findings in sentences, one per origin, then what follows for the RIN numbers
    (their GMACs on the baselines' scale) when origins differ."""
    if not fits:
        return [
            "The FLOP convention cannot be inferred: no flops records of the presets the "
            "published GFLOPs are about."
        ]
    lines = []
    for fit in fits:
        basis = (
            "presets built from released configs"
            if fit.exact
            else "reconstructed presets only, so weak evidence"
        )
        spread = (
            f"reported / our GMACs = {_span(fit.ratios_macs)}, reported / our 2·GMACs = "
            f"{_span(fit.ratios_2macs)} ({fit.count} numbers on {basis}: {', '.join(fit.presets)})"
        )
        if fit.fits != "neither":
            per = "one FLOP" if fit.fits == "macs" else "two FLOPs"
            lines.append(
                f"{_capital(fit.origin)}: {per} per multiply-add ({claims.CONVENTION_NAMES[fit.fits]}); "
                f"{spread}."
            )
        elif fit.nearest != "neither":
            lines.append(
                f"{_capital(fit.origin)}: every number is nearer "
                f"{claims.CONVENTION_NAMES[fit.nearest]} than the other convention, though not all "
                f"within their tolerance; {spread}."
            )
        else:
            lines.append(f"{_capital(fit.origin)}: neither convention fits; {spread}.")
    decided = {f.origin: f.nearest for f in fits if f.exact and f.nearest != "neither"}
    if len(set(decided.values())) > 1:
        doubled = [o for o, c in decided.items() if c == "2macs"]
        single = [o for o, c in decided.items() if c == "macs"]
        lines.append(
            f"The origins differ: two FLOPs per multiply-add in {' and '.join(doubled)}, one in "
            f"{' and '.join(single)}. A table that prints numbers of both side by side compares "
            "unlike units; halve the former to compare."
        )
        unverified = [
            c for c in claim_list if c.kind == "gflops" and c.origin in doubled and c.preset
        ]
        exact = {f.origin: set(f.presets) for f in fits if f.exact}
        unverified = [c for c in unverified if c.preset not in exact.get(c.origin, set())]
        if unverified:
            lines.append(
                "In MACs, their numbers on the other models read: "
                + ", ".join(
                    f"{c.preset} {c.reported:g} GFLOPs = {c.reported / 2:g} GMACs"
                    for c in unverified
                )
                + "."
            )
    return lines


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _span(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return f"{low:.3f}" if math.isclose(low, high, rel_tol=5e-4) else f"{low:.3f}-{high:.3f}"
