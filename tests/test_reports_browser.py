"""The HTML report in a real browser: headless Chromium loads the page from disk, its DOM holds the
tables and the embedded figures, nothing from the records runs as markup, and the screenshot is
a rendered page. Skipped only where no Chromium is installed (Debian: apt-get install chromium)."""

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import reports
from bench import results
from reports import figures

DATA = Path(__file__).parent / "data"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)

pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium installed (Debian: apt-get install chromium); the HTML report is "
    "checked in a headless browser where one is",
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


class Elements(HTMLParser):
    """Every start tag of a document, with its attributes, and the text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    report = reports.compose(results.read(DATA / "results_small.jsonl"), title="browser check")
    reports.write(report, folder / "report")
    return folder, folder / "report" / "report.html"


def test_the_dom_holds_the_tables_and_every_figure(page, tmp_path):
    _, html_file = page
    dom = chromium(tmp_path, "--dump-dom", html_file.as_uri()).stdout.decode()
    elements = Elements()
    elements.feed(dom)
    tables = {attrs.get("id") for attrs in elements.all("table")}
    assert {"results", "claims", "exponents", "hardware"} <= tables
    images = elements.all("img")
    assert sorted(a["id"] for a in images) == sorted(f"fig-{name}" for name in figures.FIGURES)
    assert all(a["src"].startswith("data:image/png;base64,") for a in images)
    # The error message holding <script> is text in the browser, never an element.
    assert elements.all("script") == []
    text = "".join(elements.text)
    assert "RuntimeError: <script>alert('x')</script> & friends" in text
    assert "rin-in256" in text and "OOM" in text and "timeout" in text
    rows = elements.all("tr")
    assert len(rows) > 8


def test_the_screenshot_is_a_rendered_page(page, tmp_path):
    import numpy as np
    from matplotlib import image

    _, html_file = page
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,6000", html_file.as_uri())
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (6000, 1280)
    # Text, table borders and figures: a good share of the page is not background white.
    ink = (pixels[..., :3] < 0.9).any(axis=-1).mean()
    assert ink > 0.03, f"only {ink:.1%} of the screenshot is drawn"
    # Figures are colourful; text and tables are grey: a saturated pixel count shows the images.
    rgb = pixels[..., :3]
    saturated = (rgb.max(axis=-1) - rgb.min(axis=-1) > 0.3).mean()
    assert saturated > 0.005, f"only {saturated:.2%} of the screenshot is coloured"
    assert np.isfinite(pixels).all()


# --- the claims: the main claim first, one line per verdict, details folded --------------------

MAGENTA = "background: rgb(255, 0, 255) !important;"


def screenshot(tmp_path: Path, html_text: str, name: str, height: int):
    """The RGB pixels, (height, 1280, 3) in [0, 1], of a 1280 x `height` screenshot of the page."""
    from matplotlib import image

    page_file = tmp_path / f"{name}.html"
    page_file.write_text(html_text, encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    chromium(tmp_path, f"--screenshot={shot}", f"--window-size=1280,{height}", page_file.as_uri())
    return image.imread(shot)[..., :3]


def magenta_share(tmp_path: Path, html_text: str, name: str, height: int) -> float:
    """The share of magenta pixels in a 1280 x `height` screenshot of the page."""
    rgb = screenshot(tmp_path, html_text, name, height)
    magenta = (rgb[..., 0] > 0.95) & (rgb[..., 1] < 0.05) & (rgb[..., 2] > 0.95)
    return float(magenta.mean())


@pytest.fixture(scope="module")
def claims_page():
    """The HTML page of the small records without figures (short enough to screenshot whole)."""
    from reports import html

    report = reports.compose(
        results.read(DATA / "results_small.jsonl"), title="claims", with_figures=False
    )
    return html.page(report)


def with_style(page_html: str, css: str) -> str:
    return page_html.replace("</style>", f"{css}</style>", 1)


def test_the_main_claim_is_drawn_in_the_first_screen(claims_page, tmp_path):
    marked = with_style(claims_page, f"#headline {{ {MAGENTA} }}")
    assert magenta_share(tmp_path, marked, "headline", 800) > 0.05
    # The control: the results table is not in the first screen, the headline pushes it down.
    results_marked = with_style(claims_page, f"#results {{ {MAGENTA} }}")
    assert magenta_share(tmp_path, results_marked, "results", 800) < 0.01


def test_the_claims_table_folds_its_details_and_says_each_caveat_once(claims_page, tmp_path):
    dom_file = tmp_path / "dom.html"
    dom_file.write_text(claims_page, encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", dom_file.as_uri()).stdout.decode()
    elements = Elements()
    elements.feed(dom)
    order = [attrs.get("id") for _, attrs in elements.tags if attrs.get("id")]
    assert order.index("headline") < order.index("results") < order.index("claims")
    folded = elements.all("details")
    assert len(folded) == 73 and not any("open" in attrs for attrs in folded)
    text = "".join(elements.text)
    assert text.count("rin-in256 is reconstructed") == 1
    assert "RIN paper: 5 hold, 3 fail, 3 inconclusive, 24 cannot be checked" in text
    # Closed, the details draw nothing; opened, they do (the check can fail).
    css = f"#claims details p {{ {MAGENTA} }}"
    assert magenta_share(tmp_path, with_style(claims_page, css), "closed", 5000) == 0
    opened = with_style(claims_page, css).replace("<details>", "<details open>")
    assert magenta_share(tmp_path, opened, "opened", 5000) > 0.001


# --- where the time goes: the profile section ---------------------------------------------------


def test_the_profile_section_renders_its_tables_and_figure(tmp_path):
    from test_profile_cli import profile_record

    from reports import html

    records = [*results.read(DATA / "results_small.jsonl"), profile_record()]
    records.append(profile_record(preset="rin-in64"))
    page_html = html.page(reports.compose(records, title="profiles"))
    dom_file = tmp_path / "dom.html"
    dom_file.write_text(page_html, encoding="utf-8")
    elements = Elements()
    elements.feed(chromium(tmp_path, "--dump-dom", dom_file.as_uri()).stdout.decode())
    order = [attrs.get("id") for _, attrs in elements.tags if attrs.get("id")]
    assert order.index("hardware") < order.index("profile") < order.index("claims")
    groups = [a["id"] for a in elements.all("table") if a.get("id", "").startswith("profile-")]
    assert len(groups) == 2
    (figure,) = [a for a in elements.all("img") if a["id"] == "fig-time_vs_macs"]
    assert figure["src"].startswith("data:image/png;base64,")
    assert "Where the time goes" in "".join(elements.text)
    # Only the section drawn: its figure's coloured bars show in the screenshot.
    alone = with_style(page_html, "body > :not(#profile) { display: none !important; }")
    assert saturated_share(tmp_path, alone, "profile", 2000) > 0.005


def saturated_share(tmp_path: Path, html_text: str, name: str, height: int) -> float:
    """The share of coloured pixels (figures; text and tables are grey) in such a screenshot."""
    rgb = screenshot(tmp_path, html_text, name, height)
    return float((rgb.max(axis=-1) - rgb.min(axis=-1) > 0.3).mean())
