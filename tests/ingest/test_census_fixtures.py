"""The published school census sample stages unchanged, with its exact row counts."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ingest.stage import stage
from npd.config import Settings
from npd.partition import Partition

COUNTS = {"pupilonroll": 9498, "pupilnolongeronroll": 375, "senneeds": 16954, "fsmperiod": 25889}
SPRING_2025 = dt.date(2025, 1, 16)


@pytest.fixture
def staged(settings: Settings, shared_fixtures: Path):
    period = settings.landing_dir / "2024-25" / "school_census" / "spring"
    period.mkdir(parents=True)
    for csv in (shared_fixtures / "school_census").glob("*.csv"):
        shutil.copy(csv, period / csv.name)
    partition = Partition.of("school_census", "2024/25", "spring")
    return (
        stage(settings, partition),
        partition.staging_dir(settings),
        shared_fixtures / "school_census",
    )


def test_every_row_of_every_table_is_staged(staged) -> None:
    report, _, _ = staged
    by_table = {f.table: f for f in report.files}
    assert {t: by_table[t].rows_read for t in COUNTS} == COUNTS
    assert {t: by_table[t].rows_staged for t in COUNTS} == COUNTS
    assert all(f.rows_quarantined == 0 and f.balanced for f in report.files)
    assert report.records == COUNTS["pupilonroll"]
    assert report.blocking == []


def test_lineage_names_file_and_line(staged) -> None:
    _, folder, _ = staged
    rows = duckdb.sql(
        f"SELECT _source_file, min(_source_row), max(_source_row), count(DISTINCT _source_row) "
        f"FROM '{folder}/tables/pupilonroll.parquet' GROUP BY 1"
    ).fetchall()
    assert rows == [("2024-25/school_census/spring/2025_spring_pupilonroll.csv", 2, 9499, 9498)]


def test_fsm_eligibility_on_census_day_is_derived_from_periods(staged) -> None:
    _, folder, source = staged
    periods = pd.read_csv(source / "2025_spring_fsmperiod.csv", dtype=str)
    start = pd.to_datetime(periods.fsmstartdate, format="%Y-%b-%d %H:%M:%S")
    end = pd.to_datetime(periods.fsmenddate, format="%Y-%b-%d %H:%M:%S")
    day = pd.Timestamp(SPRING_2025)
    on_day = periods[(start <= day) & (end.isna() | (end >= day))]
    expected = set(on_day.pupilonrolltableid)
    got = duckdb.sql(
        f"SELECT pupil_on_roll_id FROM '{folder}/records.parquet' WHERE fsm_eligible"
    ).fetchall()
    assert {g[0] for g in got} == expected
    assert len(expected) > 100


def test_sen_types_by_rank_and_sex_harmonised(staged) -> None:
    _, folder, source = staged
    sen = pd.read_csv(source / "2025_spring_senneeds.csv", dtype=str)
    primary = sen[sen.sentyperank.astype(float) == 1].groupby("pupilonrolltableid").sentype.min()
    got = dict(
        duckdb.sql(
            f"SELECT pupil_on_roll_id, primary_sen_type FROM '{folder}/records.parquet' "
            "WHERE primary_sen_type IS NOT NULL"
        ).fetchall()
    )
    assert got == {k: v.upper() for k, v in primary.items()}
    sexes = duckdb.sql(f"SELECT DISTINCT sex FROM '{folder}/records.parquet' ORDER BY 1").fetchall()
    assert sexes == [("F",), ("M",)]


def test_fixture_upns_are_placeholders_and_counted_as_bad_format(staged) -> None:
    _, folder, _ = staged
    statuses = duckdb.sql(
        f"SELECT upn_status, count(*) FROM '{folder}/records.parquet' GROUP BY 1"
    ).fetchall()
    assert statuses == [("bad_format", COUNTS["pupilonroll"])]
