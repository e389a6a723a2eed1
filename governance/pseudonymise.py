"""Keyed pseudonyms: HMAC-SHA256 of the person id, computed inside the engine.

The SQL form builds HMAC from SHA-256 (RFC 2104) so millions of pseudonyms are
computed in DuckDB without per-row Python; the Python form is the reference a
test holds it to. The key reaches the engine as a registered one-row table,
never as SQL text.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pyarrow as pa

KEY_TABLE = "_pseudonym_key"
_BLOCK = 64


def message(person_id: int | str) -> bytes:
    return f"person:{person_id}".encode()


def pseudonym(key: bytes, person_id: int | str) -> str:
    """Reference implementation: hex HMAC-SHA256 of the person id."""
    return hmac.new(key, message(person_id), hashlib.sha256).hexdigest()


def derived_key(key: bytes, purpose: str) -> bytes:
    """A separate key for a separate use (e.g. one per extract recipient)."""
    return hmac.new(key, f"derive:{purpose}".encode(), hashlib.sha256).digest()


def register_key(con: duckdb.DuckDBPyConnection, key: bytes, name: str = KEY_TABLE) -> None:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in padded)
    opad = bytes(b ^ 0x5C for b in padded)
    con.register(
        name,
        pa.table(
            {"ipad": [ipad], "opad": [opad]},
            schema=pa.schema([("ipad", pa.binary()), ("opad", pa.binary())]),
        ),
    )


def sql_pseudonym(expr: str, key_alias: str = "k", prefix: str = "person:") -> str:
    """SQL for the hex HMAC of prefix || expr, given the key table joined as key_alias."""
    msg = f"CAST({sql_text(prefix)} || CAST({expr} AS VARCHAR) AS BLOB)"
    inner = f"unhex(sha256({key_alias}.ipad || {msg}))"
    return f"(CASE WHEN {expr} IS NULL THEN NULL ELSE sha256({key_alias}.opad || {inner}) END)"


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
