"""The report's section "Against the public implementations": ours beside the peers, as tables.

Two tables from a `bench.versus.SideBySide`: the counts (parameters, forward MACs per image, each
side's and the difference), and the timings (per setup and phase: images per second, peak memory and
MFU of each side, with the speed factor first / second and its 95% interval where the two were timed
interleaved). The same tables serve `rinbench claims --versus A B`, with the two names as labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.metrics import GIB
from bench.versus import SideBySide, Timed
from reports.tables import SUSPECT_MARK, Table, format_number, format_params, format_percent

TITLE = "Against the public implementations"
MFU_LEGEND = (
    f"{SUSPECT_MARK} marks a suspect MFU, as in the results table: its peak was noisy, taken on "
    "busy cores, or low."
)
INTRO = (
    "Each preset of ours beside a public implementation configured to match it (baselines/peers/, "
    "docs/peers.md): the same harness counts and times both. A factor above 1 means ours is "
    "faster; its 95% interval comes from the rounds in which the two were timed interleaved "
    "(docs/verdicts.md), and a factor timed apart has none. The img/s columns are each side's "
    "median over all its calls, the factor the geometric mean of the per-round ratios: where the "
    "two differ by little, they may disagree on which side is ahead, within the interval. MFU is "
    "over the matmul peak measured in the run (the results table's 'MFU (measured peak)'); both "
    "sides ran on the same device, so the data sheet's peak would scale both alike. " + MFU_LEGEND
)
EMPTY = (
    "No peer was measured beside its counterpart: run `rinbench run peers` (after "
    "`python -m pip install 'rinbench[peers]'`)."
)


@dataclass(frozen=True)
class Labels:
    """What the two sides are called in the headers: ours and the peer's, or two names."""

    first: str = "ours"
    second: str = "peer"
    first_title: str = "Ours"  # the header of the column naming the first side's preset
    second_title: str = "Peer"

    @classmethod
    def named(cls, first: str, second: str) -> Labels:
        return cls(first, second, first, second)

    def both(self, measure: str) -> tuple[str, str]:
        """The headers of a measure taken of each side: ('Params ours', 'Params peer')."""
        return f"{measure} {self.first}", f"{measure} {self.second}"


def counts_table(found: SideBySide, labels: Labels = Labels()) -> Table:
    a, b = labels.first, labels.second
    header = (
        labels.first_title,
        labels.second_title,
        "Res",
        *labels.both("Params"),
        f"{a} − {b}",
        *labels.both("GMACs"),
        f"MACs {a} / {b}",
    )
    table = Table(header, csv_header=COUNT_CSV)
    for row in found.counts:
        (params_a, params_b), (macs_a, macs_b) = row.params, row.macs_fwd
        difference = None if None in row.params else params_a - params_b
        ratio = None if None in row.macs_fwd or not macs_b else macs_a / macs_b
        table.rows.append(
            (
                row.first,
                row.second,
                str(row.resolution),
                format_params(params_a),
                format_params(params_b),
                "" if difference is None else f"{difference:+,.0f}",
                _giga(macs_a),
                _giga(macs_b),
                "" if ratio is None else f"{ratio:.3f}",
            )
        )
        table.records.append(
            {
                "first": row.first,
                "second": row.second,
                "resolution": row.resolution,
                "params_first": params_a,
                "params_second": params_b,
                "params_difference": difference,
                "macs_fwd_first": macs_a,
                "macs_fwd_second": macs_b,
                "macs_ratio": ratio,
            }
        )
    return table


COUNT_CSV = (
    "first",
    "second",
    "resolution",
    "params_first",
    "params_second",
    "params_difference",
    "macs_fwd_first",
    "macs_fwd_second",
    "macs_ratio",
)
TIMED_CSV = (
    "first",
    "second",
    "resolution",
    "setup",
    "phase",
    "images_per_s_first",
    "images_per_s_second",
    "speed_factor",
    "low",
    "high",
    "rounds",
    "interval",
    "peak_memory_bytes_first",
    "peak_memory_bytes_second",
    "mfu_first",
    "mfu_second",
    "mfu_suspect_first",
    "mfu_suspect_second",
    "failed",
)


def timed_table(found: SideBySide, labels: Labels = Labels()) -> Table:
    header = (
        labels.first_title,
        labels.second_title,
        "Setup",
        "Phase",
        *labels.both("img/s"),
        f"{labels.first} / {labels.second} speed",
        *labels.both("peak GiB"),
        *labels.both("MFU"),
    )
    table = Table(header, csv_header=TIMED_CSV)
    for row in found.timed:
        table.rows.append(
            (
                row.first,
                row.second,
                row.setup,
                row.phase,
                *(format_number(v) for v in row.images_per_s),
                factor_text(row),
                *(_gib(v) for v in row.peak_memory_bytes),
                *mfu_texts(row),
            )
        )
        table.records.append(_timed_record(row))
    return table


def mfu_texts(row: Timed) -> tuple[str, str]:
    """Each side's MFU, marked where its matmul peak is suspect."""
    return tuple(
        format_percent(value) + (SUSPECT_MARK if value is not None and suspect else "")
        for value, suspect in zip(row.mfu, row.mfu_suspect, strict=True)
    )


def factor_text(row: Timed) -> str:
    """'1.32× [1.25, 1.40]'; '1.32× (timed apart)' without an interval; the failure otherwise."""
    if row.factor is None:
        return "; ".join(row.failures) or "–"
    if row.factor.available:
        return row.factor.text(unit="×")
    return f"{row.factor.estimate:.2f}× (no interval: {row.factor.reason})"


def _timed_record(row: Timed) -> dict:
    factor = row.factor
    available = factor is not None and factor.available
    return {
        "first": row.first,
        "second": row.second,
        "resolution": row.resolution,
        "setup": row.setup,
        "phase": row.phase,
        "images_per_s_first": row.images_per_s[0],
        "images_per_s_second": row.images_per_s[1],
        "speed_factor": None if factor is None else factor.estimate,
        "low": factor.low if available else None,
        "high": factor.high if available else None,
        "rounds": factor.n if available else None,
        "interval": _interval_words(factor),
        "peak_memory_bytes_first": row.peak_memory_bytes[0],
        "peak_memory_bytes_second": row.peak_memory_bytes[1],
        "mfu_first": row.mfu[0],
        "mfu_second": row.mfu[1],
        "mfu_suspect_first": int(row.mfu_suspect[0]),
        "mfu_suspect_second": int(row.mfu_suspect[1]),
        "failed": "; ".join(row.failures),
    }


def _interval_words(factor) -> str:
    if factor is None:
        return ""
    return f"95% over {factor.n} interleaved rounds" if factor.available else factor.reason


def _giga(macs) -> str:
    return "" if macs is None else format_number(macs / 1e9)


def _gib(value) -> str:
    return "" if value is None else f"{value / GIB:,.3g}"


def markdown(found: SideBySide, labels: Labels = Labels(), *, intro: str = INTRO) -> str:
    """The section's body in Markdown (without its heading)."""
    if found.empty:
        return f"_{EMPTY}_"
    parts = [intro, counts_table(found, labels).markdown().rstrip()]
    if found.timed:
        parts.append(timed_table(found, labels).markdown().rstrip())
    else:
        parts.append("_No setup timed both sides._")
    return "\n\n".join(parts)


def merged_records(found: SideBySide) -> tuple[tuple[str, ...], list[dict]]:
    """One row per pair and setup with both the counts and the timings (a pair timed nowhere gets
    one row of counts): the CSV and JSON of `rinbench claims --versus`."""
    counts = {(r["first"], r["second"], r["resolution"]): r for r in counts_table(found).records}
    header = (*COUNT_CSV, *(key for key in TIMED_CSV if key not in COUNT_CSV))
    rows, timed_pairs = [], set()
    for record in timed_table(found).records:
        pair = (record["first"], record["second"], record["resolution"])
        timed_pairs.add(pair)
        rows.append(counts[pair] | record)
    rows += [record for pair, record in counts.items() if pair not in timed_pairs]
    return header, rows


def text_lines(found: SideBySide) -> list[str]:
    """Plain text: per pair, its counts, then one line per setup and phase timed on both sides."""
    lines = []
    for count in found.counts:
        params = " vs ".join(format_params(v) or "?" for v in count.params)
        macs = " vs ".join(_giga(v) or "?" for v in count.macs_fwd)
        lines.append(
            f"{count.first} vs {count.second} at {count.resolution} px: params {params}; "
            f"GMACs per image {macs}"
        )
        for row in found.timed:
            if (row.first, row.second, row.resolution) != (
                count.first,
                count.second,
                count.resolution,
            ):
                continue
            speeds = " vs ".join(format_number(v) or "?" for v in row.images_per_s)
            memory = " vs ".join(_gib(v) or "?" for v in row.peak_memory_bytes)
            mfu = " vs ".join(text or "–" for text in mfu_texts(row))
            lines.append(
                f"  {row.phase} on {row.setup}: {speeds} img/s, {row.first} / {row.second} "
                f"{factor_text(row)}; peak GiB {memory}; MFU {mfu}"
            )
    return lines
