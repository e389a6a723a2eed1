"""Load a partition's research tables: minimised and pseudonymised as the catalogue says.

The research rows are built from the linked records (the key joins as a one-row table)
and the partition is replaced in the warehouse in one transaction together with its
audit.partition_load row, so a failure leaves the previous partition whole. An embedded
DuckDB warehouse builds them itself, reading the linked Parquet in place (no copy through
Python); another warehouse (PostgreSQL) gets them built in a local DuckDB and sent by COPY.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from core.config import Settings
from core.duck import local_duckdb, sql_str
from core.feeds import get_feed
from core.partition import Partition
from governance.keys import load_key
from governance.minimise import research_select
from governance.pseudonymise import KEY_TABLE, register_key
from linkage.master_index import LINKED
from warehouse import audit
from warehouse.load import replace_partition, replace_partition_select
from warehouse_schema.catalogue import load_catalogue


def partition_values(partition: Partition, columns: tuple[str, ...]) -> dict[str, Any]:
    known = {
        "feed": partition.feed,
        "academic_year": partition.year.label,
        "census_term": partition.term_value,
        "term": partition.term_value,
    }
    return {c: known[c] for c in columns}


def build_research(settings: Settings, partition: Partition) -> dict[str, pa.Table]:
    """The research rows for each of the feed's research tables, from the linked records."""
    catalogue = load_catalogue()
    linked = _linked(settings, partition)
    key = load_key(settings)
    built: dict[str, pa.Table] = {}
    with local_duckdb(settings.tmp_dir) as con:
        register_key(con, key)
        for table_key in get_feed(partition.feed).research_tables:
            table = catalogue.table(table_key)
            built[table_key] = con.sql(
                f"SELECT {research_select(table)} FROM read_parquet({sql_str(linked)}) r "
                f"CROSS JOIN {KEY_TABLE} k ORDER BY r._source_file, r._source_row"
            ).to_arrow_table()
    return built


def _load_in_place(settings: Settings, partition: Partition, conn: sa.Connection) -> dict[str, int]:
    """Replace the partition of each research table by one INSERT ... SELECT the warehouse's
    DuckDB runs over the linked Parquet: no rows pass through Python. The linked records are
    already in source order (the link step writes them so), which the insert keeps."""
    catalogue = load_catalogue()
    linked = _linked(settings, partition)
    raw = conn.connection.driver_connection
    register_key(raw, load_key(settings))
    loaded: dict[str, int] = {}
    try:
        for table_key in get_feed(partition.feed).research_tables:
            table = catalogue.table(table_key)
            loaded[table_key] = replace_partition_select(
                conn,
                table,
                partition_values(partition, table.partition_by),
                f"SELECT {research_select(table)} FROM read_parquet({sql_str(linked)}) r "
                f"CROSS JOIN {KEY_TABLE} k",
            )
    finally:
        raw.unregister(KEY_TABLE)
    return loaded


def _linked(settings: Settings, partition: Partition) -> Path:
    linked = partition.staging_dir(settings) / LINKED
    if not linked.exists():
        raise FileNotFoundError(f"{partition.label} has no linked records: run the link step first")
    return linked


def load_research(settings: Settings, partition: Partition, load_id: str) -> dict[str, Any]:
    catalogue = load_catalogue()
    loaded: dict[str, int] = {}
    with audit.warehouse(settings) as conn:
        if conn.dialect.name == "duckdb":
            loaded = _load_in_place(settings, partition, conn)
        else:
            for table_key, data in build_research(settings, partition).items():
                table = catalogue.table(table_key)
                loaded[table_key] = replace_partition(
                    conn, table, partition_values(partition, table.partition_by), data
                )
        bookkeeping = catalogue.table("audit.partition_load")
        rows = [
            {
                **partition_values(partition, bookkeeping.partition_by),
                "research_table": t,
                "load_id": load_id,
                "rows_loaded": n,
                "loaded_at": audit.now(),
            }
            for t, n in loaded.items()
        ]
        replace_partition(
            conn,
            bookkeeping,
            partition_values(partition, bookkeeping.partition_by),
            pa.Table.from_pylist(rows, schema=bookkeeping.arrow_schema()),
        )
    return {"load_id": load_id, "tables": loaded}
