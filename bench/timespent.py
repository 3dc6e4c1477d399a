"""Where a run's time went: the seconds each record keeps (bench.record.CELL_TIME_KEY), summed per
run over its cells, so that a time-boxed run (the GPU check's calls) is planned from what its cells
cost rather than guessed.

    for run in time_spent(records):      # one RunTime per run, in the order the runs came
        run.key, run.wall_s, run.parts_s["first_call"], run.slowest

`key` groups the records otherwise: the GPU check splits a run that its second call resumed by call.
`warm_up(records)` sets the warm-up calls of their timed windows against each window's median: whether
a window needed them, and whether a pair's later windows would do with fewer.

The parts (PARTS): start_up (a worker process's start, its imports of torch and the model families,
and its exit; for a pair, the parent's waits between its sides too), count (the model's description
and FLOPs on meta, a peer's package imported with it), build (the model on the device, its
optimizer), first_call (compiling and autotuning included), quiet_wait (with `rinbench run
--prestart`: the wait for the next cell's worker to finish its imports and counts, before the first
call on a CPU, after it on a GPU), windows (warm-up, timed calls, memory and energy), other (the
matmul peak where a cell took its own, the largest-batch search, a profile's steps and trace, FID's
sampling) and unaccounted (a process that gave no result: killed at its timeout, or dead, its whole
wall time). A pair's two sides run one after the other, so its wall time counts once; a profile its
worker took after the rounds has a wall time of its own, from the ask to the answer, whose start_up
is the little the parent's polling adds; where it ran out of memory there and a process of its own
took the profile again, both attempts count. A worker started ahead of its turn (`rinbench run
--prestart`) has its wall time from "go"; its start before that, made while the cell before it ran,
is counted apart (`ahead`, `ahead_s`), and so is its count on meta then (`count_ahead_s`, part of
`ahead_s`), which its turn then takes instead of counting again. The parts add up to `wall_s`, the
sum of the cells' wall times: with several GPUs working at once (`rinbench run --devices`), more
than the run's elapsed time. Records written before rinbench kept these seconds count in `untimed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bench.cell import STATIC_PHASES
from bench.intervals import ROUND_MEDIANS_KEY
from bench.record import CELL_TIME_KEY, PROFILE_RETRIED_ALONE_KEY, Record, is_number

PARTS = (
    "start_up",
    "count",
    "build",
    "first_call",
    "quiet_wait",
    "windows",
    "other",
    "unaccounted",
)
# Timed inside the measurement (bench.measure.cell.spent).
MEASURED_PARTS = ("count", "build", "first_call", "quiet_wait", "windows")
SLOWEST_KEPT = 5


@dataclass
class RunTime:
    """One run's cells and the seconds they took, in all and per part."""

    key: str  # the run's id, or what `time_spent`'s key made of its records
    suite: str | None
    cells: int = 0
    untimed: int = 0  # records without seconds (older rinbench)
    wall_s: float = 0.0
    ahead: int = 0  # cells whose worker started while the cell before ran (--prestart)
    ahead_s: float = 0.0  # their start's seconds then: not in wall_s, hidden behind the cell before
    count_ahead_s: float = 0.0  # of ahead_s, their counts on meta (bench.measure.cell.prepare)
    parts_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    slowest: list[tuple[float, str]] = field(
        default_factory=list
    )  # (seconds, cell id), longest first
    pairs_seen: set[frozenset] = field(default_factory=set)  # whose wall time is in already

    def add(self, record: Record) -> None:
        self.cells += 1
        spent = record.details.get(CELL_TIME_KEY)
        if not isinstance(spent, dict) or not ({"wall", "pair_wall"} & set(spent)):
            self.untimed += 1
            return
        if "ahead" in spent:
            self.ahead += 1
            self.ahead_s += spent["ahead"]
            self.count_ahead_s += spent.get("count_ahead", 0.0)
        if "pair_wall" in spent:
            self._add_pair_side(record, spent)
        else:
            self._add_cell(record, spent, record.cell.id)
        attempts = record.details.get(PROFILE_RETRIED_ALONE_KEY)
        for attempt in attempts if isinstance(attempts, list) else ():  # a pair's worker's
            tried = attempt.get(CELL_TIME_KEY) if isinstance(attempt, dict) else None
            if isinstance(tried, dict) and "wall" in tried:
                status = attempt.get("status", "failed")
                self._add_cell(record, tried, f"{record.cell.id} (in its pair: {status})")

    def _add_cell(self, record: Record, spent: dict, label: str) -> None:
        wall = spent["wall"]
        self._add_wall(wall, label)
        if "measure" not in spent:  # the process gave no result: killed or dead
            self.parts_s["unaccounted"] += wall
            return
        measure = spent["measure"]
        self.parts_s["start_up"] += wall - measure
        if record.cell.phase in STATIC_PHASES:
            self.parts_s["count"] += measure
            return
        measured = {part: spent.get(part, 0.0) for part in MEASURED_PARTS}
        for part, seconds in measured.items():
            self.parts_s[part] += seconds
        self.parts_s["other"] += measure - sum(measured.values())

    def _add_pair_side(self, record: Record, spent: dict) -> None:
        # Both sides of one play carry its wall time, the same number: it counts once, with
        # whichever side comes first, and what neither side's own parts explain is the processes'
        # start and the parent's alternation. A pair played again in the run (--retry-failed, or
        # a resume after a cut between its two records) is another play, with a wall of its own.
        pair = record.details.get("pair") or {}
        key = (frozenset((record.cell.id, pair.get("with"))), spent["pair_wall"])
        if key not in self.pairs_seen:
            self.pairs_seen.add(key)
            label = " with ".join(sorted(str(cell) for cell in key[0]))
            self._add_wall(spent["pair_wall"], label)
            self.parts_s["start_up"] += spent["pair_wall"]
        for part in ("peak", *MEASURED_PARTS):
            seconds = spent.get(part, 0.0)
            self.parts_s["start_up"] -= seconds
            self.parts_s["other" if part == "peak" else part] += seconds

    def _add_wall(self, seconds: float, label: str) -> None:
        """`seconds` into the wall time, and `label` among the slowest."""
        self.wall_s += seconds
        self.slowest = sorted([*self.slowest, (seconds, label)], reverse=True)[:SLOWEST_KEPT]


def time_spent(
    records: Iterable[Record], key: Callable[[Record], str] = lambda record: record.run.id
) -> list[RunTime]:
    """A RunTime per run among `records` (per `key` of theirs), in the order they first appear."""
    runs: dict[str, RunTime] = {}
    for record in records:
        name = key(record)
        if name not in runs:
            runs[name] = RunTime(name, record.run.suite)
        runs[name].add(record)
    return list(runs.values())


@dataclass
class WarmUp:
    """The warm-up calls of timed windows, each as a factor of its window's median timed call
    (1.0: the step was steady already), by position: whether a window's warm-up was needed, and
    whether fewer calls would do. Each list holds, per call, one factor per window. A first
    window follows its worker's first call (compiling, autotuning); a pair's later windows follow
    either a window of their own (the side that opens a round follows the one that closed the
    round before: A B, B A) or the partner's, on a step built and warm already."""

    seconds: float = 0.0  # all the warm-up calls took (part of the "windows" part)
    calls: int = 0
    first: list[list[float]] = field(default_factory=list)
    after_own: list[list[float]] = field(default_factory=list)
    after_partner: list[list[float]] = field(default_factory=list)
    # The first timed call of each window whose warm-up ended before its settings' `warmup` calls
    # (warmup_steady_within), as a factor of the window's median: near 1.00, the early end cost
    # the timing nothing; above it, the step was still settling.
    first_timed_after_early_end: list[float] = field(default_factory=list)

    def add(self, calls_ms: list, median_ms: object, factors: list[list[float]]) -> None:
        """A window's warm-up calls into `factors` (one of this object's lists)."""
        usable = is_number(median_ms) and median_ms > 0 and all(is_number(ms) for ms in calls_ms)
        if not calls_ms or not usable:
            return
        for position, ms in enumerate(calls_ms):
            self.seconds += ms / 1e3
            self.calls += 1
            factors.extend([] for _ in range(position + 1 - len(factors)))
            factors[position].append(ms / median_ms)


def warm_up(records: Iterable[Record]) -> WarmUp:
    """The warm-up calls of `records`' timed windows (latency_ms_warmup; a paired side's per round,
    latency_ms_warmup_by_round, against its round medians), a failed record's too: what it keeps of
    them are windows that ended, as a side's rounds before one that ran out of memory
    (bench.paired.merge) or a window before a failed largest-batch search. A round whose worker had
    just started (details.pair.after_first_call: the first, and the first after a resume) counts as
    a first window; a later round's window as following its own or its partner's window, by the
    rounds' orders, and not at all where they cannot say (`_follows_own`)."""
    found = WarmUp()
    for record in records:
        values = record.values
        by_round = values.get("latency_ms_warmup_by_round")
        medians = values.get(ROUND_MEDIANS_KEY)
        samples = values.get("latency_ms_samples_by_round")
        if not isinstance(by_round, list) or not isinstance(medians, list):
            by_round, medians = [values.get("latency_ms_warmup")], [values.get("latency_ms_median")]
            samples = [values.get("latency_ms_samples")]
        _first_timed_after_early_end(record.settings, by_round, medians, samples, found)
        pair = record.details.get("pair") or {}
        fresh = pair.get("after_first_call")
        fresh = set(fresh) if isinstance(fresh, list) else {0}
        for index, (calls, median) in enumerate(zip(by_round, medians, strict=False)):
            if index in fresh:
                into = found.first
            else:
                follows_own = _follows_own(pair, index)
                if follows_own is None:
                    continue
                into = found.after_own if follows_own else found.after_partner
            found.add(calls if isinstance(calls, list) else [], median, into)
    return found


def _first_timed_after_early_end(
    settings: dict, by_round: list, medians: list, samples: object, found: WarmUp
) -> None:
    """Into `found`: the first timed call over its window's median, of each window whose warm-up
    the settings' warmup_steady_within ended before their `warmup` calls (after the two calls
    it compares at least; rounds logged before warm-ups were kept have none)."""
    warmup = settings.get("warmup")
    ruled = settings.get("warmup_steady_within") is not None
    if not ruled or not isinstance(warmup, int) or not isinstance(samples, list):
        return
    for calls, median, timed in zip(by_round, medians, samples, strict=False):
        ended_early = isinstance(calls, list) and 2 <= len(calls) < warmup
        measured = isinstance(timed, list) and timed and is_number(timed[0]) and is_number(median)
        if ended_early and measured and median > 0:
            found.first_timed_after_early_end.append(timed[0] / median)


def _follows_own(pair: dict, index: int) -> bool | None:
    """Whether a side's window of round `index` (not its worker's first) came right after a window
    of its own, by the rounds' orders (details.pair.orders, "ab" or "ba"); None where they cannot
    say: no orders or role, or a partner that ended (its rounds then had one window)."""
    orders, role = pair.get("orders"), pair.get("role")
    if not isinstance(orders, list) or not 0 < index < len(orders) or "partner_ended" in pair:
        return None
    if role not in ("first", "second") or not {orders[index - 1], orders[index]} <= {"ab", "ba"}:
        return None
    own = "a" if role == "first" else "b"
    return orders[index][0] == own and orders[index - 1][1] == own
