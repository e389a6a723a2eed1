"""identity.linkage_key: the fallback's blocking index, standardised once per linked record.

The fallback used to copy every store record sharing a date of birth with any unlinked
record into each partition's link and standardise it there: in a census term nearly the
whole store. Now each record is standardised when it is linked, and only rows sharing one
of the model's blocking keys with a query leave the store.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import sqlalchemy as sa

from core.config import Settings
from linkage import candidates as cand
from linkage.standardise import standard_select
from tests.linkage.test_master_index import UPNS, _link

DOB = dt.date(2014, 3, 9)


def _store_rows(settings: Settings, sql: str) -> list[tuple]:
    engine = sa.create_engine(settings.identity_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql)).fetchall()
    engine.dispose()
    return [tuple(r) for r in rows]


def _autumn(settings: Settings) -> None:
    """Four children born the same day but one, linked by UPN in the autumn."""
    base = {"dob": DOB, "sex": "F", "la_code": "330"}
    _link(
        settings,
        [
            {
                **base,
                "upn": UPNS[0],
                "forename": "mary jane",
                "surname": "O'Brien ",
                "postcode": "ls1 4ap",
            },
            {**base, "upn": UPNS[1], "forename": "Zara", "surname": "Quinn", "postcode": "M1 1AA"},
            {**base, "upn": UPNS[2], "forename": "Obrien", "surname": "Mary", "postcode": "B1 1AA"},
            {
                **base,
                "upn": UPNS[3],
                "forename": "Mary",
                "surname": "OBrien",
                "dob": dt.date(2014, 11, 30),
                "postcode": "E1 6AN",
            },
            {**base, "upn": "UN2", "forename": "Unlinked", "surname": "Child"},
        ],
        "autumn",
    )


def test_each_linked_record_is_indexed_standardised_and_replaced_with_its_partition(
    settings: Settings,
) -> None:
    _autumn(settings)
    _autumn(settings)  # a rerun replaces the partition's index rows, it does not add to them
    rows = _store_rows(
        settings,
        "SELECT record_key, person_id, forename, surname, dob, postcode, sector, district, "
        "birth_year, la_code FROM identity.linkage_key ORDER BY record_key",
    )
    assert len(rows) == 4  # the UN-coded record has no person, so nothing to find it by
    assert rows[0] == ("f.csv#2", 1, "MARY", "OBRIEN", DOB, "LS1 4AP", "LS1 4", "LS1", 2014, 330)


def test_only_rows_sharing_a_blocking_key_leave_the_store(settings: Settings) -> None:
    _autumn(settings)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE raw_q AS SELECT 'Mary' AS forename, 'O''Brien' AS surname, "
        f"DATE '{DOB}' AS dob, 'F' AS sex, 'S1 2BJ' AS postcode"
    )
    con.execute(f"CREATE TABLE q AS {standard_select(con, 'raw_q')}")
    engine = sa.create_engine(settings.identity_url)
    with engine.begin() as conn:
        fetched = cand.fetch_blocked(conn, con, "q", ("school_census", "2024/25", "spring"), "c")
        excluded = cand.fetch_blocked(conn, con, "q", ("school_census", "2024/25", "autumn"), "x")
    engine.dispose()
    found = con.sql("SELECT ref_record_key FROM c ORDER BY 1").fetchall()
    # Same DOB and names; names swapped; same names and birth year on another day. Zara
    # Quinn shares only the date of birth and stays in the store.
    assert [r[0] for r in found] == ["f.csv#2", "f.csv#4", "f.csv#5"]
    assert fetched == 3
    assert excluded == 0  # the partition being linked is never its own candidate


def test_a_store_linked_before_the_index_existed_is_indexed_once(settings: Settings) -> None:
    _autumn(settings)
    indexed = "SELECT * FROM identity.linkage_key ORDER BY record_key"
    before = _store_rows(settings, indexed)
    engine = sa.create_engine(settings.identity_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM identity.linkage_key"))
        added = cand.ensure_index(conn, duckdb.connect())
        again = cand.ensure_index(conn, duckdb.connect())
    engine.dispose()
    assert (added, again) == (4, 0)
    assert _store_rows(settings, indexed) == before
