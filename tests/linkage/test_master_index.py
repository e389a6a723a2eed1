"""Deterministic linkage: UPN, former UPN, ULN; stable person ids; unusable ids unlinked."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from core.config import Settings
from linkage.fallback import RESULT_SCHEMA
from linkage.identifiers import (
    classify_upn,
    is_valid_uln,
    make_temporary_upns,
    make_ulns,
    make_upns,
)
from linkage.master_index import _write_linked, link_records

UPNS = [str(u) for u in make_upns(np.full(6, 330), np.full(6, 2010), np.full(6, 18), np.arange(6))]
TEMP = str(
    make_temporary_upns(
        np.array([330]), np.array([2010]), np.array([24]), np.array([7]), np.array([3])
    )[0]
)
ULNS = [str(u) for u in make_ulns(np.arange(123456780, 123456800)) if u][:3]


def _records(path: Path, rows: list[dict]) -> Path:
    base = {
        "record_key": None,
        "_load_id": "L",
        "_source_file": "f.csv",
        "_source_row": 0,
        "upn": None,
        "former_upn": None,
        "uln": None,
    }
    full = []
    for i, row in enumerate(rows):
        r = {**base, **row, "_source_row": i + 2}
        r["record_key"] = f"f.csv#{i + 2}"
        r["upn_status"] = classify_upn(r["upn"]).value
        r["former_upn_status"] = classify_upn(r["former_upn"]).value
        r["uln_valid"] = is_valid_uln(r["uln"])
        full.append(r)
    pq.write_table(pa.Table.from_pylist(full), path)
    return path


def _link(
    settings: Settings, rows: list[dict], term: str, fallback=None, load_id: str | None = None
):
    records = _records(settings.tmp_dir / f"records_{term}.parquet", rows)
    out = settings.tmp_dir / f"linked_{term}.parquet"
    report = link_records(
        records,
        out,
        settings.identity_url,
        settings.tmp_dir,
        "school_census",
        "2024/25",
        term,
        load_id or f"load-{term}",
        fallback=fallback,
    )
    linked = {r["record_key"]: r for r in pq.read_table(out).to_pylist()}
    return report, [linked[f"f.csv#{i + 2}"] for i in range(len(rows))]


def test_new_persons_then_stable_ids_across_terms_and_reruns(settings: Settings) -> None:
    rows = [
        {"upn": UPNS[0]},
        {"upn": UPNS[1]},
        {"upn": "UN1"},
        {"upn": "C801200005001"},
        {"upn": None},
    ]
    report, autumn = _link(settings, rows, "autumn")
    assert report.by_method == {"upn": 2, "unlinked": 3}
    assert (report.new_persons, report.linked, round(report.link_rate, 2)) == (2, 2, 0.4)
    assert [r["person_id"] for r in autumn] == [1, 2, None, None, None]
    assert all(r["new_person"] for r in autumn[:2])

    report, rerun = _link(settings, rows, "autumn")
    assert report.replayed
    assert [(r["person_id"], r["new_person"]) for r in rerun] == [
        (r["person_id"], r["new_person"]) for r in autumn
    ]

    report, corrected = _link(settings, rows, "autumn", load_id="load-autumn-corrected")
    assert not report.replayed
    assert [r["person_id"] for r in corrected] == [1, 2, None, None, None]
    assert not any(r["new_person"] for r in corrected)

    spring_rows = [{"upn": UPNS[1]}, {"upn": UPNS[2]}, {"upn": UPNS[0]}]
    report, spring = _link(settings, spring_rows, "spring")
    assert [r["person_id"] for r in spring] == [2, 3, 1]
    assert report.new_persons == 1


def test_a_rerun_keeps_the_links_it_was_given_even_after_the_index_learned_more(
    settings: Settings,
) -> None:
    _link(settings, [{"upn": None, "uln": ULNS[1]}], "autumn")  # linked by ULN alone: new person 1
    _link(
        settings, [{"upn": UPNS[5], "uln": ULNS[1]}], "spring"
    )  # now the UPN is learned for person 1
    report, rerun = _link(settings, [{"upn": None, "uln": ULNS[1]}], "autumn")
    assert report.replayed and (rerun[0]["person_id"], rerun[0]["link_method"]) == (1, "uln")
    report, fresh = _link(settings, [{"upn": UPNS[5], "uln": ULNS[1]}], "spring", load_id="x")
    assert (fresh[0]["person_id"], fresh[0]["link_method"]) == (1, "upn")


def test_a_former_upn_links_the_new_upn_to_the_same_person(settings: Settings) -> None:
    _, first = _link(settings, [{"upn": TEMP}], "autumn")
    assert first[0]["link_method"] == "upn" and first[0]["person_id"] == 1
    report, later = _link(settings, [{"upn": UPNS[3], "former_upn": TEMP}], "spring")
    assert (later[0]["person_id"], later[0]["link_method"], report.new_identifiers) == (
        1,
        "former_upn",
        1,
    )
    _, after = _link(settings, [{"upn": UPNS[3]}], "summer")
    assert (after[0]["person_id"], after[0]["link_method"]) == (1, "upn")


def test_uln_links_when_no_upn_is_usable(settings: Settings) -> None:
    _link(settings, [{"upn": UPNS[4], "uln": ULNS[0]}], "autumn")
    _, later = _link(
        settings, [{"upn": None, "uln": ULNS[0]}, {"upn": None, "uln": "9999999999"}], "spring"
    )
    assert (later[0]["person_id"], later[0]["link_method"]) == (1, "uln")
    assert later[1]["link_method"] == "unlinked"


def test_conflicting_identifiers_keep_the_upn_and_are_counted(settings: Settings) -> None:
    _link(settings, [{"upn": UPNS[0]}, {"upn": UPNS[1]}], "autumn")
    report, rows = _link(settings, [{"upn": UPNS[0], "former_upn": UPNS[1]}], "spring")
    assert (rows[0]["person_id"], report.conflicts) == (1, 1)


def test_identity_store_holds_identifiers_and_a_replaced_partition(settings: Settings) -> None:
    _link(settings, [{"upn": UPNS[0]}, {"upn": "UN2"}], "autumn")
    _link(settings, [{"upn": UPNS[0]}], "autumn")
    engine = sa.create_engine(settings.identity_url)
    with engine.connect() as conn:
        idents = conn.execute(
            sa.text("SELECT id_type, id_value, person_id FROM identity.person_identifier")
        ).fetchall()
        records = conn.execute(
            sa.text("SELECT count(*) FROM identity.record_identity")
        ).scalar_one()
    engine.dispose()
    assert idents == [("UPN", UPNS[0], 1)]
    assert records == 1  # the rerun replaced the partition, it did not add to it


class _NewPersonForEveryone:
    """A stand-in fallback: asks the index for a new person for each unlinked record."""

    name = "test"

    def link(self, con, unlinked: str, feed: str) -> pa.Table:
        keys = [
            r[0] for r in con.execute(f"SELECT record_key FROM {unlinked} ORDER BY 1").fetchall()
        ]
        return pa.table(
            {
                "record_key": keys,
                "person_id": pa.nulls(len(keys), pa.int64()),
                "link_method": ["probabilistic"] * len(keys),
                "match_probability": [0.1] * len(keys),
                "model_version": ["t1"] * len(keys),
                "new_person": [True] * len(keys),
            },
            schema=RESULT_SCHEMA,
        )


def test_the_fallback_seam_places_unlinked_records(settings: Settings) -> None:
    report, rows = _link(
        settings,
        [{"upn": UPNS[0]}, {"upn": "UN4"}, {"upn": None}],
        "autumn",
        fallback=_NewPersonForEveryone(),
    )
    assert report.by_method == {"probabilistic": 2, "upn": 1}
    assert [r["person_id"] for r in rows] == [1, 2, 3]
    assert report.new_persons == 3


class _Places:
    """A stand-in fallback: links the records named in `links` to the given persons, asks for
    a new person for every other record it is offered, and remembers what it was offered."""

    name = "test"

    def __init__(self, links: dict[str, int]) -> None:
        self.links = links
        self.offered: list[str] = []

    def link(self, con, unlinked: str, feed: str) -> pa.Table:
        keys = [
            r[0] for r in con.execute(f"SELECT record_key FROM {unlinked} ORDER BY 1").fetchall()
        ]
        self.offered = keys
        placed = [k in self.links for k in keys]
        return pa.table(
            {
                "record_key": keys,
                "person_id": pa.array([self.links.get(k) for k in keys], pa.int64()),
                "link_method": ["probabilistic"] * len(keys),
                "match_probability": [0.97 if p else 0.05 for p in placed],
                "model_version": ["t1"] * len(keys),
                "new_person": [not p for p in placed],
            },
            schema=RESULT_SCHEMA,
        )


MORE_ULNS = [str(u) for u in make_ulns(np.arange(223456780, 223456900)) if u][:4]


def test_an_unseen_uln_is_offered_to_the_fallback_first_and_learned_by_its_link(
    settings: Settings,
) -> None:
    # Persons 1 and 2: pupils the index knows by UPN only (their ULN never reached it).
    _link(settings, [{"upn": UPNS[0]}, {"upn": UPNS[1]}], "autumn")
    fallback = _Places({"f.csv#2": 1})
    rows = [
        {"upn": None, "uln": MORE_ULNS[0]},  # the fallback finds person 1
        {"upn": None, "uln": MORE_ULNS[1]},  # no match: the ULN's new person
        {"upn": UPNS[1], "uln": MORE_ULNS[2]},  # a usable UPN: never offered
        {"upn": None, "uln": "9999999999"},  # no usable key: offered, as before
    ]
    report, spring = _link(settings, rows, "spring", fallback=fallback)
    assert fallback.offered == ["f.csv#2", "f.csv#3", "f.csv#5"]
    got = [(r["person_id"], r["link_method"], r["new_person"]) for r in spring]
    # New persons in identifier order: the unseen ULN's id is kept for it whatever the
    # fallback decides, the fallback's own new person comes after it.
    assert got == [
        (1, "probabilistic", False),
        (3, "uln", True),
        (2, "upn", False),
        (4, "probabilistic", True),
    ]
    assert spring[1]["match_probability"] == 1.0 and spring[1]["model_version"] == "deterministic-1"
    assert report.by_method == {"probabilistic": 2, "uln": 1, "upn": 1}
    assert sorted(report.counts) == [
        ("probabilistic", False, 1),
        ("probabilistic", True, 1),
        ("uln", True, 1),
        ("upn", False, 1),
    ]
    assert (report.new_persons, report.conflicts) == (2, 0)

    # The ULNs were learned: the learner's next return links by ULN, no fallback needed.
    fallback = _Places({})
    _, summer = _link(
        settings, [{"upn": None, "uln": u} for u in MORE_ULNS[:3]], "summer", fallback=fallback
    )
    assert fallback.offered == []
    assert [(r["person_id"], r["link_method"]) for r in summer] == [
        (1, "uln"),
        (3, "uln"),
        (2, "uln"),
    ]
    # A rerun of the same input replays the links, the fallback is not asked again.
    report, rerun = _link(settings, rows, "spring", fallback=_Places({}))
    assert report.replayed
    assert [(r["person_id"], r["link_method"]) for r in rerun] == [g[:2] for g in got]


def test_records_sharing_an_unseen_uln_follow_the_one_the_fallback_placed(
    settings: Settings,
) -> None:
    _link(settings, [{"upn": UPNS[0]}, {"upn": UPNS[1]}], "autumn")
    rows = [
        {"upn": None, "uln": MORE_ULNS[0], "_source_file": "a.csv"},
        {"upn": None, "uln": MORE_ULNS[0], "_source_file": "b.csv"},  # placed on person 2
    ]
    report, spring = _link(settings, rows, "spring", fallback=_Places({"f.csv#3": 2}))
    got = [(r["person_id"], r["link_method"], r["new_person"]) for r in spring]
    assert got == [(2, "uln", False), (2, "probabilistic", False)]
    assert (report.new_persons, report.conflicts) == (0, 0)
    engine = sa.create_engine(settings.identity_url)
    with engine.connect() as conn:
        uln = conn.execute(
            sa.text("SELECT person_id FROM identity.person_identifier WHERE id_type = 'ULN'")
        ).fetchall()
        persons = conn.execute(sa.text("SELECT count(*) FROM identity.person")).scalar_one()
    engine.dispose()
    assert (uln, persons) == ([(2,)], 2)


def test_with_the_fallback_off_an_unseen_uln_makes_its_person_as_before(
    settings: Settings,
) -> None:
    _link(settings, [{"upn": UPNS[0]}], "autumn")
    rows = [
        {"upn": None, "uln": MORE_ULNS[1]},
        {"upn": None, "uln": MORE_ULNS[0]},
        {"upn": UPNS[2]},
        {"upn": None},
    ]
    # The same ids with no fallback and with one that places nothing.
    off, off_rows = _link(settings, rows, "spring")
    _, on_rows = _link(settings, rows, "spring", fallback=_Places({}), load_id="load-spring-again")
    assert [(r["person_id"], r["link_method"], r["new_person"]) for r in off_rows] == [
        (3, "uln", True),
        (2, "uln", True),
        (4, "upn", True),
        (None, "unlinked", False),
    ]
    # Linked afresh, the ULNs and UPN are known now (not new); the same persons.
    assert [r["person_id"] for r in on_rows[:3]] == [3, 2, 4]
    assert on_rows[3]["link_method"] == "probabilistic" and on_rows[3]["new_person"]
    assert off.by_method == {"uln": 2, "upn": 1, "unlinked": 1}


def test_linked_file_is_the_staged_file_with_links_in_staged_order(settings: Settings) -> None:
    """Linkage holds only the columns it reads; the linked file still carries every staged
    column, in staged order, with the links beside the right rows."""
    rows = [
        {"upn": UPNS[i % 3], "school_urn": f"10000{i}", "fsm_eligible": i % 2 == 0}
        for i in range(6)
    ]
    _, linked = _link(settings, rows, "autumn")
    staged = pq.read_table(settings.tmp_dir / "records_autumn.parquet")
    out = pq.read_table(settings.tmp_dir / "linked_autumn.parquet")
    assert out.column_names[: staged.num_columns] == staged.column_names
    assert out.select(staged.column_names).equals(staged)
    people = [r["person_id"] for r in linked]  # numbered in UPN order, not row order
    assert sorted(set(people)) == [1, 2, 3] and people[:3] == people[3:]
    by_upn = dict(
        zip(out.column("upn").to_pylist(), out.column("person_id").to_pylist(), strict=True)
    )
    assert sorted(by_upn, key=by_upn.get) == sorted(UPNS[:3])


def test_linked_rows_out_of_step_with_the_staged_file_are_refused(tmp_path) -> None:
    records = tmp_path / "records.parquet"
    pq.write_table(pa.table({"record_key": ["f.csv#2", "f.csv#3"], "x": [1, 2]}), records)
    con = duckdb.connect()
    con.execute("CREATE TABLE src AS SELECT * FROM (VALUES ('f.csv#3'), ('f.csv#2')) t(record_key)")
    con.execute(
        "CREATE TABLE assigned AS SELECT record_key, 7::BIGINT AS person_id, 'upn' AS link_method, "
        "1.0::DOUBLE AS match_probability, 'm' AS model_version, true AS new_person FROM src"
    )
    with pytest.raises(duckdb.Error, match="out of step"):
        _write_linked(con, records, tmp_path / "linked.parquet")
