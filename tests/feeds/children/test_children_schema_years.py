"""Yearly schema changes are spec data: the same code stages each year's shape."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from core.codes import codelist
from core.config import Settings
from core.partition import Partition
from ingest.spec import load_spec
from ingest.stage import stage
from tests.feeds.children.conftest import land

CHILD = (
    "<Child><ChildIdentifiers><LAchildID>A1</LAchildID><UPNunknown>UN1</UPNunknown>"
    "<PersonBirthDate>2020-05-01</PersonBirthDate>{sex}</ChildIdentifiers>"
    "<ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>"
    "<CINdetails><CINreferralDate>2023-06-01</CINreferralDate><ReferralSource>6</ReferralSource>"
    "<ReferralNFA>1</ReferralNFA></CINdetails></Child>"
)


def _cin_return(settings: Settings, year: str, sex: str) -> Partition:
    folder = land(settings, "cin_census", year, 202)
    body = "".join(CHILD.format(sex=s).replace("A1", f"A{i}") for i, s in enumerate(sex))
    (folder / "cin.xml").write_text(
        f"<Message><Header><CollectionDetails><Collection>CIN</Collection></CollectionDetails>"
        f"<Source><LEA>202</LEA></Source></Header><Children>{body}</Children></Message>",
        encoding="utf-8",
    )
    return Partition.of("cin_census", year)


@pytest.mark.parametrize(
    ("year", "elements", "expected"),
    [
        (
            "2023/24",
            [
                "<GenderCurrent>1</GenderCurrent>",
                "<GenderCurrent>2</GenderCurrent>",
                "<GenderCurrent>9</GenderCurrent>",
                "<GenderCurrent>0</GenderCurrent>",
            ],
            ["M", "F", "U", "U"],
        ),
        ("2024/25", ["<Sex>M</Sex>", "<Sex>F</Sex>", "<Sex>U</Sex>"], ["M", "F", "U"]),
    ],
)
def test_cin_sex_follows_the_years_element_and_codes(
    settings: Settings, year: str, elements: list[str], expected: list[str]
) -> None:
    partition = _cin_return(settings, year, elements)
    report = stage(settings, partition)
    assert report.rows_quarantined == 0
    sexes = duckdb.sql(
        f"SELECT sex FROM '{partition.staging_dir(settings)}/records.parquet' ORDER BY _source_row"
    ).fetchall()
    assert [s for (s,) in sexes] == expected


def test_the_old_cin_element_in_a_new_year_is_read_as_the_field_with_a_warning(
    settings: Settings,
) -> None:
    """<GenderCurrent> in a 2024/25 return is the spec's legacy coding of Sex (read until
    2025/26): staged as Sex, warned, noted once; not an undeclared element, nothing missing."""
    partition = _cin_return(settings, "2024/25", ["<GenderCurrent>1</GenderCurrent>"])
    report = stage(settings, partition)
    (child,) = [f for f in report.files if f.table == "child"]
    assert (child.rows_staged, child.rows_quarantined, child.rows_warned) == (1, 0, 1)
    assert not any("undeclared" in m for m in child.messages)
    assert report.quarantine_reasons == {}
    assert report.warning_reasons == {"child: Sex: read in a legacy coding": 1}


def test_the_spec_says_which_year_changed_what() -> None:
    cin = {
        y: load_spec("cin_census").for_year(y).tables["child"].field("sex")
        for y in ("2020/21", "2023/24", "2024/25", "2025/26")
    }
    assert [(f.source, f.harmonise) for f in cin.values()] == [
        ("GenderCurrent", "sex:cin_gender_current"),
        ("GenderCurrent", "sex:cin_gender_current"),
        ("Sex", "sex:letters"),
        ("Sex", "sex:letters"),
    ]
    cla = load_spec("ssda903")
    assert cla.for_year("2023/24").tables["header"].field("SEX").harmonise == "sex:ssda903_numeric"
    assert cla.for_year("2024/25").tables["header"].field("SEX").harmonise == "sex:letters"
    place = [
        cla.for_year(y).tables["episodes"].field("PLACE").codelist
        for y in ("2023/24", "2024/25", "2025/26")
    ]
    assert place == ["cla_placement", "cla_placement_2025", "cla_placement_2026"]
    assert codelist("cla_placement").is_valid("H5") and not codelist("cla_placement_2025").is_valid(
        "H5"
    )
    assert codelist("cla_placement_2026").is_valid("Z12") and not codelist(
        "cla_placement_2025"
    ).is_valid("Z12")


def _903_return(settings: Settings, year: str, sex: str, place: str) -> Partition:
    header = f"CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n101,{sex},01/02/2012,WBRI,UN5,,\n"
    episodes = (
        "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n"
        f"101,01/06/{year[:4]},S,C2,N1,{place},PR1,,,,,,\n"
    )
    folder = land(settings, "ssda903", year, 202)
    (folder / "header.csv").write_text(header, encoding="utf-8")
    (folder / "episodes.csv").write_text(episodes, encoding="utf-8")
    return Partition.of("ssda903", year)


@pytest.mark.parametrize(
    ("year", "sex", "place", "place_valid"),
    [
        ("2023/24", "2", "H5", True),
        ("2024/25", "F", "H5", False),
        ("2024/25", "F", "K3", True),
        ("2025/26", "F", "Z12", True),
    ],
)
def test_ssda903_sex_codes_and_placement_lists_change_by_year(
    settings: Settings, year: str, sex: str, place: str, place_valid: bool
) -> None:
    partition = _903_return(settings, year, sex, place)
    report = stage(settings, partition)
    assert report.rows_quarantined == 0, report.quarantine_reasons
    row = duckdb.sql(
        "SELECT sex, rule_146_place_valid, upn_status, upn_unknown, looked_after_at_31_march "
        f"FROM '{partition.staging_dir(settings)}/records.parquet'"
    ).fetchall()
    assert row == [("F", place_valid, "unknown_code", "UN5", True)]


def test_a_1_2_sex_code_in_a_letters_year_is_read_in_its_legacy_coding(
    settings: Settings,
) -> None:
    partition = _903_return(settings, "2024/25", "2", "K2")
    report = stage(settings, partition)
    assert report.quarantine_reasons == {}
    assert report.warning_reasons == {"header: SEX: read in a legacy coding": 1}


def test_the_generated_returns_follow_the_year(children_run, tmp_path: Path) -> None:
    landing = children_run.settings.landing_dir
    old = (landing / "2023-24/ssda903/LA202/header.csv").read_text().splitlines()
    new = (landing / "2024-25/ssda903/LA202/header.csv").read_text().splitlines()
    assert {line.split(",")[1] for line in old[1:]} <= {"1", "2"}
    assert {line.split(",")[1] for line in new[1:]} <= {"M", "F", "U"}
    cin_old = next((landing / "2023-24/cin_census/LA202").glob("*.xml")).read_text()
    cin_new = next((landing / "2024-25/cin_census/LA202").glob("*.xml")).read_text()
    assert "<GenderCurrent>" in cin_old and "<Sex>" not in cin_old
    assert "<Sex>" in cin_new and "<GenderCurrent>" not in cin_new
