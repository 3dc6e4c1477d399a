"""Reports from result files: paper-style tables, figures, claim verdicts and one HTML page.

Reads `bench.record.Record`s (from bench.results.read) and never imports torch, so it runs on a
machine without it:

    from bench import results
    from reports import compose, write
    report = compose(results.read(["results/"]), title="rinbench paper")
    write(report, Path("results/report"))

Modules, each importing only those before it: load (records -> pandas), tables (results, verdicts,
hardware, exponents; Markdown/LaTeX/CSV/HTML), figures (seaborn, PNG + SVG), report (the Report,
composed once), md and html (the report as Markdown and as one self-contained page), files (the
report folder).
"""

from reports.files import write
from reports.md import page as markdown
from reports.md import summary as summary_markdown
from reports.report import Report, compose

__all__ = ["Report", "compose", "markdown", "summary_markdown", "write"]
