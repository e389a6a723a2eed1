"""The published SSDA903 and CIN census fixtures load unchanged, with their counts asserted."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ingest.stage import stage
from npd import steps
from npd.config import Settings
from npd.partition import Partition
from tests.feeds.children.conftest import land

# Rows per table, counted in the CSVs (header line excluded).
SSDA903_ROWS = {
    "header": 2675,
    "episodes": 5050,
    "uasc": 132,
    "reviews": 12582,
    "missing": 43,
    "oc2": 2675,
    "oc3": 53,
    "ad1": 29,
    "placed_for_adoption": 29,
    "previous_permanence": 2675,
    "sw_episodes": 1,
}


def _totals(report) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for f in report.files:
        assert f.balanced, f
        r, s, q = out.get(f.table, (0, 0, 0))
        out[f.table] = (r + f.rows_read, s + f.rows_staged, q + f.rows_quarantined)
    return out


def test_the_ssda903_csv_return_loads_unchanged(settings: Settings, shared_fixtures: Path) -> None:
    land(settings, "ssda903", "2017/18", 202, *sorted((shared_fixtures / "ssda903").glob("*.csv")))
    partition = Partition.of("ssda903", "2017/18")  # episodes run to 31 March 2018
    report = stage(settings, partition)
    assert _totals(report) == {t: (n, n, 0) for t, n in SSDA903_ROWS.items()}
    assert report.records == 2675  # one per child in the header; every episode's child has one
    assert report.blocking == []
    records = partition.staging_dir(settings) / "records.parquet"
    con = duckdb.connect()
    (children, in_episodes, no_header, open_at_end, sex) = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE episodes > 0), count(*) FILTER (WHERE NOT header_present), "
        "count(*) FILTER (WHERE looked_after_at_31_march), string_agg(DISTINCT sex, '' ORDER BY sex) "
        f"FROM '{records}'"
    ).fetchall()[0]
    assert (children, in_episodes, no_header, sex) == (2675, 2123, 0, "FM")
    assert 0 < open_at_end < in_episodes
    # SEX 1/2 harmonised to M/F with the counts the file holds (1333 boys, 1342 girls)
    assert con.sql(f"SELECT sex, count(*) FROM '{records}' GROUP BY 1 ORDER BY 1").fetchall() == [
        ("F", 1342),
        ("M", 1333),
    ]


def test_the_ssda903_fixture_goes_through_every_step(
    settings: Settings, shared_fixtures: Path
) -> None:
    land(settings, "ssda903", "2017/18", 202, *sorted((shared_fixtures / "ssda903").glob("*.csv")))
    result = steps.run_period(Partition.of("ssda903", "2017/18"), settings)
    assert result.status == "loaded", result.message
    assert result.steps["load"]["tables"] == {"research.cla_child": 2675}
    # fake UPNs: only those with a right check letter and a real LA code link
    assert result.steps["link"]["by_method"]["upn"] < 200


CIN_CASES = {
    # file: (academic year, rows per table (read, staged, quarantined))
    "fake_CIN_data.xml": (
        "2021/22",
        {
            "header": (1, 1, 0),
            "child": (332, 332, 0),
            "disabilities": (117, 117, 0),
            "cin_details": (402, 402, 0),
        },
    ),
    "CIN_Census_2021.xml": (
        "2022/23",
        {
            "header": (1, 1, 0),
            "child": (1, 1, 0),
            "disabilities": (2, 2, 0),
            "cin_details": (1, 1, 0),
            "assessments": (1, 1, 0),
            "assessment_factors": (2, 2, 0),
            "cin_plans": (1, 1, 0),
            "section47": (1, 1, 0),
            "cp_plans": (1, 1, 0),
            "cpp_reviews": (1, 1, 0),
        },
    ),
    # The 2024/25 schema (Sex M/F/U): the first child's <Sex>1</Sex> is not a 2024/25 code,
    # so that child and everything inside it are quarantined; the second child loads.
    "CIN_Census_2024.xml": (
        "2024/25",
        {
            "header": (1, 1, 0),
            "child": (2, 1, 1),
            "disabilities": (3, 1, 2),
            "cin_details": (2, 1, 1),
            "assessments": (2, 1, 1),
            "assessment_factors": (3, 0, 3),
            "cin_plans": (1, 0, 1),
            "section47": (1, 0, 1),
            "cp_plans": (1, 0, 1),
            "cpp_reviews": (1, 0, 1),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(CIN_CASES))
def test_the_cin_census_fixtures_load_unchanged(
    settings: Settings, shared_fixtures: Path, name: str
) -> None:
    year, expected = CIN_CASES[name]
    land(settings, "cin_census", year, 201, shared_fixtures / "cin_census" / name)
    report = stage(settings, Partition.of("cin_census", year))
    totals = _totals(report)
    assert {t: v for t, v in totals.items() if v != (0, 0, 0)} == expected
    assert report.records == expected["child"][1]
    assert report.blocking == []


def test_a_quarantined_child_takes_its_nested_rows_with_it(
    settings: Settings, shared_fixtures: Path
) -> None:
    land(
        settings,
        "cin_census",
        "2024/25",
        201,
        shared_fixtures / "cin_census" / "CIN_Census_2024.xml",
    )
    partition = Partition.of("cin_census", "2024/25")
    report = stage(settings, partition)
    assert report.quarantine_reasons["child: Sex: not a known code"] == 1
    assert (
        report.quarantine_reasons[
            "cin_details: <CINdetails> inside <Child> 1, which was quarantined"
        ]
        == 1
    )
    assert (
        report.quarantine_reasons[
            "assessment_factors: <AssessmentFactors> inside <Assessments> 1, which was quarantined"
        ]
        == 3
    )
    rows = duckdb.sql(
        f"SELECT reason, raw FROM '{partition.staging_dir(settings)}/quarantine.parquet' "
        "WHERE source_table = 'child'"
    ).fetchall()
    assert rows[0][0] == "Sex: not a known code (value 1)"
    raw = json.loads(rows[0][1])  # the raw text is kept, and names the element
    assert raw["_element"] == "Children/Child[1]" and raw["Sex"] == "1"


def test_the_cin_fixture_goes_through_every_step(settings: Settings, shared_fixtures: Path) -> None:
    land(
        settings, "cin_census", "2021/22", 201, shared_fixtures / "cin_census" / "fake_CIN_data.xml"
    )
    result = steps.run_period(Partition.of("cin_census", "2021/22"), settings)
    assert result.status == "loaded", result.message
    assert result.steps["load"]["tables"] == {"research.cin_child": 332}
    # the header's LEA (975) is not LA201, where the return landed: a warning, not a block
    assert result.steps["validate"]["warnings"] >= 1
