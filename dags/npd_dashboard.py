"""Rebuild the data-quality dashboard (var/reports/dashboard) after loads.

Each load measures its own partition into the quality store; this DAG catches up any
partition that ran without being measured (e.g. one blocked at validation) and writes
the static site. It calls the same function as `npd dashboard build`; nothing here
but wiring. It runs whenever any feed's load updates its asset (npd.airflow_tasks),
and may still be triggered by hand.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

from npd.airflow_tasks import any_partition_loaded


@dag(
    dag_id="npd_dashboard",
    description="Measure unmeasured partitions and rebuild the data-quality dashboard",
    schedule=any_partition_loaded(),
    start_date=dt.datetime(2020, 9, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "npd-data-engineering", "retries": 1},
    tags=["npd", "quality"],
    doc_md=__doc__,
)
def npd_dashboard():
    @task
    def build_dashboard() -> dict:
        from quality.dashboard import rebuild

        return rebuild()

    build_dashboard()


npd_dashboard()
