"""What an Airflow task runs: a pipeline step for the partition its run stands for.

Kept out of the DAG files so they stay thin and cheap to parse (heavy imports happen
inside the functions). The partition comes from the run's params when given (a
manual run), else from its logical date: every scheduled or backfilled run is dated
on a reference day of the feed's calendar (npd.calendars), so one backfill conf
serves every run. Values returned go to XCom: partition keys and counts, never
identifiers.

Failures: bad input (a blocked partition, a rejected file) and our own errors fail
the task at once (AirflowFailException); transient trouble (the warehouse busy, a
lost connection, memory pressure) raises TransientStepError, the only error the
DAGs' retry policy retries, with backoff. Either way the message names the partition
and the reason and never an identifier; the original error's text stays out of the
log, only its stack is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import traceback
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from core.partition import Partition

log = logging.getLogger("npd.airflow")

WAREHOUSE_POOL = "npd_warehouse"  # one slot: embedded DuckDB has a single writer


class TransientStepError(RuntimeError):
    """A step failed for a reason that may pass (retried with backoff)."""


class PartitionBlockedFailure(AirflowFailException):
    """The partition is blocked by its input: fail now (retrying cannot help), saying why."""


def _partition_values(params: dict[str, Any]) -> tuple[str | None, str | None]:
    return (params.get("academic_year") or None, params.get("term") or None)


def partition_for_run(
    feed: str, params: dict[str, Any], logical_date: dt.datetime | None, run_after=None
) -> tuple[Partition, str]:
    """The partition a run is for, and how it was chosen (params, or the run's date)."""
    from npd.calendars import latest_release, release_on

    year, term = _partition_values(params)
    if year:
        return Partition.of(feed, year, term), "params"
    if term:
        raise ValueError("term given without academic_year: give both, or neither")
    when = logical_date or run_after
    if when is None:
        raise ValueError("the run has no logical date: give academic_year (and term) as params")
    day = when.date()
    if release := release_on(feed, day):
        return Partition(feed, release.year, release.term), f"{release.label} {day}"
    if release := latest_release(feed, day):
        return Partition(feed, release.year, release.term), (
            f"{release.label} {release.day}, the latest on or before {day}"
        )
    raise ValueError(f"{feed} has no calendar: give academic_year (and term) as params")


def context_partition(feed: str, context: dict[str, Any]) -> tuple[Partition, str]:
    dag_run = context.get("dag_run")
    return partition_for_run(
        feed,
        dict(context.get("params") or {}),
        context.get("logical_date"),
        getattr(dag_run, "run_after", None),
    )


def is_transient(exc: BaseException) -> bool:
    """Errors that may pass if tried again later."""
    from warehouse.lock import LockTimeout

    transient: list[type[BaseException]] = [
        LockTimeout,
        TimeoutError,
        ConnectionError,
        BlockingIOError,
        MemoryError,
    ]
    if duckdb := sys.modules.get("duckdb"):
        transient += [duckdb.IOException, duckdb.OutOfMemoryException]
    if "sqlalchemy.exc" in sys.modules:
        from sqlalchemy.exc import DisconnectionError, OperationalError

        transient += [OperationalError, DisconnectionError]
    return isinstance(exc, tuple(transient))


def stage_shards() -> int:
    """How many shards a feed DAG stages a partition in (NPD_STAGE_SHARDS, default 1: one
    stage task). Read when the DAG file is parsed: a deployment setting, like the executor."""
    import os

    raw = os.environ.get("NPD_STAGE_SHARDS", "").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"NPD_STAGE_SHARDS must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def plan_shards(feed: str, shards: int, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The first task of a sharded stage: the partition's returns in groups (LA or provider
    folder names, never identifiers), or a skip if its inputs are already loaded."""
    from pipeline.steps import plan_stage

    return run_step(
        "plan_stage",
        feed,
        context,
        lambda partition, settings: plan_stage(partition, shards, settings),
    )


def stage_one_shard(feed: str, shard: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    from pipeline.steps import stage_shard

    return run_step(
        "stage_shard",
        feed,
        context,
        lambda partition, settings: stage_shard(
            partition, shard["index"], shard["returns"], settings
        ),
    )


def merge_shards(
    feed: str, shards: list[dict[str, Any]], context: dict[str, Any]
) -> dict[str, Any]:
    from pipeline.steps import merge_stage

    return run_step(
        "merge_stage",
        feed,
        context,
        lambda partition, settings: merge_stage(partition, len(shards), settings),
    )


FIRST_STEPS = ("stage", "plan_stage")  # where a run whose inputs are loaded is skipped


def run_step(step: str, feed: str, context: dict[str, Any], call=None) -> Any:
    """Run one step (`call`, else the step of that name) for the run's partition; skip the
    run at its first step if its inputs are already loaded."""
    from airflow.sdk.exceptions import AirflowSkipException

    from core.config import Settings
    from ingest.errors import InputError, PartitionBlocked
    from pipeline import manifest
    from pipeline.messages import safe_message
    from pipeline.steps import STEPS

    try:
        partition, how = context_partition(feed, context)
    except (KeyError, ValueError) as exc:
        raise AirflowFailException(f"{feed}: which partition? {exc}") from None
    log.info("%s %s (partition chosen by %s)", step, partition.label, how)
    settings = Settings.from_env()
    params = dict(context.get("params") or {})
    replaced = None
    try:
        reason = (
            manifest.unchanged(settings, partition)
            if step in FIRST_STEPS and not params.get("force")
            else None
        )
        if reason:
            raise AirflowSkipException(f"{reason}: nothing to do (set force to reload)")
        if step == "load":
            replaced = manifest.held_load_id(settings, partition)
        result = (call or STEPS[step])(partition, settings)
    except AirflowSkipException:
        raise
    except PartitionBlocked as exc:
        raise PartitionBlockedFailure(f"{partition.label}: {safe_message(exc)}") from None
    except InputError as exc:
        raise PartitionBlockedFailure(f"{partition.label}: {step}: {safe_message(exc)}") from None
    except Exception as exc:
        log.error(
            "%s failed at %s with %s; stack:\n%s",
            partition.label,
            step,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        message = f"{partition.label}: {step}: {safe_message(exc)}"
        if is_transient(exc):
            raise TransientStepError(message) from None
        raise AirflowFailException(message) from None
    if step == "load":
        _publish(context, partition, result, replaced)
        manifest.record(
            settings,
            partition,
            outcome="loaded",
            run_by="airflow",
            started_at=_run_start(context),
        )
    return {**result, "partition": partition.key} if isinstance(result, dict) else result


def _run_start(context: dict[str, Any]) -> dt.datetime:
    dag_run = context.get("dag_run")
    start = getattr(dag_run, "start_date", None)
    return start or dt.datetime.now(dt.UTC)


def _publish(
    context: dict[str, Any], partition: Partition, result: dict[str, Any], replaced: str | None
) -> None:
    """Say on the task's outlet assets which partition loaded and what it replaced."""
    task = context.get("task")
    events = context.get("outlet_events")
    if task is None or events is None:
        return
    extra = {
        "feed": partition.feed,
        "academic_year": partition.year.label,
        "term": partition.term_value,
        "load_id": result.get("load_id"),
        "replaced_load_id": replaced,
        "rows": sum((result.get("tables") or {}).values()),
    }
    for asset in task.outlets:
        events[asset].extra = extra


def on_failure(context: dict[str, Any]) -> None:
    """Failure callback: one line naming the DAG, partition, step and why; and the manifest."""
    from core.config import Settings
    from pipeline import manifest
    from pipeline.messages import safe_message

    ti = context.get("ti") or context.get("task_instance")
    step = getattr(ti, "task_id", "?")
    feed = context["dag"].dag_id.removeprefix("npd_") if context.get("dag") else "?"
    exc = context.get("exception")
    if isinstance(exc, AirflowFailException | TransientStepError):
        why = str(exc)  # raised by run_step with a message it built: identifier-free
    elif isinstance(exc, BaseException):
        why = safe_message(exc)
    else:
        why = "no exception recorded"
    blocked = isinstance(exc, PartitionBlockedFailure)
    try:
        partition, _ = context_partition(feed, context)
    except Exception:
        log.error("NPD %s failed at %s: %s", feed, step, why)
        return
    log.error(
        "NPD %s %s at %s (try %s): %s",
        partition.label,
        "blocked" if blocked else "failed",
        step,
        getattr(ti, "try_number", "?"),
        why,
    )
    manifest.record(
        Settings.from_env(),
        partition,
        outcome="blocked" if blocked else "failed",
        run_by="airflow",
        started_at=_run_start(context),
        failed_step=step,
        message=why,
    )


def partition_loaded_assets() -> list[Any]:
    """One asset per feed, updated each time one of its partitions loads."""
    from core.feeds import FEEDS

    return [feed_asset(name) for name in FEEDS]


def feed_asset(feed: str) -> Any:
    from airflow.sdk import Asset

    return Asset(
        name=f"npd_{feed}_loaded",
        uri=f"npd://warehouse/{feed}",
        group="npd",
        extra={"what": f"research tables of the {feed} feed"},
    )


def any_partition_loaded() -> Any:
    """Schedule for what rebuilds after loads (linkage, the dashboard): any feed's asset."""
    from airflow.sdk import AssetAny

    return AssetAny(*partition_loaded_assets())


def relink_after_loads(context: dict[str, Any]) -> dict[str, Any]:
    """For each partition load that replaced an earlier one, re-link what depended on it."""
    from core.config import Settings
    from npd.backfill import relink_dependents

    settings = Settings.from_env()
    done: list[dict[str, Any]] = []
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            extra = dict(getattr(event, "extra", None) or {})
            replaced, now = extra.get("replaced_load_id"), extra.get("load_id")
            if not replaced or replaced == now:
                continue
            partition = Partition.of(extra["feed"], extra["academic_year"], extra.get("term"))
            results = relink_dependents(settings, partition, replaced)
            done.append(
                {
                    "partition": partition.key,
                    "relinked": [r.partition.key for r in results],
                    "statuses": sorted({r.status for r in results}),
                }
            )
    return {"corrections": done}
