"""Planted defects show up at their rate in exactly their return, and nowhere else."""

from __future__ import annotations

import pandas as pd
import pytest
from synth_fixtures import BLANK_PLANT, PLANT, YEARS, Generated, read_csv

from core.periods import AcademicYear
from ingest.landing import annual_file_path
from synth.plants import Plant


def test_invalid_code_plant_hits_only_its_return_at_its_rate(generated: Generated) -> None:
    hits = {}
    for path in generated.landing.rglob("*_pupilonroll.csv"):
        df = read_csv(path)
        hits[path.relative_to(generated.landing).as_posix()] = (
            (df["ethnicity"] == "XXXX").sum(),
            len(df),
        )
    target = f"{YEARS[0].slug}/school_census/spring/LA330/2024_spring_pupilonroll.csv"
    planted, rows = hits.pop(target)
    assert planted == round(0.05 * rows)
    assert all(count == 0 for count, _ in hits.values())
    assert generated.summary.planted[PLANT] == planted


def test_blank_plant_in_ks2_blanks_its_la_only(generated: Generated) -> None:
    year = AcademicYear.parse("2024/25")
    df = read_csv(annual_file_path(generated.landing, "ks2", year))
    blank = df["READOUTCOME"] == ""
    in_la = df["LA"] == "886"
    assert blank[in_la].sum() == round(0.1 * in_la.sum())
    assert not blank[~in_la].any()
    other = read_csv(annual_file_path(generated.landing, "ks2", YEARS[0]))
    assert (other["READOUTCOME"] != "").all()


def test_planted_cells_are_listed_with_the_truth(generated: Generated) -> None:
    planted = pd.read_parquet(generated.truth / "plants.parquet")
    assert set(planted["plant"]) == {PLANT, BLANK_PLANT}
    for (plant, source), rows in planted.groupby(["plant", "source_file"])["source_row"]:
        df = read_csv(generated.landing / source)
        column = "ethnicity" if plant == PLANT else "READOUTCOME"
        values = df[column].iloc[rows.to_numpy() - 2]
        assert set(values) == ({"XXXX"} if plant == PLANT else {""})


@pytest.mark.parametrize(
    "text",
    [
        "school_census:2023/24:spring:LA330:ethnicity:0.05",  # too few parts
        "school_census:2023/24:spring:330:ethnicity:0.05:blank",  # LA without the prefix
        "school_census:2023/24:spring:LA330:nosuchfield:0.05:blank",
        "school_census:2023/24:spring:LA330:ethnicity:1.5:blank",
        "school_census:2023/24:spring:LA330:ethnicity:0.05:scramble",
        "cin:2023/24:spring:LA330:ethnicity:0.05:blank",
        "ks2:2023/24:spring:LA330:READOUTCOME:0.05:blank",  # KS2 is annual
        "school_census:2023/24:annual:LA330:ethnicity:0.05:blank",  # the census is termly
        "school_census:2024/25:spring:LA330:gender:0.05:blank",  # renamed to sex from 2024/25
    ],
)
def test_bad_plants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="plant"):
        Plant.parse(text)


def test_invalid_values_fail_the_fields_code_list() -> None:
    from core.codes import codelist
    from ingest.spec import load_spec

    plant = Plant.parse("school_census:2023/24:spring:LA330:language:0.1:invalid_code")
    field = load_spec("school_census").for_year(plant.year).tables["pupilonroll"].field("language")
    value = plant.invalid_value(field)
    assert not codelist("language").is_valid(value)  # XXXX would pass the 3-4 letter pattern
    other = Plant.parse("school_census:2023/24:autumn:LA202:senneeds.sentype:0.2:invalid_code")
    assert other.table == "senneeds"


def test_plants_outside_the_run_are_refused(tmp_path) -> None:
    from synth.generate import generate

    with pytest.raises(ValueError, match="plant"):
        generate(
            tmp_path / "landing",
            tmp_path / "truth",
            100,
            1,
            YEARS[:1],
            las=[202],
            plants=["school_census:2023/24:spring:LA330:ethnicity:0.05:blank"],
        )
