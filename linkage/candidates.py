"""Candidate persons for probabilistic linkage: representative rows from the identity store.

identity.record_identity holds the names, DOB, sex and postcode of every record ever
linked. A person is represented by each distinct standardised identity they were seen
with (their surname before and after a change, each address), newest first and at most
MAX_VARIANTS, so a query matches whichever version of the child it resembles. Only rows
that can share a blocking key with the queries (same DOB, or same birth year and surname)
leave the store, so the store does the coarse filtering and Splink the rest.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from linkage.standardise import standard_select
from npd.duck import scalar, sql_str
from warehouse.bulk import create_temp, query_arrow

MAX_VARIANTS = 5
RAW = pa.schema(
    [
        ("person_id", pa.int64()),
        ("feed", pa.string()),
        ("academic_year", pa.string()),
        ("term", pa.string()),
        ("record_key", pa.string()),
        ("return_key", pa.string()),
        ("forename", pa.string()),
        ("surname", pa.string()),
        ("dob", pa.date32()),
        ("sex", pa.string()),
        ("postcode", pa.string()),
        ("la_code", pa.int32()),
    ]
)
SURNAME_KEY = "regexp_replace(upper({col}), '[^A-Z]', '', 'g')"  # same SQL in DuckDB and Postgres
_RAW_SELECT = (
    "r.person_id, r.feed, r.academic_year, r.term, r.record_key, CAST(NULL AS VARCHAR) AS return_key, "
    "r.forename, r.surname, r.dob, r.sex, r.postcode, r.la_code"
)


def _not_partition(feed: str, year: str, term: str | None) -> str:
    term_test = f"r.term = {sql_str(term)}" if term else "r.term IS NULL"
    return f"NOT (r.feed = {sql_str(feed)} AND r.academic_year = {sql_str(year)} AND {term_test})"


def fetch_blocked(
    conn: sa.Connection,
    con: duckdb.DuckDBPyConnection,
    queries: str,
    partition: tuple[str, str, str | None],
    out: str,
) -> int:
    """Store rows (outside the partition being linked) that may share a blocking key with
    a query; raw, into local table `out`. Returns rows fetched."""
    dobs = con.sql(f"SELECT DISTINCT dob FROM {queries} WHERE dob IS NOT NULL").to_arrow_table()
    names = con.sql(
        f"SELECT DISTINCT CAST(year(dob) AS INTEGER) AS birth_year, "
        f"{SURNAME_KEY.format(col='surname')} AS surname_key "
        f"FROM {queries} WHERE dob IS NOT NULL AND surname IS NOT NULL"
    ).to_arrow_table()
    create_temp(conn, "_fb_dobs", dobs)
    create_temp(conn, "_fb_names", names)
    # Only the newest record of each person's raw identity leaves the store: a child seen in
    # every census term is one row, not one per term. `representative` keeps the newest per
    # standardised identity, which is the newest of these, so the candidates are the same.
    rows = query_arrow(
        conn,
        f"""
        SELECT {", ".join(RAW.names)} FROM (
            SELECT {_RAW_SELECT},
                   row_number() OVER (
                       PARTITION BY r.person_id, r.forename, r.surname, r.dob, r.sex, r.postcode
                       ORDER BY {_recency("r")} DESC, r.record_key) AS _newest
            FROM identity.record_identity r
            WHERE r.person_id IS NOT NULL AND {_not_partition(*partition)}
              AND (r.dob IN (SELECT dob FROM _fb_dobs)
                   OR EXISTS (SELECT 1 FROM _fb_names n
                              WHERE n.birth_year = EXTRACT(YEAR FROM r.dob)
                                AND n.surname_key = {SURNAME_KEY.format(col="r.surname")}))
        ) AS fetched
        WHERE _newest = 1
        """,
        schema=RAW,
    )
    con.register("_fetched_view", rows)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM _fetched_view")
    con.unregister("_fetched_view")
    return rows.num_rows


def fetch_persons(
    conn: sa.Connection,
    con: duckdb.DuckDBPyConnection,
    persons: pa.Table,
    partition: tuple[str, str, str | None] | None,
    out: str,
) -> int:
    """Every store row of the given persons (a one-column person_id table), raw, into `out`."""
    create_temp(conn, "_fb_persons", persons.select(["person_id"]))
    exclude = f"AND {_not_partition(*partition)}" if partition else ""
    rows = query_arrow(
        conn,
        f"SELECT {_RAW_SELECT} FROM identity.record_identity r "
        f"WHERE r.person_id IN (SELECT person_id FROM _fb_persons) {exclude}",
        schema=RAW,
    )
    con.register("_fetched_view", rows)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM _fetched_view")
    con.unregister("_fetched_view")
    return rows.num_rows


def _recency(alias: str) -> str:
    return (
        f"{alias}.academic_year || CASE {alias}.term WHEN 'autumn' THEN '1' WHEN 'spring' THEN '2' "
        f"WHEN 'summer' THEN '3' ELSE '4' END"
    )


def representative(
    con: duckdb.DuckDBPyConnection, raw: str, out: str, max_variants: int = MAX_VARIANTS
) -> int:
    """Standardise raw rows and keep each person's distinct identities, newest first.

    `out` gets unique_id, person_id, the standard columns and a reference to the record
    each variant came from (ref_*), which the review queue shows a reviewer.
    """
    extra = (
        "t.person_id, t.feed AS ref_feed, t.academic_year AS ref_year, t.term AS ref_term, "
        f"t.record_key AS ref_record_key, t.return_key, {_recency('t')} AS recency"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH std AS ({standard_select(con, raw, extra)}),
        variants AS (
            SELECT * FROM std WHERE person_id IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY person_id, forename, surname, dob, sex, postcode
                                       ORDER BY recency DESC, ref_record_key) = 1
        )
        SELECT row_number() OVER (ORDER BY person_id, recency DESC, ref_record_key) AS unique_id, *
        FROM variants
        QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY recency DESC, ref_record_key)
                <= {int(max_variants)}
        """
    )
    return scalar(con, f"SELECT count(*) FROM {out}")


def count_persons(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM identity.person")).scalar_one())
