"""The published SSDA903 and CIN census fixtures, read unchanged, with every row accounted for:
what the new input contract (docs/bad-input.md) quarantines or refuses in them is asserted
exactly, and the CIN layouts are read from copies whose Header states the partition's period."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core.config import Settings
from core.partition import Partition
from ingest.stage import stage
from pipeline import steps
from tests.feeds.children.conftest import cin_stating, land
from tests.feeds.xml_helpers import quarantine_rows

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


def test_the_ssda903_csv_return_loads_unchanged_but_its_unknown_social_worker_reason(
    settings: Settings, shared_fixtures: Path
) -> None:
    """Every row of the published return is staged, except its one sw_episodes row (SW_REASON
    'SWLAZY' is not in the code list) and the reviews dated after the year's 31 March (the
    fake return has reviews up to 2030), each quarantined naming the field."""
    land(settings, "ssda903", "2017/18", 202, *sorted((shared_fixtures / "ssda903").glob("*.csv")))
    partition = Partition.of("ssda903", "2017/18")  # episodes run to 31 March 2018
    report = stage(settings, partition)
    expected = {t: (n, n, 0) for t, n in SSDA903_ROWS.items()}
    expected["sw_episodes"] = (1, 0, 1)
    reviews = pd.read_csv(shared_fixtures / "ssda903" / "reviews.csv", dtype=str)
    future = int((pd.to_datetime(reviews.REVIEW, format="%d/%m/%Y") > "2018-03-31").sum())
    assert future > 1000
    expected["reviews"] = (SSDA903_ROWS["reviews"], SSDA903_ROWS["reviews"] - future, future)
    assert _totals(report) == expected
    assert (
        report.quarantine_reasons[
            "reviews: REVIEW: in the future: after the end of the 2017/18 collection"
        ]
        == future
    )
    (row,) = [r for r in quarantine_rows(settings, partition) if r[0] == "sw_episodes"]
    assert row[:3] == ("sw_episodes", 2, "SW_REASON: not a known code (value SWLAZY)")
    assert json.loads(row[3])["SW_REASON"] == "SWLAZY"  # the raw text is kept
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


# Where each published CIN fixture is placed: the partition whose schema and dates it fits.
# fake_CIN_data.xml (GenderCurrent, dates up to July 2022: the census to 31 March 2023)
# states Year 2022 but ReferenceDate 2022-07-21; CIN_Census_2024.xml uses the 2024/25 <Sex> but states Year 2023
# and ReferenceDate 2024-03-31. No partition expects those headers, so both are refused whole
# where their schema puts them. CIN_Census_2021.xml states 2022/23 (Year 2023, 2023-03-31).
CIN_YEARS = {
    "fake_CIN_data.xml": "2022/23",
    "CIN_Census_2021.xml": "2022/23",
    "CIN_Census_2024.xml": "2024/25",
}

# The tables of a CIN return, and the rows of each (the Header, and every element of the
# table) counted in the files; a table a file does not hold has no rows.
CIN_TABLES = (
    "header",
    "child",
    "disabilities",
    "cin_details",
    "assessments",
    "assessment_factors",
    "cin_plans",
    "section47",
    "cp_plans",
    "cpp_reviews",
)
CIN_ROWS = {
    "fake_CIN_data.xml": {"header": 1, "child": 332, "disabilities": 117, "cin_details": 402},
    "CIN_Census_2021.xml": dict.fromkeys(CIN_TABLES, 1)
    | {"disabilities": 2, "assessment_factors": 2},
    "CIN_Census_2024.xml": dict.fromkeys(CIN_TABLES, 1)
    | {"child": 2, "disabilities": 3, "cin_details": 2, "assessments": 2, "assessment_factors": 3},
}

# Why each whole file is refused as published: the Header's period against the partition's.
CIN_REFUSED = {
    "fake_CIN_data.xml": (
        "it states another period (Year '2022' is the 2021/22 return's; ReferenceDate "
        "'2022-07-21' is no year's; this is the 2022/23 partition, which expects Year 2023, "
        "ReferenceDate 2023-03-31)"
    ),
    "CIN_Census_2024.xml": (
        "it states another period (Year '2023' is the 2022/23 return's; ReferenceDate "
        "'2024-03-31' is the 2023/24 return's; this is the 2024/25 partition, which expects "
        "Year 2025, ReferenceDate 2025-03-31)"
    ),
}


def _nested(table: str, element: str, parent: str) -> tuple[str, str]:
    return (table, f"<{element}> inside <{parent}> 1, which was quarantined")


# CIN_Census_2021.xml is read: its only child states ExpectedPersonBirthDate 1066-04-13, an
# impossible date, so the child is quarantined and every row inside it goes with it.
CIN_2021_QUARANTINE = {
    ("child", "ExpectedPersonBirthDate: impossible date (before 1900) (value withheld)"): 1,
    _nested("disabilities", "Disability", "Child"): 2,
    _nested("cin_details", "CINdetails", "Child"): 1,
    _nested("assessments", "Assessments", "CINdetails"): 1,
    _nested("assessment_factors", "AssessmentFactors", "Assessments"): 2,
    _nested("cin_plans", "CINPlanDates", "CINdetails"): 1,
    _nested("section47", "Section47", "CINdetails"): 1,
    _nested("cp_plans", "ChildProtectionPlans", "CINdetails"): 1,
    _nested("cpp_reviews", "CPPreviewDate", "ChildProtectionPlans"): 1,
}


@pytest.mark.parametrize("name", sorted(CIN_YEARS))
def test_the_published_cin_census_fixtures_are_read_and_refused_or_quarantined_with_the_reason(
    settings: Settings, shared_fixtures: Path, name: str
) -> None:
    """Each fixture, unchanged, in the partition its schema fits: every record is read and
    counted; a file whose Header states another period is refused whole (every row
    quarantined with the reason, the partition blocked at staging naming both years), and
    CIN_Census_2021.xml's child with an impossible date is quarantined with all it holds."""
    year = CIN_YEARS[name]
    partition = Partition.of("cin_census", year)
    land(settings, "cin_census", year, 201, shared_fixtures / "cin_census" / name)
    report = stage(settings, partition)
    rows = {t: CIN_ROWS[name].get(t, 0) for t in CIN_TABLES}
    reasons = Counter((r[0], r[2]) for r in quarantine_rows(settings, partition))
    if name in CIN_REFUSED:
        assert _totals(report) == {t: (n, 0, n) for t, n in rows.items()}
        refused = f"file refused whole: {CIN_REFUSED[name]}"
        assert reasons == Counter({(t, refused): n for t, n in rows.items() if n})
        message = (
            f"{partition.year.slug}/cin_census/LA201/{name}: refused whole: {CIN_REFUSED[name]}; "
            f"{rows['child']} record(s) found, every row of the file quarantined"
        )
        assert report.blocking == [message]
        accounts = [(f.table, f.status, f.messages) for f in report.files]
        assert accounts == [(t, "rejected", [message]) for t in CIN_TABLES]
    else:  # the Header is staged; everything else was in the one child
        assert _totals(report) == {
            t: (n, n, 0) if t == "header" else (n, 0, n) for t, n in rows.items()
        }
        assert reasons == Counter(CIN_2021_QUARANTINE)
        assert report.blocking == []
    assert report.records == 0  # no child is staged


# The layouts, read from copies whose Header states the partition's period (only the Year
# and ReferenceDate texts edited). CIN_Census_2021.xml's Header already states its
# partition's period: it is read as published, above.
CIN_LAYOUTS = {
    # file: rows per table (read, staged, quarantined)
    # The fake return's referrals and closures run to 2031: the 14 CIN details dated after the
    # census's 31 March 2023 are quarantined (counted from the file in the test below).
    "fake_CIN_data.xml": {
        "header": (1, 1, 0),
        "child": (332, 332, 0),
        "disabilities": (117, 117, 0),
        "cin_details": (402, 388, 14),
    },
    # The 2024/25 schema (Sex M/F/U): the first child's <Sex>1</Sex> is the coding before
    # 2024/25, read as M with a warning (the spec's legacy coding; docs/bad-input.md), so
    # both children load, with everything inside them but one assessment factor.
    "CIN_Census_2024.xml": {
        "header": (1, 1, 0),
        "child": (2, 2, 0),
        "disabilities": (3, 3, 0),
        "cin_details": (2, 2, 0),
        "assessments": (2, 2, 0),
        "assessment_factors": (3, 2, 1),
        "cin_plans": (1, 1, 0),
        "section47": (1, 1, 0),
        "cp_plans": (1, 1, 0),
        "cpp_reviews": (1, 1, 0),
    },
}


def _land_stating_the_period(
    settings: Settings, shared_fixtures: Path, name: str, edit=lambda data: data
) -> Partition:
    """Land a copy of a published CIN fixture whose Header states its partition's period."""
    year = CIN_YEARS[name]
    data = edit(cin_stating((shared_fixtures / "cin_census" / name).read_bytes(), year))
    (land(settings, "cin_census", year, 201) / name).write_bytes(data)
    return Partition.of("cin_census", year)


@pytest.mark.parametrize("name", sorted(CIN_LAYOUTS))
def test_the_cin_census_layouts_load_from_a_copy_stating_the_partitions_period(
    settings: Settings, shared_fixtures: Path, name: str
) -> None:
    expected = CIN_LAYOUTS[name]
    assert {t: v[0] for t, v in expected.items()} == CIN_ROWS[name]
    details = re.findall(
        rb"<CINdetails>.*?</CINdetails>",
        (shared_fixtures / "cin_census" / name).read_bytes(),
        flags=re.DOTALL,
    )
    future = sum(
        any(d > b"2023-03-31" for d in re.findall(rb"<CIN(?:referral|closure)Date>([^<]*)<", x))
        for x in details
    )
    if name == "fake_CIN_data.xml":
        assert expected["cin_details"][2] == future
    report = stage(settings, _land_stating_the_period(settings, shared_fixtures, name))
    totals = _totals(report)
    assert {t: v for t, v in totals.items() if v != (0, 0, 0)} == expected
    assert report.records == expected["child"][1]
    assert report.blocking == []


def test_a_quarantined_child_takes_its_nested_rows_with_it(
    settings: Settings, shared_fixtures: Path
) -> None:
    # The first child's <Sex>1</Sex> made 7, a code in neither Sex coding
    partition = _land_stating_the_period(
        settings,
        shared_fixtures,
        "CIN_Census_2024.xml",
        lambda data: data.replace(b"<Sex>1</Sex>", b"<Sex>7</Sex>", 1),
    )
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
    assert rows[0][0] == "Sex: not a known code (value 7)"
    raw = json.loads(rows[0][1])  # the raw text is kept, and names the element
    assert raw["_element"] == "Children/Child[1]" and raw["Sex"] == "7"


def test_the_cin_fixture_goes_through_every_step(settings: Settings, shared_fixtures: Path) -> None:
    """As published, fake_CIN_data.xml blocks the run at staging (its ReferenceDate is no
    year's); the same return stating the 2022/23 census loads, rerun in the same home."""
    name = "fake_CIN_data.xml"
    partition = Partition.of("cin_census", "2022/23")
    land(settings, "cin_census", "2022/23", 201, shared_fixtures / "cin_census" / name)
    result = steps.run_period(partition, settings)
    assert result.status == "blocked"
    assert result.message.splitlines()[0] == (
        f"cin_census 2022/23 blocked at staging: 2022-23/cin_census/LA201/{name}: refused "
        f"whole: {CIN_REFUSED[name]}; 332 record(s) found, every row of the file quarantined"
    )
    _land_stating_the_period(settings, shared_fixtures, name)
    result = steps.run_period(partition, settings)
    assert result.status == "loaded", result.message
    assert result.steps["load"]["tables"] == {"research.cin_child": 332}
    # the header's LEA (975) is not LA201, where the return landed: a warning, not a block
    assert result.steps["validate"]["warnings"] >= 1
