"""Key stage records (phonics, KS1, KS4, KS5): one row per pupil in the year's results file.

Every key stage file carries the same pupil and school items, so their record columns are
built here once; each feed's derive module names only its own result columns.
"""

from __future__ import annotations

import duckdb

from core.duck import sql_str
from core.periods import AcademicYear
from ingest.convert import SQL_TYPES
from ingest.derive_common import DeriveContext, age_start_of_year, record_key
from ingest.spec import load_spec


def laestab(alias: str, given: bool = True) -> str:
    """LAESTAB as given, else the LA and establishment numbers joined (7 digits)."""
    joined = f"lpad({alias}.la_code::VARCHAR, 3, '0') || lpad({alias}.estab::VARCHAR, 4, '0')"
    return f"coalesce({alias}.laestab, {joined})" if given else joined


def _staged_types(feed: str, table: str) -> dict[str, str]:
    """SQL type of every staged column the table has in any year (so a column a year's
    schema dropped can still be selected, as NULL)."""
    spec = load_spec(feed)
    types: dict[str, str] = {}
    for version in (spec, spec.for_year(AcademicYear(9999))):
        for fld in version.tables[table].fields:
            types[fld.name] = SQL_TYPES[fld.type]
    return types


def derive_results(
    con: duckdb.DuckDBPyConnection,
    ctx: DeriveContext,
    table: str,
    results: list[str],
    *,
    candidate: bool = True,
    has_laestab: bool = True,
) -> None:
    """Create `records` from staged_<table>: lineage, pupil identity, school, then `results`.

    A result given as a bare column name that this year's file lacks (a schema change
    removed it) becomes a typed NULL, so every year's records have the same columns.
    """
    k = "k"
    present = {r[0] for r in con.execute(f"DESCRIBE staged_{table}").fetchall()}
    types = _staged_types(table, table)  # each key stage feed has one table, named for it
    results = [
        c if " " in c or c in present else f"CAST(NULL AS {types[c]}) AS {c}" for c in results
    ]
    results = [c if " " in c else f"{k}.{c}" for c in results]
    candidate_col = f"{k}.candidate_number" if candidate else "CAST(NULL AS VARCHAR)"
    laestab_col = laestab(k, has_laestab)
    extra = "".join(f",\n               {c}" for c in results)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS
        SELECT {record_key(k)} AS record_key,
               {k}._load_id, {k}._source_file, {k}._source_row, {k}._return,
               {sql_str(ctx.year.label)} AS academic_year,
               {candidate_col} AS candidate_number, {k}.upn, {k}.upn_status,
               CAST(NULL AS VARCHAR) AS former_upn, 'missing' AS former_upn_status,
               {k}.surname, {k}.forename, {k}.dob, {k}.sex,
               {age_start_of_year(f"{k}.dob", ctx.year)} AS age_start_of_year,
               {k}.la_code, {k}.estab, {laestab_col} AS laestab, {k}.urn{extra}
        FROM staged_{table} {k}
        ORDER BY {k}._source_file, {k}._source_row
        """
    )
