"""The published school census exports of every term (2024 autumn, 2025 spring and summer),
each placed as one LA's return and staged: every file read and accounted table by table,
the autumn FSM table read under its autumn name, the session and exclusion tables staged.

The exports' identifiers are hashes (they exercise the layout, not linkage): staged as
published, every pupil is quarantined for them and every child row follows as an orphan;
with well-formed identifiers put in their place, the rest of each file stages by the rules,
which this test recomputes from the landing copy with pandas."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core.codes import codelist
from core.config import Settings
from core.partition import Partition
from ingest.inventory import match_table
from ingest.spec import load_spec
from ingest.stage import stage
from tests.ingest.test_census_fixtures import with_wellformed_identifiers

YEAR = "2024/25"
PREFIX = {"autumn": "2024_autumn", "spring": "2025_spring", "summer": "2025_summer"}
CENSUS_DAY = {
    "autumn": dt.date(2024, 10, 3),
    "spring": dt.date(2025, 1, 16),
    "summer": dt.date(2025, 5, 15),
}
PUPILS = ("pupilonroll", "pupilnolongeronroll")
PUPIL_ID = {
    "pupilonroll": "pupilonrolltableid",
    "pupilnolongeronroll": "pupilnolongeronrolltableid",
}
# The table each export file is read as: its own name, but autumn's FSM periods.
TABLES = {
    "autumn": {
        "addressesoffroll": "addressesoffroll",
        "fsmperiodsonroll": "fsmperiod",
        "pupilnolongeronroll": "pupilnolongeronroll",
        "pupilonroll": "pupilonroll",
        "summerhalfterm2sessiondetailsoffroll": "summerhalfterm2sessiondetailsoffroll",
        "summerhalfterm2sessiondetailsonroll": "summerhalfterm2sessiondetailsonroll",
        "termlyexclusionsoffroll": "termlyexclusionsoffroll",
        "termlyexclusionsonroll": "termlyexclusionsonroll",
        "termlysessiondetailsoffroll": "termlysessiondetailsoffroll",
        "termlysessiondetailsonroll": "termlysessiondetailsonroll",
    },
    "spring": {
        "fsmperiod": "fsmperiod",
        "pupilnolongeronroll": "pupilnolongeronroll",
        "pupilonroll": "pupilonroll",
        "senneeds": "senneeds",
    },
    "summer": {
        "fsmperiod": "fsmperiod",
        "pupilnolongeronroll": "pupilnolongeronroll",
        "pupilonroll": "pupilonroll",
        "termlyexclusionsoffroll": "termlyexclusionsoffroll",
        "termlyexclusionsonroll": "termlyexclusionsonroll",
        "termlysessiondetailsoffroll": "termlysessiondetailsoffroll",
        "termlysessiondetailsonroll": "termlysessiondetailsonroll",
    },
}
# Data rows of each export (wc -l less the header; no value holds a line break).
ROWS = {
    "autumn": {
        "addressesoffroll": 219,
        "fsmperiodsonroll": 396,
        "pupilnolongeronroll": 40,
        "pupilonroll": 150,
        "summerhalfterm2sessiondetailsoffroll": 175,
        "summerhalfterm2sessiondetailsonroll": 635,
        "termlyexclusionsoffroll": 52,
        "termlyexclusionsonroll": 142,
        "termlysessiondetailsoffroll": 164,
        "termlysessiondetailsonroll": 633,
    },
    "spring": {
        "fsmperiod": 25889,
        "pupilnolongeronroll": 375,
        "pupilonroll": 9498,
        "senneeds": 16954,
    },
    "summer": {
        "fsmperiod": 423,
        "pupilnolongeronroll": 40,
        "pupilonroll": 150,
        "termlyexclusionsoffroll": 40,
        "termlyexclusionsonroll": 143,
        "termlysessiondetailsoffroll": 195,
        "termlysessiondetailsonroll": 629,
    },
}
TERMS = list(PREFIX)


def _return_dir(settings: Settings, term: str) -> Path:
    folder = settings.landing_dir / "2024-25" / "school_census" / term / "LA202"
    folder.mkdir(parents=True)
    return folder


def _land(settings: Settings, fixtures: Path, term: str, wellformed: bool) -> Path:
    folder = _return_dir(settings, term)
    for name in TABLES[term]:
        source = fixtures / "school_census" / f"{PREFIX[term]}_{name}.csv"
        if wellformed and name in PUPILS:
            with_wellformed_identifiers(source, folder / source.name, PUPILS.index(name) * 50000)
        else:
            shutil.copy(source, folder / source.name)
    return folder


def _staged(settings: Settings, term: str, wellformed: bool, fixtures: Path):
    folder = _land(settings, fixtures, term, wellformed)
    partition = Partition.of("school_census", YEAR, term)
    return stage(settings, partition), partition.staging_dir(settings), folder


def _source(term: str, name: str) -> str:
    return f"2024-25/school_census/{term}/LA202/{PREFIX[term]}_{name}.csv"


def _assert_every_file_read_and_balanced(report, term: str) -> dict:
    by_file = {f.source_file: f for f in report.files}
    assert set(by_file) == {_source(term, n) for n in TABLES[term]}  # nothing unused
    for name, table in TABLES[term].items():
        account = by_file[_source(term, name)]
        assert (account.table, account.status) == (table, "ok"), account
        assert account.rows_read == ROWS[term][name], name
        assert account.rows_read == account.rows_staged + account.rows_quarantined, name
    return {TABLES[term][n]: by_file[_source(term, n)] for n in TABLES[term]}


# -- as published ---------------------------------------------------------------------------


@pytest.mark.parametrize("term", TERMS)
def test_each_terms_export_is_read_in_full_and_its_hashed_identifiers_quarantined(
    settings: Settings, shared_fixtures: Path, term: str
) -> None:
    report, staging, _ = _staged(settings, term, False, shared_fixtures)
    by_table = _assert_every_file_read_and_balanced(report, term)
    assert all(a.rows_staged == 0 for a in by_table.values())  # no pupil, so no child row
    quarantine = f"'{staging}/quarantine.parquet'"
    pupils = duckdb.sql(
        f"SELECT source_table, count(*), count(*) FILTER (WHERE reason LIKE 'upn: malformed UPN%') "
        f"FROM {quarantine} WHERE source_table IN ('pupilonroll', 'pupilnolongeronroll') "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    # Every pupil is quarantined naming its malformed UPN first (the value withheld).
    assert pupils == [(t, ROWS[term][t], ROWS[term][t]) for t in sorted(PUPILS)]
    leaked = duckdb.sql(
        f"SELECT count(*) FROM {quarantine} WHERE reason SIMILAR TO '.*[0-9a-f]{{8}}-.*'"
    ).fetchall()
    assert leaked == [(0,)]
    for table, account in by_table.items():
        if table in PUPILS:
            continue
        parent = "pupilnolongeronroll" if table.endswith("offroll") else "pupilonroll"
        orphans = duckdb.sql(
            f"SELECT count(*) FROM {quarantine} WHERE source_table = '{table}' "
            f"AND reason LIKE '{PUPIL_ID[parent]}: no {parent} row staged%'"
        ).fetchall()[0][0]
        assert orphans <= account.rows_quarantined, table
        # The spring SEN types are hashes: those rows are quarantined for them first.
        assert orphans > 0 or table == "senneeds", table
    (blocking,) = report.blocking
    assert blocking.startswith("100.0% of pupilonroll rows were quarantined")
    assert report.records == 0


# -- with well-formed identifiers -----------------------------------------------------------


def _csv(folder: Path, term: str, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{PREFIX[term]}_{name}.csv", dtype=str, keep_default_na=False)


def _when(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column.replace("", None), format="%Y-%b-%d %H:%M:%S")


def _kept_pupils(folder: Path, term: str, table: str) -> pd.Series:
    """Ids of the pupil rows the rules keep: born and entered by census day, entered after
    birth, and for leavers left by census day and after entry (an id may repeat)."""
    pupils = _csv(folder, term, table)
    day = pd.Timestamp(CENSUS_DAY[term])
    entry, dob = _when(pupils.entrydate), _when(pupils.dob)
    bad = (entry < dob) | (entry > day) | (dob > day)
    if table == "pupilnolongeronroll":
        leaving = _when(pupils.leavingdate)
        bad |= (leaving > day) | (leaving < entry)
    return pupils[PUPIL_ID[table]][~bad.fillna(False)]


def _kept_children(folder: Path, term: str, name: str, table: str) -> pd.DataFrame:
    """Child rows the rules keep: a kept parent in the return and, for FSM periods and
    exclusions, dates by census day (an FSM end on or after its start); SEN types known."""
    rows = _csv(folder, term, name)
    parent = "pupilnolongeronroll" if table.endswith("offroll") else "pupilonroll"
    keep = rows[PUPIL_ID[parent]].isin(_kept_pupils(folder, term, parent))
    day = pd.Timestamp(CENSUS_DAY[term])
    if table == "fsmperiod":
        start, end = _when(rows.fsmstartdate), _when(rows.fsmenddate)
        keep &= (start <= day) & (end.isna() | (end >= start))
    if table.startswith("termlyexclusions"):
        keep &= ~(_when(rows.startdate) > day).fillna(False)
    if table == "senneeds":  # the spring sample's SEN types are hashes, not codes
        keep &= rows.sentype.map(codelist("sen_type").is_valid)
    return rows[keep]


@pytest.mark.parametrize("term", TERMS)
def test_each_terms_tables_stage_by_the_rules_file_by_file(
    settings: Settings, shared_fixtures: Path, term: str
) -> None:
    report, staging, folder = _staged(settings, term, True, shared_fixtures)
    by_table = _assert_every_file_read_and_balanced(report, term)
    for name, table in TABLES[term].items():
        expected = (
            len(_kept_pupils(folder, term, table))
            if table in PUPILS
            else len(_kept_children(folder, term, name, table))
        )
        assert by_table[table].rows_staged == expected, table
        staged = duckdb.sql(f"SELECT count(*) FROM '{staging}/tables/{table}.parquet'").fetchall()[
            0
        ]
        assert staged == (expected,), table
    assert report.records == len(_kept_pupils(folder, term, "pupilonroll")) > 0
    assert report.blocking == []


def _reasons(term: str) -> set[str]:
    day = f"in the future: after census day school_census 2024/25 {term}"
    return {
        f"pupilonroll: entrydate: {day}",
        "pupilonroll: entrydate: before dob",
        f"pupilnolongeronroll: entrydate: {day}",
        f"pupilnolongeronroll: leavingdate: {day}",
        f"fsmperiod: fsmstartdate: {day}",
        "fsmperiod: fsmenddate: before fsm_start_date",
        f"termlyexclusionsonroll: startdate: {day}",
        f"termlyexclusionsoffroll: startdate: {day}",
    }


# The exports' own faults: dates after census day (exclusions too: they are reported a term
# in arrears), entries before birth, FSM periods ending before they start.
EXPECTED_REASONS = {
    "autumn": _reasons("autumn"),
    "summer": _reasons("summer") | {"pupilnolongeronroll: entrydate: before dob"},
}


@pytest.mark.parametrize("term", ["autumn", "summer"])
def test_each_quarantine_reason_is_one_the_exports_own_faults_explain(
    settings: Settings, shared_fixtures: Path, term: str
) -> None:
    """Besides dates after census day and orphans of the pupils those take with them, no
    reason: every session and exclusion code and every number in the exports types."""
    report, _, _ = _staged(settings, term, True, shared_fixtures)
    parts = {
        f"{key.split(': ', 1)[0]}: {part}"
        for key in report.quarantine_reasons
        for part in key.split(": ", 1)[1].split("; ")
    }
    orphans = {p for p in parts if ": no pupil" in p}
    assert parts - orphans == EXPECTED_REASONS[term]
    assert {p.split(":")[0] for p in orphans} <= set(TABLES[term].values()) - set(PUPILS)


def test_autumn_fsm_periods_are_read_under_their_autumn_name_and_feed_eligibility(
    settings: Settings, shared_fixtures: Path
) -> None:
    report, staging, folder = _staged(settings, "autumn", True, shared_fixtures)
    (fsm,) = [f for f in report.files if f.table == "fsmperiod"]
    assert fsm.source_file.endswith("_fsmperiodsonroll.csv") and fsm.rows_staged > 0
    ids = duckdb.sql(
        f"SELECT count(*), count(fsm_period_id), count(order_seq) "
        f"FROM '{staging}/tables/fsmperiod.parquet'"
    ).fetchall()[0]
    assert ids == (fsm.rows_staged,) * 3  # the autumn row-id columns are read, not dropped
    periods = _kept_children(folder, "autumn", "fsmperiodsonroll", "fsmperiod")
    start, end = _when(periods.fsmstartdate), _when(periods.fsmenddate)
    day = pd.Timestamp(CENSUS_DAY["autumn"])
    eligible = set(periods.pupilonrolltableid[(start <= day) & (end.isna() | (end >= day))])
    got = duckdb.sql(
        f"SELECT count(*), count(fsm_eligible), "
        f"list(pupil_on_roll_id ORDER BY pupil_on_roll_id) FILTER (WHERE fsm_eligible) "
        f"FROM '{staging}/records.parquet'"
    ).fetchall()[0]
    assert got[0] == got[1] == report.records  # known for every autumn pupil, not empty
    assert set(got[2] or []) == eligible and eligible


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "name", "table", "problem"),
    [
        ("autumn", "2024_autumn_fsmperiodsonroll.csv", "fsmperiod", None),
        ("autumn", "FSMPERIODSONROLL.CSV", "fsmperiod", None),
        ("autumn", "fsmperiodsonroll_2024-25.csv", "fsmperiod", None),
        ("autumn", "fsmperiodsonroll_2023-24.csv", "fsmperiod", "named for 2023-24"),
        ("autumn", "2023_autumn_fsmperiodsonroll.csv", "fsmperiod", "named for 2023 autumn"),
        ("autumn", "2024_autumn_fsmperiod.csv", None, "fsmperiod is the default name"),
        ("spring", "2025_spring_fsmperiod.csv", "fsmperiod", None),
        ("spring", "2025_spring_fsmperiodsonroll.csv", None, "fsmperiodsonroll is the autumn"),
        ("summer", "2025_summer_termlyexclusionsonroll.csv", "termlyexclusionsonroll", None),
        ("summer", "2025_spring_pupilonroll.csv", "pupilonroll", "named for 2025 spring"),
        ("summer", "2025_summer_learnersupportonroll.csv", None, None),
    ],
)
def test_a_file_is_matched_by_the_names_its_table_takes_in_the_term(
    term: str, name: str, table: str | None, problem: str | None
) -> None:
    partition = Partition.of("school_census", YEAR, term)
    spec = load_spec("school_census").for_year(YEAR, term)
    match = match_table(name, spec, partition)
    assert match.table == table
    assert (match.problem is None) if problem is None else problem in match.problem


def test_a_file_under_another_terms_name_is_not_used_and_says_why(
    settings: Settings, shared_fixtures: Path
) -> None:
    """A spring-named FSM file in an autumn return is accounted unused, naming the autumn
    name (never silently read with the wrong columns, never silently dropped)."""
    folder = _land(settings, shared_fixtures, "autumn", True)
    spring = shared_fixtures / "school_census" / "2025_spring_fsmperiod.csv"
    shutil.copy(spring, folder / "2024_autumn_fsmperiod.csv")
    report = stage(settings, Partition.of("school_census", YEAR, "autumn"))
    (unused,) = [f for f in report.files if f.status == "unused"]
    assert unused.source_file == _source("autumn", "fsmperiod")
    assert (
        "fsmperiod is the default name of table fsmperiod; in autumn it arrives as "
        in (unused.messages[0])
    )
    assert "fsmperiodsonroll" in unused.messages[0]
