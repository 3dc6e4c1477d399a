"""Claims checked against result records: one or more verdicts per claim.

`evaluate` checks each claim against result records (`bench.record.Record`s) and gives one or more
`Verdict`s per claim:

- holds / fails: the measured value is within / outside the claim's tolerance (or, for `at_least`
  claims, reaches / misses the reported factor), with the measured value and measured / reported;
- cannot check: the records lack what the claim needs, and the verdict says what is missing.

Efficiency factors are checked in MACs (from the flops cells) and, for every setup on which both
models were timed (one machine, GPU or CPU, dtype, batch, mode, phase and, where recorded, torch's
thread count), in wall-clock (images per second); such a verdict names the machine (`Timing`), and
`cite_profiles` adds where the faster model's time goes when it was profiled there. Each verdict
carries the `Standing` of the presets it rests on. Which records count (newest per machine, ok
counts, the most-trained FID) is bench.selection's choice, shared with reports/; `Measured` indexes
them by what claims ask for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from bench import intervals, selection
from bench.cell import PROFILE_PHASES
from bench.claims.spec import CONVENTION_NAMES, CONVENTIONS, Claim
from bench.claims.verdict import (
    CANNOT_CHECK,
    EDGE,
    EXACT_KINDS,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Standing,
    Timing,
    Verdict,
    allows,
    ceiling,
    judge_interval,
    short_of,
    shorten,
)
from bench.family import Source
from bench.intervals import Interval
from bench.profiling import cite
from bench.record import Record, is_number
from bench.selection import COUNT_PHASES, TIMED_PHASES


@dataclass
class Measured:
    """The records indexed by what claims ask for."""

    counts: dict[tuple[str, int], dict[str, Record]] = field(default_factory=dict)  # by phase
    timed: dict[tuple[str, int], dict[tuple, Record]] = field(default_factory=dict)  # by setup
    fid: dict[tuple[str, int], Record] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    # Every timed record that was a side of an interleaved pair, newest or not, by (key, setup):
    # a pair keeps its factor over rounds where a later run timed one side again, apart.
    paired: dict[tuple, list[Record]] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[Record]) -> Measured:
        index = cls()
        records = list(records)
        for record in records:
            if record.cell.phase in TIMED_PHASES and record.details.get("pair"):
                key = (record.cell.preset, record.cell.resolution)
                index.paired.setdefault((key, _setup(record)), []).append(record)
        for record in selection.latest(records):
            cell = record.cell
            key = (cell.preset, cell.resolution)
            if record.model is not None:
                index.sources[cell.preset] = record.model.source
            if cell.phase in COUNT_PHASES:
                selection.keep_count(index.counts.setdefault(key, {}), cell.phase, record)
            elif cell.phase in TIMED_PHASES:
                index.timed.setdefault(key, {})[_setup(record)] = record
            elif cell.phase == "fid":
                index.fid[key] = selection.most_trained(
                    [r for r in (index.fid.get(key), record) if r]
                )
        return index

    def together(
        self, baseline: tuple, rin: tuple, setup: tuple, newest: tuple[Record, Record]
    ) -> tuple[Record, Record]:
        """The records to set `baseline` and `rin` side by side on `setup` by: the `newest` of
        each, unless those were not timed with each other while an interleaved pair of them was
        (a later run timed one side again, apart: the peers suite times rin-in256 beside
        lucidrains' RIN); then the newest such pair, whose factor over rounds is the evidence."""
        if not intervals.unpaired_reason(*newest):
            return newest
        found = [
            (base, other)
            for base in self.paired.get((baseline, setup), ())
            for other in self.paired.get((rin, setup), ())
            if not intervals.unpaired_reason(base, other)
        ]
        return max(found, key=lambda two: two[0].run.started or "", default=newest)

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
        count = self.value(key, "flops", "macs_fwd")
        if count is None:  # a timed cell counts the same forward MACs per image, for its MFU
            for record in self.timed.get(key, {}).values():
                value = record.values.get("macs_fwd")
                if record.status == "ok" and is_number(value):
                    return value
        return count

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
            detail = shorten((source.where or source.note).split("; ")[0])
            kind = source.kind
            verb = "is reconstructed" if kind == "reconstructed" else f"is built from {kind}"
            notes.append(f"{preset} {verb}" + (f" ({detail})" if detail else ""))
        if not notes:
            return ""
        return (
            "; ".join(notes) + ": a miss is evidence about the reconstruction as much as about "
            "the paper"
        )


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
    gets in its detail where that model's time goes against its MACs (bench.profiling.cite): 'rin-in256
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


def _setup(record: Record) -> tuple:
    """Where and how a timed record ran: a wall-clock factor compares two cells on one setup.
    torch's thread count, where recorded, is part of a CPU setup: a factor between cells that ran
    on 1 and on 2 threads would measure the threads."""
    cell = record.cell
    return (
        selection.hardware(record),
        cell.dtype,
        cell.batch,
        cell.mode,
        cell.phase,
        selection.threads(record),
    )


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
    """HOLDS or FAILS by `allows` (the tolerance's edges hold), and measured / reported."""
    return (HOLDS if allows(claim, measured_value) else FAILS), measured_value / claim.reported


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
    claim: Claim, basis: str, factors: dict[tuple, float], *, single, extra: str
) -> Verdict:
    """The verdict on the largest factor (of a pair of `factors`); `single` details a lone pair,
    else the factors are listed with `extra` (what was not measured) after them. Short of the
    claim while some of its pairs were not measured, an "up to" claim is INCONCLUSIVE, not failed:
    its largest factor may lie in one of those."""
    best = max(factors, key=factors.get)
    status, ratio = _judge(claim, factors[best])
    if len(factors) < len(claim.pairs) and short_of(claim, factors[best]):
        status = INCONCLUSIVE
    listed = (
        "largest of " + ", ".join(f"{_pair_text(k)} {v:.2f}x" for k, v in factors.items()) + extra
    )
    return Verdict(
        claim,
        basis,
        status,
        factors[best],
        ratio,
        single or listed,
        presets=(best[0], best[2]),
        pair=best,
    )


def _ratio_in_time(claim: Claim, measured: Measured) -> list[Verdict]:
    """Per (hardware, dtype, batch, mode, phase, threads) on which some pair was timed on both
    sides, GPU or CPU alike: images per second of RIN / of the baseline. GPU setups first."""
    setups: dict[tuple, dict[tuple, tuple[Record, Record]]] = {}
    for pair in claim.pairs:
        baseline, rin = (pair[0], pair[1]), (pair[2], pair[3])
        timed_b, timed_r = measured.timed.get(baseline, {}), measured.timed.get(rin, {})
        for setup in timed_b.keys() & timed_r.keys():
            newest = (timed_b[setup], timed_r[setup])
            setups.setdefault(setup, {})[pair] = measured.together(baseline, rin, setup, newest)
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
        return (not selection.is_gpu(record), *setup[:4], phase_order(setup[4]), str(setup[5:]))

    return [_ratio_on_setup(claim, setup, setups[setup]) for setup in sorted(setups, key=order)]


def _ratio_on_setup(
    claim: Claim, setup: tuple, pairs: dict[tuple, tuple[Record, Record]]
) -> Verdict:
    """The factor on one setup, with its interval (`_factor`), judged over the pairs timed there
    (baseline, RIN records) by `_decide`."""
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
            factors[pair] = _factor(base_record, rin_record, speeds)
    timing = Timing(setup[0], words, selection.is_gpu(any_record), setup[4])
    if not factors:
        return Verdict(claim, basis, CANNOT_CHECK, detail="; ".join(problems), timing=timing)
    status, best = _decide(claim, factors)
    interval = factors[best]
    base_record, rin_record = pairs[best]
    absent = len(claim.pairs) - len(pairs)
    if len(pairs) == 1 and not problems and not absent:
        detail = (
            f"{rin_record.cell.preset} {_speed(rin_record):,.4g} img/s / "
            f"{base_record.cell.preset} {_speed(base_record):,.4g} img/s"
        )
    else:
        detail = "factors: " + ", ".join(
            f"{_pair_text(k)} {v.text(unit='x')}" for k, v in factors.items()
        )
        if len(factors) > 1:
            detail += f"; decided by {_pair_text(best)}"
        if problems:
            detail += "; failed: " + "; ".join(problems)
        if absent:
            detail += f"; {absent} of {len(claim.pairs)} pairs not timed on this setup"
    detail += "; " + _interval_words(interval)
    return Verdict(
        claim,
        basis,
        status,
        interval.estimate,
        interval.estimate / claim.reported,
        detail,
        presets=(best[0], best[2]),
        pair=best,
        # A factor with an interval over its rounds speaks for its own noise: each side alone may
        # drift (and be flagged) while the factor, round by round, holds still.
        timing=replace(
            timing, noisy=not interval.available and any(_noisy(r) for r in pairs[best])
        ),
        interval=interval,
    )


def _factor(base: Record, rin: Record, speeds: list[float]) -> Interval:
    """RIN's speed over the baseline's: over the rounds both were timed in together, with its
    interval; for records timed apart, the ratio of their speeds with no interval."""
    found = intervals.factor_of_pair(base, rin)
    if found is not None:
        return found
    return Interval(speeds[1] / speeds[0], reason=intervals.unpaired_reason(base, rin))


def _decide(claim: Claim, factors: dict[tuple, Interval]) -> tuple[str, tuple]:
    """The verdict over several pairs' factors, and the pair that decides it: HOLDS when some
    pair's whole interval clears the claim (the one with the highest lower end decides); FAILS
    when every pair's whole interval falls short (the one with the highest upper end decides),
    and every pair of the claim is among them (else the largest factor may lie in a pair not
    timed here: INCONCLUSIVE, decided by the same pair); else INCONCLUSIVE (the largest undecided
    factor). So a pair whose interval is wide cannot sink an "up to" claim that another pair
    clears, and no claim holds on a factor that is noise."""
    judged = {pair: judge_interval(claim, interval) for pair, interval in factors.items()}
    if claim.compare != "at_least":  # approx: the largest factor may also lie above the range
        over = _above_range(claim, factors)
        if over is not None:
            return over
    holding = [pair for pair, status in judged.items() if status == HOLDS]
    if holding:
        return HOLDS, max(holding, key=lambda pair: factors[pair].low)
    if all(status == FAILS for status in judged.values()):
        best = max(factors, key=lambda pair: factors[pair].high)
        short = all(short_of(claim, interval.high) for interval in factors.values())
        if short and len(factors) < len(claim.pairs):
            return INCONCLUSIVE, best
        return FAILS, best
    undecided = [pair for pair, status in judged.items() if status == INCONCLUSIVE]
    return INCONCLUSIVE, max(undecided, key=lambda pair: factors[pair].estimate)


def _above_range(claim: Claim, factors: dict[tuple, Interval]) -> tuple[str, tuple] | None:
    """An approx claim's verdict from the pairs above its range, before any pair inside it counts:
    FAILS where some pair's whole interval lies above (the one with the highest lower end decides),
    INCONCLUSIVE where some pair may (its interval over the upper edge, or no interval and its
    estimate over it; the largest estimate decides); None where none does."""
    top = ceiling(claim) * (1 + EDGE)
    over = [pair for pair, f in factors.items() if f.available and f.low > top]
    if over:
        return FAILS, max(over, key=lambda pair: factors[pair].low)
    maybe = [pair for pair, f in factors.items() if (f.high if f.available else f.estimate) > top]
    if maybe:
        return INCONCLUSIVE, max(maybe, key=lambda pair: factors[pair].estimate)
    return None


def _interval_words(interval: Interval) -> str:
    """How the interval was made: '95% interval over 5 interleaved rounds (Student's t of the
    log ratios)', or why there is none."""
    if not interval.available:
        return f"no interval: {interval.reason}"
    return (
        f"95% interval over {interval.n} interleaved rounds (Student's t of the per-round log "
        "ratios)"
    )


def _noisy(record: Record) -> bool:
    """The timing side's flag that a cell's latency is noise (its spread stayed large)."""
    return bool(record.values.get("latency_noisy") or record.details.get("latency_noisy"))


def phase_order(phase: str) -> int:
    """Where a timed phase sorts: in TIMED_PHASES order (forward before a train step), others last."""
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
