"""One DAG per feed: stage, validate, link and load one partition.

A partition is a feed's academic year (and census term, for the termly census).
Trigger with params, e.g. {"academic_year": "2024/25", "term": "autumn"}. Every
task calls the same plain function the `npd` CLI calls; nothing here but wiring.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from ingest.feeds import FEEDS, Feed
from npd.periods import TERMS

DEFAULT_ARGS = {
    "owner": "npd-data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
}


def _params(feed: Feed) -> dict[str, Param]:
    params = {
        "academic_year": Param(
            "2024/25",
            type="string",
            pattern=r"^\d{4}/\d{2}$",
            description="Academic year, e.g. 2024/25",
        )
    }
    if feed.termly:
        params["term"] = Param(
            "autumn", type="string", enum=[t.value for t in TERMS], description="Census term"
        )
    return params


def _build(feed: Feed):
    @dag(
        dag_id=f"npd_{feed.name}",
        description=f"{feed.label}: stage, validate, link and load one partition",
        schedule=None,
        start_date=dt.datetime(2020, 9, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        params=_params(feed),
        default_args=DEFAULT_ARGS,
        tags=["npd", feed.name],
        doc_md=__doc__,
    )
    def pipeline():
        @task
        def stage(**context) -> dict:
            from npd.airflow_tasks import run_step

            return run_step("stage", feed.name, context["params"])

        @task
        def validate(**context) -> dict:
            from npd.airflow_tasks import run_step

            return run_step("validate", feed.name, context["params"])

        @task
        def link(**context) -> dict:
            from npd.airflow_tasks import run_step

            return run_step("link", feed.name, context["params"])

        @task
        def load(**context) -> dict:
            from npd.airflow_tasks import run_step

            return run_step("load", feed.name, context["params"])

        stage() >> validate() >> link() >> load()

    return pipeline()


for _feed in FEEDS.values():
    globals()[f"npd_{_feed.name}"] = _build(_feed)
