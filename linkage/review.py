"""The clerical review queue: pairs the model could not decide, and the decisions people make.

The probabilistic linker queues a record's candidate persons when it may not decide alone
(probability in the grey zone, a close second candidate, or a person already linked in the
same return). A reviewer accepts or rejects pairs from the CLI. Decisions are never
deleted: every later link of the partition applies them, whether it links afresh or replays
its previous links (`apply_decisions`, called by the master index after either), so a
rerun can never undo a person's judgement. A decision holds only while the record at that
source line still has the identity it was made on (`identity_digest`).

Only pending rows are replaced when a partition is linked afresh; nothing here logs or
raises with an identifier in the message.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from core.duck import scalar, sql_str
from linkage.standardise import standard_select
from warehouse.bulk import insert_arrow, query_arrow
from warehouse_schema.catalogue import conform, load_catalogue

TABLE = "identity.clerical_review"
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
CLERICAL = "clerical"
# A record that now carries an identifier the index knows is linked by it: a decision was
# made for the record without one, so it gives way.
IDENTIFIED = "('upn', 'former_upn', 'uln')"
# Except the new person an unseen ULN gave a record while it waited in review (the master
# index tries the fallback before an unseen ULN makes a person): an accepted decision wins.
# Once applied, the ULN is the accepted person's, so a fresh link reaches the same person
# by it: the link stays the decision's (else the decision would look unapplied for ever).
ACCEPT_OVER = (
    f"(a.link_method NOT IN {IDENTIFIED} OR (a.link_method = 'uln' "
    "AND (a.new_person OR a.person_id = x.person_id)))"
)


class ReviewError(ValueError):
    """A review command cannot be done as asked (the message says why, naming review ids only)."""


def review_id(feed: str, year: str, term: str | None, record_key: str, person_id: int) -> str:
    text = f"{feed}|{year}|{term or ''}|{record_key}|{person_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def review_id_sql(feed: str, year: str, term: str | None, key: str, person: str) -> str:
    """review_id computed in DuckDB for a whole table at once (agrees with review_id)."""
    prefix = sql_str(f"{feed}|{year}|{term or ''}|")
    return f"left(sha256({prefix} || {key} || '|' || CAST({person} AS VARCHAR)), 10)"


def _partition_where(feed: str, year: str, term: str | None) -> tuple[str, dict[str, Any]]:
    term_test = "term = :term" if term else "term IS NULL"
    return f"feed = :feed AND academic_year = :year AND {term_test}", {
        "feed": feed,
        "year": year,
        "term": term,
    }


def replace_pending(
    conn: sa.Connection, feed: str, year: str, term: str | None, rows: pa.Table
) -> int:
    """Replace the partition's pending pairs (decided ones stay) inside the link's transaction."""
    where, params = _partition_where(feed, year, term)
    conn.execute(
        sa.text(f"DELETE FROM identity.clerical_review WHERE {where} AND status = 'pending'"),
        params,
    )
    if rows.num_rows == 0:
        return 0
    table = load_catalogue().table(TABLE)
    return insert_arrow(conn, table.schema, table.name, conform(table, rows))


DECISIONS = pa.schema(
    [
        ("record_key", pa.string()),
        ("identity_digest", pa.string()),
        ("candidate_person_id", pa.int64()),
        ("status", pa.string()),
        ("match_probability", pa.float64()),
        ("model_version", pa.string()),
        ("decided_at", pa.timestamp("us", tz="UTC")),
    ]
)


def partition_reviews(conn: sa.Connection, feed: str, year: str, term: str | None) -> pa.Table:
    """Every queued pair of a partition, pending or decided (the columns in DECISIONS)."""
    term_test = f"term = {sql_str(term)}" if term else "term IS NULL"
    return query_arrow(
        conn,
        f"SELECT {', '.join(DECISIONS.names)} FROM identity.clerical_review "
        f"WHERE feed = {sql_str(feed)} AND academic_year = {sql_str(year)} AND {term_test}",
        schema=DECISIONS,
    )


def apply_decisions(
    con: duckdb.DuckDBPyConnection,
    conn: sa.Connection,
    feed: str,
    year: str,
    term: str | None,
    records: str = "src",
    assigned: str = "assigned",
) -> int:
    """Make the batch's links agree with the reviewers' decisions; returns records changed.

    Accepted: the record is linked to the candidate (method clerical). Every candidate
    rejected and none pending: the record is a new person (method clerical), unless the
    linker has since placed it on a person nobody rejected. A record that now carries a
    usable identifier keeps the identifier's link, unless that link is the new person its
    unseen ULN was given while it waited (an accepted decision wins over that one; every
    candidate rejected, it already is a new person and keeps it). Runs after a fresh link
    and after a replay alike, so decisions made since the partition was last linked take
    effect.
    """
    reviews = partition_reviews(conn, feed, year, term)
    if reviews.num_rows == 0 or not any(s != PENDING for s in reviews.column("status").to_pylist()):
        return 0
    con.register("_reviews_view", reviews)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _review_match AS
        WITH digests AS ({standard_select(con, records, "t.record_key", digest=True)})
        SELECT r.* FROM _reviews_view r JOIN digests d
          ON d.record_key = r.record_key AND d.identity_digest = r.identity_digest
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _accepted AS
        SELECT record_key, arg_max(candidate_person_id, decided_at) AS person_id,
               arg_max(match_probability, decided_at) AS match_probability,
               arg_max(model_version, decided_at) AS model_version
        FROM _review_match WHERE status = 'accepted' GROUP BY record_key
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _rejected AS
        SELECT r.record_key, max(r.match_probability) AS match_probability,
               arg_max(r.model_version, r.match_probability) AS model_version,
               list(r.candidate_person_id) AS persons
        FROM _review_match r
        GROUP BY r.record_key
        HAVING bool_and(r.status = 'rejected')
        """
    )
    changed = scalar(
        con,
        f"""
        SELECT count(*) FROM {assigned} a JOIN _accepted x USING (record_key)
        WHERE {ACCEPT_OVER}
          AND (a.link_method <> '{CLERICAL}' OR a.person_id IS DISTINCT FROM x.person_id)
        """,
    )
    con.execute(
        f"""
        UPDATE {assigned} AS a SET person_id = x.person_id, link_method = '{CLERICAL}',
               match_probability = x.match_probability, model_version = x.model_version,
               new_person = false
        FROM _accepted x
        WHERE a.record_key = x.record_key AND {ACCEPT_OVER}
        """
    )
    # Rejected on every candidate: a new person, unless placed since on someone not rejected.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _to_new AS
        SELECT a.record_key, a.person_id, a.new_person, x.match_probability, x.model_version
        FROM {assigned} a JOIN _rejected x USING (record_key)
        WHERE a.link_method <> '{CLERICAL}' AND a.link_method NOT IN {IDENTIFIED}
          AND (a.person_id IS NULL OR a.new_person OR list_contains(x.persons, a.person_id))
        """
    )
    known = conn.execute(sa.text("SELECT coalesce(max(person_id), 0) FROM identity.person"))
    first = (
        max(known.scalar_one(), scalar(con, f"SELECT coalesce(max(person_id), 0) FROM {assigned}"))
        + 1
    )
    changed += scalar(con, "SELECT count(*) FROM _to_new")
    con.execute(
        f"""
        UPDATE {assigned} AS a
        SET person_id = CASE WHEN n.new_person THEN n.person_id ELSE n.fresh END,
            link_method = '{CLERICAL}', match_probability = n.match_probability,
            model_version = n.model_version, new_person = true
        FROM (SELECT *, {first} - 1 + row_number() OVER (ORDER BY record_key) AS fresh
              FROM _to_new) n
        WHERE a.record_key = n.record_key
        """
    )
    for name in ("_review_match", "_accepted", "_rejected", "_to_new"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    con.unregister("_reviews_view")
    return int(changed)


@dataclass(frozen=True)
class PendingPair:
    """What a reviewer sees: the two records side by side, and the model's opinion."""

    review_id: str
    partition: str
    reason: str
    match_probability: float
    model_version: str
    record: dict[str, Any]  # forename, surname, dob, sex, postcode, la_code
    candidate: dict[str, Any]
    candidate_seen: str  # feed and period of the candidate's record


SHOWN = ("forename", "surname", "dob", "sex", "postcode", "la_code")


def pending(
    conn: sa.Connection, feed: str | None = None, year: str | None = None, limit: int = 20
) -> tuple[list[PendingPair], int]:
    """Pending pairs, most likely matches first, and how many are pending in all."""
    filters, params = ["q.status = 'pending'"], {"limit": limit}
    if feed:
        filters.append("q.feed = :feed")
        params["feed"] = feed
    if year:
        filters.append("q.academic_year = :year")
        params["year"] = year
    where = " AND ".join(filters)
    total = conn.execute(
        sa.text(f"SELECT count(*) FROM identity.clerical_review q WHERE {where}"), params
    ).scalar_one()
    shown = ", ".join(f"r.{c} AS r_{c}, c.{c} AS c_{c}" for c in SHOWN)
    rows = conn.execute(
        sa.text(
            f"""
            SELECT q.review_id, q.feed, q.academic_year, q.term, q.reason, q.match_probability,
                   q.model_version, q.candidate_feed, q.candidate_academic_year, q.candidate_term,
                   {shown}
            FROM identity.clerical_review q
            LEFT JOIN identity.record_identity r
              ON r.feed = q.feed AND r.academic_year = q.academic_year
             AND coalesce(r.term, '') = coalesce(q.term, '') AND r.record_key = q.record_key
            LEFT JOIN identity.record_identity c
              ON c.feed = q.candidate_feed AND c.academic_year = q.candidate_academic_year
             AND coalesce(c.term, '') = coalesce(q.candidate_term, '')
             AND c.record_key = q.candidate_record_key
            WHERE {where}
            ORDER BY q.match_probability DESC, q.review_id
            LIMIT :limit
            """
        ),
        params,
    ).mappings()
    out = []
    for row in rows:
        term = f" {row['term']}" if row["term"] else ""
        cterm = f" {row['candidate_term']}" if row["candidate_term"] else ""
        out.append(
            PendingPair(
                review_id=row["review_id"],
                partition=f"{row['feed']} {row['academic_year']}{term}",
                reason=row["reason"],
                match_probability=float(row["match_probability"] or 0.0),
                model_version=row["model_version"] or "",
                record={c: row[f"r_{c}"] for c in SHOWN},
                candidate={c: row[f"c_{c}"] for c in SHOWN},
                candidate_seen=f"{row['candidate_feed']} {row['candidate_academic_year']}{cterm}",
            )
        )
    return out, int(total)


def decide(
    conn: sa.Connection, ids: list[str], status: str, reviewer: str | None = None
) -> list[tuple[str, str, str | None]]:
    """Accept or reject pending pairs; returns the partitions (feed, year, term) touched.

    Accepting a pair rejects the record's other pending candidates (a record is one child).
    """
    if status not in (ACCEPTED, REJECTED):
        raise ReviewError(f"a decision is {ACCEPTED} or {REJECTED}, not {status!r}")
    reviewer = reviewer or getpass.getuser()
    now = dt.datetime.now(dt.UTC)
    touched: set[tuple[str, str, str | None]] = set()
    for rid in dict.fromkeys(ids):
        row = (
            conn.execute(
                sa.text(
                    "SELECT feed, academic_year, term, record_key, status "
                    "FROM identity.clerical_review WHERE review_id = :id"
                ),
                {"id": rid},
            )
            .mappings()
            .first()
        )
        if row is None:
            raise ReviewError(f"no review {rid} in the queue")
        if row["status"] != PENDING:
            raise ReviewError(f"review {rid} was already decided ({row['status']})")
        conn.execute(
            sa.text(
                "UPDATE identity.clerical_review SET status = :status, decided_at = :now, "
                "decided_by = :who WHERE review_id = :id"
            ),
            {"status": status, "now": now, "who": reviewer, "id": rid},
        )
        if status == ACCEPTED:
            where, params = _partition_where(row["feed"], row["academic_year"], row["term"])
            conn.execute(
                sa.text(
                    "UPDATE identity.clerical_review SET status = 'rejected', decided_at = :now, "
                    f"decided_by = :who WHERE {where} AND record_key = :key "
                    "AND status = 'pending' AND review_id <> :id"
                ),
                {
                    **params,
                    "key": row["record_key"],
                    "now": now,
                    "id": rid,
                    "who": f"accepted {rid}",
                },
            )
        touched.add((row["feed"], row["academic_year"], row["term"]))
    return sorted(touched, key=lambda t: (t[0], t[1], t[2] or ""))


def decided_not_applied(conn: sa.Connection) -> list[tuple[str, str, str | None]]:
    """Partitions holding a decision their current links do not yet reflect."""
    rows = conn.execute(
        sa.text(
            """
            SELECT DISTINCT q.feed, q.academic_year, q.term
            FROM identity.clerical_review q
            JOIN identity.record_identity r
              ON r.feed = q.feed AND r.academic_year = q.academic_year
             AND coalesce(r.term, '') = coalesce(q.term, '') AND r.record_key = q.record_key
            WHERE (q.status = 'accepted'
                   AND (r.link_method <> 'clerical' OR r.person_id <> q.candidate_person_id))
               OR (q.status = 'rejected' AND r.link_method = 'unlinked'
                   AND NOT EXISTS (
                       SELECT 1 FROM identity.clerical_review o
                       WHERE o.feed = q.feed AND o.academic_year = q.academic_year
                         AND coalesce(o.term, '') = coalesce(q.term, '')
                         AND o.record_key = q.record_key AND o.status <> 'rejected'))
            ORDER BY 1, 2, 3
            """
        )
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def counts(conn: sa.Connection) -> dict[str, int]:
    """Queue size by status (for the linkage report)."""
    rows = conn.execute(
        sa.text("SELECT status, count(*) FROM identity.clerical_review GROUP BY status")
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}
