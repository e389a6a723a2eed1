"""What the dashboard may show by LA: small counts suppressed, nothing recoverable from the
totals, and rates only where every count behind them is published. Checked on the figures
of the generated run, with thresholds that make its smaller LAs small."""

from __future__ import annotations

import pandas as pd
import pytest

from governance.disclosure import TOTAL, DisclosurePolicy
from quality.flags import la_flags
from quality.publish import NOT_KNOWN, la_key, publish_columns, publish_la
from quality.read import read_quality
from tests.dashboard.conftest import QualityRun


@pytest.fixture(scope="module")
def data(quality_run: QualityRun):
    import os

    saved = os.environ.get("NPD_HOME")
    os.environ["NPD_HOME"] = str(quality_run.settings.home)
    try:
        return read_quality(quality_run.settings)
    finally:
        if saved is None:
            os.environ.pop("NPD_HOME", None)
        else:
            os.environ["NPD_HOME"] = saved


def _hidden_per_line(la: pd.DataFrame, value: str) -> pd.Series:
    """For each feed and period (a line of the LA x period table, with its Total), how many
    of its entries are hidden."""
    return la.groupby(["feed", "period"])[value].apply(lambda s: int(s.isna().sum()))


@pytest.mark.parametrize("threshold", [10, 60, 400])
def test_small_la_counts_are_hidden_and_cannot_be_recovered(data, threshold: int) -> None:
    policy = DisclosurePolicy(threshold=threshold)
    la, _ = publish_la(data.la_summary, data.link_method, data.quarantine_reason, policy)
    exact = data.la_summary.assign(la=la_key(data.la_summary["la_code"]))
    merged = la.merge(
        exact[["feed", "la", "period", "records"]].rename(columns={"records": "exact"}),
        on=["feed", "la", "period"],
        how="left",
    )
    small = merged["exact"].between(1, threshold - 1)
    assert merged.loc[small, "records_display"].eq("c").all()
    assert merged.loc[small, "records"].isna().all()
    shown = merged[merged["records"].notna() & (merged["la"] != TOTAL)]
    assert (shown["records"] == shown["exact"]).all()
    # No line hides exactly one entry: a lone hidden count would be its total minus the rest.
    assert not (_hidden_per_line(la, "records") == 1).any()
    if threshold == 400:
        assert small.any()  # the smaller LAs of the run really were suppressed


def test_rates_are_shown_only_where_both_parts_are_published(data) -> None:
    policy = DisclosurePolicy(threshold=60)
    la, _ = publish_la(data.la_summary, data.link_method, data.quarantine_reason, policy)
    with_rate = la[la["link_rate"].notna()]
    assert with_rate[["linked", "unlinked", "linked_records"]].notna().all().all()
    assert (with_rate["link_rate"] == with_rate["linked"] / with_rate["linked_records"]).all()
    without = la[la["unlinked"].isna() | la["linked"].isna()]
    assert without["link_rate"].isna().all() and len(without) > 0
    quarantine = la[la["quarantine_rate"].notna()]
    assert quarantine[["rows_quarantined", "rows_staged", "rows_read"]].notna().all().all()


def test_column_rates_hide_with_their_counts(data) -> None:
    policy = DisclosurePolicy(threshold=10)
    cols = publish_columns(data.column_quality, policy)
    exact = data.column_quality.assign(la=la_key(data.column_quality["la_code"]))
    merged = cols.merge(
        exact[["feed", "source_table", "column_name", "la", "period", "rows", "non_null", "valid"]],
        on=["feed", "source_table", "column_name", "la", "period"],
    )
    missing = merged["rows"] - merged["non_null"]
    invalid = merged["non_null"] - merged["valid"]
    assert merged.loc[missing.between(1, 9), "completeness"].isna().all()
    assert merged.loc[invalid.between(1, 9), "validity"].isna().all()
    published = merged[merged["completeness"].notna()]
    missing_back = ((1 - published["completeness"]) * published["rows"]).round()
    assert missing_back.eq(published["rows"] - published["non_null"]).all()
    assert merged.loc[merged["codelist"].isna(), "validity"].isna().all()


def test_the_planted_la_is_flagged_and_no_other(data) -> None:
    policy = DisclosurePolicy()
    la, _ = publish_la(data.la_summary, data.link_method, data.quarantine_reason, policy)
    cols = publish_columns(data.column_quality, policy)
    order = {p: i for i, p in enumerate(data.periods())}
    flags = la_flags(la, cols, order)
    validity = flags[(flags["kind"] == "validity") & (flags["la"] != TOTAL)]
    assert set(zip(validity["la"], validity["period"], validity["column_name"], strict=True)) == {
        ("330", "2023/24 spring", "ethnicity")
    }
    assert "330 Birmingham: pupilonroll.ethnicity" in validity["message"].iloc[0]
    drops = flags[flags["kind"] == "completeness"]
    assert ("352", "2023/24 spring", "language") in set(
        zip(drops["la"], drops["period"], drops["column_name"], strict=True)
    )
    assert NOT_KNOWN not in set(flags["la"])
