"""Planning a sweep: which cells of a suite to measure, in which run file, and what a resumed run
file already holds. Touches no file; `bench.runner.execute` then measures the plan.

    plan = planning.plan(suite, out_dir="results", only=["*-tiny.*"], resume=None)

A new run gets a file named by its run id (bench.provenance.new_run); `resume` names a run file (or
LATEST: the suite's newest) whose recorded cells are skipped, the failed ones measured again with
`retry_failed`. A suite's profile cells (`profile = true`) follow their timed cells, and a paired
cell always takes its partner along.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import results
from bench.cell import PROFILE_PHASES, PROFILE_PREFIX, STATIC_PHASES
from bench.provenance import new_run
from bench.record import FAILED_STATUSES, RunInfo
from bench.suites import Planned, Suite

# results.make_run_id: "20260101T120000Z-host-device-gitsha.jsonl".
RUN_FILE = re.compile(r"\d{8}T\d{6}Z-[\w.-]+\.jsonl")
LATEST = "latest"  # resume=LATEST: the newest run file of the suite in the output folder


class RunError(ValueError):
    """A sweep that cannot start (bad selection, nothing to resume); one line for the user."""


@dataclass(frozen=True)
class RunPlan:
    suite: Suite
    path: Path  # the run file records are appended to
    run: RunInfo  # repeated on every record
    todo: tuple[Planned, ...]  # the cells still to measure, in order
    selected: int  # cells of the suite that --only kept
    already_done: int  # selected cells the run file already holds (resume)
    warnings: tuple[str, ...] = ()  # problems met reading the run file being resumed


def select(plan: Sequence[Planned], patterns: Sequence[str] | None) -> list[Planned]:
    """The cells whose id matches any of the shell globs (all cells when none are given)."""
    if not patterns:
        return list(plan)
    return [item for item in plan if any(fnmatch.fnmatchcase(item.cell.id, p) for p in patterns)]


def with_profiles(items: Sequence[Planned]) -> list[Planned]:
    """The suite's cells, each timed cell whose settings say `profile = true` followed by its
    profile cell (phase "profile:<phase>", bench.profiling), which a worker measures in a process
    of its own after the timed one; or, where the timed cell is a side of a pair, the pair's worker
    after its rounds (bench.runner)."""
    expanded = []
    for item in items:
        expanded.append(item)
        phase = PROFILE_PREFIX + item.cell.phase
        if item.settings.profile and phase in PROFILE_PHASES:
            expanded.append(Planned(dataclasses.replace(item.cell, phase=phase), item.settings))
    return expanded


def with_partners(suite: Suite, items: Sequence[Planned]) -> list[Planned]:
    """`items`, with the partner of every paired cell among them (a pair is timed together, so
    selecting or redoing one side takes the other along), in the suite's order."""
    wanted = {item.cell for item in items}
    for pair in suite.pairs:
        if wanted & set(pair.cells):
            wanted |= set(pair.cells)
    extra = [item for item in suite.plan if item.cell in wanted and item not in items]
    if not extra:
        return list(items)
    # The suite's order, each profile cell right after its timed one (as with_profiles puts it).
    order = {item.cell: number for number, item in enumerate(with_profiles(suite.plan))}
    merged = list(items) + extra
    return sorted(merged, key=lambda item: order.get(item.cell, len(order)))


def plan(
    suite: Suite,
    out_dir: str | os.PathLike,
    *,
    only: Sequence[str] | None = None,
    resume: str | os.PathLike | None = None,
    retry_failed: bool = False,
) -> RunPlan:
    """Decide the run file and the cells to measure; touches no file. `resume` is None (a new
    run), LATEST, or a run file path: cells that file already holds are skipped, except those with a
    FAILED_STATUSES status when `retry_failed` (their new record is appended; readers take the
    last record of a cell)."""
    chosen = with_partners(suite, select(with_profiles(suite.plan), only))
    if not chosen:
        example = suite.cells[0].id
        raise RunError(
            f"--only {' '.join(only)} matches none of the {len(suite.plan)} cells of suite "
            f"{suite.name!r}; cell ids look like {example!r}"
        )
    suite_dir = Path(out_dir) / suite.name
    if resume is None:
        devices = "+".join(sorted({item.cell.device for item in chosen}))
        run = new_run(suite.name, devices)
        path = suite_dir / f"{run.id}.jsonl"
        if path.exists():
            raise RunError(f"run file {path} already exists; wait a second or pass --resume {path}")
        return RunPlan(suite, path, run, tuple(chosen), len(chosen), 0)

    path = resume_path(suite_dir, resume)
    try:
        existing, problems = results.read_run_file(path)
    except results.NotARunFile as err:
        raise RunError(str(err)) from None
    other_suites = {r.run.suite for r in existing} - {suite.name}
    if other_suites:
        raise RunError(
            f"{path} holds records of suite {sorted(other_suites)[0]!r}, not {suite.name!r}; "
            "pass the same suite to resume it"
        )
    if existing:
        run = existing[0].run
    else:  # interrupted before its first record
        run = RunInfo(path.stem, suite.name, results.utc_now().isoformat())
    latest = results.latest_per_cell(existing)
    done = {cell_id: r.status for cell_id, r in latest.items()}
    redo = FAILED_STATUSES if retry_failed else ()
    todo = with_partners(
        suite,
        [item for item in chosen if item.cell.id not in done or done[item.cell.id] in redo],
    )
    return RunPlan(
        suite,
        path,
        run,
        tuple(todo),
        len(chosen),
        len(chosen) - len(todo),
        (*problems, *settings_drift([item for item in chosen if item not in todo], latest)),
    )


def settings_drift(kept: Sequence[Planned], latest: dict) -> list[str]:
    """One warning line where cells the resumed run keeps (not measured again) were measured
    under other settings than the suite's now (a suite file edited, or a newer rinbench whose
    setting the records predate: a key a record lacks reads as the field's default): each such
    setting with its values then and now. Their records stand; the run mixes both. Counts (params,
    flops) depend on no setting but those in COUNT_SETTINGS; NOT_OF_A_WINDOW (profile) changes
    no measurement and is not named."""
    from bench.measure.cell import COUNT_SETTINGS, NOT_OF_A_WINDOW

    values: dict[str, tuple[set, set]] = {}  # setting -> (its values in the run, now)
    cells = 0
    for item in kept:
        record = latest.get(item.cell.id)
        if record is None:
            continue
        differing = item.settings.differing(record.settings)
        differing = {k: both for k, both in differing.items() if k not in NOT_OF_A_WINDOW}
        if item.cell.phase in STATIC_PHASES:
            counted = COUNT_SETTINGS.get(item.cell.phase, ())
            differing = {key: both for key, both in differing.items() if key in counted}
        cells += bool(differing)
        for key, (then, now) in differing.items():
            then_values, now_values = values.setdefault(key, (set(), set()))
            then_values.add(repr(then))
            now_values.add(repr(now))
    if not cells:
        return []
    said = "; ".join(
        f"{key} {' or '.join(sorted(then))} in the run, {' or '.join(sorted(now))} now"
        for key, (then, now) in sorted(values.items())
    )
    return [
        f"{cells} cell(s) of the resumed run were measured under other settings than the "
        f"suite's now ({said}); their records stand, so the run mixes both (measure them again "
        "into a new run to have one)"
    ]


def resume_path(suite_dir: Path, resume: str | os.PathLike) -> Path:
    """The run file `resume` names (LATEST: the newest in `suite_dir`); RunError for a file that
    is not a run file or is not there."""
    if str(resume) != LATEST:
        path = Path(resume)
        if path.suffix != ".jsonl":
            # RUN.md and RUN.html sit beside RUN.jsonl; resuming into one would overwrite the records
            # with the report. `run --resume quick` lands here too: the flag took the suite's name.
            raise RunError(
                f"{path} is not a run file (RUN_ID.jsonl); to resume a suite's newest run, "
                "put the suite first: rinbench run SUITE --resume"
            )
        if not path.is_file():
            raise RunError(f"no run file to resume at {path}")
        return path
    # Only files named like a run id: a baseline copied into the folder is not a run to append to.
    runs = (
        sorted(p for p in suite_dir.glob("*.jsonl") if RUN_FILE.fullmatch(p.name))
        if suite_dir.is_dir()
        else []
    )
    if not runs:
        raise RunError(f"no run to resume in {suite_dir}; start one without --resume")
    return runs[-1]  # run ids start with their UTC start time, so the last name is the newest
