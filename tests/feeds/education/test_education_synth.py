"""The generated key stage files: who is in them, results that hang together, defects at rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from education_run import KEY_STAGES, YEARS, EducationRun

from ingest.landing import annual_file_path
from linkage.identifiers import UpnStatus, classify_upn
from synth.defects import rate


def _file(run: EducationRun, feed: str, year) -> pd.DataFrame:
    path = annual_file_path(run.settings.landing_dir, feed, year)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    truth = pd.read_parquet(run.settings.truth_dir / year.slug / feed / "annual.parquet")
    truth = truth.sort_values("source_row")
    return df.assign(person=truth["person_id"].to_numpy(), defect=truth["defect"].to_numpy())


@pytest.fixture(scope="module")
def files(education_run: EducationRun) -> dict[tuple[str, int], pd.DataFrame]:
    return {(f, y.start): _file(education_run, f, y) for f in KEY_STAGES for y in YEARS}


def test_phonics_retakers_are_exactly_last_years_non_passers(files) -> None:
    first, second = files[("phonics", YEARS[0].start)], files[("phonics", YEARS[1].start)]
    y1 = first[first["NCYEARACTUAL"] == "1"].set_index("person")
    y2 = second[second["NCYEARACTUAL"] == "2"].set_index("person")
    both = y1.index.intersection(second.set_index("person").index)
    # Of last year's Y1 pupils still here, those who did not pass (WT or absent) retake.
    expected = set(y1.loc[both][y1.loc[both, "PHONICS_OUTCOME"].isin(["WT", "A"])].index)
    assert expected and expected <= set(y2.index)
    assert not set(y2.index) & set(y1.loc[both][y1.loc[both, "PHONICS_OUTCOME"] == "WA"].index)


def test_phonics_marks_outcomes_and_rates(files) -> None:
    for year in YEARS:
        df = files[("phonics", year.start)]
        y1 = df[df["NCYEARACTUAL"] == "1"]
        assert 0.72 < (y1["PHONICS_OUTCOME"] == "WA").mean() < 0.86
        marked = df[df["PHONICS_MARK"] != ""]
        mark = marked["PHONICS_MARK"].astype(int)
        assert mark.between(0, 40).all()
        assert ((mark >= 32) == (marked["PHONICS_OUTCOME"] == "WA")).all()
        assert (df.loc[df["PHONICS_MARK"] == "", "PHONICS_OUTCOME"].isin(["A", "D"])).all()
        counts = mark.value_counts()
        assert counts.get(32, 0) > 2 * counts.get(31, 0)  # marks bunch at the threshold
        retake = df[df["NCYEARACTUAL"] == "2"]
        assert 0.3 < (retake["PHONICS_OUTCOME"] == "WA").mean() < 0.8


def test_ks1_outcomes_near_published_shares_with_girls_ahead_in_writing(files) -> None:
    df = pd.concat([files[("ks1", y.start)] for y in YEARS])
    expected = {c: df[f"{c}_OUTCOME"].isin(["EXS", "GDS"]) for c in ("READ", "WRIT", "MATH")}
    assert 0.6 < expected["READ"].mean() < 0.76
    assert 0.52 < expected["WRIT"].mean() < 0.68
    assert 0.62 < expected["MATH"].mean() < 0.78
    sex = df["GENDER"].fillna(df["SEX"])  # GENDER until 2023/24, SEX from 2024/25
    assert expected["WRIT"][sex == "F"].mean() > expected["WRIT"][sex == "M"].mean() + 0.03


def test_ks4_progress_8_is_its_elements_and_measures_nest(files) -> None:
    df = files[("ks4", YEARS[0].start)]
    p8 = df[["KS4_P8SCORE", "KS4_P8ENG", "KS4_P8MAT", "KS4_P8EBAC", "KS4_P8OPEN"]].astype(float)
    rebuilt = (
        2 * p8["KS4_P8ENG"] + 2 * p8["KS4_P8MAT"] + 3 * p8["KS4_P8EBAC"] + 3 * p8["KS4_P8OPEN"]
    ) / 10
    assert np.allclose(rebuilt, p8["KS4_P8SCORE"], atol=0.02)
    att8, pred = df["KS4_ATT8"].astype(float), df["KS4_ATT8_PRED"].astype(float)
    assert np.allclose((att8 - pred) / 10, p8["KS4_P8SCORE"], atol=0.02)
    basics = df["KS4_L2BASICS_94"] == "1"
    assert ((df["KS4_GCSE_ENG_94"] == "1") & (df["KS4_GCSE_MATH_94"] == "1")).eq(basics).all()
    assert (df.loc[df["KS4_EBACC_94"] == "1", "KS4_EBACC_E"] == "1").all()
    assert 0.55 < basics.mean() < 0.75
    fsm = df["KS4_FSM6"] == "1"
    assert att8[~fsm].mean() - att8[fsm].mean() > 5  # the disadvantage gap comes from ability


def test_ks5_is_year_13_students_with_points_per_entry(files) -> None:
    df = pd.concat([files[("ks5", y.start)] for y in YEARS])
    assert (df["KS5_AGE_START"].astype(int).between(16, 18)).all()
    assert (df["KS5_AGE_START"] == "17").mean() > 0.9
    a_level = df["KS5_ALEV"] == "1"
    aps = df.loc[a_level, "KS5_ALEV_APS"].astype(float)
    assert aps.between(0, 60).all() and 30 < aps.mean() < 40
    assert (df.loc[~a_level, "KS5_ALEV_APS"] == "").all()
    assert (df.loc[~a_level, "KS5_ALEV_ENTRIES"] == "0").all()


def test_key_stage_identifier_defects_are_what_the_truth_says_at_their_rates(files) -> None:
    column = {"phonics": "UPN", "ks1": "UPN", "ks4": "KS4_UPN", "ks5": "KS5_UPN"}
    df = pd.concat(
        [
            files[(f, y.start)].rename(columns={column[f]: "upn"})[["upn", "defect"]]
            for f in KEY_STAGES
            for y in YEARS
        ]
    )
    status = df["upn"].map(lambda v: classify_upn(v or None))
    assert (status[df["defect"] == "missing_upn"] == UpnStatus.MISSING).all()
    assert (status[df["defect"] == "bad_check"] == UpnStatus.BAD_CHECK).all()
    assert status[df["defect"] == "none"].map(lambda s: UpnStatus(s).usable).all()
    # Record-level defects at their documented rates (within four Poisson sigmas: the files
    # here are small; tests/synth checks the rates themselves on a larger population).
    for label in ("missing_upn", "bad_check", "typo"):
        expected = rate(label, "ks4") * len(df)
        observed = (df["defect"] == label).sum()
        assert abs(observed - expected) < 4 * np.sqrt(expected) + 1, (label, observed, expected)
    assert (df["defect"] == "typo").sum() > 0
