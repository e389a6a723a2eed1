"""The pipeline steps as plain functions: stage, validate, link, load, and a whole period.

The CLI, the Airflow DAGs and the tests call these same functions. Each step finds
its input from the previous step under the partition's staging folder, records
its outcome in the audit schema, and returns a small JSON-safe summary (counts,
never identifiers) fit for XCom.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.config import Settings
from core.partition import Partition
from ingest.errors import PartitionBlocked
from pipeline.messages import safe_message
from warehouse import audit

log = logging.getLogger(__name__)

VALIDATION = "validation.json"
LINK_REPORT = "link_report.json"
LOAD_REPORT = "load_report.json"


@dataclass
class RunState:
    load_id: str | None = None
    message: str | None = None


@contextmanager
def recorded(settings: Settings, partition: Partition, step: str) -> Iterator[RunState]:
    """Record the step's run (succeeded, blocked or failed) in audit.load_run."""
    state = RunState()
    started = audit.now()
    run_id = f"{step}-{uuid.uuid4().hex[:12]}"
    try:
        yield state
    except Exception as exc:
        _restore_loaded(settings, partition, step)
        audit.record_run(
            settings,
            partition,
            run_id=run_id,
            step=step,
            status="blocked" if isinstance(exc, PartitionBlocked) else "failed",
            message=safe_message(exc),
            load_id=state.load_id,
            started_at=started,
        )
        raise
    if step == "load":
        from ingest.attempts import discard_loaded

        discard_loaded(settings, partition)
    audit.record_run(
        settings,
        partition,
        run_id=run_id,
        step=step,
        status="succeeded",
        message=state.message,
        load_id=state.load_id,
        started_at=started,
    )


def _restore_loaded(settings: Settings, partition: Partition, step: str) -> None:
    """A failed or blocked attempt at a loaded partition: its staging and accounts describe
    the loaded data again (ingest/attempts.py); the attempt is kept in staging-failed/."""
    if step not in STEPS:
        return
    from ingest.attempts import restore_loaded
    from ingest.stage import read_report

    try:
        if restore_loaded(settings, partition):
            audit.record_stage(settings, partition, read_report(settings, partition))
    except Exception as exc:  # never hide the attempt's own error behind this one
        log.error("%s: the loaded copy was not restored: %s", partition.label, safe_message(exc))


def _settings(settings: Settings | None) -> Settings:
    settings = settings or Settings.from_env()
    settings.ensure_dirs()
    return settings


def _read_json(path, what: str) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{what} is missing ({path.name}): run the previous step first")
    return json.loads(path.read_text(encoding="utf-8"))


def stage(partition: Partition, settings: Settings | None = None) -> dict[str, Any]:
    """Landing files to typed Parquet and quarantine; blocked if a required file is unusable."""
    from ingest.stage import stage as stage_files

    settings = _settings(settings)
    with recorded(settings, partition, "stage") as run:
        report = stage_files(settings, partition)
        _staged(settings, partition, report, run)
    return _stage_summary(partition, report)


def plan_stage(partition: Partition, shards: int, settings: Settings | None = None) -> list[dict]:
    """The partition's returns in up to `shards` groups to stage side by side (ingest/shards.py)."""
    from ingest.shards import plan

    groups = plan(_settings(settings), partition, shards)
    return [{"index": i, "returns": returns} for i, returns in enumerate(groups)]


def stage_shard(
    partition: Partition, index: int, returns: list[str], settings: Settings | None = None
) -> dict[str, Any]:
    """Stage one group of returns; `merge_stage` makes the partition of the shards."""
    from ingest.shards import stage_shard as stage_returns

    report = stage_returns(_settings(settings), partition, returns, index)
    return {
        "partition": partition.key,
        "shard": index,
        "returns": len(returns),
        "rows_read": report.rows_read,
        "seconds": report.seconds,
    }


def merge_stage(
    partition: Partition, shards: int, settings: Settings | None = None
) -> dict[str, Any]:
    """The stage step's outcome for a partition staged in shards: merged, audited, checked."""
    from ingest.shards import merge

    settings = _settings(settings)
    with recorded(settings, partition, "stage") as run:
        report = merge(settings, partition, shards)
        _staged(settings, partition, report, run)
    return _stage_summary(partition, report)


def _staged(settings: Settings, partition: Partition, report, run: RunState) -> None:
    run.load_id = report.load_id
    audit.record_stage(settings, partition, report)
    if report.blocking:
        causes = _unusable_required_files(report)
        lines = [f"{partition.label} blocked at staging: {causes[0]}"]
        lines += [f"  also: {c}" for c in causes[1:MAX_CAUSES]]
        if len(causes) > MAX_CAUSES:
            lines.append(f"  and {len(causes) - MAX_CAUSES} more file(s) (see the stage report)")
        raise PartitionBlocked("\n".join(lines))
    run.message = f"{report.records} records staged, {report.rows_quarantined} rows quarantined"


MAX_CAUSES = 10  # blocking messages name this many files, then count the rest
MOST = 0.5  # a table that lost more than this share of its rows at staging is named as a cause
NOTABLE = 0.01  # a primary table that lost this share is mentioned beside a blocking failure


def _unusable_required_files(report) -> list[str]:
    """Why staging blocked, rejected files first (a file that came but could not be used says
    more than one that did not come): the messages staging wrote, which quote no values."""
    rejected = {m for f in report.files if f.status == "rejected" for m in f.messages}
    return sorted(report.blocking, key=lambda m: m not in rejected)


def _quarantined_by(report, table: str) -> list[tuple[str, int]]:
    """The table's quarantine reasons (values already withheld by staging), most rows first."""
    prefix = f"{table}: "
    found = [
        (r[len(prefix) :], n) for r, n in report.quarantine_reasons.items() if r.startswith(prefix)
    ]
    return sorted(found, key=lambda item: (-item[1], item[0]))


def _top_reason(report, table: str, every: bool) -> str:
    reasons = _quarantined_by(report, table)
    if not reasons:
        return "no reason recorded"
    reason, n = reasons[0]
    text = f"{reason[:200]} ({n} rows)" if every else reason[:200]
    if len(reasons) > 1:
        text += f", and {len(reasons) - 1} other reason(s)"
    return text


def _staging_causes(report, primary: str) -> tuple[list[str], list[str]]:
    """Root causes a validation failure may follow from, read from the stage report, most
    telling first: required files not usable, then the feed's primary table with no rows
    read, every row or most rows quarantined. And lines of context: a primary table that
    lost a notable share, another table that lost every or most rows."""
    causes = [f"at staging, {m}" for m in _unusable_required_files(report)]
    context: list[str] = []
    tables = [primary, *dict.fromkeys(f.table for f in report.files if f.status != "unused")]
    for table in dict.fromkeys(tables):
        t = report.table_totals(table)
        read, quarantined = t["read"], t["quarantined"]
        lost = quarantined / read if read else 0.0
        if table == primary and read == 0:
            if not report.blocking:  # else the unusable file said it already
                why = next((m for f in report.files if f.table == table for m in f.messages), None)
                causes.append(f"no {table} rows were read" + (f": {why}" if why else ""))
        elif read and quarantined == read:
            line = f"every {table} row was quarantined: {_top_reason(report, table, True)}"
            (causes if table == primary else context).append(line)
        elif lost > MOST or (table == primary and lost >= NOTABLE):
            line = (
                f"{100 * lost:.1f}% of {table} rows were quarantined: "
                f"{_top_reason(report, table, False)} ({quarantined} of {read} rows)"
            )
            (causes if table == primary and lost > MOST else context).append(line)
    return causes, context


def _validation_blocked(partition: Partition, report, outcome) -> PartitionBlocked:
    """The message names the root cause on its first line (from the stage report when staging
    explains the failure, else the telling failed expectation), then the whole outcome."""
    from core.feeds import get_feed

    causes, context = _staging_causes(report, get_feed(partition.feed).primary_table)
    root = outcome.root_failure()
    if causes:
        first, more = causes[0], causes[1:MAX_CAUSES]
    else:
        first, more = (root.headline() if root else "a critical expectation failed"), []
    lines = [f"{partition.label} blocked by validation: {first}"]
    lines += [f"  also: {c}" for c in more] + [f"  {c}" for c in context]
    lines += outcome.describe().splitlines()
    return PartitionBlocked("\n".join(lines))


def _stage_summary(partition: Partition, report) -> dict[str, Any]:
    return {
        "partition": partition.key,
        "load_id": report.load_id,
        "rows_read": report.rows_read,
        "rows_staged": report.rows_staged,
        "rows_quarantined": report.rows_quarantined,
        "records": report.records,
        "seconds": report.seconds,
    }


def validate(partition: Partition, settings: Settings | None = None) -> dict[str, Any]:
    """Run the feed's suite on the staged records; a critical failure blocks the partition."""
    from core.feeds import get_feed
    from expectations.runner import read_records, validate_records
    from ingest.stage import read_report

    settings = _settings(settings)
    with recorded(settings, partition, "validate") as run:
        started = time.perf_counter()
        report = read_report(settings, partition)
        run.load_id = report.load_id
        folder = partition.staging_dir(settings)
        suite = get_feed(partition.feed).suite
        records = read_records(folder / "records.parquet", suite)  # the suite's columns only
        run_name = f"{report.load_id}-{audit.now():%Y%m%dT%H%M%S%f}"
        params = {"academic_year": partition.year.label, "term": partition.term_value}
        outcome = validate_records(
            records, suite, gx_dir=settings.gx_dir, run_name=run_name, params=params
        )
        result = outcome.to_dict()
        audit.record_validation(
            settings,
            partition,
            run_id=run_name,
            load_id=report.load_id,
            suite=suite,
            results=result["results"],
        )
        summary = {
            "partition": partition.key,
            "load_id": report.load_id,
            "success": outcome.success,
            "critical_failures": len(outcome.critical_failures),
            "warnings": len(outcome.warnings_failed),
            "rows": records.num_rows,
            "seconds": round(time.perf_counter() - started, 3),
        }
        (folder / VALIDATION).write_text(
            json.dumps({**summary, "outcome": result}, indent=2, default=str)
        )
        if not outcome.success:
            raise _validation_blocked(partition, report, outcome)
        run.message = f"{summary['warnings']} warning(s)"
    return summary


def link(
    partition: Partition, settings: Settings | None = None, fallback=None, relink: bool = False
) -> dict[str, Any]:
    """Give every record a person in the master index (UPN, former UPN, ULN, then fallback).

    `relink` decides afresh instead of replaying the links this same input was given
    before (for partitions that depended on a partition since corrected)."""
    from linkage.master_index import LINKED, link_records

    settings = _settings(settings)
    with recorded(settings, partition, "link") as run:
        folder = partition.staging_dir(settings)
        validation = _read_json(folder / VALIDATION, f"validation of {partition.label}")
        run.load_id = validation["load_id"]
        if not validation["success"]:
            raise PartitionBlocked(f"{partition.label} failed validation: it is not linked")
        with audit.store_lock(settings):
            report = link_records(
                folder / "records.parquet",
                folder / LINKED,
                settings.identity_url,
                settings.tmp_dir,
                partition.feed,
                partition.year.label,
                partition.term_value,
                validation["load_id"],
                fallback=fallback or _fallback(settings),
                relink=relink,
            )
        audit.record_links(settings, partition, report.load_id, report.counts)
        (folder / LINK_REPORT).write_text(json.dumps(report.to_dict(), indent=2))
        _linkage_report(settings)
        run.message = f"{report.linked} of {report.records} records linked"
    return {"partition": partition.key, **report.to_dict()}


def _fallback(settings: Settings | None = None):
    """The configured fallback linker: probabilistic (Splink) unless NPD_LINKAGE_FALLBACK=none.

    docs/linkage.md lists its settings (thresholds, model, automatic first training).
    """
    import os

    from linkage.fallback import NoFallback

    choice = (os.environ.get("NPD_LINKAGE_FALLBACK") or "probabilistic").strip().lower()
    if choice == "none":
        return NoFallback()
    if choice != "probabilistic":
        raise ValueError(f"NPD_LINKAGE_FALLBACK must be probabilistic or none, not {choice!r}")
    from linkage.probabilistic import LinkageConfig, ProbabilisticLinker

    return ProbabilisticLinker(LinkageConfig.from_env(_settings(settings).home))


def _linkage_report(settings: Settings) -> None:
    """Rebuild the linkage report after links; a report failure never fails the link."""
    from linkage.report import write_report

    try:
        with audit.store_lock(settings):
            write_report(settings)
    except Exception as exc:
        log.warning("linkage report not rebuilt: %s", safe_message(exc))


def load(partition: Partition, settings: Settings | None = None) -> dict[str, Any]:
    """Minimise and pseudonymise linked records and replace the partition in the warehouse."""
    from warehouse.research import load_research

    settings = _settings(settings)
    with recorded(settings, partition, "load") as run:
        folder = partition.staging_dir(settings)
        linked = _read_json(folder / LINK_REPORT, f"linkage of {partition.label}")
        run.load_id = linked["load_id"]
        loaded = load_research(settings, partition, linked["load_id"])
        (folder / LOAD_REPORT).write_text(json.dumps(loaded, indent=2))
        run.message = ", ".join(f"{n} rows into {t}" for t, n in loaded["tables"].items())
    _measure_quality(partition, settings)
    return {"partition": partition.key, **loaded}


def _measure_quality(partition: Partition, settings: Settings) -> None:
    """Data-quality figures for the dashboard (quality/), after the load is recorded: a
    failure here is logged, never undoes the load, and the next dashboard build retries."""
    try:
        from quality.store import measure

        measure(partition, settings, trigger="load")
    except Exception as exc:
        log.warning("%s: quality figures not measured: %s", partition.label, safe_message(exc))


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "stage": stage,
    "validate": validate,
    "link": link,
    "load": load,
}


@dataclass
class PeriodResult:
    partition: Partition
    status: str  # loaded | blocked | failed | skipped (inputs unchanged: pipeline.manifest)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    message: str | None = None


def run_period(
    partition: Partition,
    settings: Settings | None = None,
    on_step: Callable[[str], None] | None = None,
    *,
    skip_unchanged: bool = False,
    run_by: str = "cli",
    steps: dict[str, Callable[..., dict[str, Any]]] | None = None,
) -> PeriodResult:
    """All four steps (or the given ones) for one partition. A blocked or failed partition
    stops there, and says why.

    Every attempt goes into the load manifest; with `skip_unchanged`, a partition the
    warehouse already holds from these same input files is skipped (pipeline.manifest)."""
    from pipeline import manifest

    settings = _settings(settings)
    if skip_unchanged and (reason := manifest.unchanged(settings, partition)):
        return PeriodResult(partition=partition, status="skipped", message=reason)
    started = audit.now()
    steps = steps or STEPS
    result = _run_steps(partition, settings, on_step, steps)
    failed_step = next((s for s in steps if s not in result.steps), None)
    manifest.record(
        settings,
        partition,
        outcome=result.status,
        run_by=run_by,
        started_at=started,
        failed_step=None if result.status == "loaded" else failed_step,
        message=result.message,
    )
    return result


def _run_steps(
    partition: Partition,
    settings: Settings,
    on_step: Callable[[str], None] | None,
    steps: dict[str, Callable[..., dict[str, Any]]],
) -> PeriodResult:
    from core.memory import release_unused

    result = PeriodResult(partition=partition, status="loaded")
    for name, step in steps.items():
        if on_step:
            on_step(name)
        try:
            result.steps[name] = step(partition, settings)
            release_unused()  # the next step starts from what is in use, not this one's peak
        except PartitionBlocked as exc:
            result.status, result.message = "blocked", safe_message(exc)
            log.warning("%s", result.message)
            return result
        except Exception as exc:
            result.status, result.message = "failed", f"{name}: {safe_message(exc)}"
            log.error("%s failed at %s: %s", partition.label, name, safe_message(exc))
            return result
    return result
