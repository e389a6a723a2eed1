"""The objection register: a family's say over classes of use.

A family may object to any purpose a release can state (research, official statistics,
commercial use, and so on: the purposes in warehouse_schema/vocabulary.yml other than
the ones the service serves itself). Objections live in the identity store against the
child's person id, appended and never changed: a withdrawal is a later entry, and the
latest entry per child and purpose is in force. Every extract for a purpose leaves out
the children whose families object to it, and says how many.
"""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa

from core.duck import sql_str
from governance.roles import SERVICE_PURPOSES
from warehouse.audit import now
from warehouse.bulk import query_arrow
from warehouse.load import append
from warehouse_schema.catalogue import load_catalogue

TABLE = "identity.objection"
ACTIONS = ("objected", "withdrawn")
OBJECTORS = pa.schema([("person_id", pa.int64())])


class ObjectionError(ValueError):
    pass


def objectable() -> list[str]:
    """Purposes a family may object to."""
    return [p for p in load_catalogue().vocabulary["purposes"] if p not in SERVICE_PURPOSES]


def check_purpose(purpose: str) -> str:
    if purpose not in objectable():
        raise ObjectionError(
            f"{purpose!r} is not a class of use a family can object to; choose from "
            f"{', '.join(objectable())}"
        )
    return purpose


def record(
    conn: sa.Connection, person_id: int, purpose: str, action: str, channel: str | None
) -> None:
    """Append an objection (or its withdrawal) for one child, in the caller's transaction."""
    check_purpose(purpose)
    if action not in ACTIONS:
        raise ObjectionError(f"action must be one of {', '.join(ACTIONS)}")
    table = load_catalogue().table(TABLE)
    row = {
        "person_id": person_id,
        "purpose": purpose,
        "action": action,
        "recorded_at": now(),
        "channel": channel,
    }
    append(conn, table, pa.Table.from_pylist([row], schema=table.arrow_schema()))


def _in_force(where: str) -> str:
    return (
        "SELECT person_id, purpose, recorded_at FROM ("
        "SELECT person_id, purpose, action, recorded_at, row_number() OVER ("
        "PARTITION BY person_id, purpose ORDER BY recorded_at DESC, action) AS n "
        f"FROM identity.objection WHERE {where}) x WHERE n = 1 AND action = 'objected'"
    )


def objectors(conn: sa.Connection, purpose: str) -> pa.Table:
    """Person ids of every child whose family objects to the purpose now."""
    check_purpose(purpose)
    return query_arrow(
        conn,
        f"SELECT person_id FROM ({_in_force(f'purpose = {sql_str(purpose)}')}) o ORDER BY 1",
        schema=OBJECTORS,
    )


def for_person(conn: sa.Connection, person_id: int) -> list[tuple[str, object]]:
    """The objections in force for one child: (purpose, recorded_at)."""
    rows = conn.execute(
        sa.text(f"SELECT purpose, recorded_at FROM ({_in_force('person_id = :p')}) o ORDER BY 1"),
        {"p": person_id},
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def counts(conn: sa.Connection) -> dict[str, int]:
    """Children with an objection in force, per purpose (no one is named)."""
    rows = conn.execute(
        sa.text(f"SELECT purpose, count(*) FROM ({_in_force('TRUE')}) o GROUP BY 1 ORDER BY 1")
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}
