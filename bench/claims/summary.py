"""The verdicts gathered for a reader: tallies, groups, caveats said once, and the headline.

`tally` and `tally_text` count the verdicts per status. `grouped` puts the RIN paper's own claims
(origin RIN_ORIGIN) apart from the baselines' counting checks; `caveats` says once the caveat of each
preset that a verdict rests on; `headlines` gathers the paper's main claim (a ratio_max claim) and
its panels, with the wall-clock verdict a headline shows (`shown_clock`: a GPU's where there is one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.claims.evaluation import phase_order
from bench.claims.spec import GROUPS, Claim
from bench.claims.verdict import CANNOT_CHECK, FAILS, HOLDS, INCONCLUSIVE, VERDICTS, Verdict


def tally(verdicts: Iterable[Verdict]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict in verdicts:
        counts[verdict.status] += 1
    return counts


def tally_text(verdicts: Iterable[Verdict]) -> str:
    """'8 hold, 10 fail, 2 inconclusive, 13 cannot be checked'."""
    counts = tally(verdicts)
    return (
        f"{counts[HOLDS]} hold, {counts[FAILS]} fail, {counts[INCONCLUSIVE]} inconclusive, "
        f"{counts[CANNOT_CHECK]} cannot be checked"
    )


def grouped(verdicts: Iterable[Verdict]) -> dict[str, list[Verdict]]:
    """The verdicts per group, in GROUPS order (a group without verdicts is left out)."""
    groups: dict[str, list[Verdict]] = {name: [] for name in GROUPS}
    for verdict in verdicts:
        groups[verdict.group].append(verdict)
    return {name: members for name, members in groups.items() if members}


def caveats(verdicts: Iterable[Verdict]) -> list[str]:
    """One sentence per preset that a verdict which holds or fails rests on and that is not the
    published model as released (or misses the paper's cost), in first-seen order."""
    sentences: dict[str, str] = {}
    for verdict in verdicts:
        if verdict.status == CANNOT_CHECK:
            continue
        for standing in verdict.standing:
            if standing.words(verdict.claim.id) or not standing.exact:
                sentences.setdefault(standing.preset, standing.sentence())
    return list(sentences.values())


@dataclass(frozen=True)
class Panel:
    """One panel of the main claim: a ratio claim, its factor in MACs, and its wall-clock factor
    on the setup the headline shows (`clock`, a GPU's when there is one) among all (`clocks`)."""

    claim: Claim
    label: str
    macs: Verdict | None
    clock: Verdict | None
    clocks: tuple[Verdict, ...] = ()


@dataclass(frozen=True)
class Headline:
    """The paper's main claim (a ratio_max claim): one Panel per pair, then the claim itself."""

    claim: Claim
    panels: tuple[Panel, ...]
    overall: Panel


def headlines(verdicts: Iterable[Verdict]) -> list[Headline]:
    """Per ratio_max claim ("up to 10x"): its panels (the ratio claims of one of its pairs, in
    the pairs' order) and its own verdicts."""
    by_claim: dict[str, list[Verdict]] = {}
    claims_by_id: dict[str, Claim] = {}
    for verdict in verdicts:
        by_claim.setdefault(verdict.claim.id, []).append(verdict)
        claims_by_id[verdict.claim.id] = verdict.claim
    singles = {c.pairs[0]: c for c in claims_by_id.values() if c.kind == "ratio"}
    found = []
    for claim in claims_by_id.values():
        if claim.kind != "ratio_max":
            continue
        panels = tuple(
            _panel(singles[pair], by_claim[singles[pair].id], _panel_label(singles[pair]))
            for pair in claim.pairs
            if pair in singles
        )
        overall = _panel(claim, by_claim[claim.id], f"up to {claim.reported:g}× (the largest)")
        found.append(Headline(claim, panels, overall))
    return found


def _panel_label(claim: Claim) -> str:
    baseline, res_b, rin, res_r = claim.pairs[0]
    label = claim.panel or (f"{res_r} px" if res_b == res_r else f"{res_b}/{res_r} px")
    return f"{label} ({baseline} / {rin})"


def _panel(claim: Claim, verdicts: list[Verdict], label: str) -> Panel:
    macs = next((v for v in verdicts if v.basis == "MACs"), None)
    clocks = tuple(v for v in verdicts if v.basis.startswith("wall-clock"))
    shown = shown_clock(clocks, largest=claim.kind == "ratio_max")
    return Panel(claim, label, macs, shown, clocks)


def shown_clock(verdicts: Iterable[Verdict], *, largest: bool = False) -> Verdict | None:
    """The wall-clock verdict a headline shows: a measured one before one that cannot be checked,
    a GPU's before a CPU's, forward before a train step; among setups alike in those (a GPU's
    forward at two batches), the first, or with `largest` (an "up to" claim, whose verdict is on
    its largest factor) one where the claim holds, else the one that measured the largest factor.
    None when nothing was timed."""
    timed = [v for v in verdicts if v.timing is not None]
    if not timed:
        return None

    def rank(v: Verdict) -> tuple:
        first = (v.status == CANNOT_CHECK, not v.timing.gpu, phase_order(v.timing.phase))
        if not largest:
            return first
        # A setup where the claim holds shows that it can; else the largest factor measured.
        factor = -v.measured if v.measured is not None else 0.0
        return *first, v.status != HOLDS, factor

    return min(timed, key=rank)
