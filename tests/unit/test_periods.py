"""Census days against the published dates (FEEDS.md §2), and academic-year parsing."""

from __future__ import annotations

import datetime as dt

import pytest

from core.periods import AcademicYear, Term, academic_year_of, year_range

PUBLISHED = [
    ("2022/23", dt.date(2022, 10, 6), dt.date(2023, 1, 19), dt.date(2023, 5, 18)),
    ("2023/24", dt.date(2023, 10, 5), dt.date(2024, 1, 18), dt.date(2024, 5, 16)),
    ("2024/25", dt.date(2024, 10, 3), dt.date(2025, 1, 16), dt.date(2025, 5, 15)),
]


@pytest.mark.parametrize(("year", "autumn", "spring", "summer"), PUBLISHED)
def test_census_days_match_published_dates(year, autumn, spring, summer) -> None:
    ay = AcademicYear.parse(year)
    assert ay.census_date(Term.AUTUMN) == autumn
    assert ay.census_date(Term.SPRING) == spring
    assert ay.census_date(Term.SUMMER) == summer


@pytest.mark.parametrize("text", ["2023/24", "2023-24", "2023-2024", "2023", " 2023/24 "])
def test_academic_year_forms(text: str) -> None:
    year = AcademicYear.parse(text)
    assert (year.label, year.slug) == ("2023/24", "2023-24")


@pytest.mark.parametrize("text", ["2023/25", "23/24", "twenty"])
def test_bad_academic_years_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an academic year"):
        AcademicYear.parse(text)


def test_year_of_a_day_and_ranges() -> None:
    assert academic_year_of(dt.date(2024, 8, 31)).label == "2023/24"
    assert academic_year_of(dt.date(2024, 9, 1)).label == "2024/25"
    assert [y.label for y in year_range("2022/23", "2024/25")] == ["2022/23", "2023/24", "2024/25"]
    with pytest.raises(ValueError):
        year_range("2024/25", "2022/23")
