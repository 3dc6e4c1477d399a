"""The claims in the order a reader needs them: the paper's main claim first (one line per panel of
its figure, the factor in MACs and in wall-clock), then each group of verdicts with its tally (the
RIN paper's own claims apart from the baselines' counting checks), then the caveats once per preset.
Text for `rinbench claims`, Markdown for the report; reports.html draws the same parts.
"""

from __future__ import annotations

from bench import claims as claims_module
from bench.claims import CANNOT_CHECK, Headline, Panel, Verdict
from reports import tables

HEADLINE_HEADER = ("Panel", "Claimed", "MACs", "Wall-clock")
NOT_TIMED = "not timed"
NOT_COUNTED = "not counted"


def headline_title(headline: Headline) -> str:
    """'The paper's main claim: RIN is up to 10x more efficient than .... Source: ...'."""
    claim = headline.claim
    return f"The paper's main claim: {claim.text}. Source: {claim.source}"


def rows(headline: Headline) -> list[Panel]:
    """The panels, then the claim over all of them."""
    return [*headline.panels, headline.overall]


def macs_text(panel: Panel, *, name_pair: bool = False) -> str:
    """'9.21×: holds at 1.39× the claimed 6.62×, on a reconstruction of ...' or 'not counted'."""
    verdict = panel.macs
    if verdict is None or verdict.status == CANNOT_CHECK:
        return NOT_COUNTED
    pair = f" ({verdict.pair[0]} / {verdict.pair[2]})" if name_pair and verdict.pair else ""
    return f"{verdict.measured:.2f}×{pair}: {verdict.phrase}"


def clock_text(panel: Panel) -> str:
    """'on H100 80GB HBM3 (bf16, b32, eager), forward: rin-in256 8.00× [7.81, 8.20] as fast as
    adm-in256: holds at 1.21× the claimed 6.62×', or 'not timed'. The presets the factor rests on are named
    when the MACs part has not named them already."""
    verdict = panel.clock
    if verdict is None:
        return NOT_TIMED
    where = f"on {verdict.timing.words}, {verdict.timing.phase}"
    if verdict.status == CANNOT_CHECK:
        text = f"{where}: cannot check ({verdict.detail})"
    else:
        base, _, rin, _ = verdict.pair
        said = panel.macs.standing if panel.macs is not None else ()
        phrase = claims_module.describe(verdict, standing=verdict.standing != said)
        factor = (
            verdict.interval.text(unit="×")
            if verdict.interval is not None
            else f"{verdict.measured:.2f}×"
        )
        text = f"{where}: {rin} {factor} as fast as {base}: {phrase}"
    others = sum(v.timing is not None for v in panel.clocks) - 1
    if others:
        text += f" (+{others} more timing{'s' if others > 1 else ''} in the verdicts)"
    return text


def headline_lines(headline: Headline) -> list[str]:
    """The headline as text: its title, then one line per panel and one for the whole claim."""
    lines = [headline_title(headline)]
    for panel in rows(headline):
        overall = panel is headline.overall
        lines.append(
            f"  {panel.label}: MACs {macs_text(panel, name_pair=overall)}; "
            f"wall-clock {clock_text(panel)}"
        )
    return lines


def headline_table(headline: Headline) -> tables.Table:
    """One row per panel and one for the whole claim: claimed, MACs, wall-clock."""
    table = tables.Table(header=HEADLINE_HEADER)
    for panel in rows(headline):
        overall = panel is headline.overall
        table.rows.append(
            (
                panel.label,
                tables.format_claim_value(panel.claim, panel.claim.reported),
                macs_text(panel, name_pair=overall),
                clock_text(panel),
            )
        )
    return table


def group_tallies(verdicts: list[Verdict]) -> list[str]:
    """'RIN paper: 8 hold, 10 fail, 13 cannot be checked', one line per group."""
    return [
        f"{name}: {claims_module.tally_text(members)}"
        for name, members in claims_module.grouped(verdicts).items()
    ]


def verdict_line(verdict: Verdict) -> str:
    """A verdict for the terminal: its word, claim, basis and phrase, the numbers, and the detail."""
    claim = verdict.claim
    numbers = f"reported {tables.format_claim_value(claim, claim.reported)}"
    if verdict.measured is not None:
        numbers += (
            f", measured {tables.measured_text(verdict)} (measured / reported {verdict.ratio:.3f})"
        )
    lines = [f"{verdict.status.upper():<13} {claim.id} [{verdict.basis}]: {numbers}"]
    if verdict.status != CANNOT_CHECK:
        lines.append(f"{'':<14}{verdict.phrase}")
    if verdict.detail:
        lines.append(f"{'':<14}{verdict.detail}")
    return "\n".join(lines)


def markdown(verdicts: list[Verdict], convention: list[str], *, level: int = 3) -> str:
    """The claims section's body: per group its tally and verdict table, the caveats once per
    preset, and the FLOP convention. `level`: the heading level of its parts."""
    head = "#" * level
    parts = []
    for name, members in claims_module.grouped(verdicts).items():
        parts.append(f"{head} {name}: {claims_module.tally_text(members)}")
        parts.append(tables.verdict_table(members).markdown().rstrip())
    caveats = claims_module.caveats(verdicts)
    if caveats:
        parts += [f"{head} Caveats, once per preset", bullets(caveats)]
    if convention:
        parts += [f"{head} FLOP convention", bullets(convention)]
    return "\n\n".join(parts)


def headline_markdown(verdicts: list[Verdict]) -> str:
    """The headline(s) as Markdown tables, then the tally of each group; '' without claims."""
    parts = []
    for headline in claims_module.headlines(verdicts):
        parts.append(f"**{headline.claim.text}.** Source: {headline.claim.source}.")
        parts.append(headline_table(headline).markdown().rstrip())
    tallies = group_tallies(verdicts)
    if tallies:
        parts.append(bullets(tallies))
    return "\n\n".join(parts)


def bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)
