"""Helpers the XML feed tests share (CIN census, ILR): quarantined rows and file accounts."""

from __future__ import annotations

import json
import re

import duckdb

from core.config import Settings
from core.partition import Partition


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


# -- hostile and malformed XML (tests/feeds/test_xml_hostile.py) ------------------------------

IDENTIFYING_ELEMENTS = (
    "LAchildID",
    "UPN",
    "FormerUPN",
    "PersonBirthDate",
    "LearnRefNumber",
    "ULN",
    "FamilyName",
    "GivenNames",
    "DateOfBirth",
    "Postcode",
    "PostcodePrior",
    "CHILDID",
    "DOB",
    "HOME_POST",
    "PL_POST",
)


def land_bytes(settings: Settings, partition: Partition, folder: str, name: str, data: bytes):
    """Write bytes as the only file of one return folder of a partition's landing."""
    target = settings.landing_dir / partition.year.slug / partition.feed / folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def warning_rows(settings: Settings, partition: Partition) -> list[tuple]:
    """(source_table, _source_row, warning) of every per-row warning, in table and row order."""
    path = partition.staging_dir(settings) / "warnings.parquet"
    return duckdb.sql(
        f"SELECT source_table, _source_row, warning FROM '{path}' ORDER BY 1, 2, 3"
    ).fetchall()


def every_account_balanced(report) -> None:
    for account in report.files:
        assert account.balanced, account


def messages(report) -> list[str]:
    return [m for f in report.files for m in f.messages]


def staged_text(settings: Settings, partition: Partition, report) -> str:
    """Every text a stage run leaves behind, decoded: quarantine, warnings, staged tables,
    records and the report (Parquet is compressed: a byte scan alone would miss a leak)."""
    out = [json.dumps(report.to_dict(), default=str)]
    folder = partition.staging_dir(settings)
    for path in sorted(folder.rglob("*.parquet")):
        rows = duckdb.sql(f"SELECT * FROM '{path}'").fetchall()
        out.append(json.dumps(rows, default=str, ensure_ascii=False))
    return "\n".join(out)


def identifiers_in(data: bytes) -> set[str]:
    """The values of identifying elements in an XML return (to check no message quotes one)."""
    found: set[str] = set()
    for name in IDENTIFYING_ELEMENTS:
        pattern = rf"<{name}>([^<]+)</{name}>".encode()
        found |= {m.decode("utf-8", "replace").strip() for m in re.findall(pattern, data)}
    return {v for v in found if len(v) >= 4}


def assert_quotes_no_identifier(report, rows: list[tuple], data: bytes) -> None:
    """No account message nor quarantine reason quotes an identifier found in the file."""
    said = "\n".join(messages(report) + [r[2] for r in rows])
    leaked = sorted(v for v in identifiers_in(data) if v in said)
    assert not leaked, f"{len(leaked)} identifier(s) quoted"
