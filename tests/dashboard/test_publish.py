"""What the dashboard may show by LA: small counts suppressed, nothing recoverable from the
totals, and rates only where every count behind them is published. Checked on the figures
of the generated run, with thresholds that make its smaller LAs small."""

from __future__ import annotations

import pandas as pd
import pytest

from governance.disclosure import TOTAL, DisclosurePolicy
from quality.flags import la_flags
from quality.publish import NOT_KNOWN, la_key, publish, publish_la
from quality.read import read_quality
from tests.dashboard.conftest import INVALID_ETHNICITY, QualityRun


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


def _publish(data, policy: DisclosurePolicy):
    return publish(
        data.la_summary, data.link_method, data.quarantine_reason, data.column_quality, policy
    )


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
    _, _, cols = _publish(data, policy)
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
    # Validity is shown only where every count behind it is published: the staged invalid
    # codes and the rows quarantined for the code.
    shown = cols[cols["validity"].notna()]
    assert shown[["invalid", "quarantined"]].notna().all().all() and len(shown) > 0


@pytest.mark.parametrize("threshold", [10, 20])
def test_quarantined_codes_are_the_reason_tables_own_cells(
    data, quality_run: QualityRun, threshold: int
) -> None:
    """One count under one protection: the invalid codes quarantined shown by column are the
    cells the quarantined-rows-by-reason table shows, hidden where it hides them."""
    _, reasons, cols = _publish(data, DisclosurePolicy(threshold=threshold))
    ethnicity = cols[
        (cols["source_table"] == "pupilonroll")
        & (cols["column_name"] == "ethnicity")
        & (cols["period"] == "2023/24 spring")
    ].set_index("la")["quarantined"]
    cells = reasons[reasons["reason"] == "pupilonroll: ethnicity: not a known code"]
    cells = cells.set_index("la")["rows"]
    assert {"330", TOTAL} <= set(cells.index)
    assert cells.drop(["330", TOTAL]).isna().all()  # any other cell is one hidden there
    for la, value in ethnicity.items():
        expected = cells.get(la, 0)
        assert (pd.isna(value) and pd.isna(expected)) or value == expected, la
    k = quality_run.planted[INVALID_ETHNICITY]
    if k < threshold:  # a small count is hidden, in both, and so is the share
        assert pd.isna(ethnicity["330"]) and pd.isna(cells["330"])
        validity = cols.set_index(["source_table", "column_name", "la", "period"])["validity"]
        assert pd.isna(validity[("pupilonroll", "ethnicity", "330", "2023/24 spring")])
    else:
        assert ethnicity["330"] == cells["330"] == k


def test_the_planted_la_is_flagged_and_no_other(data, quality_run: QualityRun) -> None:
    k = quality_run.planted[INVALID_ETHNICITY]
    policy = DisclosurePolicy()
    la, _, cols = _publish(data, policy)
    order = {p: i for i, p in enumerate(data.periods())}
    flags = la_flags(la, cols, order)
    validity = flags[(flags["kind"] == "validity") & (flags["la"] != TOTAL)]
    assert set(zip(validity["la"], validity["period"], validity["column_name"], strict=True)) == {
        ("330", "2023/24 spring", "ethnicity")
    }
    message = validity["message"].iloc[0]
    assert message.startswith("330 Birmingham: pupilonroll.ethnicity ")
    assert message.endswith(f": {k} invalid codes, their rows quarantined and not loaded")
    where = ("pupilonroll", "ethnicity", "330", "2023/24 spring")
    planted = cols.set_index(["source_table", "column_name", "la", "period"]).loc[where]
    assert (planted["quarantined"], planted["invalid"]) == (k, 0)
    drops = flags[flags["kind"] == "completeness"]
    assert ("352", "2023/24 spring", "language") in set(
        zip(drops["la"], drops["period"], drops["column_name"], strict=True)
    )
    assert NOT_KNOWN not in set(flags["la"])
