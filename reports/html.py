"""The report as one self-contained HTML page: no scripts, no external files or fonts; figures are
embedded as base64 PNG. Every string from the records goes through html.escape (cell ids, error
messages and preset sources are data, not markup). A Content-Security-Policy forbids loading
anything from outside the page.
"""

from __future__ import annotations

import base64
from html import escape

from reports import tables
from reports.report import Report

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 78rem; padding: 0 1rem;
       color: #1d2330; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d5d9e0; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 13px; }
th, td { border: 1px solid #d5d9e0; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f1f3f6; position: sticky; top: 0; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.failed { color: #a11; font-weight: 600; }
td.holds { color: #176b2c; font-weight: 600; }
td.fails { color: #a11; font-weight: 600; }
td.cannot { color: #6b6f76; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #4a5160; font-size: 13px; max-width: 60rem; }
.skipped { color: #6b6f76; font-style: italic; }
.tally { font-size: 1.05rem; font-weight: 600; }
.scroll { overflow-x: auto; }
"""
# Nothing may load from outside the page: images only from data: URIs, styles only inline.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def page(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p id="provenance">{escape(report.provenance)}</p>',
    ]
    if report.verdicts:
        parts.append(f'<p class="tally">Claims: {escape(report.tally_text())}.</p>')
    parts += _results(report) + _exponents(report) + _figures(report)
    parts.append("<h2>Hardware comparison</h2>")
    if report.hardware is None:
        parts.append('<p class="skipped">None: no timed cell ran on two or more machines.</p>')
    else:
        parts.append(_scroll(report.hardware.html("hardware")))
    if report.verdicts:
        parts += ["<h2>Claims</h2>", "<h3>FLOP convention</h3>"]
        parts.append(_list(report.convention, "convention"))
        parts += [
            "<h3>Verdicts</h3>",
            _scroll(tables.verdict_table(report.verdicts).html("claims")),
        ]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _results(report: Report) -> list[str]:
    parts = ["<h2>Results</h2>", _scroll(report.table.html("results"))]
    if report.table.notes:
        parts.append("<p>Did not finish:</p>" + _list(report.table.notes, "notes"))
    parts.append(f"<p>{escape(tables.LEGEND)}</p>")
    return parts


def _exponents(report: Report) -> list[str]:
    if report.exponents.empty:
        return [
            "<h2>Cost vs resolution</h2>",
            f'<p class="skipped">{escape(tables.NO_EXPONENTS)}</p>',
        ]
    return [
        "<h2>Cost vs resolution</h2>",
        f"<p>{escape(tables.EXPONENT_INTRO)}</p>",
        tables.exponent_table(report.exponents).html("exponents"),
    ]


def _figures(report: Report) -> list[str]:
    """Each figure as an embedded PNG with its caption, or the reason it was not drawn."""
    parts = ["<h2>Figures</h2>"]
    for figure in report.figures:
        parts.append(f'<h3 id="{escape(figure.name)}">{escape(figure.title)}</h3>')
        if figure.skipped:
            parts.append(f'<p class="skipped">Not drawn: {escape(figure.skipped)}.</p>')
            continue
        data = base64.b64encode(figure.png).decode("ascii")
        parts.append(
            f'<figure><img id="fig-{escape(figure.name)}" alt="{escape(figure.title)}" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(figure.caption)}</figcaption></figure>"
        )
    return parts


def _scroll(inner: str) -> str:
    return f'<div class="scroll">{inner}</div>'


def _list(lines: list[str], list_id: str) -> str:
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<ul id="{escape(list_id)}">{items}</ul>'
