"""The feeds the pipeline knows: one entry each, naming its spec, tables, suite and records.

Generic steps (stage, validate, link, load) look a feed up here and never branch on
its name, so adding a feed is an entry here, a spec, a derivation and catalogue rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from npd.periods import TERMS, AcademicYear, Term

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class DeriveContext:
    year: AcademicYear
    term: Term | None
    load_id: str


Derive = Callable[["duckdb.DuckDBPyConnection", DeriveContext], Any]


@dataclass(frozen=True)
class Feed:
    name: str
    label: str
    termly: bool
    primary_table: str  # the staged table whose rows become the feed's records
    research_tables: tuple[str, ...]  # catalogue tables built from the records
    suite: str
    derive_module: str  # module with derive(con, ctx) creating table `records`

    def derive(self) -> Derive:
        from importlib import import_module

        return import_module(self.derive_module).derive

    def terms(self) -> tuple[Term | None, ...]:
        return TERMS if self.termly else (None,)

    def period_label(self, year: AcademicYear, term: Term | None) -> str:
        return f"{year.label} {term.value}" if term else year.label


FEEDS: dict[str, Feed] = {
    "school_census": Feed(
        name="school_census",
        label="School census",
        termly=True,
        primary_table="pupilonroll",
        research_tables=("research.census_pupil",),
        suite="school_census",
        derive_module="ingest.derive_census",
    ),
    "ks2": Feed(
        name="ks2",
        label="Key stage 2",
        termly=False,
        primary_table="ks2",
        research_tables=("research.ks2_result",),
        suite="ks2",
        derive_module="ingest.derive_ks2",
    ),
}


def get_feed(name: str) -> Feed:
    try:
        return FEEDS[name]
    except KeyError:
        known = ", ".join(FEEDS)
        raise KeyError(f"unknown feed {name!r} (known: {known})") from None


def check_period(feed: Feed, term: Term | str | None) -> Term | None:
    """A termly feed needs a term; an annual feed takes none."""
    if feed.termly:
        if term is None:
            raise ValueError(f"{feed.name} is termly: give a term (autumn, spring or summer)")
        return Term(term)
    if term not in (None, ""):
        raise ValueError(f"{feed.name} is annual: it takes no term")
    return None
