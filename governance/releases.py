"""The release register: every extract that leaves the warehouse, on an append-only,
hash-chained record.

Each entry's hash covers the previous entry's hash and every field of its own
(including a digest of the children it covers), so changing or removing any entry
breaks the chain from there on, and `npd releases` says where. Grants make the
register append-only for every role but the owner; the chain makes even the owner's
changes visible. Keep the latest head hash somewhere else (a ticket, an email) to
detect the removal of the newest entries too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from core.duck import local_duckdb, scalar
from warehouse.audit import now
from warehouse.bulk import query_arrow
from warehouse.load import append
from warehouse_schema.catalogue import load_catalogue

REGISTER = "audit.release_register"
MEMBERS = "audit.release_member"
DESTRUCTION = "audit.release_destruction"
GENESIS = "0" * 64
EMPTY_MEMBERS = hashlib.sha256(b"").hexdigest()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 over every catalogue field of the entry but the hash itself, in catalogue order."""
    names = [c for c in load_catalogue().table(REGISTER).column_names if c != "entry_hash"]
    return hashlib.sha256(
        json.dumps([[n, _text(entry.get(n))] for n in names], separators=(",", ":")).encode()
    ).hexdigest()


def _digest_sql(relation: str, column: str, group: str | None = None) -> str:
    """Order-independent digest of a set of pseudonyms (per group), computed in DuckDB in
    256 buckets so no single string grows with the whole set."""
    g = f"{group}, " if group else ""
    by = f" GROUP BY {group}" if group else ""
    return f"""
        SELECT {g}sha256(coalesce(string_agg(h, '' ORDER BY b), '')) AS digest
        FROM (SELECT {g}left(p, 2) AS b, sha256(string_agg(p, chr(10) ORDER BY p)) AS h
              FROM (SELECT DISTINCT {g}{column} AS p FROM {relation} WHERE {column} IS NOT NULL)
              GROUP BY {g}b){by}
        """


def members_digest(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> str:
    """The digest of the children a release covers, as the register keeps it."""
    return str(scalar(con, _digest_sql(relation, column)))


@dataclass
class Release:
    """What is known about a release before it is written to the register."""

    release_id: str
    recipient: str
    purpose: str
    tier: int
    kind: str
    columns: list[str]
    row_count: int
    children_left_out: int
    files: list[tuple[str, int, str]]  # name, rows, sha256
    destroy_by: dt.date
    released_by: str | None
    members_checksum: str = EMPTY_MEMBERS
    released_at: dt.datetime = field(default_factory=now)

    @property
    def file_checksum(self) -> str:
        text = "".join(f"{name}\t{sha}\n" for name, _, sha in sorted(self.files))
        return hashlib.sha256(text.encode()).hexdigest()

    def fields(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "released_at": self.released_at,
            "recipient": self.recipient,
            "purpose": self.purpose,
            "tier": self.tier,
            "kind": self.kind,
            "columns": ",".join(self.columns),
            "row_count": self.row_count,
            "children_left_out": self.children_left_out,
            "files": ";".join(f"{n}:{r}:{s}" for n, r, s in self.files),
            "file_checksum": self.file_checksum,
            "members_checksum": self.members_checksum,
            "destroy_by": self.destroy_by,
            "released_by": self.released_by,
        }


def _lock(conn: sa.Connection) -> None:
    """One writer at a time on the chain (DuckDB already has the store lock)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {REGISTER} IN EXCLUSIVE MODE")


def register(conn: sa.Connection, release: Release, members: pa.Table) -> dict[str, Any]:
    """Append the release and the children it covers, chained to the last entry."""
    catalogue = load_catalogue()
    _lock(conn)
    last = conn.execute(
        sa.text(f"SELECT seq, entry_hash FROM {REGISTER} ORDER BY seq DESC LIMIT 1")
    ).fetchall()
    seq, prev = (int(last[0][0]) + 1, last[0][1]) if last else (1, GENESIS)
    entry = {"seq": seq, **release.fields(), "prev_hash": prev}
    entry["entry_hash"] = entry_hash(entry)
    table = catalogue.table(REGISTER)
    append(conn, table, pa.Table.from_pylist([entry], schema=table.arrow_schema()))
    if members.num_rows:
        ids = pa.array([release.release_id] * members.num_rows, pa.string())
        append(
            conn,
            catalogue.table(MEMBERS),
            pa.table({"release_id": ids, "pupil_pseudonym": members.column("pupil_pseudonym")}),
        )
    return entry


def entries(conn: sa.Connection) -> list[dict[str, Any]]:
    table = load_catalogue().table(REGISTER)
    cols = ", ".join(table.column_names)
    rows = conn.execute(sa.text(f"SELECT {cols} FROM {REGISTER} ORDER BY seq")).fetchall()
    return [dict(zip(table.column_names, r, strict=True)) for r in rows]


def destructions(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    """The first destruction confirmation of each release."""
    rows = conn.execute(
        sa.text(
            f"SELECT release_id, confirmed_at, confirmed_by, evidence FROM {DESTRUCTION} "
            "ORDER BY confirmed_at"
        )
    ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for release_id, at, by, evidence in rows:
        out.setdefault(release_id, {"confirmed_at": at, "confirmed_by": by, "evidence": evidence})
    return out


def confirm_destroyed(conn: sa.Connection, release_id: str, evidence: str, by: str | None) -> None:
    known = conn.execute(
        sa.text(f"SELECT count(*) FROM {REGISTER} WHERE release_id = :r"), {"r": release_id}
    ).scalar_one()
    if not known:
        raise ValueError(f"no release {release_id!r} in the register")
    if not evidence.strip():
        raise ValueError("say what evidence of destruction was seen")
    table = load_catalogue().table(DESTRUCTION)
    row = {
        "release_id": release_id,
        "confirmed_at": now(),
        "confirmed_by": by,
        "evidence": evidence,
    }
    append(conn, table, pa.Table.from_pylist([row], schema=table.arrow_schema()))


def member_digests(conn: sa.Connection, tmp_dir: Path) -> dict[str, str]:
    """Recompute every release's members digest from audit.release_member."""
    data = query_arrow(
        conn,
        f"SELECT release_id, pupil_pseudonym FROM {MEMBERS}",
        schema=pa.schema([("release_id", pa.string()), ("pupil_pseudonym", pa.string())]),
    )
    with local_duckdb(tmp_dir) as con:
        con.register("members_view", data)
        rows = con.execute(_digest_sql("members_view", "pupil_pseudonym", "release_id")).fetchall()
    return {r[0]: str(r[1]) for r in rows}


def verify(
    register_entries: list[dict[str, Any]], digests: dict[str, str] | None = None
) -> list[str]:
    """What is wrong with the chain: empty when every entry is as it was written."""
    problems: list[str] = []
    prev, expected = GENESIS, 1
    for entry in register_entries:
        where = f"entry {entry['seq']} ({entry['release_id']})"
        if entry["seq"] != expected:
            problems.append(f"{where}: expected entry {expected} here: entries are missing")
        if entry["prev_hash"] != prev:
            problems.append(f"{where}: does not follow the entry before it (removed or reordered)")
        if entry_hash(entry) != entry["entry_hash"]:
            problems.append(f"{where}: its contents do not match its hash (changed after writing)")
        if digests is not None:
            held = digests.get(entry["release_id"], EMPTY_MEMBERS)
            if held != entry["members_checksum"]:
                problems.append(
                    f"{where}: the children recorded for it do not match its members checksum"
                )
        prev, expected = entry["entry_hash"], entry["seq"] + 1
    return problems


def overdue(
    register_entries: list[dict[str, Any]],
    destroyed: dict[str, dict[str, Any]],
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Releases past their destruction date with no confirmation that they were destroyed."""
    today = today or dt.date.today()
    return [
        e for e in register_entries if e["destroy_by"] < today and e["release_id"] not in destroyed
    ]
