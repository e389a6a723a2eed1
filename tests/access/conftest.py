"""A fresh PostgreSQL database per test session, migrated, with its own roles, and a small
synthetic population run through every partition into it.

Roles are shared by every database on the server, so each session's roles carry their
own prefix; the database and the roles are dropped at the end, so parallel sessions and
reruns never meet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.config import Settings
from core.periods import AcademicYear
from governance.roles import Roles

YEARS = [AcademicYear(2024)]
PUPILS = 700
SEED = 29
KEY = "c3" * 32


@dataclass(frozen=True)
class AccessDb:
    url: str
    name: str
    roles: Roles

    def as_role(self, role: str) -> str:
        """URL for a login member of the role (created by the fixture)."""
        return sa.make_url(self.url).set(username=login_name(role)).render_as_string(False)


def login_name(role: str) -> str:
    return f"{role}_login"


def _admin(url: str) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@pytest.fixture(scope="session")
def access_db(postgres: str) -> Iterator[AccessDb]:
    """A new, empty database and a role prefix nobody else uses."""
    tag = uuid.uuid4().hex[:8]
    name, roles = f"npd_access_{tag}", Roles(f"npd_t{tag}")
    admin = _admin(postgres)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield AccessDb(
            url=sa.make_url(postgres).set(database=name).render_as_string(False),
            name=name,
            roles=roles,
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for role in roles.all():
                for r in (login_name(role), role):
                    conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{r}"')
        admin.dispose()


@pytest.fixture(scope="session")
def migrated(access_db: AccessDb) -> AccessDb:
    """Both stores migrated to head in the one database, roles and grants applied, and a
    login member for every role so tests can connect as it."""
    from governance.roles import apply
    from warehouse_schema.migrations import upgrade

    engine = sa.create_engine(access_db.url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for store in ("warehouse", "identity"):
            upgrade(conn, store)
            apply(conn, store, access_db.roles)
        for role in access_db.roles.all():
            conn.exec_driver_sql(f'CREATE ROLE "{login_name(role)}" LOGIN IN ROLE "{role}"')
    engine.dispose()
    return access_db


def env_for(db: AccessDb, home: Path) -> dict[str, str]:
    return {
        "NPD_HOME": str(home),
        "NPD_WAREHOUSE_URL": db.url,
        "NPD_IDENTITY_URL": db.url,
        "NPD_PSEUDONYM_KEY": KEY,
        "NPD_ROLE_PREFIX": db.roles.prefix,
        "NPD_LOCK_TIMEOUT": "60",
    }


@dataclass(frozen=True)
class PgRun:
    db: AccessDb
    settings: Settings
    env: dict[str, str]
    results: list


@pytest.fixture(scope="session")
def pg_run(migrated: AccessDb, tmp_path_factory: pytest.TempPathFactory) -> PgRun:
    """Every partition of a generated population, run end to end into PostgreSQL."""
    from npd.demo import demo_partitions
    from pipeline.steps import run_period
    from synth.generate import generate

    env = env_for(migrated, tmp_path_factory.mktemp("access") / "var")
    with pytest.MonkeyPatch.context() as mp:  # only while the partitions run: other
        for key, value in env.items():  # tests' fixtures read the environment too
            mp.setenv(key, value)
        mp.delenv("NPD_LANDING_DIR", raising=False)
        settings = Settings.from_env()
        settings.ensure_dirs()
        generate(
            landing_dir=settings.landing_dir,
            truth_dir=settings.truth_dir,
            pupils=PUPILS,
            seed=SEED,
            years=YEARS,
        )
        results = [run_period(p, settings) for p in demo_partitions(YEARS)]
    return PgRun(db=migrated, settings=settings, env=env, results=results)


@contextmanager
def using(run: PgRun) -> Iterator[None]:
    """The run's environment, for module-scoped fixtures (no monkeypatch fixture there)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in run.env.items():
            mp.setenv(key, value)
        mp.delenv("NPD_LANDING_DIR", raising=False)
        yield


@pytest.fixture
def pg_env(pg_run: PgRun, monkeypatch: pytest.MonkeyPatch) -> PgRun:
    """Settings.from_env() in the test sees the PostgreSQL run."""
    for key, value in pg_run.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NPD_LANDING_DIR", raising=False)
    return pg_run


def connect(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)
