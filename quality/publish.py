"""What the dashboard may show by local authority: counts through disclosure control,
and rates only where every count behind them is published.

Every LA-level count of children or of their records goes through
governance.disclosure.protect, one table per measure over LA x period with its margins
(the 'Total' LA is the national figure), so a count below the threshold shows as `c`
and cannot be worked back from a total. A rate splits a denominator into two parts
(e.g. records into linked and unlinked), and a published rate gives both parts back, so
a rate is shown only where the denominator and both parts are published. Column
figures are shown only as such rates, and the counts of invalid codes behind them.

A column's invalid codes are of two kinds: staged (loaded) ones, of fields whose code list
is knowingly incomplete, and the rows staging quarantined because the code was not in its
list (counted in quality.quarantine_reason as "<field>: not a known code"). Both are parts
of the column's split, protected once; the quarantined-rows-by-reason table shows those
reasons' cells as the split published them, so the figure by column and the figure by
reason are one number under one protection (the other reasons form a table of their own).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from core.codes import la_names
from governance.disclosure import TOTAL, DisclosurePolicy, protect
from quality.metrics import code_columns

NOT_KNOWN = "Not known"
KEYS = ["feed", "la", "period"]
COLUMN_KEYS = ["feed", "source_table", "column_name", "la", "period"]


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
    # The quarantine rate is shown only where the LA's margin of the reasons table (the
    # reasons protected together: all but a coded column's "not a known code") is published
    # too, so the figures by reason and by LA are hidden together.
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


def _code_cells(split: pd.DataFrame, quarantined: pd.DataFrame) -> pd.DataFrame:
    """The rows quarantined for a column's code, as its split published them, in the shape
    of the reasons table ("<table>: <field>: not a known code"). Cells published as 0 are
    left out (the table shows 0 where it has no cell); hidden ones stay, whatever lies
    behind them."""
    columns = [*KEYS, "reason", "rows", "suppressed", "display"]
    if split.empty or quarantined.empty:
        return pd.DataFrame(columns=columns)
    named = quarantined.assign(reason=quarantined["source_table"] + ": " + quarantined["reason"])
    groups = ["feed", "source_table", "column_name"]
    in_period = named.drop_duplicates([*groups, "period"]).set_index([*groups, "period"])["reason"]
    any_period = named.drop_duplicates(groups).set_index(groups)["reason"]
    cells = split[split["quarantined"].isna() | (split["quarantined"] > 0)].copy()
    found = [
        in_period.get((f, t, c, p), any_period.get((f, t, c)))
        for f, t, c, p in zip(
            cells["feed"],
            cells["source_table"],
            cells["column_name"],
            cells["period"],
            strict=True,
        )
    ]
    cells["reason"] = found
    cells = cells[cells["reason"].notna()]
    shown = cells["quarantined"].astype("Float64")
    cells["rows"] = shown.astype("Int64")
    cells["suppressed"] = None
    cells["display"] = shown.map(count_or_c)
    return cells[columns].reset_index(drop=True)


def count_or_c(value: float) -> str:
    """A published count with thousands separators, or `c` where suppressed."""
    return "c" if pd.isna(value) else f"{int(value):,}"


def publish_columns(
    columns: pd.DataFrame, quarantined: pd.DataFrame, policy: DisclosurePolicy
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per feed, table, column, LA (and Total) and period: completeness (values present of
    staged rows) and, for coded fields, validity (valid codes of every code returned: staged,
    or quarantined for not being in the list), where publishable; and the cells of the
    quarantined-rows-by-reason table for those codes.

    `quarantined` is the part of quality.quarantine_reason that counts a column's code not
    in its list (quality.metrics.code_columns), exact. A column's rows as returned split
    into missing and present, or for a coded field missing, valid, invalid (staged, so
    loaded) and quarantined, in one protected table; `invalid` and `quarantined` are the
    published counts of invalid codes beside the rate, and the reasons table shows these
    same cells (so the count is protected once)."""
    keys = COLUMN_KEYS
    result = [*keys, "codelist", "completeness", "validity", "invalid", "quarantined"]
    if columns.empty and quarantined.empty:
        return pd.DataFrame(columns=result), _code_cells(pd.DataFrame(), quarantined)
    frame = columns.assign(la=la_key(columns["la_code"]))[
        [*keys, "codelist", "rows", "non_null", "valid"]
    ]
    if not quarantined.empty:
        q = quarantined.assign(la=la_key(quarantined["la_code"]))
        q = q.groupby([*keys, "codelist"], as_index=False)["rows"].sum()
        frame = frame.merge(
            q.rename(columns={"rows": "quarantined"}), on=keys, how="outer", suffixes=("", "_q")
        )
        frame["codelist"] = frame["codelist"].fillna(frame["codelist_q"])
        none_staged = frame["rows"].isna()  # no row of the table staged in that LA and period
        for count in ("rows", "non_null", "valid"):
            frame[count] = frame[count].mask(none_staged, 0)
    frame = frame.assign(
        quarantined=frame.get("quarantined", pd.Series(0, index=frame.index)).fillna(0),
        missing=frame["rows"] - frame["non_null"],
        present=frame["non_null"],
        invalid=frame["non_null"] - frame["valid"],
    )
    groups = ["feed", "source_table", "column_name"]
    coded = frame["codelist"].notna()
    parts = []
    split = pd.DataFrame()
    if (~coded).any():
        plain = _split(frame[~coded], ["missing", "present"], "rows", groups, policy)
        parts.append(
            plain.assign(valid=float("nan"), invalid=float("nan"), quarantined=float("nan"))
        )
    if coded.any():
        split = _split(
            frame[coded], ["missing", "valid", "invalid", "quarantined"], "returned", groups, policy
        )
        # The staged rows: every part but the quarantined (published with them, or NA).
        parts.append(split.assign(rows=split["missing"] + split["valid"] + split["invalid"]))
    out = pd.concat(parts, ignore_index=True)
    lists = frame.drop_duplicates(groups)[[*groups, "codelist"]]
    out = out.merge(lists, on=groups, how="left")
    # present = rows - missing: published with them (and never a hidden count: protect
    # hid a second part of any split where it hid one).
    out["completeness"] = rate(out["rows"] - out["missing"], out["missing"], out["rows"])
    returned = out["valid"] + out["invalid"] + out["quarantined"]
    out["validity"] = rate(out["valid"], out["invalid"], out["quarantined"], returned)
    return out[result].reset_index(drop=True), _code_cells(split, quarantined)


def publish(
    summary: pd.DataFrame,
    links: pd.DataFrame,
    reasons: pd.DataFrame,
    columns: pd.DataFrame,
    policy: DisclosurePolicy,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Everything shown by LA, published: LA figures, quarantined rows by reason, and column
    figures. The rows quarantined for a coded column's code are protected with that column
    and shown by reason as published there; the other reasons are protected together."""
    coded = code_columns(reasons)
    la, by_reason = publish_la(summary, links, reasons.drop(index=coded.index), policy)
    cols, code_cells = publish_columns(columns, coded, policy)
    if not code_cells.empty:
        by_reason = pd.concat([by_reason, code_cells], ignore_index=True)
    return la, by_reason, cols
