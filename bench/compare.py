"""The regression gate: compare two sets of result records cell by cell (`rinbench compare BASE NEW`).

    base, new = compare.load("benchmarks/baselines/ci-cpu.jsonl"), compare.load("results/ci")
    outcome = compare.compare(base, new, thresholds=compare.resolve_thresholds(fail_above=0.05))
    print(compare.markdown(outcome)); exit(1 if outcome.regressed else 0)

Records are matched by cell id (a cell measured more than once on one side counts with its last
record, as everywhere in rinbench). Each matched cell is judged on the metrics bench.metrics gates
(`compare=EXACT` or `THRESHOLD`; a metric added there is gated here with no edit):

- exact (params and MACs): counted on the meta device, so equal on every machine and every run.
  Any difference, up or down, means the model or the counting changed: verdict "changed", a
  failure, until the baseline is updated on purpose. (flops_* = 2 x macs_* need no rule of their own.)
- thresholded (time, memory and energy): the relative change of the new value against a threshold
  per metric (DEFAULT_THRESHOLDS per kind, changed by `resolve_thresholds`); the metric's `better`
  says which direction is costly. Beyond it in the costly direction: "worse" (a failure); in the
  cheap direction: "better"; within it: "unchanged". These are compared only when both records
  ended ok and were measured on the same device model (the GPU's name; for a CPU, its model name
  and core count); otherwise the cell reports "not compared" and why: a cross-machine difference
  is not a regression of the code. On a CPU the usable cores and torch's threads must match too,
  where both records say them. Settings that differ (a lever's A/B, a timing rule changed) are
  named in the note of every row of the cell but its counts, which name only the settings they
  depend on (a flops cell's sample_steps).
- time, against the noise as well: the median latency (and the metrics that rescale it,
  FOLLOW_LATENCY) carries a 95% interval on each side (bench.intervals.latency: over rounds, or
  over one window's samples), and the interval of the change is the conservative one of
  bench.intervals.relative_change, [new.low / base.high - 1, new.high / base.low - 1], which
  contains 0 exactly when the two intervals overlap: the two runs agree. A change is "worse" or
  "better" only when it clears both tests, the threshold (its point change) and the noise (the
  intervals do not overlap); one beyond the threshold whose intervals overlap is "within noise",
  which does not fail, and its note gives the interval of the change. Where a side has no interval
  (fewer samples than bound a median, a record that keeps none) the threshold alone decides and
  the note says so; a record flagged `latency_noisy` keeps its interval (wide, as its samples
  are), and the note says it was flagged. A change beyond the threshold where a side's rounds ran
  short of cores (other jobs held them) is "not compared": the contention's, not the code's. A
  window's interval holds that window's noise, not drift between runs on a shared machine: gate
  on time only on dedicated hardware (docs/ci.md).
  Memory and energy have no samples: threshold only.
- status: a cell that ran ok before and now ends oom, unsupported, error or timeout is "worse";
  the reverse is "better" (ranked ok < oom, unsupported < error, timeout).
- a cell only in BASE is "missing" (a failure: the gate lost coverage; `allow_missing` turns it
  off), a cell only in NEW is "new" ("worse" where it ended error or timeout); likewise a metric
  BASE has and an ok NEW record on the same device model lacks.

Records are read with bench.results.read in strict mode: a gate must not pass because part of its
input went unread. Only the standard library is imported here, like bench.results: the gate runs
without torch.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import os
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import intervals, metrics, results
from bench.intervals import Interval
from bench.metrics import ENERGY, EXACT, HIGHER, MEMORY, THRESHOLD_KINDS, TIME, Metric
from bench.record import Record, is_number

# Verdicts, most severe first: the table lists rows in this order. WITHIN_NOISE: beyond the
# threshold, but the two runs' intervals overlap (see the module docstring); it does not fail.
WORSE, CHANGED, MISSING, NOT_COMPARED, WITHIN_NOISE, BETTER, NEW, UNCHANGED = (
    "worse",
    "changed",
    "missing",
    "not compared",
    "within noise",
    "better",
    "new",
    "unchanged",
)
VERDICTS = (WORSE, CHANGED, MISSING, NOT_COMPARED, WITHIN_NOISE, BETTER, NEW, UNCHANGED)
FAILING = (WORSE, CHANGED, MISSING)

# The metrics that are the median latency rescaled (ms_per_step = latency_ms_median /
# sample_steps): each is judged against the noise with the latency's interval, rescaled alike.
# images_per_s would follow inversely, but throughput is not a kind compare thresholds.
FOLLOW_LATENCY = ("latency_ms_median", "ms_per_step")
LATENCY_KEY = "latency_ms_median"

# Relative changes within these are noise. GPU-bound timings repeat within 1-3 % run to run, but
# launch-bound ones (small models, small batches) swing by tens of percent (measured on an H100: a
# launch-bound DiT forward read 4.85 ms in one run and 2.98 ms in the next; TorchBench raised a
# regression gate to 30 % for such noise, pytorch/benchmark#1681), hence 10 % for time; peak
# allocated memory repeats almost exactly for the same code.
DEFAULT_THRESHOLDS = {TIME: 0.10, MEMORY: 0.05, ENERGY: 0.10}


def gated() -> tuple[Metric, ...]:
    """The metrics judged, in bench.metrics' table order (read at each call)."""
    return metrics.gated()


def gated_keys() -> tuple[str, ...]:
    return tuple(metric.key for metric in gated())


# ok is best; oom and unsupported are results (the model does not fit or cannot run as asked);
# error and timeout mean the harness failed.
STATUS_RANK = {"ok": 0, "oom": 1, "unsupported": 1, "error": 2, "timeout": 2}


class CompareError(ValueError):
    """Bad input to a comparison (a file that is not records, a bad threshold); one line."""


@dataclass(frozen=True)
class Row:
    """One judgement: a metric of a cell, its status, its device, or the whole cell."""

    cell: str  # cell id
    item: str  # a metric name, or "status", "device", "cell"
    base: object  # the BASE value (None where BASE has none)
    new: object
    verdict: str  # one of VERDICTS
    change: float | None = None  # (new - base) / base for numbers
    note: str = ""  # why, where the verdict alone does not say
    # The 95% interval of the change (bench.intervals.relative_change) of a metric judged against
    # the noise; None where a side has no interval (the note says why) or the metric has no samples.
    change_interval: Interval | None = None


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    thresholds: Mapping[str, float | None]  # metric name -> relative threshold; None: not compared
    base_summary: str  # where BASE comes from: runs, torch, devices, commits
    new_summary: str
    allow_missing: bool = False
    notes: tuple[str, ...] = ()  # what a reader should know to judge the rows

    @property
    def failing_verdicts(self) -> tuple[str, ...]:
        return tuple(v for v in FAILING if not (self.allow_missing and v == MISSING))

    @property
    def failures(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.verdict in self.failing_verdicts)

    @property
    def regressed(self) -> bool:
        return bool(self.failures)

    def counts(self) -> Counter:
        return Counter(row.verdict for row in self.rows)


# --- input ----------------------------------------------------------------------------------------


def load(path: str | os.PathLike) -> list[Record]:
    """Every record in a results file or folder (searched recursively for *.jsonl), read strictly:
    any line that is not a valid record, a missing path or an empty input raises CompareError."""
    try:
        records = results.read(path, strict=True)
    except (OSError, ValueError) as err:  # FileNotFoundError, SchemaError, a bad line
        raise CompareError(str(err)) from None
    if not records:
        empty = Path(path).is_dir() and not results.result_files([path])
        where = f"{path} (no *.jsonl files in it)" if empty else path
        raise CompareError(f"no result records in {where}")
    return records


def parse_threshold(value: object) -> float | None:
    """A relative threshold: "5%", "5" or 5 mean 5 % (0.05); "off" means not compared (None)."""
    if isinstance(value, str) and value.strip().lower() == "off":
        return None
    text = str(value).strip()
    number = text[:-1].strip() if text.endswith("%") else text
    try:
        percent = float(number) if not isinstance(value, bool) else math.nan
    except ValueError:
        percent = math.nan
    if not math.isfinite(percent) or percent < 0:
        raise CompareError(
            f"bad threshold {value!r}: write a percentage such as '5%' (or 'off' to skip the metric)"
        )
    return percent / 100


def load_thresholds(path: str | os.PathLike) -> dict[str, float | None]:
    """A TOML file's thresholds, keyed by kind (time, memory, energy) or metric name:

        [thresholds]
        time = "15%"                 # every time metric
        peak_rss_bytes = "10%"       # one metric; the most specific entry wins
        joules_per_image = "off"     # not compared

    Exact metrics (params, MACs) take only "off": any change of a count is a change of the model.
    """
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise CompareError(f"no thresholds file at {path}") from None
    except OSError as err:
        raise CompareError(f"cannot read {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise CompareError(f"{path}: not valid TOML ({err})") from None
    unknown = sorted(set(data) - {"thresholds"})
    if unknown or not isinstance(data.get("thresholds"), dict):
        raise CompareError(
            f"{path}: expected one [thresholds] table, found {', '.join(unknown) or 'none'}"
        )
    table = {}
    for key, value in data["thresholds"].items():
        if key not in THRESHOLD_KINDS and key not in gated_keys():
            raise CompareError(
                f"{path}: unknown threshold {key!r}; known: {', '.join(THRESHOLD_KINDS)}, "
                f"{', '.join(gated_keys())}"
            )
        try:
            table[key] = parse_threshold(value)
        except CompareError as err:
            raise CompareError(f"{path}: {key}: {err}") from None
    return table


def resolve_thresholds(
    fail_above: float | None = None, table: Mapping[str, float | None] | None = None
) -> dict[str, float | None]:
    """Metric name -> relative threshold (None: not compared; 0.0 for exact metrics). Built-in
    defaults per kind, all replaced by `fail_above`; then a thresholds table's kinds, then its
    metric names (the most specific setting wins)."""
    per_kind = dict(DEFAULT_THRESHOLDS)
    if fail_above is not None:
        per_kind = dict.fromkeys(THRESHOLD_KINDS, fail_above)
    table = dict(table or {})
    per_kind |= {key: value for key, value in table.items() if key in THRESHOLD_KINDS}
    resolved: dict[str, float | None] = {}
    for metric in gated():
        default = 0.0 if metric.compare == EXACT else per_kind[metric.kind]
        value = table.get(metric.key, default)
        if metric.compare == EXACT and value not in (0.0, None):
            raise CompareError(
                f"{metric.key} is an exact count: any change fails; only 'off' applies to it"
            )
        resolved[metric.key] = value
    return resolved


# --- comparison -----------------------------------------------------------------------------------


def compare(
    base: Iterable[Record],
    new: Iterable[Record],
    *,
    thresholds: Mapping[str, float | None] | None = None,
    only: Sequence[str] | None = None,
    allow_missing: bool = False,
) -> Comparison:
    """Judge every cell of `base` and `new` (see the module docstring). `only`: shell globs; cells
    whose id matches none of them are left out on both sides."""
    thresholds = resolve_thresholds() | dict(thresholds or {})
    base_cells, new_cells = results.latest_per_cell(base), results.latest_per_cell(new)
    if only:
        base_cells, new_cells = _select(base_cells, only), _select(new_cells, only)
        if not base_cells:
            raise CompareError(
                f"--only {' '.join(only)} matches no cell of BASE; cell ids look like "
                "'dit-xl-2.r256.b32.bf16.forward.eager.cuda'"
            )
    _check_shared_cells(base_cells, new_cells, only)
    rows: list[Row] = []
    for cell_id in sorted(base_cells.keys() | new_cells.keys()):
        before, after = base_cells.get(cell_id), new_cells.get(cell_id)
        if after is None:
            rows.append(Row(cell_id, "cell", before.status, None, MISSING, note="not in NEW"))
        elif before is None:
            rows.append(_new_cell(cell_id, after))
        else:
            rows.extend(_compare_cell(cell_id, before, after, thresholds))
    notes = []
    torch_versions = [
        {r.env.get("torch") for r in side.values()} for side in (base_cells, new_cells)
    ]
    if any(row.verdict == CHANGED and row.item.startswith("macs") for row in rows) and (
        torch_versions[0] != torch_versions[1]
    ):
        notes.append(
            "BASE and NEW ran different torch versions: MACs are counted by torch's "
            "FlopCounterMode, whose formulas may change between versions."
        )
    return Comparison(
        rows=tuple(rows),
        thresholds=thresholds,
        base_summary=_summary(base_cells.values()),
        new_summary=_summary(new_cells.values()),
        allow_missing=allow_missing,
        notes=tuple(notes),
    )


def _new_cell(cell_id: str, record: Record) -> Row:
    """A cell only in NEW: "new", or "worse" where the harness failed it (error, timeout): a
    preset added with a crash must not pass the gate as coverage gained. oom and unsupported are
    results, and stay "new" with their status said."""
    if STATUS_RANK.get(record.status, 2) >= 2:
        note = f"not in BASE, and it ended {record.status}" + (
            f": {record.error}" if record.error else ""
        )
        return Row(cell_id, "cell", None, record.status, WORSE, note=note)
    said = "" if record.status == "ok" else f", and it ended {record.status}"
    return Row(cell_id, "cell", None, record.status, NEW, note=f"not in BASE{said}")


def _check_shared_cells(base: dict, new: dict, only: Sequence[str] | None) -> None:
    """CompareError when BASE and NEW (after --only) share no cell id: every cell would read as
    missing or new, a regression that only says the two sets were not runs of the same cells."""
    if base.keys() & new.keys():
        return
    selected = f" matching --only {' '.join(only)}" if only else ""
    sides = [
        f"{side} has {len(cells)}" + (f" (e.g. {min(cells)})" if cells else "")
        for side, cells in (("BASE", base), ("NEW", new))
    ]
    raise CompareError(
        f"BASE and NEW share no cell{selected}: {', '.join(sides)}; compare two runs of the same "
        "suite, or pick common cells with --only"
    )


def _select(cells: dict[str, Record], patterns: Sequence[str]) -> dict[str, Record]:
    return {
        cell_id: record
        for cell_id, record in cells.items()
        if any(fnmatch.fnmatchcase(cell_id, pattern) for pattern in patterns)
    }


def _compare_cell(cell_id: str, before: Record, after: Record, thresholds: Mapping) -> list[Row]:
    rows = []
    if before.status != after.status:
        rank_before = STATUS_RANK.get(before.status, 2)
        rank_after = STATUS_RANK.get(after.status, 2)
        verdict = (
            WORSE if rank_after > rank_before else BETTER if rank_after < rank_before else CHANGED
        )
        rows.append(
            Row(cell_id, "status", before.status, after.status, verdict, note=after.error or "")
        )
    judged = [m for m in gated() if thresholds.get(m.key) is not None]
    rows += _compare_exact(cell_id, before, after, [m for m in judged if m.compare == EXACT])
    measured = [
        m for m in judged if m.compare != EXACT and _number(before.values.get(m.key)) is not None
    ]
    if measured and before.status == after.status == "ok":
        rows += _compare_measured(cell_id, before, after, measured, thresholds)
    differing = _settings_differing(before, after)
    if not differing:
        return rows
    # A lever's A/B (rinbench compare plain levers) is a comparison across settings on purpose;
    # a gate's is not. Either way every judgement of the cell says what differed, a count only
    # what it depends on (taken on meta, the levers aside; COUNT_SETTINGS).
    said = f"measured under other settings: {differing}"
    counted = _settings_differing(before, after, counts_of=before.cell.phase)
    exact = {m.key for m in gated() if m.compare == EXACT}

    def noted(row: Row) -> Row:
        if row.item == "status":  # ahead of the error, which a long note cuts at its end
            return dataclasses.replace(row, note=_joined(said, row.note))
        if row.item in exact:  # a count: the settings it depends on (COUNT_SETTINGS), if any
            if not counted:
                return row
            return dataclasses.replace(
                row, note=_joined(row.note, f"counted under other settings: {counted}")
            )
        return dataclasses.replace(row, note=_joined(row.note, said))

    return [noted(row) for row in rows]


def _joined(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def _compare_exact(cell_id: str, before: Record, after: Record, exact: list[Metric]) -> list[Row]:
    rows = []
    for metric in exact:
        old, now = _number(before.values.get(metric.key)), _number(after.values.get(metric.key))
        if old is None:
            continue
        if now is None:
            if after.status == "ok":  # a failed cell's missing counts are its status row's story
                rows.append(Row(cell_id, metric.key, old, None, MISSING, note="not measured"))
            continue
        verdict = UNCHANGED if now == old else CHANGED
        rows.append(Row(cell_id, metric.key, old, now, verdict, _relative(old, now)))
    return rows


def _compare_measured(
    cell_id: str, before: Record, after: Record, measured: list[Metric], thresholds: Mapping
) -> list[Row]:
    """Thresholded metrics of two ok records, only on the same device model, with the same CPU
    cores and threads where both records say them."""
    apart = _not_comparable(cell_id, before, after)
    if apart is not None:
        return [apart]
    rows = []
    for metric in measured:
        old, now = _number(before.values[metric.key]), _number(after.values.get(metric.key))
        if now is None:
            rows.append(Row(cell_id, metric.key, old, None, MISSING, note="not measured"))
            continue
        threshold = thresholds[metric.key]
        change = _relative(old, now)
        costlier = -change if metric.better == HIGHER else change
        # A change of exactly the threshold is within it: (1.1 - 1.0) / 1.0 is a hair over 0.1.
        if costlier > threshold + EDGE:
            verdict = WORSE
        elif costlier < -threshold - EDGE:
            verdict = BETTER
        else:
            verdict = UNCHANGED
        if metric.key not in FOLLOW_LATENCY:  # memory, energy: one number a run, no samples
            note = f"threshold {_threshold_text(threshold)}"
            rows.append(Row(cell_id, metric.key, old, now, verdict, change, note=note))
            continue
        rows.append(
            _against_noise(
                Row(cell_id, metric.key, old, now, verdict, change), before, after, threshold
            )
        )
    return rows


# A relative change within this of its threshold is at the threshold (float rounding).
EDGE = 1e-9


def _not_comparable(cell_id: str, before: Record, after: Record) -> Row | None:
    """A "not compared" row where two ok records' time, memory and energy cannot be set side by
    side: another device model, or another CPU core or thread count (a cpuset or OMP_NUM_THREADS
    on the same machine); else None."""
    device_before, device_after = results.device_model(before), results.device_model(after)
    if device_before is None or device_before != device_after:
        why = (
            "the device model is not recorded"
            if device_before is None or device_after is None
            else "different device models"
        )
        note = f"{why}: time, memory and energy not compared"
        return Row(cell_id, "device", device_before, device_after, NOT_COMPARED, note=note)
    for item, (then, now) in _cpu_setup(before, after).items():
        if then != now:
            note = f"different {item}: time, memory and energy not compared"
            return Row(cell_id, "device", then, now, NOT_COMPARED, note=note)
    return None


def _cpu_setup(before: Record, after: Record) -> dict[str, tuple]:
    """{what: (BASE's, NEW's)} of a CPU cell's usable cores and torch threads, where both records
    say them (records from before they were kept compare on the device model alone)."""
    if before.cell.device != "cpu":
        return {}
    found = {
        "usable CPU cores": (before.env.get("cpu_usable_cores"), after.env.get("cpu_usable_cores")),
        "torch threads": (before.values.get("torch_threads"), after.values.get("torch_threads")),
    }
    return {item: pair for item, pair in found.items() if None not in pair}


def _settings_differing(before: Record, after: Record, *, counts_of: str | None = None) -> str:
    """The settings two records were measured under that differ, 'name BASE -> NEW' joined by
    commas ("" where none does); a key a record lacks reads as its default, one this rinbench
    does not know is left out, and so is NOT_OF_A_WINDOW (profile). `counts_of` a phase: only
    the settings its counts depend on (COUNT_SETTINGS)."""
    from bench.measure.cell import COUNT_SETTINGS, NOT_OF_A_WINDOW, Settings  # no torch

    names = [
        name
        for name in dict.fromkeys([*before.settings, *after.settings])
        if hasattr(Settings, name)
        and name not in NOT_OF_A_WINDOW
        and (counts_of is None or name in COUNT_SETTINGS.get(counts_of, ()))
    ]
    said = []
    for name in names:
        then, now = (Settings.recorded(r.settings, name) for r in (before, after))
        if then != now:
            said.append(f"{name} {then} -> {now}")
    return ", ".join(said)


def _against_noise(row: Row, before: Record, after: Record, threshold: float) -> Row:
    """A time row, judged by its threshold (`row.verdict`), judged against the noise as well: a
    verdict beyond the threshold stands only where the two runs' intervals do not overlap."""
    beyond = row.verdict != UNCHANGED
    limit = _threshold_text(threshold)
    said = f"{_percent(row.change)} {'beyond' if beyond else 'within'} the {limit} threshold"
    sides = {"BASE": before, "NEW": after}
    contended = {
        side: int(short)
        for side, record in sides.items()
        if is_number(short := record.values.get(intervals.SHORT_OF_CORES_KEY)) and short > 0
    }
    if beyond and contended:  # the contention's change, not the code's: no verdict either way
        where = " and ".join(f"{n} of {side}'s rounds" for side, n in contended.items())
        note = f"{said}, but other jobs held the cores in {where}: not judged"
        return dataclasses.replace(row, verdict=NOT_COMPARED, note=note)
    found = {side: _interval(row.item, record.values) for side, record in sides.items()}
    noisy = [side for side, record in sides.items() if record.values.get("latency_noisy")]
    flagged = f"; {' and '.join(noisy)} flagged noisy (latency_noisy)" if noisy else ""
    lacking: dict[str, list[str]] = {}  # reason -> the sides it holds for
    for side, interval in found.items():
        if not interval.available:
            lacking.setdefault(interval.reason, []).append(side)
    if lacking:
        why = "; ".join(f"{' and '.join(sides)}: {reason}" for reason, sides in lacking.items())
        note = f"{said}; no interval: threshold only ({why}){flagged}"
        return dataclasses.replace(row, note=note)
    # Two runs of a cell agree when their intervals overlap; the change's interval then holds 0.
    overlap = found["BASE"].overlaps(found["NEW"])
    interval = intervals.relative_change(found["BASE"], found["NEW"])
    span = f"change [{_percent(interval.low)}, {_percent(interval.high)}]"
    if not beyond:
        note = f"{said}; {span}{flagged}"
    elif overlap:
        note = f"{said}, but within the noise: {span}, intervals overlap{flagged}"
    else:
        note = f"{said} and beyond the noise: {span}, intervals apart{flagged}"
    verdict = WITHIN_NOISE if beyond and overlap else row.verdict
    return dataclasses.replace(row, verdict=verdict, note=note, change_interval=interval)


def _interval(key: str, values: Mapping) -> Interval:
    """The 95% interval of a FOLLOW_LATENCY metric in a record, or an Interval without one that
    says why."""
    latency = intervals.latency(values)
    if latency is None or not is_number(values.get(LATENCY_KEY)):
        return Interval(float(values[key]), reason="the record has no latency_ms_median")
    if key == LATENCY_KEY or not latency.available:
        return latency
    scale = values[key] / values[LATENCY_KEY]  # ms_per_step: the latency over sample_steps
    return dataclasses.replace(
        latency,
        estimate=latency.estimate * scale,
        low=latency.low * scale,
        high=latency.high * scale,
    )


def _percent(fraction: float) -> str:
    return "∞" if math.isinf(fraction) else f"{fraction * 100:+.3g}%"


def _number(value) -> float | int | None:
    return value if is_number(value) else None


def _relative(old: float, now: float) -> float:
    if old == 0:
        return 0.0 if now == 0 else math.copysign(math.inf, now)
    return (now - old) / abs(old)


def _summary(records: Iterable[Record]) -> str:
    records = list(records)

    def listed(values: Iterable, limit: int = 3) -> str:
        distinct = sorted({str(v) for v in values if v})
        shown = ", ".join(distinct[:limit])
        return shown + (f" and {len(distinct) - limit} more" if len(distinct) > limit else "")

    runs = {r.run.id for r in records}
    parts = [
        f"{len(records)} cells from {len(runs)} run{'s' if len(runs) != 1 else ''} "
        f"({listed(runs, 2)})",
        f"torch {listed(r.env.get('torch') for r in records) or 'unknown'}",
        f"devices: {listed(results.device_model(r) for r in records) or 'unknown'}",
        f"commit {listed((r.env.get('git_commit') or '')[:7] for r in records) or 'unknown'}",
    ]
    return "; ".join(parts)


# --- Markdown -------------------------------------------------------------------------------------

COLUMNS = ("Cell", "Metric", "Base", "New", "Change", "Verdict")
DASH = "–"
# A status row's note is the cell's error, which can run long: cut in the table (the run file keeps
# it whole). The notes compare writes itself, a time's two tests with their reasons, are never cut.
NOTE_CHARS = 160


def markdown(comparison: Comparison, *, all_rows: bool = False) -> str:
    """The diff as Markdown: the outcome, what was compared, and a table of every row that is not
    "unchanged" (all rows with `all_rows`), most severe first."""
    counts = comparison.counts()
    failures = comparison.failures
    if failures:
        failed = Counter(row.verdict for row in failures)
        headline = "regression: " + ", ".join(f"{failed[v]} {v}" for v in FAILING if failed[v])
    else:
        headline = "no regression"
    tally = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]) or "nothing to compare"
    thresholds = comparison.thresholds
    limits = ", ".join(
        f"{m.key} {_threshold_text(thresholds.get(m.key))}" for m in gated() if m.compare != EXACT
    )
    exact = [m.key for m in gated() if m.compare == EXACT and thresholds.get(m.key) is not None]
    noise = [
        m.key for m in gated() if m.key in FOLLOW_LATENCY and thresholds.get(m.key) is not None
    ]
    noise_rule = (
        f" {', '.join(noise)} worse/better only when the two runs' 95% intervals do not overlap "
        f"either (else {WITHIN_NOISE}; where a side has no interval, the threshold alone);"
        if noise
        else ""
    )
    lines = [
        f"# rinbench compare: {headline}",
        "",
        f"- BASE: {comparison.base_summary}",
        f"- NEW: {comparison.new_summary}",
        f"- Rows: {tally}.",
        f"- Rules: {', '.join(exact) or 'no count'} must be equal (exact); "
        f"worse/better beyond {limits};{noise_rule} timings only on the same device model (and CPU "
        "cores and threads); settings that differ named in the notes.",
    ]
    if comparison.allow_missing and counts[MISSING]:
        lines.append("- Missing cells and metrics are allowed (--allow-missing).")
    lines += [f"- Note: {note}" for note in comparison.notes]
    order = {verdict: index for index, verdict in enumerate(VERDICTS)}
    shown = sorted(
        (row for row in comparison.rows if all_rows or row.verdict != UNCHANGED),
        key=lambda row: (order[row.verdict], row.cell, _item_order(row.item)),
    )
    if shown:
        lines += [
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "|".join("---" for _ in COLUMNS) + "|",
        ]
        failing = comparison.failing_verdicts
        lines += [_table_row(row, failing=row.verdict in failing) for row in shown]
    hidden = counts[UNCHANGED] if not all_rows else 0
    if hidden:
        lines += ["", f"{hidden} unchanged rows not listed (`--all` lists them)."]
    return "\n".join(lines) + "\n"


def _item_order(item: str) -> int:
    fixed = ("cell", "status", "device")  # then the metrics, in the table's order
    return fixed.index(item) if item in fixed else len(fixed) + gated_keys().index(item)


def _threshold_text(value: float | None) -> str:
    return "off" if value is None else f"{value * 100:g}%"


def _table_row(row: Row, *, failing: bool) -> str:
    verdict = f"**{row.verdict}**" if failing else row.verdict
    if row.note:
        long_error = row.item == "status" and len(row.note) > NOTE_CHARS
        note = row.note[: NOTE_CHARS - 1] + "…" if long_error else row.note
        verdict += f" ({note})"
    cells = (
        f"`{row.cell}`",
        row.item,
        _format(row.item, row.base),
        _format(row.item, row.new),
        _format_change(row),
        verdict,
    )
    return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"


def _format(item: str, value) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if item.endswith("_bytes"):
        return f"{value / 2**20:,.1f} MiB"
    if item.startswith("latency_ms"):
        return f"{value:.4g} ms"
    if item.startswith("joules"):
        return f"{value:.4g} J"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"  # counts: every digit, since one parameter more is a change
    return f"{value:.4g}"


def _format_change(row: Row) -> str:
    if row.change is None or row.base is None or row.new is None:
        return DASH
    if row.new == row.base:
        return "0"
    percent = _percent(row.change)
    if isinstance(row.base, int) and isinstance(row.new, int):
        return f"{row.new - row.base:+,} ({percent})"
    return percent
