"""Academic years, census terms and census reference days.

Census days follow the published rule (FEEDS.md §2): autumn is the first
Thursday of October, spring the third Thursday of January, summer the third
Thursday of May.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

_THURSDAY = 3


class Term(StrEnum):
    AUTUMN = "autumn"
    SPRING = "spring"
    SUMMER = "summer"

    @property
    def npd_code(self) -> str:
        """The NPD suffix used in extract names (AUT, SPR, SUM)."""
        return {"autumn": "AUT", "spring": "SPR", "summer": "SUM"}[self.value]


TERMS: tuple[Term, ...] = (Term.AUTUMN, Term.SPRING, Term.SUMMER)

_YEAR_RE = re.compile(r"^\s*(\d{4})\s*(?:[/-]\s*(\d{2}|\d{4}))?\s*$")


@dataclass(frozen=True, order=True)
class AcademicYear:
    """An academic year, 1 September to 31 August, named by its first calendar year."""

    start: int

    @classmethod
    def parse(cls, text: str | int | AcademicYear) -> AcademicYear:
        """Accept 2023/24, 2023-24, 2023-2024 or 2023."""
        if isinstance(text, AcademicYear):
            return text
        if isinstance(text, int):
            return cls(text)
        match = _YEAR_RE.match(str(text))
        if not match:
            raise ValueError(f"not an academic year: {text!r} (expected e.g. 2023/24)")
        start = int(match.group(1))
        if match.group(2):
            end = int(match.group(2))
            expected = (start + 1) % 100 if len(match.group(2)) == 2 else start + 1
            if end != expected:
                raise ValueError(f"not an academic year: {text!r} (years must be consecutive)")
        return cls(start)

    @property
    def label(self) -> str:
        return f"{self.start}/{(self.start + 1) % 100:02d}"

    @property
    def slug(self) -> str:
        """Folder-safe name, e.g. 2023-24."""
        return f"{self.start}-{(self.start + 1) % 100:02d}"

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.start, 9, 1)

    @property
    def last_day(self) -> dt.date:
        return dt.date(self.start + 1, 8, 31)

    def census_date(self, term: Term | str) -> dt.date:
        term = Term(term)
        if term is Term.AUTUMN:
            return nth_weekday(self.start, 10, _THURSDAY, 1)
        if term is Term.SPRING:
            return nth_weekday(self.start + 1, 1, _THURSDAY, 3)
        return nth_weekday(self.start + 1, 5, _THURSDAY, 3)

    def next(self) -> AcademicYear:
        return AcademicYear(self.start + 1)

    def __str__(self) -> str:
        return self.label


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th given weekday (Monday=0) of a month."""
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def academic_year_of(day: dt.date) -> AcademicYear:
    """The academic year a calendar day falls in."""
    return AcademicYear(day.year if day.month >= 9 else day.year - 1)


def year_range(first: str | AcademicYear, last: str | AcademicYear) -> list[AcademicYear]:
    a, b = AcademicYear.parse(first), AcademicYear.parse(last)
    if b < a:
        raise ValueError(f"year range runs backwards: {a} to {b}")
    return [AcademicYear(y) for y in range(a.start, b.start + 1)]


def age_on(dob: dt.date, day: dt.date) -> int:
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))
