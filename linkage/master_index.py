"""The pupil master index and deterministic linkage: UPN, then former UPN, then ULN,
then the local authority's own child id.

Person ids are allocated once and kept in the identity store with every
identifier seen for the person, so they are stable across terms, years and
reruns. New persons in a batch are numbered in identifier order, so the same
inputs in the same order always give the same ids.

The children's social care returns (SSDA903, CIN census) carry the LA's child id
(`la_child_id`), one id per child across both returns and across years, but unique only
within its LA: the key is `<la_code>:<id>` (id_type LA_CHILD). The CIN census has no names
and no address, so a child there with a UN code instead of a UPN has nothing else the
index could match. A record without a person after UPN, former UPN and ULN whose LA child
key the index holds links to that person (method `la_child_id`); every record that gets a
person by any method teaches the index its key, so the child's next UN-coded record links.
A key never creates a person: a child known to social care only by a UN code would become
a person the school census could not find (the census comes first each year and makes a
person for the child's UPN when they start school, so the two would split); such records
stay unlinked and counted, for the fallback and review.

A valid ULN the index has never seen, on a record with no usable UPN or former UPN, does not
make a person at once when a fallback is on: the learner may be a pupil the index knows by
UPN whose census records never carried the ULN (an ILR learner, a school leaver). Unless its
LA child key places it, the record is offered to the fallback first; placed, its ULN is
learned for that person; not placed (no candidate, below the threshold, or sent to review),
the ULN makes its new person as before. Records with a usable UPN are never offered.

The work runs in a local DuckDB; the identity store (DuckDB or PostgreSQL, by
URL) is only asked for the identifiers this batch carries and told what is new.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from core.duck import local_duckdb, scalar, sql_str
from linkage import candidates as cand
from linkage.fallback import RESULT_SCHEMA, Fallback, LinkContext, NoFallback
from linkage.review import apply_decisions
from linkage.standardise import STANDARD_INPUTS
from warehouse.bulk import create_temp, insert_arrow, query_arrow
from warehouse.engine import ensure_schema, open_engine
from warehouse.load import replace_partition, replace_partition_select
from warehouse_schema.catalogue import Table, conform, conform_stream, load_catalogue

MODEL_VERSION = "deterministic-1"
LA_CHILD_VERSION = "la-child-1"  # the rule that links by the LA's child id
USABLE_UPN = "('valid', 'temporary')"
LINKED = "linked.parquet"
STREAM_ROWS = 250_000  # rows per batch streamed from the link's DuckDB into the store
LINKS = [c for c in RESULT_SCHEMA.names if c != "record_key"]  # what a link adds to a record
KNOWN_SCHEMA = pa.schema(
    [("id_type", pa.string()), ("id_value", pa.string()), ("person_id", pa.int64())]
)


@dataclass
class LinkReport:
    feed: str
    academic_year: str
    term: str | None
    load_id: str
    records: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    counts: list[tuple[str, bool, int]] = field(default_factory=list)  # method, new person, records
    new_persons: int = 0
    new_identifiers: int = 0
    conflicts: int = 0  # identifiers of one record already held by different persons
    fallback: str = "none"
    replayed: bool = False  # the same input was linked before: its links were kept
    clerical: int = 0  # records whose links a reviewer's decision changed in this run
    seconds: float = 0.0

    @property
    def linked(self) -> int:
        return sum(n for m, n in self.by_method.items() if m != "unlinked")

    @property
    def link_rate(self) -> float:
        return self.linked / self.records if self.records else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "linked": self.linked, "link_rate": round(self.link_rate, 6)}


def _has(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    cols = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    return column in cols


def link_columns() -> frozenset[str]:
    """The record columns linkage reads: what identity.record_identity keeps, the inputs
    of standardisation, and the checks, keys and return `_prepare` and the fallback read.
    The rest of a wide record (a census row has some thirty columns) stays in its Parquet
    file until the linked file is written."""
    kept = load_catalogue().table("identity.record_identity").column_names
    read = ["former_upn_status", "uln_valid", "la_child_id", "_return", "_source_file"]
    return frozenset([*kept, *STANDARD_INPUTS, *read])


def _prepare(con: duckdb.DuckDBPyConnection, records: Path) -> None:
    """Load records with uniform identifier columns, whatever the feed carries."""
    wanted = link_columns()
    staged = [
        r[0]
        for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(records)})").fetchall()
    ]
    cols = ", ".join(f'"{c}"' for c in staged if c in wanted)
    con.execute(f"CREATE TABLE src AS SELECT {cols} FROM read_parquet({sql_str(records)})")
    upn = "upn" if _has(con, "src", "upn") else "CAST(NULL AS VARCHAR)"
    upn_status = "upn_status" if _has(con, "src", "upn_status") else "'missing'"
    former = "former_upn" if _has(con, "src", "former_upn") else "CAST(NULL AS VARCHAR)"
    former_status = "former_upn_status" if _has(con, "src", "former_upn_status") else "'missing'"
    uln = "uln" if _has(con, "src", "uln") else "CAST(NULL AS VARCHAR)"
    uln_valid = "uln_valid" if _has(con, "src", "uln_valid") else "false"
    # The LA child key: only unique within the LA, so the LA code is part of it.
    la_key = (
        "CASE WHEN TRY_CAST(la_code AS INTEGER) IS NOT NULL AND nullif(trim(la_child_id), '') "
        "IS NOT NULL THEN CAST(TRY_CAST(la_code AS INTEGER) AS VARCHAR) || ':' || trim(la_child_id) END"
        if _has(con, "src", "la_child_id") and _has(con, "src", "la_code")
        else "CAST(NULL AS VARCHAR)"
    )
    con.execute(
        f"""
        CREATE TABLE ids AS
        SELECT record_key,
               CASE WHEN {upn_status} IN {USABLE_UPN} THEN {upn} END AS upn_key,
               CASE WHEN {former_status} IN {USABLE_UPN} THEN {former} END AS former_key,
               CASE WHEN coalesce({uln_valid}, false) THEN {uln} END AS uln_key,
               {la_key} AS la_key
        FROM src
        """
    )
    con.execute(
        """
        CREATE TABLE cand AS
        SELECT DISTINCT 'UPN' AS id_type, upn_key AS id_value FROM ids WHERE upn_key IS NOT NULL
        UNION SELECT DISTINCT 'UPN', former_key FROM ids WHERE former_key IS NOT NULL
        UNION SELECT DISTINCT 'ULN', uln_key FROM ids WHERE uln_key IS NOT NULL
        UNION SELECT DISTINCT 'LA_CHILD', la_key FROM ids WHERE la_key IS NOT NULL
        """
    )


def _assign(con: duckdb.DuckDBPyConnection, next_id: int, defer_uln: bool = False) -> None:
    """Known persons first (UPN, former UPN, ULN), then one new person per unseen identifier,
    then, for a record with none of these, the person its LA child key belongs to (never a
    new person: see the module docstring).

    With `defer_uln` (a fallback is on), a record whose only key is a valid ULN the index has
    not seen waits instead (table `deferred`): its LA child key may place it, else the
    fallback is tried first, and only if the fallback does not place it does its ULN make a
    new person (`_settle_deferred`).
    """
    con.execute(
        f"""
        CREATE TABLE known_links AS
        SELECT i.record_key, u.person_id AS upn_pid, f.person_id AS former_pid, l.person_id AS uln_pid,
               c.person_id AS la_pid, i.upn_key, i.former_key, i.uln_key,
               {"true" if defer_uln else "false"} AND i.upn_key IS NULL AND i.former_key IS NULL
                 AND i.uln_key IS NOT NULL AND l.person_id IS NULL AS deferred
        FROM ids i
        LEFT JOIN known u ON u.id_type = 'UPN' AND u.id_value = i.upn_key
        LEFT JOIN known f ON f.id_type = 'UPN' AND f.id_value = i.former_key
        LEFT JOIN known l ON l.id_type = 'ULN' AND l.id_value = i.uln_key
        LEFT JOIN known c ON c.id_type = 'LA_CHILD' AND c.id_value = i.la_key
        """
    )
    con.execute(
        f"""
        CREATE TABLE new_keys AS
        SELECT key_type, key_value, {next_id} - 1 + row_number() OVER (ORDER BY key_type, key_value) AS person_id
        FROM (
            SELECT DISTINCT
                   CASE WHEN upn_key IS NOT NULL THEN 'UPN' WHEN former_key IS NOT NULL THEN 'UPN'
                        ELSE 'ULN' END AS key_type,
                   coalesce(upn_key, former_key, uln_key) AS key_value
            FROM known_links
            WHERE coalesce(upn_pid, former_pid, uln_pid) IS NULL
              AND coalesce(upn_key, former_key, uln_key) IS NOT NULL AND NOT deferred
        )
        """
    )
    # Deferred records the LA child key does not place: offered to the fallback first.
    con.execute(
        "CREATE TABLE deferred AS SELECT record_key, uln_key FROM known_links "
        "WHERE deferred AND la_pid IS NULL"
    )
    identified = "coalesce(k.upn_key, k.former_key, k.uln_key) IS NOT NULL AND NOT k.deferred"
    by_la = f"NOT ({identified}) AND k.la_pid IS NOT NULL"
    con.execute(
        f"""
        CREATE TABLE assigned AS
        SELECT k.record_key,
               coalesce(k.upn_pid, k.former_pid, k.uln_pid, n.person_id, k.la_pid) AS person_id,
               CASE WHEN k.upn_pid IS NOT NULL THEN 'upn'
                    WHEN k.former_pid IS NOT NULL THEN 'former_upn'
                    WHEN k.uln_pid IS NOT NULL THEN 'uln'
                    WHEN k.upn_key IS NOT NULL THEN 'upn'
                    WHEN k.former_key IS NOT NULL THEN 'former_upn'
                    WHEN k.uln_key IS NOT NULL AND NOT k.deferred THEN 'uln'
                    WHEN k.la_pid IS NOT NULL THEN 'la_child_id'
                    ELSE 'unlinked' END AS link_method,
               CASE WHEN {identified} OR {by_la} THEN 1.0 END AS match_probability,
               CASE WHEN {identified} THEN {sql_str(MODEL_VERSION)}
                    WHEN {by_la} THEN {sql_str(LA_CHILD_VERSION)} END AS model_version,
               n.person_id IS NOT NULL AS new_person,
               (k.upn_pid IS NOT NULL AND k.former_pid IS NOT NULL AND k.upn_pid <> k.former_pid)
                 OR (coalesce(k.upn_pid, k.former_pid) IS NOT NULL AND k.uln_pid IS NOT NULL
                     AND coalesce(k.upn_pid, k.former_pid) <> k.uln_pid)
                 OR (coalesce(k.upn_pid, k.former_pid, k.uln_pid) IS NOT NULL AND k.la_pid IS NOT NULL
                     AND coalesce(k.upn_pid, k.former_pid, k.uln_pid) <> k.la_pid) AS conflict
        FROM known_links k
        LEFT JOIN new_keys n
          ON n.key_value = coalesce(k.upn_key, k.former_key, k.uln_key)
         AND n.key_type = CASE WHEN coalesce(k.upn_key, k.former_key) IS NOT NULL THEN 'UPN' ELSE 'ULN' END
         AND coalesce(k.upn_pid, k.former_pid, k.uln_pid) IS NULL
        """
    )


def _apply_fallback(
    con: duckdb.DuckDBPyConnection, fallback: Fallback, context: LinkContext, next_id: int
) -> None:
    """Offer the records still without a person to the fallback; number the new persons it
    asks for from `next_id`, after those the deferred records' ULNs make."""
    con.execute(
        "CREATE TABLE unlinked AS SELECT s.* FROM src s JOIN assigned a USING (record_key) "
        "WHERE a.link_method = 'unlinked'"
    )
    # A fallback that needs the identity store (candidates, its review queue) gets the
    # link's own transaction, so what it writes commits or rolls back with the links.
    with_store = getattr(fallback, "link_with_store", None)
    placed = (
        with_store(con, "unlinked", context)
        if with_store
        else fallback.link(con, "unlinked", context.feed)
    ).cast(RESULT_SCHEMA)
    con.register("placed_view", placed)
    # A deferred record the fallback would make a new person gets its ULN's person instead
    # (_settle_deferred): only a link to a known person counts for it.
    con.execute(
        """
        CREATE TABLE placed AS
        SELECT record_key, person_id, link_method, match_probability, model_version,
               coalesce(new_person, false) AS new_person
        FROM placed_view
        WHERE person_id IS NOT NULL OR record_key NOT IN (SELECT record_key FROM deferred)
        """
    )
    con.execute(
        """
        UPDATE assigned AS a SET person_id = p.person_id, link_method = p.link_method,
               match_probability = p.match_probability, model_version = p.model_version,
               new_person = p.new_person
        FROM placed p
        WHERE a.record_key = p.record_key AND a.link_method = 'unlinked' AND p.person_id IS NOT NULL
        """
    )
    next_id = _settle_deferred(con, next_id)
    con.execute(
        f"""
        UPDATE assigned AS a SET person_id = p.person_id, link_method = p.link_method,
               match_probability = p.match_probability, model_version = p.model_version,
               new_person = p.new_person
        FROM (SELECT * REPLACE ({next_id} - 1 + row_number() OVER (ORDER BY record_key) AS person_id)
              FROM placed WHERE person_id IS NULL) p
        WHERE a.record_key = p.record_key AND a.link_method = 'unlinked'
        """
    )
    con.unregister("placed_view")


def _settle_deferred(con: duckdb.DuckDBPyConnection, next_id: int) -> int:
    """Deferred records the fallback did not place get their ULN's person (method `uln`, as if
    the ULN had decided first): the person the fallback placed another record of the batch
    with the same ULN on, else a new person for the ULN, numbered from `next_id` in ULN
    order. Returns the next free person id."""
    con.execute(
        """
        CREATE TABLE uln_owner AS
        SELECT d.uln_key, min(a.person_id) AS person_id
        FROM deferred d JOIN assigned a USING (record_key)
        WHERE a.person_id IS NOT NULL GROUP BY d.uln_key
        """
    )
    con.execute(
        f"""
        CREATE TABLE uln_new_keys AS
        SELECT uln_key, {next_id} - 1 + row_number() OVER (ORDER BY uln_key) AS person_id
        FROM (SELECT DISTINCT uln_key FROM deferred
              WHERE uln_key NOT IN (SELECT uln_key FROM uln_owner))
        """
    )
    con.execute(
        f"""
        UPDATE assigned AS a
        SET person_id = coalesce(x.owner, x.fresh), link_method = 'uln', match_probability = 1.0,
            model_version = {sql_str(MODEL_VERSION)}, new_person = x.owner IS NULL
        FROM (SELECT d.record_key, o.person_id AS owner, n.person_id AS fresh
              FROM deferred d LEFT JOIN uln_owner o USING (uln_key)
              LEFT JOIN uln_new_keys n USING (uln_key)) x
        WHERE a.record_key = x.record_key AND a.link_method = 'unlinked'
        """
    )
    # Two records of one ULN placed on different persons: the ULN goes to the first
    # (_new_identifiers), the other keeps its link and counts as a conflict.
    con.execute(
        """
        UPDATE assigned AS a SET conflict = true
        FROM deferred d JOIN uln_owner o USING (uln_key)
        WHERE a.record_key = d.record_key AND a.person_id <> o.person_id
        """
    )
    return next_id + scalar(con, "SELECT count(*) FROM uln_new_keys")


def _relearn_moved_ulns(
    con: duckdb.DuckDBPyConnection, conn: sa.Connection, before: str = "uln_new"
) -> None:
    """A reviewer's decision moved a record off the new person its unseen ULN was given while
    it waited in review: the ULN follows the record to the accepted person (in the store if
    an earlier link of this partition recorded it, and for the partition's other records
    carrying it), so the learner's next return links there by ULN. The person made for
    the ULN stays in identity.person, with no identifier and no record."""
    moved = con.execute(
        f"""
        SELECT DISTINCT u.uln_key, u.person_id AS old_pid, a.person_id AS new_pid
        FROM {before} u JOIN assigned a USING (record_key)
        WHERE a.link_method = 'clerical' AND a.person_id <> u.person_id
        ORDER BY 1
        """
    ).fetchall()
    for uln_key, old_pid, new_pid in moved:
        conn.execute(
            sa.text(
                "UPDATE identity.person_identifier SET person_id = :new WHERE id_type = 'ULN' "
                "AND id_value = :value AND person_id = :old"
            ),
            {"new": new_pid, "value": uln_key, "old": old_pid},
        )
        con.execute(
            "UPDATE known SET person_id = $new WHERE id_type = 'ULN' AND id_value = $value "
            "AND person_id = $old",
            {"new": new_pid, "value": uln_key, "old": old_pid},
        )
        con.execute(
            "UPDATE assigned AS a SET person_id = $new, new_person = false FROM ids i "
            "WHERE i.record_key = a.record_key AND i.uln_key = $value AND a.link_method = 'uln' "
            "AND a.person_id = $old",
            {"new": new_pid, "value": uln_key, "old": old_pid},
        )


def _new_identifiers(con: duckdb.DuckDBPyConnection, load_id: str) -> None:
    """Identifiers this batch teaches the index: each unseen identifier goes to its record's person
    (an LA child key too, whatever linked the record: UPN, ULN, the fallback or a reviewer)."""
    con.execute(
        f"""
        CREATE TABLE new_ids AS
        SELECT id_type, id_value, min(person_id) AS person_id, {sql_str(load_id)} AS first_load_id
        FROM (
            WITH j AS (  -- one join of the batch's keys to its persons, not one per key type
                SELECT i.upn_key, i.former_key, i.uln_key, i.la_key, a.person_id
                FROM ids i JOIN assigned a USING (record_key) WHERE a.person_id IS NOT NULL
            )
            SELECT 'UPN' AS id_type, upn_key AS id_value, person_id FROM j
            UNION ALL SELECT 'UPN', former_key, person_id FROM j
            UNION ALL SELECT 'ULN', uln_key, person_id FROM j
            UNION ALL SELECT 'LA_CHILD', la_key, person_id FROM j
        ) x
        WHERE id_value IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM known k WHERE k.id_type = x.id_type AND k.id_value = x.id_value)
        GROUP BY id_type, id_value
        ORDER BY id_type, id_value
        """
    )


def _record_identity(
    con: duckdb.DuckDBPyConnection, feed: str, year: str, term: str | None, load_id: str
) -> str:
    """The query for identity.record_identity rows of the batch (written to a file for the
    store: at national size a whole census term as one Arrow table held 2 GB beside both
    DuckDBs' buffers)."""
    table = load_catalogue().table("identity.record_identity")
    available = {r[0] for r in con.execute("DESCRIBE src").fetchall()}
    partition = {
        "feed": sql_str(feed),
        "academic_year": sql_str(year),
        "term": sql_str(term) if term else "CAST(NULL AS VARCHAR)",
        "load_id": sql_str(load_id),
    }
    linked = set(LINKS)
    parts = []
    for col in table.column_names:
        if col in partition:
            parts.append(f"{partition[col]} AS {col}")
        elif col in linked:
            parts.append(f"a.{col}")
        elif col in available:
            parts.append(f"s.{col}")
    return (
        f"SELECT {', '.join(parts)} FROM src s JOIN assigned a USING (record_key) "
        "ORDER BY s.record_key"
    )


def _to_parquet(con: duckdb.DuckDBPyConnection, select: str, path: Path) -> None:
    """Rows for the store, in a file read once (lz4: cheap to write and read back)."""
    con.execute(f"COPY ({select}) TO {sql_str(path)} (FORMAT parquet, COMPRESSION lz4)")


def _parquet_batches(path: Path) -> pa.RecordBatchReader:
    """A Parquet file's rows in file order, as a stream of batches (never whole in memory)."""

    def batches():
        with pq.ParquetFile(path) as file:
            yield from file.iter_batches(batch_size=STREAM_ROWS)

    return pa.RecordBatchReader.from_batches(pq.read_schema(path), batches())


def _store_rows(
    conn: sa.Connection, table: Table, path: Path, partition: dict[str, Any] | None = None
) -> int:
    """Append a Parquet file's rows to a store table, or replace a partition with them, in
    file order. An embedded DuckDB store reads the file itself; another store gets it
    streamed in batches. Columns are checked against the catalogue as warehouse.load does."""
    schema = pq.read_schema(path)
    conform(table, schema.empty_table())  # refuses an uncatalogued column, naming it
    columns = set(schema.names)
    if conn.dialect.name != "duckdb":
        rows = _parquet_batches(path)
        if partition is not None:
            return replace_partition(conn, table, partition, rows)
        return insert_arrow(conn, table.schema, table.name, conform_stream(table, rows))
    select = ", ".join(f'"{c}"' if c in columns else "NULL" for c in table.column_names)
    select = f"SELECT {select} FROM read_parquet({sql_str(path)})"
    if partition is not None:
        return replace_partition_select(conn, table, partition, select)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    target = f'"{table.schema}"."{table.name}"'
    return int(conn.exec_driver_sql(f"INSERT INTO {target} ({cols}) {select}").fetchall()[0][0])


def _write_linked(con: duckdb.DuckDBPyConnection, records: Path, out: Path) -> None:
    """The records with their links, in the order staging wrote them. The links are set on
    `src` (read in file order) in place, and the staged file is streamed beside them by
    position: no join or sort of wide records (7 s of 24 s per census term at 8M), and the
    wide columns never sit in this DuckDB. A row out of step would fail the write."""
    types = {name: sql_type for name, sql_type, *_ in con.execute("DESCRIBE assigned").fetchall()}
    for col in LINKS:
        con.execute(f"ALTER TABLE src ADD COLUMN {col} {types[col]}")
    con.execute(
        f"UPDATE src SET {', '.join(f'{c} = a.{c}' for c in LINKS)} "
        "FROM assigned a WHERE src.record_key = a.record_key"
    )
    step = "error('linked rows out of step with the staged records')"
    con.execute(
        f"""
        COPY (
            SELECT r.*, {", ".join(f"l.{c}" for c in LINKS)}
            FROM read_parquet({sql_str(records)}) r
            POSITIONAL JOIN (SELECT record_key AS _key, {", ".join(LINKS)} FROM src) l
            WHERE CASE WHEN r.record_key IS NOT DISTINCT FROM l._key THEN true ELSE {step} END
        ) TO {sql_str(out)} (FORMAT parquet, COMPRESSION zstd)
        """
    )


def _prior_links(
    conn: sa.Connection, feed: str, year: str, term: str | None, load_id: str
) -> pa.Table:
    """The links this same input was given before, if it was linked before."""
    term_test = f"term = {sql_str(term)}" if term else "term IS NULL"
    return query_arrow(
        conn,
        "SELECT record_key, person_id, link_method, match_probability, model_version, new_person "
        f"FROM identity.record_identity WHERE feed = {sql_str(feed)} AND academic_year = {sql_str(year)} "
        f"AND {term_test} AND load_id = {sql_str(load_id)}",
        schema=RESULT_SCHEMA,
    )


def link_records(
    records: Path,
    out: Path,
    identity_url: str,
    tmp_dir: Path,
    feed: str,
    academic_year: str,
    term: str | None,
    load_id: str,
    fallback: Fallback | None = None,
    relink: bool = False,
) -> LinkReport:
    """Link a partition's records to the master index; write them with person ids to `out`.

    Linking the same input again (same load id) keeps the links it was given the first
    time, so a rerun reproduces the warehouse exactly even after later periods taught the
    index more; `relink` asks for a fresh decision instead.
    """
    started = time.perf_counter()
    fallback = fallback or NoFallback()
    catalogue = load_catalogue()
    report = LinkReport(
        feed=feed, academic_year=academic_year, term=term, load_id=load_id, fallback=fallback.name
    )
    partition = {"feed": feed, "academic_year": academic_year, "term": term}
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with (
        open_engine(identity_url) as engine,
        engine.begin() as conn,
        tempfile.TemporaryDirectory(dir=tmp_dir, prefix="link-") as work,
    ):
        rows = Path(work)
        with local_duckdb(tmp_dir) as con:
            _prepare(con, records)
            cand.standardise_records(con, "src", "src_std")
            ensure_schema(conn, "identity")
            create_temp(
                conn, "_candidates", con.sql("SELECT * FROM cand").to_arrow_reader(STREAM_ROWS)
            )
            con.execute("DROP TABLE cand")
            known = query_arrow(
                conn,
                "SELECT p.id_type, p.id_value, p.person_id FROM identity.person_identifier p "
                "JOIN _candidates c ON c.id_type = p.id_type AND c.id_value = p.id_value",
                schema=KNOWN_SCHEMA,
            )
            con.register("known_view", known)
            con.execute("CREATE TABLE known AS SELECT * FROM known_view")
            con.unregister("known_view")
            del known
            next_id = int(
                conn.execute(
                    sa.text("SELECT coalesce(max(person_id), 0) + 1 FROM identity.person")
                ).scalar_one()
            )
            prior = _prior_links(conn, feed, academic_year, term, load_id)
            if not relink and prior.num_rows == scalar(con, "SELECT count(*) FROM ids"):
                con.register("prior_view", prior)
                con.execute("CREATE TABLE assigned AS SELECT *, false AS conflict FROM prior_view")
                con.unregister("prior_view")
                report.replayed = True
            else:
                # An unseen ULN waits for the fallback only when there is one (off: as before).
                _assign(con, next_id, defer_uln=not isinstance(fallback, NoFallback))
                new_keys = scalar(con, "SELECT count(*) FROM new_keys")
                con.execute("DROP TABLE known_links; DROP TABLE new_keys")
                context = LinkContext(conn, feed, academic_year, term, load_id)
                _apply_fallback(con, fallback, context, next_id + new_keys)
            del prior
            # Reviewers' decisions win over a fresh link and over a replay of the previous one
            # (over a new person an unseen ULN was given while its record waited in review too).
            con.execute(
                "CREATE TABLE uln_new AS SELECT a.record_key, a.person_id, i.uln_key FROM assigned a "
                "JOIN ids i USING (record_key) WHERE a.link_method = 'uln' AND a.new_person"
            )
            report.clerical = apply_decisions(con, conn, feed, academic_year, term)
            _relearn_moved_ulns(con, conn)
            _new_identifiers(con, load_id)
            con.execute("DROP TABLE ids; DROP TABLE known; DROP TABLE uln_new")

            # What the store is sent goes to Parquet, and into the store once this DuckDB is
            # closed (an embedded store reads the files itself). Streamed from here as Arrow
            # batches, it held this DuckDB's buffers, the batches and the store's growing ones
            # all at once: 160 MB more at the peak of the 96 MB census file's run. The files
            # cost about 5% of the link's CPU time (1M pupils).
            person = rows / "person.parquet"
            _to_parquet(
                con,
                f"SELECT DISTINCT person_id, {sql_str(load_id)} AS first_load_id FROM assigned "
                f"WHERE new_person AND person_id >= {next_id} ORDER BY person_id",
                person,
            )
            _to_parquet(con, "SELECT * FROM new_ids", rows / "person_identifier.parquet")
            con.execute("DROP TABLE new_ids")
            _to_parquet(
                con,
                _record_identity(con, feed, academic_year, term, load_id),
                rows / "record_identity.parquet",
            )
            _to_parquet(
                con,
                cand.index_select("src_std", "assigned", feed, academic_year, term),
                rows / "linkage_key.parquet",
            )
            con.execute("DROP TABLE src_std")
            _write_linked(con, records, out)
            report.records = scalar(con, "SELECT count(*) FROM assigned")
            report.by_method = dict(
                con.execute(
                    "SELECT link_method, count(*) FROM assigned GROUP BY 1 ORDER BY 1"
                ).fetchall()
            )
            report.counts = [
                tuple(r)
                for r in con.execute(
                    "SELECT link_method, new_person, count(*) FROM assigned "
                    "GROUP BY 1, 2 ORDER BY 1, 2"
                ).fetchall()
            ]
            report.conflicts = scalar(con, "SELECT count(*) FROM assigned WHERE conflict")

        _store_rows(conn, catalogue.table("identity.person"), person)
        _store_rows(
            conn, catalogue.table("identity.person_identifier"), rows / "person_identifier.parquet"
        )
        _store_rows(
            conn,
            catalogue.table("identity.record_identity"),
            rows / "record_identity.parquet",
            partition,
        )
        _store_rows(
            conn, catalogue.table("identity.linkage_key"), rows / "linkage_key.parquet", partition
        )
        report.new_persons = pq.read_metadata(person).num_rows
        report.new_identifiers = pq.read_metadata(rows / "person_identifier.parquet").num_rows
    report.seconds = round(time.perf_counter() - started, 3)
    return report
