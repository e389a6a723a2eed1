"""Shared test fixtures: an isolated NPD_HOME per test, the published fixtures, Postgres."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "shared"
REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Airflow reads its home on import: give it a throwaway one, never the user's ~/airflow."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="npd-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")  # the timetable
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"


@pytest.fixture
def npd_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home with a test key; every Settings.from_env() in the test points here."""
    home = tmp_path / "var"
    monkeypatch.setenv("NPD_HOME", str(home))
    for var in ("NPD_LANDING_DIR", "NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv("NPD_LOCK_TIMEOUT", "30")
    return home


@pytest.fixture
def settings(npd_home: Path) -> Settings:
    s = Settings.from_env()
    s.ensure_dirs()
    return s


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    return FIXTURES


def postgres_url() -> str:
    return os.environ.get(
        "NPD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The PostgreSQL test server. In CI it must answer; elsewhere the test skips, saying why."""
    import sqlalchemy as sa

    url = postgres_url()
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL at {url}: {exc}")
        pytest.skip(f"no PostgreSQL server answers at {url} ({type(exc).__name__})")
    yield url
