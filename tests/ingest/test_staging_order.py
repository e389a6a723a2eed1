"""Staging keeps read order without sorting only where DuckDB promises to keep it."""

from __future__ import annotations

import duckdb

from core.periods import AcademicYear
from ingest.convert import typed_select
from ingest.spec import load_spec
from ingest.staging import _keeps_order


def test_a_plan_that_only_scans_and_projects_keeps_order_and_a_join_does_not() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS a, range::VARCHAR AS b FROM range(10)")
    assert _keeps_order(con, "SELECT a + 1 AS c, upper(b) AS d FROM t WHERE a > 2")
    assert _keeps_order(con, "WITH x AS (SELECT a FROM t) SELECT a * 2 FROM x")
    # DuckDB turns an IN list of five or more constants into a hash join
    assert not _keeps_order(con, "SELECT a IN (1, 2, 3, 4, 5, 6) AS c FROM t")
    assert not _keeps_order(con, "SELECT t.a FROM t JOIN t u USING (a)")
    assert not _keeps_order(con, "SELECT a, count(*) FROM t GROUP BY a")


def test_census_typing_is_a_plan_that_keeps_order() -> None:
    """Typing every census table is projections only (no IN list became a join)."""
    spec = load_spec("school_census").for_year(AcademicYear(2024))
    con = duckdb.connect()
    for table in spec.tables.values():
        header = [f.source for f in table.fields]
        cols = ", ".join(f'NULL::VARCHAR AS "{h}"' for h in header)
        con.execute(f"CREATE OR REPLACE TABLE raw AS SELECT {cols} FROM range(3)")
        typing = typed_select(table, header)
        typed = ", ".join(f'{c.expr} AS "{c.name}"' for c in typing.columns)
        cleaned = ", ".join(typing.cleaned)
        select = (
            f"WITH c AS (SELECT {cleaned} FROM raw), t AS (SELECT {typed}, "
            f"{', '.join(typing.raw_names)} FROM c) SELECT *, {typing.reason_sql()} AS r FROM t"
        )
        assert _keeps_order(con, select), table.name
