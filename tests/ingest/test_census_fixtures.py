"""The published school census sample: read unchanged, and staged in full once its
placeholder identifiers are replaced by well-formed ones (the layout is what it tests)."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.config import Settings
from core.partition import Partition
from ingest.stage import stage
from linkage.identifiers import make_upns

COUNTS = {"pupilonroll": 9498, "pupilnolongeronroll": 375, "senneeds": 16954, "fsmperiod": 25889}
SPRING_2025 = dt.date(2025, 1, 16)


PARTITION = Partition.of("school_census", "2024/25", "spring")


def _period(settings: Settings) -> Path:
    period = settings.landing_dir / "2024-25" / "school_census" / "spring"
    period.mkdir(parents=True)
    return period


def with_wellformed_identifiers(source: Path, target: Path, first: int = 0) -> None:
    """The sample's identifiers are hashes (malformed: every pupil would be quarantined);
    give each pupil a valid UPN (serials from `first`, so two pupil files never share one)
    and no former UPN or ULN, leaving the rest of the layout."""
    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, n = rows[0], len(rows) - 1
    serial = first + np.arange(n)
    upns = make_upns(np.full(n, 202), 2001 + serial // 1000, np.full(n, 19), serial % 1000)
    for row, upn in zip(rows[1:], upns, strict=True):
        row[header.index("upn")] = str(upn)
        row[header.index("formerupn")] = ""
        row[header.index("uniquelearnernumber")] = ""
    with target.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


@pytest.fixture
def staged(settings: Settings, shared_fixtures: Path):
    period = _period(settings)
    for path in (shared_fixtures / "school_census").glob("2025_spring_*.csv"):
        if path.name.endswith(("_pupilonroll.csv", "_pupilnolongeronroll.csv")):
            with_wellformed_identifiers(path, period / path.name)
        else:
            shutil.copy(path, period / path.name)
    return (
        stage(settings, PARTITION),
        PARTITION.staging_dir(settings),
        shared_fixtures / "school_census",
    )


def test_the_unchanged_sample_is_read_in_full_and_its_placeholder_identifiers_quarantined(
    settings: Settings, shared_fixtures: Path
) -> None:
    """Read as published: every row counted; each pupil quarantined naming the malformed
    identifier fields (values withheld), and their SEN and FSM rows follow as orphans."""
    period = _period(settings)
    for path in (shared_fixtures / "school_census").glob("2025_spring_*.csv"):
        shutil.copy(path, period / path.name)
    report = stage(settings, PARTITION)
    by_table = {f.table: f for f in report.files}
    assert {t: by_table[t].rows_read for t in COUNTS} == COUNTS
    assert {t: by_table[t].rows_quarantined for t in COUNTS} == COUNTS
    assert all(f.status == "ok" and f.balanced for f in report.files)
    quarantine = f"'{PARTITION.staging_dir(settings)}/quarantine.parquet'"
    named = duckdb.sql(
        f"SELECT source_table, count(*) FROM {quarantine} WHERE reason LIKE "
        "'upn: malformed UPN%formerupn: malformed UPN%uniquelearnernumber: malformed ULN%' "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert named == [("pupilnolongeronroll", 375), ("pupilonroll", 9498)]
    leaked = duckdb.sql(
        f"SELECT count(*) FROM {quarantine} WHERE reason SIMILAR TO '.*[0-9a-f]{{8}}-.*'"
    ).fetchall()
    assert leaked == [(0,)]  # identifier values are withheld from reasons
    orphans = duckdb.sql(
        f"SELECT count(*) FROM {quarantine} WHERE source_table = 'fsmperiod' "
        "AND reason LIKE 'pupilonrolltableid: no pupilonroll row staged%'"
    ).fetchall()[0][0]
    assert 0 < orphans <= COUNTS["fsmperiod"]


def _landing(settings: Settings, name: str) -> pd.DataFrame:
    return pd.read_csv(
        settings.landing_dir / "2024-25/school_census/spring" / f"2025_spring_{name}.csv",
        dtype=str,
    )


def _when(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, format="%Y-%b-%d %H:%M:%S")


def _staged_pupils(settings: Settings) -> set[str]:
    """Pupils the rules keep, computed here from the landing copy with pandas: the sample's
    own faults are entry dates before the date of birth or after census day."""
    pupils = _landing(settings, "pupilonroll")
    entry, dob = _when(pupils.entrydate), _when(pupils.dob)
    day = pd.Timestamp(SPRING_2025)
    bad = (entry < dob) | (entry > day) | (dob > day)
    return set(pupils.pupilonrolltableid[~bad])


def _staged_periods(settings: Settings) -> pd.DataFrame:
    """FSM periods the rules keep: started by census day, an end on or after the start, for a
    staged pupil."""
    periods = _landing(settings, "fsmperiod")
    start, end = _when(periods.fsmstartdate), _when(periods.fsmenddate)
    kept = (start <= pd.Timestamp(SPRING_2025)) & (end.isna() | (end >= start))
    return periods[kept & periods.pupilonrolltableid.isin(_staged_pupils(settings))]


def test_every_row_of_every_table_is_read_and_accounted(settings, staged) -> None:
    report, _, _ = staged
    by_table = {f.table: f for f in report.files}
    assert {t: by_table[t].rows_read for t in COUNTS} == COUNTS
    assert all(f.status == "ok" and f.balanced for f in report.files)
    pupils, periods = _staged_pupils(settings), _staged_periods(settings)
    assert by_table["pupilonroll"].rows_staged == len(pupils) > 8000
    assert by_table["fsmperiod"].rows_staged == len(periods) > 2000
    assert report.records == len(pupils)
    assert report.blocking == []
    census_day = "in the future: after census day school_census 2024/25 spring"
    parts = {
        f"{key.split(': ', 1)[0]}: {part}"
        for key in report.quarantine_reasons
        for part in key.split(": ", 1)[1].split("; ")
    }
    assert parts == {
        f"fsmperiod: fsmstartdate: {census_day}",
        f"pupilonroll: entrydate: {census_day}",
        f"pupilnolongeronroll: entrydate: {census_day}",
        f"pupilnolongeronroll: leavingdate: {census_day}",
        "fsmperiod: fsmenddate: before fsm_start_date",
        "fsmperiod: pupilonrolltableid: no pupilonroll row staged with this value in the return",
        "pupilnolongeronroll: entrydate: before dob",
        "pupilonroll: entrydate: before dob",
        "senneeds: sentype: not a known code",  # the sample's SEN types are hashes
    }


def test_lineage_names_file_and_line(settings, staged) -> None:
    _, folder, _ = staged
    rows = duckdb.sql(
        f"SELECT _source_file, _source_row, pupil_on_roll_id "
        f"FROM '{folder}/tables/pupilonroll.parquet' ORDER BY _source_row"
    ).fetchall()
    pupils = _landing(settings, "pupilonroll")
    kept = _staged_pupils(settings)
    expected = [
        ("2024-25/school_census/spring/2025_spring_pupilonroll.csv", line, pid)
        for line, pid in enumerate(pupils.pupilonrolltableid, start=2)  # line 1 is the header
        if pid in kept
    ]
    assert rows == expected


def test_fsm_eligibility_on_census_day_is_derived_from_periods(settings, staged) -> None:
    _, folder, _ = staged
    periods = _staged_periods(settings)
    start, end = _when(periods.fsmstartdate), _when(periods.fsmenddate)
    day = pd.Timestamp(SPRING_2025)
    on_day = periods[(start <= day) & (end.isna() | (end >= day))]
    expected = set(on_day.pupilonrolltableid)
    got = duckdb.sql(
        f"SELECT pupil_on_roll_id FROM '{folder}/records.parquet' WHERE fsm_eligible"
    ).fetchall()
    assert {g[0] for g in got} == expected
    assert len(expected) > 100


def test_sex_harmonised_and_wellformed_upns_staged_valid(staged) -> None:
    _, folder, _ = staged
    sexes = duckdb.sql(f"SELECT DISTINCT sex FROM '{folder}/records.parquet' ORDER BY 1").fetchall()
    assert sexes == [("F",), ("M",)]
    statuses = duckdb.sql(f"SELECT DISTINCT upn_status FROM '{folder}/records.parquet'").fetchall()
    assert statuses == [("valid",)]
