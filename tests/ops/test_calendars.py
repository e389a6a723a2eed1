"""Reference days: the census days published in FEEDS.md, and calendars that never collide."""

from __future__ import annotations

import datetime as dt

import pytest

from core.periods import AcademicYear, Term
from npd.calendars import (
    CALENDARS,
    calendar_of,
    history,
    ilr_returns,
    latest_release,
    release_on,
    releases,
)

# FEEDS.md §2: dates read in The Key and East Sussex pages ([V]), and the 2025/26 prediction.
PUBLISHED = {
    2022: ("2022-10-06", "2023-01-19", "2023-05-18"),
    2023: ("2023-10-05", "2024-01-18", "2024-05-16"),
    2024: ("2024-10-03", "2025-01-16", "2025-05-15"),
    2025: ("2025-10-02", "2026-01-15", "2026-05-21"),
}


@pytest.mark.parametrize("start", sorted(PUBLISHED))
def test_census_releases_are_the_published_census_days(start: int) -> None:
    got = releases("school_census", [AcademicYear(start)])
    assert [(r.day.isoformat(), r.term) for r in got] == list(
        zip(PUBLISHED[start], (Term.AUTUMN, Term.SPRING, Term.SUMMER), strict=True)
    )
    assert all(r.day.weekday() == 3 for r in got)  # Thursdays


@pytest.mark.parametrize("name", sorted(CALENDARS))
def test_no_calendar_gives_two_partitions_the_same_day(name: str) -> None:
    years = [AcademicYear(y) for y in range(2015, 2031)]
    days = [day for y in years for day, _, _ in CALENDARS[name](y)]
    assert len(days) == len(set(days)), f"{name}: two releases share a day"
    for year in years:  # each year's releases fall after the year starts and within 15 months
        for day, _, _ in CALENDARS[name](year):
            assert year.first_day <= day <= dt.date(year.start + 1, 12, 31)


def test_ilr_returns_r01_to_r14_in_order_on_working_days() -> None:
    events = ilr_returns(AcademicYear(2024))
    assert [label for _, _, label in events] == [f"R{n:02d} return" for n in range(1, 15)]
    days = [day for day, _, _ in events]
    assert days == sorted(days) and all(d.weekday() < 5 for d in days)
    assert days[0] == dt.date(2024, 9, 5)  # 4th working day of September 2024
    assert days[-1] == dt.date(2025, 10, 16)


def test_a_day_names_its_partition_exactly_or_the_latest_before_it() -> None:
    assert release_on("school_census", dt.date(2024, 1, 18)).term is Term.SPRING
    assert release_on("school_census", dt.date(2024, 1, 19)) is None
    late = latest_release("school_census", dt.date(2024, 3, 1))
    assert (late.year, late.term) == (AcademicYear(2023), Term.SPRING)
    ks2 = latest_release("ks2", dt.date(2025, 8, 1))
    assert ks2.year == AcademicYear(2023)  # 2024/25 results are not out until September 2025


def test_every_registered_feed_has_a_calendar() -> None:
    from core.feeds import FEEDS

    missing = [name for name in FEEDS if calendar_of(name) is None]
    assert missing == [], f"add a line to FEED_CALENDARS in npd/calendars.py for {missing}"


def test_history_runs_each_partition_once_in_the_order_its_data_became_final() -> None:
    got = history(["ks2", "school_census"], AcademicYear(2023), AcademicYear(2024))
    assert [(r.feed, r.year.start, r.term) for r in got] == [
        ("school_census", 2023, Term.AUTUMN),
        ("school_census", 2023, Term.SPRING),
        ("school_census", 2023, Term.SUMMER),
        ("ks2", 2023, None),
        ("school_census", 2024, Term.AUTUMN),
        ("school_census", 2024, Term.SPRING),
        ("school_census", 2024, Term.SUMMER),
        ("ks2", 2024, None),
    ]
