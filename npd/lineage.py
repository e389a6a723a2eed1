"""Lineage: which datasets each pipeline step reads and writes, for OpenLineage.

`step_datasets` names them (landing folder, staged Parquet, warehouse and identity
tables) from the partition and the settings; `StepExtractor` hands them to Airflow's
OpenLineage provider for the pipeline's @task steps, so every task's START, COMPLETE
or FAIL event says what it read and wrote. Enable with

    AIRFLOW__OPENLINEAGE__EXTRACTORS=npd.lineage.StepExtractor
    AIRFLOW__OPENLINEAGE__TRANSPORT='{"type": "console"}'   # or file, http (Marquez)

Dataset names are paths and table names: never a value, never an identifier.
"""

from __future__ import annotations

import socket
from typing import Any

from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage

from core.config import Settings
from core.partition import Partition

Dataset = tuple[str, str]  # (namespace, name), OpenLineage naming


def _file(path) -> Dataset:
    return (f"file://{socket.gethostname()}", str(path))


def _table(url: str, key: str) -> Dataset:
    """A table in a store reached by a SQLAlchemy URL, named as OpenLineage names them."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return (f"postgres://{parsed.host}:{parsed.port or 5432}", f"{parsed.database}.{key}")
    return (f"{backend}://{socket.gethostname()}{parsed.database or ''}", key)


def step_datasets(
    settings: Settings, partition: Partition, step: str
) -> tuple[list[Dataset], list[Dataset]]:
    """(inputs, outputs) of one step of one partition."""
    from core.feeds import get_feed
    from ingest.landing import period_dir
    from ingest.spec import load_spec
    from linkage.master_index import LINKED

    staged = partition.staging_dir(settings)
    records = _file(staged / "records.parquet")
    wh, ident = settings.warehouse_url, settings.identity_url
    if step == "stage":
        landing = period_dir(settings.landing_dir, partition.feed, partition.year, partition.term)
        tables = load_spec(partition.feed).for_year(partition.year).tables
        return [_file(landing)], [
            *(_file(staged / "tables" / f"{t}.parquet") for t in tables),
            _file(staged / "quarantine.parquet"),
            records,
            _table(wh, "audit.file_account"),
            _table(wh, "audit.quarantine_summary"),
        ]
    if step == "validate":
        return [records], [_table(wh, "audit.validation_result")]
    if step == "link":
        return [records, _table(ident, "identity.person_identifier")], [
            _file(staged / LINKED),
            _table(ident, "identity.person"),
            _table(ident, "identity.person_identifier"),
            _table(ident, "identity.record_identity"),
            _table(wh, "audit.link_summary"),
        ]
    if step == "load":
        research = get_feed(partition.feed).research_tables
        return [_file(staged / LINKED)], [
            *(_table(wh, t) for t in research),
            _table(wh, "audit.partition_load"),
        ]
    raise ValueError(f"unknown step {step!r}")


# A partition staged in shards: its merge writes what one stage task would (the shards'
# own folders are scratch, removed by the merge).
LINEAGE_OF = {"merge_stage": "stage"}


class StepExtractor(BaseExtractor):
    """OpenLineage extractor for the pipeline's @task steps (other @tasks get nothing from
    here, so the provider falls back to their hook lineage and inlets/outlets)."""

    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return ["_PythonDecoratedOperator"]

    def _execute_extraction(self) -> Any:
        return OperatorLineage()

    def extract_on_complete(self, task_instance: Any) -> Any:
        return self._lineage(task_instance)

    def extract_on_failure(self, task_instance: Any) -> Any:
        return self._lineage(task_instance)

    def _lineage(self, task_instance: Any) -> Any:
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        from core.feeds import FEEDS
        from npd.airflow_tasks import context_partition
        from pipeline.steps import STEPS

        task = self.operator
        feed = task.dag_id.removeprefix("npd_")
        step = LINEAGE_OF.get(task.task_id, task.task_id)
        if feed not in FEEDS or step not in STEPS:
            return OperatorLineage()
        partition, _ = context_partition(feed, task_instance.get_template_context())
        inputs, outputs = step_datasets(Settings.from_env(), partition, step)
        return OperatorLineage(
            inputs=[InputDataset(namespace=ns, name=name) for ns, name in inputs],
            outputs=[OutputDataset(namespace=ns, name=name) for ns, name in outputs],
        )
