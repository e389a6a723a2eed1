"""A failed or blocked rerun of a loaded partition keeps the staging, accounts and audit that
describe the data actually loaded; the failed attempt is recorded beside them."""

from __future__ import annotations

import json

import duckdb

from core.config import Settings
from core.partition import Partition
from ingest.stage import REPORT
from pipeline import steps

PARTITION = Partition.of("ks2", "2023/24")


def _accounts(settings: Settings) -> list[tuple]:
    con = duckdb.connect(str(settings.home / "warehouse.duckdb"), read_only=True)
    try:
        return con.sql(
            "SELECT source_file, status, rows_read, rows_staged, rows_quarantined, load_id "
            "FROM audit.file_account WHERE feed = 'ks2' AND academic_year = '2023/24' ORDER BY 1"
        ).fetchall()
    finally:
        con.close()


def test_a_blocked_rerun_keeps_what_describes_the_loaded_data(loaded: Settings) -> None:
    folder = PARTITION.staging_dir(loaded)
    report_before = json.loads((folder / REPORT).read_text())
    accounts_before = _accounts(loaded)
    assert accounts_before and all(a[1] == "ok" for a in accounts_before)
    landing = loaded.landing_dir / "2023-24" / "ks2"
    (path,) = landing.glob("*.csv")
    data = path.read_bytes()
    path.write_bytes(data.replace(b",", b',"', 1))  # an unterminated quote: refused whole

    result = steps.run_period(PARTITION, loaded)

    assert result.status == "blocked"
    assert "a quoted field is never closed" in (result.message or "")
    assert json.loads((folder / REPORT).read_text()) == report_before
    assert (folder / "load_report.json").exists() and (folder / "linked.parquet").exists()
    assert _accounts(loaded) == accounts_before
    failed = loaded.home / "staging-failed" / "ks2" / "2023-24" / "annual"
    attempt = json.loads((failed / REPORT).read_text())
    assert [f["status"] for f in attempt["files"]] == ["rejected"]
    assert not (loaded.home / "staging-loaded" / "ks2" / "2023-24" / "annual").exists()
    con = duckdb.connect(str(loaded.home / "warehouse.duckdb"), read_only=True)
    try:
        runs = con.sql(
            "SELECT step, status FROM audit.load_run WHERE feed = 'ks2' "
            "AND academic_year = '2023/24' ORDER BY finished_at DESC LIMIT 1"
        ).fetchall()
    finally:
        con.close()
    assert runs == [("stage", "blocked")]

    path.write_bytes(data)  # the good file again: the rerun loads, and the copy is gone
    assert steps.run_period(PARTITION, loaded).status == "loaded"
    assert not any((loaded.home / "staging-loaded").rglob("*.json"))
