"""Extracts, the register and subject access work the same on the embedded DuckDB stores
the demo uses (copied here from the PostgreSQL run, so no second pipeline run is needed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from core.config import Settings
from governance import releases
from governance.extract import ExtractRequest, extract
from governance.sar import subject_access
from governance.subjects import Lookup
from tests.access.conftest import KEY, PgRun, connect
from warehouse.bulk import query_arrow
from warehouse.engine import ensure_schema, open_engine
from warehouse.load import append
from warehouse_schema.catalogue import load_catalogue

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def embedded(pg_run: PgRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "var"
    monkeypatch.setenv("NPD_HOME", str(home))
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", KEY)
    for var in ("NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL", "NPD_LANDING_DIR"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings.from_env()
    settings.ensure_dirs()
    cat = load_catalogue()
    wanted = [t for t in cat.tables.values() if t.schema == "research"]
    wanted += [cat.table("identity.person_identifier"), cat.table("identity.record_identity")]
    with connect(pg_run.db.url).connect() as source:
        data = {
            t.key: query_arrow(source, f"SELECT * FROM {t.key}", schema=t.arrow_schema())
            for t in wanted
        }
    for store, url in (("warehouse", settings.warehouse_url), ("identity", settings.identity_url)):
        with open_engine(url) as engine, engine.begin() as conn:
            ensure_schema(conn, store)
            for table in (t for t in wanted if t.store == store):
                append(conn, table, data[table.key])
    return settings


def test_extract_register_and_sar_on_duckdb(embedded: Settings) -> None:
    request = ExtractRequest(
        recipient="Embedded University",
        purpose="research",
        tier=4,
        destroy_by=dt.date.today() + dt.timedelta(days=30),
        standard="ks2_attainment_tier4",
    )
    first = extract(request, embedded)
    second = extract(request, embedded)
    rows = pacsv.read_csv(first.folder / "ks2_result.csv")
    assert rows.num_rows == first.row_count > 30
    assert first.folder.parent == embedded.home / "releases"
    with open_engine(embedded.warehouse_url) as engine, engine.connect() as conn:
        entries = releases.entries(conn)
        assert [e["release_id"] for e in entries] == [first.release_id, second.release_id]
        assert releases.verify(entries, releases.member_digests(conn, embedded.tmp_dir)) == []
    with open_engine(embedded.identity_url) as engine, engine.connect() as conn:
        upn = conn.exec_driver_sql(
            "SELECT upn FROM identity.record_identity WHERE feed = 'ks2' AND upn_status = 'valid' "
            "ORDER BY record_key LIMIT 1"
        ).scalar_one()
    result = subject_access(Lookup.of(upn=upn), embedded)
    assert result.report.outcome == "found"
    assert [r["release_id"] for r in result.report.received] == [
        first.release_id,
        second.release_id,
    ]
    assert "Embedded University" in result.path.read_text()
