"""Checksums of what a warehouse and identity store hold, to compare runs table by table.

Each table's digest is an MD5 over its rows (as text) in sorted order, so two stores holding
the same rows compare equal whatever order they were written in. Audit columns that record
when or by which run something happened are left out; everything else counts.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.config import Settings

RESEARCH = {"research.census_pupil": "school_census", "research.ks2_result": "ks2"}
IDENTITY = ("identity.person", "identity.person_identifier", "identity.record_identity")
EXCLUDE = {"audit.partition_load": "loaded_at"}


def _db(url: str) -> Path:
    return Path(url.removeprefix("duckdb:///"))


def _digest(con: duckdb.DuckDBPyConnection, table: str, where: str) -> tuple[int, str]:
    cols = f"* EXCLUDE ({EXCLUDE[table]})" if table in EXCLUDE else "*"
    rows = con.execute(
        f"SELECT count(*), md5(coalesce(string_agg(r, '|' ORDER BY r), '')) FROM "
        f"(SELECT CAST(t AS VARCHAR) AS r FROM (SELECT {cols} FROM {table} WHERE {where}) t)"
    ).fetchall()
    return rows[0][0], rows[0][1]


def checksums(
    settings: Settings, years: list[str] | None = None, feeds: tuple[str, ...] | None = None
) -> dict[str, tuple[int, str]]:
    """Row count and digest per research table, identity table and audit.partition_load;
    with `years` (and `feeds`), only those partitions, and no whole-store tables."""
    where = "TRUE"
    if years:
        where = "academic_year IN (" + ", ".join(f"'{y}'" for y in years) + ")"
    by_feed = where
    if feeds:
        by_feed += " AND feed IN (" + ", ".join(f"'{f}'" for f in feeds) + ")"
    out: dict[str, tuple[int, str]] = {}
    with duckdb.connect(str(_db(settings.warehouse_url)), read_only=True) as con:
        for table in RESEARCH:
            if not feeds or RESEARCH[table] in feeds:
                out[table] = _digest(con, table, where)
        out["audit.partition_load"] = _digest(con, "audit.partition_load", by_feed)
    with duckdb.connect(str(_db(settings.identity_url)), read_only=True) as con:
        for table in IDENTITY:
            if table == "identity.record_identity":
                out[table] = _digest(con, table, by_feed)
            elif not years and not feeds:
                out[table] = _digest(con, table, where)
    return out


def partition_digest(settings: Settings, table: str, year: str, term: str | None) -> tuple:
    term_test = f"census_term = '{term}'" if term else "TRUE"
    with duckdb.connect(str(_db(settings.warehouse_url)), read_only=True) as con:
        return _digest(con, table, f"academic_year = '{year}' AND {term_test}")


def scalar(settings: Settings, sql: str, store: str = "warehouse"):
    url = settings.warehouse_url if store == "warehouse" else settings.identity_url
    with duckdb.connect(str(_db(url)), read_only=True) as con:
        return con.execute(sql).fetchall()[0][0]
