"""The report as one self-contained HTML page: no scripts, no external files or fonts; figures are
embedded as base64 PNG. Every string from the records goes through html.escape (cell ids, error
messages and preset sources are data, not markup). A Content-Security-Policy forbids loading
anything from outside the page.
"""

from __future__ import annotations

import base64
from html import escape

from bench import claims as claims_module
from reports import peers, tables, verdicts
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
td.inconclusive { color: #8a5a00; font-weight: 600; }
td.cannot { color: #6b6f76; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #4a5160; font-size: 13px; max-width: 60rem; }
.skipped { color: #6b6f76; font-style: italic; }
.tally { font-size: 1.05rem; font-weight: 600; }
.scroll { overflow-x: auto; }
#headline { background: #f4f7fb; border: 1px solid #c9d3e0; border-radius: 6px; padding: 0 1rem;
            margin-top: 1rem; }
#headline h2 { margin-top: 0.8rem; }
#headline-table td { font-weight: 400; }
#claims td { white-space: nowrap; }
#claims td.phrase, #claims td.basis { white-space: normal; min-width: 14rem; max-width: 34rem; }
#claims details[open] { white-space: normal; max-width: 34rem; }
#claims details p { margin: 0.3rem 0; }
#claims summary { cursor: pointer; }
#claims tr.group th { position: static; background: #e6ebf2; font-size: 14px; }
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
        parts += _headline(report)
    parts += _results(report) + _exponents(report) + _figures(report)
    parts.append(f'<h2 id="hardware-comparison">{escape(tables.HARDWARE_TITLE)}</h2>')
    if report.hardware is None:
        parts.append(f'<p class="skipped">{escape(tables.NO_HARDWARE_COMPARISON)}</p>')
    else:
        parts.append(f"<p>{escape(report.hardware.intro)}</p>")
        parts.append(_scroll(report.hardware.html("hardware")))
    if not report.peers.empty:
        parts += _peers(report)
    parts.append(report.profile.html())
    if report.verdicts:
        parts += _claims(report)
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _peers(report: Report) -> list[str]:
    """Ours beside each public implementation: the counts, then the timings."""
    parts = [f'<h2 id="peers">{escape(peers.TITLE)}</h2>', f"<p>{escape(peers.INTRO)}</p>"]
    parts.append(_scroll(peers.counts_table(report.peers).html("peer-counts")))
    if report.peers.timed:
        parts.append(_scroll(peers.timed_table(report.peers).html("peer-timings")))
    return parts


def _headline(report: Report) -> list[str]:
    """The paper's main claim, one row per panel (MACs and wall-clock), and each group's tally."""
    parts = ['<section id="headline">', "<h2>The paper's main claim</h2>"]
    for headline in claims_module.headlines(report.verdicts):
        claim = headline.claim
        parts.append(
            f"<p><strong>{escape(claim.text)}.</strong> Source: {escape(claim.source)}.</p>"
        )
        parts.append(_scroll(headline_table(headline)))
    parts.append('<ul class="tally" id="tallies">')
    parts += [f"<li>{escape(line)}</li>" for line in verdicts.group_tallies(report.verdicts)]
    parts += ["</ul>", "</section>"]
    return parts


def headline_table(headline) -> str:
    """reports.verdicts.headline_table with each verdict's cell coloured by its status."""
    table = verdicts.headline_table(headline)
    lines = ['<table id="headline-table">', "<thead><tr>"]
    lines.append("".join(f"<th>{escape(h)}</th>" for h in table.header) + "</tr></thead><tbody>")
    for panel, row in zip(verdicts.rows(headline), table.rows, strict=True):
        label, claimed, macs, clock = (escape(text) for text in row)
        lines.append(
            f'<tr><td>{label}</td><td class="num">{claimed}</td>'
            f"<td{_status_class(panel.macs)}>{macs}</td>"
            f"<td{_status_class(panel.clock)}>{clock}</td></tr>"
        )
    lines.append("</tbody></table>")
    return "\n".join(lines) + "\n"


def _status_class(verdict) -> str:
    return "" if verdict is None else f' class="{tables.STATUS_CLASSES[verdict.status]}"'


def _claims(report: Report) -> list[str]:
    """The verdicts, one line each with their details folded, the caveats once per preset, and
    the FLOP convention."""
    parts = ["<h2>Claims</h2>", f"<p>All claims: {escape(report.tally_text())}.</p>"]
    parts += ["<h3>Verdicts</h3>", _scroll(claims_table(report.verdicts))]
    caveats = claims_module.caveats(report.verdicts)
    if caveats:
        parts += ["<h3>Caveats, once per preset</h3>", _list(caveats, "caveats")]
    parts += ["<h3>FLOP convention</h3>", _list(report.convention, "convention")]
    return parts


CLAIMS_HEADER = ("Claim", "Basis", "Claimed", "Measured", "Verdict")


def claims_table(found: list) -> str:
    """One row per verdict, grouped (the RIN paper's, then the baselines' checks, each headed by
    its tally): claim id, basis, claimed, measured and the verdict in words. The claim id opens a
    closed <details> with the claim in full, how it was measured, its source and note."""
    lines = ['<table id="claims">', "<thead><tr>"]
    lines.append("".join(f"<th>{escape(h)}</th>" for h in CLAIMS_HEADER) + "</tr></thead><tbody>")
    for name, members in claims_module.grouped(found).items():
        tally = f"{name}: {claims_module.tally_text(members)}"
        lines.append(
            f'<tr class="group"><th colspan="{len(CLAIMS_HEADER)}">{escape(tally)}</th></tr>'
        )
        lines += [_claim_row(verdict) for verdict in members]
    lines.append("</tbody></table>")
    return "\n".join(lines) + "\n"


def _claim_row(verdict) -> str:
    claim = verdict.claim
    status = tables.STATUS_CLASSES[verdict.status]
    folded = [claim.text, verdict.detail, f"Source: {claim.source}"]
    if claim.note:
        folded.append(f"Note: {claim.note}")
    details = "".join(f"<p>{escape(text)}</p>" for text in folded if text)
    cells = [
        f"<td><details><summary>{escape(claim.id)}</summary>{details}</details></td>",
        f'<td class="basis">{escape(verdict.basis)}</td>',
        f'<td class="num">{escape(tables.format_claim_value(claim, claim.reported))}</td>',
        f'<td class="num">{escape(tables.measured_text(verdict))}</td>',  # with its interval
        f'<td class="phrase {status}">{escape(verdict.phrase)}</td>',
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _results(report: Report) -> list[str]:
    if not report.table.rows:
        return ["<h2>Results</h2>", f'<p class="skipped">{escape(tables.NO_RESULTS)}</p>']
    parts = ["<h2>Results</h2>", _scroll(report.table.html("results"))]
    if report.table.notes:
        parts.append("<p>Did not finish:</p>" + _list(report.table.notes, "notes"))
    parts.append(f"<p>{escape(tables.LEGEND)}</p>")
    return parts


def _exponents(report: Report) -> list[str]:
    if report.exponents.empty:
        return [
            f"<h2>{tables.EXPONENTS_TITLE}</h2>",
            f'<p class="skipped">{escape(tables.NO_EXPONENTS)}</p>',
        ]
    return [
        f"<h2>{tables.EXPONENTS_TITLE}</h2>",
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
