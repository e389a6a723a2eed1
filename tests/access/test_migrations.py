"""Alembic migrations bring an empty PostgreSQL database to exactly the catalogue, and a
migrated store is never changed behind Alembic's back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from tests.access.conftest import AccessDb, connect
from warehouse.engine import ensure_schema
from warehouse_schema import migrations
from warehouse_schema.catalogue import STORES, load_catalogue

pytestmark = pytest.mark.postgres


@pytest.fixture
def scratch(postgres: str) -> Iterator[str]:
    """One more empty database, for tests that change the schema."""
    name = f"npd_scratch_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(postgres).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _tables(conn: sa.Connection, store: str) -> set[tuple[str, str, str, bool]]:
    schemas = load_catalogue().schemas(store)
    rows = conn.execute(
        sa.text(
            "SELECT table_schema || '.' || table_name, column_name, data_type, is_nullable = 'YES' "
            "FROM information_schema.columns WHERE table_schema = ANY(:s)"
        ),
        {"s": schemas},
    ).fetchall()
    return {tuple(r) for r in rows}


@pytest.mark.parametrize("store", STORES)
def test_migrations_bring_an_empty_database_to_exactly_the_catalogue(
    migrated: AccessDb, store: str
) -> None:
    with connect(migrated.url).connect() as conn:
        assert migrations.current(conn, store) == migrations.head(store)
        differences = migrations.drift(conn, store)
        assert differences == [], (
            f"the catalogue and the migrations disagree ({migrations.describe(differences)}): "
            "run `npd db revision -m '...' --server postgresql+psycopg://postgres@127.0.0.1:5432/postgres` "
            "and commit the new revision under warehouse_schema/migrations/versions/"
        )
        in_db = {(t, c, nullable) for t, c, _, nullable in _tables(conn, store)}
    in_catalogue = {
        (t.key, c.name, c.nullable) for t in load_catalogue().tables_in(store) for c in t.columns
    }
    assert in_db == in_catalogue


def test_downgrade_to_nothing_and_back(scratch: str) -> None:
    engine = connect(scratch)
    for store in STORES:
        with engine.begin() as conn:
            migrations.upgrade(conn, store)
        with engine.begin() as conn:
            command.downgrade(migrations.alembic_config(store, connection=conn), "base")
        with engine.connect() as conn:
            assert _tables(conn, store) == set()
            assert migrations.current(conn, store) is None
        with engine.begin() as conn:
            migrations.upgrade(conn, store)
        with engine.connect() as conn:
            assert migrations.drift(conn, store) == []
    engine.dispose()


def test_a_migrated_store_behind_head_stops_the_pipeline_saying_what_to_run(scratch: str) -> None:
    engine = connect(scratch)
    with engine.begin() as conn:
        migrations.upgrade(conn, "identity")
        conn.execute(sa.text("UPDATE public.alembic_version_identity SET version_num = 'cafe0000'"))
    with engine.begin() as conn, pytest.raises(migrations.MigrationError, match="npd db upgrade"):
        ensure_schema(conn, "identity")
    engine.dispose()


def test_a_catalogue_table_no_migration_creates_is_named(scratch: str) -> None:
    engine = connect(scratch)
    with engine.begin() as conn:
        migrations.upgrade(conn, "warehouse")
        conn.execute(sa.text("DROP TABLE research.ks2_result"))
    with (
        engine.begin() as conn,
        pytest.raises(
            migrations.MigrationError, match=r"add_table research\.ks2_result.*npd db revision"
        ),
    ):
        ensure_schema(conn, "warehouse")
    engine.dispose()


def test_an_unmigrated_scratch_database_is_still_created_from_the_catalogue(scratch: str) -> None:
    engine = connect(scratch)
    with engine.begin() as conn:
        ensure_schema(conn, "identity")
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("person", schema="identity")
        assert migrations.current(conn, "identity") is None
    engine.dispose()
