"""The report folder: every format of a composed report, each file replaced whole."""

from __future__ import annotations

from pathlib import Path

from reports import html, md, peers, tables
from reports.report import Report

# The legend's pointer to the failure reasons, which a LaTeX table carries as comments only.
IN_THE_NOTES, IN_THE_REPORT = "(reasons in the notes)", "(reasons in report.md)"


def _with_notes(latex: str, notes: list[str]) -> str:
    """The table, then the cells that did not finish as comment lines: kept beside the table for
    whoever edits it, out of the typeset page."""
    if not notes:
        return latex
    lines = "".join(f"% {' '.join(note.split())}\n" for note in notes)
    return f"{latex.rstrip()}\n% Did not finish:\n{lines}"


def write(report: Report, out_dir: Path) -> list[Path]:
    """Every format into `out_dir` (created): report.md, report.html, results.{csv,tex},
    claims.{csv,tex}, exponents.csv, hardware.{csv,tex} when there is a comparison, peers-{counts,timings}.csv
    when a peer was measured beside ours, and
    figures/NAME.{png,svg}. Returns the paths written."""
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes] = {
        "report.md": md.page(report),
        "report.html": html.page(report),
        "results.csv": report.table.csv(),
        "results.tex": _with_notes(
            report.table.latex(
                caption=f"{report.title}. {tables.LEGEND.replace(IN_THE_NOTES, IN_THE_REPORT)}",
                label="tab:rinbench",
            ),
            report.table.notes,
        ),
    }
    if report.verdicts:
        files["claims.csv"] = tables.verdict_table(report.verdicts).csv()
        files["claims.tex"] = tables.verdict_table(report.verdicts, compact=True).latex(
            caption="Published claims checked against the measurements", label="tab:claims"
        )
    files["exponents.csv"] = report.exponents.to_csv(index=False)
    if report.hardware is not None:
        files["hardware.csv"] = report.hardware.csv()
        files["hardware.tex"] = report.hardware.latex(
            caption=f"{tables.HARDWARE_TITLE}. {report.hardware.intro}", label="tab:hardware"
        )
    if not report.peers.empty:
        files["peers-counts.csv"] = peers.counts_table(report.peers).csv()
        files["peers-timings.csv"] = peers.timed_table(report.peers).csv()
    for figure in [*report.figures, report.profile.figure]:
        if figure is not None and figure.png is not None:
            files[f"figures/{figure.name}.png"] = figure.png
            files[f"figures/{figure.name}.svg"] = figure.svg
    return [write_atomic(out_dir / name, content) for name, content in files.items()]


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write to PATH.partial, then rename: a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    if isinstance(content, bytes):
        partial.write_bytes(content)
    else:
        partial.write_text(content, encoding="utf-8")
    partial.replace(path)
    return path
