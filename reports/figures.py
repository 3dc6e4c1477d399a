"""The report's figures: seaborn on matplotlib's Agg canvas (no display, no pyplot state).

Each figure function takes the frame of `reports.load.frame` and returns a matplotlib Figure, or
raises Skip with the reason when the records lack its data; the report then says so in its place.
Axis labels and scales come from the metric table (bench.metrics). matplotlib and seaborn are
imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench import intervals, metrics, selection
from bench.selection import TIMED_PHASES
from reports import load
from reports.tables import NOISY_MARK, SUSPECT_MARK, hardware_cells, natural_key, slowest_first

RIN_GROUPS = ("read", "compute", "write", "other")
PHASE_NAMES = {"forward": "forward", "train_step": "train step", "sample": "sampling loop"}
# Reproducible files: no dates in the metadata, a fixed salt for the SVG element ids.
SVG_METADATA = {"Date": None}
PNG_DPI = 110


class Skip(Exception):
    """The records lack this figure's data; the message says what is missing."""


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    caption: str
    png: bytes | None = None
    svg: str | None = None
    skipped: str | None = None  # why the figure is absent


# --- what the figures plot -----------------------------------------------------------------------


def cost_exponents(frame: pd.DataFrame) -> pd.DataFrame:
    """Per preset counted at two or more resolutions: the exponent k of MACs ∝ resolution^k fitted
    by least squares on log-log axes over all resolutions, and between the two largest (where the
    dominant term shows). Columns: preset, family, resolutions, exponent, exponent_top."""
    counted = _with(_ok(frame, "flops"), "macs_fwd")
    rows = []
    for preset, series in counted.groupby("preset", sort=False):
        series = series.drop_duplicates("resolution").sort_values("resolution")
        if len(series) < 2:
            continue
        log_res = np.log(series["resolution"].to_numpy(dtype=float))
        log_macs = np.log(series["macs_fwd"].to_numpy(dtype=float))
        slope = float(np.polyfit(log_res, log_macs, 1)[0])
        top = float((log_macs[-1] - log_macs[-2]) / (log_res[-1] - log_res[-2]))
        rows.append(
            {
                "preset": preset,
                "family": series["family"].iloc[0],
                "resolutions": ", ".join(str(r) for r in series["resolution"]),
                "exponent": slope,
                "exponent_top": top,
            }
        )
    columns = ["preset", "family", "resolutions", "exponent", "exponent_top"]
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values("preset", key=lambda s: s.map(lambda p: natural_key((p,))))


def _ok(frame: pd.DataFrame, *phases: str) -> pd.DataFrame:
    return frame[frame["phase"].isin(phases) & (frame["status"] == "ok")]


def _with(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows that have a value in `column` (none when no record has the metric)."""
    return frame.dropna(subset=[column]) if column in frame else frame.iloc[:0]


def timed_values(frame: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """What a per-resolution figure plots: ok timed rows that have one of the metric `keys` (the
    first present per row), with `value` in the display unit of the first key's metric and a
    series label: the preset, plus the setup when the records hold more than one setup."""
    value, _ = load.first_present(frame, keys)
    rows = frame.assign(value=value * metrics.get(keys[0]).scale)
    rows = _ok(rows, *TIMED_PHASES).dropna(subset=["value"]).copy()
    several = rows["setup"].nunique() > 1
    rows["series"] = rows["preset"] + (" · " + rows["setup"] if several else "")
    rows["phase "] = rows["phase"].map(PHASE_NAMES)
    return rows.sort_values(["preset", "resolution"], key=_natural_column)


def _natural_column(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column):
        return column
    return column.map(lambda text: natural_key((text,)))


# --- drawing -------------------------------------------------------------------------------------


def _axes(width: float = 7.5, height: float = 4.6):
    import seaborn as sns
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=(width, height), layout="constrained")
    with sns.axes_style("whitegrid"):
        axes = figure.add_subplot()
    return figure, axes


def _resolution_axis(axes, resolutions) -> None:
    from matplotlib.ticker import NullFormatter

    axes.set_xscale("log", base=2)
    ticks = sorted({int(r) for r in resolutions})
    axes.set_xticks(ticks, [str(t) for t in ticks])
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("resolution (pixels per side)")


def cost_vs_resolution(frame: pd.DataFrame):
    import seaborn as sns

    exponents = cost_exponents(frame)
    if exponents.empty:
        raise Skip(
            "needs a preset counted at two or more resolutions (the quick and scaling suites "
            "count one preset per family at 64-1024 px)"
        )
    labels = {
        row.preset: f"{row.preset}: k = {row.exponent:.2f} (top {row.exponent_top:.2f})"
        for row in exponents.itertuples()
    }
    macs = metrics.get("macs_fwd")
    data = _with(_ok(frame, "flops"), macs.key)
    data = data[data["preset"].isin(labels)].drop_duplicates(["preset", "resolution"]).copy()
    data[macs.label] = data[macs.key] * macs.scale
    data["model"] = data["preset"].map(labels)
    figure, axes = _axes()
    sns.lineplot(
        data=data.sort_values("resolution"),
        x="resolution",
        y=macs.label,
        hue="model",
        hue_order=list(labels.values()),
        marker="o",
        ax=axes,
    )
    axes.set_yscale("log")
    _resolution_axis(axes, data["resolution"])
    axes.set_ylabel(f"forward {macs.label} per image (log)")
    figure.suptitle("Cost vs resolution: MACs ∝ resolution^k")
    axes.legend(title="fitted k (top: between the two largest)", fontsize="small")
    return figure


def throughput_vs_resolution(frame: pd.DataFrame):
    return per_resolution(
        frame,
        keys=("images_per_s",),
        title="Throughput vs resolution",
        missing="needs timed cells (forward, train_step or sample) that ended ok",
        decorate=_throughput_spread,
    )


SPREAD_LABEL, NOISY_LABEL = "95% interval", "noisy timing"


def _throughput_spread(axes, data: pd.DataFrame, palette: dict) -> None:
    """Per point, an error bar over the 95% interval of its throughput (bench.intervals: over its
    rounds where it was timed in a pair, else of its window's median), and a ring around a noisy
    timing (latency_noisy); each in its series' colour, with one grey entry in the legend."""
    low, high = _throughput_band(data)
    noisy = (
        data["latency_noisy"].eq(1)
        if "latency_noisy" in data
        else pd.Series(False, index=data.index)
    )
    ring = dict(s=130, facecolors="none", linewidths=1.4, zorder=3)
    for series, rows in data.groupby("series", sort=False):
        color, band = palette[series], low[rows.index].notna() & high[rows.index].notna()
        if band.any():
            values = rows["value"][band]
            bars = axes.errorbar(
                rows["resolution"][band],
                values,
                # The point is the median of all calls, the interval's centre that of the rounds:
                # an end a rounding away on the wrong side is drawn at the point.
                yerr=[
                    (values - low[rows.index][band]).clip(lower=0),
                    (high[rows.index][band] - values).clip(lower=0),
                ],
                fmt="none",
                ecolor=color,
                elinewidth=1.2,
                capsize=3,
                alpha=0.8,
            )
            for artist in bars.lines[2]:
                artist.set_gid("spread")
        ringed = rows[noisy[rows.index]]
        if not ringed.empty:
            axes.scatter(ringed["resolution"], ringed["value"], edgecolors=[color], **ring)
            axes.collections[-1].set_gid("noisy")
    # Legend entries in grey: the colours belong to the series.
    if (low.notna() & high.notna()).any():
        axes.errorbar([], [], yerr=[], fmt="none", ecolor="0.45", capsize=3, label=SPREAD_LABEL)
    if noisy.any():
        axes.scatter([], [], edgecolors="0.45", label=NOISY_LABEL, **ring)


def _throughput_band(data: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The ends of each row's 95% throughput interval in the display unit (images per second:
    batch / latency, as bench.measure.timing.throughput divides); NaN where a record has none."""
    scale = metrics.get("images_per_s").scale
    low, high = pd.Series(np.nan, index=data.index), pd.Series(np.nan, index=data.index)
    for index, row in data.iterrows():
        found = intervals.throughput(row[load.RECORD].values, int(row["batch"]))
        if found is not None and found.available:
            low[index], high[index] = found.low * scale, found.high * scale
    return low, high


def claim_factors(frame: pd.DataFrame):
    """The paper's main claim per panel: the factor in MACs (a diamond) and each wall-clock factor
    with its 95% interval (an error bar; a hollow marker without one), beside the claimed factor
    (a line) and what the claim needs (the claimed less its tolerance, a dotted line)."""
    from bench import claims

    records = [row[load.RECORD] for _, row in frame.iterrows()]
    headlines = claims.headlines(claims.evaluate(claims.load(), records))
    panels = [panel for headline in headlines for panel in headline.panels]
    shown = [p for p in panels if (p.macs and p.macs.measured) or any(c.interval for c in p.clocks)]
    if not shown:
        raise Skip("needs the flops cells or the timed pairs of the paper's main claim")
    figure, axes = _axes(width=9.5, height=1.4 + 0.75 * len(shown))
    setups: dict[str, int] = {}
    for row, panel in enumerate(reversed(shown)):
        claim = panel.claim
        axes.vlines(claim.reported, row - 0.35, row + 0.35, colors="0.2", linewidth=1.5)
        axes.vlines(claims.threshold(claim), row - 0.35, row + 0.35, colors="0.2",
                    linestyles="dotted", linewidth=1.2)  # fmt: skip
        if panel.macs is not None and panel.macs.measured:
            axes.scatter(panel.macs.measured, row, marker="D", color="0.35", zorder=3)
        timed = [c for c in panel.clocks if c.interval is not None]
        for offset, clock in zip(np.linspace(-0.2, 0.2, len(timed) or 1), timed, strict=False):
            color = f"C{setups.setdefault(clock.timing.words, len(setups)) % 10}"
            interval = clock.interval
            if interval.available:
                axes.errorbar(interval.estimate, row + offset, capsize=3, fmt="o", color=color,
                              xerr=[[interval.estimate - interval.low],
                                    [interval.high - interval.estimate]])  # fmt: skip
            else:
                axes.scatter(interval.estimate, row + offset, facecolors="none",
                             edgecolors=color, zorder=3)  # fmt: skip
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    axes.set_yticks(range(len(shown)), [p.label for p in reversed(shown)], fontsize="small")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("factor: U-Net / RIN (MACs; images per second)")
    handles = [Line2D([], [], marker="D", color="0.35", linestyle="none", label="MACs")]
    handles += [
        Line2D([], [], marker="o", color=f"C{i % 10}", linestyle="none", label=words)
        for words, i in setups.items()
    ]
    handles += [
        Line2D([], [], color="0.2", label="claimed"),
        Line2D([], [], color="0.2", linestyle="dotted", label="the claim needs"),
    ]
    axes.legend(handles=handles, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.suptitle("The main claim per panel: factors against the claimed")
    return figure


def memory_vs_resolution(frame: pd.DataFrame):
    return per_resolution(
        frame,
        keys=selection.PEAK_MEMORY_KEYS,
        title="Peak memory vs resolution (GPU: allocated; CPU: resident)",
        missing="needs timed cells with a peak memory reading",
    )


def per_resolution(
    frame, *, keys: tuple[str, ...], title: str, missing: str, decorate: Callable | None = None
):
    """Any timed metric against resolution on log-log axes, one line per series, a marker style per
    phase; labelled and scaled by the metric table (keys[0]). Skip(`missing`) without data.
    `decorate(axes, data, palette)` draws more over the lines (palette: series -> colour)."""
    import seaborn as sns

    data = timed_values(frame, keys)
    if data.empty:
        raise Skip(missing)
    order = list(dict.fromkeys(data["series"]))
    palette = dict(zip(order, distinct_colours(len(order)), strict=True))
    # The legend stands beside the axes, a line per series and phase: the figure grows with it.
    entries = len(order) + data["phase "].nunique() + 2
    figure, axes = _axes(width=10.5, height=max(4.6, 0.19 * entries + 0.8))
    sns.lineplot(
        data=data,
        x="resolution",
        y="value",
        hue="series",
        hue_order=order,
        palette=palette,
        style="phase ",
        markers=True,
        dashes=True,
        ax=axes,
    )
    if decorate is not None:
        decorate(axes, data, palette)
    axes.set_yscale("log")
    _resolution_axis(axes, data["resolution"])
    axes.set_ylabel(f"{metrics.get(keys[0]).label} (log)")
    figure.suptitle(title)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def distinct_colours(count: int) -> list:
    """`count` colours, none repeated: seaborn's default ten, then tab20's twenty, then hues."""
    import seaborn as sns

    name = None if count <= 10 else "tab20" if count <= 20 else "husl"
    return sns.color_palette(name, n_colors=count)


def mfu_per_model(frame: pd.DataFrame):
    import seaborn as sns

    mfu = metrics.get("mfu")
    data = timed_values(frame, (mfu.key,))
    if data.empty:
        raise Skip("needs timed cells with an MFU (they need a FLOP count and a matmul peak)")
    several = data["setup"].nunique() > 1
    data["model"] = data["preset"] + " @" + data["resolution"].astype(str)
    if several:
        data["model"] += " · " + data["setup"]
    # The results table's marks: "~" a noisy timing, "?" an MFU over a doubtful matmul peak.
    notes = []
    for key, mark, words in (
        ("latency_noisy", NOISY_MARK, "a noisy timing"),
        ("mfu_suspect", SUSPECT_MARK, "an MFU over a peak measured noisy, on busy cores, or low"),
    ):
        flagged = data[key].eq(1) if key in data else pd.Series(False, index=data.index)
        marked = data["model"].map(data.assign(flag=flagged).groupby("model")["flag"].any())
        if marked.any():
            data.loc[marked, "model"] += f" ({mark})"
            notes.append(f"({mark}): {words}")
    percent = "MFU over the measured peak (%)"
    data[percent] = 100 * data["value"]
    height = 1.6 + 0.32 * data["model"].nunique() * max(1, data["phase"].nunique() / 2)
    figure, axes = _axes(height=min(height, 14))
    sns.barplot(data=data, x=percent, y="model", hue="phase ", orient="h", ax=axes)
    axes.set_ylabel("")
    title = "MFU: model FLOP/s over the matmul peak measured in the run (not the data sheet's)"
    if notes:
        title += "\n" + "; ".join(notes)
    figure.suptitle(title)
    sns.move_legend(axes, "upper left", bbox_to_anchor=(1.01, 1), title="phase", fontsize="small")
    return figure


def rin_compute_split(frame: pd.DataFrame):
    import seaborn as sns

    counted = _ok(frame, "flops")
    counted = counted[
        counted["macs_fwd_by_group"].map(
            lambda groups: isinstance(groups, dict) and {"read", "write"} <= set(groups)
        )
    ]
    if counted.empty:
        raise Skip("needs flops cells of RIN presets (their MACs split into read/compute/write)")
    counted = counted.drop_duplicates(["preset", "resolution"])
    counted = counted.sort_values(["preset", "resolution"], key=_natural_column)
    labels = [f"{p} @{r}" for p, r in zip(counted["preset"], counted["resolution"], strict=True)]
    totals = counted["macs_fwd_by_group"].map(lambda g: sum(g.values())).to_numpy(dtype=float)
    figure, axes = _axes(height=1.4 + 0.36 * len(labels))
    colors = sns.color_palette("deep", len(RIN_GROUPS))
    left = np.zeros(len(labels))
    positions = np.arange(len(labels))
    for group, color in zip(RIN_GROUPS, colors, strict=True):
        macs = counted["macs_fwd_by_group"].map(lambda g, k=group: g.get(k, 0)).to_numpy(float)
        share = 100 * macs / totals
        axes.barh(positions, share, left=left, color=color, label=group)
        left += share
    for y, total in zip(positions, totals, strict=True):
        axes.text(101, y, f"{total / 1e9:,.1f} G", va="center", fontsize="small")
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    axes.set_xlim(0, 118)
    axes.set_xticks([0, 25, 50, 75, 100])
    axes.set_xlabel("share of forward MACs (%); total GMACs per image at the right")
    figure.suptitle("RIN compute split: read / compute / write per resolution")
    axes.legend(ncols=4, loc="lower center", bbox_to_anchor=(0.45, 1.06), fontsize="small")
    return figure


def fid_vs_compute(frame: pd.DataFrame):
    import seaborn as sns

    fid, budget = metrics.get(selection.FID_KEYS[0]), metrics.get("train_macs")
    value, key = load.first_present(frame, selection.FID_KEYS)
    scored = _ok(frame.assign(fid=value, fid_key=key), "fid").dropna(subset=["fid"])
    if scored.empty:
        raise Skip("needs records of phase 'fid' with an FID value (rinbench fid results)")
    data = _with(scored, budget.key).copy()
    if data.empty:
        raise Skip("the fid records lack train_macs (the training compute of their checkpoint)")
    data[budget.label] = data[budget.key] * budget.scale
    figure, axes = _axes()
    sns.lineplot(
        data=data.sort_values(budget.key),
        x=budget.label,
        y="fid",
        hue="preset",
        marker="o",
        ax=axes,
    )
    axes.set_xscale("log")
    axes.set_ylabel(f"{fid.label} ({', '.join(sorted(data['fid_key'].unique()))})")
    figure.suptitle("FID vs training compute")
    return figure


def hardware_comparison(frame: pd.DataFrame):
    import seaborn as sns

    shared = hardware_cells(frame)
    if not shared:
        raise Skip("needs the same timed cells run on two or more machines")
    speed = metrics.get("images_per_s")
    data = pd.DataFrame([row for rows in shared.values() for row in rows.values()])
    data["cell"] = (
        data["preset"]
        + " @"
        + data["resolution"].astype(str)
        + " "
        + data["phase"].map(PHASE_NAMES)
        + " "
        + data["dtype"]
        + " b"
        + data["batch"].astype(str)
        + " "
        + data["mode"]
    )
    figure, axes = _axes(height=1.6 + 0.45 * data["cell"].nunique())
    sns.barplot(
        data=data.sort_values("cell"),
        x=speed.key,
        y="cell",
        hue="hardware",
        hue_order=slowest_first(shared),  # the hardware table's order: the slowest machine first
        orient="h",
        ax=axes,
    )
    from matplotlib.ticker import NullFormatter

    axes.set_xscale("log")
    # Bars on a log axis need a floor: the power of ten below the slowest cell.
    axes.set_xlim(left=10 ** math.floor(math.log10(data[speed.key].min())))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(f"{speed.label} (log)")
    axes.set_ylabel("")
    figure.suptitle("The same cells on different hardware")
    sns.move_legend(
        axes, "upper left", bbox_to_anchor=(1.01, 1), title="hardware", fontsize="small"
    )
    return figure


FIGURES: dict[str, tuple[str, str, Callable]] = {
    "cost_vs_resolution": (
        "Cost vs resolution",
        "Forward MACs per image against resolution on log-log axes, one line per preset counted at "
        "several resolutions; the legend gives the fitted exponent k of MACs ∝ resolution^k over "
        "all resolutions and between the two largest.",
        cost_vs_resolution,
    ),
    "throughput_vs_resolution": (
        "Throughput vs resolution",
        "Images per second of each timed phase, per preset and setup. An error bar spans the 95% "
        "interval of the throughput: over its rounds where the cell was timed in a pair "
        "(docs/verdicts.md), else of its one window's median (that window's noise only; none "
        "under 6 samples); a ring marks a noisy timing.",
        throughput_vs_resolution,
    ),
    "claim_factors": (
        "The main claim per panel",
        "RIN's factor over the U-Net per panel of the paper's Figure 1: in MACs (diamond) and in "
        "wall-clock per setup, with the 95% interval over its interleaved rounds (a hollow marker: "
        "timed apart or while other jobs held the cores, so no interval). The solid line is the "
        "claimed factor, the dotted one what the claim needs (less its tolerance).",
        claim_factors,
    ),
    "memory_vs_resolution": (
        "Memory vs resolution",
        "Peak memory of each timed phase: allocated GPU memory, or resident memory on a CPU.",
        memory_vs_resolution,
    ),
    "mfu": (
        "MFU per model (measured peak)",
        "Achieved model FLOP/s (2 x MACs per second) over the dense matmul peak measured on the "
        "device in the same run: the results table's 'MFU (measured peak)'. Its 'MFU (data sheet)' "
        "column divides by the vendor's dense peak instead, as published MFUs do.",
        mfu_per_model,
    ),
    "rin_compute_split": (
        "RIN compute split",
        "Where RIN's forward MACs go: read (latents attend to the interface), compute (latent "
        "self-attention), write (interface attends to the latents) and the rest (embeddings, "
        "readout); the share of write grows with the number of interface tokens.",
        rin_compute_split,
    ),
    "fid_vs_compute": (
        "FID vs training compute",
        "FID of each checkpoint against the MACs spent training it (forward + backward).",
        fid_vs_compute,
    ),
    # Not "Hardware comparison": that is the heading of the report's section with the table.
    "hardware_comparison": (
        "Images per second per machine",
        "Images per second of the cells measured on more than one machine, on a log axis "
        "(speed-ups and MFU in the hardware comparison's table).",
        hardware_comparison,
    ),
}


def render_all(frame: pd.DataFrame) -> list[Figure]:
    """Every figure as PNG bytes and SVG text, or skipped with its reason."""
    out = []
    for name, (title, caption, draw) in FIGURES.items():
        try:
            drawn = draw(frame)
        except Skip as skip:
            out.append(Figure(name, title, caption, skipped=str(skip)))
            continue
        out.append(Figure(name, title, caption, png=to_png(drawn), svg=to_svg(drawn)))
    return out


def to_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()


def to_svg(figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "rinbench"}):
        figure.savefig(buffer, format="svg", metadata=SVG_METADATA)
    return buffer.getvalue()
