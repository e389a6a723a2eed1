"""The reference-day timetable: Airflow runs the census DAG on census days, backfills one run
per census day, serialises it only because the plugin registers it, and each run's logical
date names its partition."""

from __future__ import annotations

import datetime as dt

import pytest

from core.periods import AcademicYear, Term
from tests.conftest import REPO

pytestmark = pytest.mark.airflow

UTC = dt.UTC


def _runs(timetable, earliest: dt.datetime, latest: dt.datetime | None, n: int, catchup=True):
    from airflow.timetables.base import TimeRestriction
    from pendulum import instance

    restriction = TimeRestriction(instance(earliest), latest and instance(latest), catchup)
    out, last = [], None
    for _ in range(n):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        if info is None:
            break
        out.append(info)
        last = info.data_interval
    return out


def test_census_timetable_runs_on_each_census_day_in_order() -> None:
    from npd.timetables import ReferenceDayTimetable

    runs = _runs(ReferenceDayTimetable("census_days"), dt.datetime(2022, 9, 1, tzinfo=UTC), None, 9)
    assert [r.logical_date.date().isoformat() for r in runs] == [
        "2022-10-06", "2023-01-19", "2023-05-18",
        "2023-10-05", "2024-01-18", "2024-05-16",
        "2024-10-03", "2025-01-16", "2025-05-15",
    ]  # fmt: skip
    assert all(r.run_after == r.logical_date for r in runs)  # run on the day, not a day later


def test_a_start_after_midnight_misses_that_day_and_the_end_date_stops_runs() -> None:
    from npd.timetables import ReferenceDayTimetable

    tt = ReferenceDayTimetable("census_days", lag_days=14)
    runs = _runs(
        tt,
        dt.datetime(2023, 10, 5, 6, tzinfo=UTC),
        dt.datetime(2024, 5, 16, tzinfo=UTC),
        10,
    )
    assert [r.logical_date.date() for r in runs] == [dt.date(2024, 1, 18), dt.date(2024, 5, 16)]
    assert runs[0].run_after.date() == dt.date(2024, 2, 1)  # the lag delays the run, not its date


def test_without_catchup_missed_census_days_are_not_run_one_by_one() -> None:
    from pendulum import instance

    from npd.timetables import ReferenceDayTimetable

    tt = ReferenceDayTimetable("census_days")
    today = dt.datetime.now(UTC).date()
    latest = tt.last_day(today)
    (first,) = _runs(tt, dt.datetime(2015, 9, 1, tzinfo=UTC), None, 1, catchup=False)
    assert first.logical_date.date() == latest  # only the latest missed day, then the next
    from airflow.timetables.base import DataInterval, TimeRestriction

    after_backfill = tt.next_dagrun_info(
        last_automated_data_interval=DataInterval.exact(
            instance(dt.datetime(2022, 10, 6, tzinfo=UTC))
        ),
        restriction=TimeRestriction(instance(dt.datetime(2015, 9, 1, tzinfo=UTC)), None, False),
    )
    assert after_backfill.logical_date.date() == latest
    (caught_up,) = _runs(tt, dt.datetime(2015, 9, 1, tzinfo=UTC), None, 1, catchup=True)
    assert caught_up.logical_date.date() == dt.date(2015, 10, 1)  # with catchup, every day


def test_a_manual_run_stands_for_the_latest_census_day() -> None:
    from pendulum import datetime

    from npd.timetables import ReferenceDayTimetable

    interval = ReferenceDayTimetable("census_days").infer_manual_data_interval(
        run_after=datetime(2024, 3, 1, 10)
    )
    assert interval.start.date() == dt.date(2024, 1, 18) == interval.end.date()


def test_the_plugin_registers_the_timetable() -> None:
    from airflow import plugins_manager

    assert "npd.timetables.ReferenceDayTimetable" in plugins_manager.get_timetables_plugins()


def _dag_with(timetable):
    from airflow.sdk import DAG

    with DAG(
        "tt_probe", schedule=timetable, start_date=dt.datetime(2015, 9, 1, tzinfo=UTC)
    ) as probe:
        pass
    return probe


def test_an_unregistered_timetable_is_caught_by_serialisation() -> None:
    from airflow.exceptions import SerializationError
    from airflow.serialization.helpers import TimetableNotRegistered
    from airflow.serialization.serialized_objects import DagSerialization

    from npd.timetables import ReferenceDayTimetable

    class NotInAnyPlugin(ReferenceDayTimetable):
        pass

    DagSerialization.to_dict(_dag_with(ReferenceDayTimetable("census_days")))  # registered: fine
    with pytest.raises(SerializationError, match=r"NotInAnyPlugin' is not registered") as err:
        DagSerialization.to_dict(_dag_with(NotInAnyPlugin("census_days")))
    assert isinstance(err.value.__cause__, TimetableNotRegistered)


def test_serialised_census_dag_backfills_one_run_per_published_census_day() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    back = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags["npd_school_census"]))
    assert back.timetable.serialize() == {"calendar": "census_days", "lag_days": 0}
    infos = list(
        back.iter_dagrun_infos_between(
            dt.datetime(2023, 9, 1, tzinfo=UTC), dt.datetime(2024, 8, 31, tzinfo=UTC)
        )
    )
    assert [i.logical_date.date().isoformat() for i in infos] == [
        "2023-10-05",
        "2024-01-18",
        "2024-05-16",
    ]


@pytest.mark.parametrize(
    ("params", "logical", "expected"),
    [
        ({}, dt.datetime(2024, 1, 18, tzinfo=UTC), (2023, Term.SPRING, "spring census day")),
        ({}, dt.datetime(2024, 3, 1, 9, tzinfo=UTC), (2023, Term.SPRING, "the latest")),
        ({"academic_year": "2022/23", "term": "summer"}, None, (2022, Term.SUMMER, "params")),
        ({"academic_year": None, "term": None}, dt.datetime(2024, 10, 3, tzinfo=UTC), (2024, Term.AUTUMN, "autumn")),
    ],
)  # fmt: skip
def test_a_run_finds_its_partition_in_params_or_its_logical_date(params, logical, expected) -> None:
    from npd.airflow_tasks import partition_for_run

    partition, how = partition_for_run("school_census", params, logical)
    assert (partition.year, partition.term) == (AcademicYear(expected[0]), expected[1])
    assert expected[2] in how


def test_a_run_that_cannot_name_its_partition_says_so() -> None:
    from npd.airflow_tasks import partition_for_run

    with pytest.raises(ValueError, match="no logical date"):
        partition_for_run("school_census", {}, None)
    with pytest.raises(ValueError, match="term given without academic_year"):
        partition_for_run("school_census", {"term": "autumn"}, None)


def test_only_transient_errors_are_retried() -> None:
    import duckdb

    from ingest.errors import InputError
    from npd.airflow_tasks import is_transient
    from warehouse.lock import LockTimeout

    assert is_transient(LockTimeout("busy"))
    assert is_transient(duckdb.IOException("could not set lock"))
    assert is_transient(ConnectionResetError())
    assert not is_transient(InputError("f.csv", "bad", row=3, field="upn"))
    assert not is_transient(KeyError("x"))
