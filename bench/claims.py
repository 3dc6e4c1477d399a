"""Published numbers as claims, and their verdicts on measured records. Imports no torch.

A claims file (`bench/claims/*.toml`; its header documents the fields) lists what papers report:
parameter counts, forward GFLOPs, efficiency factors between two models, FIDs. `evaluate` checks each
against result records (`bench.record.Record`s) and gives one or more verdicts per claim:

- holds / fails: the measured value is within / outside the claim's tolerance (or, for `at_least`
  claims, reaches / misses the reported factor), with the measured value and measured / reported;
- cannot check: the records lack what the claim needs, and the verdict says what is missing.

Efficiency factors are checked in MACs (from the flops cells) and, for every setup on which both
models were timed (one machine, GPU or CPU, dtype, batch, mode, phase and, where recorded, torch's
thread count), in wall-clock (images per second); such a verdict names the machine (`Timing`).

`status` is the word machines read (HOLDS, FAILS, CANNOT_CHECK); `Verdict.phrase` says it for a
reader, with how far above or below an `at_least` claim the factor lands and the presets it rests on
that are not the published model as released or miss the paper's own cost (`Standing`): "holds at
1.39× the claimed 6.62×, on a reconstruction of rin-in256 that misses the paper's cost by 27%
(0.73×)". `caveats` says each such preset's caveat once. `grouped` puts the RIN paper's own claims
(origin RIN_ORIGIN) apart from the baselines' counting checks; `headlines` gathers the paper's main
claim (a ratio_max claim) and its panels, with the wall-clock verdict a headline shows (a GPU's
where there is one).

`convention_fits` infers, per origin of the numbers, whether a published "GFLOP" is one multiply-add
(MACs) or two (2·MACs), from the presets built from released configs (reports.convention says it in
sentences). Which records count (newest per machine, ok counts, the most-trained FID) is
bench.selection's choice, shared with reports/.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from bench import selection
from bench.cell import PROFILE_PHASES
from bench.family import Source
from bench.profile import cite
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

    def words(self, claim_id: str = "") -> str:
        """The words a verdict on claim `claim_id` carries: 'on a reconstruction of rin-in256 that
        misses the paper's cost by 27% (0.73x)'; '' for a released preset whose cost holds. A
        preset's own gflops verdict does not cite itself."""
        ratio = None if self.cost_claim == claim_id else self.cost_ratio
        misses = ratio is not None and not self.cost_holds
        if self.exact and not misses:
            return ""
        if self.kind == "reconstructed":
            text = f"on a reconstruction of {self.preset}"
        elif self.exact:
            text = f"on {self.preset},"
        else:
            text = f"on {self.preset} (built from {self.kind})"
        if misses:
            verb = "whose count misses" if self.exact else "that misses"
            text += f" {verb} the paper's cost by {_percent(abs(ratio - 1))} ({ratio:.2f}×)"
        elif ratio is not None:
            text += " whose cost matches the paper's"
        return text

    def sentence(self) -> str:
        """The caveat about this preset, once for every verdict that rests on it."""
        if self.kind == "reconstructed":
            text = f"{self.preset} is reconstructed"
        elif self.exact:
            text = f"{self.preset} is built from a {self.kind}"
        else:
            text = f"{self.preset} is built from {self.kind}"
        if self.where:
            text += f" ({_shorten(self.where.split('; ')[0])})"
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
    if claim.compare == "at_least":
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


def _percent(fraction: float) -> str:
    """27%, 1.4%: whole percents from 10% up."""
    return f"{fraction:.0%}" if fraction >= 0.095 else f"{fraction:.1%}"


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
                # torch's thread count, where recorded, is part of a CPU setup: a factor between
                # cells that ran on 1 and on 2 threads would measure the threads.
                setup = (
                    selection.hardware(record),
                    cell.dtype,
                    cell.batch,
                    cell.mode,
                    cell.phase,
                    selection.threads(record),
                )
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
    """One or more verdicts per claim, in the claims' order. Each names the presets it rests on,
    with their caveat and standing (reconstructed, or missing the paper's cost)."""
    claims, records = list(claims), list(records)
    measured = Measured.of(records)
    costs = _cost_checks(claims, measured)
    verdicts: list[Verdict] = []
    for claim in claims:
        for verdict in CHECKS[claim.kind](claim, measured):
            presets = verdict.presets or tuple(preset for preset, _ in claim.presets)
            standing = tuple(
                s for preset in presets if (s := _standing(preset, claim, measured, costs))
            )
            verdicts.append(
                replace(
                    verdict,
                    presets=presets,
                    caveat=measured.caveat(presets),
                    standing=standing,
                )
            )
    return cite_profiles(verdicts, records, measured)


def cite_profiles(
    verdicts: list[Verdict], records: list[Record], measured: Measured
) -> list[Verdict]:
    """Each wall-clock factor, where the faster model was profiled on the same machine and phase,
    gets in its detail where that model's time goes against its MACs (bench.profile.cite): 'rin-in256
    is 9.1× cheaper in MACs but 5.9× faster; its write group takes 31% of the time for 19% of the
    MACs (...)'. The other verdicts are returned as they are."""
    profiles = [r for r in records if r.cell.phase in PROFILE_PHASES]
    if not profiles:
        return verdicts
    cited = []
    for verdict in verdicts:
        timing, pair = verdict.timing, verdict.pair
        profile = None
        if timing is not None and pair is not None and verdict.measured is not None:
            profile = cite.profile_for(profiles, pair[2], pair[3], timing.phase, timing.hardware)
        if profile is None:
            cited.append(verdict)
            continue
        macs = [measured.macs((pair[0], pair[1])), measured.macs((pair[2], pair[3]))]
        mac_factor = macs[0] / macs[1] if all(macs) else None
        text = cite.sentence(pair[2], mac_factor, verdict.measured, profile)
        detail = "; ".join(part for part in (verdict.detail, text) if part)
        cited.append(replace(verdict, detail=detail))
    return cited


def _cost_checks(claims: list[Claim], measured: Measured) -> dict[str, list[tuple[Claim, float]]]:
    """Per preset: its gflops claims that the records can check, with measured / reported."""
    costs: dict[str, list[tuple[Claim, float]]] = {}
    for claim in claims:
        macs = measured.macs((claim.preset, claim.resolution)) if claim.kind == "gflops" else None
        if macs is not None:
            ratio = CONVENTIONS[claim.convention] * macs / 1e9 / claim.reported
            costs.setdefault(claim.preset, []).append((claim, ratio))
    return costs


def _standing(preset: str, claim: Claim, measured: Measured, costs: dict) -> Standing | None:
    """What a verdict on `claim` must say about `preset`: None for a released preset whose cost
    matches the paper's. The cost check of the claim's own origin is preferred (the RIN paper's
    factors rest on the RIN paper's GFLOPs)."""
    source = measured.sources.get(preset)
    checks = costs.get(preset, [])
    check = next((c for c in checks if c[0].origin == claim.origin), checks[0] if checks else None)
    cost_holds = None if check is None else _judge(check[0], check[1] * check[0].reported)[0]
    if source is None or (source.kind in EXACT_KINDS and cost_holds in (None, HOLDS)):
        return None
    return Standing(
        preset=preset,
        kind=source.kind,
        where=source.where or source.note,
        cost_claim=check[0].id if check else "",
        cost_ratio=check[1] if check else None,
        cost_holds=None if check is None else cost_holds == HOLDS,
    )


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
    if count is None:
        return [Verdict(claim, "params", CANNOT_CHECK, detail=measured.missing(key, "params"))]
    status, ratio = _judge(claim, count)
    detail = f"{count:,} parameters counted on the meta device"
    return [Verdict(claim, "params", status, count, ratio, detail)]


def _check_gflops(claim: Claim, measured: Measured) -> list[Verdict]:
    key = (claim.preset, claim.resolution)
    basis = f"GFLOPs = {CONVENTION_NAMES[claim.convention]}"
    macs = measured.macs(key)
    if macs is None:
        return [Verdict(claim, basis, CANNOT_CHECK, detail=measured.missing(key, "flops"))]
    gflops = CONVENTIONS[claim.convention] * macs / 1e9
    status, ratio = _judge(claim, gflops)
    detail = f"{macs / 1e9:,.2f} GMACs per image and forward pass, attention included"
    return [Verdict(claim, basis, status, gflops, ratio, detail)]


def _pair_text(pair) -> str:
    baseline, res_b, rin, res_r = pair
    return f"{baseline}/{rin}" if res_b == res_r else f"{baseline}@{res_b}/{rin}@{res_r}"


def _check_ratio(claim: Claim, measured: Measured) -> list[Verdict]:
    """The efficiency factor baseline / RIN: in MACs, then in wall-clock per common setup."""
    return [_ratio_in_macs(claim, measured), *_ratio_in_time(claim, measured)]


def _ratio_in_macs(claim: Claim, measured: Measured) -> Verdict:
    factors, missing = {}, []
    for pair in claim.pairs:
        baseline, rin = (pair[0], pair[1]), (pair[2], pair[3])
        gaps = [measured.missing(k, "flops") for k in (baseline, rin) if measured.macs(k) is None]
        if gaps:
            missing.extend(gaps)
        else:
            factors[pair] = measured.macs(baseline) / measured.macs(rin)
    if not factors:
        return Verdict(claim, "MACs", CANNOT_CHECK, detail="; ".join(missing))
    single = None
    if len(claim.pairs) == 1:
        (baseline, res_b, rin, res_r) = claim.pairs[0]
        single = (
            f"{baseline} {measured.macs((baseline, res_b)) / 1e9:,.1f} GMACs / "
            f"{rin} {measured.macs((rin, res_r)) / 1e9:,.1f} GMACs"
        )
    extra = "; not measured: " + "; ".join(missing) if missing else ""
    return _largest(claim, "MACs", factors, single=single, extra=extra)


def _largest(
    claim: Claim, basis: str, factors: dict[tuple, float], *, single, extra: str, timing=None
) -> Verdict:
    """The verdict on the largest factor (of a pair of `factors`); `single` details a lone pair,
    else the factors are listed with `extra` (what was not measured) after them."""
    best = max(factors, key=factors.get)
    status, ratio = _judge(claim, factors[best])
    listed = (
        "largest of " + ", ".join(f"{_pair_text(k)} {v:.2f}x" for k, v in factors.items()) + extra
    )
    if timing is not None:
        timing = timing(best)
    return Verdict(
        claim,
        basis,
        status,
        factors[best],
        ratio,
        single or listed,
        presets=(best[0], best[2]),
        pair=best,
        timing=timing,
    )


def _ratio_in_time(claim: Claim, measured: Measured) -> list[Verdict]:
    """Per (hardware, dtype, batch, mode, phase, threads) on which some pair was timed on both
    sides, GPU or CPU alike: images per second of RIN / of the baseline. GPU setups first."""
    setups: dict[tuple, dict[tuple, tuple[Record, Record]]] = {}
    for pair in claim.pairs:
        baseline, rin = (pair[0], pair[1]), (pair[2], pair[3])
        timed_b, timed_r = measured.timed.get(baseline, {}), measured.timed.get(rin, {})
        for setup in timed_b.keys() & timed_r.keys():
            setups.setdefault(setup, {})[pair] = (timed_b[setup], timed_r[setup])
    if not setups:
        names = " and ".join(dict.fromkeys(f"{p[0]}, {p[2]}" for p in claim.pairs))
        return [
            Verdict(
                claim,
                "wall-clock",
                CANNOT_CHECK,
                detail=f"no timings of both {names} on one setup (device, dtype, batch, mode)",
            )
        ]

    def order(setup: tuple) -> tuple:
        record = next(iter(setups[setup].values()))[0]
        return (not selection.is_gpu(record), *setup[:4], _phase_order(setup[4]), str(setup[5:]))

    return [_ratio_on_setup(claim, setup, setups[setup]) for setup in sorted(setups, key=order)]


def _ratio_on_setup(
    claim: Claim, setup: tuple, pairs: dict[tuple, tuple[Record, Record]]
) -> Verdict:
    """The factor on one setup: the largest over the pairs timed there (baseline, RIN records)."""
    any_record = next(iter(pairs.values()))[0]
    words = selection.setup_words(any_record)
    basis = f"wall-clock {setup[4]} on {words}"
    factors, problems = {}, []
    for pair, (base_record, rin_record) in pairs.items():
        speeds = [_speed(r) for r in (base_record, rin_record)]
        if None in speeds:
            problems.extend(
                f"{r.cell.preset} {r.status}" + (f" ({r.error})" if r.error else "")
                for r, s in zip((base_record, rin_record), speeds, strict=True)
                if s is None
            )
        else:
            factors[pair] = speeds[1] / speeds[0]
    timing = Timing(setup[0], words, selection.is_gpu(any_record), setup[4])
    if not factors:
        return Verdict(claim, basis, CANNOT_CHECK, detail="; ".join(problems), timing=timing)
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

    def timing_of(best: tuple) -> Timing:
        return replace(timing, noisy=any(_noisy(r) for r in pairs[best]))

    return _largest(claim, basis, factors, single=single, extra=extra, timing=timing_of)


def _noisy(record: Record) -> bool:
    """The timing side's flag that a cell's latency is noise (its spread stayed large)."""
    return bool(record.values.get("latency_noisy") or record.details.get("latency_noisy"))


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

    def cannot(why: str) -> list[Verdict]:
        return [Verdict(claim, basis, CANNOT_CHECK, detail=why)]

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
    return [Verdict(claim, basis, status, fid, ratio, detail)]


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


def tally_text(verdicts: Iterable[Verdict]) -> str:
    """'8 hold, 10 fail, 13 cannot be checked'."""
    counts = tally(verdicts)
    return f"{counts[HOLDS]} hold, {counts[FAILS]} fail, {counts[CANNOT_CHECK]} cannot be checked"


# --- groups, caveats and the headline ------------------------------------------------------------


def group(claim: Claim) -> str:
    """RIN_GROUP for what the RIN paper claims itself, BASELINE_GROUP for the counting checks of
    the baselines' own papers."""
    return RIN_GROUP if claim.origin == RIN_ORIGIN else BASELINE_GROUP


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
    return Panel(claim, label, macs, shown_clock(clocks), clocks)


def shown_clock(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The wall-clock verdict a headline shows: a measured one before one that cannot be checked,
    a GPU's before a CPU's, forward before a train step; None when nothing was timed."""
    timed = [v for v in verdicts if v.timing is not None]
    if not timed:
        return None
    return min(
        timed,
        key=lambda v: (v.status == CANNOT_CHECK, not v.timing.gpu, _phase_order(v.timing.phase)),
    )
