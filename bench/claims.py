"""Published numbers as claims, and their verdicts on measured records. Imports no torch.

A claims file (`bench/claims/*.toml`; its header documents the fields) lists what papers report:
parameter counts, forward GFLOPs, efficiency factors between two models, FIDs. `evaluate` checks each
against result records (`bench.record.Record`s) and gives one or more verdicts per claim:

- holds / fails: the measured value is within / outside the claim's tolerance (or, for `at_least`
  claims, reaches / misses the reported factor), with the measured value and measured / reported;
- cannot check: the records lack what the claim needs, and the verdict says what is missing.

Efficiency factors are checked in MACs (from the flops cells) and, for every setup on which both
models were timed, in wall-clock (images per second). A verdict on a "reconstructed" preset says so:
a miss there is evidence about the reconstruction as much as about the paper.

`convention_fits` infers, per origin of the numbers, whether a published "GFLOP" is one multiply-add
(MACs) or two (2·MACs), from the presets built from released configs (reports.convention says it in
sentences). Which records count (newest per machine, ok counts, the most-trained FID) is
bench.selection's choice, shared with reports/.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

from bench import selection
from bench.family import Source
from bench.record import Record, is_number
from bench.selection import COUNT_PHASES, TIMED_PHASES

CLAIMS_DIR = Path(__file__).parent / "claims"

KINDS = ("params", "gflops", "ratio", "ratio_max", "fid")
# What one published "FLOP" is: a multiply-add (the DiT/ADM/EDM2 convention) or two.
CONVENTIONS = {"macs": 1, "2macs": 2}
CONVENTION_NAMES = {"macs": "MACs", "2macs": "2·MACs"}
COMPARES = ("approx", "at_least")
METRICS = ("fid", "fvd")
HOLDS, FAILS, CANNOT_CHECK = "holds", "fails", "cannot check"
VERDICTS = (HOLDS, FAILS, CANNOT_CHECK)
# Preset kinds (registry) that are the published model itself; every other kind ("paper text" with
# gaps filled, "reconstructed", ...) is called out in the verdicts.
EXACT_KINDS = ("released config", "test")


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


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    basis: str  # what was compared: "params", "GFLOPs = 2·MACs", "wall-clock forward, <setup>"...
    status: str  # one of VERDICTS
    measured: float | None = None
    ratio: float | None = None  # measured / reported
    detail: str = ""  # how the measured value was obtained, or why the claim cannot be checked
    caveat: str = ""  # reconstructed presets involved, and what that means for the verdict


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


# --- reading claims files ------------------------------------------------------------------------


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


# --- reading records -----------------------------------------------------------------------------


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class Measured:
    """The records indexed by what claims ask for."""

    counts: dict[tuple[str, int], dict[str, Record]] = field(default_factory=dict)  # by phase
    timed: dict[tuple[str, int], dict[tuple, Record]] = field(default_factory=dict)  # by setup
    fid: dict[tuple[str, int], Record] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[Record]) -> Measured:
        index = cls()
        for record in selection.latest(records):
            cell = record.cell
            key = (cell.preset, cell.resolution)
            if record.model is not None:
                index.sources[cell.preset] = record.model.source
            if cell.phase in COUNT_PHASES:
                selection.keep_count(index.counts.setdefault(key, {}), cell.phase, record)
            elif cell.phase in TIMED_PHASES:
                setup = (selection.hardware(record), cell.dtype, cell.batch, cell.mode, cell.phase)
                index.timed.setdefault(key, {})[setup] = record
            elif cell.phase == "fid":
                index.fid[key] = selection.most_trained(
                    [r for r in (index.fid.get(key), record) if r]
                )
        return index

    def value(self, key: tuple[str, int], phase: str, name: str):
        record = self.counts.get(key, {}).get(phase)
        if record is None or record.status != "ok":
            return None
        value = record.values.get(name)
        return value if is_number(value) else None

    def params(self, key: tuple[str, int]):
        count = self.value(key, "params", "params")
        if count is None:  # every record's model block carries the same count
            for record in [*self.counts.get(key, {}).values(), *self.timed.get(key, {}).values()]:
                if record.model is not None and is_number(record.model.params):
                    return record.model.params
        return count

    def macs(self, key: tuple[str, int]):
        return self.value(key, "flops", "macs_fwd")

    def missing(self, key: tuple[str, int], phase: str) -> str:
        """Why a count is absent, in words."""
        preset, resolution = key
        record = self.counts.get(key, {}).get(phase)
        if record is not None and record.status != "ok":
            why = f": {record.error}" if record.error else ""
            return f"the {phase} cell of {preset} at {resolution} px ended {record.status}{why}"
        return f"no {phase} record of {preset} at {resolution} px in these results"

    def exact(self, preset: str) -> bool:
        """True for a preset built from the published model's released config."""
        source = self.sources.get(preset)
        return source is not None and source.kind in EXACT_KINDS

    def caveat(self, presets: Iterable[str]) -> str:
        """Names the presets that are not the published model's released config, and says what a
        miss on them means."""
        notes = []
        for preset in dict.fromkeys(presets):
            source = self.sources.get(preset)
            if source is None or source.kind in EXACT_KINDS:
                continue
            detail = _shorten((source.where or source.note).split("; ")[0])
            kind = source.kind
            verb = "is reconstructed" if kind == "reconstructed" else f"is built from {kind}"
            notes.append(f"{preset} {verb}" + (f" ({detail})" if detail else ""))
        if not notes:
            return ""
        return (
            "; ".join(notes) + ": a miss is evidence about the reconstruction as much as about "
            "the paper"
        )


# --- evaluating ----------------------------------------------------------------------------------


def evaluate(claims: Iterable[Claim], records: Iterable[Record]) -> list[Verdict]:
    """One or more verdicts per claim, in the claims' order."""
    measured = Measured.of(records)
    verdicts: list[Verdict] = []
    for claim in claims:
        verdicts.extend(CHECKS[claim.kind](claim, measured))
    return verdicts


def _judge(claim: Claim, measured_value: float) -> tuple[str, float]:
    ratio = measured_value / claim.reported
    if claim.compare == "at_least":
        ok = ratio >= 1 - claim.tolerance
    else:
        ok = abs(ratio - 1) <= claim.tolerance
    return (HOLDS if ok else FAILS), ratio


def _check_params(claim: Claim, measured: Measured) -> list[Verdict]:
    key = (claim.preset, claim.resolution)
    count = measured.params(key)
    caveat = measured.caveat([claim.preset])
    if count is None:
        return [Verdict(claim, "params", CANNOT_CHECK, detail=measured.missing(key, "params"))]
    status, ratio = _judge(claim, count)
    detail = f"{count:,} parameters counted on the meta device"
    return [Verdict(claim, "params", status, count, ratio, detail, caveat)]


def _check_gflops(claim: Claim, measured: Measured) -> list[Verdict]:
    key = (claim.preset, claim.resolution)
    basis = f"GFLOPs = {CONVENTION_NAMES[claim.convention]}"
    macs = measured.macs(key)
    if macs is None:
        return [Verdict(claim, basis, CANNOT_CHECK, detail=measured.missing(key, "flops"))]
    gflops = CONVENTIONS[claim.convention] * macs / 1e9
    status, ratio = _judge(claim, gflops)
    detail = f"{macs / 1e9:,.2f} GMACs per image and forward pass, attention included"
    return [Verdict(claim, basis, status, gflops, ratio, detail, measured.caveat([claim.preset]))]


def _pair_text(pair) -> str:
    baseline, res_b, rin, res_r = pair
    return f"{baseline}/{rin}" if res_b == res_r else f"{baseline}@{res_b}/{rin}@{res_r}"


def _check_ratio(claim: Claim, measured: Measured) -> list[Verdict]:
    """The efficiency factor baseline / RIN: in MACs, then in wall-clock per common setup."""
    presets = [p for b, _, r, _ in claim.pairs for p in (b, r)]
    caveat = measured.caveat(presets)
    verdicts = [_ratio_in_macs(claim, measured, caveat)]
    verdicts.extend(_ratio_in_time(claim, measured, caveat))
    return verdicts


def _ratio_in_macs(claim: Claim, measured: Measured, caveat: str) -> Verdict:
    factors, missing = {}, []
    for pair in claim.pairs:
        baseline, rin = (pair[0], pair[1]), (pair[2], pair[3])
        gaps = [measured.missing(k, "flops") for k in (baseline, rin) if measured.macs(k) is None]
        if gaps:
            missing.extend(gaps)
        else:
            factors[_pair_text(pair)] = measured.macs(baseline) / measured.macs(rin)
    if not factors:
        return Verdict(claim, "MACs", CANNOT_CHECK, detail="; ".join(missing), caveat=caveat)
    single = None
    if len(claim.pairs) == 1:
        (baseline, res_b, rin, res_r) = claim.pairs[0]
        single = (
            f"{baseline} {measured.macs((baseline, res_b)) / 1e9:,.1f} GMACs / "
            f"{rin} {measured.macs((rin, res_r)) / 1e9:,.1f} GMACs"
        )
    extra = "; not measured: " + "; ".join(missing) if missing else ""
    return _largest(claim, "MACs", factors, caveat, single=single, extra=extra)


def _largest(
    claim: Claim, basis: str, factors: dict[str, float], caveat: str, *, single, extra: str
) -> Verdict:
    """The verdict on the largest factor; `single` details a lone pair, else the factors are listed
    with `extra` (what was not measured) after them."""
    best = max(factors, key=factors.get)
    status, ratio = _judge(claim, factors[best])
    listed = "largest of " + ", ".join(f"{k} {v:.2f}x" for k, v in factors.items()) + extra
    return Verdict(claim, basis, status, factors[best], ratio, single or listed, caveat)


def _ratio_in_time(claim: Claim, measured: Measured, caveat: str) -> list[Verdict]:
    """Per (hardware, dtype, batch, mode, phase) on which some pair was timed on both sides:
    images per second of RIN / of the baseline."""
    setups: dict[tuple, dict[str, tuple[Record, Record]]] = {}
    for pair in claim.pairs:
        baseline, rin = (pair[0], pair[1]), (pair[2], pair[3])
        timed_b, timed_r = measured.timed.get(baseline, {}), measured.timed.get(rin, {})
        for setup in timed_b.keys() & timed_r.keys():
            setups.setdefault(setup, {})[_pair_text(pair)] = (timed_b[setup], timed_r[setup])
    if not setups:
        names = " and ".join(dict.fromkeys(f"{p[0]}, {p[2]}" for p in claim.pairs))
        return [
            Verdict(
                claim,
                "wall-clock",
                CANNOT_CHECK,
                detail=f"no timings of both {names} on one setup (device, dtype, batch, mode)",
                caveat=caveat,
            )
        ]
    order = sorted(setups, key=lambda s: (s[0], s[1], s[2], s[3], _phase_order(s[4])))
    return [_ratio_on_setup(claim, setup, setups[setup], caveat) for setup in order]


def _ratio_on_setup(
    claim: Claim, setup: tuple, pairs: dict[str, tuple[Record, Record]], caveat: str
) -> Verdict:
    """The factor on one setup: the largest over the pairs timed there (baseline, RIN records)."""
    any_record = next(iter(pairs.values()))[0]
    basis = f"wall-clock {setup[4]}, {selection.setup_label(any_record)}"
    factors, problems = {}, []
    for name, (base_record, rin_record) in pairs.items():
        speeds = [_speed(r) for r in (base_record, rin_record)]
        if None in speeds:
            problems.extend(
                f"{r.cell.preset} {r.status}" + (f" ({r.error})" if r.error else "")
                for r, s in zip((base_record, rin_record), speeds, strict=True)
                if s is None
            )
        else:
            factors[name] = speeds[1] / speeds[0]
    if not factors:
        return Verdict(claim, basis, CANNOT_CHECK, detail="; ".join(problems), caveat=caveat)
    single = None
    if len(pairs) == 1 and not problems:
        base_record, rin_record = next(iter(pairs.values()))
        single = (
            f"{rin_record.cell.preset} {_speed(rin_record):,.4g} img/s / "
            f"{base_record.cell.preset} {_speed(base_record):,.4g} img/s"
        )
    extra = "; failed: " + "; ".join(problems) if problems else ""
    absent = len(claim.pairs) - len(pairs)
    if absent:
        extra += f"; {absent} of {len(claim.pairs)} pairs not timed on this setup"
    return _largest(claim, basis, factors, caveat, single=single, extra=extra)


def _phase_order(phase: str) -> int:
    return TIMED_PHASES.index(phase) if phase in TIMED_PHASES else len(TIMED_PHASES)


def _speed(record: Record) -> float | None:
    if record.status != "ok":
        return None
    value = record.values.get("images_per_s")
    return float(value) if is_number(value) and value > 0 else None


def _check_fid(claim: Claim, measured: Measured) -> list[Verdict]:
    key = (claim.preset, claim.resolution)
    basis = claim.metric.upper()
    caveat = measured.caveat([claim.preset])

    def cannot(why: str) -> list[Verdict]:
        return [Verdict(claim, basis, CANNOT_CHECK, detail=why, caveat=caveat)]

    if claim.metric == "fvd":
        return cannot("rinbench computes FID, not FVD")
    record = measured.fid.get(key)
    if record is None:
        return cannot(
            f"no FID record of {claim.preset} at {claim.resolution} px: train it "
            "(rinbench train), sample 50,000 images with rinbench fid, and add the result as a "
            "record of phase 'fid'"
        )
    if record.status != "ok":
        return cannot(f"the fid cell ended {record.status}: {record.error or ''}".strip())
    values = record.values
    metric_key, fid = selection.first_number(values, selection.FID_KEYS)
    if fid is None:
        return cannot("the fid record holds no fid_* value")
    # The checkpoint's origin is a word: a detail, not a measurement (upgrade_v1 moves it there).
    if record.details.get("weights", values.get("weights")) == "random-init":
        return cannot(f"{metric_key} {fid:.3g} is of an untrained model (random-init weights)")
    samples = values.get("n_samples")
    if not is_number(samples) or samples < claim.min_samples:
        return cannot(
            f"{metric_key} {fid:.3g} from {samples if samples is not None else 'an unknown number of'}"
            f" samples; the paper's number uses {claim.min_samples:,} (fewer samples bias FID up)"
        )
    if claim.train_images is not None:
        seen = _images_seen(values, measured, key)
        if seen is None or seen < 0.9 * claim.train_images:
            trained = "an unknown number of" if seen is None else f"{seen:.3g}"
            return cannot(
                f"{metric_key} {fid:.3g}, but the checkpoint was trained on {trained} images and "
                f"the paper's model on {claim.train_images:.3g}"
            )
    status, ratio = _judge(claim, fid)
    detail = f"{metric_key} from {int(samples):,} samples"
    if is_number(values.get("steps")):
        detail += f", {values['steps']} sampling steps"
    return [Verdict(claim, basis, status, fid, ratio, detail, caveat)]


def _images_seen(values: dict, measured: Measured, key: tuple[str, int]) -> float | None:
    if is_number(values.get("images_seen")):
        return float(values["images_seen"])
    per_image = measured.value(key, "flops", "macs_train_step")
    if is_number(values.get("train_macs")) and per_image:
        return values["train_macs"] / per_image
    return None


CHECKS = {
    "params": _check_params,
    "gflops": _check_gflops,
    "ratio": _check_ratio,
    "ratio_max": _check_ratio,
    "fid": _check_fid,
}


# --- the FLOP convention -------------------------------------------------------------------------


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
            within = [
                abs(claim.reported / (CONVENTIONS[nearest] * gmacs) - 1) <= claim.tolerance
                for claim, gmacs, _ in used
            ]
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


def tally(verdicts: Iterable[Verdict]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict in verdicts:
        counts[verdict.status] += 1
    return counts
