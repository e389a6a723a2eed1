"""Measure one partition's quality from its staged and linked Parquet, per local authority.

Everything is driven by the feed registry and the feed's spec for the year: the primary
table gives the row counts, every staged table's fields give completeness, and a field's
code list (FieldSpec.codelist, resolved through core.codes) gives code validity. So a new
feed is measured as soon as it stages, with no change here. All work runs in DuckDB over
the Parquet files (one aggregate per table); only aggregates come back.

A value not in its field's code list quarantines the row at staging, so invalid codes are
mostly not in the staged tables at all: they are counted from the quarantine reasons, which
quality.quarantine_reason keeps per LA, table and reason. A row counts under its first
reason (worded as the stage report and audit.quarantine_summary word it) and under every
further code of it not in its list, so the rows under "<field>: not a known code" are every
row quarantined for that field's code. code_columns() maps those reasons to the staged
column they are about; the dashboard shows them beside the invalid codes that were staged
(fields whose list is knowingly incomplete, `invalid: keep`). That table is the one source
of the count: nothing else recounts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from core.codes import codelist
from core.config import Settings
from core.duck import local_duckdb, quote_ident, sql_str
from core.feeds import get_feed
from core.partition import Partition
from ingest.derive_common import la_from_return
from ingest.spec import FeedSpec, FieldSpec, SpecError, TableSpec, load_spec
from linkage.master_index import LINKED

QUARANTINE = "quarantine.parquet"
RECORDS = "records.parquet"
# The words ingest/staging.py (_flag_duplicates) gives the later copies of a key the spec
# declares unique within a file (census error 1520), quarantined: "<key>: duplicate within
# the file of row <n> with different values ..." or "<key>: exact duplicate of row <n> ...".
# Matched at the start of the reason, before any parenthesis (so never in a quoted value).
DUPLICATE_REASON = "^[^;(]*: (duplicate within the file|exact duplicate) of row [0-9]+"
# A row number in a reason: dropped, so the rows of one kind count under one reason.
ROW_NUMBER = " of row [0-9]+"
# The problem ingest/convert.py (_problem) names for a value not in its field's code list
# (or mapping); the reason names the field as it arrives: "<source>: not a known code (value
# ...)", several reasons of a row joined by "; ".
CODE_PROBLEM = "not a known code"


def code_reason(fld: FieldSpec) -> str:
    """The quarantine reason (values withheld) of a row whose value of fld is not a known code."""
    return f"{fld.source}: {CODE_PROBLEM}"


def _code_fields(table: TableSpec) -> list[FieldSpec]:
    """Fields whose value staging checks against a code list or a mapping."""
    return [f for f in table.fields if f.type == "code" and (f.codelist or f.harmonise)]


@cache
def _spec(feed: str, year: str) -> FeedSpec | None:
    try:
        return load_spec(feed).for_year(year)
    except SpecError:
        return None


@cache
def _coded_by_reason(feed: str, year: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(table, reason) -> (staged column, code list) for the fields with a code list in the
    feed's spec for the year: the columns quality.column_quality measures as coded."""
    spec = _spec(feed, year)
    if spec is None:
        return {}
    return {
        (name, code_reason(f)): (f.name, f.codelist)
        for name, table in spec.tables.items()
        for f in table.fields
        if f.codelist
    }


def code_columns(reasons: pd.DataFrame) -> pd.DataFrame:
    """The rows of a quarantine_reason frame that count a code not in a column's code list,
    with the staged `column_name` and `codelist` that column_quality uses (mapped through
    the feed's spec for the row's year: the reason names the field as it arrives)."""
    columns = [*reasons.columns, "column_name", "codelist"]
    if reasons.empty:
        return pd.DataFrame(columns=columns)
    found = [
        _coded_by_reason(feed, year).get((table, reason))
        for feed, year, table, reason in zip(
            reasons["feed"],
            reasons["academic_year"],
            reasons["source_table"],
            reasons["reason"],
            strict=True,
        )
    ]
    mask = [f is not None for f in found]
    out = reasons[mask].copy()
    out["column_name"] = [f[0] for f in found if f is not None]
    out["codelist"] = [f[1] for f in found if f is not None]
    return out[columns]


@dataclass(frozen=True)
class StagedMetrics:
    """The per-LA figures of one partition's staged input (before anything is written)."""

    load_id: str
    la_summary: pa.Table  # without rows_loaded: the store knows whether this input loaded
    quarantine_reason: pa.Table
    column_quality: pa.Table
    link_method: pa.Table


def la_sql(columns: set[str], alias: str = "t") -> str:
    """The LA of a row: its return folder (LA<nnn>) or else its own la_code; NULL if neither."""
    parts = []
    if "_return" in columns:
        parts.append(la_from_return(alias))
    if "la_code" in columns:
        parts.append(f"TRY_CAST({alias}.la_code AS INTEGER)")
    if not parts:
        return "CAST(NULL AS SMALLINT)"
    return f"CAST(coalesce({', '.join(parts)}) AS SMALLINT)"


def _columns(con: duckdb.DuckDBPyConnection, path: Path) -> set[str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(path)})").fetchall()
    return {r[0] for r in rows}


def _view(con: duckdb.DuckDBPyConnection, name: str, path: Path, empty: str) -> set[str]:
    """A view `name` over the file with an `la` column; an empty stand-in if it is absent."""
    if not path.exists():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM ({empty}) WHERE false")
        return set()
    cols = _columns(con, path)
    con.execute(
        f"CREATE VIEW {name} AS SELECT {la_sql(cols)} AS la, t.* "
        f"FROM read_parquet({sql_str(path)}) t"
    )
    return cols


def _literals(partition: Partition, load_id: str, run_id: str) -> str:
    term = sql_str(partition.term_value) if partition.term else "CAST(NULL AS VARCHAR)"
    return (
        f"{sql_str(partition.feed)} AS feed, {sql_str(partition.year.label)} AS academic_year, "
        f"{term} AS term, {sql_str(load_id)} AS load_id, {sql_str(run_id)} AS run_id"
    )


def _la_summary(con: duckdb.DuckDBPyConnection, primary: str, head: str) -> pa.Table:
    return con.sql(
        f"""
        WITH staged AS (SELECT la, count(*) AS n FROM primary_rows GROUP BY la),
        quarantined AS (
            SELECT la, count(*) AS n,
                   count(*) FILTER (WHERE regexp_matches(reason, {sql_str(DUPLICATE_REASON)})) AS dup
            FROM quarantine WHERE source_table = {sql_str(primary)} GROUP BY la
        ),
        recs AS (SELECT la, count(*) AS n FROM records GROUP BY la),
        links AS (
            SELECT la, count(*) AS n,
                   count(*) FILTER (WHERE link_method <> 'unlinked') AS linked,
                   count(*) FILTER (WHERE new_person) AS new_persons,
                   count(person_id) - count(DISTINCT person_id) AS repeat_records
            FROM linked GROUP BY la
        ),
        las AS (
            SELECT la FROM staged UNION SELECT la FROM quarantined
            UNION SELECT la FROM recs UNION SELECT la FROM links
        )
        SELECT {head}, l.la AS la_code,
               coalesce(s.n, 0) + coalesce(q.n, 0) AS rows_read,
               coalesce(s.n, 0) AS rows_staged, coalesce(q.n, 0) AS rows_quarantined,
               coalesce(r.n, 0) AS records, coalesce(k.n, 0) AS linked_records,
               coalesce(k.linked, 0) AS linked, coalesce(k.new_persons, 0) AS new_persons,
               coalesce(q.dup, 0) AS duplicate_rows, coalesce(k.repeat_records, 0) AS repeat_records
        FROM las l
        LEFT JOIN staged s ON s.la IS NOT DISTINCT FROM l.la
        LEFT JOIN quarantined q ON q.la IS NOT DISTINCT FROM l.la
        LEFT JOIN recs r ON r.la IS NOT DISTINCT FROM l.la
        LEFT JOIN links k ON k.la IS NOT DISTINCT FROM l.la
        ORDER BY l.la NULLS LAST
        """
    ).to_arrow_table()


def _reasons(con: duckdb.DuckDBPyConnection, spec: FeedSpec, head: str) -> pa.Table:
    """Quarantined rows per LA, table and reason, values withheld. A row counts under its
    first reason, cut before its first parenthesis as staging's report words it (less any
    row number: "exact duplicate of row 12" is an "exact duplicate"), and under every
    further "<field>: not a known code" of its table (words we write, matched in full after
    a "; ", so no text of a value is ever taken into a reason)."""
    codes = [(name, code_reason(f)) for name, t in spec.tables.items() for f in _code_fields(t)]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE code_reasons AS "
        "SELECT unnest(?::VARCHAR[]) AS source_table, unnest(?::VARCHAR[]) AS reason",
        [[t for t, _ in codes], [r for _, r in codes]],
    )
    return con.sql(
        f"""
        WITH q AS (SELECT row_number() OVER () AS n, la, source_table, reason FROM quarantine),
        parts AS (
            SELECT n, la, source_table,
                   regexp_replace(regexp_replace(reason, ' \\(.*', ''), {sql_str(ROW_NUMBER)}, '', 'g')
                     AS reason
            FROM q
            UNION
            SELECT q.n, q.la, q.source_table, c.reason
            FROM q JOIN code_reasons c
              ON c.source_table = q.source_table AND contains(q.reason, '; ' || c.reason)
        )
        SELECT {head}, la AS la_code, source_table, reason, count(*) AS rows
        FROM parts GROUP BY ALL ORDER BY la NULLS LAST, source_table, reason
        """
    ).to_arrow_table()


def _column_quality(
    con: duckdb.DuckDBPyConnection, table: TableSpec, path: Path, head: str
) -> pa.Table | None:
    """One pass over a staged table: per LA, rows, and per field values present and valid."""
    if not path.exists():
        return None
    present = _columns(con, path)
    fields = [f for f in table.fields if f.name in present]
    if not fields:
        return None
    aggregates, structs = [], []
    for i, fld in enumerate(fields):
        col = quote_ident(fld.name)
        aggregates.append(f"count({col}) AS nn_{i}")
        if fld.codelist:
            aggregates.append(
                f"count(*) FILTER (WHERE {codelist(fld.codelist).sql_valid(col)}) AS v_{i}"
            )
            valid, name = f"v_{i}", sql_str(fld.codelist)
        else:
            valid, name = "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR)"
        structs.append(
            f"struct_pack(column_name := {sql_str(fld.name)}, codelist := {name}, "
            f"non_null := nn_{i}, valid := {valid})"
        )
    return con.sql(
        f"""
        WITH agg AS (
            SELECT {la_sql(present)} AS la, count(*) AS rows, {", ".join(aggregates)}
            FROM read_parquet({sql_str(path)}) t GROUP BY 1
        )
        SELECT {head}, la AS la_code, {sql_str(table.name)} AS source_table, rows,
               unnest([{", ".join(structs)}], recursive := true)
        FROM agg ORDER BY la NULLS LAST
        """
    ).to_arrow_table()


def measure_staged(settings: Settings, partition: Partition, load_id: str, run_id: str):
    """The partition's per-LA figures, or None if it has not been staged."""
    folder = partition.staging_dir(settings)
    feed = get_feed(partition.feed)
    spec = load_spec(partition.feed).for_year(partition.year)
    primary = feed.primary_table
    head = _literals(partition, load_id, run_id)
    with local_duckdb(settings.tmp_dir) as con:
        _view(con, "primary_rows", folder / "tables" / f"{primary}.parquet", "SELECT NULL AS la")
        _view(
            con,
            "quarantine",
            folder / QUARANTINE,
            "SELECT NULL::SMALLINT AS la, NULL::VARCHAR AS source_table, NULL::VARCHAR AS reason",
        )
        _view(con, "records", folder / RECORDS, "SELECT NULL::SMALLINT AS la")
        _view(
            con,
            "linked",
            folder / LINKED,
            "SELECT NULL::SMALLINT AS la, NULL::VARCHAR AS link_method, NULL::BOOLEAN AS new_person, "
            "NULL::BIGINT AS person_id",
        )
        summary = _la_summary(con, primary, head)
        reasons = _reasons(con, spec, head)
        links = con.sql(
            f"SELECT {head}, la AS la_code, link_method, count(*) AS records, "
            "count(*) FILTER (WHERE new_person) AS new_persons "
            "FROM linked GROUP BY ALL ORDER BY la NULLS LAST, link_method"
        ).to_arrow_table()
        parts = [
            _column_quality(con, table, folder / "tables" / f"{name}.parquet", head)
            for name, table in spec.tables.items()
        ]
    columns = [p for p in parts if p is not None and p.num_rows]
    return StagedMetrics(
        load_id=load_id,
        la_summary=summary,
        quarantine_reason=reasons,
        column_quality=pa.concat_tables(columns, promote_options="permissive")
        if columns
        else pa.table({}),
        link_method=links,
    )
