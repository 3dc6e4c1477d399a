"""Result records as one pandas DataFrame, a row per record: what the tables and figures read.

Records come from any number of run files and machines (bench.results.read). A cell measured more
than once keeps its newest record per machine, so the same suite run on two GPUs stays two rows (the
hardware comparison) while a retried cell shows its last attempt. Values a record lacks are NaN,
never an error: a CPU run has no energy, a count cell no timings, a timed-out cell no model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable

import pandas as pd

from bench import claims, results
from bench.record import SCHEMA_VERSION, Record
from bench.record import upgrade as upgrade_record

# Schema versions this reader understands: the current one, plus older ones that have an upgrade
# function (none yet: version 1 is the first released).
UPGRADES: dict[int, Callable[[dict], dict]] = {}
OLDEST_SCHEMA = min([SCHEMA_VERSION, *UPGRADES])

COLUMNS = (
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
    "params",
    "source",
    "source_kind",
    "macs_fwd",
    "macs_train_step",
    "macs_fwd_by_group",
    "images_per_s",
    "latency_ms_median",
    "latency_ms_p10",
    "latency_ms_p90",
    "mfu",
    "achieved_tflops",
    "peak_bytes",
    "peak_kind",
    "joules_per_image",
    "max_batch",
    "fid",
    "fid_key",
    "n_samples",
    "train_macs",
)
# Value keys copied as they are (units in the names).
NUMERIC_VALUES = (
    "macs_fwd",
    "macs_train_step",
    "images_per_s",
    "latency_ms_median",
    "latency_ms_p10",
    "latency_ms_p90",
    "mfu",
    "achieved_tflops",
    "joules_per_image",
    "max_batch",
    "n_samples",
    "train_macs",
)
# Peak memory of a timed cell: the caching allocator's peak on a GPU, the peak RSS on a CPU.
PEAK_KEYS = {"peak_alloc_bytes": "gpu allocated", "peak_rss_bytes": "cpu resident"}


def read(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[dict]:
    """bench.results.read, then `upgrade`: records of every schema version this reader knows."""
    return upgrade(results.read(paths))


def upgrade(records: Iterable[Record | dict]) -> list[dict]:
    """Interim (issue 12), until this module reads bench.record.Record: Records, or record dicts of
    any schema bench.record reads, as the schema-1 dicts the loaders below index (diagnostics among
    the values, the source as one "kind: detail" string). Raises SchemaError for newer schemas."""
    current = []
    for record in records:
        data = record.to_json() if isinstance(record, Record) else upgrade_record(record)
        values = data["values"] | data.get("details", {})
        model = data["model"] and data["model"] | {
            "source": str(Record.from_json(data).model.source)
        }
        current.append(data | {"schema": 1, "values": values, "model": model})
    return current


def frame(records: Iterable[dict]) -> pd.DataFrame:
    """One row per record (newest per machine and cell), in the order given; COLUMNS."""
    rows = [_row(record) for record in claims.latest(upgrade(records))]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("resolution", "batch"):
        table[column] = table[column].astype("int64")
    return table


def _row(record: dict) -> dict:
    cell, values = record["cell"], record.get("values") or {}
    model = record.get("model") or {}
    run = record.get("run") or {}
    row = {
        "preset": cell["preset"],
        "family": model.get("family") or cell["preset"].split("-", 1)[0],
        "resolution": cell["resolution"],
        "batch": cell["batch"],
        "dtype": cell["dtype"],
        "phase": cell["phase"],
        "mode": cell["mode"],
        "device": cell["device"],
        "hardware": claims.hardware(record),
        "setup": claims.setup_label(record),
        "run_id": run.get("id"),
        "suite": run.get("suite"),
        "status": record["status"],
        "error": record.get("error"),
        "params": _number(values.get("params"), model.get("params")),
        "source": model.get("source"),
        "source_kind": claims.source_kind(model.get("source")) or None,
        "macs_fwd_by_group": values.get("macs_fwd_by_group")
        if isinstance(values.get("macs_fwd_by_group"), dict)
        else None,
    }
    for key in NUMERIC_VALUES:
        row[key] = _number(values.get(key))
    row["peak_bytes"], row["peak_kind"] = math.nan, None
    for key, kind in PEAK_KEYS.items():
        if not math.isnan(_number(values.get(key))):
            row["peak_bytes"], row["peak_kind"] = _number(values[key]), kind
            break
    row["fid_key"], fid = claims.fid_value(values)
    row["fid"] = math.nan if fid is None else fid
    return row


def _number(*candidates) -> float:
    """The first candidate that is a finite number, as float; NaN when none is."""
    for value in candidates:
        if results.is_number(value):
            return float(value)
    return math.nan
