"""A verdict on one claim, and the verdict in words.

`Verdict.status` is the word machines read (HOLDS, FAILS, INCONCLUSIVE, CANNOT_CHECK);
`Verdict.phrase` (that is, `describe`) says it for a reader, with how far above or below an `at_least` claim the factor lands
and the presets it rests on that are not the published model as released or miss the paper's own
cost (`Standing`): "holds at 1.39× the claimed 6.62×, on a reconstruction of rin-in256 that misses
the paper's cost by 27% (0.73×)". A wall-clock verdict names the machine both of its cells ran on
(`Timing`).

A wall-clock factor carries its 95% interval (`Verdict.interval`, bench.intervals): it holds when
the whole interval lies within what the claim allows (`allows`: at or above the threshold, the
reported factor less its tolerance, for an at_least claim; within the tolerance either side for an
approx one), fails when the whole interval lies outside it, and is inconclusive when the interval
straddles an edge or there is none (two cells timed apart): "2.29× [2.18, 2.41]: fails at 0.83×
the claimed 2.77×". Counts (parameters, MACs) are exact and keep holds and fails, but for an "up
to" claim short on the pairs counted while others lack their counts (inconclusive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.claims.spec import Claim, group
from bench.intervals import Interval

HOLDS, FAILS, INCONCLUSIVE, CANNOT_CHECK = "holds", "fails", "inconclusive", "cannot check"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, CANNOT_CHECK)
# Preset kinds (registry) that are the published model itself; every other kind ("paper text" with
# gaps filled, "reconstructed", ...) is called out in the verdicts.
EXACT_KINDS = ("released config", "test")


@dataclass(frozen=True)
class Timing:
    """Where both cells of a wall-clock verdict ran, and whether their timings were noise."""

    hardware: str  # bench.selection.hardware: what the setup is keyed on
    words: str  # bench.selection.setup_words: "AMD EPYC 7B13 (2 CPUs, 2 threads, fp32, b1, eager)"
    gpu: bool
    phase: str
    noisy: bool = False  # a record the factor rests on says its latency is noise (latency_noisy)


@dataclass(frozen=True)
class Standing:
    """A preset a verdict rests on, when it is not the published model as released or its forward
    cost misses the paper's number: what a reader must know to weigh the verdict."""

    preset: str
    kind: str  # its Source kind
    where: str = ""
    cost_claim: str = ""  # the id of the preset's own gflops claim
    cost_ratio: float | None = None  # that claim's measured / reported
    cost_holds: bool | None = None

    @property
    def exact(self) -> bool:
        return self.kind in EXACT_KINDS

    def _origin(self, *, reconstructed: str, exact: str, other: str) -> str:
        """Where the preset comes from, in the phrasing given for its kind ({preset} and {kind}
        filled in): a reconstruction, the published model itself (EXACT_KINDS), or anything else
        ("paper text" with gaps filled, ...)."""
        if self.kind == "reconstructed":
            phrasing = reconstructed
        elif self.exact:
            phrasing = exact
        else:
            phrasing = other
        return phrasing.format(preset=self.preset, kind=self.kind)

    def words(self, claim_id: str = "") -> str:
        """The words a verdict on claim `claim_id` carries: 'on a reconstruction of rin-in256 that
        misses the paper's cost by 27% (0.73x)'; '' for a released preset whose cost holds. A
        preset's own gflops verdict does not cite itself."""
        ratio = None if self.cost_claim == claim_id else self.cost_ratio
        misses = ratio is not None and not self.cost_holds
        if self.exact and not misses:
            return ""
        text = self._origin(
            reconstructed="on a reconstruction of {preset}",
            exact="on {preset},",
            other="on {preset} (built from {kind})",
        )
        if misses:
            verb = "whose count misses" if self.exact else "that misses"
            text += f" {verb} the paper's cost by {_percent(abs(ratio - 1))} ({ratio:.2f}×)"
        elif ratio is not None:
            text += " whose cost matches the paper's"
        return text

    def sentence(self) -> str:
        """The caveat about this preset, once for every verdict that rests on it."""
        text = self._origin(
            reconstructed="{preset} is reconstructed",
            exact="{preset} is built from a {kind}",
            other="{preset} is built from {kind}",
        )
        if self.where:
            text += f" ({shorten(self.where.split('; ')[0])})"
        if self.cost_ratio is not None:
            verdict = HOLDS if self.cost_holds else FAILS
            text += (
                f"; its forward cost is {self.cost_ratio:.2f}× the paper's ({self.cost_claim} "
                f"{verdict})"
            )
        if self.exact:
            return text + ": a factor that rests on it rests on a count the paper does not match"
        return (
            text
            + ": a verdict on it is evidence about the reconstruction as much as about the paper"
        )


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    basis: str  # what was compared: "params", "GFLOPs = 2·MACs", "wall-clock forward on <setup>"...
    status: str  # one of VERDICTS: what machines read; `phrase` is the same in words
    measured: float | None = None
    ratio: float | None = None  # measured / reported
    detail: str = ""  # how the measured value was obtained, or why the claim cannot be checked
    caveat: str = ""  # reconstructed presets involved, and what that means for the verdict
    presets: tuple[str, ...] = ()  # the presets the verdict rests on
    pair: tuple[str, int, str, int] | None = None  # ratio kinds: the pair of the measured factor
    timing: Timing | None = None  # wall-clock verdicts: where both cells ran
    standing: tuple[Standing, ...] = ()  # presets that are not as released, or miss their cost
    interval: Interval | None = None  # wall-clock: the factor's 95% interval (or why there is none)

    @property
    def group(self) -> str:
        """RIN_GROUP for the RIN paper's own numbers, BASELINE_GROUP for the others."""
        return group(self.claim)

    @property
    def phrase(self) -> str:
        """The verdict in words that carry what it rests on: 'holds at 1.39× the claimed 6.62×, on
        a reconstruction of rin-in256 that misses the paper's cost by 27% (0.73×)'."""
        return describe(self)


def describe(verdict: Verdict, *, standing: bool = True) -> str:
    """Verdict.phrase; without the presets it rests on when `standing` is False (for a line that
    has said them already)."""
    claim, ratio = verdict.claim, verdict.ratio
    if verdict.status == CANNOT_CHECK or ratio is None:
        return verdict.status
    if verdict.interval is not None:
        words = [_judged_interval(verdict)]
    elif verdict.status == INCONCLUSIVE:  # an "up to" claim short on the pairs that were counted
        words = [
            f"{INCONCLUSIVE}: short at {ratio:.2f}× the claimed {claim.reported:g}×, {UNMEASURED}"
        ]
    elif claim.compare == "at_least":
        words = [f"{verdict.status} at {ratio:.2f}× the claimed {claim.reported:g}×"]
        if verdict.status == HOLDS and ratio < 1:
            words[0] += f" (within its {_percent(claim.tolerance)} tolerance)"
    elif verdict.status == HOLDS:
        words = [HOLDS]
    else:
        side = "below" if ratio < 1 else "above"
        words = [f"{FAILS}: {_percent(abs(ratio - 1))} {side} the reported"]
    if standing:
        words += [text for s in verdict.standing if (text := s.words(claim.id))]
    phrase = ", ".join(words)
    if verdict.timing is not None and verdict.timing.noisy:
        phrase += " (noisy timing)"
    return phrase


# A value at its tolerance's very edge holds: measured / reported of whole numbers lands a rounding
# error either side of 1 - tolerance (294,520,000 / 296,000,000 = 0.99499999...), and one path
# dividing where another multiplies must not turn that into two verdicts.
EDGE = 1e-9


def threshold(claim: Claim) -> float:
    """The least value a claim allows: the reported one less its tolerance (the factor an at_least
    claim needs)."""
    return claim.reported * (1 - claim.tolerance)


def ceiling(claim: Claim) -> float:
    """The most a claim allows: the reported value plus its tolerance for an approx claim; no end
    (inf) for an at_least one."""
    return math.inf if claim.compare == "at_least" else claim.reported * (1 + claim.tolerance)


def allows(claim: Claim, value: float) -> bool:
    """Whether `value` lies within what the claim allows, its edges included: the one rule of
    counts, factors and the FLOP convention alike."""
    return threshold(claim) * (1 - EDGE) <= value <= ceiling(claim) * (1 + EDGE)


def short_of(claim: Claim, value: float) -> bool:
    """Whether `value` lies below what the claim allows."""
    return value < threshold(claim) * (1 - EDGE)


def judge_interval(claim: Claim, interval: Interval) -> str:
    """HOLDS when the whole interval lies within what the claim allows (at_least: at or above its
    threshold; approx: within its tolerance either side), FAILS when the whole interval lies
    outside it, INCONCLUSIVE when it straddles an edge or there is no interval."""
    if not interval.available:
        return INCONCLUSIVE
    if allows(claim, interval.low) and allows(claim, interval.high):
        return HOLDS
    if short_of(claim, interval.high) or interval.low > ceiling(claim) * (1 + EDGE):
        return FAILS
    return INCONCLUSIVE


# After the reason there is no interval: timed apart there is none, and one over contended rounds
# is the contention's (the reason shows it), not the machine's.
NO_INTERVAL = "so no interval the verdict can rest on"
# Why an "up to" claim whose measured pairs all fall short is no fail: its largest factor may lie in
# a pair that was not measured (the verdict's detail names them).
UNMEASURED = "but not every pair of the claim was measured"


def _judged_interval(verdict: Verdict) -> str:
    """'fails at 0.83× the claimed 2.77×'; 'inconclusive: the interval [2.40, 2.61] straddles the
    2.49× the claim needs (2.77× less its 10% tolerance)'; 'inconclusive: timed apart, not
    interleaved, so no interval the verdict can rest on (as measured, 0.95× the claimed 2.77×)'."""
    claim, interval, ratio = verdict.claim, verdict.interval, verdict.ratio
    at = f"{ratio:.2f}× the claimed {claim.reported:g}×"
    if not interval.available:
        return f"{INCONCLUSIVE}: {interval.reason}, {NO_INTERVAL} (as measured, {at})"
    if verdict.status == INCONCLUSIVE and judge_interval(claim, interval) == FAILS:
        return f"{INCONCLUSIVE}: short at {at}, {UNMEASURED} on this setup"
    if verdict.status == INCONCLUSIVE:
        return (
            f"{INCONCLUSIVE}: the interval [{interval.low:.2f}, {interval.high:.2f}] straddles "
            f"the {_edge_words(claim, interval)}"
        )
    text = f"{verdict.status} at {at}"
    if verdict.status == HOLDS and ratio < 1:
        text += f" (within its {_percent(claim.tolerance)} tolerance)"
    return text


def _edge_words(claim: Claim, interval: Interval) -> str:
    """The edges an interval straddles: '2.49× the claim needs (2.77× less its 10% tolerance)',
    for an approx claim's upper edge '11.00× the claim allows (10× plus its 10% tolerance)', or
    both, joined by 'and'."""
    tolerance = f" its {_percent(claim.tolerance)} tolerance" if claim.tolerance else ""
    edges = []
    if short_of(claim, interval.low):
        edges.append(
            f"{threshold(claim):.2f}× the claim needs"
            + (f" ({claim.reported:g}× less{tolerance})" if tolerance else "")
        )
    if not allows(claim, interval.high) and not short_of(claim, interval.high):
        edges.append(
            f"{ceiling(claim):.2f}× the claim allows"
            + (f" ({claim.reported:g}× plus{tolerance})" if tolerance else "")
        )
    return " and the ".join(edges)


def shorten(text: str, limit: int = 160) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _percent(fraction: float) -> str:
    """27%, 1.4%: whole percents from 10% up."""
    return f"{fraction:.0%}" if fraction >= 0.095 else f"{fraction:.1%}"
