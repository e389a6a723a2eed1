"""Build the static dashboard: var/reports/dashboard/index.html and its pages.

One self-contained folder (pages, CSS, the vendored Vega JS and every chart's data
inline), so it opens from disk or any web server with no network. It is written to a
sibling folder and swapped in whole, so a reader never sees half a build.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from core.config import Settings
from governance.disclosure import DisclosurePolicy
from quality.flags import FlagPolicy
from quality.pages import Links, feed_file, feed_page, la_file, la_page, overview
from quality.read import read_quality
from quality.store import catch_up
from quality.view import DashboardView

log = logging.getLogger(__name__)

DATA_DOCS = Path("uncommitted") / "data_docs" / "local_site" / "index.html"


@dataclass(frozen=True)
class DashboardResult:
    index: Path
    pages: int
    measured: int  # partitions measured to catch up before building
    statuses: dict[str, int]  # status -> periods


def dashboard_dir(settings: Settings) -> Path:
    return settings.reports_dir / "dashboard"


def linkage_report(settings: Settings) -> Path:
    return settings.reports_dir / "linkage" / "index.html"


def _relative(target: Path, folder: Path) -> str | None:
    if not target.exists():
        return None
    return Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix()


def _copy_static(out: Path) -> None:
    static = resources.files("quality").joinpath("static")
    with resources.as_file(static) as source:
        shutil.copytree(source, out / "static")


def build_dashboard(
    settings: Settings | None = None,
    policy: DisclosurePolicy | None = None,
    flag_policy: FlagPolicy | None = None,
    refresh: bool = True,
) -> DashboardResult:
    """Measure any partition not yet measured (refresh), then write the whole site."""
    settings = settings or Settings.from_env()
    settings.ensure_dirs()
    measured = catch_up(settings) if refresh else []
    view = DashboardView.build(read_quality(settings), policy, flag_policy)
    out = dashboard_dir(settings)
    building = out.with_name(out.name + ".building")
    if building.exists():
        shutil.rmtree(building)
    building.mkdir(parents=True)
    links = Links(
        data_docs=_relative(settings.gx_dir / DATA_DOCS, out),
        linkage=_relative(linkage_report(settings), out),
    )
    built = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    pages = {"index.html": overview(view, links, built)}
    for feed in view.data.feeds():
        pages[feed_file(feed)] = feed_page(view, feed, links, built)
        for la in view.las(feed):
            pages[la_file(feed, la)] = la_page(view, feed, la, links, built)
    for name, page in pages.items():
        (building / name).write_text(page.render(), encoding="utf-8")
    _copy_static(building)
    _swap(building, out)
    statuses: dict[str, int] = {}
    for status in view.statuses:
        statuses[status.status] = statuses.get(status.status, 0) + 1
    log.info("dashboard: %d pages at %s", len(pages), out)
    return DashboardResult(
        index=out / "index.html", pages=len(pages), measured=len(measured), statuses=statuses
    )


def _swap(building: Path, out: Path) -> None:
    """Replace the old site with the new one (two renames; the gap is milliseconds)."""
    old = out.with_name(out.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        out.rename(old)
    building.rename(out)
    if old.exists():
        shutil.rmtree(old)


def rebuild(settings: Settings | None = None) -> dict[str, object]:
    """What the Airflow task runs: build the dashboard; a small JSON-safe summary for XCom
    (where it is, how many pages and partitions measured, periods by status)."""
    result = build_dashboard(settings)
    return {
        "index": str(result.index),
        "pages": result.pages,
        "measured": result.measured,
        "statuses": result.statuses,
    }
