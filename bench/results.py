"""The results store: one JSON line per measured cell, append-only, readable without torch.

A run writes `results/<suite>/<run_id>.jsonl`. Every line is a self-contained record, so files from
different runs and machines can be concatenated, grepped and loaded together:

    {"schema": 1,
     "run": {"id": "20260101T120000Z-myhost-cuda-3f2c1ab", "suite": "paper", "started": "2026-01-01T12:00:00Z"},
     "cell": {"preset": ..., "resolution": ..., "batch": ..., "dtype": ..., "phase": ..., "mode": ...,
              "device": ..., "id": ...},
     "settings": {"warmup": ..., "min_repeats": ..., ...},   # how the cell was measured
     "model": {"family", "params", "config", "config_sha", "source"} or null when the cell's process
              died before reporting (timeout, crash),
     "env": {...},                                            # bench.measure.hardware.environment()
     "status": "ok" | "oom" | "error" | "timeout" | "unsupported",
     "values": {"macs_fwd": ..., "latency_ms_median": ..., ...},   # units in the key names
     "error": null or a one-paragraph reason}

This module imports only the standard library: `reports/` reads results on machines without torch.
The schema changes only with a bump of SCHEMA_VERSION and a reader for the old version.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

SCHEMA_VERSION = 1

STATUSES = ("ok", "oom", "error", "timeout", "unsupported")
# Statuses that say the harness, not the measurement, failed; `--retry-failed` measures them again.
# "oom" and "unsupported" are results (a paper table shows "OOM"), so they are never retried.
FAILED_STATUSES = ("error", "timeout")
RECORD_KEYS = ("schema", "run", "cell", "model", "env", "status", "values", "error")


class CorruptRecordWarning(UserWarning):
    """A line of a results file that is not a valid record (truncated write, hand edit); skipped."""


class SchemaError(ValueError):
    """Records written by a newer rinbench than this one can read."""


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def slug(text: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3': safe in file names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def make_run_id(started: datetime, host: str, device: str, git_hash: str) -> str:
    """'20260101T120000Z-myhost-cuda-3f2c1ab': sorts by start time, says where and what ran."""
    stamp = started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{slug(host)}-{slug(device)}-{slug(git_hash)}"


def make_record(
    *,
    run: dict,
    cell: dict,
    settings: dict,
    model: dict | None,
    env: dict,
    status: str,
    values: dict,
    error: str | None,
) -> dict:
    record = {
        "schema": SCHEMA_VERSION,
        "run": run,
        "cell": cell,
        "settings": settings,
        "model": model,
        "env": env,
        "status": status,
        "values": values,
        "error": error,
    }
    validate(record)
    return record


# What every reader indexes in a record's cell (bench.cell.Cell.as_dict()).
CELL_FIELDS = {
    "id": str,
    "preset": str,
    "resolution": int,
    "batch": int,
    "dtype": str,
    "phase": str,
    "mode": str,
    "device": str,
}


def validate(record: object) -> None:
    """Raise ValueError saying what is wrong with `record`; SchemaError if it is from a newer schema."""
    if not isinstance(record, dict):
        raise ValueError(f"a record is a JSON object, got {type(record).__name__}")
    schema = record.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise ValueError(f"'schema' must be an integer version, got {schema!r}")
    if schema > SCHEMA_VERSION:
        raise SchemaError(
            f"results written with schema version {schema}, but this rinbench reads versions up to "
            f"{SCHEMA_VERSION}; upgrade rinbench to read them"
        )
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise ValueError(f"record lacks {', '.join(missing)}")
    if record["status"] not in STATUSES:
        raise ValueError(f"unknown status {record['status']!r}; valid: {', '.join(STATUSES)}")
    for key in ("run", "cell", "env", "values"):
        if not isinstance(record[key], dict):
            raise ValueError(f"'{key}' must be a JSON object")
    cell = record["cell"]
    for key, kind in CELL_FIELDS.items():
        value = cell.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"'cell.{key}' must be a {kind.__name__}, got {value!r}")
    if record["model"] is not None and not isinstance(record["model"], dict):
        raise ValueError("'model' must be a JSON object or null")
    gpu = record["env"].get("gpu")
    if gpu is not None and not isinstance(gpu, dict):
        raise ValueError("'env.gpu' must be a JSON object or null")
    if not isinstance(record["run"].get("id"), str):
        raise ValueError("'run' lacks its 'id'")


@dataclass
class Writer:
    """Appends records to one run file; every record is flushed and fsynced before `append` returns,
    so a crash or Ctrl-C loses at most the cell being measured, never a finished one."""

    path: Path
    _file: IO[str] | None = field(default=None, repr=False)

    def __enter__(self) -> Writer:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not self.path.exists()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        if not new_file:
            self._mend_tail()
        self._sync()
        if new_file:
            _fsync_dir(self.path.parent)

    def _mend_tail(self) -> None:
        """A process killed mid-write leaves a last line without its newline. A cut-off record is
        dropped (its cell was never recorded, so `--resume` measures it again); a whole one gets its
        newline. Either way the next record starts on a line of its own and the file stays valid."""
        with open(self.path, "rb") as existing:
            data = existing.read()
        if not data or data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        try:
            validate(json.loads(data[start:]))
        except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too
            os.truncate(self.path, start)
        else:
            self._file.write("\n")
        self._sync()

    def append(self, record: dict) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.path} is not open for writing")
        validate(record)
        self._file.write(json.dumps(record, sort_keys=False, allow_nan=True) + "\n")
        self._sync()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes the new file's directory entry durable too; not possible on every platform.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def result_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The .jsonl files named by `paths`: files as given, folders searched recursively, sorted."""
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.jsonl")))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no results file or folder at {path}")
    return files


def read(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[dict]:
    """Every valid record in the given files and folders (searched recursively for *.jsonl), in file
    order. A line that is not a valid record (e.g. the truncated last line of a killed run) is
    skipped with a CorruptRecordWarning naming file and line. Raises SchemaError for records from
    a newer schema and FileNotFoundError for a path that does not exist."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    records: list[dict] = []
    for path in result_files(paths):
        records.extend(_read_file(path))
    return records


def _read_file(path: Path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                validate(record)
            except SchemaError as err:
                raise SchemaError(f"{path}:{number}: {err}") from None
            except ValueError as err:  # json.JSONDecodeError is a ValueError
                warnings.warn(
                    f"{path}:{number}: skipped a line that is not a valid record ({err})",
                    CorruptRecordWarning,
                    stacklevel=3,
                )
                continue
            records.append(record)
    return records


def latest_per_cell(records: Iterable[dict]) -> dict[str, dict]:
    """cell id -> the last record for it, in the order given (a retried cell's newest attempt)."""
    latest: dict[str, dict] = {}
    for record in records:
        latest[record["cell"]["id"]] = record
    return latest


def device_model(record: dict) -> str | None:
    """What a timing depends on: the GPU's name, or "CPU <model> (<n> cpus)"; None if unrecorded."""
    env = record.get("env") or {}
    if str(record["cell"].get("device", "")).startswith("cuda"):
        gpu = env.get("gpu") or {}
        return gpu.get("name") or gpu.get("nvml_name")
    model = env.get("cpu_model")
    if not model:
        return None
    count = env.get("cpu_count")
    return f"CPU {model} ({count} cpus)" if count else f"CPU {model}"


def is_number(value) -> bool:
    """A finite int or float from a record's values (JSON gives NaN, infinities and booleans too)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
