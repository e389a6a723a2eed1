"""Bulk inserts of Arrow tables: native Arrow scans into DuckDB, COPY into PostgreSQL.

Never DataFrame.to_sql or row inserts for data that grows.
"""

from __future__ import annotations

import io
from itertools import count

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

_names = count(1)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def insert_arrow(
    conn: sa.Connection, schema: str, table: str, data: pa.Table | pa.RecordBatchReader
) -> int:
    """Append an Arrow table or batch stream (columns named as the target's) inside the
    caller's transaction. Returns rows inserted."""
    if isinstance(data, pa.Table) and data.num_rows == 0:
        return 0
    backend = conn.dialect.name
    if backend == "duckdb":
        return _insert_duckdb(conn, schema, table, data)
    if backend == "postgresql":
        return _copy_postgres(conn, schema, table, data)
    raise NotImplementedError(f"no bulk loader for {backend}")


def _insert_duckdb(
    conn: sa.Connection, schema: str, table: str, data: pa.Table | pa.RecordBatchReader
) -> int:
    raw = conn.connection.driver_connection
    view = f"_arrow_in_{next(_names)}"
    raw.register(view, data)
    try:
        cols = ", ".join(_quote(c) for c in data.schema.names)
        inserted = conn.exec_driver_sql(
            f"INSERT INTO {_quote(schema)}.{_quote(table)} ({cols}) SELECT {cols} FROM {view}"
        ).fetchall()
    finally:
        raw.unregister(view)
    return int(inserted[0][0])


def _copy_postgres(
    conn: sa.Connection,
    schema: str,
    table: str,
    data: pa.Table | pa.RecordBatchReader,
    batch_rows: int = 500_000,
) -> int:
    raw = conn.connection.driver_connection
    cols = ", ".join(_quote(c) for c in data.schema.names)
    batches = data.to_batches(max_chunksize=batch_rows) if isinstance(data, pa.Table) else data
    rows = 0
    sql = (
        f"COPY {_quote(schema)}.{_quote(table)} ({cols}) FROM STDIN "
        f"(FORMAT csv, HEADER false, NULL '\\N', FORCE_NULL ({cols}))"
    )
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with raw.cursor() as cur, cur.copy(sql) as copy:
        for batch in batches:
            buffer = io.BytesIO()
            pacsv.write_csv(
                _nulls_marked(pa.Table.from_batches([batch])), buffer, write_options=options
            )
            copy.write(buffer.getvalue())
            rows += batch.num_rows
    return rows


def _nulls_marked(data: pa.Table) -> pa.Table:
    """Render every column as text with \\N for NULL, so empty strings stay empty strings."""
    import pyarrow.compute as pc

    arrays = []
    for column in data.columns:
        text = pc.cast(column, pa.string()) if column.type != pa.string() else column
        if pa.types.is_boolean(column.type):
            text = pc.if_else(column, "true", "false")
        arrays.append(pc.fill_null(text, "\\N"))
    return pa.Table.from_arrays(arrays, names=data.column_names)


_PG_TYPES = {
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.int16(): "SMALLINT",
    pa.float64(): "DOUBLE PRECISION",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


def create_temp(conn: sa.Connection, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
    """A temporary table holding an Arrow table or batch stream, for joins inside the store."""
    if conn.dialect.name == "duckdb":
        raw = conn.connection.driver_connection
        view = f"_arrow_tmp_{next(_names)}"
        raw.register(view, data)
        try:
            conn.exec_driver_sql(
                f"CREATE OR REPLACE TEMP TABLE {_quote(name)} AS SELECT * FROM {view}"
            )
        finally:
            raw.unregister(view)
        return
    cols = ", ".join(f"{_quote(f.name)} {_PG_TYPES[f.type]}" for f in data.schema)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quote(name)}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {_quote(name)} ({cols})")
    _copy_postgres(conn, "pg_temp", name, data)


def query_arrow(conn: sa.Connection, sql: str, schema: pa.Schema | None = None) -> pa.Table:
    """Run a query inside the caller's transaction and return the result as Arrow.

    On PostgreSQL the rows stream out through COPY; give `schema` so identifiers made of
    digits stay text. NULL and the empty string stay distinct.
    """
    if conn.dialect.name == "duckdb":
        result = conn.connection.driver_connection.sql(sql).to_arrow_table()
        return result.cast(schema) if schema is not None else result
    raw = conn.connection.driver_connection
    buffer = io.BytesIO()
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER true)") as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    convert = pacsv.ConvertOptions(
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t", "true"],
        false_values=["f", "false"],
        column_types=dict(zip(schema.names, schema.types, strict=True))
        if schema is not None
        else None,
    )
    result = pacsv.read_csv(buffer, convert_options=convert)
    return result.cast(schema) if schema is not None else result
