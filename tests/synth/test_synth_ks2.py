"""KS2: who is in the file, scores and outcomes, flags, and the defects."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from synth_fixtures import YEARS, Generated, read_csv

from core.codes import codelist
from ingest.landing import annual_file_path
from linkage.identifiers import UpnStatus, classify_upn
from synth.defects import rate


@pytest.fixture(scope="module")
def ks2(generated: Generated) -> pd.DataFrame:
    frames = []
    for year in YEARS:
        df = read_csv(annual_file_path(generated.landing, "ks2", year))
        truth = generated.truth_table(year, "ks2", "annual").sort_values("source_row")
        frames.append(
            df.assign(
                person_id=truth["person_id"].to_numpy(),
                defect=truth["defect"].to_numpy(),
                year=year.start,
            )
        )
    return pd.concat(frames, ignore_index=True)


def _scored(ks2: pd.DataFrame, subject: str) -> pd.DataFrame:
    return ks2[ks2[f"{subject}OUTCOME"].isin(["AS", "NS"])]


def test_scores_are_80_to_120_with_about_three_quarters_expected(ks2: pd.DataFrame) -> None:
    for subject in ("READ", "MAT", "GPS"):
        scored = _scored(ks2, subject)
        score = scored[f"{subject}SCORE"].astype(int)
        assert score.between(80, 120).all()
        assert ((score >= 100) == (scored[f"{subject}OUTCOME"] == "AS")).all()
        assert 0.62 < (score >= 100).mean() < 0.85
        unscored = ks2[ks2[f"{subject}OUTCOME"].isin(["A", "B"])]
        assert (unscored[f"{subject}SCORE"] == "").all()
        assert 0.002 < (ks2[f"{subject}OUTCOME"] == "A").mean() < 0.025


def test_outcome_codes_come_from_the_code_lists(ks2: pd.DataFrame) -> None:
    tests, tas = codelist("ks2_test_outcome"), codelist("ks2_ta_outcome")
    for subject in ("READ", "MAT", "GPS"):
        assert ks2[f"{subject}OUTCOME"].replace("", "AS").map(tests.is_valid).all()
    for col in ("READTAOUTCOME", "WRITTAOUTCOME", "MATTAOUTCOME", "SCITAOUTCOME"):
        assert ks2[col].map(tas.is_valid).all()
    assert set(ks2["WRITTAOUTCOME"]) >= {"GDS", "EXS", "WTS"}
    assert ks2["WRITTAOUTCOME"].str.startswith("PK").any()


def test_flags_are_consistent(ks2: pd.DataFrame) -> None:
    full = ks2[ks2["READOUTCOME"] != ""]
    for subject in ("READ", "MAT", "GPS"):
        assert ((full[f"{subject}EXP"] == "1") == (full[f"{subject}OUTCOME"] == "AS")).all()
    writ = full["WRITTAOUTCOME"].isin(["EXS", "GDS"])
    assert ((full["WRITEXP"] == "1") == writ).all()
    rwm = (full["READEXP"] == "1") & (full["WRITEXP"] == "1") & (full["MATEXP"] == "1")
    assert ((full["RWMEXP"] == "1") == rwm).all()
    assert (full.loc[full["RWMHIGH"] == "1", "RWMEXP"] == "1").all()
    for col in ("READEXP", "WRITEXP", "MATEXP", "GPSEXP", "RWMEXP", "RWMHIGH", "FSM6"):
        assert set(ks2[col]) <= {"0", "1"}
    assert set(ks2["EALGRP"]) <= {"1", "2", "3"}
    assert set(ks2["SENF"]) <= {"N", "K", "E"}
    b = ks2[ks2["READOUTCOME"] == "B"]
    assert len(b) > 0 and (b["SENF"] != "N").all()


def test_ability_drives_scores_with_fsm_and_sen_gaps(ks2: pd.DataFrame, population) -> None:
    scored = _scored(ks2, "READ")
    ability = population.ability[scored["person_id"].to_numpy()]
    assert np.corrcoef(ability, scored["READSCORE"].astype(int))[0, 1] > 0.6
    rwm = ks2["RWMEXP"] == "1"
    assert rwm[ks2["FSM6"] == "0"].mean() - rwm[ks2["FSM6"] == "1"].mean() > 0.1
    assert rwm[ks2["SENF"] == "N"].mean() - rwm[ks2["SENF"] == "K"].mean() > 0.2
    assert 0.15 < (ks2["FSM6"] == "1").mean() < 0.45


def test_identity_columns(ks2: pd.DataFrame) -> None:
    assert not ks2.duplicated(["CANDNO", "year"]).any()  # unique nationally within a year
    assert (ks2["CANDNO"].str[:7] == ks2["LAESTAB"]).all()
    assert (ks2["LAESTAB"] == ks2["LA"] + ks2["ESTAB"].str.zfill(4)).all()
    assert ks2["DOB"].str.fullmatch(r"20\d{6}").all()
    assert set(ks2["SEX"]) == {"M", "F"}
    assert ks2["URN"].str.fullmatch(r"\d{6}").all()


def test_ks2_defects_at_their_rates(ks2: pd.DataFrame) -> None:
    n = len(ks2)
    for label in ("missing_upn", "bad_check", "typo"):
        count = int((ks2["defect"] == label).sum())
        expected = rate(label, "ks2")
        assert abs(count - n * expected) <= 4.5 * math.sqrt(n * expected) + 1, label
    status = ks2["UPN"].map(lambda v: classify_upn(v).value)
    assert (status[ks2["defect"] == "missing_upn"] == UpnStatus.MISSING.value).all()
    assert (status[ks2["defect"] == "bad_check"] == UpnStatus.BAD_CHECK.value).all()
    assert (status[ks2["defect"] == "none"] == UpnStatus.VALID.value).all()
