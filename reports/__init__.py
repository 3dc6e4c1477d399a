"""Reports from result files: paper-style tables, figures, claim verdicts and one HTML page.

Reads records through bench.results and never imports torch, so it runs on a machine without it:

    from reports import compose, read, write
    report = compose(read(["results/"]), title="rinbench paper")
    write(report, Path("results/report"))

Modules: load (records -> pandas), tables (results, verdicts, hardware; Markdown/LaTeX/CSV/HTML),
figures (seaborn, PNG + SVG), report (composition and files), html (the self-contained page).
"""

from reports.load import read
from reports.report import Report, compose, markdown, summary_markdown, write

__all__ = ["Report", "compose", "markdown", "read", "summary_markdown", "write"]
