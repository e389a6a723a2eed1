"""Measure one partition's quality from its staged and linked Parquet, per local authority.

Everything is driven by the feed registry and the feed's spec for the year: the primary
table gives the row counts, every staged table's fields give completeness, and a field's
code list (FieldSpec.codelist, resolved through npd.codes) gives code validity. So a new
feed is measured as soon as it stages, with no change here. All work runs in DuckDB over
the Parquet files (one aggregate per table); only aggregates come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.derive_common import la_from_return
from ingest.feeds import get_feed
from ingest.spec import TableSpec, load_spec
from linkage.master_index import LINKED
from npd.codes import codelist
from npd.config import Settings
from npd.duck import local_duckdb, quote_ident, sql_str
from npd.partition import Partition

QUARANTINE = "quarantine.parquet"
RECORDS = "records.parquet"
# The phrase ingest/staging.py (_flag_duplicates) gives rows quarantined because a key the
# spec declares unique repeats within a return (census error 1520).
DUPLICATE_REASON = "duplicate within the return"


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
                   count(*) FILTER (WHERE reason LIKE {sql_str("%" + DUPLICATE_REASON + "%")}) AS dup
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
        reasons = con.sql(
            f"SELECT {head}, la AS la_code, source_table, "
            f"regexp_replace(reason, ' \\(.*', '') AS reason, count(*) AS rows "
            "FROM quarantine GROUP BY ALL ORDER BY la NULLS LAST, source_table, reason"
        ).to_arrow_table()
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
