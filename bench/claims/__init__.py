"""Published numbers as claims, and their verdicts on measured records. Standard library only: it
imports no torch (reports/ reads it on machines without torch).

Modules, one job each (each layer imports only the ones above it):
- `spec`: the claims file format: `Claim` and its checks, `load` / `parse` / `builtin_names`,
  `ClaimsError`, the field constants (KINDS, CONVENTIONS, COMPARES, METRICS), the two groups.
  The built-in files (`rin_paper.toml`) live in this folder as package data.
- `verdict`: what a verdict is (`Verdict`, with the `Timing` and `Standing` it carries, the words
  HOLDS / FAILS / INCONCLUSIVE / CANNOT_CHECK) and how it reads (`describe`, `Verdict.phrase`).
- `evaluation`: claims checked against records: `evaluate`, the per-kind checks in CHECKS, the
  record index `Measured`, `cite_profiles`.
- `convention`: which FLOP convention each origin of published GFLOPs uses (`convention_fits`).
- `summary`: the verdicts gathered for a reader: `tally`, `grouped`, `caveats`, `headlines`.

Every public name is re-exported here: `from bench import claims; claims.evaluate(...)`.
"""

from bench.claims.convention import ConventionFit, convention_fits
from bench.claims.evaluation import CHECKS, Measured, cite_profiles, evaluate
from bench.claims.spec import (
    BASELINE_GROUP,
    CLAIMS_DIR,
    COMPARES,
    CONVENTION_NAMES,
    CONVENTIONS,
    GROUPS,
    KINDS,
    METRICS,
    RIN_GROUP,
    RIN_ORIGIN,
    Claim,
    ClaimsError,
    builtin_names,
    group,
    load,
    parse,
)
from bench.claims.summary import (
    Headline,
    Panel,
    caveats,
    grouped,
    headlines,
    shown_clock,
    tally,
    tally_text,
)
from bench.claims.verdict import (
    CANNOT_CHECK,
    EXACT_KINDS,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    VERDICTS,
    Standing,
    Timing,
    Verdict,
    describe,
    judge_interval,
    threshold,
)

__all__ = [
    "BASELINE_GROUP",
    "CANNOT_CHECK",
    "CHECKS",
    "CLAIMS_DIR",
    "COMPARES",
    "CONVENTIONS",
    "CONVENTION_NAMES",
    "EXACT_KINDS",
    "FAILS",
    "GROUPS",
    "HOLDS",
    "INCONCLUSIVE",
    "KINDS",
    "METRICS",
    "RIN_GROUP",
    "RIN_ORIGIN",
    "VERDICTS",
    "Claim",
    "ClaimsError",
    "ConventionFit",
    "Headline",
    "Measured",
    "Panel",
    "Standing",
    "Timing",
    "Verdict",
    "builtin_names",
    "caveats",
    "cite_profiles",
    "convention_fits",
    "describe",
    "evaluate",
    "group",
    "judge_interval",
    "grouped",
    "headlines",
    "load",
    "parse",
    "shown_clock",
    "tally",
    "tally_text",
    "threshold",
]
