"""Labelled pairs for training, from what the identifiers already link.

A record linked by UPN, former UPN or ULN to a person the store knew before, paired with
that person's records from other periods and feeds, is a true pair with the natural
differences between returns (a new address, a changed surname, a typo on either side).
Two sources: a batch being linked (the automatic first training) and the whole store
(`npd linkage train`). Random pairs of the same rows give u; see linkage.model.train.
"""

from __future__ import annotations

import duckdb
import sqlalchemy as sa

from linkage import candidates as cand
from linkage import model as fs
from linkage.fallback import LinkContext
from linkage.standardise import standard_select
from warehouse.bulk import query_arrow

_IDENTIFIED = "('upn', 'former_upn', 'uln')"


def _sample_order(key: str) -> str:
    """A deterministic pseudo-random order, so the same data trains the same model."""
    return f"hash({key})"


def train_from_batch(
    con: duckdb.DuckDBPyConnection, context: LinkContext, config
) -> fs.LinkageModel | None:
    """Train on this batch's identifier links to persons seen before; None if too few."""
    placed, records = context.placed, context.records
    total, existing = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE NOT new_person) FROM {placed} "
        f"WHERE link_method IN {_IDENTIFIED}"
    ).fetchall()[0]
    if not existing:
        return None
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW tr_source AS
        SELECT s.*, a.person_id AS _linked_person
        FROM {records} s JOIN {placed} a USING (record_key)
        WHERE a.link_method IN {_IDENTIFIED} AND NOT a.new_person
        ORDER BY {_sample_order("s.record_key")}
        LIMIT {int(config.max_training_records)}
        """
    )
    extra = "row_number() OVER (ORDER BY t.record_key) AS unique_id, t._linked_person AS person_id"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE tr_query AS {standard_select(con, 'tr_source', extra)}"
    )
    persons = con.sql("SELECT DISTINCT person_id FROM tr_query").to_arrow_table()
    partition = (context.feed, context.academic_year, context.term)
    cand.fetch_persons(context.conn, con, persons, partition, "tr_raw")
    cand.representative(con, "tr_raw", "tr_index")
    try:
        return fs.train(
            con,
            "tr_index",
            "tr_query",
            match_share=existing / total,
            u_pairs=config.u_pairs,
            source=f"identifier links of {context.feed} {context.academic_year} {context.term or ''}".strip(),
        )
    except fs.TrainingError:
        return None


_LATEST = f"""
    SELECT * FROM (
        SELECT r.person_id, r.feed, r.academic_year, r.term, r.record_key, r.forename,
               r.surname, r.dob, r.sex, r.postcode, r.la_code,
               CASE WHEN p.first_load_id <> r.load_id THEN 1 ELSE 0 END AS seen_before,
               row_number() OVER (
                   PARTITION BY r.person_id
                   ORDER BY r.academic_year DESC,
                            CASE r.term WHEN 'summer' THEN 3 WHEN 'spring' THEN 2
                                        WHEN 'autumn' THEN 1 ELSE 4 END DESC,
                            r.record_key) AS n
        FROM identity.record_identity r JOIN identity.person p ON p.person_id = r.person_id
        WHERE r.link_method IN {_IDENTIFIED}
    ) x WHERE n = 1
"""


def train_from_store(
    conn: sa.Connection, con: duckdb.DuckDBPyConnection, config
) -> fs.LinkageModel:
    """Train on the whole store: each sampled person's newest identifier-linked record
    against their records from every other period and feed (portable SQL, run in the store)."""
    share = conn.execute(sa.text(f"SELECT avg(seen_before) FROM ({_LATEST}) l")).scalar_one()
    latest = query_arrow(
        conn,
        f"SELECT * FROM ({_LATEST}) l WHERE seen_before = 1 "
        f"ORDER BY md5(record_key || feed || academic_year) LIMIT {int(config.max_training_records)}",
    )
    con.register("_tr_latest_view", latest)
    con.execute("CREATE OR REPLACE TEMP TABLE tr_latest AS SELECT * FROM _tr_latest_view")
    con.unregister("_tr_latest_view")
    extra = "row_number() OVER (ORDER BY t.person_id) AS unique_id, t.person_id"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE tr_query AS {standard_select(con, 'tr_latest', extra)}"
    )
    persons = con.sql("SELECT DISTINCT person_id FROM tr_query").to_arrow_table()
    cand.fetch_persons(conn, con, persons, None, "tr_raw")
    # A person's other records only: drop the very record each query came from.
    con.execute(
        """
        DELETE FROM tr_raw WHERE (feed, academic_year, coalesce(term, ''), record_key) IN (
            SELECT (feed, academic_year, coalesce(term, ''), record_key) FROM tr_latest)
        """
    )
    cand.representative(con, "tr_raw", "tr_index")
    if share is None:
        raise fs.TrainingError("the identity store holds no identifier links to train on")
    return fs.train(
        con,
        "tr_index",
        "tr_query",
        match_share=float(share),
        u_pairs=config.u_pairs,
        source="identifier links across the identity store",
    )
