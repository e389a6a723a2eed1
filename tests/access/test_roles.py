"""Connecting as each role: tiers see only their columns, identifiers only the linkage role,
and the audit tables are append-only for everyone but the owner."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import ProgrammingError

from core.duck import quote_ident
from governance.roles import Roles, analytic, grant_statements
from tests.access.conftest import AccessDb, connect
from warehouse_schema.catalogue import Table, load_catalogue

pytestmark = pytest.mark.postgres
CAT = load_catalogue()
RESEARCH = [t for t in CAT.tables.values() if t.schema == "research"]
AUDIT = [t for t in CAT.tables.values() if t.schema == "audit"]
IDENTITY = CAT.tables_in("identity")


def _name(table: Table) -> str:
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"


def _outcome(conn: sa.Connection, sql: str) -> str:
    """'ok', or the first line of the database's refusal; never leaves a change behind."""
    savepoint = conn.begin_nested()
    try:
        conn.execute(sa.text(sql))
        return "ok"
    except ProgrammingError as exc:
        return str(exc.orig).splitlines()[0]
    finally:
        savepoint.rollback()


@pytest.fixture(scope="module")
def engines(migrated: AccessDb):
    """One connection per role, each inside a transaction rolled back at the end."""
    made, conns = [], {}
    for role in migrated.roles.all():
        engine = connect(migrated.as_role(role))
        conn = engine.connect()
        conn.begin()
        made.append((engine, conn))
        conns[role] = conn
    yield conns
    for engine, conn in made:
        conn.rollback()
        conn.close()
        engine.dispose()


def test_tier_4_is_denied_every_tier_1_and_tier_2_column(
    migrated: AccessDb, engines: dict[str, sa.Connection]
) -> None:
    tier4 = engines[migrated.roles.tier(4)]
    checked = 0
    for table in RESEARCH:
        for col in table.columns:
            outcome = _outcome(tier4, f"SELECT {quote_ident(col.name)} FROM {_name(table)}")
            if col.tier in (1, 2):
                assert outcome == f"permission denied for table {table.name}", (table.key, col.name)
                checked += 1
            else:
                assert outcome == "ok", (table.key, col.name, outcome)
        assert _outcome(tier4, f"SELECT * FROM {_name(table)}").startswith("permission denied")
    assert checked >= 20  # every sensitive census and KS2 item, and any feed added later


def test_tier_4_is_denied_the_identity_schema(
    migrated: AccessDb, engines: dict[str, sa.Connection]
) -> None:
    tier4 = engines[migrated.roles.tier(4)]
    for table in IDENTITY:
        for col in table.columns:
            outcome = _outcome(tier4, f"SELECT {quote_ident(col.name)} FROM {_name(table)}")
            assert outcome == "permission denied for schema identity", (table.key, col.name)


@pytest.mark.parametrize("tier", [1, 2, 3])
def test_a_tier_n_role_sees_tiers_n_to_4_and_no_more(
    migrated: AccessDb, engines: dict[str, sa.Connection], tier: int
) -> None:
    engine = engines[migrated.roles.tier(tier)]
    for table in RESEARCH:
        for col in table.columns:
            outcome = _outcome(engine, f"SELECT {quote_ident(col.name)} FROM {_name(table)}")
            allowed = col.tier >= tier and analytic(col)
            assert (outcome == "ok") == allowed, (tier, table.key, col.name, outcome)
    assert _outcome(engine, f"SELECT * FROM {_name(IDENTITY[0])}").startswith("permission denied")


def test_only_the_linkage_role_reads_identifiers(
    migrated: AccessDb, engines: dict[str, sa.Connection]
) -> None:
    roles: Roles = migrated.roles
    for role, engine in engines.items():
        for table in IDENTITY:
            outcome = _outcome(engine, f"SELECT * FROM {_name(table)}")
            assert (outcome == "ok") == (role in (roles.linkage, roles.owner)), (role, table.key)
    linkage = engines[roles.linkage]
    for table in RESEARCH:
        assert _outcome(linkage, f"SELECT * FROM {_name(table)}").startswith("permission denied")


def test_audit_tables_are_append_only_for_everyone_but_the_owner(
    migrated: AccessDb, engines: dict[str, sa.Connection]
) -> None:
    roles: Roles = migrated.roles
    for table in AUDIT:
        first = quote_ident(table.columns[0].name)
        for role in roles.readers():
            engine = engines[role]
            for sql in (
                f"UPDATE {_name(table)} SET {first} = {first}",
                f"DELETE FROM {_name(table)}",
                f"TRUNCATE {_name(table)}",
            ):
                assert _outcome(engine, sql).startswith("permission denied"), (role, sql)
        owner = engines[roles.owner]
        assert _outcome(owner, f"DELETE FROM {_name(table)}") == "ok"  # rolled back
        assert _outcome(owner, f"TRUNCATE {_name(table)}") == "ok"  # rolled back


def test_the_auditor_reads_audit_and_appends_to_history_only(
    migrated: AccessDb, engines: dict[str, sa.Connection]
) -> None:
    auditor = engines[migrated.roles.auditor]
    for table in AUDIT:
        assert _outcome(auditor, f"SELECT * FROM {_name(table)}") == "ok"
    row = "('R1', now(), 'auditor', 'seen the certificate')"
    assert _outcome(auditor, f"INSERT INTO audit.release_destruction VALUES {row}") == "ok"
    assert _outcome(auditor, "INSERT INTO audit.partition_load (feed) VALUES ('x')").startswith(
        "permission denied"
    )
    for table in RESEARCH:
        assert _outcome(auditor, f"SELECT * FROM {_name(table)}").startswith("permission denied")


def test_grants_are_derived_from_each_columns_tier() -> None:
    statements = grant_statements("warehouse", Roles("npd"))
    census = CAT.table("research.census_pupil")
    tier4 = next(s for s in statements if "census_pupil" in s and '"npd_tier4"' in s)
    for col in census.columns:
        assert (quote_ident(col.name) in tier4) == (col.tier == 4), col.name
    assert not any("UPDATE" in s or "DELETE" in s for s in statements if " TO " in s)
