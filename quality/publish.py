"""What the dashboard may show by local authority: counts through disclosure control,
and rates only where every count behind them is published.

Every LA-level count of children or of their records goes through
governance.disclosure.protect, one table per measure over LA x period with its margins
(the 'Total' LA is the national figure), so a count below the threshold shows as `c`
and cannot be worked back from a total. A rate splits a denominator into two parts
(e.g. records into linked and unlinked), and a published rate gives both parts back, so
a rate is shown only where the denominator and both parts are published. Column
figures are shown only as such rates.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from governance.disclosure import TOTAL, DisclosurePolicy, protect
from npd.codes import la_names

NOT_KNOWN = "Not known"
KEYS = ["feed", "la", "period"]


def la_key(codes: pd.Series) -> pd.Series:
    """LA codes as the text keys the dashboard uses ('330'; 'Not known' for a null)."""
    return pd.Series(
        [NOT_KNOWN if pd.isna(c) else f"{int(c):03d}" for c in codes], index=codes.index
    )


def la_title(key: str) -> str:
    """'330 Birmingham' for a person to read."""
    if key in (NOT_KNOWN, TOTAL):
        return "All LAs" if key == TOTAL else NOT_KNOWN
    name = la_names().get(str(int(key)))
    return f"{key} {name}" if name else key


def protect_by(
    frame: pd.DataFrame,
    value: str,
    dims: Sequence[str],
    groups: Sequence[str],
    policy: DisclosurePolicy,
) -> pd.DataFrame:
    """protect() once per group (e.g. per feed and column): the table with margins, `value`
    published or NA, `suppressed` and `display`, plus the group columns. Groups whose cells
    are identical (e.g. every column with nothing missing) share one protect() call."""
    if frame.empty:
        return pd.DataFrame(columns=[*groups, *dims, value, "suppressed", "display"])
    cells_of = frame.groupby([*groups, *dims], as_index=False, dropna=False, sort=True)[value].sum()
    keys, tables = [], []
    done: dict[tuple, pd.DataFrame] = {}
    for key, cells in cells_of.groupby(list(groups), sort=False, dropna=False):
        cells = cells[[*dims, value]].reset_index(drop=True)
        content = tuple(cells.itertuples(index=False, name=None))
        if content not in done:
            done[content] = protect(cells, value, list(dims), policy)
        keys.append(key if isinstance(key, tuple) else (key,))
        tables.append(done[content])
    out = pd.concat(tables, keys=keys, names=[*groups, "_row"]).reset_index(level=list(groups))
    return out.reset_index(drop=True)


def _published(
    frame: pd.DataFrame, counts: Sequence[str], groups: list[str], policy: DisclosurePolicy
) -> pd.DataFrame:
    """Each count protected over LA x period per group; value and `<count>_display` per cell."""
    keys = [*groups, "la", "period"]
    merged = None
    for count in counts:
        table = protect_by(frame, count, ["la", "period"], groups, policy)
        table = table[[*keys, count, "display"]].rename(columns={"display": f"{count}_display"})
        merged = table if merged is None else merged.merge(table, on=keys, how="outer")
    return merged[merged["period"] != TOTAL]  # a sum over periods would count children twice


def _split(
    frame: pd.DataFrame,
    parts: Sequence[str],
    whole: str,
    groups: list[str],
    policy: DisclosurePolicy,
) -> pd.DataFrame:
    """A whole and the parts it splits into (e.g. records into linked and unlinked),
    protected as one table over part x LA x period, so no part can be worked out from the
    whole and the others. Wide: each part and the whole, published or NA."""
    keys = [*groups, "la", "period"]
    long = frame.melt(id_vars=keys, value_vars=list(parts), var_name="part", value_name="n")
    table = protect_by(long, "n", ["part", "la", "period"], groups, policy)
    table = table[table["period"] != TOTAL]
    table["part"] = table["part"].replace({TOTAL: whole})
    wide = table.set_index([*keys, "part"])["n"].astype("Float64").unstack("part")
    wide = wide.reindex(columns=[*parts, whole]).reset_index()
    wide.columns.name = None
    return wide


def rate(part: pd.Series, *others: pd.Series) -> pd.Series:
    """part / whole (the last of `others`) where the part, every other part and the whole
    are published (else NA): a rate gives back the parts of its whole."""
    values = [pd.to_numeric(s, errors="coerce").astype(float) for s in (part, *others)]
    shown = pd.concat([v.notna() for v in values], axis=1).all(axis=1) & (values[-1] > 0)
    return (values[0] / values[-1]).where(shown)


def publish_la(
    summary: pd.DataFrame,
    links: pd.DataFrame,
    reasons: pd.DataFrame,
    policy: DisclosurePolicy,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per feed, LA (and Total) and period: counts as published, link and quarantine rates;
    and quarantined rows by reason (see the module docstring)."""
    if summary.empty:
        return pd.DataFrame(columns=KEYS), pd.DataFrame(columns=[*KEYS, "reason"])
    frame = summary.assign(la=la_key(summary["la_code"]))
    la = _published(frame, ["records", "new_persons", "repeat_records"], ["feed"], policy)
    read = _split(frame, ["rows_staged", "rows_quarantined"], "rows_read", ["feed"], policy)
    la = la.merge(read, on=KEYS, how="left")
    # Linkage only for partitions that were linked (a blocked one has no rate).
    by_method = links.assign(
        la=la_key(links["la_code"]),
        unlinked=links["records"].where(links["link_method"] == "unlinked", 0),
        linked=links["records"].where(links["link_method"] != "unlinked", 0),
    )
    by_method = by_method.groupby(KEYS, as_index=False)[["linked", "unlinked"]].sum()
    if by_method.empty:
        la = la.assign(linked=pd.NA, unlinked=pd.NA, linked_records=pd.NA)
    else:
        split = _split(by_method, ["linked", "unlinked"], "linked_records", ["feed"], policy)
        la = la.merge(split, on=KEYS, how="left")
    # Quarantined rows shown come from the reason table's margin, so the figures by reason
    # and by LA agree; the rate needs the read split published too.
    if reasons.empty:
        by_reason = pd.DataFrame(columns=[*KEYS, "reason", "rows", "suppressed", "display"])
        la = la.assign(quarantined=0, quarantined_display="0")
    else:
        cells = reasons.assign(
            la=la_key(reasons["la_code"]), reason=reasons["source_table"] + ": " + reasons["reason"]
        )
        by_reason = protect_by(cells, "rows", ["reason", "la", "period"], ["feed"], policy)
        margin = by_reason[by_reason["reason"] == TOTAL].rename(
            columns={"rows": "quarantined", "display": "quarantined_display"}
        )[[*KEYS, "quarantined", "quarantined_display"]]
        la = la.merge(margin, on=KEYS, how="left")
        nothing = la["quarantined_display"].isna()  # no row of this LA and period quarantined
        la.loc[nothing, "quarantined"] = 0
        la.loc[nothing, "quarantined_display"] = "0"
        by_reason = by_reason[(by_reason["reason"] != TOTAL) & (by_reason["period"] != TOTAL)]
    la["link_rate"] = rate(la["linked"], la["unlinked"], la["linked_records"])
    la["quarantine_rate"] = rate(
        la["rows_quarantined"], la["quarantined"], la["rows_staged"], la["rows_read"]
    )
    return la.reset_index(drop=True), by_reason.reset_index(drop=True)


def publish_columns(columns: pd.DataFrame, policy: DisclosurePolicy) -> pd.DataFrame:
    """Per feed, table, column, LA (and Total) and period: completeness (values present of
    rows) and, for coded fields, validity (valid of present), where publishable. Each
    column's rows split into missing and present (valid and invalid, for a coded field) in
    one protected table."""
    keys = ["feed", "source_table", "column_name", "la", "period"]
    if columns.empty:
        return pd.DataFrame(columns=[*keys, "codelist", "completeness", "validity"])
    frame = columns.assign(
        la=la_key(columns["la_code"]),
        missing=columns["rows"] - columns["non_null"],
        present=columns["non_null"],
        invalid=columns["non_null"] - columns["valid"],
    )
    groups = ["feed", "source_table", "column_name"]
    coded = frame["codelist"].notna()
    parts = []
    if (~coded).any():
        plain = _split(frame[~coded], ["missing", "present"], "rows", groups, policy)
        parts.append(plain.assign(valid=float("nan"), invalid=float("nan")))
    if coded.any():
        split = _split(frame[coded], ["missing", "valid", "invalid"], "rows", groups, policy)
        parts.append(split.assign(present=split["valid"] + split["invalid"]))
    out = pd.concat(parts, ignore_index=True)
    lists = frame.drop_duplicates(groups)[[*groups, "codelist"]]
    out = out.merge(lists, on=groups, how="left")
    # present = rows - missing: published with them (and never a hidden count: protect
    # hid a second part of any split where it hid one).
    out["completeness"] = rate(out["rows"] - out["missing"], out["missing"], out["rows"])
    out["validity"] = rate(out["valid"], out["invalid"], out["valid"] + out["invalid"])
    return out[[*keys, "codelist", "completeness", "validity"]].reset_index(drop=True)
