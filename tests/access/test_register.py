"""The release register: hash-chained, so a changed, removed or re-pointed row is detected;
releases past their destruction date are shown until a destruction is confirmed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from governance import releases
from governance.extract import ExtractRequest, extract
from tests.access.conftest import PgRun, connect, using

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def three_releases(pg_run: PgRun, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Three more entries on the chain (whatever other tests added before)."""
    out = tmp_path_factory.mktemp("releases")
    made = []
    for n, days in enumerate((30, 60, 90)):
        request = ExtractRequest(
            recipient=f"Register test {n}",
            purpose="research",
            tier=4,
            destroy_by=dt.date.today() + dt.timedelta(days=days),
            columns=("ks2_result.pupil_pseudonym", "ks2_result.mat_score"),
        )
        with using(pg_run):
            made.append(extract(request, pg_run.settings, out_dir=out).release_id)
    return made


@pytest.fixture
def tampering(pg_env: PgRun) -> Iterator[sa.Connection]:
    """A transaction on the register as its owner, rolled back after the test."""
    engine = connect(pg_env.db.url)
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()
    engine.dispose()


def _problems(conn: sa.Connection, run: PgRun) -> list[str]:
    return releases.verify(
        releases.entries(conn), releases.member_digests(conn, run.settings.tmp_dir)
    )


def _seq(conn: sa.Connection, release_id: str) -> int:
    return conn.execute(
        sa.text(f"SELECT seq FROM {releases.REGISTER} WHERE release_id = :r"), {"r": release_id}
    ).scalar_one()


def test_the_chain_verifies_as_written(three_releases, tampering, pg_env: PgRun) -> None:
    entries = releases.entries(tampering)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0]["prev_hash"] == releases.GENESIS
    assert _problems(tampering, pg_env) == []


def test_a_modified_row_is_detected(three_releases, tampering, pg_env: PgRun) -> None:
    seq = _seq(tampering, three_releases[1])
    tampering.execute(
        sa.text(f"UPDATE {releases.REGISTER} SET recipient = 'Someone else' WHERE seq = :s"),
        {"s": seq},
    )
    assert _problems(tampering, pg_env) == [
        f"entry {seq} ({three_releases[1]}): its contents do not match its hash (changed after writing)"
    ]


def test_a_row_modified_with_its_hash_recomputed_breaks_the_next_link(
    three_releases, tampering, pg_env: PgRun
) -> None:
    seq = _seq(tampering, three_releases[0])
    entry = next(e for e in releases.entries(tampering) if e["seq"] == seq)
    entry["destroy_by"] = entry["destroy_by"] + dt.timedelta(days=3650)
    forged = releases.entry_hash(entry)
    tampering.execute(
        sa.text(f"UPDATE {releases.REGISTER} SET destroy_by = :d, entry_hash = :h WHERE seq = :s"),
        {"d": entry["destroy_by"], "h": forged, "s": seq},
    )
    assert _problems(tampering, pg_env) == [
        f"entry {seq + 1} ({three_releases[1]}): does not follow the entry before it (removed or reordered)"
    ]


def test_a_removed_row_is_detected(three_releases, tampering, pg_env: PgRun) -> None:
    seq = _seq(tampering, three_releases[1])
    tampering.execute(sa.text(f"DELETE FROM {releases.REGISTER} WHERE seq = :s"), {"s": seq})
    problems = _problems(tampering, pg_env)
    assert (
        f"entry {seq + 1} ({three_releases[2]}): expected entry {seq} here: entries are missing"
        in problems
    )
    assert any("does not follow the entry before it" in p for p in problems)


def test_a_changed_membership_is_detected(three_releases, tampering, pg_env: PgRun) -> None:
    tampering.execute(
        sa.text(
            f"DELETE FROM {releases.MEMBERS} WHERE release_id = :r AND pupil_pseudonym = "
            f"(SELECT min(pupil_pseudonym) FROM {releases.MEMBERS} WHERE release_id = :r)"
        ),
        {"r": three_releases[2]},
    )
    seq = _seq(tampering, three_releases[2])
    assert _problems(tampering, pg_env) == [
        f"entry {seq} ({three_releases[2]}): the children recorded for it do not match its members checksum"
    ]


def test_releases_past_their_destruction_date_show_until_destruction_is_confirmed(
    three_releases, pg_env: PgRun
) -> None:
    engine = connect(pg_env.db.url)
    later = dt.date.today() + dt.timedelta(days=75)  # after the first two, before the third
    with engine.connect() as conn:
        entries = releases.entries(conn)
        late = {
            e["release_id"] for e in releases.overdue(entries, releases.destructions(conn), later)
        }
    assert {three_releases[0], three_releases[1]} <= late and three_releases[2] not in late
    with engine.begin() as conn:
        releases.confirm_destroyed(conn, three_releases[0], "signed certificate seen", "test")
    with engine.connect() as conn:
        late = {
            e["release_id"]
            for e in releases.overdue(releases.entries(conn), releases.destructions(conn), later)
        }
    assert three_releases[0] not in late and three_releases[1] in late
    with pytest.raises(ValueError, match="no release"), engine.begin() as conn:
        releases.confirm_destroyed(conn, "R-nonesuch", "seen", "test")
    engine.dispose()
