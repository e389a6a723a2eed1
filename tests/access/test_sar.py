"""Subject access: a child's report lists what is held per feed and year, who received it,
why and until when, and the request is logged without saying who asked about whom."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.feeds import FEEDS
from governance import objections
from governance.extract import ExtractRequest, extract
from governance.pseudonymise import pseudonym
from governance.sar import subject_access
from governance.subjects import Lookup, SubjectError
from tests.access.conftest import KEY, PgRun, connect, using
from warehouse_schema.catalogue import load_catalogue

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CAT = load_catalogue()


CLA, CIN = "ssda903", "cin_census"
KEY_STAGES = sorted(f for f in FEEDS if f == "phonics" or f.startswith("ks"))


def _child(run: PgRun) -> dict:
    """A linked child looked after, in need and with key stage results (then most records)."""
    with connect(run.db.url).connect() as conn:
        person = conn.execute(
            sa.text(
                "SELECT person_id FROM identity.record_identity WHERE person_id IS NOT NULL "
                "GROUP BY person_id HAVING bool_or(feed = :cla) AND bool_or(feed = :cin) "
                "AND bool_or(feed = ANY(:ks)) AND bool_or(upn_status = 'valid') "
                "ORDER BY count(DISTINCT feed) DESC, count(*) DESC, person_id LIMIT 1"
            ),
            {"cla": CLA, "cin": CIN, "ks": KEY_STAGES},
        ).scalar_one_or_none()
        assert person is not None, (
            "the generated population has no linked child with CLA, CIN and key stage records: "
            "raise PUPILS or change SEED in tests/access/conftest.py"
        )
        upn, forename, surname, dob = conn.execute(
            sa.text(
                "SELECT upn, forename, surname, dob FROM identity.record_identity "
                "WHERE person_id = :p AND upn_status = 'valid' AND surname IS NOT NULL LIMIT 1"
            ),
            {"p": person},
        ).one()
        held = conn.execute(
            sa.text(
                "SELECT feed, academic_year, count(*) FROM identity.record_identity "
                "WHERE person_id = :p GROUP BY 1, 2"
            ),
            {"p": person},
        ).fetchall()
    return {
        "person_id": person,
        "upn": upn,
        "forename": forename,
        "surname": surname,
        "dob": dob,
        "held": {(f, y): n for f, y, n in held},
    }


@pytest.fixture(scope="module")
def child(pg_run: PgRun, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The child, an objection by their family, and two releases that covered them."""
    found = _child(pg_run)
    feeds = {f for f, _ in found["held"]}
    assert {CLA, CIN, "school_census"} <= feeds and feeds & set(KEY_STAGES)
    with connect(pg_run.db.url).begin() as conn:
        objections.record(conn, found["person_id"], "funding", "objected", "letter")
    out = tmp_path_factory.mktemp("sar_releases")
    soon = dt.date.today() + dt.timedelta(days=200)
    with using(pg_run):
        rows = extract(
            ExtractRequest(
                recipient="University of Learning",
                purpose="research",
                tier=4,
                destroy_by=soon,
                columns=("census_pupil.pupil_pseudonym", "census_pupil.ncyear_actual"),
            ),
            pg_run.settings,
            out_dir=out,
        )
        counts = extract(
            ExtractRequest(
                recipient="County Statistics Unit",
                purpose="official_statistics",
                tier=4,
                destroy_by=soon,
                aggregate_by=("census_pupil.la_code", "census_pupil.sex"),
            ),
            pg_run.settings,
            out_dir=out,
        )
    return {**found, "releases": [rows, counts], "destroy_by": soon}


def _log(run: PgRun, sar_id: str) -> dict:
    with connect(run.db.url).connect() as conn:
        row = (
            conn.execute(sa.text("SELECT * FROM audit.sar_log WHERE sar_id = :s"), {"s": sar_id})
            .mappings()
            .one()
        )
    return dict(row)


def _words(date: dt.date) -> str:
    return date.strftime("%-d %B %Y")


def _shown(value: object) -> str:
    """How a value held should start in the report (code meanings may follow)."""
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return _words(value)
    return str(value)


def test_the_report_shows_what_is_held_who_received_it_and_until_when(
    child: dict, pg_env: PgRun
) -> None:
    result = subject_access(Lookup.of(upn=child["upn"]))
    report, page = result.report, result.path.read_text(encoding="utf-8")
    # what is held, per feed and year, exactly as the identity store links the child
    held = {(f.feed, y.year): len(y.columns) for f in report.held for y in f.years}
    assert held == child["held"]
    assert report.records_found == sum(child["held"].values())
    for feed in {f for f, _ in child["held"]}:
        assert FEEDS[feed].label in page
    # every table the child is in: each item in the catalogue's words, with the child's value
    pseudo = pseudonym(bytes.fromhex(KEY), child["person_id"])
    by_feed = {f.feed: f for f in report.held}
    tables = [t for t in CAT.tables.values() if t.schema == "research" and t.feed in by_feed]
    assert {t.feed for t in tables} >= {CLA, CIN, "school_census"} and len(tables) == len(by_feed)
    with connect(pg_env.db.url).connect() as conn:
        for table in tables:
            shown = [c for c in table.columns if c.minimisation != "pseudonymise"]
            order = "academic_year" + (
                ", census_term" if "census_term" in table.column_names else ""
            )
            rows = conn.execute(
                sa.text(
                    f"SELECT {', '.join(c.name for c in shown)} FROM {table.key} "
                    f"WHERE pupil_pseudonym = :p ORDER BY {order}"
                ),
                {"p": pseudo},
            ).fetchall()
            items = [item for y in by_feed[table.feed].years for item in y.items]
            assert [what for what, _ in items][: len(shown)] == [c.description for c in shown]
            report_values = {}
            for year in by_feed[table.feed].years:
                for what, values in year.items:
                    report_values.setdefault(what, []).extend(values)
            for i, col in enumerate(shown):
                for row, text in zip(rows, report_values[col.description], strict=True):
                    assert text.startswith(_shown(row[i])), (table.key, col.name, text)
            assert html.escape(table.description, quote=True) in page
    for feed in (CLA, CIN):  # highly sensitive: research and statistics only
        labels = by_feed[feed].purposes
        assert labels and CAT.vocabulary["purposes"]["funding"]["label"] not in labels
    # who received it, why, and when it must be destroyed
    # (other tests' releases may have covered the child too: the register says which)
    with connect(pg_env.db.url).connect() as conn:
        covering = conn.execute(
            sa.text(
                "SELECT r.release_id FROM audit.release_register r WHERE r.release_id IN "
                "(SELECT release_id FROM audit.release_member WHERE pupil_pseudonym = :p) ORDER BY r.seq"
            ),
            {"p": pseudonym(bytes.fromhex(KEY), child["person_id"])},
        ).scalars()
        assert [r["release_id"] for r in report.received] == list(covering)
    assert {r.release_id for r in child["releases"]} <= {r["release_id"] for r in report.received}
    for recipient in ("University of Learning", "County Statistics Unit"):
        assert recipient in page
    purposes = CAT.vocabulary["purposes"]
    assert (
        purposes["research"]["label"] in page and purposes["official_statistics"]["label"] in page
    )
    assert f"<td>{_words(child['destroy_by'])}</td>" in page
    assert "counted in statistics" in page and "under a code only they hold" in page
    # the family's objection, and what identifies the child (kept apart)
    assert purposes["funding"]["label"].lower() in page
    assert child["upn"] in page and child["surname"] in page
    # never a pseudonym
    assert pseudonym(bytes.fromhex(KEY), child["person_id"]) not in page
    assert "@media print" in page


def test_the_request_is_logged_without_identifiers(child: dict, pg_env: PgRun) -> None:
    result = subject_access(Lookup.of(upn=child["upn"]))
    log = _log(pg_env, result.report.sar_id)
    assert log["outcome"] == "found" and log["lookup"] == "upn"
    assert log["records_found"] == result.report.records_found
    assert log["releases_found"] == len(result.report.received) >= 2
    assert log["tables_searched"] == len([t for t in CAT.tables.values() if t.schema == "research"])
    assert log["report_checksum"] == hashlib.sha256(result.path.read_bytes()).hexdigest()
    text = " ".join(str(v) for v in log.values())
    for identifier in (child["upn"], child["forename"], child["surname"], child["dob"].isoformat()):
        assert identifier not in text


def test_name_and_date_of_birth_find_the_same_child(child: dict, pg_env: PgRun) -> None:
    by_name = subject_access(
        Lookup.of(
            surname=child["surname"].upper(),
            forename=child["forename"],
            dob=child["dob"].isoformat(),
        )
    )
    assert by_name.report.outcome == "found"
    assert by_name.report.records_found == sum(child["held"].values())
    assert _log(pg_env, by_name.report.sar_id)["lookup"] == "name_dob"


def test_a_child_not_held_gets_a_letter_saying_so(pg_env: PgRun) -> None:
    result = subject_access(Lookup.of(upn="B801200005001"))  # valid, and never issued here
    assert result.report.outcome == "not_found"
    assert "We hold no information about a child with those details" in result.path.read_text()
    assert _log(pg_env, result.report.sar_id)["outcome"] == "not_found"


def test_two_children_with_the_same_name_and_birthday_need_the_upn(
    child: dict, pg_env: PgRun
) -> None:
    engine = connect(pg_env.db.url)
    twin = {"surname": child["surname"], "forename": child["forename"], "dob": child["dob"]}
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO identity.record_identity (feed, academic_year, record_key, person_id, "
                "surname, forename, dob) VALUES ('ks2', '2099/00', 'twin', -1, :surname, :forename, :dob)"
            ),
            twin,
        )
    try:
        with pytest.raises(
            SubjectError, match="2 children match those details: give the child's UPN"
        ) as err:
            subject_access(
                Lookup.of(
                    dob=child["dob"].isoformat(), surname=twin["surname"], forename=twin["forename"]
                )
            )
        assert child["surname"] not in str(err.value)
        with engine.connect() as conn:
            outcome = conn.execute(
                sa.text("SELECT outcome FROM audit.sar_log ORDER BY requested_at DESC LIMIT 1")
            ).scalar_one()
        assert outcome == "ambiguous"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM identity.record_identity WHERE record_key = 'twin'"))
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"upn": "B801200005002"}, "not a usable UPN \\(bad_check\\)"),
        (
            {"surname": "Smith"},
            "give the child's UPN, or their surname, forename and date of birth",
        ),
        ({"surname": "Smith", "forename": "Jo", "dob": "12/03/2014"}, "YYYY-MM-DD"),
    ],
)
def test_a_request_that_names_no_child_says_what_is_missing(given: dict, message: str) -> None:
    with pytest.raises(SubjectError, match=message) as err:
        Lookup.of(**given)
    assert "B801200005002" not in str(err.value) and "Smith" not in str(err.value)


def test_reports_are_kept_in_a_restricted_folder(child: dict, pg_env: PgRun) -> None:
    result = subject_access(Lookup.of(upn=child["upn"]))
    assert result.path.parent == Path(pg_env.settings.home) / "sar"
    assert result.path.stat().st_mode & 0o077 == 0
