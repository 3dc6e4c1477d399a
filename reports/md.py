"""The report in Markdown: the whole page (figures as links) and the short summary that
`rinbench run` and `rinbench report` print."""

from __future__ import annotations

from reports import peers, tables, verdicts
from reports.report import Report


def summary(report: Report, *, details: str = "") -> str:
    """Title, provenance, the results table, its notes and legend, and the claims tally."""
    parts = [f"# {report.title}", report.provenance, _results(report)]
    if report.table.notes:
        parts.append(_notes(report.table.notes))
    parts.append(tables.LEGEND)
    if report.verdicts:
        where = f" ({details})" if details else ""
        tallies = "; ".join(verdicts.group_tallies(report.verdicts))
        parts.append(f"Claims: {tallies}{where}.")
    return "\n\n".join(parts) + "\n"


def _results(report: Report) -> str:
    """The results table, or why there is none (records that are all profiles, say)."""
    return report.table.markdown().rstrip() if report.table.rows else f"_{tables.NO_RESULTS}_"


def page(report: Report, figure_dir: str = "figures") -> str:
    """The whole report; figures as links to `figure_dir`/NAME.png. The paper's main claim comes
    first, with the tally of each group of claims; the verdicts are at the end."""
    parts = [f"# {report.title}", report.provenance]
    if report.verdicts:
        parts += ["## The paper's main claim", verdicts.headline_markdown(report.verdicts)]
    parts += ["## Results", _results(report)]
    if report.table.notes:
        parts.append(_notes(report.table.notes))
    parts.append(tables.LEGEND)
    parts += [f"## {tables.EXPONENTS_TITLE}", _exponents(report)]
    parts.append("## Figures")
    for figure in report.figures:
        parts.append(f"### {figure.title}")
        if figure.skipped:
            parts.append(f"_Not drawn: {figure.skipped}._")
        else:
            parts += [f"![{figure.title}]({figure_dir}/{figure.name}.png)", figure.caption]
    parts.append(f"## {tables.HARDWARE_TITLE}")
    if report.hardware is None:
        parts.append(f"_{tables.NO_HARDWARE_COMPARISON}_")
    else:
        parts += [report.hardware.intro, report.hardware.markdown().rstrip()]
    if not report.peers.empty:
        parts += [f"## {peers.TITLE}", peers.markdown(report.peers)]
    parts.append(report.profile.markdown(figure_dir).rstrip())
    if report.verdicts:
        parts += ["## Claims", f"All claims: {report.tally_text()}."]
        parts.append(verdicts.markdown(report.verdicts, report.convention))
    return "\n\n".join(parts) + "\n"


def _exponents(report: Report) -> str:
    if report.exponents.empty:
        return f"_{tables.NO_EXPONENTS}_"
    table = tables.exponent_table(report.exponents).markdown()
    return f"{tables.EXPONENT_INTRO}\n\n{table.rstrip()}"


def _notes(notes: list[str]) -> str:
    return "Did not finish:\n\n" + _bullets(notes)


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)
