"""The landing layout: where each feed's files arrive (documented in docs/synthetic-data.md, "Landing layout").

Both the generator and the parsers build paths here, so the layout has one definition.

    landing/<year>/<feed>/<term>/LA<nnn>/<yyyy>_<term>_<table>.csv   termly census, one return per LA
    landing/<year>/<feed>/<feed>_<year>.csv                          annual key stage files
    landing/<year>/<feed>/LA<nnn>/<table>.csv                        annual LA returns as CSV tables (SSDA903)
    landing/<year>/<feed>/LA<nnn>/<feed>_<year>_LA<nnn>.xml          annual LA returns as XML (CIN census, SSDA903)
    landing/<year>/ilr/<UKPRN>/ILR-<UKPRN>-<yyyy>-<yyyymmdd>-<hhmmss>-<nn>.xml   ILR, one return per provider
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from core.periods import AcademicYear, Term
from ingest.spec import load_spec

_LA_DIR = re.compile(r"^LA(\d{3})$")


def period_dir(landing: Path, feed: str, year: AcademicYear, term: Term | None = None) -> Path:
    base = landing / year.slug / feed
    return base / Term(term).value if term else base


def census_return_dir(landing: Path, year: AcademicYear, term: Term, la_code: int) -> Path:
    return period_dir(landing, "school_census", year, term) / f"LA{la_code:03d}"


def census_file_prefix(year: AcademicYear, term: Term) -> str:
    """COLLECT exports are named by the calendar year of census day, e.g. 2025_spring."""
    return f"{year.census_date(term).year}_{Term(term).value}"


def census_table_path(
    landing: Path, year: AcademicYear, term: Term, la_code: int, table: str
) -> Path:
    """A census table's file, under the name the spec says the table arrives under in the
    term (e.g. fsmperiod is autumn's fsmperiodsonroll); a name the spec lacks as it is."""
    prefix = census_file_prefix(year, term)
    tables = load_spec("school_census").tables
    name = tables[table].file_names(Term(term))[0] if table in tables else table
    return census_return_dir(landing, year, term, la_code) / f"{prefix}_{name}.csv"


def annual_file_path(landing: Path, feed: str, year: AcademicYear, suffix: str = "csv") -> Path:
    return period_dir(landing, feed, year) / f"{feed}_{year.slug}.{suffix}"


def la_return_dir(landing: Path, feed: str, year: AcademicYear, la_code: int) -> Path:
    """One LA's return for an annual feed (children's social care returns)."""
    return period_dir(landing, feed, year) / f"LA{la_code:03d}"


def la_return_table_path(
    landing: Path, feed: str, year: AcademicYear, la_code: int, table: str
) -> Path:
    """A table of an LA return sent as CSV tables, named as the LAs export it: <table>.csv."""
    return la_return_dir(landing, feed, year, la_code) / f"{table}.csv"


def la_return_xml_path(landing: Path, feed: str, year: AcademicYear, la_code: int) -> Path:
    """An LA return sent as one XML file."""
    return la_return_dir(landing, feed, year, la_code) / f"{feed}_{year.slug}_LA{la_code:03d}.xml"


def provider_return_dir(landing: Path, feed: str, year: AcademicYear, ukprn: int) -> Path:
    """One provider's return for a feed sent per provider (the ILR), named by its UKPRN."""
    return period_dir(landing, feed, year) / f"{ukprn:08d}"


def ilr_file_name(ukprn: int, year: AcademicYear, prepared: dt.datetime, serial: int) -> str:
    """The ESFA's ILR file name: ILR-<UKPRN>-<yyyy>-<yyyymmdd>-<hhmmss>-<nn>.xml, where yyyy
    is the collection year (2425 for 2024/25) and nn the provider's serial number."""
    code = f"{year.start % 100:02d}{(year.start + 1) % 100:02d}"
    return f"ILR-{ukprn:08d}-{code}-{prepared:%Y%m%d-%H%M%S}-{serial:02d}.xml"


def ilr_file_path(
    landing: Path, year: AcademicYear, ukprn: int, prepared: dt.datetime, serial: int
) -> Path:
    return provider_return_dir(landing, "ilr", year, ukprn) / ilr_file_name(
        ukprn, year, prepared, serial
    )


def la_of_return(return_dir: Path) -> int | None:
    """The LA code a return folder is named for (LA202 -> 202), if it follows the layout."""
    match = _LA_DIR.match(return_dir.name)
    return int(match.group(1)) if match else None
