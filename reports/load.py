"""Result records as one pandas DataFrame, a row per record: what the tables and figures read.

Records come from `bench.results.read`, from any number of run files and machines. A cell measured
more than once keeps its newest record per machine (`bench.selection.latest`), so the same suite
run on two GPUs stays two rows (the hardware comparison) while a retried cell shows its last
attempt. Columns: who and where (IDENTITY), then one column per metric of `bench.metrics.columns()`
that some record has, in the table's order, then the per-group breakdowns, then the Record itself
(for the choices of `bench.selection`). A value a record lacks is NaN, never an error: a CPU run has
no energy, a count cell no timings, a timed-out cell no model. A GPU record written before cells
recorded `mfu_datasheet` gets it here from its achieved TFLOP/s (`bench.datasheet.derived_for`), so
that older runs show MFU in both conventions too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from bench import datasheet, metrics, selection
from bench.record import Record, is_number

IDENTITY = (
    "preset",
    "family",
    "resolution",
    "batch",
    "dtype",
    "phase",
    "mode",
    "device",
    "hardware",
    "setup",
    "run_id",
    "suite",
    "status",
    "error",
    "source",
    "source_kind",
)
# Values that are not numbers but a metric split by group: {"read": MACs, "compute": ...}.
BREAKDOWNS = ("macs_fwd_by_group",)
RECORD = "record"


def frame(records: Iterable[Record]) -> pd.DataFrame:
    """One row per record (newest per machine and cell), in the order given."""
    rows = _cpus_apart([_row(record) for record in selection.latest(records)])
    present = [m.key for m in metrics.columns() if any(m.key in row for row in rows)]
    table = pd.DataFrame(rows, columns=[*IDENTITY, *present, *BREAKDOWNS, RECORD])
    table[present] = table[present].astype("float64")
    for column in ("resolution", "batch"):
        table[column] = table[column].astype("int64")
    return table


def _row(record: Record) -> dict:
    cell, model, values = record.cell, record.model, record.values
    row = {
        "preset": cell.preset,
        "family": model.family if model else cell.preset.split("-", 1)[0],
        "resolution": cell.resolution,
        "batch": cell.batch,
        "dtype": cell.dtype,
        "phase": cell.phase,
        "mode": cell.mode,
        "device": cell.device,
        "hardware": selection.hardware(record),
        "setup": selection.setup_label(record),
        "run_id": record.run.id,
        "suite": record.run.suite,
        "status": record.status,
        "error": record.error,
        "source": str(model.source) if model else None,
        "source_kind": model.source.kind if model else None,
        RECORD: record,
    }
    row |= {m.key: float(values[m.key]) for m in metrics.columns() if is_number(values.get(m.key))}
    row |= datasheet.derived_for(record)
    if "params" not in row and model is not None and is_number(model.params):
        row["params"] = float(model.params)  # the model block carries the same count
    row |= {key: values[key] for key in BREAKDOWNS if isinstance(values.get(key), dict)}
    return row


def _cpus_apart(rows: list[dict]) -> list[dict]:
    """Rows of two or more CPU machines: each CPU row's setup names its machine ('AMD EPYC 7B13
    (2 CPUs) fp32 b4 eager'), so that the table and the figures keep them apart; the rows of one
    CPU keep the short 'cpu'."""
    if len({row["hardware"] for row in rows if row["device"] == "cpu"}) > 1:
        for row in rows:
            if row["device"] == "cpu":
                row["setup"] = selection.setup_label(row[RECORD], cpu_named=True)
    return rows


def first_present(table: pd.DataFrame, keys: Iterable[str]) -> tuple[pd.Series, pd.Series]:
    """Per row, the first of the metric `keys` that the row has (bench.selection.first_number): its
    value (NaN where none) and its key (None where none). E.g. the peak memory or the FID."""
    keys = tuple(keys)
    picked = [selection.first_number(row, keys) for row in table.to_dict("records")]
    value = [math.nan if number is None else number for _, number in picked]
    return (
        pd.Series(value, index=table.index, dtype="float64"),
        pd.Series([key for key, _ in picked], index=table.index, dtype="object"),
    )
