"""Atomic, idempotent partition replacement.

Within one transaction the partition's old rows are deleted and the new rows
inserted: a rerun of the same input gives the same table, and a failure rolls
back to the previous partition.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from warehouse.bulk import insert_arrow
from warehouse_schema.catalogue import Table, conform, conform_stream


def partition_filter(table: Table, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """WHERE clause for the partition; a NULL partition value matches NULL."""
    missing = [c for c in table.partition_by if c not in values]
    if missing:
        raise ValueError(f"{table.key}: partition value(s) missing for {', '.join(missing)}")
    clauses, params = [], {}
    for i, col in enumerate(table.partition_by):
        if values[col] is None:
            clauses.append(f'"{col}" IS NULL')
        else:
            clauses.append(f'"{col}" = :p{i}')
            params[f"p{i}"] = values[col]
    return " AND ".join(clauses) or "TRUE", params


def replace_partition(
    conn: sa.Connection,
    table: Table,
    values: dict[str, Any],
    data: pa.Table | pa.RecordBatchReader,
) -> int:
    """Replace one partition inside the caller's transaction (rows as a table, or as a
    stream of batches that never sits whole in memory). Returns rows inserted."""
    if isinstance(data, pa.RecordBatchReader):
        rows = conform_stream(table, data)
    else:
        rows = conform(table, data)
    _clear(conn, table, values)
    return insert_arrow(conn, table.schema, table.name, rows)


def replace_partition_select(
    conn: sa.Connection, table: Table, values: dict[str, Any], select: str
) -> int:
    """Replace one partition with the rows of a SELECT the store runs itself, inside the
    caller's transaction (an embedded DuckDB reading Parquet: no rows pass through Python).
    The SELECT must give the table's columns in catalogue order. Returns rows inserted."""
    _clear(conn, table, values)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    target = f'"{table.schema}"."{table.name}"'
    return int(conn.exec_driver_sql(f"INSERT INTO {target} ({cols}) {select}").fetchall()[0][0])


def _clear(conn: sa.Connection, table: Table, values: dict[str, Any]) -> None:
    """Delete the partition's rows, the first half of every replace."""
    where, params = partition_filter(table, values)
    conn.execute(sa.text(f'DELETE FROM "{table.schema}"."{table.name}" WHERE {where}'), params)


def append(conn: sa.Connection, table: Table, data: pa.Table) -> int:
    """Append rows (history tables such as audit.load_run)."""
    return insert_arrow(conn, table.schema, table.name, conform(table, data))
