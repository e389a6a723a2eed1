"""The quality store and the dashboard's reads on PostgreSQL (the production warehouse)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import duckdb
import pytest
import sqlalchemy as sa

from core.config import Settings
from core.partition import Partition
from quality.metrics import code_columns
from quality.read import read_quality
from quality.store import measure
from tests.dashboard.conftest import INVALID_ETHNICITY, QualityRun, warehouse_file

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(postgres: str, quality_run: QualityRun) -> Iterator[Settings]:
    """The generated run's staging, with a fresh PostgreSQL database as the warehouse."""
    name = f"npd_quality_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(postgres).set(database=name).render_as_string(hide_password=False)
    try:
        yield Settings(
            home=quality_run.settings.home,
            landing_dir=quality_run.settings.landing_dir,
            warehouse_url=url,
            identity_url=quality_run.settings.identity_url,
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_measure_and_read_back_on_postgres(pg_settings: Settings, quality_run: QualityRun) -> None:
    spring = Partition.of("school_census", "2023/24", "spring")
    result = measure(spring, pg_settings, trigger="cli")
    assert result["measured"] and result["loaded"] is False  # this warehouse never loaded it
    data = read_quality(pg_settings)
    # The planted invalid codes were quarantined: counted from the quarantine reasons read
    # back from PostgreSQL, in that LA only, and none staged.
    coded = code_columns(data.quarantine_reason)
    ethnicity = coded[
        (coded["source_table"] == "pupilonroll") & (coded["column_name"] == "ethnicity")
    ]
    assert dict(zip(ethnicity["la_code"], ethnicity["rows"], strict=True)) == {
        330: quality_run.planted[INVALID_ETHNICITY]
    }
    staged = data.column_quality[data.column_quality["column_name"] == "ethnicity"]
    assert (staged["non_null"] == staged["valid"]).all()
    with duckdb.connect(str(warehouse_file(quality_run)), read_only=True) as con:
        embedded = con.execute(
            "SELECT sum(rows), sum(non_null), sum(valid) FROM quality.column_quality "
            "WHERE term = 'spring'"
        ).fetchall()[0]
        reasons = con.execute(
            "SELECT la_code, source_table, reason, rows FROM quality.quarantine_reason "
            "WHERE term = 'spring' ORDER BY ALL"
        ).fetchall()
    mine = data.column_quality[data.column_quality["term"] == "spring"]
    assert (int(mine["rows"].sum()), int(mine["non_null"].sum()), int(mine["valid"].sum())) == (
        tuple(int(v) for v in embedded)
    )
    read_back = data.quarantine_reason[["la_code", "source_table", "reason", "rows"]]
    assert sorted(tuple(r) for r in read_back.itertuples(index=False)) == sorted(reasons)
    assert list(data.runs["trigger"]) == ["cli"]
