"""UPNs, ULNs and the identifier defects, checked against the documented rates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from linkage.identifiers import UpnStatus, classify_upn, is_valid_uln, upn_check_letter
from synth.defects import rate
from synth.population import ARRIVAL_FROM_ABROAD, UPN_TEMPORARY


def assert_rate(count: int, n: int, expected: float, what: str) -> None:
    """Binomial count within 4.5 standard deviations (plus one) of the documented rate."""
    sd = math.sqrt(n * expected * (1 - expected))
    assert abs(count - n * expected) <= 4.5 * sd + 1, (
        f"{what}: {count}/{n}, expected {expected:.4f}"
    )


def _status(values: pd.Series) -> pd.Series:
    return values.map(lambda v: classify_upn(v).value)


def test_every_upn_is_valid_except_the_planted_defects(census_records: pd.DataFrame) -> None:
    status = _status(census_records["upn"])
    defect = census_records["defect"]
    clean = defect.isin(["none", "typo", "dob_swap", "name_change", "former_upn"])
    assert (status[clean] == UpnStatus.VALID.value).all()
    assert (status[defect == "temporary_upn"] == UpnStatus.TEMPORARY.value).all()
    assert (status[defect == "bad_check"] == UpnStatus.BAD_CHECK.value).all()
    assert (status[defect == "missing_upn"] == UpnStatus.MISSING.value).all()
    assert (
        status[defect == "duplicate_upn"]
        .isin([UpnStatus.VALID.value, UpnStatus.TEMPORARY.value])
        .all()
    )


def test_record_level_defects_occur_at_their_documented_rates(census_records: pd.DataFrame) -> None:
    n = len(census_records)
    counts = census_records["defect"].value_counts()
    for label in ("missing_upn", "bad_check", "typo", "dob_swap", "duplicate_upn"):
        assert_rate(int(counts.get(label, 0)), n, rate(label), label)
    status = _status(census_records["upn"])
    assert_rate(
        int((status == UpnStatus.BAD_CHECK.value).sum()), n, rate("bad_check"), "bad check letters"
    )


def test_minted_upns_follow_the_layout(census_records: pd.DataFrame, population) -> None:
    upn = population.upn.value
    assert len(np.unique(upn)) == len(upn), "every UPN minted is unique"
    permanent = upn[population.upn.kind != UPN_TEMPORARY]
    assert all(upn_check_letter(u[1:]) == u[0] for u in permanent[:2000])
    # The admitting school's LA and estab, then the two-digit allocation year.
    first = census_records[census_records["defect"] == "none"]
    sample = first.sample(500, random_state=1)
    years = sample["upn"].str[8:10].astype(int)
    assert years.between(0, 30).all()


def test_duplicate_upns_are_within_one_school_return(census_records: pd.DataFrame) -> None:
    dups = census_records[census_records["defect"] == "duplicate_upn"]
    assert len(dups) > 0
    for _, row in dups.iterrows():
        same = census_records[
            (census_records["source_file"] == row["source_file"])
            & (census_records["NativeId"] == row["NativeId"])
            & (census_records["upn"] == row["upn"])
        ]
        assert len(same) == 2 and same["person_id"].nunique() == 2


def test_temporary_upn_is_replaced_next_term_and_kept_as_former_upn(
    census_records: pd.DataFrame,
) -> None:
    order = {"autumn": 0, "spring": 1, "summer": 2}
    df = census_records.assign(
        period=census_records["year"] * 3 + census_records["term"].map(order)
    )
    temporary = df[df["defect"] == "temporary_upn"]
    assert len(temporary) > 5
    followed = 0
    for _, row in temporary.iterrows():
        nxt = df[(df["person_id"] == row["person_id"]) & (df["period"] == row["period"] + 1)]
        if nxt.empty:
            continue  # left before the next census, or the last term of the run
        followed += 1
        replaced = nxt[nxt["formerupn"] == row["upn"]]
        assert len(replaced) >= 1
        assert (
            _status(replaced["upn"]).isin(
                [UpnStatus.VALID.value, UpnStatus.BAD_CHECK.value, "missing"]
            )
        ).all()
        assert (replaced["upn"] != row["upn"]).all()
    assert followed > 0


def test_joiners_first_appear_with_temporary_upns_at_about_thirty_percent(population) -> None:
    joiners = population.arrival == ARRIVAL_FROM_ABROAD
    first = population.upn.index_at(population.person_id[joiners], population.first_period[joiners])
    temporary = population.upn.kind[first] == UPN_TEMPORARY
    assert_rate(int(temporary.sum()), int(joiners.sum()), rate("temporary_upn"), "temporary UPNs")


def test_former_upn_is_shown_after_a_reissue(census_records: pd.DataFrame) -> None:
    former = census_records[census_records["defect"] == "former_upn"]
    assert len(former) > 0
    assert (former["formerupn"] != "").all()
    assert (former["formerupn"] != former["upn"]).all()
    assert (_status(former["formerupn"]).isin(["valid", "temporary"])).all()
    clean = census_records[census_records["defect"] == "none"]
    assert (clean["formerupn"] == "").all()


def test_uln_is_carried_by_most_pupils_in_year_10_and_above(census_records: pd.DataFrame) -> None:
    nc = pd.to_numeric(census_records["ncyearactual"].replace("R", "0"))
    older = census_records[nc >= 10]
    carried = older["uniquelearnernumber"] != ""
    assert 0.85 < carried.mean() < 0.95
    assert older.loc[carried, "uniquelearnernumber"].map(is_valid_uln).all()
    assert (census_records.loc[nc < 10, "uniquelearnernumber"] == "").all()
    # one ULN per person
    per_person = older[carried].groupby("person_id")["uniquelearnernumber"].nunique()
    assert (per_person == 1).all()


def test_surname_changes_persist_with_formersurname(census_records: pd.DataFrame) -> None:
    changed = census_records[census_records["defect"] == "name_change"]
    assert len(changed) > 0
    assert (changed["formersurname"] != "").all()
    assert (changed["formersurname"] != changed["preferredsurname"]).all()
    order = {"autumn": 0, "spring": 1, "summer": 2}
    people = census_records[census_records["person_id"].isin(set(changed["person_id"]))]
    people = people.assign(period=people["year"] * 3 + people["term"].map(order)).sort_values(
        "period"
    )
    # Once changed, the new surname stays: formersurname never disappears again.
    for _, rows in people.groupby("person_id"):
        has = (rows["formersurname"] != "").to_numpy()
        assert (has == np.maximum.accumulate(has)).all()
        assert rows.loc[has, "surname"].nunique() == 1


def test_typos_are_one_character_edits_of_the_true_name(census_records: pd.DataFrame) -> None:
    from synth.names import FORENAMES, SURNAMES

    typos = census_records[census_records["defect"] == "typo"]
    known = set(FORENAMES) | set(SURNAMES)
    assert len(typos) > 0
    assert ((~typos["forename"].isin(known)) | (~typos["surname"].isin(known))).mean() > 0.7
    clean = census_records[census_records["defect"] == "none"]
    assert clean["forename"].isin(known).all() and clean["surname"].isin(known).all()
