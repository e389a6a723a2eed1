"""The dashboard's pages: an overview, a page per feed, and a page per feed and LA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from governance.disclosure import TOTAL
from quality import charts
from quality.html import Cell, Page, Raw, anchor, esc, link
from quality.publish import NOT_KNOWN, count_or_c, la_title
from quality.read import feed_label
from quality.status import PeriodStatus
from quality.view import INVALID_TIPS, DashboardView, cell_label, pct_or_c, with_invalid_displays

VALIDITY_NOTE = (
    "Valid codes: the share of the codes returned that are in the field's code list, "
    "counting the rows quarantined because their code was not (those rows are not loaded)."
)
SUPPRESSION_NOTE = (
    "c: suppressed. Counts of children by local authority below {threshold} are hidden, and "
    "further figures are hidden where a hidden count could otherwise be worked out from "
    "the totals. Rates are shown only where the counts behind them are published."
)


@dataclass(frozen=True)
class Links:
    data_docs: str | None  # relative href, or None if not built
    linkage: str | None


def period_anchor(period: str) -> str:
    """An element id for a period (ids must not start with a digit to be CSS-selectable)."""
    return "period-" + anchor(period)


def feed_file(feed: str) -> str:
    return f"feed-{anchor(feed)}.html"


def la_file(feed: str, la: str) -> str:
    return f"la-{anchor(feed)}-{anchor(la)}.html"


def _nav(view: DashboardView, links: Links) -> list[Raw]:
    items = [link("index.html", "Overview")]
    items += [link(feed_file(f), feed_label(f)) for f in view.data.feeds()]
    if links.data_docs:
        items.append(link(links.data_docs, "GX Data Docs"))
    if links.linkage:
        items.append(link(links.linkage, "Linkage report"))
    return items


def _badge(status: PeriodStatus, href: str, text: str | None = None) -> Raw:
    cls = f"badge status-{anchor(status.status)}"
    title = status.status + (": " + "; ".join(status.reasons) if status.reasons else "")
    return Raw(
        f'<a class="{cls}" href="{href}" title="{_attr(title)}" data-feed="{_attr(status.feed)}" '
        f'data-period="{_attr(status.period)}" data-status="{_attr(status.status)}">'
        f"{_attr(text or status.status)}</a>"
    )


def _attr(text: str) -> str:
    return esc(text)


def _years(view: DashboardView) -> list[str]:
    return sorted({s.academic_year for s in view.statuses})


def _status_table(page: Page, view: DashboardView, feeds: list[str]) -> None:
    """Feeds down, academic years across; a badge per period (term, or the year)."""
    years = _years(view)
    rows = []
    for feed in feeds:
        cells: list[Any] = [link(feed_file(feed), feed_label(feed))]
        for year in years:
            badges = [
                _badge(s, f"{feed_file(feed)}#{period_anchor(s.period)}", s.term or s.status)
                for s in view.statuses_of(feed)
                if s.academic_year == year
            ]
            cells.append(Cell(Raw("".join(b.markup for b in badges)) if badges else "", "status"))
        rows.append(cells)
    page.table(["Feed", *years], rows, cls="status-table")


def _issues(page: Page, statuses: list[PeriodStatus]) -> None:
    trouble = [s for s in statuses if s.status != "pass"]
    if not trouble:
        page.note("Every period passed: no expectation failed and no LA was flagged.")
        return
    for s in trouble:
        page.raw(
            f'<h3 id="issue-{anchor(s.feed + " " + s.period)}">'
            f"{_attr(feed_label(s.feed))} {_attr(s.period)}: "
            f'<span class="badge status-{anchor(s.status)}">{_attr(s.status)}</span></h3>'
        )
        page.list(s.reasons)


def _links_block(page: Page, links: Links) -> None:
    parts = []
    parts.append(
        link(links.data_docs, "Great Expectations Data Docs").markup
        if links.data_docs
        else '<span class="muted">Data Docs not built yet (npd docs)</span>'
    )
    parts.append(
        link(links.linkage, "Linkage report").markup
        if links.linkage
        else '<span class="muted">Linkage report not built yet</span>'
    )
    page.raw(f'<p class="links">{" ".join(parts)}</p>')


def overview(view: DashboardView, links: Links, built: str) -> Page:
    feeds = view.data.feeds()
    periods = view.data.periods()
    page = Page(
        "Data quality: linked pupil database",
        f"Synthetic data only. Built {built}. {len(feeds)} feed(s), {len(periods)} period(s).",
        _nav(view, links),
    )
    page.heading("Status by feed and period")
    page.note(
        "pass: loaded, no expectation failed, no LA flagged and every file read. warning: "
        "loaded, but a warning expectation failed, an LA's figures were flagged, or a file in "
        "the landing folder was not used or was rejected whole (see the issues below). "
        "blocked: the latest run was blocked or failed; the warehouse keeps the period's "
        "previous load."
    )
    _status_table(page, view, feeds)
    _links_block(page, links)
    page.heading("Issues")
    _issues(page, view.statuses)

    national = view.national()
    if not national.empty:
        page.heading("Trends across years and terms")
        _trend_charts(page, national, "overview", periods, by_feed=True)
        page.note(
            "Records: unit records staged (e.g. pupils on roll on census day). Completeness: "
            "share of values present in the fields with a code list in the feed's main table. "
            "Linkage rate: share of records given a person. Quarantine rate: share of the main "
            "table's rows that could not be staged."
        )
    lowest = view.lowest_validity()
    if not lowest.empty:
        page.heading("Valid codes by local authority")
        page.chart(
            "overview-validity-by-la",
            charts.heatmap(
                lowest.assign(feed_label=lowest["feed"].map(feed_label)),
                x="period",
                y="la_title",
                value="validity",
                label="label",
                title="Lowest % of valid codes in any coded field",
                x_sort=periods,
                facet="feed_label",
                tooltip=["column", *INVALID_TIPS],
                panel_columns=3,
            ),
        )
        page.note(
            "Each cell: the lowest share of valid codes among the feed's coded fields for that "
            "LA and period (hover for the field and its invalid codes). "
            + VALIDITY_NOTE
            + " "
            + _suppression(view)
        )
    return page


def _suppression(view: DashboardView) -> str:
    return SUPPRESSION_NOTE.format(threshold=view.policy.threshold)


def _la_link(feed: str, la: str) -> Raw:
    return link(la_file(feed, la), la_title(la))


def feed_page(view: DashboardView, feed: str, links: Links, built: str) -> Page:
    periods = view.data.periods(feed)
    page = Page(f"{feed_label(feed)}: data quality", f"Built {built}.", _nav(view, links))
    statuses = view.statuses_of(feed)
    page.heading("Status by period")
    rows = []
    for s in statuses:
        rows.append(
            [
                Cell(s.period, attrs={"id": period_anchor(s.period)}),
                Cell(_badge(s, f"#{period_anchor(s.period)}"), f"status status-{anchor(s.status)}"),
                Raw("<br>".join(_attr(r) for r in s.reasons)) if s.reasons else "",
            ]
        )
    page.table(["Period", "Status", "Why"], rows, cls="status-table")
    _links_block(page, links)
    _files(page, view, feed, periods)

    national = view.national()
    national = national[national["feed"] == feed]
    if not national.empty:
        page.heading("Trends")
        _trend_charts(page, national, "feed", periods, by_feed=False)
        _methods_table(page, view, feed, periods)

    la = view.la_rates(feed)
    if not la.empty:
        page.heading("By local authority")
        la_sort = sorted(la["la_title"].unique())
        lowest = view.lowest_validity(feed)
        if not lowest.empty:
            page.chart(
                "feed-validity-by-la",
                charts.heatmap(
                    lowest,
                    x="period",
                    y="la_title",
                    value="validity",
                    label="label",
                    title="Lowest % of valid codes",
                    x_sort=periods,
                    y_sort=la_sort,
                    tooltip=["column", *INVALID_TIPS],
                ),
            )
        page.chart(
            "feed-link-rate-by-la",
            charts.heatmap(
                la,
                x="period",
                y="la_title",
                value="link_rate",
                label="link_label",
                title="% of records linked",
                x_sort=periods,
                y_sort=la_sort,
            ),
        )
        page.chart(
            "feed-quarantine-by-la",
            charts.heatmap(
                la,
                x="period",
                y="la_title",
                value="quarantine_rate",
                label="quarantine_label",
                title="% of rows quarantined",
                x_sort=periods,
                y_sort=la_sort,
                scale="quarantine",
            ),
        )
        page.note(
            "Quarantine cells are coloured green at 0% and red from 1% (the flag threshold). "
            + _suppression(view)
        )
        _la_table(page, view, feed, periods)

    _column_charts(page, view, feed, TOTAL, periods, "feed")
    _reasons(page, view, feed, TOTAL, periods)
    _warnings(page, view, feed, periods)
    _expectations(page, view, feed)
    _history(page, view, feed)
    return page


def _methods_table(page: Page, view: DashboardView, feed: str, periods: list[str]) -> None:
    methods = view.methods[view.methods["feed"] == feed]
    if methods.empty:
        return
    page.heading("Records by link method (all LAs)", level=3)
    cells = methods.assign(
        text=[
            d if pd.isna(s) else f"{d} ({100 * s:.2f}%)"
            for d, s in zip(methods["display"], methods["share"], strict=True)
        ]
    )
    table = cells.pivot_table(index="link_method", columns="period", values="text", aggfunc="first")
    table = table.reindex(columns=[p for p in periods if p in table.columns])
    rows = [
        [method, *[Cell(v if isinstance(v, str) else "", "num") for v in table.loc[method]]]
        for method in table.index
    ]
    page.table(["Method", *table.columns], rows)


def _la_table(page: Page, view: DashboardView, feed: str, periods: list[str]) -> None:
    la = view.la[view.la["feed"] == feed]
    page.heading("Records by local authority", level=3)
    table = la.pivot_table(
        index="la", columns="period", values="records_display", aggfunc="first"
    ).reindex(columns=periods)
    rows = []
    for key in [k for k in table.index if k != TOTAL] + [TOTAL]:
        if key not in table.index:
            continue
        name: Any = "All LAs" if key == TOTAL else _la_link(feed, key)
        rows.append([name, *[Cell(v if isinstance(v, str) else "", "num") for v in table.loc[key]]])
    page.table(["Local authority", *periods], rows)


def _column_charts(
    page: Page, view: DashboardView, feed: str, la: str, periods: list[str], prefix: str
) -> None:
    cols = view.columns
    if cols.empty:
        return
    cols = cols[(cols["feed"] == feed) & (cols["la"] == la)].copy()
    if cols.empty:
        return
    where = "all LAs" if la == TOTAL else la_title(la)
    page.heading(f"By column ({where})")
    cols["completeness_label"] = cols["completeness"].map(cell_label)
    cols["validity_label"] = cols["validity"].map(cell_label)
    page.chart(
        f"{prefix}-completeness-by-column",
        charts.heatmap(
            cols,
            x="period",
            y="column_name",
            value="completeness",
            label="completeness_label",
            title="% of values present",
            x_sort=periods,
            facet="source_table",
            tooltip=["codelist"],
            cell_width=30,
            scale="share",
        ),
    )
    coded = with_invalid_displays(cols[cols["codelist"].notna()])
    if not coded.empty:
        page.chart(
            f"{prefix}-validity-by-column",
            charts.heatmap(
                coded,
                x="period",
                y="column_name",
                value="validity",
                label="validity_label",
                title="% of codes returned that are valid",
                x_sort=periods,
                facet="source_table",
                tooltip=["codelist", *INVALID_TIPS],
                cell_width=30,
            ),
        )
    page.note(
        "Completeness is the share of staged rows with a value; many fields are optional, so "
        "compare a column with its own history. " + VALIDITY_NOTE + " Code lists come from "
        "the feed specification and core/codelists. " + _suppression(view)
    )
    _invalid_codes(page, coded, periods)


def _invalid_codes(page: Page, coded: pd.DataFrame, periods: list[str]) -> None:
    """Per coded column and period, the invalid codes behind the rate: quarantined (their
    rows are not in the load) and loaded. Columns with none anywhere are left out."""
    # A hidden quarantined count is a reason cell, so some rows; a hidden staged count may be
    # none (hidden only so that another cannot be worked out) and says nothing here.
    some = coded["quarantined"].isna() | (coded["quarantined"].fillna(0) > 0)
    some |= coded["invalid"].fillna(0) > 0
    page.heading("Invalid codes", level=3)
    if not some.any():
        page.note("No invalid code published in any coded column, in any period.")
        return
    order = {p: i for i, p in enumerate(periods)}
    shown = coded[some].assign(order=coded["period"].map(order))
    shown = shown.sort_values(["source_table", "column_name", "order"])
    page.table(
        [
            "Column",
            "Period",
            "Code list",
            "Invalid: rows quarantined (not loaded)",
            "Invalid: loaded",
            "Valid codes",
        ],
        [
            [
                f"{r.source_table}.{r.column_name}",
                r.period,
                r.codelist,
                Cell(count_or_c(r.quarantined), "num"),
                Cell(count_or_c(r.invalid), "num"),
                Cell(pct_or_c(r.validity), "num"),
            ]
            for r in shown.itertuples(index=False)
        ],
    )
    page.note(
        "Rows quarantined: rows staging set aside because their code was not in the field's "
        "list, so those records are missing from the load (rows of other tables that belong "
        'to them are quarantined too, as orphans); they are the rows under "<field>: not a '
        'known code" in the quarantined rows by reason. Loaded: codes staged although not '
        "in the list (fields whose list is knowingly incomplete)."
    )


def _reasons(page: Page, view: DashboardView, feed: str, la: str, periods: list[str]) -> None:
    reasons = view.reasons
    if reasons.empty:
        return
    reasons = reasons[(reasons["feed"] == feed) & (reasons["la"] == la)]
    page.heading("Quarantined rows by reason", level=3)
    if reasons.empty:
        page.note("Nothing quarantined.")
        return
    table = reasons.pivot_table(
        index="reason", columns="period", values="display", aggfunc="first"
    ).reindex(columns=[p for p in periods if p in set(reasons["period"])])
    rows = [
        [reason, *[Cell(v if isinstance(v, str) else "0", "num") for v in table.loc[reason]]]
        for reason in table.index
    ]
    page.table(["Table: reason", *table.columns], rows)
    page.note(
        "Rows staging could not load, values withheld. A row counts under its first reason "
        "and under each further code of it not in its list, so every invalid code of a field "
        'is under "<field>: not a known code". ' + _suppression(view)
    )


def _files(
    page: Page, view: DashboardView, feed: str, periods: list[str], la: str | None = None
) -> None:
    """The files of each period's landing folder that were not used or were rejected whole,
    and why (of one LA's returns on its page): their rows are not in the load."""
    files = view.data.files
    mine = files[files["feed"] == feed] if not files.empty else files
    if la is not None and not mine.empty:
        mine = mine[mine["la"] == la]
    page.heading("Files not used or rejected", level=3 if la else 2)
    where = "this LA's returns" if la else "the landing folder"
    if mine.empty:
        page.note(f"Every file in {where} was read, in every period.")
        return
    order = {p: i for i, p in enumerate(periods)}
    mine = mine.assign(order=mine["period"].map(order)).sort_values(
        ["order", "source_file", "source_table"]
    )
    page.table(
        ["Period", "File", "Table", "Status", "Why"],
        [
            [
                r.period,
                Cell(r.file, "file"),
                r.source_table,
                Cell(
                    "not used" if r.status == "unused" else "rejected",
                    f"file-status file-{anchor(r.status)}",
                ),
                r.detail,
            ]
            for r in mine.itertuples(index=False)
        ],
        cls="files-table",
    )
    page.note(
        "Not used: in the landing folder but not read (no table of that name in the "
        "specification, a duplicate delivery, not a regular file, empty). Rejected: refused "
        "whole, its rows counted and quarantined (they are among the quarantined rows by "
        "reason). Either way none of its rows are in the load: check with the sender. Files "
        "are named by their path in the period's landing folder, "
        "landing/<year>/<feed>/[<term>/]."
    )


def _warnings(page: Page, view: DashboardView, feed: str, periods: list[str]) -> None:
    """Rows loaded with a warning, by kind and period (all LAs), as the quarantine reasons."""
    warnings = view.warnings
    mine = warnings[warnings["feed"] == feed] if not warnings.empty else warnings
    page.heading("Rows loaded with a warning, by kind", level=3)
    if mine.empty:
        page.note("No staged row carried a warning.")
        return
    table = mine.pivot_table(
        index="warning", columns="period", values="display", aggfunc="first"
    ).reindex(columns=[p for p in periods if p in set(mine["period"])])
    kinds = [k for k in table.index if k != TOTAL] + ([TOTAL] if TOTAL in table.index else [])
    rows = [
        [
            "All warnings" if kind == TOTAL else kind,
            *[Cell(v if isinstance(v, str) else "0", "num") for v in table.loc[kind]],
        ]
        for kind in kinds
    ]
    page.table(["Table: warning", *table.columns], rows)
    page.note(
        "Questionable but usable values (for example a failed check letter, a formula-like "
        "name, padded values, an exact duplicate row): the rows were loaded, each warning "
        "recorded per row. All warnings counts a row with two kinds twice. All LAs. "
        + _suppression(view)
    )


def _expectations(page: Page, view: DashboardView, feed: str) -> None:
    failed = view.data.failed_expectations
    failed = failed[failed["feed"] == feed] if not failed.empty else failed
    page.heading("Expectations that failed", level=3)
    if failed.empty:
        page.note("No expectation failed in the current input of any period.")
        return
    failed = failed.sort_values(["period_order", "severity", "rule"])
    page.table(
        ["Period", "Severity", "Rule", "Column", "Rows failing (%)"],
        [
            [
                r.period,
                r.severity,
                r.rule,
                r.column_name if isinstance(r.column_name, str) else "",
                Cell(
                    f"{r.unexpected_percent:.2f}%" if pd.notna(r.unexpected_percent) else "",
                    "num",
                ),
            ]
            for r in failed.itertuples(index=False)
        ],
    )


def _history(page: Page, view: DashboardView, feed: str) -> None:
    runs = view.history(feed)
    page.heading("Run history", level=3)
    page.note(
        "Every time a period's figures were measured (after each load, or to catch up a "
        "period that was blocked). A rerun replaces the period's figures above; its history stays."
    )
    if runs.empty:
        return
    page.table(
        [
            "Measured (UTC)",
            "Period",
            "Trigger",
            "Load id",
            "Loaded",
            "Records loaded",
            "Completeness",
            "Valid codes",
            "Critical failed",
            "Warnings failed",
        ],
        [
            [
                pd.Timestamp(r.computed_at).strftime("%Y-%m-%d %H:%M:%S"),
                r.period,
                r.trigger,
                r.load_id,
                "yes" if r.loaded else "no",
                Cell(r.rows_loaded_display, "num"),
                Cell(_pct(r.completeness), "num"),
                Cell(_pct(r.code_validity), "num"),
                int(r.critical_failed),
                int(r.warnings_failed),
            ]
            for r in runs.itertuples(index=False)
        ],
    )


def _pct(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def la_page(view: DashboardView, feed: str, la: str, links: Links, built: str) -> Page:
    periods = view.data.periods(feed)
    title = la_title(la)
    page = Page(
        f"{feed_label(feed)}: {title}",
        f"Local authority drill-down. Built {built}.",
        [*_nav(view, links), link(feed_file(feed), f"Back to {feed_label(feed)}")],
    )
    if la == NOT_KNOWN:
        page.note(
            "Rows whose local authority cannot be told: quarantined rows of a national file, "
            "where the LA is a field of the row that could not be read."
        )
    flags = view.flags
    mine = flags[(flags["feed"] == feed) & (flags["la"] == la)] if not flags.empty else flags
    page.heading("Flags")
    if mine.empty:
        page.note("No figure of this LA was flagged in any period.")
    else:
        mine = mine.assign(
            order=mine["period"].map(dict(zip(periods, range(len(periods)), strict=True)))
        )
        for period, group in mine.sort_values("order").groupby("period", sort=False):
            page.raw(f'<h3 id="{period_anchor(period)}">{_attr(period)}</h3>')
            page.list(list(group["message"]))

    rates = view.la_rates(feed)
    rates = rates[rates["la"] == la]
    if not rates.empty:
        page.heading("Trends")
        page.chart("la-records", charts.count_bars(rates, "Records", periods, False))
        page.chart(
            "la-link-rate",
            charts.trend_lines(
                rates.assign(link_rate_display=rates["link_rate"].map(pct_or_c)),
                "link_rate",
                "Linkage rate",
                periods,
                display="link_rate_display",
            ),
        )
        page.chart(
            "la-quarantine-rate",
            charts.trend_lines(
                rates.assign(quarantine_rate_display=rates["quarantine_rate"].map(pct_or_c)),
                "quarantine_rate",
                "Quarantine rate",
                periods,
                display="quarantine_rate_display",
            ),
        )
        page.note(_suppression(view))
    _column_charts(page, view, feed, la, periods, "la")
    _reasons(page, view, feed, la, periods)
    _files(page, view, feed, periods, la=la)
    return page


def _trend_charts(
    page: Page, national: pd.DataFrame, prefix: str, periods: list[str], by_feed: bool
) -> None:
    """Records, completeness, linkage and quarantine rates over the periods (one line per
    feed on the overview, one feed on its own page)."""
    page.chart(f"{prefix}-records", charts.count_bars(national, "Records", periods, by_feed))
    page.chart(
        f"{prefix}-completeness",
        charts.trend_lines(national, "completeness", "Completeness of coded items", periods),
    )
    page.chart(
        f"{prefix}-link-rate",
        charts.trend_lines(
            national, "link_rate", "Linkage rate", periods, display="link_rate_display"
        ),
    )
    page.chart(
        f"{prefix}-quarantine-rate",
        charts.trend_lines(
            national,
            "quarantine_rate",
            "Quarantine rate",
            periods,
            display="quarantine_rate_display",
        ),
    )
