"""The knobs of a cluster launch: from `rinbench run` flags, or from a suite's [launcher] table.

    [launcher]                       # in a suite's TOML; flags given on the command line win
    partitions = ["a100", "h100"]    # one run file per partition: a hardware comparison
    account = "my-lab"
    qos = "normal"
    time = 120                       # minutes per job
    gpus_per_job = 1
    cells_per_job = 4
    array_parallelism = 16
    constraint = "a100"              # Slurm's --constraint, to pick a GPU type in one partition
    setup = ["module load cuda/12.4"] # shell lines run before each job

`partition = "a100"` names one partition (its run file is named as a local run's); `partitions` a
list, each with a run file of its own (RUN_ID.<partition>.jsonl). Standard library only: the suite
loader checks the table with `check_table` when it reads a suite.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

LAUNCHERS = ("local", "slurm", "submitit-local")
# submitit-local: the same jobs as on Slurm, through submitit's LocalExecutor (processes on this
# machine); for trying a launch without a cluster, and for the tests.
DEFAULT_CELLS_PER_JOB = 4
DEFAULT_ARRAY_PARALLELISM = 64
DEFAULT_GPUS_PER_JOB = 1
TIME_MARGIN_MIN = 10  # a job's default time limit: its cells' timeouts plus this
PARTITION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SLURM_EXTRA = "pip install 'rinbench[slurm]'"


class LaunchError(ValueError):
    """A launcher setting that cannot be used; one line for the user."""


@dataclass(frozen=True)
class SlurmSettings:
    partitions: tuple[str, ...] = ()  # empty: the cluster's default partition
    per_partition_files: bool = False  # `partitions` (a comparison): a run file per partition
    account: str | None = None
    qos: str | None = None
    time: float | None = None  # minutes per job; None: cells_per_job x the cell timeout + margin
    gpus_per_job: int = DEFAULT_GPUS_PER_JOB
    cpus_per_job: int | None = None
    mem_gb: float | None = None
    constraint: str | None = None
    array_parallelism: int = DEFAULT_ARRAY_PARALLELISM
    cells_per_job: int = DEFAULT_CELLS_PER_JOB
    setup: tuple[str, ...] = ()

    def time_min(self, cell_timeout_s: float) -> float:
        """The job's time limit in minutes: the one asked for, else room for every cell of the
        job to run into its own timeout, plus a margin for the start and the device probe."""
        if self.time is not None:
            return self.time
        return math.ceil(self.cells_per_job * cell_timeout_s / 60) + TIME_MARGIN_MIN


# [launcher] key -> the SlurmSettings field it sets (partition and partitions both set partitions)
TABLE_KEYS = (
    "partition",
    "partitions",
    "account",
    "qos",
    "time",
    "gpus_per_job",
    "cpus_per_job",
    "mem_gb",
    "constraint",
    "array_parallelism",
    "cells_per_job",
    "setup",
)
_TEXT = ("account", "qos", "constraint")
_COUNTS = ("gpus_per_job", "cpus_per_job", "array_parallelism", "cells_per_job")
_MAY_BE_ZERO = ("gpus_per_job",)  # 0: a CPU partition
_AMOUNTS = ("time", "mem_gb")


def check_table(table: object, where: str) -> dict:
    """A suite's [launcher] table, checked key by key; LaunchError naming the problem."""
    if not isinstance(table, dict):
        raise LaunchError(f"{where}: 'launcher' must be a table, written [launcher]")
    for key in table:
        if key not in TABLE_KEYS:
            raise LaunchError(
                f"{where}: unknown [launcher] key {key!r}; valid: {', '.join(TABLE_KEYS)}"
            )
    from_table(table, where)  # the values' checks
    return table


def from_table(table: Mapping, where: str) -> dict:
    """The SlurmSettings fields a [launcher] table (or the flags, in the same shape) sets."""
    values: dict = {}
    if "partition" in table and "partitions" in table:
        raise LaunchError(f"{where}: give 'partition' or 'partitions', not both")
    if "partition" in table:
        values["partitions"] = partition_list([table["partition"]], where, "partition")
    if "partitions" in table:
        given = table["partitions"]
        if isinstance(given, str):
            given = given.split(",")
        if not isinstance(given, list | tuple) or not given:
            raise LaunchError(f"{where}: 'partitions' must be a non-empty list of names")
        values["partitions"] = partition_list(given, where, "partitions")
        values["per_partition_files"] = True
    for key in _TEXT:
        if key in table:
            if not isinstance(table[key], str) or not table[key].strip():
                raise LaunchError(f"{where}: {key!r} must be a non-empty string")
            values[key] = table[key]
    for key in _COUNTS:
        if key in table:
            value = table[key]
            least = 0 if key in _MAY_BE_ZERO else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                kind = "a whole number, 0 or more" if least == 0 else "a positive integer"
                raise LaunchError(f"{where}: {key!r} must be {kind}, got {value!r}")
            values[key] = value
    for key in _AMOUNTS:
        if key in table:
            value = table[key]
            bad = isinstance(value, bool) or not isinstance(value, int | float)
            if bad or not value > 0 or math.isinf(value):
                raise LaunchError(f"{where}: {key!r} must be a positive number, got {value!r}")
            values[key] = value
    if "setup" in table:
        setup = table["setup"]
        if not isinstance(setup, list) or not all(isinstance(line, str) for line in setup):
            raise LaunchError(f"{where}: 'setup' must be a list of shell lines")
        values["setup"] = tuple(setup)
    return values


def partition_list(names, where: str, key: str) -> tuple[str, ...]:
    """Partition names checked for their form (letters, digits, '_.+-'), each once."""
    chosen: list[str] = []
    for name in names:
        if not isinstance(name, str) or not PARTITION_NAME.fullmatch(name.strip()):
            raise LaunchError(
                f"{where}: {key} {name!r} is not a partition name "
                "(letters, digits, '_', '.', '-'; several separated by commas)"
            )
        if name.strip() in chosen:
            raise LaunchError(f"{where}: partition {name.strip()!r} is named twice")
        chosen.append(name.strip())
    return tuple(chosen)


def resolve(table: Mapping, flags: Mapping) -> SlurmSettings:
    """The settings: the suite's [launcher] table, then the flags given (not None) over it."""
    settings = replace(SlurmSettings(), **from_table(table, "[launcher]"))
    given = {key: value for key, value in flags.items() if value is not None}
    if "partition" in given and "partitions" in given:
        raise LaunchError("give --partition or --partitions, not both")
    if "partitions" in given:
        given["partitions"] = given["partitions"].split(",")
    overrides = from_table(given, "the flags")
    if "partition" in given:  # the flag's single partition replaces the table's list
        overrides["per_partition_files"] = False
    return replace(settings, **overrides)


def check_partitions_exist(partitions: tuple[str, ...]) -> None:
    """On a cluster (sinfo on PATH): LaunchError for a partition Slurm does not know, listing those
    it knows. Without sinfo there is nothing to check against."""
    if not partitions or shutil.which("sinfo") is None:
        return
    try:
        listed = subprocess.run(
            ["sinfo", "--noheader", "--format=%R"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return  # sbatch will refuse an unknown partition itself
    unknown = [name for name in partitions if name not in listed]
    if unknown:
        known = ", ".join(sorted(set(listed))) or "none"
        raise LaunchError(f"unknown partition {unknown[0]!r}; this cluster has: {known}")


# --- the `rinbench run` options ---------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def whole_number(text: str) -> int:
    value = positive_int(text) if text.strip() != "0" else 0
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


# flag dest -> [launcher] key (the same names); `setup` (shell lines) lives in the table only
FLAG_FIELDS = tuple(key for key in TABLE_KEYS if key != "setup")


def add_options(parser: argparse.ArgumentParser) -> None:
    """--launcher and the Slurm knobs of `rinbench run` (docs/slurm.md)."""
    group = parser.add_argument_group(
        "cluster launch (docs/slurm.md)",
        "Flags win over the suite's [launcher] table; without either, Slurm's defaults apply.",
    )
    group.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default="local",
        help="where the cells run: local (this process and its workers), slurm (jobs through "
        "submitit), submitit-local (the same jobs as processes on this machine)",
    )
    text = {"metavar": "NAME", "default": None}
    group.add_argument(
        "--partition",
        **text,
        help="the Slurm partition (default: the table's, else the cluster's default partition)",
    )
    group.add_argument(
        "--partitions",
        metavar="A,B",
        default=None,
        help="send the suite to each of these partitions, one run file each in the suite's "
        "folder: a hardware comparison for `rinbench report` (default: one partition)",
    )
    group.add_argument("--account", **text, help="Slurm account to charge (default: yours)")
    group.add_argument("--qos", **text, help="Slurm quality of service (default: the cluster's)")
    group.add_argument(
        "--constraint",
        **text,
        help="Slurm --constraint, e.g. a GPU type's feature (default: none)",
    )
    group.add_argument(
        "--time",
        type=positive_number,
        metavar="MINUTES",
        help="time limit of each job (default: cells per job x the cell timeout "
        f"+ {TIME_MARGIN_MIN} min)",
    )
    counts = (
        ("--gpus-per-job", DEFAULT_GPUS_PER_JOB, "GPUs each job asks for (0 on a CPU partition)"),
        ("--cells-per-job", DEFAULT_CELLS_PER_JOB, "cells each job measures, one after the other"),
        ("--array-parallelism", DEFAULT_ARRAY_PARALLELISM, "jobs of the array running at once"),
    )
    for flag, default, words in counts:
        kind = whole_number if flag == "--gpus-per-job" else positive_int
        group.add_argument(flag, type=kind, metavar="N", help=f"{words} (default: {default})")
    group.add_argument(
        "--cpus-per-job", type=positive_int, metavar="N", help="CPUs per job (default: Slurm's)"
    )
    group.add_argument(
        "--mem-gb",
        type=positive_number,
        metavar="GB",
        help="host memory per job (default: Slurm's)",
    )


def given_flags(args: argparse.Namespace) -> dict:
    """The launcher flags of parsed `rinbench run` arguments, None where not given."""
    return {name: getattr(args, name, None) for name in FLAG_FIELDS}


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(SlurmSettings))
