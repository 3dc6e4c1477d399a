"""One report from result records, computed once: the results table, claim verdicts with the FLOP
convention (the paper's main claim first: reports.verdicts), cost exponents, figures and the
hardware comparison, and ours beside the public implementations (reports.peers). Rendered by reports.md (Markdown) and reports.html (one self-contained page);
reports.files writes every format.

    report = compose(records, title="rinbench paper")    # records: bench.results.read(paths)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from bench import claims as claims_module
from bench import versus
from bench.cell import PROFILE_PHASES
from bench.record import Record
from reports import convention, load, tables, where_time_goes
from reports import figures as figures_module

DEFAULT_CLAIMS = "rin_paper"


@dataclass
class Report:
    title: str
    records: list[Record]
    frame: pd.DataFrame
    table: tables.Table
    verdicts: list[claims_module.Verdict]
    convention: list[str]  # the FLOP-convention findings, in sentences
    exponents: pd.DataFrame
    hardware: tables.Table | None
    figures: list[figures_module.Figure]
    profile: where_time_goes.Section  # "Where the time goes", from the profile records
    peers: versus.SideBySide  # "Against the public implementations": ours beside each peer

    @property
    def runs(self) -> list[str]:
        return sorted({record.run.id for record in self.records})

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
        """Over all claims: '41 hold, 10 fail, 18 cannot be checked' (reports.verdicts.group_tallies
        gives it per group, the headline's way)."""
        return claims_module.tally_text(self.verdicts)


def compose(
    records: list[Record],
    *,
    title: str = "rinbench results",
    claims: str | os.PathLike | list[claims_module.Claim] | None = DEFAULT_CLAIMS,
    with_figures: bool = True,
) -> Report:
    """Everything a report shows, computed once. `claims`: a built-in claims file's name, a path,
    a list of claims, or None for no claims section."""
    records = list(records)
    # Profiles are no timings: the tables, figures and claims read the other records, and the
    # profile records have a section of their own.
    timed_and_counted = [r for r in records if r.cell.phase not in PROFILE_PHASES]
    frame = load.frame(timed_and_counted)
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
        convention=convention.convention_summary(fits, claim_list) if claim_list else [],
        exponents=figures_module.cost_exponents(frame),
        hardware=tables.hardware_table(frame),
        figures=figures_module.render_all(frame) if with_figures else [],
        profile=where_time_goes.section(records, with_figure=with_figures),
        peers=versus.side_by_side(timed_and_counted, versus.peer_pairs(timed_and_counted)),
    )
