"""The GPU check's one-page summary: what ran, what it measured against its targets, what was skipped.

    python benchmarks/gpu/summary.py CHECK_DIR [--beside RESULTS ...] > summary.md

CHECK_DIR is the folder benchmarks/gpu/check.sh works in: steps.tsv (one line per step: name,
status, seconds, exit code, time limit, call; steps-call1.tsv holds the first call's where a second
resumed it), calls.tsv (call, records the suite added in it), results/ (the gpu-check run), levers/
(the lever suites' runs: levers/norms, levers/levers, levers/memory), bare_loop.json, peak.json,
skipped.txt and skipped-<lever suite>.txt. Prints Markdown:
the machine, the steps, the throughput targets (MFU = model FLOPs per second over a peak: the matmul
peak the run measured, the fixed yardstick the targets are set against, and the data sheet's dense
peak (bench.datasheet) that published MFUs divide by; a train step's FLOPs are the forward's and
backward's, counted), each target cell at its best (plain or a lever twin, whichever is
fastest), every timed cell with both MFUs, failures with their reasons, the profiles,
each lever cell beside its plain twin (and against the official code's peak where that is
known), the hardware comparison of this run's cells with the runs of other machines that
`--beside` names (check.sh names the committed ones: the hardware suite's CPU runs and earlier GPU
checks), where each run's seconds went (bench.timespent: start-up, counting, building, first calls,
windows; the slowest cells), the warm-up calls against their windows' medians (bench.timespent.warm_up:
whether a pair's later windows need as many), the harness-against-bare-loop check, the matmul peak timed five ways (with the clocks
NVML read) and the cells the time budget left out.

The levers' records are read apart from the gpu-check run's: a lever cell has the id of its plain
twin (a lever is a setting, not part of what a cell computes), and records are keyed by cell id.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import datasheet  # noqa: E402
from bench.measure.cell import LEVERS, Settings  # noqa: E402
from bench.results import device_model, latest_per_cell, read  # noqa: E402
from bench.timespent import time_spent, warm_up  # noqa: E402

GIB = 2**30
# (cell id on a GPU, MFU target): issue 23's targets for this check (BENCHMARKS.md says why).
TARGETS = {
    "dit-xl-2.r256.b64.bf16.train_step.eager.cuda": None,
    "dit-xl-2.r256.b64.bf16.train_step.compile.cuda": 0.50,
    "adm-in256.r256.b16.bf16.train_step.eager.cuda": 0.35,
    "adm-in256.r256.b16.bf16.train_step.compile.cuda": 0.35,
    "rin-in256.r256.b32.bf16.train_step.eager.cuda": 0.45,
    "rin-in256.r256.b32.bf16.train_step.compile.cuda": 0.45,
    "rin-k600.r64.b32.bf16.forward.eager.cuda": 0.35,
}
TIMED = ("forward", "train_step", "sample")
# The targets are set against a fixed yardstick: the dense bf16 rate of an 8192^3 matmul measured on
# this project's H200 machines (769-798 TFLOP/s, random data). The run's own peak probe can land
# elsewhere (667 TFLOP/s in the first check); both MFUs are shown.
REFERENCE_PEAK_TFLOPS = 790.0
# The lever suites (bench/suites/<name>.toml), each read from levers/<name>, with its section title.
LEVER_SECTIONS = {
    "norms": "Norms in bf16 against the plain cells",
    "levers": "Levers against the plain cells",
    "memory": "Memory: activation checkpointing against the plain cells",
}
# Peak memory the official code reached in the same cell (GiB): guided-diffusion's ADM-256 b16
# train step on an H100, in its fp16 path (shared research: gpu-anchors.md).
OFFICIAL_PEAK_GIB = {"adm-in256.r256.b16.bf16.train_step.eager.cuda": 64.5}
# The parts of a cell's time (bench.timespent.PARTS) as the table heads them.
TIME_PARTS = {
    "start_up": "start-up",
    "count": "count",
    "build": "build",
    "first_call": "first call",
    "quiet_wait": "wait",
    "windows": "windows",
    "other": "other",
    "unaccounted": "killed or dead",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="summary.py", description="The GPU check's summary.")
    parser.add_argument("folder", type=Path, metavar="CHECK_DIR")
    parser.add_argument(
        "--beside",
        type=Path,
        action="append",
        default=[],
        metavar="RESULTS",
        help="results of other machines for the hardware comparison (repeatable)",
    )
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"no folder {args.folder}")
    folder = args.folder
    run = _read(folder / "results")  # every record, for the hardware comparison's own selection
    records = latest_per_cell(run)
    lines = ["# GPU check", ""]
    lines += _machine(records)
    lines += _steps(folder)
    lines += _calls(folder / "calls.tsv")
    lever_runs = {suite: _read(folder / "levers" / suite) for suite in LEVER_SECTIONS}
    levered = {suite: latest_per_cell(lever_runs[suite]) for suite in LEVER_SECTIONS}
    lines += _targets(records)
    lines += _best_with_levers(records, levered)
    lines += _timed(records)
    lines += _profiles(records)
    for suite in LEVER_SECTIONS:
        lines += _levers(suite, folder, records, levered[suite])
    lines += _hardware(run, args.beside)
    lines += _time_spent(run, lever_runs, folder / "calls.tsv")
    lines += _bare_loop(folder / "bare_loop.json")
    lines += _peak(folder / "peak.json")
    lines += _skipped(folder / "skipped.txt")
    print("\n".join(lines))
    return 0


def _read(path: Path) -> list:
    """Every record in the run files under `path`, in path order (none when it is missing)."""
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else []
    return read(files) if files else []


def _machine(records: dict) -> list[str]:
    """The machine the records came from, and a warning when they came from several: the second
    call of a check may land on a fresh machine of another kind (an H100 after an H200). Each
    record names its own, the tables keep them apart, and a pair cut between the calls is timed
    again (bench.paired); the results belong under one folder per machine."""
    if not records:
        return ["No records.", ""]
    names = [device_model(record) or record.cell.device for record in records.values()]
    env = next(iter(records.values())).env
    lines = [
        f"Machine: {names[0]}; torch {env.get('torch')}, Python {env.get('python')}; "
        f"commit {env.get('git_commit')}.",
        "",
    ]
    counts = {name: names.count(name) for name in dict.fromkeys(names)}
    if len(counts) > 1:
        each = ", ".join(
            f"{name} ({count} cell{'s' * (count != 1)})" for name, count in counts.items()
        )
        lines += [f"**The records come from {len(counts)} machines**: {each}.", ""]
    return lines


def _steps(folder: Path) -> list[str]:
    """Every step of every call: steps-call1.tsv is the first call's when a second resumed it."""
    lines = [
        "## Steps",
        "",
        "| call | step | status | seconds | exit | limit s |",
        "|---|---|---|---|---|---|",
    ]
    for path in (folder / "steps-call1.tsv", folder / "steps.tsv"):
        if path.is_file():
            for row in path.read_text(encoding="utf-8").splitlines():
                fields = row.split("\t")
                call = fields[5] if len(fields) > 5 else "1"  # a one-call check's older steps
                lines.append("| " + " | ".join([call, *fields[:5]]) + " |")
    return lines + [""]


def _calls(path: Path) -> list[str]:
    """How many cells each call measured (calls.tsv: call, records it added)."""
    if not path.is_file():
        return []
    rows = [row.split("\t") for row in path.read_text(encoding="utf-8").splitlines() if row]
    lines = ["## Calls", ""]
    lines += [f"- call {call}: {added} records of the suite" for call, added in rows]
    return lines + [""]


def _targets(records: dict) -> list[str]:
    lines = ["## Targets", ""]
    lines.append(
        f"MFU over the run's measured matmul peak, over the {REFERENCE_PEAK_TFLOPS:g} TFLOP/s "
        "yardstick the targets are set against, and over the data sheet's dense peak for the "
        "cell's dtype (989.4 TFLOP/s bf16 on an H100 SXM or H200: how published MFUs count). "
        "Met is judged on the yardstick and, beside it, on the data sheet."
    )
    lines += [
        "",
        "| cell | status | img/s | MFU (run's peak) | MFU (yardstick) | MFU (data sheet) | target "
        "| met (yardstick) | met (data sheet) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cell_id, target in TARGETS.items():
        record = records.get(cell_id)
        if record is None:
            lines.append(f"| {cell_id} | not run | | | | | {_pct(target)} | | |")
            continue
        yardstick, sheet = _yardstick_mfu(record), datasheet.mfu_of(record)
        lines.append(
            f"| {cell_id} | {record.status} | {_num(record.values.get('images_per_s'))} | "
            f"{_pct(record.values.get('mfu'))} | {_pct(yardstick)} | {_pct(sheet)} | "
            f"{_pct(target)} | {_met(yardstick, target)} | {_met(sheet, target)} |"
        )
    return lines + [""]


def _yardstick_mfu(record) -> float | None:
    """The record's MFU over the REFERENCE_PEAK_TFLOPS yardstick (None without a throughput)."""
    achieved = record.values.get("achieved_tflops")
    return None if achieved is None else achieved / REFERENCE_PEAK_TFLOPS


def _best_with_levers(plain: dict, levered: dict[str, dict]) -> list[str]:
    """Each target cell at its fastest: the plain record or one of its lever twins (a family's
    best speed is what the targets ask for), with the levers it ran with."""
    lines = ["## Targets at each cell's best, levers included", ""]
    lines += [
        "| cell | best run | MFU (yardstick) | MFU (data sheet) | target | met (yardstick) "
        "| met (data sheet) |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell_id, target in TARGETS.items():
        runs = [("plain", plain.get(cell_id))]
        runs += [(suite, records.get(cell_id)) for suite, records in levered.items()]
        timed = [
            (name, r)
            for name, r in runs
            if r is not None and r.status == "ok" and _yardstick_mfu(r) is not None
        ]
        if not timed:
            lines.append(f"| {cell_id} | none timed | | | {_pct(target)} | | |")
            continue
        name, best = max(timed, key=lambda run: _yardstick_mfu(run[1]))
        label = name if name == "plain" else f"{name}: {', '.join(_levers_on(best))}"
        yardstick, sheet = _yardstick_mfu(best), datasheet.mfu_of(best)
        lines.append(
            f"| {cell_id} | {label} | {_pct(yardstick)} | {_pct(sheet)} | {_pct(target)} | "
            f"{_met(yardstick, target)} | {_met(sheet, target)} |"
        )
    return lines + [""]


def _met(mfu: float | None, target: float | None) -> str:
    if mfu is None or target is None:
        return ""
    return "yes" if mfu >= target else "no"


def _timed(records: dict) -> list[str]:
    lines = ["## Timed cells", ""]
    lines.append(
        "| cell | status | img/s | ms median | rel IQR | MFU (measured peak) | MFU (data sheet) "
        "| peak GiB | J/img | noisy |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    failures = []
    for cell_id, record in records.items():
        if record.cell.phase not in TIMED:
            if record.status != "ok":
                failures.append((cell_id, record.status, record.error))
            continue
        v = record.values
        peak = v.get("peak_alloc_bytes")
        lines.append(
            f"| {cell_id} | {record.status} | {_num(v.get('images_per_s'))} | "
            f"{_num(v.get('latency_ms_median'))} | {_pct(v.get('latency_rel_iqr'))} | "
            f"{_pct(v.get('mfu'))} | {_pct(datasheet.mfu_of(record))} | "
            f"{_num(peak / GIB if peak else None)} | "
            f"{_num(v.get('joules_per_image'))} | {'yes' if v.get('latency_noisy') else ''} |"
        )
        if record.status != "ok":
            failures.append((cell_id, record.status, record.error))
    lines.append("")
    if failures:
        lines += ["## Failures", ""]
        lines += [f"- {cell_id}: {status}: {error}" for cell_id, status, error in failures]
        lines.append("")
    return lines


def _profiles(records: dict) -> list[str]:
    """Per profiled step: each FLOP group's share of the time against its share of the MACs."""
    lines = ["## Where the time goes (profiles)", ""]
    for cell_id, record in records.items():
        if not record.cell.phase.startswith("profile:"):
            continue
        if record.status != "ok":
            lines.append(f"- {cell_id}: {record.status}: {record.error}")
            continue
        v = record.values
        time_share, mac_share = v.get("time_share_by_group", {}), v.get("mac_share_by_group", {})
        mfu = v.get("mfu_by_group", {})
        parts = []
        for group, share in sorted(time_share.items(), key=lambda kv: -kv[1]):
            part = f"{group} {_pct(share)} of the time"
            if mac_share.get(group) is not None:
                part += (
                    f" for {_pct(mac_share[group])} of the MACs "
                    f"(MFU {_pct(mfu.get(group))} over the measured peak)"
                )
            parts.append(part)
        lines.append(
            f"- {cell_id}: {_num(v.get('unprofiled_ms_median'))} ms a step unprofiled "
            f"(profiler slowdown {_num(v.get('profiler_slowdown'))}x): " + "; ".join(parts)
        )
    return lines + [""]


def _levers(suite: str, folder: Path, plain: dict, levered: dict) -> list[str]:
    """Each cell of a lever suite (`levered`: its latest record per cell) beside its plain twin
    (the gpu-check record of the same cell id): the medians and the speed factor (plain over
    lever; `rinbench compare` gives its interval), both MFUs and both peaks; then the official
    code's peak where it is known."""
    skipped = folder / f"skipped-{suite}.txt"
    lines = [f"## {LEVER_SECTIONS[suite]} (bench/suites/{suite}.toml)", ""]
    left_out = skipped.read_text(encoding="utf-8").split() if skipped.is_file() else []
    if not levered and not left_out:
        return lines + ["Not run.", ""]
    lines += [
        "| cell | levers | status | ms plain | ms lever | plain / lever | MFU plain | MFU lever "
        "| peak GiB plain | peak GiB lever |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell_id, record in levered.items():
        twin = plain.get(cell_id)
        lever_ms = record.values.get("latency_ms_median") if record.status == "ok" else None
        plain_ms = twin.values.get("latency_ms_median") if twin and twin.status == "ok" else None
        factor = plain_ms / lever_ms if plain_ms and lever_ms else None
        status = record.status if twin else f"{record.status} (no plain twin in this check)"
        if record.status != "ok":
            status += f": {record.error}"
        lever_peak = record.values.get("peak_alloc_bytes")
        plain_peak = twin.values.get("peak_alloc_bytes") if twin else None
        lines.append(
            f"| {cell_id} | {', '.join(_levers_on(record))} | {status} | {_num(plain_ms)} | "
            f"{_num(lever_ms)} | "
            f"{_num(factor)} | {_pct(twin.values.get('mfu') if twin else None)} | "
            f"{_pct(record.values.get('mfu'))} | "
            f"{_num(plain_peak / GIB if plain_peak else None)} | "
            f"{_num(lever_peak / GIB if lever_peak else None)} |"
        )
    lines.append("")
    lines += _against_official(levered, plain)
    if left_out:
        lines += ["Lever cells the time budget left out:", ""]
        lines += [f"- {cell}" for cell in left_out]
        lines.append("")
    return lines


def _levers_on(record) -> list[str]:
    """The levers a record ran with, as key=value, in LEVERS' order."""
    defaults = Settings().as_dict()
    return [
        f"{key}={record.settings[key]}"
        for key in LEVERS
        if record.settings.get(key, defaults[key]) != defaults[key]
    ]


def _against_official(levered: dict, plain: dict) -> list[str]:
    """For each lever cell whose official peak memory is known: both peaks against it."""
    lines = []
    for cell_id, official in OFFICIAL_PEAK_GIB.items():
        if cell_id not in levered:
            continue
        peaks = []
        for name, record in (("plain", plain.get(cell_id)), ("lever", levered[cell_id])):
            peak = record.values.get("peak_alloc_bytes") if record else None
            if peak is None:
                peaks.append(f"{name}: no peak ({record.status if record else 'not run'})")
            else:
                side = "at or below" if peak / GIB <= official else "above"
                peaks.append(f"{name} {peak / GIB:.1f} GiB, {side} it")
        lines.append(
            f"- {cell_id}: the official code peaked at {official} GiB; " + "; ".join(peaks)
        )
    return lines + ([""] if lines else [])


def _hardware(run: list, beside: list[Path]) -> list[str]:
    """The report's hardware comparison (reports.tables.hardware_table) of this run's records beside
    the runs of other machines under `beside`, so that the summary sets this GPU beside a CPU and
    beside another kind of GPU without a report made by hand: each machine's latest record per
    cell. Nothing without `beside` (a first call of two). A section that cannot be drawn says
    why in a line, and the rest of the summary stands."""
    if not beside:
        return []
    from reports import tables

    lines = [f"## {tables.HARDWARE_TITLE}", ""]
    lines += [
        f"This run beside {', '.join(_shown(path) for path in beside)} (their records of this "
        "run's own kind of machine left out).",
        "",
    ]
    try:
        table = _hardware_table(run, beside)
    except Exception as err:  # committed records of any age: the summary matters more
        return lines + [f"Not drawn: {type(err).__name__}: {err}", ""]
    if table is None:
        return lines + [tables.NO_HARDWARE_COMPARISON, ""]
    return lines + [table.intro, "", table.markdown().rstrip(), ""]


def _hardware_table(run: list, beside: list[Path]):
    """hardware_table over this run's records and those of other machines under `beside`. A
    committed run of this run's own kind of machine is left out: its cells would fill in, under
    this run's column, the ones this run did not reach."""
    from bench import selection
    from reports import load, tables

    machines = {selection.hardware(record) for record in run}
    others = [
        record
        for record in read([path for path in beside if path.exists()])
        if selection.hardware(record) not in machines
    ]
    return tables.hardware_table(load.frame(run + others))


def _shown(path: Path) -> str:
    """A path as the summary names it: from the repository's root where it lies in it."""
    root = Path(__file__).resolve().parents[2]
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def _time_spent(run: list, lever_runs: dict, calls_tsv: Path) -> list[str]:
    """Where each call's seconds went (bench.timespent): the gpu-check run's records split by call
    (calls.tsv counts what each call added, in the order the run file keeps them), then each lever
    suite's run; the slowest cells of each."""
    levered = [record for records in lever_runs.values() for record in records]
    call_of = _call_of_record(run, calls_tsv)
    runs = time_spent(
        run + levered,
        key=lambda r: call_of.get(id(r), f"{r.run.suite} {r.run.id}"),
    )
    if not runs:
        return []
    lines = [
        "## The check's time, per call and part",
        "",
        "Seconds summed over the cells: start-up is a cell process's start, its imports of "
        "torch and the models, and its exit (for a pair, the waits between its sides too; with "
        "--prestart mostly the exit, the start having run while the cell before did, but the "
        "whole of it for the first cell of a run or after a pair, and the rest of the imports "
        "where the cell before ended early); "
        "count, the model's description and FLOPs on meta (a peer's package imported with it), "
        "and all of a params or flops cell (with --prestart a timed cell's counts are taken "
        "ahead, but for the first cell of a run or after a pair, the pairs' and the profiles'); "
        "build, the model and optimizer on the device; first call, its compiling and "
        "autotuning; wait, for the next cell's process to finish its imports and counts "
        "(--prestart: after the first call on a GPU, before it on a CPU); windows, the "
        "warm-up and the timed calls; other, a profile's steps and "
        "trace, a cell's own matmul peak, the largest-batch search; killed or dead, a cell "
        "process that gave no result (its timeout, a crash). A lever suite has one row for its "
        "run, in whichever calls it ran. What a step took beyond its cells (steps) is the "
        "runner's, the device probe's, and that of a cell the call's budget cut off (it has no "
        "record).",
        "",
        "| run | cells | seconds | " + " | ".join(TIME_PARTS.values()) + " |",
        "|---|---|---|" + "---|" * len(TIME_PARTS),
    ]
    for spent in runs:
        parts = " | ".join(f"{spent.parts_s[part]:.0f}" for part in TIME_PARTS)
        untimed = f" ({spent.untimed} without seconds)" if spent.untimed else ""
        lines.append(f"| {spent.key} | {spent.cells}{untimed} | {spent.wall_s:.0f} | {parts} |")
    lines.append("")
    for spent in runs:
        slowest = ", ".join(f"{label} {seconds:.0f} s" for seconds, label in spent.slowest)
        lines.append(f"- slowest in {spent.key}: {slowest or 'none timed'}")
    for spent in (spent for spent in runs if spent.ahead):
        lines.append(
            f"- started ahead in {spent.key} (--prestart): {spent.ahead} cells, "
            f"{spent.ahead_s:.0f} s of start-up done while the cell before each ran"
            + (
                f" ({spent.count_ahead_s:.1f} s of it their counts on meta)"
                if spent.count_ahead_s
                else ""
            )
        )
    return lines + _pairs_played(run) + [""] + _warm_up(run + levered)


def _warm_up(records: list) -> list[str]:
    """The warm-up calls of the timed windows, by position, as factors of their window's median:
    the data that says whether a pair's later windows could warm up with fewer calls."""
    found = warm_up(records)
    if not found.calls:
        return []
    rows = {
        "first": found.first,
        "pairs' later, after their own": found.after_own,
        "pairs' later, after the partner's": found.after_partner,
    }
    longest = max(len(factors) for factors in rows.values())
    lines = [
        "## Warm-up calls against their window's median",
        "",
        f"{found.calls} warm-up calls took {found.seconds:.1f} s of the windows. Each call's time "
        "over its window's median timed call, by the timed calls' clock (1.00: the step was "
        "steady already): the median over the windows that made that call, the one farthest from "
        "1, and how many windows. A first window follows its worker's first call (a pair's "
        "first round, and its first after a resume). A pair's later window follows a window of "
        "its own (the side that opens a round: A B, B A) or the partner's, on a step built, "
        "compiled and autotuned already, with its cached memory handed back. Where a later "
        "window's first call reads near 1.00, farthest included, it would do with fewer warm-up "
        "calls. Where a suite's warmup_steady_within ended a warm-up at the first call within "
        "that fraction of the one before it, a later column counts only the windows still "
        "warming up.",
        "",
        "| windows | " + " | ".join(f"call {n + 1}" for n in range(longest)) + " |",
        "|---|" + "---|" * longest,
    ]
    for name, factors in rows.items():
        if factors:
            shown = [_factors(at) for at in factors] + [""] * (longest - len(factors))
            lines.append(f"| {name} | " + " | ".join(shown) + " |")
    if found.first_timed_after_early_end:
        lines += [
            "",
            "The first timed call of each window whose warm-up ended early, over the window's "
            f"median: {_factors(found.first_timed_after_early_end)} (near 1.00, farthest "
            "included: the early end cost the timing nothing; above it, the step was still "
            "settling).",
        ]
    return lines + [""]


def _factors(factors: list[float]) -> str:
    """'1.02, farthest 1.31, of 12': the median factor, the one farthest from 1, how many."""
    farthest = max(factors, key=lambda factor: abs(factor - 1))
    return f"{statistics.median(factors):.2f}, farthest {farthest:.2f}, of {len(factors)}"


def _pairs_played(run: list) -> list[str]:
    """One line on the run's pairs: how many rounds each played, and how many stopped early (the
    suite's [pairs] stop_within)."""
    firsts = [r for r in run if (r.details.get("pair") or {}).get("role") == "first"]
    if not firsts:
        return []
    played = ", ".join(str(r.details["pair"].get("rounds")) for r in firsts)
    early = sum("stopped_early" in r.details["pair"] for r in firsts)
    return [
        f"- pairs: {len(firsts)}, rounds played {played}; {early} stopped early, their factor "
        "already within the suite's stop_within (details.pair.stopped_early says how close)"
    ]


def _call_of_record(run: list, calls_tsv: Path) -> dict[int, str]:
    """id(record) -> "gpu-check, call N" for the gpu-check run's records, by the counts calls.tsv
    holds (the run's records in their order); none without calls.tsv."""
    if not calls_tsv.is_file():
        return {}
    rows = [row.split("\t") for row in calls_tsv.read_text(encoding="utf-8").splitlines() if row]
    records = iter(run)
    call_of = {}
    for call, added in rows:
        for record in itertools.islice(records, int(added)):
            call_of[id(record)] = f"{record.run.suite}, call {call}"
    return call_of


def _bare_loop(path: Path) -> list[str]:
    if not path.is_file():
        return ["## Harness against a bare CUDA-event loop", "", "Not run.", ""]
    result = json.loads(path.read_text(encoding="utf-8"))
    if "harness_over_bare" not in result:
        text = f"{result['cell']}: the harness's cell {result['harness_status']}: {result['harness_error']}"
    else:
        verdict = "within" if result["holds"] else "outside"
        text = (
            f"{result['cell']}: harness median {result['harness_ms_median']:.3f} ms, bare loop "
            f"{result['bare_ms_median_before']:.3f} ms before and {result['bare_ms_median_after']:.3f}"
            f" ms after: {result['harness_over_bare']:.3f}x, {verdict} "
            f"{result['tolerance']:.0%} (bare loops {result['bare_drift']:.1%} apart)."
        )
    return ["## Harness against a bare CUDA-event loop", "", text, ""]


def _peak(path: Path) -> list[str]:
    lines = ["## The matmul peak, timed several ways (benchmarks/gpu/peak.py)", ""]
    if not path.is_file():
        return lines + ["Not run.", ""]
    result = json.loads(path.read_text(encoding="utf-8"))
    top, limit = result.get("sm_clock_max_mhz"), result.get("power_limit_w")
    clocks = f", the SM clock at most {top:,} MHz" if top else ""
    clocks += f", the power limit {limit:,.0f} W" if limit else ""
    lines.append(f"{result['n']}^3 {result['dtype']} on {result['device']}{clocks}:")
    lines.append("")
    for name, tflops in result["tflops"].items():
        reading = result.get("clocks", {}).get(name)
        lines.append(f"- {name}: {_num(tflops)} TFLOP/s{_clocks(reading) if reading else ''}")
    if result.get("clocks_reason"):
        lines += ["", f"No clock readings: {result['clocks_reason']}."]
    return lines + [""]


def _clocks(reading: dict) -> str:
    """What NVML read while a variant ran, in words: '; SM clock 1,755 MHz (lowest 1,620), at
    most 690 W and 61 C, SwPowerCap in 80% of 12 readings'."""
    parts = []
    if reading.get("sm_clock_mhz_median") is not None:
        parts.append(
            f"SM clock {reading['sm_clock_mhz_median']:,.0f} MHz "
            f"(lowest {reading['sm_clock_mhz_min']:,.0f})"
        )
    highest = [
        f"{reading[key]:,.0f} {unit}"
        for key, unit in (("power_w_max", "W"), ("temperature_c_max", "C"))
        if reading.get(key) is not None
    ]
    if highest:
        parts.append("at most " + " and ".join(highest))
    shares = reading.get("clock_event_reason_shares")
    readings = f"{reading['samples']} reading{'s' * (reading['samples'] != 1)}"
    if shares is None:
        parts.append(f"no clock-event reasons read, {readings}")
    else:
        events = ", ".join(f"{name} in {share:.0%}" for name, share in shares.items())
        parts.append(f"{events or 'no clock-event reason'} of {readings}")
    return "; " + ", ".join(parts)


def _skipped(path: Path) -> list[str]:
    cells = path.read_text(encoding="utf-8").split() if path.is_file() else []
    lines = ["## Skipped by the time budget", ""]
    lines += [f"- {cell}" for cell in cells] or ["None."]
    return lines + [""]


def _num(value) -> str:
    return "" if value is None else f"{value:,.4g}"


def _pct(value) -> str:
    return "" if value is None else f"{value:.1%}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
