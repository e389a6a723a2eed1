"""Pseudonyms: the in-engine HMAC equals the reference; keys come only from safe places."""

from __future__ import annotations

import stat

import duckdb
import pytest

from core.config import Settings
from governance.keys import KeyMissingError, create_dev_key, key_file, load_key
from governance.pseudonymise import derived_key, pseudonym, register_key, sql_pseudonym

KEY = bytes(range(32))


def _sql(key: bytes, ids: list[int | None]) -> list[str | None]:
    con = duckdb.connect()
    register_key(con, key)
    rows = con.execute(
        f"SELECT {sql_pseudonym('x')} FROM (SELECT unnest(?::BIGINT[]) AS x, generate_subscripts(?::BIGINT[], 1) AS i) "
        "CROSS JOIN _pseudonym_key k ORDER BY i",
        [ids, ids],
    ).fetchall()
    return [r[0] for r in rows]


def test_sql_hmac_equals_python_hmac() -> None:
    ids = [*range(1, 500), 2**40 + 7]
    assert _sql(KEY, ids) == [pseudonym(KEY, i) for i in ids]


def test_nulls_stay_null_and_keys_matter() -> None:
    assert _sql(KEY, [None]) == [None]
    other = bytes(reversed(KEY))
    assert _sql(KEY, [42]) != _sql(other, [42])
    assert derived_key(KEY, "recipient:A") != derived_key(KEY, "recipient:B")


def test_a_long_key_is_hashed_first_as_rfc2104_says() -> None:
    long_key = bytes(range(100))
    assert _sql(long_key, [7]) == [pseudonym(long_key, 7)]


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", "cd" * 32)
    assert load_key(settings) == bytes.fromhex("cd" * 32)
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", "cd" * 8)
    with pytest.raises(KeyMissingError, match="it must be at least 32"):
        load_key(settings)


def test_missing_key_says_how_to_provide_one(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.delenv("NPD_PSEUDONYM_KEY")
    with pytest.raises(KeyMissingError, match=r"set NPD_PSEUDONYM_KEY.*npd key init"):
        load_key(settings)


def test_dev_key_is_created_once_and_private(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.delenv("NPD_PSEUDONYM_KEY")
    path, created = create_dev_key(settings)
    assert created and path == key_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert create_dev_key(settings) == (path, False)
    assert len(load_key(settings)) == 32
