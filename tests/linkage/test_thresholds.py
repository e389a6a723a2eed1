"""Thresholds and the decision rule: link above the upper threshold, review in the grey zone
or when a close second or the one-to-one rule stands in the way, new person below the
lower threshold; and the decisions the trained model makes on generated data."""

from __future__ import annotations

import math

import duckdb
import pytest

from linkage.decision import Thresholds, decide, match_share, pair_threshold
from linkage.scoring import score_duckdb
from tests.linkage.conftest import Trained, load_standard

PRIOR = 1e-4  # pairwise prior the scores were made with
SHARE = 0.9


def _weight(probability: float) -> float:
    """The Splink pairwise weight that gives this record posterior for a lone candidate."""
    odds = probability / (1 - probability) * (1 - SHARE) / PRIOR
    return math.log2(odds) + math.log2(PRIOR / (1 - PRIOR))


def _run(queries: list[tuple], scores: list[tuple], in_return: list[tuple] = ()) -> dict:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE q (unique_id BIGINT, record_key VARCHAR, return_key VARCHAR, "
        "identity_digest VARCHAR, has_candidate BOOLEAN, forename VARCHAR, surname VARCHAR)"
    )
    con.executemany(
        "INSERT INTO q VALUES (?, ?, ?, 'd', ?, ?, ?)",
        [(*q, *((None, None) if q[1] == "nameless" else ("ANN", "SMITH"))) for q in queries],
    )
    con.execute(
        "CREATE TABLE s (query_id BIGINT, person_id BIGINT, variant_id BIGINT, weight DOUBLE)"
    )
    if scores:
        con.executemany("INSERT INTO s VALUES (?, ?, ?, ?)", [(q, p, p, w) for q, p, w in scores])
    con.execute(
        "CREATE TABLE rej (record_key VARCHAR, identity_digest VARCHAR, candidate_person_id BIGINT)"
    )
    con.execute("CREATE TABLE ret (return_key VARCHAR, person_id BIGINT)")
    if in_return:
        con.executemany("INSERT INTO ret VALUES (?, ?)", list(in_return))
    decide(
        con,
        queries="q",
        scores="s",
        rejected="rej",
        in_return="ret",
        thresholds=Thresholds(upper=0.9, lower=0.2, margin=0.2),
        has_model=True,
        prior=PRIOR,
        share=SHARE,
    )
    rows = con.execute(
        "SELECT record_key, outcome, reason, person_id, probability FROM fb_decision"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_upper_grey_zone_lower_and_no_candidate() -> None:
    out = _run(
        [(1, "a", "R1", True), (2, "b", "R1", True), (3, "c", "R1", True), (4, "d", "R1", False)],
        [(1, 10, _weight(0.95)), (2, 20, _weight(0.5)), (3, 30, _weight(0.1))],
    )
    assert out["a"][:3] == ("link", None, 10) and out["a"][3] == pytest.approx(0.95)
    assert out["b"][:2] == ("review", "grey_zone") and out["b"][3] == pytest.approx(0.5)
    assert out["c"][0] == "new" and out["c"][3] == pytest.approx(0.1)
    assert out["d"][:3] == ("new", None, None)


def test_a_record_with_no_name_is_never_made_a_new_person() -> None:
    # A child in need carries a DOB, sex and LA but no name: with no candidate, or only a
    # weak one, nothing says the child is new, so the record stays unlinked.
    out = _run(
        [(1, "nameless", "R1", False), (2, "named", "R1", False)],
        [],
    )
    assert out["nameless"][0] == "unscored" and out["named"][0] == "new"


def test_a_close_runner_up_sends_a_strong_match_to_review() -> None:
    # Two persons alike (twins, or one child entered twice): each alone would link.
    out = _run([(1, "a", "R1", True)], [(1, 10, _weight(0.99)), (1, 11, _weight(0.98))])
    assert out["a"][:2] == ("review", "competing")
    # The runner-up counts against the best: the record's probability is lower than the
    # pair's, since one of two near-equal candidates must be wrong.
    # odds = 9.9 / (0.1 + 4.9): a record probability of 0.664, not the pair's 0.99.
    assert out["a"][3] == pytest.approx(1.98 / 2.98, abs=1e-3)


def test_one_to_one_person_already_linked_in_the_return_goes_to_review() -> None:
    out = _run(
        [(1, "a", "R1", True), (2, "b", "R2", True)],
        [(1, 10, _weight(0.99)), (2, 10, _weight(0.99))],
        in_return=[("R1", 10)],  # person 10 already linked (say by UPN) in return R1
    )
    assert out["a"][:2] == ("review", "same_return")
    assert out["b"][:3] == ("link", None, 10)  # another return: a dual registration may link


def test_one_to_one_two_records_of_a_return_claiming_one_person() -> None:
    out = _run(
        [(1, "a", "R1", True), (2, "b", "R1", True), (3, "c", "R2", True), (4, "d", "R2", True)],
        [
            (1, 10, _weight(0.999)),
            (2, 10, _weight(0.5)),  # too weak to link anyway: "a" links, "b" waits for review
            (3, 20, _weight(0.99)),
            (4, 20, _weight(0.95)),  # both would link: one return, one child, so neither does
        ],
    )
    assert out["a"][:3] == ("link", None, 10)
    assert out["b"][:2] == ("review", "grey_zone")
    assert out["c"][:2] == ("review", "same_return")
    assert out["d"][:2] == ("review", "same_return")


def test_thresholds_are_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Thresholds.from_env() == Thresholds(upper=0.9, lower=0.2, margin=0.2)
    monkeypatch.setenv("NPD_LINKAGE_UPPER", "0.97")
    monkeypatch.setenv("NPD_LINKAGE_LOWER", "0.4")
    assert Thresholds.from_env() == Thresholds(upper=0.97, lower=0.4, margin=0.2)
    monkeypatch.setenv("NPD_LINKAGE_LOWER", "0.99")
    with pytest.raises(ValueError, match="lower <= upper"):
        Thresholds.from_env()


def test_the_trained_model_decides_generated_records_against_the_truth(trained: Trained) -> None:
    """Fallback quality against the truth: a year later, the model at the default thresholds."""
    con = duckdb.connect()
    load_standard(con, trained.folder)
    con.execute("ALTER TABLE b_query ADD COLUMN has_candidate BOOLEAN DEFAULT true")
    share = match_share(con, "b_query", "b_index", trained.model)
    matchable = trained.facts["queries_with_match"] / trained.facts["queries"]
    assert share == pytest.approx(matchable, abs=0.03)  # the prior's share, estimated blind
    persons = con.execute("SELECT count(*) FROM b_index").fetchall()[0][0]
    prior = trained.model.prior(persons, share)
    thresholds = Thresholds()
    pairs = score_duckdb(
        con, "b_index", "b_query", trained.model, prior, pair_threshold(thresholds, share)
    )
    con.register("pairs", pairs)
    con.execute(
        "CREATE TABLE s AS SELECT p.query_id, i.person_id, p.index_id AS variant_id, "
        "p.match_weight AS weight FROM pairs p JOIN b_index i ON i.unique_id = p.index_id"
    )
    con.execute(
        "CREATE TABLE rej (record_key VARCHAR, identity_digest VARCHAR, candidate_person_id BIGINT)"
    )
    con.execute("CREATE TABLE ret (return_key VARCHAR, person_id BIGINT)")
    decide(
        con,
        queries="b_query",
        scores="s",
        rejected="rej",
        in_return="ret",
        thresholds=thresholds,
        has_model=True,
        prior=prior,
        share=share,
    )
    right, wrong, new_right, new_wrong = con.execute(
        """
        SELECT count(*) FILTER (WHERE d.outcome = 'link' AND d.person_id = q.person_id),
               count(*) FILTER (WHERE d.outcome = 'link' AND d.person_id <> q.person_id),
               count(*) FILTER (WHERE d.outcome = 'new' AND q.person_id NOT IN (SELECT person_id FROM b_index)),
               count(*) FILTER (WHERE d.outcome = 'new' AND q.person_id IN (SELECT person_id FROM b_index))
        FROM fb_decision d JOIN b_query q ON q.unique_id = d.query_id
        """
    ).fetchall()[0]
    linkable = trained.facts["queries_with_match"]
    newcomers = trained.facts["queries"] - linkable
    assert wrong <= 1 and right / (right + wrong) >= 0.998
    assert right / linkable >= 0.99
    assert new_right >= 0.95 * newcomers and new_wrong <= 0.01 * linkable
