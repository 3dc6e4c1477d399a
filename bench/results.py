"""The results store: one JSON line per measured cell, append-only, readable without torch.

A run writes `results/<suite>/<run_id>.jsonl`. Every line is a self-contained `bench.record.Record`
(the schema is described there), so files from different runs and machines can be concatenated,
grepped and loaded together. `Writer` appends records; `read` is the one reader, for every command
and for `reports/`. Files written by older rinbench versions load through `Record.from_json`'s
upgrade; records from a newer version raise `SchemaError`.

This module imports only the standard library and bench.record: `reports/` reads results on machines
without torch.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bench.record import Record, SchemaError


class CorruptRecordWarning(UserWarning):
    """A line of a results file that is not a valid record (truncated write, hand edit); skipped."""


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def slug(text: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3': safe in file names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def make_run_id(started: datetime, host: str, device: str, git_hash: str) -> str:
    """'20260101T120000Z-myhost-cuda-3f2c1ab': sorts by start time, says where and what ran."""
    stamp = started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{slug(host)}-{slug(device)}-{slug(git_hash)}"


def parse_line(line: str | bytes) -> Record:
    """The record on one line of a results file; ValueError saying what is wrong with it
    (json.JSONDecodeError and UnicodeDecodeError are ValueErrors), SchemaError for a newer schema."""
    return Record.from_json(json.loads(line))


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
            parse_line(data[start:])
        except SchemaError:
            self._file.write("\n")  # whole, from a newer rinbench: not ours to drop
        except ValueError:
            os.truncate(self.path, start)
        else:
            self._file.write("\n")
        self._sync()

    def append(self, record: Record) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.path} is not open for writing")
        if not isinstance(record, Record):
            raise TypeError(
                f"Writer.append takes a bench.record.Record, got {type(record).__name__}"
            )
        self._file.write(json.dumps(record.to_json(), allow_nan=True) + "\n")
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


def read(
    paths: str | os.PathLike | Iterable[str | os.PathLike], *, strict: bool = False
) -> list[Record]:
    """Every record in the given files and folders (searched recursively for *.jsonl), in file
    order, upgraded to the current schema.

    A line that is not a valid record (e.g. the truncated last line of a killed run) raises
    ValueError naming file and line when `strict` (a regression gate must not pass because part of
    its input went unread); otherwise it is skipped with a CorruptRecordWarning naming them.
    SchemaError (records from a newer rinbench, or an old schema with no upgrade) always raises;
    FileNotFoundError for a path that does not exist."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    records: list[Record] = []
    for path in result_files(paths):
        records.extend(_read_file(path, strict))
    return records


def _read_file(path: Path, strict: bool) -> list[Record]:
    return _parse_lines(path, _read_bytes(path).splitlines(), strict)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise OSError(f"cannot read {path}: {err.strerror or err}") from None


# A lenient read names this many bad lines of a file, then counts the rest in one warning: a file
# that is not results at all (a README passed by mistake) would otherwise warn once per line.
NAMED_BAD_LINES = 3


def _parse_lines(path: Path, lines: list[bytes], strict: bool, first: int = 1) -> list[Record]:
    """The records on `lines` of `path` (numbered from `first`), as `read` describes."""
    records = []
    bad_lines = 0
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            # Strict refuses a line that is not UTF-8; lenient reads what it can of it.
            records.append(parse_line(line.decode("utf-8", "strict" if strict else "replace")))
        except SchemaError as err:
            raise SchemaError(f"{path}:{number}: {err}") from None
        except ValueError as err:  # bad UTF-8, bad JSON, or JSON that is not a record
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            if strict:
                raise ValueError(
                    f"{path}:{number}: not a rinbench result record ({reason})"
                ) from None
            bad_lines += 1
            if bad_lines <= NAMED_BAD_LINES:
                warnings.warn(
                    f"{path}:{number}: skipped a line that is not a valid record ({reason})",
                    CorruptRecordWarning,
                    stacklevel=4,
                )
    if bad_lines > NAMED_BAD_LINES:
        warnings.warn(
            f"{path}: skipped {bad_lines - NAMED_BAD_LINES} more lines that are not valid records "
            f"({bad_lines} in all)",
            CorruptRecordWarning,
            stacklevel=4,
        )
    return records


class NotARunFile(ValueError):
    """A file a run was asked to append to (`--resume RUN_FILE`) that `rinbench run` did not write."""


def read_run_file(path: Path) -> tuple[list[Record], tuple[str, ...]]:
    """The records of the run file a resumed run appends to, and the warning about a cut-off last
    line (a process killed mid-write; Writer.open drops it). NotARunFile unless every other line
    is a record and all of them are of one run: appending to anything else (a notes file, a
    baseline gathered from several runs) would mix a run into a file that is not one."""
    data = _read_bytes(path)
    whole, tail = data[: data.rfind(b"\n") + 1].splitlines(), data[data.rfind(b"\n") + 1 :]
    try:
        records = _parse_lines(path, whole, strict=True)
    except SchemaError:
        raise
    except ValueError as err:
        raise NotARunFile(f"{err}; not a run file that `rinbench run` wrote") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorruptRecordWarning)
        records += _parse_lines(path, [tail], strict=False, first=len(whole) + 1)
    runs = sorted({record.run.id for record in records})
    if len(runs) > 1:
        raise NotARunFile(
            f"{path} holds records of {len(runs)} runs ({runs[0]}, {runs[1]}, ...): not the run "
            "file of one run"
        )
    return records, tuple(str(warning.message) for warning in caught)


def latest_per_cell(records: Iterable[Record]) -> dict[str, Record]:
    """cell id -> the last record for it, in the order given (a retried cell's newest attempt)."""
    return {record.cell.id: record for record in records}


def device_model(record: Record) -> str | None:
    """What a timing depends on: the GPU's name, or "CPU <model> (<n> cpus)"; None if unrecorded."""
    return env_device_model(record.cell.device, record.env)


def env_device_model(device: str, env: Mapping) -> str | None:
    """device_model of a cell on `device` ("cpu", "cuda") measured in the environment `env` (a
    record's env, before there is a record)."""
    if device == "cuda":
        gpu = env.get("gpu") or {}
        return gpu.get("name") or gpu.get("nvml_name")
    model = env.get("cpu_model")
    if not model:
        return None
    count = env.get("cpu_count")
    return f"CPU {model} ({count} cpus)" if count else f"CPU {model}"
