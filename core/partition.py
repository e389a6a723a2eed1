"""A partition: one feed for one academic year (and census term, for termly feeds).

It is the unit that stages, validates, links and loads atomically, and the key
under which every step finds the previous step's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.periods import AcademicYear, Term


@dataclass(frozen=True, order=True)
class Partition:
    feed: str
    year: AcademicYear
    term: Term | None = None

    @classmethod
    def of(cls, feed: str, year: str | AcademicYear, term: str | Term | None = None) -> Partition:
        from core.feeds import check_period, get_feed

        spec = get_feed(feed)
        return cls(
            feed=spec.name, year=AcademicYear.parse(year), term=check_period(spec, term or None)
        )

    @property
    def term_slug(self) -> str:
        return self.term.value if self.term else "annual"

    @property
    def key(self) -> str:
        return f"{self.feed}/{self.year.slug}/{self.term_slug}"

    @property
    def label(self) -> str:
        return f"{self.feed} {self.year.label}" + (f" {self.term.value}" if self.term else "")

    @property
    def term_value(self) -> str | None:
        return self.term.value if self.term else None

    def staging_dir(self, settings: Settings) -> Path:
        return settings.staging_dir / self.feed / self.year.slug / self.term_slug

    def as_params(self) -> dict[str, str | None]:
        return {"feed": self.feed, "academic_year": self.year.label, "term": self.term_value}
