"""The one record type: what measuring a cell gives (`Outcome`) and what the store keeps (`Record`).

A worker returns an `Outcome` (status, values, error, model, details); the runner adds the run, the
cell, its settings and the environment and appends a `Record` to the run's JSON Lines file. Every
record is checked in one place, `Record.__post_init__`, whether it is made by the runner or read
from disk; `Record.from_json` first upgrades files written by older rinbench versions.

Schema 2 (this one):

    {"schema": 2,
     "run": {"id": "20260101T120000Z-myhost-cuda-3f2c1ab", "suite": "paper", "started": "..."},
     "cell": {"preset", "resolution", "batch", "dtype", "phase", "mode", "device", "id"},
     "settings": {...},                 # how the cell was measured (the suite's [settings])
     "model": {"family", "params", "config", "config_sha",
               "source": {"kind", "where", "note"}} or null (the cell's process died first),
     "env": {...},                      # bench.measure.hardware.environment()
     "status": "ok" | "oom" | "error" | "timeout" | "unsupported",
     "values": {"macs_fwd": ..., ...},  # measured numbers (bench.metrics declares the keys) and
                                        # their per-group / per-op breakdowns
     "details": {...},                  # diagnostics that are not measurements: warnings, numerics
                                        # flags, compile settings, reasons, a traceback, where
                                        # the cell's seconds went (CELL_TIME_KEY)
     "error": null or a one-paragraph reason}

Schema 1 (rinbench 0.1) kept diagnostics among the values and the source as one "kind: detail"
string; `upgrade_v1` moves them. Plain dataclasses rather than a validation library: the checks are
few, and the store stays importable with the standard library alone (reports/ runs without torch).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from bench.cell import Cell
from bench.family import Source

SCHEMA_VERSION = 2

STATUSES = ("ok", "oom", "error", "timeout", "unsupported")
# What a measure function may return; "timeout" is only the runner's to give.
MEASURE_STATUSES = ("ok", "oom", "error", "unsupported")
# Statuses that say the harness, not the measurement, failed; `--retry-failed` measures them again.
# "oom" and "unsupported" are results (a paper table shows "OOM"), so they are never retried.
FAILED_STATUSES = ("error", "timeout")
# The details key that says where a cell's seconds went: the harness's own cost, not a measurement.
# Parts the measurement timed (bench.measure.cell.spent): count (the model's description and its
# FLOPs on meta), peak, build, first_call (compiling and autotuning included), windows (warm-up,
# timed calls, memory and energy), max_batch, profile (a profile's warm-up, steps, analysis and
# trace, where a pair's worker took it), and measure (all of them, after torch's import); the
# parent adds "wall" (the cell's process from its start to its result; from "go" for a worker held
# ahead of its turn, whose start before it is "ahead", and whose counts on meta then the
# measurement names "count_ahead") or, for the two sides of a pair, "pair_wall" (both processes,
# all rounds; a profile a side's worker took after them has a "wall" of its own, from the ask to
# the answer); an in-process count gets "wall" too.
CELL_TIME_KEY = "cell_time_s"
# The details key of a profile cell that the worker of its paired timed twin took after the rounds
# (bench.paired): {"timed": that cell's id, "with": its partner's id}.
PROFILED_IN_PAIR_KEY = "profiled_in_pair"
# The details key of a profile cell whose pair's worker ran out of memory taking it (beside what
# that worker held after its windows, and, for the first side, its partner's worker still waiting to
# take its own), so that a process of its own measured it: a list of such attempts, in order (more
# than one where a resumed run played the pair again), each {"status": "oom", "error", "machine",
# "timed", "with", CELL_TIME_KEY: its seconds, which bench.timespent counts beside the record's}.
PROFILE_RETRIED_ALONE_KEY = "profile_retried_alone"


class SchemaError(ValueError):
    """Records written by a newer rinbench than this one can read, or by one with no upgrade."""


def is_number(value: object) -> bool:
    """A finite int or float (JSON gives NaN, infinities and booleans too)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ModelInfo:
    family: str
    params: int
    config: dict
    config_sha: str
    source: Source

    @classmethod
    def from_json(cls, data: dict) -> ModelInfo:
        source = data.get("source") or {}
        return cls(
            family=data["family"],
            params=data["params"],
            config=data.get("config") or {},
            config_sha=data.get("config_sha", ""),
            source=Source(**source),
        )


@dataclass(frozen=True)
class Outcome:
    """What measuring one cell gives, before the runner files it."""

    status: str
    values: dict = field(default_factory=dict)
    error: str | None = None
    model: ModelInfo | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; valid: {', '.join(STATUSES)}")
        if not isinstance(self.values, dict) or not isinstance(self.details, dict):
            raise ValueError("'values' and 'details' must be JSON objects")
        if self.status != "ok" and not self.error:
            raise ValueError(f"status {self.status!r} needs a reason in 'error'")
        if self.error is not None and not isinstance(self.error, str):
            raise ValueError(f"'error' must be text or null, got {type(self.error).__name__}")
        if self.model is not None and not isinstance(self.model, ModelInfo):
            raise ValueError(
                f"'model' must be a ModelInfo or None, got {type(self.model).__name__}"
            )

    @classmethod
    def from_json(cls, data: Any) -> Outcome:
        """An outcome from its JSON object (what a worker writes, or a measure function returns);
        ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"an outcome is a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"status", "values", "error", "model", "details"}
        if unknown:
            raise ValueError(f"unknown outcome keys {', '.join(sorted(unknown))}")
        model = data.get("model")
        try:
            model = None if model is None else ModelInfo.from_json(model)
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"'model' is not a model's description ({err!r})") from None
        return cls(
            status=data.get("status"),
            values=data.get("values", {}),
            error=data.get("error"),
            model=model,
            details=data.get("details", {}),
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def with_cell_time(self, **parts: float) -> Outcome:
        """This outcome with `parts` (seconds) set in details[CELL_TIME_KEY], beside its others."""
        spent = self.details.get(CELL_TIME_KEY)
        spent = (spent if isinstance(spent, dict) else {}) | parts
        return dataclasses.replace(self, details=self.details | {CELL_TIME_KEY: spent})


@dataclass(frozen=True)
class RunInfo:
    id: str
    suite: str | None = None
    started: str | None = None


CELL_FIELDS = tuple(field.name for field in dataclasses.fields(Cell))
CELL_TEXT_FIELDS = ("preset", "dtype", "phase", "mode", "device")


@dataclass(frozen=True)
class Record:
    run: RunInfo
    cell: Cell
    settings: dict
    model: ModelInfo | None
    env: dict
    status: str
    values: dict
    error: str | None = None
    details: dict = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def __post_init__(self):
        # The one validation of a record: Outcome checks status, values and error.
        Outcome(self.status, self.values, self.error, self.model, self.details)
        if not isinstance(self.env, dict) or not isinstance(self.settings, dict):
            raise ValueError("'env' and 'settings' must be JSON objects")
        if not isinstance(self.run.id, str) or not self.run.id:
            raise ValueError("'run' lacks its 'id'")
        gpu = self.env.get("gpu")
        if gpu is not None and not isinstance(gpu, dict):
            raise ValueError("'env.gpu' must be a JSON object or null")

    @classmethod
    def from_json(cls, data: Any) -> Record:
        """A record from its JSON object, upgraded from older schemas; ValueError saying what is
        wrong, SchemaError for a schema this rinbench cannot read."""
        data = upgrade(data)
        try:
            fields = {name: data["cell"][name] for name in CELL_FIELDS}  # KeyError names a lack
            if not all(isinstance(fields[name], str) for name in CELL_TEXT_FIELDS):
                raise ValueError(f"cell fields {', '.join(CELL_TEXT_FIELDS)} must be strings")
            cell = Cell(**fields)
            if data["cell"].get("id", cell.id) != cell.id:
                raise ValueError(f"cell id {data['cell']['id']!r} does not match its fields")
            model = data["model"]
            return cls(
                run=RunInfo(**data["run"]),
                cell=cell,
                settings=data.get("settings") or {},
                model=None if model is None else ModelInfo.from_json(model),
                env=data["env"],
                status=data["status"],
                values=data["values"],
                error=data.get("error"),
                details=data.get("details") or {},
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"not a rinbench record: {type(err).__name__}: {err}") from None

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["cell"] = self.cell.as_dict()
        return {"schema": data.pop("schema"), **data}


# --- upgrades ----------------------------------------------------------------------------------

# Schema-1 value keys that are diagnostics, not measurements (schema 2 keeps them in "details").
V1_DETAIL_KEYS = (
    "warnings",
    "numerics",
    "traceback",
    "flop_counter",
    "compile_backend",
    "compile_mode",
    "peak_rss_scope",
    "sampler",
)


def is_diagnostic(key: str, value: object) -> bool:
    """Whether a measured key belongs in a record's details rather than its values: the
    V1_DETAIL_KEYS, every *_reason, and any text. One rule for the measurement and the upgrade."""
    return key in V1_DETAIL_KEYS or key.endswith("_reason") or isinstance(value, str)


def split_diagnostics(measured: dict) -> tuple[dict, dict]:
    """(values, details) of a dict of measured keys, by `is_diagnostic`."""
    values, details = {}, {}
    for key, value in measured.items():
        (details if is_diagnostic(key, value) else values)[key] = value
    return values, details


def upgrade_v1(data: dict) -> dict:
    """Schema 1 -> 2: diagnostics (`is_diagnostic`) move from values to details; the source
    string becomes {"kind", "where", "note"}."""
    values, details = split_diagnostics(data.get("values") or {})
    model = data.get("model")
    if isinstance(model, dict) and isinstance(model.get("source"), str):
        model = model | {"source": dataclasses.asdict(Source.from_text(model["source"]))}
    return data | {"schema": 2, "values": values, "details": details, "model": model}


UPGRADES = {1: upgrade_v1}


def upgrade(data: Any) -> dict:
    """The JSON object of a record in the current schema."""
    if not isinstance(data, dict):
        raise ValueError(f"a record is a JSON object, got {type(data).__name__}")
    version = data.get("schema")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"'schema' must be an integer version, got {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"results written with schema version {version}, but this rinbench reads versions up "
            f"to {SCHEMA_VERSION}; upgrade rinbench to read them"
        )
    while version < SCHEMA_VERSION:
        if version not in UPGRADES:
            raise SchemaError(
                f"results written with schema version {version}; this rinbench reads versions "
                f"{min(UPGRADES)} to {SCHEMA_VERSION}: measure the cells again"
            )
        data = UPGRADES[version](data)
        version = data["schema"]
    return data
