"""95% intervals for timings and their ratios: one rule, shared by claims, reports and compare.

A wall-clock factor is only as good as the spread a second run would show. Two sources give an
interval here, and each names its method:

- **Rounds** (`ROUNDS`): a paired measurement (bench.paired) times the two sides of a ratio
  interleaved, A B, B A, ... over R rounds, each side a short window per round. A round is the
  independent unit: whatever the machine does between rounds (other tenants, clocks, a process
  placed elsewhere) lands on both sides of that round's ratio. The interval is Student's t over the
  logarithms of the per-round values (per-round ratios for a factor, per-round medians for one
  side's latency): the geometric mean with a t(R-1) interval. Logarithms, because timings drift
  by factors and a factor inverted (A/B against B/A) must give the same interval mirrored; Student's
  t, because a claims suite can afford 5 rounds, not 50, and with so few a bootstrap over rounds
  cannot reach outside the range it saw and covers less than it says. The samples inside one window
  are not independent (the same caches, the same neighbours): pooled, they would give the
  1%-wide interval that a run a week later missed by 13%.
- **One window** (`WINDOW`): a cell timed once, as every ordinary suite cell is, has only its
  samples. Its interval is the distribution-free one of the median (order statistics, the binomial
  rule), over the samples that are not stalls. It speaks for that window only: a reader comparing
  it with another run's must know that drift between the runs is not in it, and the words say so.

Everything is standard library: reports/ and `rinbench compare` run without torch.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LEVEL = 0.95
ROUNDS, WINDOW = "rounds", "window"
# A sample more than this many times the median of all samples is a stall (bench.measure.timing's
# STALL_FACTOR, repeated so that this module needs no torch).
STALL_FACTOR = 2.0
# Two-sided 95% quantiles of Student's t, t(0.975; dof) for dof 1..30; beyond, `t_975` interpolates
# in 1/dof towards the normal's 1.95996 (exact to 3 decimals from 30 on).
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959964
# Fewest samples whose extreme order statistics bracket the median with 95% confidence
# (1 - 2 * 0.5**n >= 0.95).
MIN_WINDOW_SAMPLES = 6


def t_975(dof: int) -> float:
    """The 97.5% quantile of Student's t with `dof` degrees of freedom (dof >= 1)."""
    if dof < 1:
        raise ValueError(f"Student's t needs at least 1 degree of freedom, got {dof}")
    if dof <= len(_T975):
        return _T975[dof - 1]
    last = len(_T975)
    return _Z975 + (_T975[-1] - _Z975) * last / dof


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95% interval, or without one and the reason (`low`/`high` None).

    `n` counts the independent units behind it (rounds, or samples of one window); `method` is
    ROUNDS or WINDOW (or "" where there is none; "rounds+window" for a change between the two)."""

    estimate: float
    low: float | None = None
    high: float | None = None
    n: int = 0
    method: str = ""
    reason: str = ""  # why there is no interval

    def __post_init__(self):
        if (self.low is None) != (self.high is None):
            raise ValueError("an interval has both ends or neither")
        if self.low is not None and not self.low <= self.high:
            raise ValueError(f"interval ends out of order: [{self.low}, {self.high}]")
        if self.low is None and not self.reason:
            raise ValueError("an estimate without an interval needs the reason")

    @property
    def available(self) -> bool:
        return self.low is not None

    @property
    def half_width(self) -> float | None:
        """Half the interval's width relative to the estimate, on the log scale where its ends
        are positive: 0.05 for [x / 1.05, x * 1.05]."""
        if not self.available:
            return None
        if self.low > 0:
            return math.sqrt(self.high / self.low) - 1
        return (self.high - self.low) / 2 / abs(self.estimate) if self.estimate else math.inf

    def inverse(self, numerator: float = 1.0) -> Interval:
        """numerator / this: the interval of a throughput from that of a latency."""
        if not self.available:
            return Interval(numerator / self.estimate, n=self.n, reason=self.reason)
        return Interval(
            numerator / self.estimate,
            numerator / self.high,
            numerator / self.low,
            self.n,
            self.method,
        )

    def overlaps(self, other: Interval) -> bool | None:
        """Whether the two intervals share a point; None when either has none."""
        if not (self.available and other.available):
            return None
        return self.low <= other.high and other.low <= self.high

    def text(self, fmt: str = ".2f", unit: str = "") -> str:
        """'2.29× [2.18, 2.41]' (unit '×'), or '2.29×' where there is no interval."""
        point = f"{self.estimate:{fmt}}{unit}"
        if not self.available:
            return point
        return f"{point} [{self.low:{fmt}}, {self.high:{fmt}}]"

    def to_json(self) -> dict:
        data = {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n}
        return data | {"method": self.method, "level": LEVEL, "reason": self.reason or None}


def geometric_t(values: Sequence[float]) -> Interval:
    """The geometric mean of positive `values` (independent units: rounds) with the Student's t
    interval of their logarithms. One value has no interval."""
    values = [float(v) for v in values]
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise ValueError(f"need positive finite values, got {values!r}")
    logs = [math.log(v) for v in values]
    center = statistics.fmean(logs)
    if len(logs) < 2:
        return Interval(math.exp(center), n=1, reason="one round: no spread to judge")
    spread = t_975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return Interval(
        math.exp(center), math.exp(center - spread), math.exp(center + spread), len(logs), ROUNDS
    )


def ratio_over_rounds(numerators: Sequence[float], denominators: Sequence[float]) -> Interval:
    """The factor numerator / denominator from per-round values measured side by side (round i of
    each belongs together): `geometric_t` over the per-round ratios."""
    if len(numerators) != len(denominators):
        raise ValueError(
            f"rounds do not pair up: {len(numerators)} against {len(denominators)} values"
        )
    return geometric_t([a / b for a, b in zip(numerators, denominators, strict=True)])


def median_interval(samples: Sequence[float]) -> Interval:
    """The median of one window's samples, stalls left out (over STALL_FACTOR x the median of
    all), with the distribution-free 95% interval of the median: the order statistics k and n+1-k
    where the binomial(n, 1/2) tail below k is at most 2.5%."""
    if not samples:
        raise ValueError("no samples")
    middle = statistics.median(samples)
    kept = sorted(s for s in samples if s <= STALL_FACTOR * middle)
    n, median = len(kept), statistics.median(kept)
    if n < MIN_WINDOW_SAMPLES:
        return Interval(
            median,
            n=n,
            method=WINDOW,
            reason=f"{n} samples in one window: at least {MIN_WINDOW_SAMPLES} bound a median at 95%",
        )
    k = _order_rank(n)
    return Interval(median, kept[k - 1], kept[n - k], n, WINDOW)


def _order_rank(n: int) -> int:
    """The largest k with P(Binomial(n, 1/2) < k) <= 0.025: [x_(k), x_(n+1-k)] covers the median
    with probability at least 95%."""
    tail, k = 0.0, 0
    while True:
        nxt = tail + math.comb(n, k) / 2**n
        if nxt > (1 - LEVEL) / 2:
            return max(k, 1)
        tail, k = nxt, k + 1


def relative_change(before: Interval, after: Interval) -> Interval:
    """after / before - 1 between two independent measurements (two runs of a cell), with the
    conservative interval [after.low / before.high - 1, after.high / before.low - 1]: it contains 0
    exactly when the two intervals overlap, the rule by which two runs of a cell agree. Without an
    interval on either side, the point change and the sides' reasons. Timings: positive ends."""
    if not (before.estimate > 0 and after.estimate > 0):
        raise ValueError(f"a relative change needs positive estimates, got {before} and {after}")
    estimate = after.estimate / before.estimate - 1
    n = min(before.n, after.n)
    if not (before.available and after.available):
        sides = (("before", before), ("after", after))
        reason = "; ".join(f"{side}: {i.reason}" for side, i in sides if not i.available)
        return Interval(estimate, n=n, reason=reason)
    if not before.low > 0:
        raise ValueError(f"a relative change needs a positive lower end, got {before}")
    methods = dict.fromkeys((before.method, after.method))  # ordered, without repeats
    return Interval(
        estimate,
        after.low / before.high - 1,
        after.high / before.low - 1,
        n,
        "+".join(m for m in methods if m),
    )


# --- what records hold ------------------------------------------------------------------------

ROUND_MEDIANS_KEY = "latency_ms_round_medians"
# How many rounds of a paired record ran while other jobs held the CPU cores (bench.paired).
SHORT_OF_CORES_KEY = "rounds_short_of_cores"


def latency(values: Mapping) -> Interval | None:
    """The interval of a timed record's median latency (ms): over its rounds where it was measured
    in rounds (ROUND_MEDIANS_KEY, two or more), else over its window's samples; None for a record
    without timings."""
    rounds = values.get(ROUND_MEDIANS_KEY)
    if isinstance(rounds, list) and len(rounds) >= 2 and all(_positive(v) for v in rounds):
        return geometric_t(rounds)
    samples = values.get("latency_ms_samples")
    if isinstance(samples, list) and samples and all(_positive(v) for v in samples):
        return median_interval(samples)
    median = values.get("latency_ms_median")
    if _positive(median):
        return Interval(float(median), reason="the record keeps no samples")
    return None


def throughput(values: Mapping, images_per_call: int) -> Interval | None:
    """images/s with its interval: `images_per_call` over the latency interval (in seconds)."""
    found = latency(values)
    return None if found is None else found.inverse(images_per_call * 1e3)


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


TIMED_APART = "timed apart, not interleaved"


def unpaired_reason(first, second) -> str:
    """Why the two records give no factor over rounds (`factor_of_pair` None), in words: TIMED_APART
    where they do not name each other as partners, else what is wrong with their rounds; "" where
    they do give one."""
    for mine, other in ((first, second), (second, first)):
        pair = mine.details.get("pair")
        if not isinstance(pair, dict) or pair.get("with") != other.cell.id:
            return TIMED_APART
    if first.run.id != second.run.id:
        return "timed as a pair, but the two records come from different runs"
    a, b = (record.values.get(ROUND_MEDIANS_KEY) for record in (first, second))
    if not (isinstance(a, list) and isinstance(b, list) and a and len(a) == len(b)):
        return "timed as a pair, but their per-round medians do not pair up round by round"
    if not all(_positive(v) for v in (*a, *b)):
        return "timed as a pair, but a round's median is not a positive time"
    return ""


def factor_of_pair(first, second) -> Interval | None:
    """time(first) / time(second), with its interval over the rounds in which the two records were
    timed together (bench.paired): each record names the other as its partner
    (details["pair"]["with"]), both come from one run, and their per-round medians pair up round
    by round. None for records timed apart, or whose rounds cannot be paired (`unpaired_reason`
    says which). Where other jobs held the cores in some round (SHORT_OF_CORES_KEY), the factor
    comes without an interval, the reason naming the rounds and what the interval would have
    been. `first` and `second` are bench.record.Records."""
    if unpaired_reason(first, second):
        return None
    a, b = (record.values[ROUND_MEDIANS_KEY] for record in (first, second))
    found = ratio_over_rounds(a, b)
    short = _rounds_short_of_cores(first, second)
    if short and found.available:
        # Contention slows the two models by different factors (RIN's many short parallel regions
        # wait on a descheduled thread more often than ADM's long convolutions): the factor of a
        # contended machine is not the machine's, however tight its rounds.
        return Interval(
            found.estimate,
            n=found.n,
            method=ROUNDS,
            reason=f"other jobs held the cores in {short} of {len(a)} rounds (over the rounds: "
            f"{found.text(unit='×')})",
        )
    return found


def _rounds_short_of_cores(first, second) -> int:
    """In how many rounds other jobs held the cores while either side was timed: the union of the
    rounds each record names (details pair.short_of_cores); records that only count theirs (before
    the rounds were named) give the larger count, which may be fewer."""
    named = [record.details["pair"].get("short_of_cores") for record in (first, second)]
    if all(isinstance(rounds, list) for rounds in named):
        return len(set(named[0]) | set(named[1]))
    return max(_count(record.values.get(SHORT_OF_CORES_KEY)) for record in (first, second))


def _count(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
