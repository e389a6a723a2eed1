"""Drawing new people: sex, date of birth, ethnicity, language, names, ability, SEN.

One latent ability and one latent disadvantage per person drive the correlated things
(FSM, SEN, later attainment), so the people behave like a population rather than
independent columns: FSM pupils score lower at KS2, EHC-plan pupils lower still.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from core.codes import codelist
from synth.ethnicity import draw_language, draw_main_ethnicity, draw_recorded_ethnicity
from synth.geography import LocalAuthority
from synth.names import draw_names
from synth.rates import RATES

_SEN = codelist("sen_type")
SEN_TYPES: dict[str, dict[str, float]] = {
    "K": {
        "SLCN": 0.24, "SEMH": 0.20, "MLD": 0.17, "SPLD": 0.13, "ASD": 0.08, "NSA": 0.05,
        "OTH": 0.04, "PD": 0.025, "HI": 0.015, "VI": 0.008, "SLD": 0.004, "MSI": 0.002,
        "PMLD": 0.001,
    },
    "E": {
        "ASD": 0.33, "SLCN": 0.15, "SEMH": 0.14, "MLD": 0.09, "SLD": 0.05, "PD": 0.05,
        "SPLD": 0.03, "HI": 0.025, "VI": 0.012, "OTH": 0.02, "PMLD": 0.01, "MSI": 0.003,
    },
    "special": {
        "ASD": 0.35, "SLD": 0.18, "SEMH": 0.14, "MLD": 0.10, "PMLD": 0.07, "SLCN": 0.07,
        "PD": 0.04, "HI": 0.02, "VI": 0.01, "MSI": 0.005, "OTH": 0.015,
    },
}  # fmt: skip
for _table in SEN_TYPES.values():
    for _code in _table:
        if _code not in _SEN.codes:
            raise ValueError(f"SEN type {_code} is not in core/codelists")

# Group differences in mean disadvantage and prior attainment (rough, for realism only).
_DISADVANTAGE_SHIFT = {
    "ABAN": 0.35, "APKN": 0.3, "BAFR": 0.3, "BCRB": 0.3, "MWBC": 0.35, "WROM": 0.6,
    "WIRT": 0.6, "OOTH": 0.3, "CHNE": -0.3, "AIND": -0.25,
}  # fmt: skip
_ABILITY_SHIFT = {"CHNE": 0.45, "AIND": 0.3, "ABAN": 0.1, "BAFR": 0.05, "WROM": -0.4, "WIRT": -0.4}

EPOCH = np.datetime64("1970-01-01", "D")


def days(day: dt.date) -> int:
    return int((np.datetime64(day, "D") - EPOCH).astype(np.int64))


def school_day(d: np.ndarray) -> np.ndarray:
    """A school day on or after d: the summer holiday (23 July to 31 August) moves to the
    start of September, weekends to the Monday after."""
    d = weekday_on_or_after(np.asarray(d, dtype=np.int64))
    month = d.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    day_of_month = d - month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + 1
    holiday = (month % 12 == 7) | ((month % 12 == 6) & (day_of_month >= 23))
    year_start = month - month % 12
    sept2 = (year_start + 8).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + 1
    return weekday_on_or_after(np.where(holiday, sept2, d))


def weekday_on_or_after(d: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to the next Monday (int days since 1970-01-01, a Thursday)."""
    dow = (d + 3) % 7  # Monday = 0
    return d + np.where(dow == 5, 2, np.where(dow == 6, 1, 0))


def sen_thresholds(latent: np.ndarray) -> tuple[float, float, float]:
    """Cut-offs on the SEN latent giving the national special-school, EHC and SEN support shares.

    Fixed from the first year's pupils, so LAs and groups with more disadvantage get more SEN.
    """
    special, ehc, support = RATES["special_school"], RATES["sen_ehc_plan"], RATES["sen_support"]
    cuts = np.quantile(latent, [1 - special, 1 - ehc, 1 - ehc - support])
    return float(cuts[0]), float(cuts[1]), float(cuts[2])


def _sen_latent(
    rng: np.random.Generator, ability: np.ndarray, male: np.ndarray, disadvantage: np.ndarray
):
    return (
        -0.9 * ability + 0.45 * male + 0.25 * disadvantage + rng.normal(0.0, 0.8, size=len(ability))
    )


def _categorical(rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
    codes = np.array(list(weights), dtype="U4")
    cdf = np.cumsum(list(weights.values()))
    cdf = cdf / cdf[-1]
    return codes[np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(codes) - 1)]


def draw_dob(rng: np.random.Generator, reception_year: np.ndarray) -> np.ndarray:
    """Birth dates consistent with the Reception year, except a few taught out of year group.

    A child is in Reception in the academic year that starts when they are 4 on 31 August.
    Out-of-year pupils are mostly summer-born children held back a year, a few moved up.
    """
    n = len(reception_year)
    months = (reception_year.astype(np.int64) - 5 - 1970) * 12 + 8  # September of year R-5
    sep1 = months.astype("datetime64[M]").astype("datetime64[D]")
    next_sep1 = (months + 12).astype("datetime64[M]").astype("datetime64[D]")
    length = (next_sep1 - sep1).astype(np.int64)
    dob = sep1 + (rng.random(n) * length).astype("timedelta64[D]")
    out_of_year = rng.random(n) < RATES["out_of_year_group"]
    held_back = out_of_year & (rng.random(n) < 0.8)
    moved_up = out_of_year & ~held_back
    # held back: born April-August, a year older than the cohort; moved up: Sept-Dec, a year younger
    dob = np.where(held_back, sep1 - rng.integers(1, 154, size=n).astype("timedelta64[D]"), dob)
    dob = np.where(moved_up, next_sep1 + rng.integers(0, 122, size=n).astype("timedelta64[D]"), dob)
    return dob


def draw_people(
    rng: np.random.Generator,
    las: list[LocalAuthority],
    la_idx: np.ndarray,
    reception_year: np.ndarray,
    from_abroad: bool = False,
    sen_cuts: tuple[float, float, float] | None = None,
) -> dict[str, np.ndarray]:
    """Attributes of new people, each living in las[la_idx].

    from_abroad: pupils arriving from abroad (their own ethnicity mix, less English).
    sen_cuts: SEN latent cut-offs (see sen_thresholds); None takes them from these people.
    """
    n = len(la_idx)
    sex = np.where(rng.random(n) < RATES["male"], "M", "F").astype("U1")
    main = np.empty(n, dtype="U4")
    recorded = np.empty(n, dtype="U4")
    for i, la in enumerate(las):  # per LA, not per person
        rows = np.flatnonzero(la_idx == i)
        if rows.size == 0:
            continue
        main[rows] = draw_main_ethnicity(
            rng, "from_abroad" if from_abroad else la.profile, rows.size
        )
        recorded[rows] = draw_recorded_ethnicity(rng, main[rows], la.profile, la.extended_ethnicity)
    language = draw_language(rng, main, 0.5 if from_abroad else 1.0)
    names = draw_names(rng, sex, main, RATES["middle_name"], RATES["second_middle_name"])
    disadvantage = (
        rng.standard_normal(n) + _shift(main, _DISADVANTAGE_SHIFT) + (0.3 if from_abroad else 0.0)
    )
    ability = 0.85 * rng.standard_normal(n) - 0.5 * disadvantage + _shift(main, _ABILITY_SHIFT)
    ability -= 0.05 * (sex == "M")
    latent = _sen_latent(rng, ability, sex == "M", disadvantage)
    special_cut, ehc_cut, support_cut = sen_cuts if sen_cuts is not None else sen_thresholds(latent)
    special = latent >= special_cut
    provision = np.where(latent >= ehc_cut, "E", np.where(latent >= support_cut, "K", "N")).astype(
        "U1"
    )
    sen1 = np.full(n, "", dtype="U4")
    sen2 = np.full(n, "", dtype="U4")
    for key, rows in (
        ("K", provision == "K"),
        ("E", (provision == "E") & ~special),
        ("special", special),
    ):
        idx = np.flatnonzero(rows)
        sen1[idx] = _categorical(rng, idx.size, SEN_TYPES[key])
        second = idx[rng.random(idx.size) < RATES["sen_second_need"]]
        table = {k: v for k, v in SEN_TYPES[key].items() if k != "NSA"}
        pick = _categorical(rng, second.size, table)
        again = pick == sen1[second]
        pick[again] = _categorical(rng, int(again.sum()), table)
        keep = pick != sen1[second]
        sen2[second[keep]] = pick[keep]
    return {
        "sex": sex,
        "dob": draw_dob(rng, reception_year),
        "reception_year": reception_year.astype(np.int16),
        "ethnicity_main": main,
        "ethnicity": recorded,
        "language": language,
        "forename": names["forename"],
        "middle": names["middle"],
        "middle2": names["middle2"],
        "surname": names["surname"],
        "disadvantage": disadvantage.astype(np.float32),
        "ability": ability.astype(np.float32),
        "sen_provision": provision,
        "sen_type1": sen1,
        "sen_type2": sen2,
        "special": special,
        "uln_in_census": rng.random(n) < RATES["uln_in_census_y10_plus"],
        "from_abroad": np.full(n, from_abroad),
        "sen_latent": latent.astype(np.float32),
    }


def _shift(main: np.ndarray, table: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(main))
    for code, value in table.items():
        out[main == code] = value
    return out
