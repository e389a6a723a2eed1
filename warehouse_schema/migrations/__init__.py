"""Alembic migrations for the PostgreSQL stores, generated from the catalogue.

Each store (warehouse: research, audit and other warehouse schemas; identity: the
identity schema) has its own chain of revisions under versions/<store>/ and its own
version table (public.alembic_version_<store>), so the two stores may share one
database or live in two. The target metadata is catalogue.metadata(store): a catalogue
change becomes a schema change by `npd db revision`, and a test holds the chain of
revisions equal to the catalogue.

The embedded DuckDB stores are created straight from the catalogue (warehouse.engine);
migrations are for the production PostgreSQL.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from warehouse_schema.catalogue import STORES, CatalogueError, load_catalogue

HERE = Path(__file__).resolve().parent
_checked: set[tuple[str, str]] = set()


class MigrationError(CatalogueError):
    """The database's schema is not where the code (and its catalogue) expects it."""


def version_table(store: str) -> str:
    return f"alembic_version_{store}"


def _check_store(store: str) -> None:
    if store not in STORES:
        raise ValueError(f"store must be one of {', '.join(STORES)}, not {store!r}")


def alembic_config(store: str, url: str | None = None, connection: Any = None) -> Config:
    """An Alembic config for one store; env.py reads the store, URL or connection from it."""
    _check_store(store)
    cfg = Config(str(HERE / "alembic.ini"), ini_section=store)
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_locations", str(HERE / "versions" / store))
    cfg.attributes["store"] = store
    if url is not None:
        cfg.attributes["url"] = url
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head(store: str) -> str | None:
    """The latest revision; two engineers generating from the same parent is said plainly."""
    heads = ScriptDirectory.from_config(alembic_config(store)).get_heads()
    if len(heads) > 1:
        raise MigrationError(
            f"the {store} migrations have {len(heads)} latest revisions ({', '.join(heads)}): two "
            "were generated from the same parent; delete the one not yet committed and run "
            "`npd db revision` again"
        )
    return heads[0] if heads else None


def current(conn: sa.Connection, store: str) -> str | None:
    """The revision the database is at, or None if migrations never ran there."""
    ctx = MigrationContext.configure(conn, opts={"version_table": version_table(store)})
    return ctx.get_current_revision()


def managed(conn: sa.Connection, store: str) -> bool:
    """Is this store's schema run by migrations? If so, is it exactly the catalogue's?

    A database where migrations never ran (a scratch test database) answers False and
    the caller may create tables from the catalogue. A migrated one must be at head
    with every catalogue table present, or the step stops saying what to run; it is
    checked once per process.
    """
    key = (conn.engine.url.render_as_string(hide_password=True), store)
    if key in _checked:
        return True
    has_versions = conn.execute(
        sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f"public.{version_table(store)}"}
    ).scalar_one()
    if not has_versions:
        return False
    at, expected = current(conn, store), head(store)
    if at != expected:
        raise MigrationError(
            f"the {store} store is at schema revision {at or 'none'} but this code expects "
            f"{expected}: run `npd db upgrade`"
        )
    differences = drift(conn, store)
    if differences:
        raise MigrationError(
            f"the {store} store differs from the catalogue ({describe(differences)}): "
            "run `npd db revision -m '...'`, commit the new revision, then `npd db upgrade`"
        )
    _checked.add(key)
    return True


def upgrade(conn: sa.Connection, store: str, revision: str = "head") -> None:
    """Bring one store up to `revision` inside the caller's transaction."""
    command.upgrade(alembic_config(store, connection=conn), revision)


def include_name(store: str):
    """Autogenerate looks only at the store's own schemas (not public, not the other store)."""
    schemas = set(load_catalogue().schemas(store))

    def include(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ == "schema":
            return name in schemas
        return True

    return include


def drift(conn: sa.Connection, store: str) -> list[Any]:
    """Differences between the database and the catalogue (empty when they agree)."""
    ctx = MigrationContext.configure(
        conn,
        opts={
            "include_schemas": True,
            "include_name": include_name(store),
            "compare_type": True,
            "version_table": version_table(store),
        },
    )
    return compare_metadata(ctx, load_catalogue().metadata(store))


def describe(differences: list[Any], limit: int = 8) -> str:
    """Alembic's differences in a few words: what, and which table or column."""
    words = []
    for diff in differences:
        item = diff[0] if isinstance(diff, list) else diff
        kind, *rest = item
        names = []
        for part in rest:
            if isinstance(part, sa.Table):
                names.append(f"{part.schema}.{part.name}")
            elif isinstance(part, sa.Column):
                names.append(part.name)
            elif isinstance(part, str) and part:
                names.append(part)
        words.append(f"{kind} {'.'.join(names)}".strip())
    more = f" and {len(words) - limit} more" if len(words) > limit else ""
    return "; ".join(words[:limit]) + more


def revision(url: str, store: str, message: str) -> Path | None:
    """Generate the next revision from the catalogue against a database at head.

    Returns the new file, or None when the database already matches the catalogue.
    """
    cfg = alembic_config(store, url=url)
    with _engine(url) as engine, engine.begin() as conn:
        at = current(conn, store)
        if at != head(store):
            raise MigrationError(
                f"the {store} store at {_safe_url(url)} is at revision {at or 'none'}, not "
                f"{head(store)}: run `npd db upgrade` there before generating a revision"
            )
        if not drift(conn, store):
            return None
    script = command.revision(cfg, message=message, autogenerate=True)
    if script is None:
        return None
    scripts = script if isinstance(script, list) else [script]
    path = Path(scripts[0].path)
    _format(path)
    return path


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A throwaway database on a PostgreSQL server, brought to head for both stores: what
    `npd db revision --server` compares the catalogue with."""
    import uuid

    name = f"npd_revision_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        with _engine(url) as engine, engine.begin() as conn:
            for store in STORES:
                upgrade(conn, store)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _format(path: Path) -> None:
    """Keep generated revisions ruff-formatted, like the rest of the tree."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if Path(ruff).exists():
        subprocess.run([ruff, "check", "--fix", "--silent", str(path)], check=False)
        subprocess.run([ruff, "format", "--quiet", str(path)], check=False)


def _safe_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


@contextmanager
def _engine(url: str) -> Iterator[sa.Engine]:
    """A pool-less engine on a migration's server (warehouse.engine opens the stores a step
    uses; the schema layer below it cannot import it)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()
