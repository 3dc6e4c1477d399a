"""A Markdown summary table of result records; torch-free, like bench.results.

One row per preset, resolution and timing setup (device, dtype, batch, mode):

    | Model | Res | Setup | Params | GMACs | img/s fwd | img/s train | peak GiB | status |

Params and GMACs come from the params and flops cells (device- and dtype-independent counts), so
they repeat on every setup row of a preset. A stop-gap until reports/ renders the full report.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bench.results import latest_per_cell

COLUMNS = (
    "Model",
    "Res",
    "Setup",
    "Params",
    "GMACs",
    "img/s fwd",
    "img/s train",
    "peak GiB",
    "status",
)
MISSING = "–"
GIB = 2**30
# Peak memory of a cell: the caching allocator's peak on a GPU, the process's peak RSS on a CPU.
PEAK_KEYS = ("peak_alloc_bytes", "peak_rss_bytes")

LEGEND = (
    "GMACs: multiply-accumulates of one forward pass per image, in billions (what the DiT and "
    "ADM papers call GFLOPs). img/s: images per second at the row's setup (fwd = one network "
    "evaluation, train = forward + backward + optimizer step). peak GiB: peak allocated memory "
    "(GPU) or peak resident memory (CPU). status: ok, or each phase that did not finish and why "
    "(the run file holds the reasons)."
)


def markdown_table(records: Iterable[dict]) -> str:
    """The table for `records` (several runs may be mixed; a cell's last record wins)."""
    counts: dict[tuple, dict[str, dict]] = {}  # (preset, res) -> phase -> record
    timed: dict[tuple, dict[str, dict]] = {}  # (preset, res, setup) -> phase -> record
    for record in latest_per_cell(records).values():
        cell = record["cell"]
        key = (cell["preset"], cell["resolution"])
        counts.setdefault(key, {})
        if cell["phase"] in ("params", "flops"):
            counts[key][cell["phase"]] = record
        else:
            setup = f"{cell['device']} {cell['dtype']} b{cell['batch']} {cell['mode']}"
            timed.setdefault((*key, setup), {})[cell["phase"]] = record

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for key, count_records in sorted(counts.items()):  # by preset, then resolution
        setups = [k for k in timed if k[:2] == key] or [(*key, MISSING)]
        for row_key in setups:
            phases = count_records | timed.get(row_key, {})
            row = (
                key[0],
                str(key[1]),
                row_key[2],
                _params(phases),
                _scaled(_value(phases, "flops", "macs_fwd"), 1e9),
                _number(_value(phases, "forward", "images_per_s")),
                _number(_value(phases, "train_step", "images_per_s")),
                _scaled(_peak(phases), GIB, digits=2),
                _status(phases),
            )
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def render(records: list[dict], title: str = "rinbench results") -> str:
    """A small Markdown document: title, where the records come from, the table, the legend."""
    runs = sorted({r["run"]["id"] for r in records})
    source = f"{len(records)} records from run{'s' if len(runs) > 1 else ''} {', '.join(runs)}."
    return f"# {title}\n\n{source}\n\n{markdown_table(records)}\n{LEGEND}\n"


def write(records: list[dict], path: Path, title: str = "rinbench results") -> str:
    """Render, write to `path` (replacing it whole: a reader never sees half a report), return."""
    text = render(records, title)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return text


def _value(phases: dict[str, dict], phase: str, key: str):
    record = phases.get(phase)
    if record is None or record["status"] != "ok":
        return None
    return record["values"].get(key)


def _params(phases: dict[str, dict]):
    count = _value(phases, "params", "params")
    if count is None:  # every record's model block carries the same count
        counts = [
            r["model"]["params"] for r in phases.values() if (r.get("model") or {}).get("params")
        ]
        count = counts[0] if counts else None
    if count is None:
        return MISSING
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count:,}"


def _peak(phases: dict[str, dict]):
    peaks = [
        record["values"][key]
        for phase, record in phases.items()
        if phase not in ("params", "flops") and record["status"] == "ok"
        for key in PEAK_KEYS
        if isinstance(record["values"].get(key), int | float)
    ]
    return max(peaks) if peaks else None


def _scaled(value, unit: float, digits: int | None = None) -> str:
    if value is None:
        return MISSING
    return f"{value / unit:.{digits}f}" if digits is not None else _number(value / unit)


def _number(value) -> str:
    if value is None:
        return MISSING
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _status(phases: dict[str, dict]) -> str:
    problems = [f"{phase}: {r['status']}" for phase, r in phases.items() if r["status"] != "ok"]
    return "; ".join(problems) or "ok"
