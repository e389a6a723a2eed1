"""Pupil characteristics: age and year group, sex, ethnicity, language, FSM, SEN, names."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from synth_fixtures import YEARS, Generated

from core.codes import codelist, mapping
from synth.rates import RATES


def _expected_nc(df: pd.DataFrame) -> pd.Series:
    """NC year from age on 31 August before the year: 4 -> R (0), 5 -> 1, ... 17 -> 13."""
    dob = pd.to_datetime(df["dob"], format="%Y-%b-%d %H:%M:%S")
    aug31 = pd.to_datetime(df["year"].astype(str) + "-08-31")
    age = aug31.dt.year - dob.dt.year - ((aug31.dt.month < dob.dt.month) | (
        (aug31.dt.month == dob.dt.month) & (aug31.dt.day < dob.dt.day))).astype(int)  # fmt: skip
    return age - 4


def test_dob_matches_nc_year_apart_from_the_out_of_year_share(census_records: pd.DataFrame) -> None:
    df = census_records[census_records["defect"] != "dob_swap"]
    nc = pd.to_numeric(df["ncyearactual"].replace("R", "0"))
    mismatch = _expected_nc(df) != nc
    people = df.assign(mismatch=mismatch).groupby("person_id")["mismatch"].max()
    assert 0.001 < people.mean() < 0.012, people.mean()
    assert (abs(_expected_nc(df) - nc)[mismatch] == 1).all()  # out by one year, never more
    assert set(df["ncyearactual"]) == {"R", *[str(i) for i in range(1, 14)]}


def test_dob_swaps_swap_day_and_month(census_records: pd.DataFrame) -> None:
    swaps = census_records[census_records["defect"] == "dob_swap"]
    clean = census_records[census_records["defect"] == "none"].drop_duplicates("person_id")
    joined = swaps.merge(clean[["person_id", "dob"]], on="person_id", suffixes=("", "_true"))
    assert len(joined) > 0
    for got, true in zip(joined["dob"], joined["dob_true"], strict=True):
        g = dt.datetime.strptime(got, "%Y-%b-%d %H:%M:%S")
        t = dt.datetime.strptime(true, "%Y-%b-%d %H:%M:%S")
        assert (g.year, g.month, g.day) == (t.year, t.day, t.month)


def test_sex_ethnicity_and_language_are_valid_and_realistic(census_records: pd.DataFrame) -> None:
    sex = census_records["gender"].fillna(census_records["sex"])
    first = census_records.assign(sex_code=sex).drop_duplicates("person_id")
    assert abs((first["sex_code"] == "M").mean() - RATES["male"]) < 0.03
    eth = codelist("ethnicity")
    planted = census_records["source_file"].str.contains("spring/LA330") & (
        census_records["year"] == 2023
    )
    assert census_records.loc[~planted, "ethnicity"].map(eth.is_valid).all()
    main = first["ethnicity"].map(mapping("ethnicity_main"))
    assert 0.5 < (main == "WBRI").mean() < 0.75
    assert (first["ethnicity"] != main).mean() > 0.05  # some extended codes
    assert {"WENG", "AMPK"} <= set(census_records["ethnicity"])
    # London and Birmingham are more diverse than Cornwall.
    wbri = first.assign(main=main).groupby("la")["main"].apply(lambda s: (s == "WBRI").mean())
    assert wbri[908] > 0.8 and wbri[330] < 0.45 and wbri[204] < 0.45
    lang = codelist("language")
    assert census_records["language"].map(lang.is_valid).all()
    english = first["language"].isin(["ENG", "ENB"])
    by_eth = english.groupby(main).mean()
    assert by_eth["WBRI"] > 0.98 and by_eth["APKN"] < 0.6 and by_eth["BAFR"] < 0.7


def test_fsm_periods_give_about_a_quarter_eligible_on_census_day(
    generated: Generated, population
) -> None:
    year, term = YEARS[0], "spring"
    census_day = pd.Timestamp(
        str(population.census_day[population.period_index(year, term)].astype("datetime64[D]"))
    )
    pupils, periods = [], []
    for path in (generated.landing / year.slug / "school_census" / term).glob("LA*"):
        pupils.append(
            pd.read_csv(next(path.glob("*_pupilonroll.csv")), dtype=str, keep_default_na=False)
        )
        periods.append(
            pd.read_csv(next(path.glob("*_fsmperiod.csv")), dtype=str, keep_default_na=False)
        )
    pupil, fsm = pd.concat(pupils), pd.concat(periods)
    start = pd.to_datetime(fsm["fsmstartdate"], format="%Y-%b-%d %H:%M:%S")
    end = pd.to_datetime(fsm["fsmenddate"].replace("", None), format="%Y-%b-%d %H:%M:%S")
    assert (end.isna() | (end >= start)).all()
    eligible_ids = set(
        fsm.loc[(start <= census_day) & (end.isna() | (end >= census_day)), "pupilonrolltableid"]
    )
    share = pupil["pupilonrolltableid"].isin(eligible_ids).mean()
    assert abs(share - RATES["fsm_on_census_day"]) < 0.03, share
    assert set(fsm["ukcountry"]) <= set(codelist("uk_country").codes)


def test_fsm_states_agree_with_periods(population) -> None:
    """Eligible on a census day exactly when a period covers it (for people present then)."""
    fp = population.fsm_periods
    for t in range(len(population.periods)):
        day = population.census_day[t]
        active = (fp.start <= day) & ((fp.end < 0) | (fp.end >= day))
        eligible = np.zeros(population.n_persons, bool)
        eligible[fp.person[active]] = True
        present = population.first_period <= t
        assert (eligible[present] == population.fsm[t][present]).all()


def test_sen_provision_and_needs(generated: Generated, census_records: pd.DataFrame) -> None:
    first = census_records[
        (census_records["year"] == YEARS[0].start) & (census_records["term"] == "autumn")
    ]
    shares = first["senprovision"].value_counts(normalize=True)
    assert (
        abs(shares["N"] - 0.83) < 0.03
        and abs(shares["K"] - 0.13) < 0.025
        and abs(shares["E"] - 0.04) < 0.015
    )
    base = f"{YEARS[0].slug}/school_census/spring/LA886/2024_spring_"
    pupils, needs = generated.csv(base + "pupilonroll.csv"), generated.csv(base + "senneeds.csv")
    with_sen = set(pupils.loc[pupils["senprovision"] != "N", "pupilonrolltableid"])
    assert set(needs["pupilonrolltableid"]) == with_sen
    rank1 = needs[needs["sentyperank"] == "1"]
    assert rank1["pupilonrolltableid"].is_unique and len(rank1) == len(with_sen)
    second = needs["sentyperank"].eq("2").sum() / len(rank1)
    assert 0.2 < second < 0.4
    assert needs["sentype"].map(codelist("sen_type").is_valid).all()
    special = pupils[pupils["NativeId"].str.startswith("SCH7") & (pupils["enrolstatus"] != "S")]
    assert (special["senprovision"] == "E").all()


def test_names_have_realistic_frequencies(census_records: pd.DataFrame) -> None:
    first = census_records[census_records["defect"] == "none"].drop_duplicates("person_id")
    top = first["forename"].value_counts(normalize=True)
    assert top.iloc[0] < 0.03 and first["forename"].nunique() > 400
    surnames = first["surname"].value_counts(normalize=True)
    assert surnames.iloc[0] < 0.03 and first["surname"].nunique() > 500
    assert 0.55 < (first["middlenames"] != "").mean() < 0.65
    assert first["surname"].str.contains("'").any()  # O'Brien and friends survive the export
