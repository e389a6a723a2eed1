"""Engines for the warehouse and the identity store, from SQLAlchemy URLs.

DuckDB (embedded default) and PostgreSQL (production) are reached the same way.
Engines use no connection pool so an embedded DuckDB file is released as soon as
a step ends, letting the next step or process open it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from warehouse_schema.catalogue import load_catalogue


def dialect_of(url: str) -> str:
    return sa.make_url(url).get_backend_name()


@contextmanager
def open_engine(url: str) -> Iterator[sa.Engine]:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "duckdb" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, poolclass=NullPool)
    if parsed.get_backend_name() == "duckdb":
        sa.event.listen(engine, "connect", _bound_duckdb)
    try:
        yield engine
    finally:
        engine.dispose()


def _bound_duckdb(dbapi_conn, _record) -> None:
    """An embedded store gets the same memory bound as a step's local DuckDB (DuckDB's own
    default is 80% of the machine, per database). SET, not connect-time config: another
    connection to the same file with a different config would be refused."""
    from core.duck import memory_limit, threads

    dbapi_conn.execute(f"SET memory_limit = '{memory_limit()}'")
    dbapi_conn.execute(f"SET threads = {int(threads())}")


def ensure_schema(conn: sa.Connection, store: str) -> None:
    """Create the store's schemas and tables from the catalogue if absent (idempotent).

    A PostgreSQL store run by migrations (`npd db upgrade`) is only checked, never
    changed here: its schema is Alembic's and its grants follow it.
    """
    if conn.dialect.name == "postgresql":
        from warehouse_schema.migrations import managed

        if managed(conn, store):
            return
    catalogue = load_catalogue()
    expected = {(t.schema, t.name) for t in catalogue.tables_in(store)}
    present = conn.execute(
        sa.text("SELECT table_schema, table_name FROM information_schema.tables")
    ).fetchall()
    if expected <= {tuple(row) for row in present}:
        return  # one query, not a reflection per table: every step opens the stores several times
    for schema in catalogue.schemas(store):
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    catalogue.metadata(store).create_all(conn, checkfirst=True)


def table_exists(conn: sa.Connection, key: str) -> bool:
    schema, name = key.split(".", 1)
    return sa.inspect(conn).has_table(name, schema=schema)
