"""Database roles and grants for PostgreSQL, derived from the catalogue.

- one role per NPD tier: a tier-N role may SELECT the analytic columns of tiers N..4
  (tier 4 sees the least) in the warehouse's research-facing schemas, column by column;
- a linkage role for the identity schema (the only role that sees direct identifiers);
- an auditor role that reads the audit schema and the operational tables, and may
  append to audit history tables;
- an owner role that owns every schema and table. Only the owner may change or remove
  audit rows: for everyone else the audit tables are append-only.

Role names carry a prefix (NPD_ROLE_PREFIX, default `npd`) because roles are shared by
every database on a server. Apply with `npd db upgrade` (migrations, then grants); the
statements are plain SQL derived from the catalogue, so `npd db grants` prints them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import sqlalchemy as sa

from core.duck import quote_ident
from warehouse_schema.catalogue import Catalogue, Column, Table, load_catalogue

TIERS = (1, 2, 3, 4)
AUDIT_SCHEMA = "audit"
# Purposes the service serves itself. They never open a column to an analyst's tier role.
SERVICE_PURPOSES = frozenset({"operations", "linkage", "subject_access"})
_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def role_prefix() -> str:
    prefix = os.environ.get("NPD_ROLE_PREFIX") or "npd"
    if not _PREFIX.match(prefix):
        raise ValueError(
            "NPD_ROLE_PREFIX must be lower-case letters, digits and underscores, starting with a letter"
        )
    return prefix


@dataclass(frozen=True)
class Roles:
    """The role names for one deployment."""

    prefix: str

    @property
    def owner(self) -> str:
        return f"{self.prefix}_owner"

    def tier(self, n: int) -> str:
        return f"{self.prefix}_tier{n}"

    @property
    def linkage(self) -> str:
        return f"{self.prefix}_linkage"

    @property
    def auditor(self) -> str:
        return f"{self.prefix}_auditor"

    def readers(self) -> list[str]:
        """Every role except the owner."""
        return [*(self.tier(n) for n in TIERS), self.linkage, self.auditor]

    def all(self) -> list[str]:
        return [self.owner, *self.readers()]

    def describe(self) -> dict[str, str]:
        out = {self.owner: "owns every schema and table; runs migrations and loads"}
        for n in TIERS:
            out[self.tier(n)] = f"reads analytic columns of tiers {n}..4, column by column"
        out[self.linkage] = "reads and extends the identity schema (direct identifiers)"
        out[self.auditor] = (
            "reads the audit schema and operational tables; appends to audit history"
        )
        return out


def analytic(col: Column) -> bool:
    """Does the column serve any purpose beyond running the service itself?"""
    return bool(set(col.purposes) - SERVICE_PURPOSES)


def _table(table: Table) -> str:
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"


def _cols(columns: list[Column]) -> str:
    return ", ".join(quote_ident(c.name) for c in columns)


def grant_statements(store: str, roles: Roles, catalogue: Catalogue | None = None) -> list[str]:
    """Every statement that puts one store's grants exactly as the catalogue says.

    Idempotent: everything is revoked from the roles first, then granted again.
    """
    catalogue = catalogue or load_catalogue()
    tables = catalogue.tables_in(store)
    readers = ", ".join(quote_ident(r) for r in roles.readers())
    out: list[str] = []
    for schema in catalogue.schemas(store):
        out += [
            f"ALTER SCHEMA {quote_ident(schema)} OWNER TO {quote_ident(roles.owner)}",
            f"REVOKE ALL ON SCHEMA {quote_ident(schema)} FROM PUBLIC, {readers}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {quote_ident(schema)} FROM PUBLIC, {readers}",
        ]
    usage: dict[str, set[str]] = {}
    grants: list[str] = []
    for table in tables:
        out.append(f"ALTER TABLE {_table(table)} OWNER TO {quote_ident(roles.owner)}")
        for role, privilege in _privileges(store, table, roles):
            usage.setdefault(table.schema, set()).add(role)
            grants.append(f"GRANT {privilege} ON {_table(table)} TO {quote_ident(role)}")
    for schema, granted in sorted(usage.items()):
        names = ", ".join(quote_ident(r) for r in sorted(granted))
        out.append(f"GRANT USAGE ON SCHEMA {quote_ident(schema)} TO {names}")
    return out + grants


def _privileges(store: str, table: Table, roles: Roles) -> list[tuple[str, str]]:
    """(role, privilege) pairs for one table, from its store, schema and columns' tiers."""
    if store == "identity":
        privileges = [(roles.linkage, "SELECT, INSERT")]
        if table.partition_by:  # partitions are replaced whole, inside one transaction
            privileges.append((roles.linkage, "DELETE"))
        return privileges
    if table.schema == AUDIT_SCHEMA:
        privileges = [(roles.auditor, "SELECT")]
        if not table.partition_by:  # history tables: append, never change
            privileges.append((roles.auditor, "INSERT"))
        return privileges
    privileges = []
    for n in TIERS:
        visible = [c for c in table.columns if c.tier >= n and analytic(c)]
        if visible:
            privileges.append((roles.tier(n), f"SELECT ({_cols(visible)})"))
    operational = [c for c in table.columns if "operations" in c.purposes]
    if operational:
        privileges.append((roles.auditor, f"SELECT ({_cols(operational)})"))
    return privileges


def role_statements(roles: Roles) -> list[str]:
    """Create the roles that are missing (NOLOGIN groups: people log in as their own members)."""
    out = []
    for name, what in roles.describe().items():
        literal = name.replace("'", "''")
        out.append(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"'{literal}') THEN CREATE ROLE {quote_ident(name)} NOLOGIN; END IF; END $$"
        )
        out.append(f"COMMENT ON ROLE {quote_ident(name)} IS '{what}'")
    return out


def apply(conn: sa.Connection, store: str, roles: Roles | None = None) -> int:
    """Create the roles and put the store's grants in place, in the caller's transaction."""
    if conn.dialect.name != "postgresql":
        raise NotImplementedError(
            f"roles and grants need PostgreSQL; the {store} store is {conn.dialect.name}"
        )
    roles = roles or Roles(role_prefix())
    statements = role_statements(roles) + grant_statements(store, roles)
    for statement in statements:
        conn.exec_driver_sql(statement)
    return len(statements)
