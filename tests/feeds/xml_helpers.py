"""Helpers the XML feed tests share (CIN census, ILR): quarantined rows and file accounts."""

from __future__ import annotations

import duckdb

from npd.config import Settings
from npd.partition import Partition


def quarantine_rows(settings: Settings, partition: Partition) -> list[tuple]:
    """(source_table, _source_row, reason, raw) of every quarantined row, in table and row order."""
    path = partition.staging_dir(settings) / "quarantine.parquet"
    return duckdb.sql(
        f"SELECT source_table, _source_row, reason, raw FROM '{path}' ORDER BY 1, 2"
    ).fetchall()


def balanced_account(report, table: str):
    """The one file account of a table, checked to balance (read = staged + quarantined)."""
    (account,) = [f for f in report.files if f.table == table]
    assert account.balanced, account
    return account
