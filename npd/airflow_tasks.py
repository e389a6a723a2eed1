"""What an Airflow task runs: a pipeline step for the partition named by the run's params.

Kept out of the DAG files so they stay thin and cheap to parse. Values returned
go to XCom: partition keys and counts only, never identifiers. A partition that
is blocked by bad input fails its task without retries and says why.
"""

from __future__ import annotations

from typing import Any

from npd.partition import Partition


def partition_from_params(feed: str, params: dict[str, Any]) -> Partition:
    return Partition.of(feed, params["academic_year"], params.get("term"))


def run_step(step: str, feed: str, params: dict[str, Any]) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from ingest.errors import InputError, PartitionBlocked
    from npd.steps import STEPS, safe_message

    partition = partition_from_params(feed, params)
    try:
        return STEPS[step](partition)
    except (PartitionBlocked, InputError) as exc:
        # Bad input will not get better by retrying: fail now, with the reason.
        raise AirflowFailException(safe_message(exc)) from None
