"""What each step tells the warehouse's audit schema: runs, file accounts (every file of the
landing folder, read or not, with rows warned), quarantine and warning reasons, validation
results, link counts and partition loads.

Every step records its own outcome, so a blocked partition still shows why on the
dashboard. Nothing written here carries an identifier.
"""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa

from core.config import Settings
from core.partition import Partition
from ingest.accounting import StageReport
from warehouse.engine import ensure_schema, open_engine
from warehouse.load import append, replace_partition
from warehouse.lock import exclusive
from warehouse_schema.catalogue import load_catalogue


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@functools.cache
def code_version() -> str:
    try:
        pkg = version("npd-pipeline")
    except PackageNotFoundError:
        pkg = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{pkg}+{commit}" if commit else pkg


def store_lock(settings: Settings):
    """The single-writer lock shared by the warehouse and the identity store."""
    return exclusive(settings.home / "locks" / "stores.lock")


@contextmanager
def warehouse(settings: Settings) -> Iterator[Any]:
    """A transaction on the warehouse, schema ensured, under the writer lock."""
    with (
        store_lock(settings),
        open_engine(settings.warehouse_url) as engine,
        engine.begin() as conn,
    ):
        ensure_schema(conn, "warehouse")
        yield conn


def _partition_values(partition: Partition) -> dict[str, Any]:
    return {
        "feed": partition.feed,
        "academic_year": partition.year.label,
        "term": partition.term_value,
    }


def _rows(rows: list[dict[str, Any]], table_key: str) -> pa.Table:
    schema = load_catalogue().table(table_key).arrow_schema()
    return pa.Table.from_pylist(rows, schema=schema)


def record_run(
    settings: Settings,
    partition: Partition,
    *,
    run_id: str,
    step: str,
    status: str,
    message: str | None,
    load_id: str | None,
    started_at: dt.datetime,
) -> None:
    row = {
        "run_id": run_id,
        **_partition_values(partition),
        "load_id": load_id,
        "step": step,
        "status": status,
        "message": message,
        "started_at": started_at,
        "finished_at": now(),
        "code_version": code_version(),
    }
    with warehouse(settings) as conn:
        append(conn, load_catalogue().table("audit.load_run"), _rows([row], "audit.load_run"))


def record_stage(settings: Settings, partition: Partition, report: StageReport) -> None:
    part = _partition_values(partition)
    files = [
        {
            **part,
            "load_id": report.load_id,
            "source_file": f.source_file,
            "source_table": f.table,
            "rows_read": f.rows_read,
            "rows_staged": f.rows_staged,
            "rows_quarantined": f.rows_quarantined,
            "status": f.status,
            "message": "; ".join(f.messages) or None,
            "rows_warned": f.rows_warned,
        }
        for f in report.files
    ]
    reasons = [
        {**part, "load_id": report.load_id, "reason": r, "rows": n}
        for r, n in report.quarantine_reasons.items()
    ]
    warnings = [
        {**part, "load_id": report.load_id, "warning": w, "rows": n}
        for w, n in report.warning_reasons.items()
    ]
    cat = load_catalogue()
    with warehouse(settings) as conn:
        replace_partition(
            conn, cat.table("audit.file_account"), part, _rows(files, "audit.file_account")
        )
        replace_partition(
            conn,
            cat.table("audit.quarantine_summary"),
            part,
            _rows(reasons, "audit.quarantine_summary"),
        )
        replace_partition(
            conn,
            cat.table("audit.warning_summary"),
            part,
            _rows(warnings, "audit.warning_summary"),
        )


def record_validation(
    settings: Settings,
    partition: Partition,
    *,
    run_id: str,
    load_id: str,
    suite: str,
    results: list[dict[str, Any]],
) -> None:
    at = now()
    rows = [
        {
            "run_id": run_id,
            **_partition_values(partition),
            "load_id": load_id,
            "suite": suite,
            "expectation": r.get("expectation_type"),
            "column_name": r.get("column"),
            "severity": r.get("severity"),
            "rule": r.get("rule"),
            "success": r.get("success"),
            "element_count": r.get("element_count"),
            "unexpected_count": r.get("unexpected_count"),
            "unexpected_percent": r.get("unexpected_percent"),
            "validated_at": at,
        }
        for r in results
    ]
    with warehouse(settings) as conn:
        append(
            conn,
            load_catalogue().table("audit.validation_result"),
            _rows(rows, "audit.validation_result"),
        )


def record_links(
    settings: Settings, partition: Partition, load_id: str, counts: list[tuple[str, bool, int]]
) -> None:
    part = _partition_values(partition)
    rows = [
        {**part, "load_id": load_id, "link_method": m, "new_person": new, "records": n}
        for m, new, n in counts
    ]
    with warehouse(settings) as conn:
        replace_partition(
            conn,
            load_catalogue().table("audit.link_summary"),
            part,
            _rows(rows, "audit.link_summary"),
        )
