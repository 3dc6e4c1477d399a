"""The claims file: what papers report, read from TOML into `Claim`s, checked field by field.

A claims file (`bench/claims/*.toml`, the built-in ones beside this module; the header of
`rin_paper.toml` documents the fields) lists what papers report: parameter counts, forward GFLOPs,
efficiency factors between two models, FIDs. `load` reads a built-in file by name or any .toml path,
`parse` an already parsed table; a file that cannot be read raises `ClaimsError`, naming the file and
the claim. `group` says whether a claim is the RIN paper's own (origin RIN_ORIGIN) or a counting
check of a baseline's paper.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

# The built-in claims files live beside this module (package data).
CLAIMS_DIR = Path(__file__).parent

KINDS = ("params", "gflops", "ratio", "ratio_max", "fid")
# What one published "FLOP" is: a multiply-add (the DiT/ADM/EDM2 convention) or two.
CONVENTIONS = {"macs": 1, "2macs": 2}
CONVENTION_NAMES = {"macs": "MACs", "2macs": "2·MACs"}
COMPARES = ("approx", "at_least")
METRICS = ("fid", "fvd")
# The claims the RIN paper makes itself, apart from the counting checks of the baselines' papers.
RIN_ORIGIN = "the RIN paper"
RIN_GROUP, BASELINE_GROUP = "RIN paper", "baseline checks"
GROUPS = (RIN_GROUP, BASELINE_GROUP)


class ClaimsError(ValueError):
    """A claims file that cannot be read: the message names the file and the claim."""


@dataclass(frozen=True)
class Claim:
    id: str
    kind: str
    reported: float
    source: str
    origin: str = ""
    tolerance: float = 0.0
    compare: str = "approx"
    preset: str | None = None
    resolution: int | None = None
    convention: str | None = None
    pairs: tuple[tuple[str, int, str, int], ...] = ()
    metric: str = "fid"
    min_samples: int = 50_000
    train_images: float | None = None
    statement: str = ""
    note: str = ""
    panel: str = ""  # ratio kinds: the label of its panel in the headline ("ImageNet 256 px")

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.compare not in COMPARES:
            raise ValueError(f"unknown compare {self.compare!r}; valid: {', '.join(COMPARES)}")
        reported = self.reported
        if isinstance(reported, bool) or not (
            isinstance(reported, int | float) and 0 < reported < math.inf
        ):
            raise ValueError(f"'reported' must be a positive number, got {self.reported!r}")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"'tolerance' is relative, in [0, 1), got {self.tolerance!r}")
        if not self.source:
            raise ValueError("every claim needs its 'source'")
        if self.kind in ("params", "gflops", "fid") and (
            not self.preset or not isinstance(self.resolution, int)
        ):
            raise ValueError(f"a {self.kind} claim needs 'preset' and an integer 'resolution'")
        if self.kind == "gflops" and self.convention not in CONVENTIONS:
            raise ValueError(
                f"a gflops claim needs 'convention', one of {', '.join(CONVENTIONS)}; "
                f"got {self.convention!r}"
            )
        if self.kind in ("ratio", "ratio_max"):
            if not self.pairs or any(len(p) != 4 for p in self.pairs):
                raise ValueError(
                    "a ratio claim needs 'pairs' = [[baseline preset, resolution, "
                    "RIN preset, resolution], ...]"
                )
            if self.kind == "ratio" and len(self.pairs) != 1:
                raise ValueError("a ratio claim compares one pair; use ratio_max for several")
        if self.kind == "fid" and self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; valid: {', '.join(METRICS)}")

    @property
    def text(self) -> str:
        """The claim in words."""
        if self.statement:
            return self.statement
        if self.kind in ("ratio", "ratio_max"):
            pairs = "; ".join(f"{r} at {rr} px over {b} at {rb} px" for b, rb, r, rr in self.pairs)
            factor = f"{self.reported:g}×"
            return f"{'up to ' if self.kind == 'ratio_max' else ''}{factor} cheaper: {pairs}"
        where = f"{self.preset} at {self.resolution} px"
        if self.kind == "params":
            return f"{where} has {self.reported / 1e6:g}M parameters"
        if self.kind == "gflops":
            per = "one FLOP" if self.convention == "macs" else "two FLOPs"
            return (
                f"{where} costs {self.reported:g} GFLOPs per forward pass ({per} per multiply-add)"
            )
        return f"{where} reaches {self.metric.upper()} {self.reported:g}"

    @property
    def presets(self) -> tuple[tuple[str, int], ...]:
        """Every (preset, resolution) the claim is about."""
        if self.pairs:
            return tuple(
                dict.fromkeys(key for b, rb, r, rr in self.pairs for key in ((b, rb), (r, rr)))
            )
        return ((self.preset, self.resolution),)


def group(claim: Claim) -> str:
    """RIN_GROUP for what the RIN paper claims itself, BASELINE_GROUP for the counting checks of
    the baselines' own papers."""
    return RIN_GROUP if claim.origin == RIN_ORIGIN else BASELINE_GROUP


def builtin_names() -> list[str]:
    return sorted(path.stem for path in CLAIMS_DIR.glob("*.toml"))


def load(name_or_path: str | Path = "rin_paper") -> list[Claim]:
    """The claims of a built-in file (by name, e.g. "rin_paper") or of a .toml file path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = CLAIMS_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise ClaimsError(
                f"unknown claims file {name_or_path!r}; built-in: {', '.join(builtin_names())} "
                "(or a path to a .toml file)"
            )
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ClaimsError(f"{path}: {err}") from None
    return parse(table, where=str(path))


def parse(table: dict, where: str = "claims") -> list[Claim]:
    """Claims from a parsed claims file: [[group]] tables of shared fields, each with `claims` rows."""
    known = {f.name for f in fields(Claim)}
    claims: list[Claim] = []
    groups = table.get("group", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ClaimsError(f"{where}: 'group' must be an array of tables, written [[group]]")
    for number, group in enumerate(groups, start=1):
        rows = group.get("claims", [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ClaimsError(f"{where}: group {number}: 'claims' must be a list of inline tables")
        shared = {k: v for k, v in group.items() if k != "claims"}
        if not rows:
            raise ClaimsError(f"{where}: group {number} has no claims")
        for row in rows:
            entry = shared | row
            unknown = sorted(set(entry) - known)
            entry.setdefault("id", _default_id(entry))
            if unknown:
                raise ClaimsError(
                    f"{where}: claim {entry['id']!r}: unknown fields {unknown}; "
                    f"known: {', '.join(sorted(known))}"
                )
            if "pairs" in entry:
                entry["pairs"] = tuple(tuple(pair) for pair in entry["pairs"])
            try:
                claims.append(Claim(**entry))
            except (TypeError, ValueError) as err:
                raise ClaimsError(f"{where}: claim {entry['id']!r}: {err}") from None
    seen: set[str] = set()
    for claim in claims:
        if claim.id in seen:
            raise ClaimsError(f"{where}: claim id {claim.id!r} appears twice")
        seen.add(claim.id)
    if not claims:
        raise ClaimsError(f"{where}: no claims ([[group]] tables with 'claims' rows)")
    return claims


def _default_id(entry: dict) -> str:
    parts = [entry.get("preset"), f"r{entry.get('resolution')}", entry.get("kind")]
    if entry.get("kind") == "gflops":
        parts.append(entry.get("convention"))
    return "-".join(str(p) for p in parts if p)
