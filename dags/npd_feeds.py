"""One DAG per feed: stage, validate, link and load one partition; and the re-linking
that runs when a load replaced an earlier one.

A partition is a feed's academic year (and census term, for the termly census). With
NPD_STAGE_SHARDS=N its returns (LAs, providers) are staged in up to N mapped tasks side
by side and merged (ingest/shards.py) before validate. Each
feed's DAG runs on its calendar's reference days (the school census on census days;
see `npd schedule`); a run's partition is read from its logical date, so
`airflow backfill create` needs no conf. A manual run may name the partition in its
params ({"academic_year": "2024/25", "term": "autumn"}); `force` reloads unchanged
inputs. A run whose inputs the warehouse already holds is skipped. The load task
updates the feed's asset; `npd_linkage` (and the dashboard) run on those assets.
Every task calls the same plain function the `npd` CLI calls; nothing here but wiring.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule

from core.feeds import FEEDS, Feed
from core.periods import TERMS
from npd.airflow_tasks import (
    WAREHOUSE_POOL,
    any_partition_loaded,
    feed_asset,
    on_failure,
    stage_shards,
)
from npd.calendars import calendar_of
from npd.timetables import ReferenceDayTimetable

DEFAULT_ARGS = {
    "owner": "npd-data-engineering",
    "retries": 3,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
    # Only transient trouble is retried; bad input fails at once (AirflowFailException).
    "retry_policy": ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception="npd.airflow_tasks.TransientStepError",
                action=RetryAction.RETRY,
                reason="transient: warehouse busy, connection lost or memory pressure",
            )
        ],
        default=RetryAction.FAIL,
    ),
    "on_failure_callback": on_failure,
}
START = dt.datetime(2015, 9, 1, tzinfo=dt.UTC)  # earliest academic year a backfill may load
SHARDS = stage_shards()  # NPD_STAGE_SHARDS: stage each partition's returns in this many groups


def _params(feed: Feed) -> dict[str, Param]:
    params = {
        "academic_year": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}/\d{2}$",
            description="Academic year, e.g. 2024/25; empty: from the run's logical date",
        ),
        "force": Param(False, type="boolean", description="Reload even if inputs are unchanged"),
    }
    if feed.termly:
        params["term"] = Param(
            None,
            type=["null", "string"],
            enum=[None, *(t.value for t in TERMS)],
            description="Census term; empty: from the run's logical date",
        )
    return params


def _schedule(feed: Feed) -> ReferenceDayTimetable | None:
    calendar = calendar_of(feed.name)
    return ReferenceDayTimetable(calendar) if calendar else None


def _build(feed: Feed):
    @dag(
        dag_id=f"npd_{feed.name}",
        description=f"{feed.label}: stage, validate, link and load one partition",
        schedule=_schedule(feed),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        max_active_tasks=max(2, SHARDS),  # every shard of a partition may run at once
        params=_params(feed),
        default_args=DEFAULT_ARGS,
        tags=["npd", feed.name],
        doc_md=__doc__,
    )
    def pipeline():
        @task
        def stage(**context) -> dict:
            from npd.airflow_tasks import run_step

            return run_step("stage", feed.name, context)

        @task
        def plan_stage(**context) -> list:
            from npd.airflow_tasks import plan_shards

            return plan_shards(feed.name, SHARDS, context)

        @task
        def stage_shard(shard: dict, **context) -> dict:
            from npd.airflow_tasks import stage_one_shard

            return stage_one_shard(feed.name, shard, context)

        @task
        def merge_stage(shards: list, **context) -> dict:
            from npd.airflow_tasks import merge_shards

            return merge_shards(feed.name, shards, context)

        @task
        def validate(**context) -> dict:
            from npd.airflow_tasks import run_step

            return run_step("validate", feed.name, context)

        @task(pool=WAREHOUSE_POOL)
        def link(**context) -> dict:
            from npd.airflow_tasks import run_step

            return run_step("link", feed.name, context)

        @task(pool=WAREHOUSE_POOL, outlets=[feed_asset(feed.name)])
        def load(**context) -> dict:
            from npd.airflow_tasks import run_step

            return run_step("load", feed.name, context)

        if SHARDS == 1:
            staged = stage()
        else:  # the returns staged side by side, one mapped task per group (ingest/shards.py)
            planned = plan_stage()
            staged = merge_stage(planned)
            stage_shard.expand(shard=planned) >> staged
        staged >> validate() >> link() >> load()

    return pipeline()


for _feed in FEEDS.values():
    globals()[f"npd_{_feed.name}"] = _build(_feed)


@dag(
    dag_id="npd_linkage",
    description="Re-link the partitions that depended on a partition a load replaced",
    schedule=any_partition_loaded(),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["npd", "linkage"],
    doc_md="Runs when any feed's partition loads. If the load replaced an earlier one (a "
    "corrected file), partitions with records matched probabilistically or by a reviewer to "
    "persons the earlier load created are re-linked and reloaded; links by identifier stand "
    "and person ids stay stable.",
)
def npd_linkage():
    @task(pool=WAREHOUSE_POOL)
    def relink_dependents(**context) -> dict:
        from npd.airflow_tasks import relink_after_loads

        return relink_after_loads(context)

    relink_dependents()


npd_linkage()
