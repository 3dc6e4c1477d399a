"""Where the time goes: profile records (phase "profile:<phase>", measured by bench.profiling) as
tables, a figure and the summary `rinbench profile` (bench/commands/profile.py) prints.

Per profiled cell: each FLOP group's time per step, its share of the step beside its share of the
MACs (the picture that explains why a model with k× fewer MACs is not k× faster), the FLOP/s it
achieved and its MFU (over the matmul peak measured in the run), then the operators with the most
self time. The figure sets time share against MAC share per group, one panel per family. Standard
library, pandas and matplotlib only: no torch.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape

from bench import selection
from bench.cell import PROFILE_PHASES, profiled
from bench.profiling import NOT_GROUPS
from bench.record import Record, is_number
from reports.tables import Table, format_number, format_percent, natural_key

GROUP_HEADER = ("Group", "ms/step", "time share", "MAC share", "GFLOP/s", "MFU (measured peak)")
OPS_HEADER = ("Operator", "self ms/step", "calls/step", "share", "GFLOP/step")
KERNELS_HEADER = ("Kernel", *OPS_HEADER[1:])
TOP_OPS_SHOWN = 8
TITLE = "Where the time goes"
INTRO = (
    "Each profiled cell's step under torch.profiler, after its timing, never during it: the "
    "time each FLOP group took (CPU: operator time; CUDA: kernel time) against its share of the "
    "MACs. A group "
    "whose time share exceeds its MAC share runs below the model's average FLOP/s: that is where "
    "wall-clock and MAC ratios part. 'outside the model' is the loss, optimizer or sampler around "
    "the network; 'backward (unattributed)' the backward nodes no group's forward op made. FLOPs "
    "per group split the phase's FLOPs by the forward MAC split; a group's MFU divides its FLOP/s "
    "by the matmul peak measured in the run, not the data sheet's (the results table gives both). "
    "The trace of each cell (.trace.json.gz, beside its run file) opens in ui.perfetto.dev or "
    "chrome://tracing."
)
# The parts of a step that are no FLOP group, in greys that tell them apart.
GREYS = dict(
    zip(NOT_GROUPS, ((0.8, 0.8, 0.8), (0.55, 0.55, 0.55), (0.92, 0.92, 0.92)), strict=True)
)
FIGURE_CAPTION = (
    "Per profiled cell, the share of the step's time (upper bar) and of its MACs (lower bar) each "
    "FLOP group takes; the time outside every group (outside the model, backward nodes no group "
    "made, an idle device) is grey. One panel per family."
)


def profile_records(records: Iterable[Record]) -> list[Record]:
    """The ok profile records, the newest per machine and cell, ordered by family and preset."""
    chosen = [
        r for r in selection.latest(records) if r.cell.phase in PROFILE_PHASES and r.status == "ok"
    ]
    return sorted(chosen, key=lambda r: (_family(r), natural_key((r.cell.id,))))


def _family(record: Record) -> str:
    return record.model.family if record.model else record.cell.preset.split("-", 1)[0]


def headline(record: Record) -> str:
    """'rin-tiny @32 px, forward, cpu fp32 b2 eager: 412 ms per step in the trace over 3
    profiled steps (their span, split below by cpu op self time; their median 415 ms against 398
    ms unprofiled: the profiler slowed the step 1.04×).' The trace's step (what the groups add up
    to, a device's idle time included) and the wall-clock medians the slow-down is the ratio of
    are different clocks, so each is named."""
    cell, values = record.cell, record.values
    label = f"{cell.preset} @{cell.resolution} px, {profiled(cell.phase)}, "
    label += selection.setup_label(record)
    step = values.get("traced_step_ms")
    text = f"{label}: {format_number(step)} ms per step in the trace over "
    text += f"{values.get('profile_steps')} profiled steps (their span, split below by "
    text += record.details.get("profile_clock", "time")
    slowdown = values.get("profiler_slowdown")
    profiled_ms, unprofiled = values.get("profiled_ms_median"), values.get("unprofiled_ms_median")
    if is_number(slowdown) and is_number(profiled_ms) and is_number(unprofiled):
        text += (
            f"; their median {format_number(profiled_ms)} ms against {format_number(unprofiled)} "
            f"ms unprofiled: the profiler slowed the step {slowdown:.2f}×"
        )
    return text + ")."


def group_rows(record: Record) -> list[dict]:
    """Per group: {"group", "ms", "time_share", "mac_share", "tflops", "mfu"}; the FLOP groups by
    MAC share, largest first, then the parts that are no group. Empty when the record has no split
    (a compiled cell)."""
    values = record.values
    times = values.get("time_ms_by_group")
    if not isinstance(times, dict):
        return []
    shares = values.get("time_share_by_group") or {}
    macs = values.get("mac_share_by_group") or {}
    tflops = values.get("achieved_tflops_by_group") or {}
    mfu = values.get("mfu_by_group") or {}
    groups = sorted(macs, key=lambda g: -macs[g])
    groups += sorted(g for g in times if g not in macs and g not in NOT_GROUPS)
    groups += [g for g in NOT_GROUPS if g in times]
    return [
        {
            "group": g,
            "ms": times.get(g, 0.0),
            "time_share": shares.get(g, 0.0),
            "mac_share": macs.get(g),
            "tflops": tflops.get(g),
            "mfu": mfu.get(g),
        }
        for g in groups
    ]


def group_table(record: Record) -> Table:
    table = Table(header=GROUP_HEADER)
    for row in group_rows(record):
        gflops = None if row["tflops"] is None else row["tflops"] * 1e3
        table.rows.append(
            (
                row["group"],
                format_number(row["ms"]),
                format_percent(row["time_share"]),
                format_percent(row["mac_share"]),
                format_number(gflops),
                format_percent(row["mfu"]),
            )
        )
        table.records.append(row)
    if not table.rows:
        reason = record.details.get("time_ms_by_group_reason", "no split recorded")
        table.notes.append(f"No time per group: {reason}.")
    return table


def ops_table(record: Record, top: int = TOP_OPS_SHOWN, key: str = "top_ops") -> Table:
    """The operators with the most self time (`key="top_kernels"`: the CUDA kernels)."""
    table = Table(header=(KERNELS_HEADER if key == "top_kernels" else OPS_HEADER))
    from bench.profiling.ops import is_annotation  # no torch at import

    ops = record.values.get(key)
    kept = [(name, row) for name, row in (ops.items() if isinstance(ops, dict) else ())]
    # Profiles taken before annotations were left out (the H200's 'Optimizer.step#AdamW.step',
    # a span over its kernels counted as one) drop them here.
    kept = [(name, row) for name, row in kept if not is_annotation(name)]
    for name, row in kept[:top]:
        flops = row.get("flops")
        table.rows.append(
            (
                name,
                format_number(row.get("self_ms")),
                format_number(row.get("calls")),
                format_percent(row.get("share")),
                format_number(None if flops is None else flops * 1e-9),
            )
        )
        table.records.append({"op": name, **row})
    return table


def idle_text(record: Record) -> str:
    """The device's longest idle gaps (CUDA), or why there are none."""
    gaps = record.values.get("idle_gaps")
    if isinstance(gaps, list) and gaps:
        listed = "; ".join(
            f"{gap['gap_ms']:.3g} ms after {gap['after']} before {gap['before']}"
            for gap in gaps[:3]
        )
        return f"Longest device idle gaps: {listed}."
    reason = record.details.get("idle_gaps_reason")
    return f"Device idle gaps: none listed ({reason})." if reason else ""


def summary_text(record: Record) -> str:
    """What `rinbench profile` prints: the headline, the group table, the top operators and where
    the trace went, as aligned plain text."""
    parts = [headline(record)]
    groups = group_table(record)
    parts.append(_aligned(groups.header, groups.rows) if groups.rows else groups.notes[0])
    for key, title in (("top_ops", "operators"), ("top_kernels", "kernels")):
        ops = ops_table(record, key=key)
        if ops.rows:
            parts.append(f"Top {title} by self time:\n" + _aligned(ops.header, ops.rows))
    idle = idle_text(record)
    if idle:
        parts.append(idle)
    trace = record.details.get("trace_file")
    if trace:
        size = record.values.get("trace_bytes")
        kib = f" ({size / 1024:,.0f} KiB)" if is_number(size) else ""
        parts.append(f"Trace: {trace}{kib}; open it in ui.perfetto.dev or chrome://tracing.")
    snapshot = record.details.get("memory_snapshot")
    if snapshot:
        parts.append(f"Memory snapshot: {snapshot}; open it in pytorch.org/memory_viz.")
    return "\n\n".join(parts) + "\n"


def _aligned(header, rows) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for row in (header, *rows):
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


# --- the figure --------------------------------------------------------------------------------


def time_vs_macs(records: list[Record]):
    """Time share against MAC share per group, a panel per family (profile records with a split).
    Raises reports.figures.Skip when there is none."""
    import seaborn as sns
    from matplotlib.figure import Figure as MplFigure

    from reports.figures import Skip

    split = [r for r in records if group_rows(r)]
    if not split:
        raise Skip("needs profile records with time per group (rinbench profile, eager mode)")
    families = sorted({_family(r) for r in split})
    heights = [1.0 + 0.75 * sum(_family(r) == f for r in split) for f in families]
    figure = MplFigure(figsize=(8.5, sum(heights) + 0.6), layout="constrained")
    panels = figure.subplots(len(families), 1, squeeze=False, height_ratios=heights)[:, 0]
    for axes, family in zip(panels, families, strict=True):
        chosen = [r for r in split if _family(r) == family]
        groups = list(dict.fromkeys(row["group"] for r in chosen for row in group_rows(r)))
        named = [g for g in groups if g not in NOT_GROUPS]
        colors = dict(zip(named, sns.color_palette("deep", len(named)), strict=True))
        colors |= {g: GREYS[g] for g in groups if g in NOT_GROUPS}
        _share_bars(axes, chosen, groups, colors)
        axes.set_title(family, loc="left", fontsize="medium")
    panels[-1].set_xlabel("share of the step (%): time above, MACs below")
    figure.suptitle("Where the time goes: time share against MAC share per FLOP group")
    return figure


def _share_bars(axes, chosen: list[Record], groups: list[str], colors: dict) -> None:
    labels, y = [], 0.0
    for record in chosen:
        rows = {row["group"]: row for row in group_rows(record)}
        for kind, offset in (("time_share", 0.0), ("mac_share", 0.38)):
            left = 0.0
            for group in groups:
                share = 100 * ((rows.get(group) or {}).get(kind) or 0.0)
                if share > 0:
                    seen = group in axes.get_legend_handles_labels()[1]
                    axes.barh(
                        y + offset,
                        share,
                        0.34,
                        left=left,
                        color=colors[group],
                        label=None if seen else group,
                    )
                    left += share
        labels.append(
            (
                y + 0.19,
                f"{record.cell.preset} @{record.cell.resolution}\n"
                f"{profiled(record.cell.phase)} {selection.device_label(record)}",
            )
        )
        y += 1.0
    axes.set_yticks([pos for pos, _ in labels], [text for _, text in labels], fontsize="small")
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")


# --- the section --------------------------------------------------------------------------------


@dataclass
class ProfiledCell:
    record: Record
    headline: str
    groups: Table
    ops: Table
    kernels: Table  # CUDA only; empty elsewhere
    idle: str


@dataclass
class Section:
    """The report's "Where the time goes": one entry per profiled cell, and the figure
    (a reports.figures.Figure, drawn or skipped with its reason)."""

    cells: list[ProfiledCell] = field(default_factory=list)
    figure: object | None = None

    def markdown(self, figure_dir: str = "figures") -> str:
        parts = [f"## {TITLE}"]
        if not self.cells:
            return f"{parts[0]}\n\n_{NO_PROFILES}_\n"
        parts.append(INTRO)
        figure = self.figure
        if figure is not None and not figure.skipped:
            parts += [f"![{figure.title}]({figure_dir}/{figure.name}.png)", figure.caption]
        for cell in self.cells:
            parts += [f"### {cell.record.cell.id}", cell.headline]
            parts.append(
                cell.groups.markdown().rstrip() if cell.groups.rows else cell.groups.notes[0]
            )
            if cell.ops.rows:
                parts += ["Top operators by self time:", cell.ops.markdown().rstrip()]
            if cell.kernels.rows:
                parts += ["Top kernels by time:", cell.kernels.markdown().rstrip()]
            if cell.idle:
                parts.append(cell.idle)
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        parts = ['<section id="profile">', f"<h2>{escape(TITLE)}</h2>"]
        if not self.cells:
            parts += [f'<p class="skipped">{escape(NO_PROFILES)}</p>', "</section>"]
            return "\n".join(parts) + "\n"
        parts.append(f"<p>{escape(INTRO)}</p>")
        figure = self.figure
        if figure is not None and not figure.skipped:
            data = base64.b64encode(figure.png).decode("ascii")
            parts.append(
                f'<figure><img id="fig-{escape(figure.name)}" alt="{escape(figure.title)}" '
                f'src="data:image/png;base64,{data}">'
                f"<figcaption>{escape(figure.caption)}</figcaption></figure>"
            )
        for cell in self.cells:
            parts += [f"<h3>{escape(cell.record.cell.id)}</h3>", f"<p>{escape(cell.headline)}</p>"]
            if cell.groups.rows:
                parts.append(cell.groups.html(f"profile-groups-{cell.record.cell.id}"))
            else:
                parts.append(f'<p class="skipped">{escape(cell.groups.notes[0])}</p>')
            if cell.ops.rows:
                parts += ["<p>Top operators by self time:</p>", cell.ops.html()]
            if cell.kernels.rows:
                parts += ["<p>Top kernels by time:</p>", cell.kernels.html()]
            if cell.idle:
                parts.append(f"<p>{escape(cell.idle)}</p>")
        parts.append("</section>")
        return "\n".join(parts) + "\n"


NO_PROFILES = (
    "No profile records: `rinbench profile PRESET` profiles a cell, and a suite with "
    "`profile = true` in its settings profiles each timed cell."
)
FIGURE_NAME = "time_vs_macs"


def section(records: Iterable[Record], *, with_figure: bool = True) -> Section:
    """The section from any records (profile records are picked out)."""
    from reports.figures import Figure, Skip, to_png, to_svg

    chosen = profile_records(records)
    cells = [
        ProfiledCell(
            r,
            headline(r),
            group_table(r),
            ops_table(r),
            ops_table(r, key="top_kernels"),
            idle_text(r),
        )
        for r in chosen
    ]
    figure = None
    if with_figure and cells:
        title = "Time share against MAC share per group"
        try:
            drawn = time_vs_macs(chosen)
        except Skip as skip:
            figure = Figure(FIGURE_NAME, title, FIGURE_CAPTION, skipped=str(skip))
        else:
            figure = Figure(
                FIGURE_NAME, title, FIGURE_CAPTION, png=to_png(drawn), svg=to_svg(drawn)
            )
    return Section(cells, figure)
