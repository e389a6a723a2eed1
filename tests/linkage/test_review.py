"""The clerical review queue through the master index: what gets queued, and decisions that
survive every rerun (replayed or linked afresh) but never follow a line to another child."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core.config import Settings
from linkage import review
from linkage.identifiers import classify_upn, is_valid_uln, make_ulns, make_upns
from linkage.master_index import link_records
from linkage.probabilistic import LinkageConfig, ProbabilisticLinker
from tests.linkage.conftest import Trained

CHILDREN = 40


def _children(trained: Trained) -> list[dict]:
    """Real-shaped identities from the generator, each with a valid UPN."""
    rows = pq.read_table(trained.folder / "index.parquet").slice(0, CHILDREN).to_pylist()
    upns = make_upns(
        np.full(CHILDREN, 202), np.full(CHILDREN, 2040), np.full(CHILDREN, 18), np.arange(CHILDREN)
    )
    return [
        {**{k: r[k] for k in ("forename", "surname", "dob", "sex", "postcode")}, "upn": str(u)}
        for r, u in zip(rows, upns, strict=True)
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    full = []
    for i, row in enumerate(rows):
        upn = row.get("upn")
        full.append(
            {
                "record_key": f"f.csv#{i + 2}",
                "_load_id": "L",
                "_source_file": "f.csv",
                "_source_row": i + 2,
                "_return": "LA202",
                "la_code": 202,
                "upn": upn,
                "upn_status": classify_upn(upn).value,
                "former_upn": None,
                "former_upn_status": "missing",
                "uln": row.get("uln"),
                "uln_valid": is_valid_uln(row.get("uln")),
                **{k: row[k] for k in ("forename", "surname", "dob", "sex", "postcode")},
            }
        )
    pq.write_table(pa.Table.from_pylist(full), path)
    return path


def _link(settings: Settings, trained: Trained, rows: list[dict], term: str, load_id: str, **kw):
    records = _write(settings.tmp_dir / f"records_{term}_{load_id}.parquet", rows)
    out = settings.tmp_dir / f"linked_{term}.parquet"
    linker = ProbabilisticLinker(LinkageConfig(models_dir=trained.models_dir, autotrain=False))
    report = link_records(
        records,
        out,
        settings.identity_url,
        settings.tmp_dir,
        "school_census",
        "2024/25",
        term,
        load_id,
        fallback=linker,
        **kw,
    )
    linked = {r["record_key"]: r for r in pq.read_table(out).to_pylist()}
    return report, [linked[f"f.csv#{i + 2}"] for i in range(len(rows))]


def _conn(settings: Settings):
    return sa.create_engine(settings.identity_url, poolclass=sa.pool.NullPool).begin()


def _queued(settings: Settings) -> dict[int, str]:
    """Candidate person -> review id of the pending pairs."""
    with _conn(settings) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT candidate_person_id, review_id, reason FROM identity.clerical_review "
                "WHERE status = 'pending'"
            )
        ).fetchall()
    assert {r[2] for r in rows} <= {"same_return"}
    return {r[0]: r[1] for r in rows}


@pytest.fixture
def spring(settings: Settings, trained: Trained) -> tuple[list[dict], dict[int, int]]:
    """Autumn: 40 children by UPN. Spring: the same return again, plus two of them entered
    a second time without a UPN (a dual registration's second row): the persons are
    already linked in this return, so those rows wait for review."""
    children = _children(trained)
    _, autumn = _link(settings, trained, children, "autumn", "load-autumn")
    person = {i: autumn[i]["person_id"] for i in range(CHILDREN)}
    rows = [*children, {**children[0], "upn": None}, {**children[1], "upn": "UN1"}]
    report, linked = _link(settings, trained, rows, "spring", "load-spring")
    assert [r["link_method"] for r in linked[-2:]] == ["unlinked", "unlinked"]
    assert report.by_method == {"upn": CHILDREN, "unlinked": 2}
    assert set(_queued(settings)) == {person[0], person[1]}
    return rows, person


def test_the_queue_shows_a_reviewer_the_two_records_and_nothing_else(
    settings: Settings, spring
) -> None:
    rows, _ = spring
    with _conn(settings) as conn:
        pairs, total = review.pending(conn)
    assert total == 2
    pair = next(p for p in pairs if p.record["forename"] == rows[0]["forename"])
    assert pair.record == pair.candidate  # the same child, seen twice
    assert set(pair.record) == {"forename", "surname", "dob", "sex", "postcode", "la_code"}
    assert pair.reason == "same_return" and pair.partition == "school_census 2024/25 spring"


def test_decisions_survive_replays_and_fresh_links(settings: Settings, trained: Trained, spring):
    rows, person = spring
    queued = _queued(settings)
    with _conn(settings) as conn:
        review.decide(conn, [queued[person[0]]], review.ACCEPTED, "tester")
        review.decide(conn, [queued[person[1]]], review.REJECTED, "tester")
        assert review.decided_not_applied(conn) == [("school_census", "2024/25", "spring")]

    report, linked = _link(settings, trained, rows, "spring", "load-spring")  # same input
    assert report.replayed and report.clerical == 2
    accepted, rejected = linked[-2:]
    assert (accepted["person_id"], accepted["link_method"]) == (person[0], "clerical")
    assert (rejected["link_method"], rejected["new_person"]) == ("clerical", True)
    assert rejected["person_id"] not in person.values()
    with _conn(settings) as conn:
        assert review.decided_not_applied(conn) == []

    report, again = _link(settings, trained, rows, "spring", "load-spring")
    assert report.replayed and report.clerical == 0
    assert [(r["person_id"], r["link_method"]) for r in again] == [
        (r["person_id"], r["link_method"]) for r in linked
    ]

    report, fresh = _link(settings, trained, rows, "spring", "load-spring", relink=True)
    assert not report.replayed
    assert (fresh[-2]["person_id"], fresh[-2]["link_method"]) == (person[0], "clerical")
    assert (fresh[-1]["link_method"], fresh[-1]["new_person"]) == ("clerical", True)
    assert _queued(settings) == {}  # decided pairs are never queued again


def test_a_decision_does_not_follow_its_line_to_another_child(
    settings: Settings, trained: Trained, spring
) -> None:
    rows, person = spring
    queued = _queued(settings)
    with _conn(settings) as conn:
        review.decide(conn, [queued[person[0]]], review.ACCEPTED, "tester")
    # A corrected file: the same line now holds child 5 (still without a UPN).
    corrected = [*rows[:-2], {**rows[5], "upn": None}, rows[-1]]
    _, linked = _link(settings, trained, corrected, "spring", "load-spring-corrected")
    assert linked[-2]["link_method"] != "clerical"
    assert linked[-2]["person_id"] != person[0]


def test_an_identifier_in_a_corrected_file_wins_over_a_decision(
    settings: Settings, trained: Trained, spring
) -> None:
    rows, person = spring
    queued = _queued(settings)
    with _conn(settings) as conn:
        review.decide(conn, [queued[person[1]]], review.ACCEPTED, "tester")
    # The corrected return gives the second row of child 1 a UPN: the UPN of child 7.
    corrected = [*rows[:-1], {**rows[-1], "upn": rows[7]["upn"]}]
    _, linked = _link(settings, trained, corrected, "spring", "load-spring-corrected")
    assert (linked[-1]["link_method"], linked[-1]["person_id"]) == ("upn", person[7])


def test_review_commands_list_accept_and_apply(settings: Settings, spring) -> None:
    from npd.cli import app

    rows, person = spring
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list"])
    assert listed.exit_code == 0, listed.output
    assert "2 pair(s) pending" in listed.output and "same return" in listed.output
    assert rows[0]["upn"] not in listed.output  # identifiers a reviewer does not need
    first = _queued(settings)[person[0]]
    done = runner.invoke(app, ["review", "accept", first, "--reviewer", "tester"])
    assert done.exit_code == 0 and "school_census 2024/25 spring" in done.output
    again = runner.invoke(app, ["review", "accept", first])
    assert again.exit_code == 1 and "already decided" in again.output
    missing = runner.invoke(app, ["review", "reject", "0000000000"])
    assert missing.exit_code == 1 and "no review 0000000000" in missing.output


def test_an_accepted_decision_wins_over_the_person_an_unseen_uln_made_and_takes_the_uln(
    settings: Settings, trained: Trained
) -> None:
    """Child 0 entered again without a UPN but with a valid ULN the index has never seen:
    offered to the fallback first, it waits for review (child 0 is already linked in this
    return), and meanwhile its ULN makes a new person. Accepting the pair moves the record
    to child 0 and the ULN with it, so the child's next record links there by ULN."""
    uln = str(next(u for u in make_ulns(np.arange(323456780, 323456800)) if u))
    children = _children(trained)
    _, autumn = _link(settings, trained, children, "autumn", "load-autumn")
    child0 = autumn[0]["person_id"]
    rows = [*children, {**children[0], "upn": None, "uln": uln}]
    report, linked = _link(settings, trained, rows, "spring", "load-spring")
    waiting = linked[-1]
    assert (waiting["link_method"], waiting["new_person"]) == ("uln", True)
    assert waiting["person_id"] not in {r["person_id"] for r in autumn}
    assert report.by_method == {"upn": CHILDREN, "uln": 1} and report.new_persons == 1
    queued = _queued(settings)
    assert set(queued) == {child0}

    with _conn(settings) as conn:
        review.decide(conn, [queued[child0]], review.ACCEPTED, "tester")
        assert review.decided_not_applied(conn) == [("school_census", "2024/25", "spring")]
    report, applied = _link(settings, trained, rows, "spring", "load-spring")
    assert report.replayed and report.clerical == 1
    assert (applied[-1]["person_id"], applied[-1]["link_method"]) == (child0, "clerical")
    with _conn(settings) as conn:
        assert review.decided_not_applied(conn) == []
        held = conn.execute(
            sa.text("SELECT person_id FROM identity.person_identifier WHERE id_type = 'ULN'")
        ).fetchall()
    assert held == [(child0,)]

    report, summer = _link(
        settings, trained, [{**children[0], "upn": None, "uln": uln}], "summer", "load-summer"
    )
    assert (summer[0]["person_id"], summer[0]["link_method"]) == (child0, "uln")
    # Linked afresh, the ULN (now child 0's) reaches the same person: the decision's link.
    _, fresh = _link(settings, trained, rows, "spring", "load-spring", relink=True)
    assert (fresh[-1]["person_id"], fresh[-1]["link_method"]) == (child0, "clerical")
    with _conn(settings) as conn:
        assert review.decided_not_applied(conn) == []


def test_a_record_with_an_unseen_uln_rejected_on_every_candidate_keeps_its_uln_person(
    settings: Settings, trained: Trained
) -> None:
    uln = str(next(u for u in make_ulns(np.arange(323456780, 323456800)) if u))
    children = _children(trained)
    _link(settings, trained, children, "autumn", "load-autumn")
    rows = [*children, {**children[0], "upn": None, "uln": uln}]
    _, linked = _link(settings, trained, rows, "spring", "load-spring")
    queued = _queued(settings)
    with _conn(settings) as conn:
        review.decide(conn, list(queued.values()), review.REJECTED, "tester")
        assert review.decided_not_applied(conn) == []
    report, again = _link(settings, trained, rows, "spring", "load-spring")
    assert report.replayed and report.clerical == 0
    assert (again[-1]["person_id"], again[-1]["link_method"], again[-1]["new_person"]) == (
        linked[-1]["person_id"],
        "uln",
        True,
    )
