"""Blocking: every true pair survives it, each rule catches the difference it exists for,
and the candidates per record stay few (the rules were chosen by counting pairs)."""

from __future__ import annotations

import duckdb
import pytest

from linkage import model as fs
from linkage.probabilistic import _blocked
from linkage.scoring import duckdb_linker
from tests.linkage.conftest import Trained, load_standard

RULES = [" + ".join(r) for r in fs.BLOCKING_RULES] + ["dob + names swapped"]


def _blocked_pairs(con: duckdb.DuckDBPyConnection, model: fs.LinkageModel, queries: str):
    linker = duckdb_linker(con, "b_index", queries, model, 1e-4)
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    return con.execute(
        f"""
        SELECT CAST(split_part(join_key_l, '-__-', 2) AS BIGINT) AS index_id,
               CAST(split_part(join_key_r, '-__-', 2) AS BIGINT) AS query_id,
               CAST(match_key AS INTEGER) AS rule
        FROM {blocked.physical_name}
        """
    ).fetchall()


def test_blocking_keeps_the_true_pairs_and_few_candidates(trained: Trained) -> None:
    con = duckdb.connect()
    load_standard(con, trained.folder)
    pairs = _blocked_pairs(con, trained.model, "b_query")
    con.execute("CREATE TABLE pairs (index_id BIGINT, query_id BIGINT, rule INTEGER)")
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?)", pairs)
    found, matchable, per_query_max, per_query_mean = con.execute(
        """
        WITH truth AS (
            SELECT q.unique_id AS query_id, i.unique_id AS index_id
            FROM b_query q JOIN b_index i USING (person_id)
        ), counts AS (SELECT query_id, count(*) AS n FROM pairs GROUP BY 1)
        SELECT (SELECT count(*) FROM truth t JOIN pairs p USING (query_id, index_id)),
               (SELECT count(*) FROM truth),
               (SELECT max(n) FROM counts), (SELECT avg(n) FROM counts)
        """
    ).fetchall()[0]
    assert matchable > 600  # most of the year-later pupils were in the index
    assert found / matchable >= 0.998
    # Few candidates per record even though DOB alone would give dozens here.
    assert per_query_mean < 6 and per_query_max < 60, (per_query_mean, per_query_max)


BASE = "dayofmonth(dob) <= 12 AND dayofmonth(dob) <> month(dob) AND postcode IS NOT NULL"


def _variant(con: duckdb.DuckDBPyConnection, name: str, change: str) -> int:
    """A query made from an index row with one kind of difference applied; returns the row."""
    base = con.execute(f"SELECT min(unique_id) FROM b_index WHERE {BASE}").fetchall()[0][0]
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {name} AS
        SELECT 1000001 AS unique_id, person_id, record_key, return_key, {change}
        FROM b_index WHERE unique_id = {base}
        """
    )
    return base


CHANGES = {
    # A surname change and a move: only forename and DOB are left to block on.
    "dob + forename": "forename, 'ZZSURNAME' AS surname, dob, sex, 'ZZ1 1ZZ' AS postcode, "
    "'ZZ1 1' AS sector, 'ZZ1' AS district, birth_year",
    # A forename typo and a move.
    "dob + surname": "forename || 'X' AS forename, surname, dob, sex, 'ZZ1 1ZZ' AS postcode, "
    "'ZZ1 1' AS sector, 'ZZ1' AS district, birth_year",
    # Day and month swapped (the generator's dob_swap), names intact.
    "forename + surname + birth_year": "forename, surname, "
    "make_date(year(dob), dayofmonth(dob), month(dob)) AS dob, sex, "
    "'ZZ1 1ZZ' AS postcode, 'ZZ1 1' AS sector, 'ZZ1' AS district, birth_year",
    # Both names mistyped, same DOB and postcode sector.
    "dob + sector": "forename || 'X' AS forename, surname || 'X' AS surname, dob, sex, "
    "postcode, sector, district, birth_year",
    # Forename and surname keyed the wrong way round.
    "dob + names swapped": "surname AS forename, forename AS surname, dob, sex, "
    "'ZZ1 1ZZ' AS postcode, 'ZZ1 1' AS sector, 'ZZ1' AS district, birth_year",
}


@pytest.mark.parametrize("rule", list(CHANGES))
def test_each_rule_catches_the_difference_it_exists_for(trained: Trained, rule: str) -> None:
    con = duckdb.connect()
    load_standard(con, trained.folder)
    base = _variant(con, "q_one", CHANGES[rule])
    rules = {r for i, q, r in _blocked_pairs(con, trained.model, "q_one") if i == base}
    assert RULES.index(rule) in rules
    if rule == "forename + surname + birth_year":
        assert rules == {RULES.index(rule)}  # no DOB rule could have found it


def test_a_record_sharing_no_blocking_key_has_no_candidate(trained: Trained) -> None:
    con = duckdb.connect()
    load_standard(con, trained.folder)
    con.execute("CREATE TABLE fb_c AS SELECT * FROM b_index")
    con.execute(
        """
        CREATE TABLE fb_q AS
        SELECT unique_id, forename, surname, dob, sex, postcode, sector, district, birth_year
        FROM b_index WHERE unique_id = 1
        UNION ALL
        SELECT 2, 'QQQQ', 'QQQQ', DATE '1990-01-01', 'F', NULL, NULL, NULL, 1990
        """
    )
    _blocked(con)
    assert con.execute("SELECT unique_id, has_candidate FROM fb_q ORDER BY 1").fetchall() == [
        (1, True),
        (2, False),
    ]
