"""Movement across terms and years: intakes, transfers, moves, joiners, leavers, dual rolls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synth_fixtures import PUPILS, YEARS, Generated

from core.periods import Term
from synth.rates import RATES

ORDER = {"autumn": 0, "spring": 1, "summer": 2}


@pytest.fixture(scope="module")
def main_rows(census_records: pd.DataFrame) -> pd.DataFrame:
    df = census_records[census_records["enrolstatus"] != "S"]
    return df.assign(period=(df["year"] - YEARS[0].start) * 3 + df["term"].map(ORDER))


def test_first_autumn_has_the_requested_pupils(main_rows: pd.DataFrame) -> None:
    first = main_rows[main_rows["period"] == 0]
    assert first["person_id"].nunique() == PUPILS


def test_pupils_change_school_and_la_between_terms(main_rows: pd.DataFrame) -> None:
    wide = main_rows.pivot_table(
        index="person_id", columns="period", values="NativeId", aggfunc="first"
    )
    la = main_rows.pivot_table(index="person_id", columns="period", values="la", aggfunc="first")
    school = main_rows.assign(key=main_rows["la"].astype(str) + main_rows["NativeId"]).pivot_table(
        index="person_id", columns="period", values="key", aggfunc="first"
    )
    # spring and summer: no year transition, so changes are moves (about 3% per term)
    for t in (1, 2, 4, 5):
        both = school[t - 1].notna() & school[t].notna()
        moved = (school.loc[both, t - 1] != school.loc[both, t]).mean()
        assert 0.015 < moved < 0.05, (t, moved)
        cross = (la.loc[both, t - 1] != la.loc[both, t]).mean()
        assert 0.001 < cross < 0.012, (t, cross)
    assert wide.shape[1] == 6


def test_la_movers_get_a_new_postcode_in_the_new_la(
    generated: Generated, main_rows: pd.DataFrame
) -> None:
    from synth.geography import LOCAL_AUTHORITIES

    addresses = []
    for year in YEARS:
        for term in ORDER:
            for path in (generated.landing / year.slug / "school_census" / term).glob(
                "LA*/*_addressesonroll.csv"
            ):
                df = pd.read_csv(path, dtype=str, keep_default_na=False)
                df["source_file"] = (
                    path.relative_to(generated.landing)
                    .as_posix()
                    .replace("addressesonroll", "pupilonroll")
                )
                addresses.append(df[["source_file", "pupilonrolltableid", "postcode"]])
    addr = pd.concat(addresses)
    rows = main_rows.merge(addr, on=["source_file", "pupilonrolltableid"])
    outward = rows["postcode"].str.split(" ").str[0]
    districts = {la: {d for d, _ in LOCAL_AUTHORITIES[la].districts} for la in rows["la"].unique()}
    assert all(o in districts[la] for o, la in zip(outward, rows["la"], strict=True))
    assert rows["postcode"].str.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2}").all()
    post = rows.pivot_table(index="person_id", columns="period", values="postcode", aggfunc="first")
    la = rows.pivot_table(index="person_id", columns="period", values="la", aggfunc="first")
    changed_la = (la[2] != la[1]) & la[1].notna() & la[2].notna()
    assert changed_la.sum() > 0
    assert (post.loc[changed_la, 2] != post.loc[changed_la, 1]).all()


def test_reception_intake_and_year_6_to_7_transfer(main_rows: pd.DataFrame, population) -> None:
    second_autumn = main_rows[main_rows["period"] == 3]
    newcomers = set(second_autumn["person_id"]) - set(
        main_rows.loc[main_rows["period"] == 2, "person_id"]
    )
    reception = second_autumn[
        second_autumn["person_id"].isin(newcomers) & (second_autumn["ncyearactual"] == "R")
    ]
    assert len(reception) > 0.05 * PUPILS
    y6 = main_rows[(main_rows["period"] == 2) & (main_rows["ncyearactual"] == "6")]
    y7 = main_rows[(main_rows["period"] == 3) & (main_rows["ncyearactual"] == "7")]
    both = y6.merge(y7, on="person_id", suffixes=("_6", "_7"))
    assert len(both) > 0.9 * len(y6)
    special = both["NativeId_6"].str[3] == "7"
    assert (both.loc[~special, "NativeId_7"].str[3] == "4").all()  # a secondary school
    assert (both.loc[special, "NativeId_7"] == both.loc[special, "NativeId_6"]).all()


def test_about_45_percent_stay_on_into_year_12(main_rows: pd.DataFrame) -> None:
    y11 = set(
        main_rows.loc[(main_rows["period"] == 2) & (main_rows["ncyearactual"] == "11"), "person_id"]
    )
    y12 = set(
        main_rows.loc[(main_rows["period"] == 3) & (main_rows["ncyearactual"] == "12"), "person_id"]
    )
    share = len(y11 & y12) / len(y11)
    assert abs(share - RATES["stay_on_sixth_form"]) < 0.07
    y12_schools = main_rows.loc[
        (main_rows["period"] == 3) & (main_rows["ncyearactual"] == "12"), "NativeId"
    ]
    assert y12_schools.str[3].isin(["4", "7"]).all()


def test_joiners_and_leavers(generated: Generated, main_rows: pd.DataFrame, population) -> None:
    joiners = population.arrival == 2
    assert joiners.sum() > 0.005 * PUPILS
    per_period = np.bincount(population.first_period[joiners])
    assert per_period[0] == 0 and (per_period[1:6] > 0).all()
    # Pupils leaving mid-phase (not at the end of Y6, Y11 or Y13) are listed as no longer on roll.
    spring = generated.records("pupilnolongeronroll")
    assert len(spring) > 0
    assert spring["person_id"].notna().all()
    assert (spring["leavingdate"] != "").all()


def test_no_longer_on_roll_lists_leavers_since_the_previous_census(
    generated: Generated, population
) -> None:
    off = generated.records("pupilnolongeronroll")
    off = off.assign(period=(off["year"] - YEARS[0].start) * 3 + off["term"].map(ORDER))
    leaving = pd.to_datetime(off["leavingdate"], format="%Y-%b-%d %H:%M:%S")
    census = pd.to_datetime(population.census_day.astype("datetime64[D]"))
    this = census[off["period"].to_numpy()]
    prev = census[np.maximum(off["period"].to_numpy() - 1, 0)]
    later = off["period"].to_numpy() > 0
    assert (leaving[later] > np.asarray(prev[later]) - pd.Timedelta(days=1)).all()
    assert (leaving.to_numpy() < np.asarray(this)).all()
    entry = pd.to_datetime(off["entrydate"], format="%Y-%b-%d %H:%M:%S")
    assert (entry <= leaving).all()
    assert off.loc[off["period"] == 0].empty  # nothing before the first census of the run
    # every pupil who left a school since the previous census is listed by that school
    for t in (1, 4):
        gone = (population.school[t - 1] >= 0) & (population.school[t] != population.school[t - 1])
        listed = off.loc[off["period"] == t, "person_id"]
        assert set(np.flatnonzero(gone)) == set(listed)


def test_a_few_pupils_are_dual_registered_main_and_subsidiary(census_records: pd.DataFrame) -> None:
    subsidiary = census_records[census_records["enrolstatus"] == "S"]
    main = census_records[census_records["enrolstatus"] == "M"]
    assert len(subsidiary) > 0
    pairs = subsidiary.merge(main, on=["year", "term", "person_id"], suffixes=("_s", "_m"))
    assert len(pairs) == len(subsidiary)
    assert (
        pairs["NativeId_s"] + pairs["la_s"].astype(str)
        != pairs["NativeId_m"] + pairs["la_m"].astype(str)
    ).all()
    assert set(census_records["enrolstatus"]) == {"C", "M", "S"}


def test_census_days_follow_the_published_rule(population) -> None:
    days = population.census_day.astype("datetime64[D]")
    assert str(days[population.period_index(YEARS[1], Term.SPRING)]) == "2025-01-16"
    assert str(days[population.period_index(YEARS[0], Term.AUTUMN)]) == "2023-10-05"


def test_entry_dates_are_school_days_before_census_day(
    census_records: pd.DataFrame, population
) -> None:
    entry = pd.to_datetime(census_records["entrydate"], format="%Y-%b-%d %H:%M:%S")
    assert (entry.dt.day_of_week < 5).all()
    holiday = ((entry.dt.month == 7) & (entry.dt.day >= 23)) | (entry.dt.month == 8)
    assert not holiday.any()
    period = (census_records["year"] - YEARS[0].start) * 3 + census_records["term"].map(ORDER)
    census = pd.to_datetime(population.census_day.astype("datetime64[D]"))[period.to_numpy()]
    assert (entry.to_numpy() < np.asarray(census)).all()
