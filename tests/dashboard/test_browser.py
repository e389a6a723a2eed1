"""The built dashboard in headless Chromium (Debian's package, driven by Playwright): served
from a local web server and opened from disk, every chart renders, the status cells are
there, the planted defect (invalid codes, whose rows staging quarantined) shows on the
overview and on its LA's page with its exact count, the console has no errors and nothing
is fetched from the network. Screenshots go to test-artifacts/."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from quality.dashboard import build_dashboard
from tests.conftest import REPO
from tests.dashboard.conftest import INVALID_ETHNICITY, QualityRun

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts"
OVERVIEW_CHARTS = {
    "overview-records",
    "overview-completeness",
    "overview-link-rate",
    "overview-quarantine-rate",
    "overview-validity-by-la",
}


@pytest.fixture(scope="module")
def site(quality_run: QualityRun) -> Path:
    saved = os.environ.get("NPD_HOME")
    os.environ["NPD_HOME"] = str(quality_run.settings.home)
    try:
        return build_dashboard(quality_run.settings).index.parent
    finally:
        if saved is None:
            os.environ.pop("NPD_HOME", None)
        else:
            os.environ["NPD_HOME"] = saved


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Visit:
    """One page load: console messages, page errors and every request it made."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.console: list[tuple[str, str]] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-charts-ready='true']", timeout=60_000)

    def charts(self) -> dict[str, str]:
        return self.page.eval_on_selector_all(
            "[data-chart]",
            "els => Object.fromEntries(els.map(e => [e.dataset.chart, e.dataset.rendered]))",
        )

    def errors(self) -> list[tuple[str, str]]:
        return [(t, text) for t, text in self.console if t in ("error", "pageerror")]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _statuses(visit: Visit) -> dict[tuple[str, str], str]:
    cells = visit.page.eval_on_selector_all(
        "table.status-table a.badge",
        "els => els.map(e => [e.dataset.feed, e.dataset.period, e.dataset.status])",
    )
    return {(feed, period): status for feed, period, status in cells}


def _quarantined(k: int) -> str:
    return f"{k} invalid codes, their rows quarantined and not loaded"


def test_overview_renders_every_chart_and_status_offline(
    browser, server: str, quality_run: QualityRun
) -> None:
    k = quality_run.planted[INVALID_ETHNICITY]
    visit = Visit(browser, f"{server}/index.html")
    charts = visit.charts()
    assert set(charts) == OVERVIEW_CHARTS
    assert all(state == "true" for state in charts.values()), charts
    assert visit.page.locator(".chart svg.marks").count() == len(OVERVIEW_CHARTS)
    statuses = _statuses(visit)
    assert statuses == {
        ("school_census", "2023/24 autumn"): "pass",
        ("school_census", "2023/24 spring"): "warning",
        ("school_census", "2023/24 summer"): "blocked",
        ("ks2", "2023/24"): "pass",
    }
    issues = visit.page.locator("#issue-school-census-2023-24-spring + ul").inner_text()
    planted = [line for line in issues.splitlines() if line.startswith("330 Birmingham")]
    assert len(planted) == 1 and planted[0].startswith("330 Birmingham: pupilonroll.ethnicity")
    assert planted[0].endswith(_quarantined(k))
    assert "352 Manchester: pupilonroll.language" in issues
    blocked = visit.page.locator("#issue-school-census-2023-24-summer + ul").inner_text()
    assert "pupilonroll" in blocked and "missing" in blocked
    # The defect shows in the LA heatmap as a cell below 99%.
    heatmap = visit.page.locator("[data-chart='overview-validity-by-la'] svg").inner_html()
    assert "330 Birmingham" in heatmap
    assert visit.errors() == []
    assert all(r.startswith(server) for r in visit.requests), visit.requests
    visit.screenshot("dashboard-overview.png")


def test_la_drill_down_shows_the_planted_defect(
    browser, server: str, quality_run: QualityRun
) -> None:
    k = quality_run.planted[INVALID_ETHNICITY]
    visit = Visit(browser, f"{server}/la-school-census-330.html")
    charts = visit.charts()
    assert {"la-records", "la-completeness-by-column", "la-validity-by-column"} <= set(charts)
    assert all(state == "true" for state in charts.values()), charts
    flags = visit.page.locator("#period-2023-24-spring + ul").inner_text()
    assert "pupilonroll.ethnicity" in flags and "valid ethnicity codes" in flags
    assert _quarantined(k) in flags
    # The invalid codes beside the rate: k quarantined, none loaded; and the same k rows
    # under their reason.
    invalid = visit.page.locator("h3:has-text('Invalid codes') + table tbody tr")
    assert invalid.count() == 1
    cells = invalid.first.locator("td").all_inner_texts()
    assert cells[:5] == ["pupilonroll.ethnicity", "2023/24 spring", "ethnicity", str(k), "0"]
    reasons = visit.page.locator("h3:has-text('Quarantined rows by reason') + table").inner_text()
    assert f"pupilonroll: ethnicity: not a known code\t{k}" in reasons
    assert visit.errors() == []
    visit.screenshot("dashboard-la-330.png")


def test_every_feed_page_renders(browser, server: str) -> None:
    for feed in ("school-census", "ks2"):
        visit = Visit(browser, f"{server}/feed-{feed}.html")
        charts = visit.charts()
        assert "feed-records" in charts and "feed-completeness-by-column" in charts
        assert all(state == "true" for state in charts.values()), (feed, charts)
        assert visit.errors() == []
        visit.screenshot(f"dashboard-feed-{feed}.png")


def test_the_folder_opens_from_disk(browser, site: Path) -> None:
    visit = Visit(browser, (site / "index.html").as_uri())
    assert set(visit.charts().values()) == {"true"}
    assert visit.errors() == []
    assert all(r.startswith("file://") or r.startswith("data:") for r in visit.requests)
