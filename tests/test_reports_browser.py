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
