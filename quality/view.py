"""What the dashboard shows, computed once from the quality store: published LA and
column figures, national trends, flags and statuses. Only published figures (see
quality.publish) leave this module; exact counts stay in the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.feeds import FEEDS
from governance.disclosure import TOTAL, DisclosurePolicy, protect
from quality.flags import FlagPolicy, la_flags
from quality.publish import count_or_c, la_title, protect_by, publish, rate
from quality.read import QualityData, feed_label
from quality.status import PeriodStatus, period_statuses


def cell_label(value: float) -> str:
    """A rate as a heatmap cell label: percent with one decimal, `100` only when whole (a
    share just short of it shows as >99.9), `c` when suppressed."""
    if pd.isna(value):
        return "c"
    if value >= 1:
        return "100"
    text = f"{100 * value:.1f}"
    return ">99.9" if text == "100.0" else text


@dataclass
class DashboardView:
    data: QualityData
    policy: DisclosurePolicy
    la: pd.DataFrame  # feed, la (or Total), period: published counts and rates
    reasons: pd.DataFrame  # feed, reason, la (or Total), period: published rows
    # feed, table, column, la (or Total), period: completeness, validity (of every code
    # returned, quarantined ones included) and the invalid codes staged and quarantined
    columns: pd.DataFrame
    methods: pd.DataFrame  # feed, period, link method: published national records and share
    flags: pd.DataFrame
    statuses: list[PeriodStatus]
    warnings: pd.DataFrame  # feed, warning (or Total), period: published rows loaded with it

    @classmethod
    def build(
        cls,
        data: QualityData,
        policy: DisclosurePolicy | None = None,
        flag_policy: FlagPolicy | None = None,
    ) -> DashboardView:
        policy = policy or DisclosurePolicy()
        la, reasons, columns = publish(
            data.la_summary, data.link_method, data.quarantine_reason, data.column_quality, policy
        )
        order = _period_order(data)
        for frame in (la, reasons, columns):
            if not frame.empty:
                frame["period_order"] = frame["period"].map(order)
                frame["feed_label"] = frame["feed"].map(feed_label)
                frame["la_title"] = frame["la"].map(la_title)
        flags = la_flags(la, columns, order, flag_policy)
        statuses = period_statuses(data.lines, data.failed_expectations, flags, data.files)
        warnings = _warnings(data, policy)
        if not warnings.empty:
            warnings["period_order"] = warnings["period"].map(order)
        return cls(
            data=data,
            policy=policy,
            la=la,
            reasons=reasons,
            columns=columns,
            methods=_methods(data, la, policy),
            flags=flags,
            statuses=statuses,
            warnings=warnings,
        )

    # -- national trends ------------------------------------------------------------------

    def national(self) -> pd.DataFrame:
        """Per feed and period: records, link and quarantine rates (published totals) and
        completeness and code validity of the measured input (shares, rounded)."""
        if self.la.empty:
            return pd.DataFrame(
                columns=["feed", "feed_label", "period", "records", "records_display"]
            )
        total = self.la[self.la["la"] == TOTAL].copy()
        runs = self.data.current_runs[["feed", "period", "completeness", "code_validity"]]
        out = total.merge(runs, on=["feed", "period"], how="left")
        out["completeness"] = out["completeness"].round(3)
        out["code_validity"] = out["code_validity"].round(3)
        out["link_rate_display"] = out["link_rate"].map(pct_or_c)
        out["quarantine_rate_display"] = out["quarantine_rate"].map(pct_or_c)
        return _in_feed_order(out, ["period_order"])

    def lowest_validity(self, feed: str | None = None) -> pd.DataFrame:
        """Per feed, LA and period: the lowest published share of valid codes over the
        feed's coded columns, which column it is, and its invalid codes quarantined and
        loaded."""
        cols = self.columns
        if cols.empty:
            return cols
        cols = cols[cols["codelist"].notna() & (cols["la"] != TOTAL)]
        if feed:
            cols = cols[cols["feed"] == feed]
        cols = cols.assign(column=cols["source_table"] + "." + cols["column_name"])
        lowest = cols.sort_values("validity", na_position="last").drop_duplicates(
            ["feed", "la", "period"]
        )
        lowest = with_invalid_displays(lowest.assign(label=lowest["validity"].map(cell_label)))
        return _in_feed_order(lowest, ["la", "period_order"])

    def la_rates(self, feed: str) -> pd.DataFrame:
        if self.la.empty:  # nothing measured yet (e.g. only staging accounts recorded)
            return self.la
        la = self.la[(self.la["feed"] == feed) & (self.la["la"] != TOTAL)].copy()
        la["link_label"] = la["link_rate"].map(cell_label)
        la["quarantine_label"] = la["quarantine_rate"].map(
            lambda v: "c" if pd.isna(v) else f"{100 * v:.1f}"
        )
        return la

    def statuses_of(self, feed: str) -> list[PeriodStatus]:
        return sorted((s for s in self.statuses if s.feed == feed), key=lambda s: s.order)

    def las(self, feed: str) -> list[str]:
        la = self.la[(self.la["feed"] == feed) & (self.la["la"] != TOTAL)]
        return sorted(la["la"].unique())

    def history(self, feed: str) -> pd.DataFrame:
        """Every metrics run of the feed, latest first; national records loaded as published."""
        runs = self.data.runs[self.data.runs["feed"] == feed].copy()
        if runs.empty:
            return runs
        shown = protect(
            runs.assign(run=runs["run_id"]), "rows_loaded", ["run"], self.policy, margins=False
        )
        runs["rows_loaded_display"] = shown["display"].to_numpy()
        return runs.sort_values("computed_at", ascending=False).reset_index(drop=True)


def _in_feed_order(frame: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    """Rows in the feed registry's order (as the navigation lists them), then by `then`."""
    order = {feed: i for i, feed in enumerate(FEEDS)}
    keyed = frame.assign(_feed_order=frame["feed"].map(order).fillna(len(order)))
    return (
        keyed.sort_values(["_feed_order", "feed", *then])
        .drop(columns="_feed_order")
        .reset_index(drop=True)
    )


INVALID_TIPS = [
    ("quarantined_display", "Invalid codes quarantined (rows not loaded)"),
    ("invalid_display", "Invalid codes loaded"),
]


def with_invalid_displays(frame: pd.DataFrame) -> pd.DataFrame:
    """Column figures with the invalid codes quarantined and staged (loaded) as text."""
    return frame.assign(
        quarantined_display=frame["quarantined"].map(count_or_c),
        invalid_display=frame["invalid"].map(count_or_c),
    )


def pct_or_c(value: float) -> str:
    """A rate as a percentage with one decimal, or `c` where suppressed."""
    return "c" if pd.isna(value) else f"{100 * value:.1f}%"


def _period_order(data: QualityData) -> dict[str, int]:
    return {p: i for i, p in enumerate(data.periods())}


def _methods(data: QualityData, la: pd.DataFrame, policy: DisclosurePolicy) -> pd.DataFrame:
    """National records by link method per period (published), as shares of records."""
    links = data.link_method
    if links.empty or la.empty:
        return pd.DataFrame(columns=["feed", "period", "link_method", "share", "display"])
    from quality.publish import la_key

    cells = links.assign(la=la_key(links["la_code"]))
    table = protect_by(cells, "records", ["link_method", "la", "period"], ["feed"], policy)
    national = table[(table["la"] == TOTAL) & (table["link_method"] != TOTAL)]
    national = national[national["period"] != TOTAL]
    records = la[la["la"] == TOTAL][["feed", "period", "records"]].rename(
        columns={"records": "all_records"}
    )
    out = national.merge(records, on=["feed", "period"], how="left")
    out["share"] = rate(out["records"], out["all_records"] - out["records"], out["all_records"])
    return out[["feed", "period", "link_method", "share", "display"]].reset_index(drop=True)


def _warnings(data: QualityData, policy: DisclosurePolicy) -> pd.DataFrame:
    """Staged rows loaded with each kind of warning, per feed and period, protected as one
    table over warning x period (with its margins: Total is every warning of the period, a
    row with two warnings counting twice), as the quarantine reasons are."""
    columns = ["feed", "warning", "period", "rows", "display"]
    frame = data.warnings
    if frame.empty:
        return pd.DataFrame(columns=columns)
    table = protect_by(frame, "rows", ["warning", "period"], ["feed"], policy)
    table = table[table["period"] != TOTAL]  # a sum over periods would count rows twice
    return table[columns].reset_index(drop=True)
