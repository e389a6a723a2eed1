"""An Airflow timetable that runs a DAG on the reference days of a named calendar.

`ReferenceDayTimetable("census_days")` runs the school census DAG on each census
day; other calendars are in npd/calendars.py. Each run's logical date is its
reference day (midnight UTC), so the task can tell which partition it is for, and
`airflow backfill create` over a date range creates exactly one run per reference
day in it. Registered with Airflow by plugins/npd_plugin.py: a DAG using an
unregistered timetable fails serialisation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from pendulum import UTC, DateTime

from core.periods import AcademicYear, academic_year_of
from npd.calendars import CALENDARS, calendar_days


def _midnight(day: dt.date) -> DateTime:
    return DateTime(day.year, day.month, day.day, tzinfo=UTC)


class ReferenceDayTimetable(Timetable):
    """One run per reference day of a calendar; `lag_days` delays the run, not its date."""

    def __init__(self, calendar: str, lag_days: int = 0) -> None:
        if calendar not in CALENDARS:
            raise ValueError(f"unknown calendar {calendar!r}: choose from {', '.join(CALENDARS)}")
        self.calendar = calendar
        self.lag_days = int(lag_days)
        self.description = (CALENDARS[calendar].__doc__ or calendar).strip().splitlines()[0]

    @property
    def summary(self) -> str:
        return self.calendar.replace("_", " ") + (f" (+{self.lag_days}d)" if self.lag_days else "")

    def serialize(self) -> dict[str, Any]:
        return {"calendar": self.calendar, "lag_days": self.lag_days}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> ReferenceDayTimetable:
        return cls(data["calendar"], data.get("lag_days", 0))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReferenceDayTimetable) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((self.calendar, self.lag_days))

    def _days_near(self, day: dt.date) -> list[dt.date]:
        year = academic_year_of(day)
        return calendar_days(self.calendar, [AcademicYear(year.start + d) for d in (-2, -1, 0, 1)])

    def next_day(self, after: dt.date, inclusive: bool) -> dt.date:
        """The first reference day after (or on, if inclusive) a day."""
        probe = after
        while True:
            for day in self._days_near(probe):
                if day > after or (inclusive and day == after):
                    return day
            probe = dt.date(probe.year + 1, probe.month, 1)

    def last_day(self, on_or_before: dt.date) -> dt.date:
        days = [d for d in self._days_near(on_or_before) if d <= on_or_before]
        return days[-1]

    def _run(self, day: dt.date) -> DagRunInfo:
        at = _midnight(day)
        return DagRunInfo(
            run_after=at.add(days=self.lag_days),
            data_interval=DataInterval.exact(at),
            partition_date=None,
            partition_key=None,
        )

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """A manual run stands for the latest reference day on or before it was triggered."""
        return DataInterval.exact(_midnight(self.last_day(run_after.date())))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            day = self.next_day(last_automated_data_interval.start.date(), inclusive=False)
        elif restriction.earliest is None:
            return None
        else:
            # A start time after midnight has missed that day's run.
            start = restriction.earliest
            day = self.next_day(start.date(), inclusive=start.time() == dt.time(0))
        if not restriction.catchup:
            # Without catchup, missed reference days are not run one by one: only the latest
            # (operators load the others with `airflow backfill create` or `npd backfill`).
            day = max(day, self.last_day(DateTime.now(UTC).date()))
        if restriction.latest is not None and _midnight(day) > restriction.latest:
            return None
        return self._run(day)
