"""Tables in the papers' layout, the claim verdicts and the hardware comparison, rendered as
Markdown, LaTeX, CSV and HTML from one list of cells each.

The results table has one row per model, resolution and timing setup (hardware, dtype, batch, mode):

    Model | Res | Setup | Params | GMACs | img/s fwd | img/s train | peak GiB | MFU (measured peak)
    | MFU (data sheet) | J/img | FID

Its columns are declared in RESULTS_COLUMNS, each naming its metric keys and phase; labels and scales
come from the metric table (bench.metrics). Params, GMACs and FID do not depend on the setup, so
they repeat on every setup row of a model; a model that was only counted has one row with Setup
"–". A measurement that did not finish shows its status in its throughput cell (OOM, error,
timeout, n/a) and its reason in the notes under the table; a metric nobody measured is an empty
cell. The CSV carries every metric of the table that the records have, per phase, unformatted.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from bench import claims as claims_module
from bench import metrics, selection
from bench.record import is_number
from bench.selection import COUNT_PHASES, TIMED_PHASES
from reports import load

NO_SETUP = "–"
STATUS_LABELS = {"oom": "OOM", "error": "error", "timeout": "timeout", "unsupported": "n/a"}

LEGEND = (
    "GMACs: multiply-accumulates of one forward pass per image, in billions, attention included "
    "(what the DiT and ADM papers call GFLOPs; FLOPs = 2 x MACs). img/s: images per second at the "
    "row's setup (fwd = one network evaluation, train = forward + backward + optimizer step). "
    "peak GiB: peak allocated GPU memory, or peak resident memory on a CPU, over the row's timed "
    "phases; on a CPU, (+x) is what the phase itself added over the process with the model built "
    "in it (rss_added_bytes), the rest being the interpreter, torch and the weights. MFU, in two "
    "conventions: achieved model FLOP/s of the forward pass over the dense matmul peak measured "
    "on the device in the same run (measured peak: an 8192^3 bf16 matmul on a GPU, 1024^3 fp32 on "
    "a CPU, whatever the row's dtype), and over the vendor data sheet's dense (not sparse) peak "
    "of the GPU for the row's dtype (data sheet: e.g. 989.4 TFLOP/s bf16 on an H100 SXM or an "
    "H200; bench.datasheet), as published MFUs count it. In bf16 the measured peak is the lower "
    "(about 790 TFLOP/s on an H200), so the same run reads higher over it; a CPU, or a GPU the "
    "table lacks, has no data-sheet MFU. J/img: GPU energy per image of the forward pass (NVML). "
    "FID: of the checkpoint trained longest, from records of phase 'fid' (fid_legacy_tf where "
    "present). OOM, error, timeout, n/a: the measurement did not finish (reasons in the notes); "
    "an empty cell was not measured. "
    "~: a noisy timing: the spread of its calls (IQR / median, stalls left out) stayed above the "
    "suite's max_rel_iqr until its time budget ran out, stalls (calls over 2x the median) were "
    "over 10% of them, or other jobs held the CPU cores it needed; the CSV has the spread "
    "(latency_rel_iqr) and the stalls (latency_stalls). ?: an MFU over a measured matmul peak "
    "that was itself noisy, or taken while other jobs held the cores (mfu_suspect)."
)
# Appended to a timed value whose record carries the flag (a metric of bench.metrics, 1 or 0).
NOISY_MARK, SUSPECT_MARK = "~", "?"


@dataclass
class Table:
    """Cells as display strings (`rows`), the same as numbers (`records`, for CSV), and notes."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    csv_header: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    intro: str = ""  # what the reader needs before the rows (the hardware table's base machine)

    def markdown(self) -> str:
        return markdown_table(self.header, self.rows)

    def latex(self, caption: str = "", label: str = "") -> str:
        return latex_table(self.header, self.rows, caption=caption, label=label)

    def html(self, table_id: str = "") -> str:
        return html_table(self.header, self.rows, table_id=table_id)

    def csv(self) -> str:
        return csv_text(self.csv_header or self.header, self.records)


# --- number styles -------------------------------------------------------------------------------


def format_params(count) -> str:
    if count is None:
        return ""
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count:,.0f}"


def format_number(value) -> str:
    """1,120 / 33.1 / 33 / 7 / 0.0125: whole numbers from 100, three significant digits below,
    without trailing zeros (33.0 reads 33, as 7.00 reads 7)."""
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_percent(fraction) -> str:
    if fraction is None:
        return ""
    percent = 100 * fraction
    return f"{percent:.1f}%" if percent >= 1 else f"{percent:.2g}%"


# --- the results table ---------------------------------------------------------------------------

COUNTS = "counts"  # the model's ok params/flops cells, else any of its records (a count is a count)
TIMED = "timed"  # the largest value over the row's timed phases that ended ok


@dataclass(frozen=True)
class Column:
    """A results-table column: a metric of the row's records, labelled and scaled as the metric
    table says (by its first key). The papers print numbers shorter than a metric's own format
    (`format_number`: 1,120 rather than 1.12e+03), so a column's text is in that style unless it
    names another."""

    keys: tuple[str, ...]  # metric keys; the first one a record has is shown
    phase: str  # a timed phase, "fid", COUNTS or TIMED
    suffix: str = ""  # after the metric's label: "img/s" + "fwd"
    text: Callable[[float], str] | None = None  # of the scaled value
    shows_status: bool = False  # a record that did not finish shows its status here
    marks: tuple[tuple[str, str], ...] = ()  # (flag key, mark): the mark follows a flagged value
    beside: str | None = None  # a metric of the same unit shown after the value as "(+x)"

    @property
    def metric(self) -> metrics.Metric:
        return metrics.get(self.keys[0])

    @property
    def header(self) -> str:
        return f"{self.metric.label} {self.suffix}".rstrip()

    def render(self, value: float | None) -> str:
        if value is None:
            return ""
        style = self.text or (format_percent if self.metric.fmt.endswith("%") else format_number)
        return style(value * self.metric.scale)


TIMING_MARKS = (("latency_noisy", NOISY_MARK),)
MFU_MARKS = (*TIMING_MARKS, ("mfu_suspect", SUSPECT_MARK))
RESULTS_COLUMNS = (
    Column(("params",), COUNTS, text=format_params),
    Column(("macs_fwd",), COUNTS),
    Column(("images_per_s",), "forward", "fwd", shows_status=True, marks=TIMING_MARKS),
    Column(("images_per_s",), "train_step", "train", shows_status=True, marks=TIMING_MARKS),
    Column(selection.PEAK_MEMORY_KEYS, TIMED, text="{:.2f}".format, beside="rss_added_bytes"),
    Column(("mfu",), "forward", marks=MFU_MARKS),
    Column(("mfu_datasheet",), "forward", marks=TIMING_MARKS),
    Column(("joules_per_image",), "forward"),
    Column(selection.FID_KEYS, "fid", shows_status=True),
)
COLUMNS = ("Model", "Res", "Setup", *(column.header for column in RESULTS_COLUMNS))
# The CSV: who and where, every count, then per phase its status and every other metric it has.
CSV_IDENTITY = ("model", "resolution", "setup", "hardware", "dtype", "batch", "mode")
CSV_PHASES = (*TIMED_PHASES, "fid")


def _count_keys() -> list[str]:
    """The counts of the metric table (read when a table is made: a metric added later shows)."""
    return [m.key for m in metrics.columns() if m.kind == metrics.COUNT]


def _phase_keys() -> list[str]:
    return [m.key for m in metrics.columns() if m.kind != metrics.COUNT]


@dataclass
class _Model:
    """The frame rows of one model at one resolution, with the records bench.selection keeps."""

    rows: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)  # phase -> Record (selection.keep_count)
    fids: list = field(default_factory=list)  # Records of phase fid
    setups: dict[tuple, tuple[str, dict[str, dict]]] = field(default_factory=dict)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        record, phase = row[load.RECORD], row["phase"]
        if phase in COUNT_PHASES:
            selection.keep_count(self.counts, phase, record)
        elif phase == "fid":
            self.fids.append(record)
        elif phase in TIMED_PHASES:
            setup = (row["hardware"], row["dtype"], row["batch"], row["mode"])
            self.setups.setdefault(setup, (row["setup"], {}))[1][phase] = row

    def _row_of(self, record) -> dict:
        return next(row for row in self.rows if row[load.RECORD] is record)

    def count(self, keys: tuple[str, ...]) -> float | None:
        ok = [self._row_of(r) for r in self.counts.values() if r.status == "ok"]
        for row in [*ok, *self.rows]:
            _, value = selection.first_number(row, keys)
            if value is not None:
                return value
        return None

    def fid(self) -> dict | None:
        """The FID row of the checkpoint trained longest."""
        chosen = selection.most_trained(self.fids)
        return None if chosen is None else self._row_of(chosen)

    def setup_rows(self) -> list[tuple[str, dict[str, dict]]]:
        """(setup label, phase -> row) per setup, sorted; one row without a setup if none."""
        if not self.setups:
            return [(NO_SETUP, {})]
        return [self.setups[s] for s in sorted(self.setups, key=lambda s: tuple(map(str, s)))]


def results_table(frame: pd.DataFrame) -> Table:
    """The papers' table from `reports.load.frame` rows."""
    table = Table(header=COLUMNS)
    models: dict[tuple[str, int], _Model] = {}
    for row in frame.to_dict("records"):
        models.setdefault((row["preset"], row["resolution"]), _Model()).add(row)
        if row["status"] != "ok":
            table.notes.append(_note(row))
    for key in sorted(models, key=natural_key):
        model = models[key]
        for label, phases in model.setup_rows():
            cells = (_cell(column, model, phases) for column in RESULTS_COLUMNS)
            table.rows.append((key[0], str(key[1]), label, *cells))
            table.records.append(_csv_record(key, label, model, phases))
    table.csv_header = _csv_header(table.records)
    return table


def _cell(column: Column, model: _Model, phases: dict[str, dict]) -> str:
    if column.phase == COUNTS:
        return column.render(model.count(column.keys))
    if column.phase == TIMED:
        ok = [row for row in phases.values() if row["status"] == "ok"]
        found = [selection.first_number(row, column.keys)[1] for row in ok]
        text = column.render(max((v for v in found if v is not None), default=None))
        if text and column.beside:
            added = [row.get(column.beside) for row in ok]
            largest = max((v for v in added if is_number(v)), default=None)
            if largest is not None:
                text += f" (+{column.render(largest)})"
        return text
    row = model.fid() if column.phase == "fid" else phases.get(column.phase)
    if row is None:
        return ""
    if row["status"] != "ok":
        return STATUS_LABELS.get(row["status"], row["status"]) if column.shows_status else ""
    text = column.render(selection.first_number(row, column.keys)[1])
    if text:
        text += "".join(mark for key, mark in column.marks if row.get(key) == 1)
    return text


def _csv_record(key: tuple[str, int], label: str, model: _Model, phases: dict[str, dict]) -> dict:
    """Numbers unformatted and in the metric table's units: counts, then per phase its status and
    every other metric its record has."""
    first = next(iter(phases.values()), {})
    record = {"model": key[0], "resolution": key[1], "setup": label}
    record |= {name: first.get(name, "") for name in ("hardware", "dtype", "batch", "mode")}
    record |= {name: model.count((name,)) for name in _count_keys()}
    fid, phase_keys = model.fid(), _phase_keys()
    for phase in CSV_PHASES:
        row = fid if phase == "fid" else phases.get(phase)
        if row is None:
            continue
        record[f"{phase}.status"] = row["status"]
        if row["status"] == "ok":
            for name in phase_keys:
                record[f"{phase}.{name}"] = selection.first_number(row, (name,))[1]
    return record


def _csv_header(records: list[dict]) -> tuple[str, ...]:
    """CSV_IDENTITY and every column some row has a value in, in the metric table's order."""
    filled = {name for record in records for name, value in record.items() if value is not None}
    candidates = [
        *_count_keys(),
        *(f"{p}.{name}" for p in CSV_PHASES for name in ("status", *_phase_keys())),
    ]
    return (*CSV_IDENTITY, *(name for name in candidates if name in filled))


def natural_key(key: tuple) -> tuple:
    """('adm-in64', 64) before ('adm-in128', 128): numbers inside names compare as numbers."""
    name, *rest = key
    parts = tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))
    return (parts, *rest)


def _note(row: dict) -> str:
    where = f"{row['preset']} {row['resolution']} px"
    if row["phase"] not in COUNT_PHASES:
        where += f", {row['setup']}"
    reason = f": {row['error']}" if row.get("error") else ""
    return f"{where}, {row['phase']}: {row['status']}{reason}"


# --- claim verdicts ------------------------------------------------------------------------------

VERDICT_COLUMNS = (
    "Claim",
    "Basis",
    "Reported",
    "Measured",
    "Measured / reported",
    "Verdict",
    "How measured, or why not",
    "Source",
)
VERDICT_CSV_COLUMNS = (
    "id",
    "kind",
    "claim",
    "basis",
    "convention",
    "tolerance",
    "compare",
    "reported",
    "measured",
    "ratio",
    "verdict",
    "detail",
    "caveat",
    "source",
    "origin",
    "phrase",
    "group",
    "setup",
    "noisy",
    "low",
    "high",
    "rounds",
    "interval",
)


def verdict_table(verdicts: list[claims_module.Verdict], *, compact: bool = False) -> Table:
    """One row per verdict, its verdict in words (Verdict.phrase). `compact` (for LaTeX): claim id,
    basis, numbers and verdict only. The caveats about presets are not repeated per row: they
    are said once per preset by bench.claims.caveats; the CSV keeps each row's caveat and its
    machine-read verdict word."""
    header = VERDICT_COLUMNS[:6] if compact else VERDICT_COLUMNS
    table = Table(header=header, csv_header=VERDICT_CSV_COLUMNS)
    for verdict in verdicts:
        claim = verdict.claim
        detail = verdict.detail
        if claim.note:
            detail += f". Note: {claim.note}"
        row = (
            claim.id if compact else f"{claim.id}: {claim.text}",
            verdict.basis,
            format_claim_value(claim, claim.reported),
            measured_text(verdict),
            "" if verdict.ratio is None else f"{verdict.ratio:.3f}",
            verdict.phrase,
            detail,
            claim.source,
        )
        table.rows.append(row[: len(header)])
        table.records.append(_verdict_record(verdict))
    return table


def _verdict_record(verdict: claims_module.Verdict) -> dict:
    claim, timing = verdict.claim, verdict.timing
    return {
        "id": claim.id,
        "kind": claim.kind,
        "claim": claim.text,
        "basis": verdict.basis,
        "convention": claim.convention or "",
        "tolerance": claim.tolerance,
        "compare": claim.compare,
        "reported": claim.reported,
        "measured": verdict.measured,
        "ratio": verdict.ratio,
        "verdict": verdict.status,
        "detail": verdict.detail,
        "caveat": verdict.caveat,
        "source": claim.source,
        "origin": claim.origin,
        "phrase": verdict.phrase,
        "group": verdict.group,
        "setup": "" if timing is None else timing.words,
        "noisy": "" if timing is None else timing.noisy,
        **_interval_fields(verdict.interval),
    }


def _interval_fields(interval) -> dict:
    """A wall-clock verdict's 95% interval: its ends, the rounds behind it, and in words how it
    was made or why there is none; empty for counts."""
    if interval is None:
        return {"low": None, "high": None, "rounds": None, "interval": ""}
    if not interval.available:  # rounds there may be (contended ones), but no ends
        rounds = interval.n or None
        return {"low": None, "high": None, "rounds": rounds, "interval": interval.reason}
    words = f"95% over {interval.n} interleaved rounds"
    return {"low": interval.low, "high": interval.high, "rounds": interval.n, "interval": words}


def measured_text(verdict: claims_module.Verdict) -> str:
    """The measured value as the claim's kind prints it, with its 95% interval where it has one:
    '8.00x [7.80, 8.20]'."""
    text = format_claim_value(verdict.claim, verdict.measured)
    interval = verdict.interval
    if text and interval is not None and interval.available:
        text += f" [{interval.low:.2f}, {interval.high:.2f}]"
    return text


def format_claim_value(claim: claims_module.Claim, value) -> str:
    """A claim's number as its kind prints it: '410.0M' parameters, '6.62x', '1,120' GFLOPs."""
    return _claim_value(claim, value)


def _claim_value(claim: claims_module.Claim, value) -> str:
    if value is None:
        return ""
    if claim.kind == "params":
        return format_params(value)
    if claim.kind in ("ratio", "ratio_max"):
        return f"{value:.2f}x"
    if claim.kind == "gflops":
        return format_number(value)
    return f"{value:.3g}"


# --- hardware comparison -------------------------------------------------------------------------

# What makes two timed records the same cell on two machines: every axis of the cell id but the
# device (a CPU's record says "cpu", a GPU's "cuda").
HARDWARE_CELL = ("preset", "resolution", "phase", "dtype", "batch", "mode")
HARDWARE_TITLE = "Hardware comparison"  # the report's one heading for it (reports.md, reports.html)
# The settings that say how a timed window warms up (the GPUs' rules, where they differ).
WARM_UP_RULE = ("warmup", "warmup_steady_within")
NO_HARDWARE_COMPARISON = (
    "None: no timed cell ran on two or more machines. Most suites size their setup to the device "
    "(fp32 batch 1 on a CPU, bf16 batch 32 on a GPU); the hardware suite (rinbench run hardware) "
    "gives every machine the same cells."
)
HARDWARE_LEGEND = (
    "img/s: images per second of the cell on each machine. speed-up: a machine's img/s over the "
    "base machine's on the same cell (the CSV's speedup_over names it; its warmup and "
    "warmup_steady_within columns give each machine's warm-up rule). MFU (measured peak): "
    "achieved model FLOP/s over that machine's own measured dense matmul peak "
    "(bench.measure.timing.matmul_peak: fp32 on a CPU, bf16 on a GPU, so an fp32 cell on a GPU "
    "reads low beside its tensor-core peak). MFU (data sheet): over the dense peak its maker "
    "publishes for the device and the cell's dtype (bench.datasheet), the convention of published "
    "MFU figures; a column for each machine the data sheets know. ~ and ?: a noisy timing and a "
    "suspect MFU, as in the results table."
)


def hardware_table(frame: pd.DataFrame) -> Table | None:
    """Every timed cell that ran ok on two or more machines: per machine its img/s, its speed-up
    over the base machine and its MFU over its own matmul peak (and over its data sheet's, where
    the data sheets know it). The base is the slowest machine, the one with the lowest
    geometric-mean img/s over its cells in the table, so that a speed-up
    reads as "times faster than the slowest machine" (in practice a CPU, where there is one);
    machines are in order of that mean, the base first. A cell the base did not run (a GPU check's
    cell beside a CPU's hardware suite) has its speed-ups over the slowest machine that ran it,
    named beside each. `intro` names the base. None when no cell ran on two machines."""
    shared = hardware_cells(frame)
    if not shared:
        return None
    machines = slowest_first(shared)
    base, faster = machines[0], machines[1:]
    label = {machine: machine_label(machine) for machine in machines}
    published = [  # the machines with a data-sheet MFU (a GPU the table knows), in the same order
        m
        for m in machines
        if any(
            _number(rows.get(m, {}).get("mfu_datasheet")) is not None for rows in shared.values()
        )
    ]
    table = Table(
        header=(
            "Model",
            "Res",
            "Phase",
            "Setup",
            *(f"img/s {label[m]}" for m in machines),
            *(f"speed-up {label[m]}" for m in faster),
            *(f"MFU (measured peak) {label[m]}" for m in machines),
            *(f"MFU (data sheet) {label[m]}" for m in published),
        ),
        intro=(
            f"The same cells on {len(machines)} machines. The speed-ups are over the slowest, "
            f"{base} (the lowest geometric-mean img/s over its cells here)"
            + (
                "; a cell it did not run, over the slowest machine that ran it, named beside them"
                if any(base not in rows for rows in shared.values())
                else ""
            )
            + f". {HARDWARE_LEGEND}"
            + _warm_up_rules(shared, machines)
        ),
    )
    for key in sorted(shared, key=natural_key):
        row, record = _hardware_row(key, shared[key], machines, published)
        table.rows.append(row)
        table.records.append(record)
    table.csv_header = tuple(table.records[0])
    return table


def _warm_up_rules(cells: dict[tuple, dict[str, dict]], machines: list[str]) -> str:
    """A sentence naming each GPU's warm-up rule where the GPUs of the table differ in it (the
    settings' warmup and warmup_steady_within: a run before the latter kept a fixed count), so
    that a speed-up between them is read as measured under both; else "". A CPU's smaller warm-up
    is its suite's by design, and not named."""
    rules: dict[str, set] = {}
    for rows in cells.values():
        for machine, row in rows.items():
            rule = _warm_up_of(row)
            if row["device"] == "cuda" and rule is not None:
                rules.setdefault(machine, set()).add(rule)
    if len(set().union(*rules.values(), set())) < 2:
        return ""
    said = [
        machine_label(machine)
        + " "
        + " or ".join(_rule_text(*rule) for rule in sorted(rules[machine], key=str))
        for machine in machines
        if machine in rules
    ]
    if len(rules) == 1:  # one GPU whose runs differ: an older run fills what a newer one missed
        return f" This GPU's cells warmed up by different rules: {'; '.join(said)}."
    return (
        " The GPUs' timings warmed up by different rules, which a speed-up between them "
        f"includes: {'; '.join(said)}."
    )


def _warm_up_of(row: dict) -> tuple | None:
    """A frame row's warm-up rule, the WARM_UP_RULE settings of its record (a key the record
    lacks: its default, what it ran with before the setting existed); None for a record that
    keeps no settings at all."""
    from bench.measure.cell import Settings  # no torch: the dataclass and its defaults

    settings = row[load.RECORD].settings
    if not settings:
        return None
    return tuple(Settings.recorded(settings, key) for key in WARM_UP_RULE)


def _rule_text(warmup: object, steady_within: object) -> str:
    if not is_number(steady_within):
        return f"{warmup} warm-up calls"
    return (
        f"up to {warmup} warm-up calls, ending at the first within {steady_within * 100:g}% of "
        "the one before"
    )


def _hardware_row(
    key: tuple, rows: dict[str, dict], machines: list[str], published: list[str]
) -> tuple[tuple, dict]:
    """One cell of the hardware table: its Markdown row and its CSV record. `machines` are in
    order, the table's base (slowest) first; `published`, those with a data-sheet MFU column."""
    preset, resolution, phase, dtype, batch, mode = key
    faster = machines[1:]
    speed = {m: float(rows[m]["images_per_s"]) if m in rows else None for m in machines}
    # The row's base: the table's (the slowest machine), or else the slowest on this very cell
    # (the table's order is over each machine's own cells, which differ between machines).
    base = machines[0] if machines[0] in rows else min(rows, key=lambda m: (speed[m], m))
    speedup = {m: _ratio(speed[m], speed[base]) if m != base else None for m in faster}
    over = "" if base == machines[0] else f" over {machine_label(base)}"
    mfu = {m: _number(rows[m].get("mfu")) if m in rows else None for m in machines}
    mfu_datasheet = {
        m: _number(rows[m].get("mfu_datasheet")) if m in rows else None for m in published
    }
    setup = f"{dtype} b{batch} {mode}"
    row = (
        preset,
        str(resolution),
        phase,
        setup,
        *(_marked(format_number(speed[m]), rows.get(m), TIMING_MARKS) for m in machines),
        *("" if speedup[m] is None else f"{speedup[m]:.2f}x{over}" for m in faster),
        *(_marked(format_percent(mfu[m]), rows.get(m), MFU_MARKS) for m in machines),
        *(_marked(format_percent(mfu_datasheet[m]), rows.get(m), TIMING_MARKS) for m in published),
    )
    record = (
        {"model": preset, "resolution": resolution, "phase": phase, "setup": setup}
        | {f"images_per_s {m}": speed[m] for m in machines}
        | {"speedup_over": base}
        | {f"speedup {m}": speedup[m] for m in faster}
        | {f"mfu {m}": mfu[m] for m in machines}
        | {f"mfu_datasheet {m}": mfu_datasheet[m] for m in published}
        | _warm_up_columns(rows, machines)
    )
    return row, record


def _warm_up_columns(rows: dict[str, dict], machines: list[str]) -> dict:
    """The CSV's warm-up rule of each machine's timing of a cell, a column per WARM_UP_RULE
    setting ("warmup H200", "warmup_steady_within H200"): the table's intro names the rules only
    where the GPUs differ, a CSV row keeps them always. A blank warmup_steady_within is a fixed
    count of warm-up calls; both blank, the machine did not run the cell or its record keeps no
    settings."""
    columns = {}
    for key_index, key in enumerate(WARM_UP_RULE):
        for m in machines:
            rule = _warm_up_of(rows[m]) if m in rows else None
            columns[f"{key} {m}"] = None if rule is None else rule[key_index]
    return columns


def hardware_cells(frame: pd.DataFrame) -> dict[tuple, dict[str, dict]]:
    """{cell (the HARDWARE_CELL values): {machine: frame row}} of the timed cells that ran ok, with
    a throughput, on two or more machines."""
    if "images_per_s" not in frame:
        return {}
    timed = frame[frame["phase"].isin(TIMED_PHASES) & (frame["status"] == "ok")]
    timed = timed[timed["images_per_s"].notna()]
    # The frame keeps one record per (machine, cell id), and a cell id names its device, which
    # follows from the machine: so one row per (cell, machine) here.
    cells: dict[tuple, dict[str, dict]] = {}
    for row in timed.to_dict("records"):
        cells.setdefault(tuple(row[axis] for axis in HARDWARE_CELL), {})[row["hardware"]] = row
    return {key: rows for key, rows in cells.items() if len(rows) >= 2}


def machine_label(hardware: str) -> str:
    """A machine as a column header: 'H200' for 'NVIDIA H200'; a CPU keeps its model and count."""
    return hardware.removeprefix("NVIDIA ").strip()


def slowest_first(cells: dict[tuple, dict[str, dict]]) -> list[str]:
    """The machines of `cells`, by the geometric mean of their img/s over the cells each ran, the
    slowest first (ties by name)."""
    logs: dict[str, list[float]] = {}
    for rows in cells.values():
        for machine, row in rows.items():
            logs.setdefault(machine, []).append(math.log(row["images_per_s"]))
    return sorted(logs, key=lambda machine: (sum(logs[machine]) / len(logs[machine]), machine))


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def _number(value) -> float | None:
    return float(value) if is_number(value) else None


def _marked(text: str, row: dict | None, marks: tuple[tuple[str, str], ...]) -> str:
    """`text` with the mark of every flag the row carries (NOISY_MARK, SUSPECT_MARK)."""
    if not text or row is None:
        return text
    return text + "".join(mark for key, mark in marks if row.get(key) == 1)


# --- cost exponents ------------------------------------------------------------------------------

EXPONENT_HEADER = ("Model", "Family", "Resolutions", "k (all)", "k (two largest)")
EXPONENT_INTRO = "Fitted exponent k of forward MACs ∝ resolution^k (least squares on log-log axes)."
NO_EXPONENTS = "No preset was counted at two or more resolutions."
EXPONENTS_TITLE = "Cost exponents"  # the figure beside them is "Cost vs resolution"
NO_RESULTS = (
    "None: these records hold no count and no timed cell (a profile shows under "
    "'Where the time goes')."
)


def exponent_table(exponents: pd.DataFrame) -> Table:
    """The fitted exponents of reports.figures.cost_exponents, one row per preset."""
    rows = [
        (r.preset, r.family, r.resolutions, f"{r.exponent:.2f}", f"{r.exponent_top:.2f}")
        for r in exponents.itertuples()
    ]
    return Table(header=EXPONENT_HEADER, rows=rows)


# --- renderers -----------------------------------------------------------------------------------
# Hand-written: pandas' to_markdown needs tabulate (not a dependency), and its to_latex (jinja2)
# neither escapes "–", "·" and "×" nor right-aligns status words among numbers as these do; the CSV
# writer prints whole floats as integers ("125", not pandas' "125.0").


def markdown_table(header, rows) -> str:
    def cell(text: str) -> str:  # '<' escaped: a kernel's 'add<float>' is no HTML tag
        return str(text).replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
    "·": r"$\cdot$",
    "×": r"$\times$",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(char, char) for char in str(text))


def latex_table(header, rows, caption: str = "", label: str = "") -> str:
    """A booktabs table (\\usepackage{booktabs}); text columns left, the rest right-aligned."""
    numeric = [
        all(_looks_numeric(row[i]) for row in rows if row[i]) and any(row[i] for row in rows)
        for i in range(len(header))
    ]
    spec = "".join("r" if n else "l" for n in numeric)
    lines = [r"\begin{table}[t]", r"\centering", r"\small"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    lines.append(" & ".join(latex_escape(h) for h in header) + r" \\")
    lines.append(r"\midrule")
    lines.extend(" & ".join(latex_escape(c) for c in row) + r" \\" for row in rows)
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _looks_numeric(text: str) -> bool:
    stripped = re.sub(r" \(\+[0-9.,]+\)$", "", str(text))  # a CPU's "2.50 (+0.50)" GiB
    stripped = stripped.replace(",", "").rstrip(NOISY_MARK + SUSPECT_MARK).rstrip("%xMB")
    try:
        float(stripped)
    except ValueError:
        return str(text) in STATUS_LABELS.values()
    return True


def html_table(header, rows, table_id: str = "") -> str:
    escape = html.escape
    ident = f' id="{escape(table_id)}"' if table_id else ""
    lines = [f"<table{ident}>", "<thead><tr>"]
    lines.append("".join(f"<th>{escape(str(h))}</th>" for h in header))
    lines.append("</tr></thead>")
    lines.append("<tbody>")
    for row in rows:
        cells = []
        for text in row:
            css = STATUS_CLASSES.get(str(text)) or ("num" if _looks_numeric(text) else None)
            attr = f' class="{css}"' if css else ""
            cells.append(f"<td{attr}>{escape(str(text))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines) + "\n"


# Table cells that get a colour in the HTML page.
STATUS_CLASSES = {
    **{label: "failed" for label in STATUS_LABELS.values()},
    claims_module.HOLDS: "holds",
    claims_module.FAILS: "fails",
    claims_module.INCONCLUSIVE: "inconclusive",
    claims_module.CANNOT_CHECK: "cannot",
}


def csv_text(header, records: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(header), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_value(v) for k, v in record.items()})
    return out.getvalue()


def _csv_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
