"""Tables in the papers' layout, the claim verdicts and the hardware comparison, rendered as
Markdown, LaTeX, CSV and HTML from one list of cells each.

The results table has one row per model, resolution and timing setup (hardware, dtype, batch, mode):

    Model | Res | Setup | Params | GMACs | img/s fwd | img/s train | peak GiB | MFU | J/img | FID

Params, GMACs and FID do not depend on the setup, so they repeat on every setup row of a model; a
model that was only counted has one row with Setup "–". A measurement that did not finish shows its
status in its throughput cell (OOM, error, timeout, n/a) and its reason in the notes under the
table; a metric nobody measured is an empty cell.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from bench import claims as claims_module

COLUMNS = (
    "Model",
    "Res",
    "Setup",
    "Params",
    "GMACs",
    "img/s fwd",
    "img/s train",
    "peak GiB",
    "MFU",
    "J/img",
    "FID",
)
# The CSV keeps numbers unformatted and in base units, with the status of each phase beside them.
CSV_COLUMNS = (
    "model",
    "resolution",
    "setup",
    "hardware",
    "dtype",
    "batch",
    "mode",
    "params",
    "gmacs_fwd",
    "images_per_s_fwd",
    "images_per_s_train",
    "images_per_s_sample",
    "peak_gib",
    "mfu_fwd",
    "mfu_train",
    "joules_per_image_fwd",
    "joules_per_image_train",
    "max_batch_fwd",
    "max_batch_train",
    "fid",
    "fid_metric",
    "status_forward",
    "status_train_step",
    "status_sample",
    "status_fid",
)
NO_SETUP = "–"
GIB = 2**30
STATUS_LABELS = {"oom": "OOM", "error": "error", "timeout": "timeout", "unsupported": "n/a"}
COUNT_PHASES = claims_module.COUNT_PHASES
TIMED_PHASES = claims_module.TIMED_PHASES

LEGEND = (
    "GMACs: multiply-accumulates of one forward pass per image, in billions, attention included "
    "(what the DiT and ADM papers call GFLOPs; FLOPs = 2 x MACs). img/s: images per second at the "
    "row's setup (fwd = one network evaluation, train = forward + backward + optimizer step). "
    "peak GiB: peak allocated GPU memory, or peak resident memory on a CPU, over the row's timed "
    "phases. MFU: achieved model FLOP/s of the forward pass over the device's measured dense matmul "
    "peak. J/img: GPU energy per image of the forward pass (NVML). FID: of the checkpoint trained "
    "longest, from records of phase 'fid' (fid_legacy_tf where present). OOM, error, timeout, "
    "n/a: the measurement did not finish (reasons in the notes); an empty cell was not measured."
)


@dataclass
class Table:
    """Cells as display strings (`rows`), the same as numbers (`records`, for CSV), and notes."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    csv_header: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return markdown_table(self.header, self.rows)

    def latex(self, caption: str = "", label: str = "") -> str:
        return latex_table(self.header, self.rows, caption=caption, label=label)

    def html(self, table_id: str = "") -> str:
        return html_table(self.header, self.rows, table_id=table_id)

    def csv(self) -> str:
        return csv_text(self.csv_header or self.header, self.records)


# --- the results table ---------------------------------------------------------------------------


def results_table(frame: pd.DataFrame) -> Table:
    """The papers' table from `reports.load.frame` rows."""
    table = Table(header=COLUMNS, csv_header=CSV_COLUMNS)
    by_model: dict[tuple[str, int], dict] = {}
    for row in frame.to_dict("records"):
        key = (row["preset"], row["resolution"])
        model = by_model.setdefault(key, {"counts": {}, "setups": {}, "params": math.nan})
        if not math.isnan(row["params"]) and math.isnan(model["params"]):
            model["params"] = row["params"]
        if row["phase"] in COUNT_PHASES:
            claims_module.keep_count(model["counts"], row["phase"], row)
        elif row["phase"] == "fid":
            _keep_most_trained(model["counts"], row)
        elif row["phase"] in TIMED_PHASES:
            setup = (row["hardware"], row["dtype"], row["batch"], row["mode"])
            entry = model["setups"].setdefault(setup, {"label": row["setup"], "phases": {}})
            entry["phases"][row["phase"]] = row
        if row["status"] != "ok":
            table.notes.append(_note(row))

    for key in sorted(by_model, key=natural_key):
        model = by_model[key]
        counts = model["counts"]
        setups = model["setups"] or {None: {"label": NO_SETUP, "phases": {}}}
        for setup in sorted(setups, key=lambda s: () if s is None else tuple(map(str, s))):
            phases = setups[setup]["phases"]
            params = _params(counts, model["params"])
            macs = _macs(counts, phases)
            peak = _peak(phases)
            fid_row = counts.get("fid")
            table.rows.append(
                (
                    key[0],
                    str(key[1]),
                    setups[setup]["label"],
                    format_params(params),
                    format_number(macs / 1e9 if macs is not None else None),
                    _cell(phases, "forward", "images_per_s", format_number),
                    _cell(phases, "train_step", "images_per_s", format_number),
                    "" if peak is None else f"{peak / GIB:.2f}",
                    format_percent(_ok(phases, "forward", "mfu")),
                    format_number(_ok(phases, "forward", "joules_per_image")),
                    _cell(counts, "fid", "fid", lambda v: f"{v:.3g}"),
                )
            )
            first = next(iter(phases.values()), None)
            table.records.append(
                {
                    "model": key[0],
                    "resolution": key[1],
                    "setup": setups[setup]["label"],
                    "hardware": first["hardware"] if first else "",
                    "dtype": first["dtype"] if first else "",
                    "batch": first["batch"] if first else "",
                    "mode": first["mode"] if first else "",
                    "params": params,
                    "gmacs_fwd": macs / 1e9 if macs is not None else None,
                    "images_per_s_fwd": _ok(phases, "forward", "images_per_s"),
                    "images_per_s_train": _ok(phases, "train_step", "images_per_s"),
                    "images_per_s_sample": _ok(phases, "sample", "images_per_s"),
                    "peak_gib": peak / GIB if peak is not None else None,
                    "mfu_fwd": _ok(phases, "forward", "mfu"),
                    "mfu_train": _ok(phases, "train_step", "mfu"),
                    "joules_per_image_fwd": _ok(phases, "forward", "joules_per_image"),
                    "joules_per_image_train": _ok(phases, "train_step", "joules_per_image"),
                    "max_batch_fwd": _ok(phases, "forward", "max_batch"),
                    "max_batch_train": _ok(phases, "train_step", "max_batch"),
                    "fid": _ok(counts, "fid", "fid"),
                    "fid_metric": fid_row["fid_key"] if fid_row is not None else None,
                    "status_forward": _status(phases, "forward"),
                    "status_train_step": _status(phases, "train_step"),
                    "status_sample": _status(phases, "sample"),
                    "status_fid": _status(counts, "fid"),
                }
            )
    return table


def _keep_most_trained(counts: dict, row: dict) -> None:
    """The FID column shows the checkpoint trained longest (an ok record wins over a failed one)."""
    previous = counts.get("fid")

    def rank(r):
        return (r["status"] == "ok", -1 if math.isnan(r["train_macs"]) else r["train_macs"])

    if previous is None or rank(row) >= rank(previous):
        counts["fid"] = row


def _ok(phases: dict, phase: str, column: str):
    row = phases.get(phase)
    if row is None or row["status"] != "ok":
        return None
    value = row[column]
    return None if isinstance(value, float) and math.isnan(value) else value


def _cell(phases: dict, phase: str, column: str, fmt) -> str:
    row = phases.get(phase)
    if row is not None and row["status"] != "ok":
        return STATUS_LABELS.get(row["status"], row["status"])
    value = _ok(phases, phase, column)
    return "" if value is None else fmt(value)


def _status(phases: dict, phase: str) -> str:
    row = phases.get(phase)
    return "" if row is None else row["status"]


def _params(counts: dict, fallback: float):
    value = _ok(counts, "params", "params")
    if value is None and not math.isnan(fallback):
        value = fallback
    return value


def _macs(counts: dict, phases: dict):
    """Forward MACs per image from the flops cell, else from a timed cell (which counts the same
    way, on the meta device, as the numerator of its MFU)."""
    value = _ok(counts, "flops", "macs_fwd")
    for phase in TIMED_PHASES:
        if value is None:
            value = _ok(phases, phase, "macs_fwd")
    return value


def natural_key(key: tuple) -> tuple:
    """('adm-in64', 64) before ('adm-in128', 128): numbers inside names compare as numbers."""
    name, *rest = key
    parts = tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))
    return (parts, *rest)


def _peak(phases: dict):
    peaks = [
        row["peak_bytes"]
        for row in phases.values()
        if row["status"] == "ok" and not math.isnan(row["peak_bytes"])
    ]
    return max(peaks) if peaks else None


def _note(row: dict) -> str:
    where = f"{row['preset']} {row['resolution']} px"
    if row["phase"] not in COUNT_PHASES:
        where += f", {row['setup']}"
    reason = f": {row['error']}" if row.get("error") else ""
    return f"{where}, {row['phase']}: {row['status']}{reason}"


def format_params(count) -> str:
    if count is None:
        return ""
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count:,.0f}"


def format_number(value) -> str:
    """1,120 / 121.5 / 0.0125: three significant digits below 100, whole numbers above."""
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def format_percent(fraction) -> str:
    if fraction is None:
        return ""
    percent = 100 * fraction
    return f"{percent:.1f}%" if percent >= 1 else f"{percent:.2g}%"


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
)


def verdict_table(verdicts: list[claims_module.Verdict], *, compact: bool = False) -> Table:
    """One row per verdict. `compact` (for LaTeX): claim id, basis, numbers and verdict only."""
    header = VERDICT_COLUMNS[:6] if compact else VERDICT_COLUMNS
    table = Table(header=header, csv_header=VERDICT_CSV_COLUMNS)
    for verdict in verdicts:
        claim = verdict.claim
        detail = verdict.detail
        if verdict.caveat:
            detail += f". Caveat: {verdict.caveat}"
        if claim.note:
            detail += f". Note: {claim.note}"
        row = (
            claim.id if compact else f"{claim.id}: {claim.text}",
            verdict.basis,
            _claim_value(claim, claim.reported),
            _claim_value(claim, verdict.measured),
            "" if verdict.ratio is None else f"{verdict.ratio:.3f}",
            verdict.status,
            detail,
            claim.source,
        )
        table.rows.append(row[: len(header)])
        table.records.append(
            {
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
            }
        )
    return table


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


def hardware_table(frame: pd.DataFrame) -> Table | None:
    """Images per second of every timed cell that ran ok on two or more machines, one column per
    machine, and each machine's speed relative to the first (sorted by name). None when no cell
    ran on two machines."""
    timed = frame[frame["phase"].isin(TIMED_PHASES) & (frame["status"] == "ok")]
    timed = timed[timed["images_per_s"].notna()]
    if timed["hardware"].nunique() < 2:
        return None
    cells = timed.pivot_table(
        index=["preset", "resolution", "phase", "dtype", "batch", "mode"],
        columns="hardware",
        values="images_per_s",
        aggfunc="last",
    ).dropna(thresh=2)
    cells = cells.dropna(axis="columns", how="all")
    if cells.empty:
        return None
    machines = sorted(cells.columns)
    base = machines[0]
    header = (
        "Model",
        "Res",
        "Phase",
        "Setup",
        *(f"img/s {m}" for m in machines),
        *(f"{m} / {base}" for m in machines[1:]),
    )
    table = Table(header=header)
    for index, speeds in cells.iterrows():
        preset, resolution, phase, dtype, batch, mode = index
        speed = {m: None if pd.isna(speeds[m]) else float(speeds[m]) for m in machines}
        ratios = {
            m: speed[m] / speed[base] if speed[m] and speed[base] else None for m in machines[1:]
        }
        setup = f"{dtype} b{batch} {mode}"
        table.rows.append(
            (
                preset,
                str(resolution),
                phase,
                setup,
                *(format_number(speed[m]) for m in machines),
                *("" if r is None else f"{r:.2f}x" for r in ratios.values()),
            )
        )
        table.records.append(
            {"model": preset, "resolution": resolution, "phase": phase, "setup": setup}
            | {f"images_per_s {m}": speed[m] for m in machines}
            | {f"ratio {m} / {base}": r for m, r in ratios.items()}
        )
    table.csv_header = tuple(table.records[0])
    return table


# --- renderers -----------------------------------------------------------------------------------


def markdown_table(header, rows) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

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
    stripped = str(text).replace(",", "").rstrip("%xMB")
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
