"""Alembic environment: one store at a time, its target metadata derived from the catalogue."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from alembic.operations import ops
from sqlalchemy.pool import NullPool

from warehouse_schema.catalogue import load_catalogue
from warehouse_schema.migrations import include_name, version_table

config = context.config
store = config.attributes.get("store") or config.get_main_option("store")
if store is None:
    raise RuntimeError("choose a store: alembic -n warehouse ... or -n identity ...")
target_metadata = load_catalogue().metadata(store)


def _url() -> str:
    if config.attributes.get("url"):
        return config.attributes["url"]
    from core.config import Settings

    settings = Settings.from_env()
    return settings.warehouse_url if store == "warehouse" else settings.identity_url


def _schemas_first(migration_context, revision, directives) -> None:
    """Create a new table's schema before the table; drop no empty revision on the floor."""
    script = directives[0]
    if script.upgrade_ops.is_empty():
        directives[:] = []
        return
    existing = set(sa.inspect(migration_context.connection).get_schema_names())
    new = sorted(
        {
            op.schema
            for op in script.upgrade_ops.ops
            if isinstance(op, ops.CreateTableOp) and op.schema not in existing
        }
    )
    script.upgrade_ops.ops[0:0] = [
        ops.ExecuteSQLOp(f'CREATE SCHEMA IF NOT EXISTS "{s}"') for s in new
    ]
    script.downgrade_ops.ops.extend(ops.ExecuteSQLOp(f'DROP SCHEMA IF EXISTS "{s}"') for s in new)


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_schemas=True,
        include_name=include_name(store),
        compare_type=True,
        version_table=version_table(store),
        process_revision_directives=_schemas_first,
    )


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        version_table=version_table(store),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
