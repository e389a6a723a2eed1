"""The load manifest: per partition and input version, the files read (with checksums),
the code and linkage model that ran, and how the latest attempt ended.

A partition counts as unchanged when the warehouse already holds, in every research
table of its feed, the load id its landing files give now (the load id is a digest
of the files' checksums, so a corrected file gives a new one). Backfills skip such
partitions; `--force` loads them again. The warehouse's own audit.partition_load,
written in the same transaction as the research rows, is the proof of what is held;
the manifest says how it got there and what was tried since.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from core.config import Settings
from core.partition import Partition
from warehouse import audit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """A partition's landing files as they are now: relative path -> sha256, and the load id."""

    load_id: str
    checksums: dict[str, str]


def landing_inputs(settings: Settings, partition: Partition) -> Inputs | None:
    """Checksum the partition's landing files the way staging does; None without a landing folder."""
    from ingest.errors import InputError
    from ingest.inventory import take_inventory
    from ingest.stage import landing_checksums, load_id_of

    try:
        inventory = take_inventory(settings, partition)
    except InputError:
        return None
    checksums = landing_checksums(inventory, settings.landing_dir)
    return Inputs(load_id=load_id_of(partition, checksums), checksums=checksums)


def _where(partition: Partition) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"feed": partition.feed, "year": partition.year.label}
    if partition.term is None:
        return "feed = :feed AND academic_year = :year AND term IS NULL", params
    return "feed = :feed AND academic_year = :year AND term = :term", {
        **params,
        "term": partition.term_value,
    }


def held_load_id(settings: Settings, partition: Partition) -> str | None:
    """The load id the warehouse holds for the partition in all its feed's research tables."""
    from core.feeds import get_feed

    where, params = _where(partition)
    with audit.warehouse(settings) as conn:
        rows = conn.execute(
            sa.text(f"SELECT research_table, load_id FROM audit.partition_load WHERE {where}"),
            params,
        ).fetchall()
    held = dict(rows)
    ids = {held.get(t) for t in get_feed(partition.feed).research_tables}
    return ids.pop() if len(ids) == 1 and None not in ids else None


def unchanged(settings: Settings, partition: Partition) -> str | None:
    """Why the partition need not load again (its current inputs are what the warehouse
    holds), or None if it must."""
    inputs = landing_inputs(settings, partition)
    if inputs is None:
        return None
    if held_load_id(settings, partition) == inputs.load_id:
        return f"{partition.label} already loaded from these {len(inputs.checksums)} file(s) (load {inputs.load_id})"
    return None


def _stage_report_inputs(settings: Settings, partition: Partition, since: dt.datetime):
    """The inputs staging recorded during this attempt, if it got that far."""
    from ingest.stage import REPORT, read_report

    path = partition.staging_dir(settings) / REPORT
    if not path.exists() or dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) < since:
        return None
    report = read_report(settings, partition)
    return Inputs(load_id=report.load_id, checksums=report.inputs)


def _model_versions(settings: Settings, partition: Partition) -> str | None:
    import duckdb

    from core.duck import sql_str
    from linkage.master_index import LINKED

    linked = partition.staging_dir(settings) / LINKED
    if not linked.exists():
        return None
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT DISTINCT model_version FROM read_parquet({sql_str(linked)}) "
            "WHERE model_version IS NOT NULL ORDER BY 1"
        ).fetchall()
    return ",".join(r[0] for r in rows) or None


def record(
    settings: Settings,
    partition: Partition,
    *,
    outcome: str,
    run_by: str,
    started_at: dt.datetime,
    failed_step: str | None = None,
    message: str | None = None,
) -> None:
    """Write the attempt's manifest rows (replacing any earlier attempt on the same inputs).

    Bookkeeping must never hide the outcome it records: a failure to write is logged, not raised.
    """
    try:
        inputs = _stage_report_inputs(settings, partition, started_at) or landing_inputs(
            settings, partition
        )
        _write(settings, partition, inputs, outcome, run_by, started_at, failed_step, message)
    except Exception as exc:
        from pipeline.messages import safe_message

        log.warning("%s: load manifest not written: %s", partition.label, safe_message(exc))


def _write(
    settings: Settings,
    partition: Partition,
    inputs: Inputs | None,
    outcome: str,
    run_by: str,
    started_at: dt.datetime,
    failed_step: str | None,
    message: str | None,
) -> None:
    from warehouse.load import replace_partition
    from warehouse_schema.catalogue import load_catalogue

    checksums = inputs.checksums if inputs else {}
    sizes = {
        name: (settings.landing_dir / name).stat().st_size
        if (settings.landing_dir / name).exists()
        else None
        for name in checksums
    }
    key = {**partition_key(partition), "load_id": inputs.load_id if inputs else None}
    row = {
        **key,
        "input_files": len(checksums),
        "input_bytes": sum(s or 0 for s in sizes.values()),
        "code_version": audit.code_version(),
        "model_version": _model_versions(settings, partition) if outcome == "loaded" else None,
        "outcome": outcome,
        "failed_step": failed_step,
        "message": message,
        "run_by": run_by,
        "started_at": started_at,
        "finished_at": audit.now(),
    }
    files = [
        {**key, "source_file": name, "sha256": digest, "bytes": sizes[name]}
        for name, digest in sorted(checksums.items())
    ]
    catalogue = load_catalogue()
    manifest, manifest_files = (
        catalogue.table("audit.load_manifest"),
        catalogue.table("audit.load_manifest_file"),
    )
    with audit.warehouse(settings) as conn:
        replace_partition(
            conn, manifest, key, pa.Table.from_pylist([row], schema=manifest.arrow_schema())
        )
        replace_partition(
            conn,
            manifest_files,
            key,
            pa.Table.from_pylist(files, schema=manifest_files.arrow_schema()),
        )


def partition_key(partition: Partition) -> dict[str, Any]:
    return {
        "feed": partition.feed,
        "academic_year": partition.year.label,
        "term": partition.term_value,
    }


def latest(settings: Settings) -> list[dict[str, Any]]:
    """The latest attempt per partition, and whether its inputs are what the warehouse holds."""
    with audit.warehouse(settings) as conn:
        result = conn.execute(
            sa.text(
                """
                WITH held AS (
                    SELECT DISTINCT feed, academic_year, coalesce(term, '') AS term, load_id
                    FROM audit.partition_load
                ),
                ranked AS (
                    SELECT m.*, row_number() OVER (
                        PARTITION BY m.feed, m.academic_year, m.term ORDER BY m.finished_at DESC
                    ) AS n
                    FROM audit.load_manifest m
                )
                SELECT r.feed, r.academic_year, r.term, r.load_id, r.outcome, r.failed_step,
                       r.message, r.input_files, r.input_bytes, r.code_version, r.model_version,
                       r.run_by, r.finished_at, h.load_id IS NOT NULL AS held
                FROM ranked r
                LEFT JOIN held h ON h.feed = r.feed AND h.academic_year = r.academic_year
                     AND h.term = coalesce(r.term, '') AND h.load_id = r.load_id
                WHERE r.n = 1
                ORDER BY r.academic_year, r.feed, r.term
                """
            )
        )
        return [dict(row._mapping) for row in result]
