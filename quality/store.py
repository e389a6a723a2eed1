"""Keep a partition's quality figures in the warehouse's `quality` schema.

The per-LA tables are replaced per partition in one transaction (a rerun of a period
replaces its figures), and quality.metric_run gains a row per run with the headline
figures, so the history of runs stays queryable. Tables and types come from
warehouse_schema/catalogue/quality.yml through the usual loaders.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from core.config import Settings
from core.feeds import FEEDS, get_feed
from core.partition import Partition
from quality.metrics import StagedMetrics, code_columns, measure_staged
from warehouse import audit
from warehouse.engine import open_engine, table_exists
from warehouse.load import append, replace_partition
from warehouse_schema.catalogue import load_catalogue

log = logging.getLogger(__name__)

PER_PARTITION = (
    "quality.la_summary",
    "quality.quarantine_reason",
    "quality.column_quality",
    "quality.link_method",
    "quality.expectation_summary",
)
TRIGGERS = ("load", "cli", "dashboard")


def _where(partition: Partition) -> tuple[str, dict[str, Any]]:
    term = "term = :term" if partition.term else "term IS NULL"
    params = {"feed": partition.feed, "year": partition.year.label, "term": partition.term_value}
    return f"feed = :feed AND academic_year = :year AND {term}", params


def _fetch(conn: sa.Connection, sql: str, params: dict[str, Any]) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sa.text(sql), params).fetchall()]


def _expectations(conn: sa.Connection, partition: Partition, load_id: str, run_id: str) -> pa.Table:
    """The latest validation of this input, by severity (from audit.validation_result)."""
    where, params = _where(partition)
    rows = _fetch(
        conn,
        f"""
        SELECT v.run_id, v.severity, count(*), sum(CASE WHEN v.success THEN 0 ELSE 1 END),
               sum(coalesce(v.unexpected_count, 0))
        FROM audit.validation_result v
        WHERE v.run_id = (
            SELECT run_id FROM audit.validation_result
            WHERE {where} AND load_id = :load_id ORDER BY validated_at DESC, run_id DESC LIMIT 1
        )
        GROUP BY v.run_id, v.severity ORDER BY v.severity
        """,
        {**params, "load_id": load_id},
    )
    table = load_catalogue().table("quality.expectation_summary")
    return pa.Table.from_pylist(
        [
            {
                **partition.as_params(),
                "load_id": load_id,
                "run_id": run_id,
                "validation_run_id": vrun,
                "severity": severity,
                "expectations": n,
                "failed": failed,
                "unexpected_rows": unexpected,
            }
            for vrun, severity, n, failed, unexpected in rows
        ],
        schema=table.arrow_schema(),
    )


def _is_loaded(conn: sa.Connection, partition: Partition, load_id: str) -> bool:
    where, params = _where(partition)
    rows = _fetch(
        conn,
        f"SELECT count(*) FROM audit.partition_load WHERE {where} AND load_id = :load_id",
        {**params, "load_id": load_id},
    )
    return bool(rows[0][0])


def _with_loaded(summary: pa.Table, loaded: bool) -> pa.Table:
    """Every linked record becomes a research row, so rows loaded = linked records if loaded."""
    linked_records = summary.column("linked_records")
    loaded_rows = linked_records if loaded else pc.multiply(linked_records, 0)
    return summary.append_column("rows_loaded", loaded_rows).drop_columns(["linked_records"])


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _headline(
    partition: Partition,
    staged: StagedMetrics,
    summary: pa.Table,
    expectations: pa.Table,
    *,
    run_id: str,
    trigger: str,
    loaded: bool,
) -> dict[str, Any]:
    def total(table: pa.Table, column: str, mask=None) -> int:
        if table.num_rows == 0 or column not in table.column_names:
            return 0
        values = table.column(column)
        if mask is not None:
            values = pc.filter(values, mask)
        return int(pc.sum(values).as_py() or 0)

    cols = staged.column_quality
    primary = get_feed(partition.feed).primary_table
    coded = pc.is_valid(cols.column("codelist")) if cols.num_rows else None
    # Completeness of the coded items (characteristics) of the main table: many other
    # fields are optional, which would drown a change in the ones that matter.
    in_primary = (
        pc.and_(pc.equal(cols.column("source_table"), primary), coded) if cols.num_rows else None
    )
    sev = expectations.column("severity") if expectations.num_rows else None
    # Valid codes among every coded value returned: those staged, and those whose row was
    # quarantined because the code is not in its list (counted from the quarantine reasons).
    reasons = staged.quarantine_reason
    quarantined_codes = (
        int(code_columns(reasons.to_pandas())["rows"].sum()) if reasons.num_rows else 0
    )
    return {
        "run_id": run_id,
        **partition.as_params(),
        "load_id": staged.load_id,
        "trigger": trigger,
        "loaded": loaded,
        "computed_at": audit.now(),
        "code_version": audit.code_version(),
        "rows_read": total(summary, "rows_read"),
        "rows_staged": total(summary, "rows_staged"),
        "rows_quarantined": total(summary, "rows_quarantined"),
        "rows_loaded": total(summary, "rows_loaded"),
        "linked": total(summary, "linked"),
        "completeness": _share(total(cols, "non_null", in_primary), total(cols, "rows", in_primary))
        if cols.num_rows
        else None,
        "code_validity": _share(
            total(cols, "valid", coded), total(cols, "non_null", coded) + quarantined_codes
        )
        if cols.num_rows
        else None,
        "critical_failed": total(expectations, "failed", pc.equal(sev, "critical"))
        if sev is not None
        else 0,
        "warnings_failed": total(expectations, "failed", pc.equal(sev, "warning"))
        if sev is not None
        else 0,
    }


def staged_load_id(settings: Settings, partition: Partition) -> str | None:
    """The load id of the partition's staged input, or None if it has not been staged."""
    from ingest.stage import read_report

    try:
        return read_report(settings, partition).load_id
    except FileNotFoundError:
        return None


def measure(partition: Partition, settings: Settings, trigger: str = "cli") -> dict[str, Any]:
    """Measure the partition's staged input and store the figures; returns the headline
    (counts and shares only, fit for XCom). Nothing is written if it was never staged."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r} (one of {', '.join(TRIGGERS)})")
    load_id = staged_load_id(settings, partition)
    if load_id is None:
        return {"partition": partition.key, "measured": False}
    run_id = f"quality-{uuid.uuid4().hex[:12]}"
    staged = measure_staged(settings, partition, load_id, run_id)
    catalogue = load_catalogue()
    values = partition.as_params()
    with audit.warehouse(settings) as conn:
        loaded = _is_loaded(conn, partition, load_id)
        summary = _with_loaded(staged.la_summary, loaded)
        expectations = _expectations(conn, partition, load_id, run_id)
        tables = {
            "quality.la_summary": summary,
            "quality.quarantine_reason": staged.quarantine_reason,
            "quality.column_quality": staged.column_quality,
            "quality.link_method": staged.link_method,
            "quality.expectation_summary": expectations,
        }
        for key in PER_PARTITION:
            table = catalogue.table(key)
            data = tables[key]
            if data.num_columns == 0:
                data = pa.Table.from_pylist([], schema=table.arrow_schema())
            replace_partition(conn, table, values, data)
        headline = _headline(
            partition,
            staged,
            summary,
            expectations,
            run_id=run_id,
            trigger=trigger,
            loaded=loaded,
        )
        run_table = catalogue.table("quality.metric_run")
        append(conn, run_table, pa.Table.from_pylist([headline], schema=run_table.arrow_schema()))
    return {
        "partition": partition.key,
        "measured": True,
        **{k: v for k, v in headline.items() if k not in ("computed_at", "code_version")},
    }


def _last_starts(settings: Settings) -> dict[tuple, Any]:
    """(feed, year, term) of every partition that ran, with its latest step's start."""
    with open_engine(settings.warehouse_url) as engine, engine.connect() as conn:
        if not table_exists(conn, "audit.load_run"):
            return {}
        rows = _fetch(
            conn,
            "SELECT feed, academic_year, term, max(started_at) FROM audit.load_run "
            "GROUP BY feed, academic_year, term",
            {},
        )
    return {(f, y, t): started for f, y, t, started in rows if f in FEEDS}


def partitions_run(settings: Settings) -> list[Partition]:
    """Every partition of a registered feed that has run a step."""
    return sorted(Partition.of(f, y, t) for f, y, t in _last_starts(settings))


def _last_measured(settings: Settings) -> dict[tuple, tuple[str, Any]]:
    with open_engine(settings.warehouse_url) as engine, engine.connect() as conn:
        if not table_exists(conn, "quality.metric_run"):
            return {}
        rows = _fetch(
            conn,
            "SELECT feed, academic_year, term, load_id, computed_at FROM ("
            "SELECT *, row_number() OVER (PARTITION BY feed, academic_year, term "
            "ORDER BY computed_at DESC) AS n FROM quality.metric_run) r WHERE n = 1",
            {},
        )
    return {(f, y, t): (load_id, at) for f, y, t, load_id, at in rows}


def stale_partitions(settings: Settings) -> list[Partition]:
    """Partitions that ran but whose current input was never measured, or that started a
    step after it was (e.g. staged, then blocked at validation): what a dashboard build
    catches up. (The load step measures after itself, so it started before.)"""
    measured = _last_measured(settings)
    stale = []
    for key, started in _last_starts(settings).items():
        partition = Partition.of(*key)
        load_id = staged_load_id(settings, partition)
        if load_id is None:
            continue
        previous = measured.get(key)
        if previous is None or previous[0] != load_id or _later(started, previous[1]):
            stale.append(partition)
    return sorted(stale)


def _later(a, b) -> bool:
    """Is timestamp a after b? (Backends differ in returning aware or naive UTC values.)"""
    if a is None or b is None:
        return False
    a, b = (t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t for t in (a, b))
    return a > b


def catch_up(settings: Settings) -> list[dict[str, Any]]:
    """Measure every stale partition (see stale_partitions)."""
    return [measure(p, settings, trigger="dashboard") for p in stale_partitions(settings)]
