"""A local DuckDB engine for work inside a step (staging, linking, minimising).

Steps do their heavy lifting in an in-memory DuckDB that spills to var/tmp, so
memory stays bounded as inputs grow and no per-row Python runs on hot paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


def threads() -> int:
    return int(os.environ.get("NPD_THREADS") or os.cpu_count() or 2)


# The buffer memory of each DuckDB a step opens (its own, and an embedded store's): what
# keeps a step's memory bounded whatever the size of its input, since tables and
# intermediates beyond it spill to the temp directory under NPD_HOME. A whole `npd run`
# holds about 450 MB of Python (Great Expectations, pandas, Arrow) beside it by the link
# step, and hostile inputs must stay under 1 GB of peak RSS (docs/bad-input.md): at 256 MB
# the 96 MB census file of the bad-input corpus peaks near 700 MB. National-size runs set
# more (NPD_DUCKDB_MEMORY=4GB, as the benchmarks and docker/compose.yaml do): a 1M-pupil
# year loads at the default too, but spilling costs it about a third more CPU time.
DEFAULT_MEMORY = "256MB"


def memory_limit() -> str:
    return os.environ.get("NPD_DUCKDB_MEMORY") or DEFAULT_MEMORY


@contextmanager
def local_duckdb(tmp_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": threads(),
            "memory_limit": memory_limit(),
            "temp_directory": str(tmp_dir),
            "preserve_insertion_order": True,
        },
    )
    try:
        yield con
    finally:
        con.close()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_str(value: str | os.PathLike[str]) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """One value from a query, fetched fully: DuckDB 2.0 refuses new work on a connection
    while a result is only partly read."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def columns_of(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The column names of a table, view or parenthesised query."""
    return {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
