"""Candidate persons for probabilistic linkage: representative rows from the identity store.

identity.record_identity holds the names, DOB, sex and postcode of every record ever
linked; identity.linkage_key holds the same, standardised once when the record was linked
(`index_select`). A person is represented by each distinct standardised identity they were
seen with (their surname before and after a change, each address), newest first and at
most MAX_VARIANTS, so a query matches whichever version of the child it resembles.

Only index rows that share a blocking key of the model with a query leave the store: the
store joins on the exact keys (`fetch_blocked`), so what a partition copies grows with its
unlinked records, not with the store. Blocking on DOB alone would copy nearly every child
of school age into every census term's link.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from core.duck import scalar, sql_str
from linkage import model as fs
from linkage.standardise import standard_select
from warehouse.bulk import create_temp, query_arrow
from warehouse.load import append
from warehouse_schema.catalogue import load_catalogue

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
# Standardised rows, as identity.linkage_key holds them and `variants` reads them.
STANDARD = pa.schema(
    [
        ("person_id", pa.int64()),
        ("ref_feed", pa.string()),
        ("ref_year", pa.string()),
        ("ref_term", pa.string()),
        ("ref_record_key", pa.string()),
        ("return_key", pa.string()),
        ("recency", pa.string()),
        ("forename", pa.string()),
        ("surname", pa.string()),
        ("dob", pa.date32()),
        ("sex", pa.string()),
        ("postcode", pa.string()),
        ("sector", pa.string()),
        ("district", pa.string()),
        ("birth_year", pa.int64()),
        ("la_code", pa.int32()),
    ]
)
_KEY_COLUMNS = ("forename", "surname", "dob", "sex", "postcode", "sector", "district")
_RAW_SELECT = (
    "r.person_id, r.feed, r.academic_year, r.term, r.record_key, CAST(NULL AS VARCHAR) AS return_key, "
    "r.forename, r.surname, r.dob, r.sex, r.postcode, r.la_code"
)


def _not_partition(feed: str, year: str, term: str | None) -> str:
    term_test = f"r.term = {sql_str(term)}" if term else "r.term IS NULL"
    return f"NOT (r.feed = {sql_str(feed)} AND r.academic_year = {sql_str(year)} AND {term_test})"


def blocking_keys() -> list[tuple[tuple[str, str], ...]]:
    """The model's blocking rules as (candidate column, query column) pairs: each rule's
    columns equal, and the swapped rule both ways round (Splink may put either side left)."""
    rules = [tuple((col, col) for col in rule) for rule in fs.BLOCKING_RULES]
    return [*rules, fs.SWAPPED, tuple((q, c) for c, q in fs.SWAPPED)]


def fetch_blocked(
    conn: sa.Connection,
    con: duckdb.DuckDBPyConnection,
    queries: str,
    partition: tuple[str, str, str | None],
    out: str,
) -> int:
    """Index rows (outside the partition being linked) that share a blocking key with a
    query (standardised, table `queries`), newest per person and identity, into local
    table `out` (STANDARD columns). Returns rows fetched."""
    hits = []
    for i, rule in enumerate(blocking_keys()):
        names = [f"k{j}" for j in range(len(rule))]
        keys = con.sql(
            f"SELECT DISTINCT {', '.join(f'{q} AS {n}' for (_, q), n in zip(rule, names, strict=True))} "
            f"FROM {queries} WHERE {' AND '.join(f'{q} IS NOT NULL' for _, q in rule)}"
        ).to_arrow_table()
        create_temp(conn, f"_fb_keys_{i}", keys)
        on = " AND ".join(f"r.{c} = k.{n}" for (c, _), n in zip(rule, names, strict=True))
        hits.append(f"SELECT r.* FROM identity.linkage_key r JOIN _fb_keys_{i} k ON {on}")
    # One plain hash join per rule: an OR of IN-subqueries becomes mark joins, which DuckDB
    # runs pathologically slowly where the index has NULLs (40 s against 1 s at 8M rows).
    # A child seen in every census term is one row, not one per term: the newest record of
    # each person's standardised identity (what `variants` would keep of them anyway), which
    # also drops a row that more than one rule found.
    rows = query_arrow(
        conn,
        f"""
        SELECT {", ".join(STANDARD.names)} FROM (
            SELECT r.person_id, r.feed AS ref_feed, r.academic_year AS ref_year,
                   r.term AS ref_term, r.record_key AS ref_record_key,
                   CAST(NULL AS VARCHAR) AS return_key, {_recency("r")} AS recency,
                   r.forename, r.surname, r.dob, r.sex, r.postcode, r.sector, r.district,
                   r.birth_year, r.la_code,
                   row_number() OVER (
                       PARTITION BY r.person_id, {", ".join(f"r.{c}" for c in _KEY_COLUMNS)}
                       ORDER BY {_recency("r")} DESC, r.record_key) AS _newest
            FROM ({" UNION ALL ".join(hits)}) r
            WHERE {_not_partition(*partition)}
        ) AS fetched
        WHERE _newest = 1
        """,
        schema=STANDARD,
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
    return recency_of(f"{alias}.academic_year", f"{alias}.term")


def recency_of(year: str, term: str) -> str:
    """SQL ordering a record's period: later years, then later terms, sort higher."""
    return (
        f"{year} || CASE {term} WHEN 'autumn' THEN '1' WHEN 'spring' THEN '2' "
        f"WHEN 'summer' THEN '3' ELSE '4' END"
    )


def shares_key(alias: str, queries: str) -> str:
    """SQL true where the row `alias` (standard columns) shares a blocking key with a row of
    local table `queries`."""
    tests = [
        f"EXISTS (SELECT 1 FROM {queries} k WHERE "
        + " AND ".join(f"k.{q} = {alias}.{c}" for c, q in rule)
        + ")"
        for rule in blocking_keys()
    ]
    return f"({' OR '.join(tests)})"  # EXISTS, not IN: see fetch_blocked


def standardised(con: duckdb.DuckDBPyConnection, raw: str, out: str) -> None:
    """Raw rows (RAW columns) standardised into `out` (STANDARD columns)."""
    extra = (
        "t.person_id, t.feed AS ref_feed, t.academic_year AS ref_year, t.term AS ref_term, "
        f"t.record_key AS ref_record_key, t.return_key, {_recency('t')} AS recency"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS {standard_select(con, raw, extra)}")


def variants(
    con: duckdb.DuckDBPyConnection, std: str, out: str, max_variants: int = MAX_VARIANTS
) -> int:
    """Each person's distinct standardised identities, newest first, at most `max_variants`.

    `out` gets unique_id, person_id, the standard columns and a reference to the record
    each variant came from (ref_*), which the review queue shows a reviewer.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH variants AS (
            SELECT {", ".join(STANDARD.names)} FROM {std} WHERE person_id IS NOT NULL
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


def representative(
    con: duckdb.DuckDBPyConnection, raw: str, out: str, max_variants: int = MAX_VARIANTS
) -> int:
    """Raw store rows standardised, then each person's variants (`variants`)."""
    standardised(con, raw, f"{out}_std")
    found = variants(con, f"{out}_std", out, max_variants)
    con.execute(f"DROP TABLE IF EXISTS {out}_std")
    return found


def standardise_records(con: duckdb.DuckDBPyConnection, records: str, out: str) -> None:
    """A batch's records standardised once (record_key, return_key and the standard columns):
    the index rows it leaves behind and the candidates it offers its own unlinked records."""
    cols = {r[0] for r in con.execute(f"DESCRIBE {records}").fetchall()}
    ret = "t._return" if "_return" in cols else "t._source_file"
    extra = f"t.record_key, CAST({ret} AS VARCHAR) AS return_key"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS {standard_select(con, records, extra)}")


def ensure_index(conn: sa.Connection, con: duckdb.DuckDBPyConnection) -> int:
    """Fill identity.linkage_key from identity.record_identity once, for a store linked before
    the index existed (every link since writes both in one transaction). Returns rows added."""
    has_index, has_records = conn.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM identity.linkage_key), EXISTS (SELECT 1 FROM "
            "identity.record_identity WHERE person_id IS NOT NULL)"
        )
    ).one()
    if has_index or not has_records:
        return 0
    rows = query_arrow(
        conn,
        f"SELECT {_RAW_SELECT} FROM identity.record_identity r WHERE r.person_id IS NOT NULL",
        schema=RAW,
    )
    con.register("_index_raw_view", rows)
    standardised(con, "_index_raw_view", "_index_std")
    con.unregister("_index_raw_view")
    data = con.sql(
        "SELECT ref_feed AS feed, ref_year AS academic_year, ref_term AS term, "
        "ref_record_key AS record_key, person_id, forename, surname, dob, sex, postcode, "
        "sector, district, birth_year, la_code FROM _index_std"
    ).to_arrow_table()
    con.execute("DROP TABLE _index_std")
    return append(conn, load_catalogue().table("identity.linkage_key"), data)


def index_select(standard: str, placed: str, feed: str, year: str, term: str | None) -> str:
    """The query for identity.linkage_key rows of a partition: its linked records,
    standardised (table `standard`, with record_key), with the persons they are linked to
    (table `placed`)."""
    term_sql = sql_str(term) if term else "CAST(NULL AS VARCHAR)"
    return f"""
        SELECT {sql_str(feed)} AS feed, {sql_str(year)} AS academic_year, {term_sql} AS term,
               s.record_key, a.person_id, s.forename, s.surname, s.dob, s.sex, s.postcode,
               s.sector, s.district, s.birth_year, s.la_code
        FROM {standard} s JOIN {placed} a USING (record_key)
        WHERE a.person_id IS NOT NULL
        ORDER BY s.record_key
        """


def count_persons(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM identity.person")).scalar_one())
