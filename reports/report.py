"""One report from result records: the results table, claim verdicts with the FLOP convention,
cost exponents, figures and the hardware comparison, written as Markdown, LaTeX, CSV, PNG/SVG and
one self-contained HTML page.

    report = compose(records, title="rinbench paper")
    write(report, Path("results/paper/report"))     # every file; returns their paths
    summary_markdown(report)                        # the short version `rinbench run` prints
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import claims as claims_module
from reports import figures as figures_module
from reports import load, tables

DEFAULT_CLAIMS = "rin_paper"


@dataclass
class Report:
    title: str
    records: list[dict]
    frame: pd.DataFrame
    table: tables.Table
    verdicts: list[claims_module.Verdict]
    convention: list[str]  # the FLOP-convention findings, in sentences
    exponents: pd.DataFrame
    hardware: tables.Table | None
    figures: list[figures_module.Figure]

    @property
    def runs(self) -> list[str]:
        return sorted({r["run"]["id"] for r in self.records})

    @property
    def provenance(self) -> str:
        """'88 records from run 2026...-vm-cpu-b7585b3 (CPU AMD EPYC).'"""
        runs = self.runs
        if not runs:
            return "No records."
        machines = sorted(self.frame["hardware"].unique()) if not self.frame.empty else []
        where = f" ({', '.join(machines)})" if machines else ""
        plural = "s" if len(runs) > 1 else ""
        return f"{len(self.records)} records from run{plural} {', '.join(runs)}{where}."

    def tally_text(self) -> str:
        counts = claims_module.tally(self.verdicts)
        return (
            f"{counts[claims_module.HOLDS]} hold, {counts[claims_module.FAILS]} fail, "
            f"{counts[claims_module.CANNOT_CHECK]} cannot be checked"
        )


def compose(
    records: list[dict],
    *,
    title: str = "rinbench results",
    claims: str | os.PathLike | list[claims_module.Claim] | None = DEFAULT_CLAIMS,
    with_figures: bool = True,
) -> Report:
    """Everything a report shows, computed once. `claims`: a built-in claims file's name, a path,
    a list of claims, or None for no claims section."""
    records = load.upgrade(records)
    frame = load.frame(records)
    claim_list = (
        [] if claims is None else claims if isinstance(claims, list) else claims_module.load(claims)
    )
    fits = claims_module.convention_fits(claim_list, records)
    return Report(
        title=title,
        records=records,
        frame=frame,
        table=tables.results_table(frame),
        verdicts=claims_module.evaluate(claim_list, records),
        convention=claims_module.convention_summary(fits, claim_list) if claim_list else [],
        exponents=figures_module.cost_exponents(frame),
        hardware=tables.hardware_table(frame),
        figures=figures_module.render_all(frame) if with_figures else [],
    )


# --- Markdown ------------------------------------------------------------------------------------


def summary_markdown(report: Report, *, details: str = "") -> str:
    """Title, provenance, the results table, its notes and legend, and the claims tally."""
    parts = [f"# {report.title}", report.provenance, report.table.markdown().rstrip()]
    if report.table.notes:
        parts.append(_notes(report.table.notes))
    parts.append(tables.LEGEND)
    if report.verdicts:
        where = f" ({details})" if details else ""
        parts.append(f"Claims: {report.tally_text()}{where}.")
    return "\n\n".join(parts) + "\n"


def markdown(report: Report, figure_dir: str = "figures") -> str:
    """The whole report; figures as links to `figure_dir`/NAME.png."""
    parts = [f"# {report.title}", report.provenance]
    if report.verdicts:
        parts.append(f"Claims: {report.tally_text()} (the verdicts are at the end).")
    parts += ["## Results", report.table.markdown().rstrip()]
    if report.table.notes:
        parts.append(_notes(report.table.notes))
    parts.append(tables.LEGEND)
    parts += ["## Cost vs resolution", exponent_markdown(report.exponents)]
    parts.append("## Figures")
    for figure in report.figures:
        parts.append(f"### {figure.title}")
        if figure.skipped:
            parts.append(f"_Not drawn: {figure.skipped}._")
        else:
            parts += [f"![{figure.title}]({figure_dir}/{figure.name}.png)", figure.caption]
    parts.append("## Hardware comparison")
    if report.hardware is None:
        parts.append("_None: no timed cell ran on two or more machines._")
    else:
        parts.append(report.hardware.markdown().rstrip())
    if report.verdicts:
        parts += ["## Claims", f"{report.tally_text()}."]
        parts += ["### FLOP convention", _bullets(report.convention)]
        parts += ["### Verdicts", tables.verdict_table(report.verdicts).markdown().rstrip()]
    return "\n\n".join(parts) + "\n"


EXPONENT_HEADER = ("Model", "Family", "Resolutions", "k (all)", "k (two largest)")
EXPONENT_INTRO = "Fitted exponent k of forward MACs ∝ resolution^k (least squares on log-log axes)."
NO_EXPONENTS = "No preset was counted at two or more resolutions."


def exponent_rows(exponents: pd.DataFrame) -> list[tuple[str, ...]]:
    return [
        (r.preset, r.family, r.resolutions, f"{r.exponent:.2f}", f"{r.exponent_top:.2f}")
        for r in exponents.itertuples()
    ]


def exponent_markdown(exponents: pd.DataFrame) -> str:
    if exponents.empty:
        return f"_{NO_EXPONENTS}_"
    table = tables.markdown_table(EXPONENT_HEADER, exponent_rows(exponents))
    return f"{EXPONENT_INTRO}\n\n{table.rstrip()}"


def _notes(notes: list[str]) -> str:
    return "Did not finish:\n\n" + _bullets(notes)


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


# --- files ---------------------------------------------------------------------------------------


def write(report: Report, out_dir: Path) -> list[Path]:
    """Every format into `out_dir` (created): report.md, report.html, results.{csv,tex},
    claims.{csv,tex}, exponents.csv, hardware.{csv,tex} when there is a comparison, and
    figures/NAME.{png,svg}. Each file is replaced whole. Returns the paths written."""
    from reports import html

    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, content: str | bytes) -> None:
        written.append(write_atomic(out_dir / name, content))

    put("report.md", markdown(report))
    put("report.html", html.page(report))
    put("results.csv", report.table.csv())
    put(
        "results.tex",
        report.table.latex(caption=f"{report.title}. {tables.LEGEND}", label="tab:rinbench"),
    )
    if report.verdicts:
        verdicts = tables.verdict_table(report.verdicts)
        put("claims.csv", verdicts.csv())
        put(
            "claims.tex",
            tables.verdict_table(report.verdicts, compact=True).latex(
                caption="Published claims checked against the measurements", label="tab:claims"
            ),
        )
    put("exponents.csv", report.exponents.to_csv(index=False))
    if report.hardware is not None:
        put("hardware.csv", report.hardware.csv())
        put("hardware.tex", report.hardware.latex(caption="Images per second per machine"))
    for figure in report.figures:
        if figure.png is not None:
            put(f"figures/{figure.name}.png", figure.png)
            put(f"figures/{figure.name}.svg", figure.svg)
    return written


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write to PATH.partial, then rename: a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    if isinstance(content, bytes):
        partial.write_bytes(content)
    else:
        partial.write_text(content, encoding="utf-8")
    partial.replace(path)
    return path
