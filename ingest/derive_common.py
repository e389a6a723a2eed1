"""SQL pieces every feed's derivation shares: record keys, age, NC year, code groupings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from core.codes import language_group_major_sql, mapping, sql_case
from core.feeds import Feed
from core.periods import AcademicYear, Term

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class DeriveContext:
    year: AcademicYear
    term: Term | None
    load_id: str


Derive = Callable[["duckdb.DuckDBPyConnection", DeriveContext], Any]


def derive_of(feed: Feed) -> Derive:
    """The feed's derive(con, ctx), which creates table `records` from the staged tables."""
    return import_module(feed.derive_module).derive


def record_key(alias: str) -> str:
    """Stable record key: the source file and line, unique within a partition."""
    return f"{alias}._source_file || '#' || {alias}._source_row"


def age_start_of_year(dob: str, year: AcademicYear) -> str:
    """Age on 31 August before the academic year, which sets the national curriculum year."""
    return f"({year.start} - year({dob}) - CASE WHEN month({dob}) >= 9 THEN 1 ELSE 0 END)"


def expected_ncyear(age: str) -> str:
    return (
        f"(CASE WHEN {age} = 2 THEN 'N1' WHEN {age} = 3 THEN 'N2' WHEN {age} = 4 THEN 'R' "
        f"WHEN {age} BETWEEN 5 AND 18 THEN CAST({age} - 4 AS VARCHAR) END)"
    )


def ethnicity_columns(expr: str) -> str:
    """Main code, NPD major group: extended codes fold into their main code."""
    main = sql_case(mapping("ethnicity_main"), expr)
    major = sql_case(mapping("ethnic_group_major"), main, default="'UNCL'")
    return f"{main} AS ethnicity_main, {major} AS ethnic_group_major"


def language_group(expr: str) -> str:
    return f"{language_group_major_sql(expr)} AS language_group_major"


def la_from_return(alias: str) -> str:
    """LA code from a return folder named LA<nnn>, for returns without a school table."""
    return f"TRY_CAST(regexp_extract({alias}._return, '^LA(\\d{{3}})$', 1) AS INTEGER)"
