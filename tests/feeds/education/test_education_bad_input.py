"""Bad key stage and ILR input: a clear error naming file, row or element, and field; nothing lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from education_run import YEARS, EducationRun

from core.config import Settings
from core.partition import Partition
from ingest.errors import PartitionBlocked
from ingest.landing import annual_file_path
from pipeline import steps

YEAR = YEARS[0]
ROWS = 8


def _key_stage_file(run: EducationRun, settings: Settings, feed: str) -> tuple[Path, list[str]]:
    """The first ROWS pupils of a generated file, copied into a fresh landing folder."""
    source = annual_file_path(run.settings.landing_dir, feed, YEAR)
    lines = source.read_text(encoding="utf-8").splitlines()[: ROWS + 1]
    target = annual_file_path(settings.landing_dir, feed, YEAR)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target, lines


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _set(lines: list[str], row: int, column: str, value: str) -> None:
    """Set one cell: row 1 is the first data row (file line 2)."""
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)


def _quarantine(settings: Settings, partition: Partition) -> list[tuple]:
    path = partition.staging_dir(settings) / "quarantine.parquet"
    return duckdb.sql(f"SELECT _source_row, reason FROM '{path}' ORDER BY 1").fetchall()


def test_a_phonics_mark_that_is_not_a_number_is_quarantined_naming_row_and_field(
    education_run: EducationRun, settings: Settings
) -> None:
    path, lines = _key_stage_file(education_run, settings, "phonics")
    _set(lines, 3, "PHONICS_MARK", "3O")
    _set(lines, 5, "DOB", "20183112")
    _write(path, lines)
    partition = Partition("phonics", YEAR)
    summary = steps.stage(partition, settings)
    assert (summary["rows_read"], summary["rows_staged"], summary["rows_quarantined"]) == (
        ROWS,
        ROWS - 2,
        2,
    )
    assert _quarantine(settings, partition) == [
        (4, "PHONICS_MARK: not a whole number (value 3O)"),
        (6, "DOB: not a date in the expected format (%Y%m%d) (value withheld)"),
    ]


def test_a_key_stage_file_without_its_dob_column_blocks_the_partition_naming_it(
    education_run: EducationRun, settings: Settings
) -> None:
    path, lines = _key_stage_file(education_run, settings, "ks4")
    header = lines[0].split(",")
    drop = header.index("KS4_DOB")
    _write(
        path, [",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in lines]
    )
    partition = Partition("ks4", YEAR)
    with pytest.raises(
        PartitionBlocked, match=r"ks4_2023-24.csv: required column\(s\) missing: KS4_DOB"
    ):
        steps.stage(partition, settings)
    assert [r for r, _ in _quarantine(settings, partition)] == list(range(2, ROWS + 2))


def test_a_file_of_another_year_in_this_years_folder_is_refused_at_staging(
    education_run: EducationRun, settings: Settings
) -> None:
    """Last year's KS1 file (ACADYR 2022/23) in the 2023/24 folder: refused whole, naming
    both years, every row counted and quarantined."""
    path, lines = _key_stage_file(education_run, settings, "ks1")
    for row in range(1, ROWS + 1):
        _set(lines, row, "ACADYR", "2022/23")
    _write(path, lines)
    partition = Partition("ks1", YEAR)
    with pytest.raises(
        PartitionBlocked, match=r"ACADYR says 2022/23, but the partition is 2023/24"
    ):
        steps.stage(partition, settings)
    from ingest.stage import read_report

    (account,) = read_report(settings, partition).files
    assert (account.status, account.rows_read, account.rows_quarantined) == ("rejected", ROWS, ROWS)


def test_a_year_whose_header_predates_a_rename_is_refused_for_the_missing_column(
    education_run: EducationRun, settings: Settings
) -> None:
    """A 2023/24 KS1 file (GENDER) dropped into 2024/25: SEX is required from 2024/25."""
    source = annual_file_path(education_run.settings.landing_dir, "ks1", YEAR)
    target = annual_file_path(settings.landing_dir, "ks1", YEARS[1])
    target.parent.mkdir(parents=True)
    shutil.copy(source, target)
    with pytest.raises(PartitionBlocked, match=r"required column\(s\) missing: SEX"):
        steps.stage(Partition("ks1", YEARS[1]), settings)
