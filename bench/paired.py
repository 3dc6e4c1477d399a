"""Paired timing: the two cells of a ratio timed interleaved, so that drift lands on both sides.

    outcomes = paired.measure(pair, peak, serve=DEFAULT_SERVE, timeout_s=900, scratch=folder,
                              rounds_log=paired.RoundsLog(run_file))

A factor such as "RIN-128 is 2.6x as fast as ADM-128" from two cells timed minutes apart rests on
whatever the machine did in between, on one side only: on this project's CPU the factor moved by
13-23% between two runs a week apart while each cell's spread read 1%. Here each side of a pair gets a
process of its own (`python -m bench.worker --serve`), which builds its model and runs its step
once, then waits. The parent alternates them: round 1 times a window of A, then one of B; round 2
B, then A; and so on (A B B A ... cancels a steady drift within a pair of rounds as well). Each
round is persisted to the run's rounds log before the next starts, so an interrupted run resumes at
the next round, never losing or repeating one. When the rounds are done, each side's windows are
merged into one record (`merge`), which keeps every round: its median, its samples, and the
partner it was timed beside. The factor's interval comes from the rounds (bench.intervals). A side
whose profile cell is wanted is then asked for it (`Side.profile`): its worker profiles the step it
timed, built, compiled and autotuned already.

Why two processes rather than both models in one: each side keeps its own memory readings (peak
RSS, the allocator's peak) and its own fate (an OOM or a crash of one side is its record's status,
and the other side goes on alone), and neither model's caches or allocations are the other's. On a
GPU both processes hold their weights on the device, so each window hands its cached blocks back to
the driver when it ends (bench.measure.cell.windows); nvml_used_bytes, the device's view, then
includes the partner's memory, and the record says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from bench import intervals, pool
from bench.cell import profile_of
from bench.cellprocess import failed_outcome, worker_environ
from bench.intervals import SHORT_OF_CORES_KEY
from bench.measure.cell import NOT_OF_A_WINDOW
from bench.measure.facts import MatmulPeak
from bench.record import CELL_TIME_KEY, PROFILED_IN_PAIR_KEY, Outcome, split_diagnostics
from bench.suites import Pair, Planned
from bench.worker import NEXT, PROFILE, STOP, WorkerRequest, outcome_of

POLL_S = 0.05  # how often the parent looks for an answer: small beside any window
ROUNDS_SUFFIX = ".rounds"  # beside RUN.jsonl; not *.jsonl, so readers of results never take it
RETRIES_SUFFIX = ".retries"  # the same, for RetriesLog
# A window's details key: which of its worker's windows it was (1: the first, after the set-up's
# first call; the later ones follow a window of their own or of the partner's, on a warm step).
WINDOW_OF_PROCESS_KEY = "window_of_process"


@dataclass
class Side:
    """One side of a pair: a serving worker process and the answers it gave."""

    item: Planned
    scratch: Path
    timeout_s: float
    processes: pool.Processes
    visible: str | None = None
    process: subprocess.Popen | None = None
    answers: int = 0
    ended: Outcome | None = None  # the failed outcome that ended this side, if one did

    @property
    def cell_id(self) -> str:
        return self.item.cell.id

    @property
    def log(self) -> Path:
        """The worker's output, whose last lines explain a worker that died."""
        return self.scratch / "output.log"

    def start(self, serve: str, peak: MatmulPeak | None) -> Outcome:
        """Start the worker and wait for its set-up (model built, step run once)."""
        request = self.scratch / "request.json"
        data = WorkerRequest(self.item.cell, asdict(self.item.settings), peak).to_json()
        request.write_text(json.dumps(data), encoding="utf-8")
        command = [sys.executable, "-m", "bench.worker", "--request", str(request)]
        command += ["--serve", serve, "--answers", str(self.scratch)]
        command += ["--parent-pid", str(os.getpid())]
        with open(self.log, "wb") as sink:
            self.process = self.processes.start(
                command,
                stdin=subprocess.PIPE,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=worker_environ(self.visible),
            )
        return self._answer()

    def window(self) -> Outcome:
        """Ask for one more timed window and wait for it; its details say which of this worker's
        windows it was (WINDOW_OF_PROCESS_KEY)."""
        self._say(NEXT)
        number = self.answers  # the set-up's was answer 0
        outcome = self._answer()
        return replace(outcome, details=outcome.details | {WINDOW_OF_PROCESS_KEY: number})

    def profile(self, trace_dir: str | None) -> Outcome:
        """Ask for the profile of this side's step (its profile cell, bench.profiling), on the
        model its windows ran, and wait for it; the trace goes to `trace_dir`. An answer that is
        no profile (a serve function that cannot take one) is an error outcome. Its "wall" runs
        from the ask to the answer (bench.record.CELL_TIME_KEY)."""
        start = time.perf_counter()
        self._say(f"{PROFILE} {json.dumps({'trace_dir': trace_dir})}")
        outcome = self._answer()
        if outcome.status == "ok" and "profile_steps" not in outcome.values:
            self.stop()
            outcome = Outcome(
                "error", error="the serve function answered a profile ask with no profile"
            )
        return outcome.with_cell_time(wall=time.perf_counter() - start)

    def stop(self) -> None:
        """End the worker: STOP, then a kill if it does not go within a few seconds."""
        if self.process is None:
            return
        try:
            self._say(STOP)
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pool.kill_group(self.process)
            self.process.wait()
        finally:
            self.processes.finished(self.process)
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            pool.kill_group(self.process)
            self.process.wait()
            self.processes.finished(self.process)
            self.process = None

    def _say(self, command: str) -> None:
        try:
            self.process.stdin.write(f"{command}\n".encode())
            self.process.stdin.flush()
        except OSError:
            pass  # the worker is gone: _answer says how

    def _answer(self) -> Outcome:
        """The worker's next answer; a timeout or a dead worker ends the side with that status."""
        path = self.scratch / f"answer-{self.answers}.json"
        deadline = time.monotonic() + self.timeout_s
        while not path.is_file():
            code = self.process.poll()
            if code is not None and not path.is_file():
                reason = f"the cell process exited with code {code} and no answer"
                self.kill()
                return self._end(failed_outcome("error", reason, self.log))
            if time.monotonic() > deadline:
                self.kill()
                reason = f"no answer after {self.timeout_s:g} s; the cell process was killed"
                return self._end(failed_outcome("timeout", reason, self.log))
            time.sleep(POLL_S)
        self.answers += 1
        try:
            outcome = outcome_of(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as err:
            outcome = Outcome("error", error=f"unreadable answer from the cell process ({err})")
        path.unlink(missing_ok=True)
        if outcome.status != "ok":
            self.stop()
            return self._end(outcome)
        return outcome

    def _end(self, outcome: Outcome) -> Outcome:
        self.ended = outcome
        return outcome


# --- the rounds log -------------------------------------------------------------------------------


@dataclass
class RoundsLog:
    """Finished rounds of a run's pairs, one JSON line per round, beside the run file
    (RUN.rounds): what `--resume` needs to go on at the next round. A line is appended, flushed and
    fsynced when both windows of its round are in; a round cut short leaves no line."""

    path: Path
    rounds: dict[tuple[str, str], list[dict]] = field(default_factory=dict)

    @classmethod
    def beside(cls, run_file: Path) -> RoundsLog:
        log = cls(Path(run_file).with_suffix(ROUNDS_SUFFIX))
        for entry in _read_lines(log.path):  # a line cut by a crash: that round is measured again
            if isinstance(entry.get("first"), str) and isinstance(entry.get("second"), str):
                log.rounds.setdefault((entry["first"], entry["second"]), []).append(entry)
        return log

    def done(self, pair: Pair) -> list[dict]:
        """The pair's finished rounds, in order."""
        return list(self.rounds.get(_key(pair), []))

    def done_on(self, pair: Pair, machine: str | None) -> tuple[list[dict], str | None]:
        """The pair's finished rounds that `machine` measured under the pair's settings now, and
        why the others (a run resumed on another machine, or after its suite's settings changed:
        their rounds are not this play's to merge) are dropped, or None. A round logged before
        rounds kept their settings counts as taken under these."""
        settings = pair.first.settings

        def differing(entry: dict) -> dict:
            recorded = entry.get("settings")
            if not isinstance(recorded, dict):
                return {}
            changed = settings.differing(recorded)
            return {
                name: then_now for name, then_now in changed.items() if name not in NOT_OF_A_WINDOW
            }

        logged = self.done(pair)
        elsewhere = [entry for entry in logged if entry.get("machine") != machine]
        otherwise = [entry for entry in logged if entry not in elsewhere and differing(entry)]
        done = [entry for entry in logged if entry not in elsewhere and entry not in otherwise]
        reasons = []
        if elsewhere:
            machines = sorted({entry.get("machine") or "an unnamed one" for entry in elsewhere})
            reasons.append(
                f"{len(elsewhere)} logged round(s) measured on {', '.join(machines)}, "
                f"not on {machine}"
            )
        if otherwise:
            names = sorted({name for entry in otherwise for name in differing(entry)})
            reasons.append(
                f"{len(otherwise)} logged round(s) timed under other settings ({', '.join(names)})"
            )
        return done, (f"{'; '.join(reasons)}: measured again here" if reasons else None)

    def add(self, pair: Pair, entry: dict) -> None:
        self.rounds.setdefault(_key(pair), []).append(entry)
        _append_line(self.path, entry)

    def forget(self, pair: Pair) -> None:
        """Drop a pair's rounds (its records are written): the log keeps only unfinished pairs,
        and is removed when none is left."""
        self.rounds.pop(_key(pair), None)
        _rewrite_lines(self.path, [e for entries in self.rounds.values() for e in entries])


@dataclass
class RetriesLog:
    """The profiles a pair's worker failed to take for want of memory, to be taken again in
    processes of their own, one JSON line per attempt beside the run file (RUN.retries) until that
    process's record is written: a cut in between (the GPU check's budget, SIGTERM) loses neither
    the attempts nor their seconds, and `--resume` puts them in the record it makes
    (bench.record.PROFILE_RETRIED_ALONE_KEY). Two ways round that are left: a pair played again
    (`--retry-failed` of its other side) whose worker then takes the profile drops them, and a cut
    between a record and its `pop` leaves them to a later `--retry-failed` of that cell too."""

    path: Path
    attempts: dict[str, list[dict]] = field(default_factory=dict)  # profile cell id -> attempts

    @classmethod
    def beside(cls, run_file: Path) -> RetriesLog:
        log = cls(Path(run_file).with_suffix(RETRIES_SUFFIX))
        for entry in _read_lines(log.path):
            if isinstance(entry.get("cell"), str) and isinstance(entry.get("attempt"), dict):
                log.attempts.setdefault(entry["cell"], []).append(entry["attempt"])
        return log

    def add(self, cell_id: str, attempt: dict) -> None:
        self.attempts.setdefault(cell_id, []).append(attempt)
        _append_line(self.path, {"cell": cell_id, "attempt": attempt})

    def pop(self, cell_id: str) -> list[dict] | None:
        """The attempts at `cell_id`'s profile, in order, dropped from the log (its record is
        written), or None; the log is removed when none is left."""
        attempts = self.attempts.pop(cell_id, None)
        if attempts is not None:
            entries = [
                {"cell": cell, "attempt": attempt}
                for cell, waiting in self.attempts.items()
                for attempt in waiting
            ]
            _rewrite_lines(self.path, entries)
        return attempts


def _key(pair: Pair) -> tuple[str, str]:
    return pair.first.cell.id, pair.second.cell.id


def _read_lines(path: Path) -> list[dict]:
    """The JSON objects of a log's lines, those cut by a crash left out."""
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _append_line(path: Path, entry: dict) -> None:
    """`entry` as one more line of the log at `path`, flushed and fsynced before this returns. A
    last line a crash cut short keeps a line of its own (`_read_lines` skips it), rather than
    gluing the new entry to it and losing both."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as file:  # appends land at the end wherever the reads were
        cut = False
        if file.seek(0, os.SEEK_END):
            file.seek(-1, os.SEEK_END)
            cut = file.read(1) != b"\n"
        file.write(("\n" if cut else "").encode() + (json.dumps(entry) + "\n").encode("utf-8"))
        file.flush()
        os.fsync(file.fileno())


def _rewrite_lines(path: Path, entries: list[dict]) -> None:
    """The log at `path` holding just `entries`, or removed when they are none; written beside it
    and renamed over it, so that a kill mid-way leaves the old log whole."""
    if not entries:
        path.unlink(missing_ok=True)
        return
    fresh = path.with_name(path.name + ".new")
    with open(fresh, "w", encoding="utf-8") as file:
        file.write("".join(json.dumps(entry) + "\n" for entry in entries))
        file.flush()
        os.fsync(file.fileno())
    os.replace(fresh, path)


# --- one pair -------------------------------------------------------------------------------------


class PairOutcomes(NamedTuple):
    """What `measure` gives: both cells' outcomes, each merged over its rounds, and the outcomes
    of the profile cells its workers took after the rounds, by cell id."""

    first: Outcome
    second: Outcome
    profiles: dict[str, Outcome]


def measure(
    pair: Pair,
    peak: MatmulPeak | None,
    *,
    serve: str,
    timeout_s: float,
    scratch: Path,
    rounds_log: RoundsLog,
    processes: pool.Processes | None = None,
    visible: str | None = None,
    machine: str | None = None,
    profiles: Mapping[str, str | None] | None = None,
    on_timed: Callable[[Outcome, Outcome], None] | None = None,
    on_profile: Callable[[str, Outcome], None] | None = None,
    on_profile_start: Callable[[str], None] | None = None,
) -> PairOutcomes:
    """The outcomes of both cells of `pair`, each merged over its rounds (`merge`). Rounds in
    `rounds_log` that `machine` (the device model, 'NVIDIA H200') measured under the pair's settings
    count; others are dropped, and details["pair"]["rounds_dropped"] says so. Each new round joins
    the log, with `machine` and the settings, when both its windows are in. A side that fails (at
    set-up or in a window) keeps its failure as its outcome, with what it measured; the other side
    goes on alone. A pair with a `stop_within` may end before its `rounds` (`early_stop`:
    details["pair"]["stopped_early"] says why). `on_timed(first, second)` is called with both merged
    outcomes as soon as the rounds are done (the runner records them there: a profile cut short
    loses no round). `profiles` maps a side's cell id to the folder for its profile's trace (or
    None): after the rounds, that side's worker profiles the step it timed (`_profiles`), unless the
    side ended; the profiles' outcomes say so in details[PROFILED_IN_PAIR_KEY], and each is handed
    to `on_profile(profile cell id, outcome)` as soon as it is in, `on_profile_start(profile cell
    id)` being called as it is asked for. Ctrl-C kills both workers and propagates."""
    processes = processes if processes is not None else pool.Processes()
    sides = []
    for index, item in enumerate((pair.first, pair.second)):
        folder = scratch / f"side-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        sides.append(Side(item, folder, timeout_s, processes, visible))
    done, dropped = rounds_log.done_on(pair, machine)
    windows: list[list[Outcome]] = [
        [_logged_window(entry["windows"][index]) for entry in done] for index in (0, 1)
    ]
    orders = [entry["order"] for entry in done]
    try:
        setups = [side.start(serve, peak) for side in sides]
        _play_rounds(pair, sides, rounds_log, windows, orders, machine)
        first, second = _merged(sides, setups, windows, orders)
        stopped = early_stop(pair, windows)
        for outcome in (first, second):
            if dropped:
                outcome.details["pair"]["rounds_dropped"] = dropped
            if stopped is not None:
                outcome.details["pair"]["stopped_early"] = stopped
        if on_timed is not None:
            on_timed(first, second)
        profiled = _profiles(sides, profiles or {}, on_profile, on_profile_start)
    except BaseException:  # Ctrl-C, SIGTERM: a window or profile in flight is not waited for
        for side in sides:
            side.kill()
        raise
    for side in sides:
        side.stop()
    return PairOutcomes(first, second, profiled)


def _merged(
    sides: list[Side], setups: list[Outcome], windows: list[list[Outcome]], orders: list[str]
) -> list[Outcome]:
    """Each side's outcome merged over its rounds (`merge`), beside its partner's fate."""
    return [
        merge(
            setups[index],
            windows[index],
            side.item,
            partner=sides[1 - index].cell_id,
            role="first" if index == 0 else "second",
            orders=orders,
            ended=side.ended,
            partner_ended=sides[1 - index].ended,
            partner_resident=setups[1 - index].status == "ok",
        )
        for index, side in enumerate(sides)
    ]


def _profiles(
    sides: list[Side],
    wanted: Mapping[str, str | None],
    on_profile: Callable[[str, Outcome], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> dict[str, Outcome]:
    """The profile of each side `wanted` names (cell id -> trace folder) that has not ended, by
    its profile cell's id, each saying which pair's worker took it and handed to `on_profile` as
    soon as it is in (`on_start` called with that id as it is asked for). A side with no profile to take is stopped first, and each side once
    profiled, so that a profile runs beside no more of its partner than the windows did, and
    alone where it can."""
    for side in sides:
        if side.cell_id not in wanted or side.ended is not None:
            side.stop()
    profiled = {}
    for index, side in enumerate(sides):
        if side.process is None:
            continue
        profile_id = replace(side.item.cell, phase=profile_of(side.item.cell.phase)).id
        if on_start is not None:
            on_start(profile_id)
        outcome = side.profile(wanted[side.cell_id])
        side.stop()
        taken = {"timed": side.cell_id, "with": sides[1 - index].cell_id}
        profiled[profile_id] = replace(
            outcome, details=outcome.details | {PROFILED_IN_PAIR_KEY: taken}
        )
        if on_profile is not None:
            on_profile(profile_id, profiled[profile_id])
    return profiled


def early_stop(pair: Pair, windows: list[list[Outcome]]) -> str | None:
    """Why `pair` needs no more rounds, or None: it has a `stop_within`, fewer rounds than it may
    play but at least `min_rounds`, each side's window ok in every one, none short of cores, and
    the factor's 95% interval over them within +-stop_within. A rule on the interval's width, not
    on the factor: where the true spread is near the threshold it covers about 93% rather than
    95% (BENCHMARKS.md has the simulation); where it is well below, 95% after min_rounds."""
    first, second = windows
    played = len(first)
    if pair.stop_within is None or not pair.min_rounds <= played < pair.rounds:
        return None
    if len(second) != played or rounds_short_of_cores(first) or rounds_short_of_cores(second):
        return None
    found = intervals.ratio_over_rounds(
        [w.values["latency_ms_median"] for w in first],
        [w.values["latency_ms_median"] for w in second],
    )
    if not found.available or found.half_width > pair.stop_within:
        return None
    return (
        f"after {played} of {pair.rounds} rounds: the factor's 95% interval "
        f"{found.text(fmt='.3g', unit='×')} was within ±{100 * pair.stop_within:.3g}%"
    )


def _logged_window(data: dict) -> Outcome:
    """A window of the rounds log, without its seconds: an earlier process spent them, outside
    this pair's wall time (bench.record.CELL_TIME_KEY)."""
    window = Outcome.from_json(data)
    details = {k: v for k, v in window.details.items() if k != CELL_TIME_KEY}
    return replace(window, details=details)


def _play_rounds(
    pair: Pair,
    sides: list[Side],
    rounds_log: RoundsLog,
    windows: list[list[Outcome]],
    orders: list[str],
    machine: str | None,
) -> None:
    """Play the rounds the log lacks (`orders` holds the logged ones') until the pair's `rounds`,
    both sides' end, or `early_stop`; each round's windows join `windows`, its order `orders`."""
    for number in range(len(orders), pair.rounds):
        if early_stop(pair, windows) is not None:
            return
        # A B after B A and the other way round, from the last round kept: a log whose rounds
        # timed under other settings were dropped may end on either order.
        ab = not orders or orders[-1] == "ba"
        label = _play_round(pair, sides, number, rounds_log, windows, machine, ab=ab)
        if label is None:  # both sides ended
            return
        orders.append(label)


def _play_round(
    pair: Pair,
    sides: list[Side],
    number: int,
    rounds_log: RoundsLog,
    windows: list[list[Outcome]],
    machine: str | None,
    *,
    ab: bool,
) -> str | None:
    """Round `number` (from 0): one window of each side still going, A then B (`ab`) or B then
    A; the ok windows join `windows`, and the round joins `rounds_log` when both sides gave
    theirs. Returns the order ("ab" or "ba"), or None when no side was left to ask."""
    order = (0, 1) if ab else (1, 0)
    got = {index: sides[index].window() for index in order if sides[index].ended is None}
    if not got:
        return None
    label = "ab" if order == (0, 1) else "ba"
    if all(side.ended is None for side in sides):
        entry = {
            "first": pair.first.cell.id,
            "second": pair.second.cell.id,
            "round": number + 1,
            "order": label,
            "machine": machine,
            "settings": pair.first.settings.as_dict(),
            "windows": [got[0].to_json(), got[1].to_json()],
        }
        rounds_log.add(pair, entry)
    for index, outcome in got.items():
        if outcome.status == "ok":
            windows[index].append(outcome)
    return label


# --- merging the windows of one side --------------------------------------------------------------

# Peaks over the windows: the largest.
PEAK_KEYS = (
    "peak_alloc_bytes",
    "peak_reserved_bytes",
    "alloc_before_bytes",
    "nvml_used_bytes",
    "peak_rss_bytes",
    "rss_before_bytes",
    "rss_added_bytes",
)
# Sums over the windows.
SUM_KEYS = ("timed_iters", "warmup_iters", "timed_window_s", "energy_j", "energy_window_s")


def merge(
    setup: Outcome | None,
    windows: Sequence[Outcome],
    item: Planned,
    *,
    partner: str,
    role: str,
    orders: Sequence[str],
    ended: Outcome | None = None,
    partner_ended: Outcome | None = None,
    partner_resident: bool = True,
) -> Outcome:
    """One side's record from its set-up and its windows (one per round): every sample, the
    median of each round (ROUND_MEDIANS_KEY), the statistics over all samples without stalls,
    the throughput of their median, the largest memory peaks, the energy over all windows, and a
    noise judgement over the rounds (`judge_rounds`). details["pair"] names the partner.
    `partner_resident`: the partner's set-up succeeded, so its process held its model on the
    device beside this side's windows (on a GPU, nvml_used_bytes then counts it too)."""
    if setup is None:  # interrupted before the set-up answered
        setup = ended or Outcome("error", error="the cell process never answered")
    values = dict(setup.values)
    details = dict(setup.details)
    details["pair"] = {
        "with": partner,
        "role": role,
        "rounds": len(windows),
        "orders": list(orders),
    }
    if partner_ended is not None:
        details["pair"]["partner_ended"] = f"{partner_ended.status}: {partner_ended.error}"
    if windows:
        merged, reasons = split_diagnostics(_merged_windows(windows, item, values))
        values |= merged
        details |= reasons
        short = rounds_short_of_cores(windows)
        noisy, reason = judge_rounds(windows, values, item.settings.max_rel_iqr, short)
        values["latency_noisy"] = int(noisy)
        values[SHORT_OF_CORES_KEY] = len(short)
        details["pair"]["short_of_cores"] = short  # which rounds: the factor counts either side's
        details["latency_noisy_reason"] = reason
        _carry_window_details(windows, details)
        read = isinstance(values.get("nvml_used_bytes"), int | float)
        if item.cell.device == "cuda" and read and partner_resident:
            details["nvml_used_reason"] = (
                "the device's view while the partner's process held its weights on it too"
            )
    details[CELL_TIME_KEY] = _seconds_spent(setup, windows, ended)
    if ended is not None:
        return Outcome(ended.status, values, ended.error, setup.model or ended.model, details)
    if not windows:
        return Outcome("error", values, "no window was timed", setup.model, details)
    return Outcome("ok", values, None, setup.model, details)


# Window details a side's record does not take from its last window: merged, or the window's own.
NOT_FROM_WINDOWS = (
    "latency_noisy_reason",
    "warnings",
    "traceback",
    CELL_TIME_KEY,
    WINDOW_OF_PROCESS_KEY,
)


def _carry_window_details(windows: Sequence[Outcome], details: dict) -> None:
    """Into a side's `details`: the rounds whose window was its worker's first (a resumed pair's
    worker started again; none known for rounds logged before windows said so), the last
    window's diagnostics (why energy or a memory reading is missing, the RSS scope) and every
    window's warnings."""
    fresh = [index for index, w in enumerate(windows) if w.details.get(WINDOW_OF_PROCESS_KEY) == 1]
    if fresh:
        details["pair"]["after_first_call"] = fresh
    for key, value in windows[-1].details.items():
        if key not in NOT_FROM_WINDOWS:
            details.setdefault(key, value)
    warnings = [w for window in windows for w in window.details.get("warnings", [])]
    if warnings:
        details["warnings"] = list(dict.fromkeys(details.get("warnings", []) + warnings))[:20]


def _seconds_spent(setup: Outcome, windows: Sequence[Outcome], ended: Outcome | None) -> dict:
    """A side's cell_time_s (bench.record.CELL_TIME_KEY): its set-up's parts with each ok window's
    added, and those of the window that ended it, if one did (spent all the same)."""
    spent = setup.details.get(CELL_TIME_KEY)
    spent = dict(spent) if isinstance(spent, Mapping) else {}
    failed = [ended] if ended is not None and ended is not setup else []
    for window in [*windows, *failed]:
        parts = window.details.get(CELL_TIME_KEY)
        for part, seconds in parts.items() if isinstance(parts, Mapping) else ():
            spent[part] = spent.get(part, 0.0) + seconds
    return spent


def _merged_windows(windows: Sequence[Outcome], item: Planned, setup_values: Mapping) -> dict:
    from bench.measure.hardware import usable_cores
    from bench.measure.timing import latency_stats, mfu_suspect, throughput

    cell = item.cell
    by_round = [list(w.values["latency_ms_samples"]) for w in windows]
    samples = [s for round_samples in by_round for s in round_samples]
    merged: dict = {
        "latency_ms_samples": samples,
        "latency_ms_samples_by_round": by_round,
        "latency_ms_warmup": [ms for w in windows for ms in w.values.get("latency_ms_warmup", [])],
        "latency_ms_warmup_by_round": [
            list(w.values.get("latency_ms_warmup", [])) for w in windows
        ],
        intervals.ROUND_MEDIANS_KEY: [w.values["latency_ms_median"] for w in windows],
        **latency_stats(samples).values(),
    }
    for key in SUM_KEYS:
        numbers = [w.values.get(key) for w in windows]
        if all(isinstance(n, int | float) for n in numbers):
            merged[key] = sum(numbers)
    for key in PEAK_KEYS:
        numbers = [w.values.get(key) for w in windows if isinstance(w.values.get(key), int | float)]
        if numbers:
            merged[key] = max(numbers)
    first, last = windows[0].values, windows[-1].values
    merged |= {
        "torch_threads": first.get("torch_threads"),
        "torch_interop_threads": first.get("torch_interop_threads"),
        "load_avg_1m_before": first.get("load_avg_1m_before"),
        "load_avg_1m_after": last.get("load_avg_1m_after"),
        "cpu_util_timed": _weighted_util(windows),
    }
    merged |= throughput(
        merged["latency_ms_median"],
        images_per_call=cell.batch,
        flops_per_call=setup_values.get("flops_per_call"),
        peak_tflops=setup_values.get("matmul_peak_tflops"),
        datasheet_peak_tflops=setup_values.get("datasheet_peak_tflops"),
    )
    merged |= mfu_suspect(setup_values | merged, cell.device, usable_cores())
    energy, energy_s = merged.get("energy_j"), merged.get("energy_window_s")
    if isinstance(energy, int | float) and energy_s:
        merged["avg_power_w"] = energy / energy_s
    merged["joules_per_image"] = (
        energy / (merged["timed_iters"] * cell.batch)
        if isinstance(energy, int | float) and merged.get("timed_iters")
        else None
    )
    if cell.phase == "sample":
        merged["ms_per_step"] = merged["latency_ms_median"] / item.settings.sample_steps
    return merged


def _weighted_util(windows: Sequence[Outcome]) -> float | None:
    """The CPU use over all windows: each window's weighted by its length."""
    pairs = [(w.values.get("cpu_util_timed"), w.values.get("timed_window_s")) for w in windows]
    pairs = [(u, s) for u, s in pairs if isinstance(u, int | float) and isinstance(s, int | float)]
    total = sum(s for _, s in pairs)
    return sum(u * s for u, s in pairs) / total if total else None


def judge_rounds(
    windows: Sequence[Outcome], values: Mapping, max_rel_iqr: float, short: Sequence[int]
) -> tuple[bool, str]:
    """(noisy, why) of a side timed in rounds. Noisy: fewer than two rounds (no interval); the
    interval over its rounds' medians wider than ±`max_rel_iqr`; rounds that ran short of cores
    (`short`: rounds_short_of_cores); or stalls in more than 10% of all samples."""
    reasons, fine = [], []
    found = intervals.latency(values)
    # With fewer than two rounds, intervals.latency falls back to one window's samples, whose
    # interval holds that window's noise only: no interval over rounds, whatever its width.
    if found is None or not found.available or found.method != intervals.ROUNDS:
        count = len(windows)
        reasons.append(f"{count} round{'' if count == 1 else 's'}: no interval over rounds")
    elif found.half_width > max_rel_iqr:
        reasons.append(
            f"the interval over {found.n} rounds is ±{found.half_width:.1%}, over the "
            f"{max_rel_iqr:.1%} threshold"
        )
    else:
        fine.append(f"the interval over {found.n} rounds is ±{found.half_width:.1%}")
    if short:
        reasons.append(f"short of cores in round{'s' if len(short) > 1 else ''} {_listed(short)}")
    stalls, count = values.get("latency_stalls", 0), len(values.get("latency_ms_samples", []))
    if count and stalls > 0.1 * count:
        reasons.append(f"{stalls} stalls in {count} samples, over the 10% a steady timing allows")
    elif stalls:
        fine.append(f"{stalls} stalls in {count} samples left out")
    if reasons:
        return True, "noisy: " + "; ".join(reasons + fine)
    return False, "steady: " + "; ".join(fine)


def rounds_short_of_cores(windows: Sequence[Outcome]) -> list[int]:
    """The rounds (from 1) whose window ran short of cores: other jobs held the CPU while it was
    timed (bench.measure.timing.short_of_cores, in the window's noise reason)."""
    return [
        number
        for number, window in enumerate(windows, start=1)
        if "short of cores" in str(window.details.get("latency_noisy_reason", ""))
    ]


def _listed(numbers: Sequence[int]) -> str:
    return ", ".join(str(n) for n in numbers)
