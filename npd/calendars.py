"""When each feed's partitions fall due: the reference days the schedules run on.

One calendar per kind of return, each a function from an academic year to its
reference days. The Airflow timetable, the mapping from a run's logical date to
its partition, and the order `npd backfill` runs history in all read these, so a
scheduled run, a backfilled run and a CLI backfill agree on which partition a day
means. Facts and assumptions (marked [U]) are in docs/operations.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.periods import TERMS, AcademicYear, Term, academic_year_of, nth_weekday

_MONDAY, _TUESDAY, _THURSDAY = 0, 1, 3


@dataclass(frozen=True, order=True)
class Release:
    """One reference day of a feed: the partition (year, term) it is the day of."""

    day: dt.date
    order: int  # feed order, to break ties between feeds sharing a day
    feed: str
    year: AcademicYear
    term: Term | None
    label: str  # e.g. "autumn census day", "R14 return"


Events = Callable[[AcademicYear], list[tuple[dt.date, Term | None, str]]]


def census_days(year: AcademicYear) -> list[tuple[dt.date, Term | None, str]]:
    """School census: first Thursday of October, third of January, third of May (FEEDS.md §2)."""
    return [(year.census_date(t), t, f"{t.value} census day") for t in TERMS]


def as_at_31_march(year: AcademicYear) -> list[tuple[dt.date, Term | None, str]]:
    """SSDA903 and CIN census: the year ending 31 March, inside the academic year."""
    return [(dt.date(year.start + 1, 3, 31), None, "as at 31 March")]


def _release(month: int, weekday: int, n: int, label: str) -> Events:
    """A key stage's results, released once a year after the academic year ends [U]."""

    def events(year: AcademicYear) -> list[tuple[dt.date, Term | None, str]]:
        return [(nth_weekday(year.start + 1, month, weekday, n), None, label)]

    return events


def working_day(year: int, month: int, n: int) -> dt.date:
    """The n-th working day (Monday to Friday; bank holidays not counted [U]) of a month."""
    day, seen = dt.date(year, month, 1), 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen == n:
                return day
        day += dt.timedelta(days=1)


def _next_working(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def ilr_returns(year: AcademicYear) -> list[tuple[dt.date, Term | None, str]]:
    """ILR: R01 (August) to R12 (July) close on the 4th working day of the next month;
    R13 and R14, the year's final returns, on 14 September and 16 October [U]."""
    events: list[tuple[dt.date, Term | None, str]] = []
    for period in range(1, 13):
        month = (8 + period - 1) % 12 + 1  # the month after the period month (Aug = R01)
        cal_year = year.start + (month < 9)
        events.append((working_day(cal_year, month, 4), None, f"R{period:02d} return"))
    events.append((_next_working(dt.date(year.start + 1, 9, 14)), None, "R13 return"))
    events.append((_next_working(dt.date(year.start + 1, 10, 16)), None, "R14 return"))
    return events


CALENDARS: dict[str, Events] = {
    "census_days": census_days,
    "as_at_31_march": as_at_31_march,
    "early_years_results": _release(9, _MONDAY, 1, "provisional results"),
    "key_stage_2_results": _release(9, _MONDAY, 1, "provisional results"),
    "key_stage_4_results": _release(10, _THURSDAY, 3, "provisional results"),
    "key_stage_5_results": _release(11, _THURSDAY, 3, "provisional results"),
    "ilr_returns": ilr_returns,
}

# Which calendar each feed runs on. Termly feeds default to census days; a new annual
# feed adds a line here (without one its DAG runs only when triggered).
FEED_CALENDARS: dict[str, str] = {
    "school_census": "census_days",
    "ssda903": "as_at_31_march",
    "cin": "as_at_31_march",
    "cin_census": "as_at_31_march",
    "phonics": "early_years_results",
    "ks1": "early_years_results",
    "ks2": "key_stage_2_results",
    "ks4": "key_stage_4_results",
    "ks5": "key_stage_5_results",
    "ilr": "ilr_returns",
}


def calendar_of(feed: str) -> str | None:
    from core.feeds import get_feed

    spec = get_feed(feed)
    return FEED_CALENDARS.get(spec.name) or ("census_days" if spec.termly else None)


def _feed_order(feed: str) -> int:
    from core.feeds import FEEDS

    return list(FEEDS).index(feed) if feed in FEEDS else len(FEEDS)


def releases(feed: str, years: Iterable[AcademicYear]) -> list[Release]:
    """The feed's reference days in the given academic years, in date order."""
    name = calendar_of(feed)
    if name is None:
        return []
    order = _feed_order(feed)
    return sorted(
        Release(day, order, feed, year, term, label)
        for year in years
        for day, term, label in CALENDARS[name](year)
    )


def calendar_days(name: str, years: Iterable[AcademicYear]) -> list[dt.date]:
    """Every reference day of a named calendar in the given years (what a timetable runs on)."""
    return sorted({day for year in years for day, _, _ in CALENDARS[name](year)})


def _around(day: dt.date) -> list[AcademicYear]:
    # Events of year Y fall between September of Y and December of Y+1.
    year = academic_year_of(day)
    return [AcademicYear(year.start + d) for d in (-2, -1, 0, 1)]


def release_on(feed: str, day: dt.date) -> Release | None:
    """The feed's release on exactly this day, if it has one."""
    return next((r for r in releases(feed, _around(day)) if r.day == day), None)


def latest_release(feed: str, day: dt.date) -> Release | None:
    """The feed's latest release on or before the day (what a manual run on that day means)."""
    due = [r for r in releases(feed, _around(day)) if r.day <= day]
    return due[-1] if due else None


def history(feeds: Iterable[str], first: AcademicYear, last: AcademicYear) -> list[Release]:
    """One release per partition of the years first..last, in the order the data became final:
    each partition at its last reference day (ILR at R14), ties by feed order."""
    from core.feeds import get_feed

    years = [AcademicYear(y) for y in range(first.start, last.start + 1)]
    final: dict[tuple[str, AcademicYear, Term | None], Release] = {}
    for feed in feeds:
        if calendar_of(feed) is None:  # no calendar yet: at the end of its academic year
            order = _feed_order(feed)
            for year in years:
                for term in get_feed(feed).terms():
                    final[(feed, year, term)] = Release(year.last_day, order, feed, year, term, "")
        for release in releases(feed, years):
            final[(release.feed, release.year, release.term)] = release
    return sorted(final.values())
