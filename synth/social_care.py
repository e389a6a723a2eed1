"""Children's social care histories for a population: CIN episodes and periods of care.

Both children's returns (the CIN census and the SSDA903) are views of these histories,
so a looked-after child is also a child in need, in the same LA, with the same dates.
Events run in continuous time (days since 1970) from a burn-in before the first year
to the end of the last, for the population's pupils (from birth or arrival to their
18th birthday) and for a pool of pre-school children who never reach the census
(person id < 0 in the truth: UN1, not of school age).

Rates are calibrated to England's published orders of magnitude: about 3% of children
in need at some time in a year and about 0.7% of under-18s looked after on 31 March
(CARE_RATES; measured by tests/feeds/children). Disadvantage and SEN raise a child's
chance of referral; some arrivals from abroad aged 14-17 are unaccompanied
asylum-seeking children who come straight into care.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from core.periods import AcademicYear
from synth.dynamics import ARRIVAL_FROM_ABROAD
from synth.population import Population
from synth.rng import stream

YEAR = 365.25
NEVER = np.int64(2**40)  # an end date beyond any run: still open

CARE_RATES = MappingProxyType(
    {
        "referral_per_year": 0.013,  # referrals per child-year at average disadvantage
        "disadvantage_effect": 0.9,  # log-rate per unit of latent disadvantage
        "sen_k_effect": 0.5,
        "sen_e_effect": 0.9,
        "referral_nfa": 0.22,  # referrals closed with no further action
        "closed_after_assessment": 0.35,
        "cin_plan": 0.50,
        "section47": 0.30,
        "cpp_after_s47": 0.45,
        "care_from_episode": 0.28,  # continuing CIN episodes that lead to care
        "preschool_pool": 0.70,  # pre-school children simulated, per pupil
        "uasc_among_teen_arrivals": 0.12,
        "unborn_referral": 0.04,  # pre-school referrals made before birth
    }
)

LEGAL_STATUS = {
    "C2": 0.42,
    "V2": 0.25,
    "C1": 0.20,
    "E1": 0.04,
    "J1": 0.03,
    "L1": 0.02,
    "L2": 0.02,
    "V3": 0.02,
}
PLACEMENT = {
    "U6": 0.40,
    "U3": 0.10,
    "U4": 0.10,
    "U1": 0.06,
    "K2": 0.12,
    "P1": 0.07,
    "U5": 0.02,
    "R3": 0.02,
    "S1": 0.02,
    "Z1": 0.02,
    "T0": 0.02,
    "K1": 0.01,
    "R1": 0.04,
}
PLACEMENT_16 = {"K3": 0.5, "U6": 0.3, "K2": 0.2}  # 16+: supported accommodation
PROVIDER = {"PR1": 0.45, "PR4": 0.40, "PR5": 0.05, "PR2": 0.05, "PR0": 0.05}
NEED = {
    "N1": 0.62,
    "N4": 0.08,
    "N5": 0.12,
    "N8": 0.09,
    "N2": 0.03,
    "N3": 0.03,
    "N6": 0.02,
    "N7": 0.02,
}
REFERRAL_SOURCE = {
    "6": 0.29,
    "2A": 0.19,
    "3A": 0.04,
    "3B": 0.03,
    "3E": 0.05,
    "3F": 0.03,
    "5A": 0.04,
    "5D": 0.05,
    "1A": 0.07,
    "1C": 0.01,
    "1D": 0.02,
    "4": 0.02,
    "7": 0.03,
    "8": 0.04,
    "9": 0.02,
    "10": 0.02,
    "2B": 0.02,
    "1B": 0.01,
    "5B": 0.01,
    "5C": 0.01,
}
CIN_NEED = {
    "N1": 0.55,
    "N2": 0.09,
    "N3": 0.04,
    "N4": 0.09,
    "N5": 0.07,
    "N6": 0.04,
    "N7": 0.01,
    "N8": 0.03,
    "N9": 0.06,
    "N0": 0.02,
}
ABUSE = {"NEG": 0.50, "EMO": 0.34, "PHY": 0.08, "SAB": 0.04, "MUL": 0.04}
FACTORS = (
    "3A",
    "3B",
    "4B",
    "1B",
    "2B",
    "8F",
    "4A",
    "13A",
    "14A",
    "15A",
    "10A",
    "22A",
    "6A",
    "5A",
    "12A",
    "7A",
)
CEASE_YOUNG = {
    "E4A": 0.35,
    "E11": 0.20,
    "E45": 0.10,
    "E41": 0.08,
    "E13": 0.07,
    "E4B": 0.05,
    "E8": 0.10,
    "E3": 0.05,
}
CEASE_OLD = {
    "E4A": 0.35,
    "E13": 0.10,
    "E4B": 0.08,
    "E8": 0.17,
    "E3": 0.05,
    "E9": 0.04,
    "E14": 0.08,
    "E41": 0.05,
    "E46": 0.08,
}
CEASE_18 = {"E17": 0.25, "E5": 0.35, "E6": 0.15, "E8": 0.15, "E7": 0.10}
PLACE_CHANGE = {
    "CARPL": 0.40,
    "CREQB": 0.15,
    "CREQO": 0.10,
    "LAREQ": 0.10,
    "CHILD": 0.07,
    "STAND": 0.04,
    "ALLEG": 0.03,
    "CLOSE": 0.03,
    "APPRR": 0.03,
    "OTHER": 0.05,
}


@dataclass(frozen=True)
class Subjects:
    """Everyone who may have a social-care history: pupils, then the pre-school pool."""

    person_id: np.ndarray  # >= 0: index into the Population; < 0: pre-school, never a pupil
    dob: np.ndarray  # int64 days
    sex: np.ndarray  # 'M' / 'F'
    ethnicity: np.ndarray  # main code
    home_la: np.ndarray  # int16 LA index for the pre-school pool (-1 for pupils: by date)
    disadvantage: np.ndarray
    uasc: np.ndarray  # bool: arrived unaccompanied (asylum seeking)
    arrival: np.ndarray  # int64 days: in England from (birth, or arrival from abroad)


@dataclass(frozen=True)
class CinEpisodes:
    """One row per CIN episode (referral to closure), with one of each module at most."""

    subject: np.ndarray
    la_idx: np.ndarray
    referral: np.ndarray
    closure: np.ndarray  # NEVER if still open at the end of the run
    nfa: np.ndarray
    source: np.ndarray
    need: np.ndarray
    reason: np.ndarray  # closure reason ('' while open)
    assessment: np.ndarray  # start day, -1 if none
    authorised: np.ndarray
    factors: np.ndarray  # (n, 3) factor codes, '' unused; "21" when none identified
    plan_start: np.ndarray
    plan_end: np.ndarray
    s47: np.ndarray
    icpc: np.ndarray
    cpp_start: np.ndarray
    cpp_end: np.ndarray
    cpp_category: np.ndarray
    cpp_previous: np.ndarray
    care: np.ndarray  # index of the period of care this episode led to, -1 if none


@dataclass(frozen=True)
class CareEpisodes:
    """SSDA903 episodes: each period of care is one or more episodes, in date order."""

    period: np.ndarray  # index of the period of care
    subject: np.ndarray
    la_idx: np.ndarray  # the responsible LA (where care started)
    decom: np.ndarray
    dec: np.ndarray  # NEVER if still open at the end of the run
    rne: np.ndarray
    legal_status: np.ndarray
    placement: np.ndarray
    provider: np.ndarray
    need: np.ndarray
    reason_ceased: np.ndarray  # X1 between episodes, a REC code at the end ('' while open)
    place_change: np.ndarray  # reason for a placement change ending this episode
    placement_district: np.ndarray  # int index into the address book's districts
    placement_urn: np.ndarray  # '' unless a registered home


@dataclass(frozen=True)
class CareHistory:
    subjects: Subjects
    cin: CinEpisodes
    care: CareEpisodes
    care_start: np.ndarray  # per period of care
    care_end: np.ndarray
    care_subject: np.ndarray
    care_la: np.ndarray
    disabilities: np.ndarray  # per subject: comma-separated CIN disability codes


def _pick(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(weights))
    cdf = np.cumsum(np.array(list(weights.values()), dtype=float))
    cdf /= cdf[-1]
    return keys[np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(keys) - 1)]


def _days(d: np.datetime64 | str) -> np.int64:
    return np.datetime64(d, "D").astype(np.int64)


def window(pop: Population) -> tuple[np.int64, np.int64]:
    """Burn-in six years before the first return year; end at the last 31 March."""
    first, last = min(pop.years), max(pop.years)
    return _days(f"{first.start - 6}-04-01"), _days(f"{last.start + 1}-03-31")


def la_at(pop: Population, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """LA index of each pupil on a day: their school's LA at the nearest census, else home's."""
    census = pop.census_day.astype(np.int64)
    t = np.clip(np.searchsorted(census, day, side="right") - 1, 0, len(census) - 1)
    school = pop.school[t, person]
    first = pop.school[pop.first_period[person].astype(np.int64), person]
    by_school = pop.schools.la_idx[np.maximum(np.where(school >= 0, school, first), 0)]
    address = pop.address.value_at(person, t, -1).astype(np.int64)
    by_home = pop.addresses.district_la[pop.addresses.district[np.maximum(address, 0)]]
    return np.where(school >= 0, by_school, np.where(address >= 0, by_home, by_school)).astype(
        np.int16
    )


def _subjects(pop: Population, rng: np.random.Generator) -> Subjects:
    n = pop.n_persons
    dob = pop.dob.astype(np.int64)
    census = pop.census_day.astype(np.int64)
    first = pop.first_period.astype(np.int64)
    abroad = pop.arrival == ARRIVAL_FROM_ABROAD
    arrived = np.where(abroad, census[np.maximum(first - 1, 0)] + 1, dob)
    age_at_arrival = (arrived - dob) / YEAR
    uasc = (
        abroad & (age_at_arrival >= 14) & (rng.random(n) < CARE_RATES["uasc_among_teen_arrivals"])
    )
    k = round(n * CARE_RATES["preschool_pool"])
    w0, w1 = window(pop)
    pre_dob = rng.integers(int(w0) - int(5 * YEAR), int(w1), size=k)
    donor = rng.integers(0, n, size=k) if n else np.zeros(0, np.int64)
    home = la_at(pop, donor, np.full(k, int(w0))) if k else np.zeros(0, np.int16)
    return Subjects(
        person_id=np.concatenate([pop.person_id, -1 - np.arange(k, dtype=np.int64)]),
        dob=np.concatenate([dob, pre_dob]),
        sex=np.concatenate([pop.sex, np.where(rng.random(k) < 0.51, "M", "F")]),
        ethnicity=np.concatenate([pop.ethnicity_main, pop.ethnicity_main[donor]]),
        home_la=np.concatenate([np.full(n, -1, np.int16), home]),
        disadvantage=np.concatenate(
            [pop.disadvantage.astype(np.float64), pop.disadvantage[donor].astype(np.float64)]
        ),
        uasc=np.concatenate([uasc, np.zeros(k, bool)]),
        arrival=np.concatenate([arrived, pre_dob]),
    )


def build(pop: Population) -> CareHistory:
    """Simulate every subject's CIN episodes and periods of care over the run."""
    rng = stream(pop.seed, "social_care")
    subj = _subjects(pop, rng)
    w0, w1 = window(pop)
    pupil = subj.person_id >= 0
    eighteen = subj.dob + int(18 * YEAR)
    start = np.maximum(np.maximum(subj.arrival, w0), subj.dob)
    end = np.minimum(np.where(pupil, eighteen, subj.dob + int(5 * YEAR)), w1)
    span = np.maximum(end - start, 0) / YEAR
    sen = np.concatenate([pop.sen_provision, np.full(len(subj.dob) - pop.n_persons, "N")])
    effect = CARE_RATES["disadvantage_effect"]
    rate = CARE_RATES["referral_per_year"] * np.exp(
        effect * subj.disadvantage
        + CARE_RATES["sen_k_effect"] * (sen == "K")
        + CARE_RATES["sen_e_effect"] * (sen == "E")
        - 0.5 * effect**2
    )
    count = np.minimum(rng.poisson(rate * span), 3)
    count[subj.uasc & (subj.arrival <= w1)] = np.maximum(count[subj.uasc & (subj.arrival <= w1)], 1)
    who = np.repeat(np.arange(len(count)), count)
    m = who.size
    referral = start[who] + (rng.random(m) * (end - start)[who]).astype(np.int64)
    first_of = np.r_[True, who[1:] != who[:-1]] if m else np.zeros(0, bool)
    is_uasc = subj.uasc[who] & first_of  # referred on arrival, straight into care
    referral = np.where(is_uasc, subj.arrival[who] + rng.integers(1, 20, m), referral)
    unborn = ~pupil[who] & (rng.random(m) < CARE_RATES["unborn_referral"])
    referral = np.where(unborn, subj.dob[who] - rng.integers(20, 120, m), referral)
    order = np.lexsort((referral, who))
    who, referral, is_uasc = who[order], referral[order], is_uasc[order]

    nfa = (rng.random(m) < CARE_RATES["referral_nfa"]) & ~is_uasc
    assessed = ~nfa
    assessment = np.where(assessed, referral + rng.integers(0, 10, m), -1)
    authorised = np.where(assessed, assessment + rng.integers(10, 60, m), -1)
    closes_early = assessed & ~is_uasc & (rng.random(m) < CARE_RATES["closed_after_assessment"])
    continuing = assessed & ~closes_early
    to_care = continuing & (is_uasc | (rng.random(m) < CARE_RATES["care_from_episode"]))
    length = np.exp(rng.normal(np.log(240), 0.7, m)).astype(np.int64)
    closure = np.where(
        nfa,
        referral + rng.integers(0, 8, m),
        np.where(closes_early, authorised + rng.integers(0, 15, m), authorised + length),
    )
    care_start = np.where(
        is_uasc, referral + rng.integers(0, 5, m), authorised + rng.integers(0, 90, m)
    )
    kind = rng.random(m)
    care_length = np.where(
        kind < 0.3,
        rng.integers(7, 180, m),
        np.where(kind < 0.7, rng.integers(180, 900, m), rng.integers(900, 6000, m)),
    )
    care_end = np.minimum(care_start + care_length, eighteen[who])
    closure = np.where(to_care, np.maximum(closure, care_end + rng.integers(14, 120, m)), closure)
    # Episodes of need do not overlap: a referral while one is open is not a new episode.
    keep = np.ones(m, bool)
    low = np.int64(-(2**40))
    for _ in range(3):  # at most three referrals per subject, so two looks back suffice
        kept_close = np.where(keep, closure, low)
        latest = np.full(m, low)
        for back in (1, 2):
            same = np.r_[np.zeros(back, bool), who[back:] == who[:-back]][:m]
            earlier = np.r_[np.full(back, low), kept_close[:-back]][:m]
            latest = np.maximum(latest, np.where(same, earlier, low))
        keep = referral > latest
    keep &= referral <= w1
    (
        who,
        referral,
        is_uasc,
        nfa,
        assessed,
        assessment,
        authorised,
        closes_early,
        continuing,
        to_care,
        closure,
        care_start,
        care_end,
    ) = (
        a[keep]
        for a in (
            who,
            referral,
            is_uasc,
            nfa,
            assessed,
            assessment,
            authorised,
            closes_early,
            continuing,
            to_care,
            closure,
            care_start,
            care_end,
        )
    )
    m = who.size
    open_at_end = closure > w1
    reason = np.where(nfa | (closes_early & (rng.random(m) < 0.5)), "RC8", "RC7")
    reason = np.where(closes_early & (reason == "RC7"), "RC9", reason)
    reason = np.where(open_at_end, "", reason)
    closure = np.where(open_at_end, NEVER, closure)
    plan = continuing & (rng.random(m) < CARE_RATES["cin_plan"])
    plan_start = np.where(plan, authorised + rng.integers(0, 20, m), -1)
    plan_end = np.where(plan, np.minimum(plan_start + rng.integers(60, 400, m), closure), -1)
    s47 = continuing & (rng.random(m) < CARE_RATES["section47"])
    s47_start = np.where(s47, assessment + rng.integers(0, 5, m), -1)
    cpp = s47 & (rng.random(m) < CARE_RATES["cpp_after_s47"])
    icpc = np.where(cpp, s47_start + rng.integers(5, 20, m), -1)
    cpp_end = np.where(cpp, np.minimum(icpc + rng.integers(60, 540, m), closure), -1)
    n_factors = np.where(assessed, rng.integers(0, 4, m), 0)
    chosen = np.sort(np.argsort(rng.random((m, len(FACTORS))), axis=1)[:, :3], axis=1)
    factors = np.where(np.arange(3) < n_factors[:, None], np.array(FACTORS)[chosen], "")
    factors[:, 0] = np.where(assessed & (n_factors == 0), "21", factors[:, 0])
    pupil_row = pupil[who]
    la = np.where(
        pupil_row, la_at(pop, np.where(pupil_row, who, 0), referral), subj.home_la[who]
    ).astype(np.int16)

    care_idx = np.flatnonzero(to_care)
    c_subject, c_la = who[care_idx], la[care_idx]
    c_start, c_end = care_start[care_idx], care_end[care_idx]
    leaves_at_18 = c_end >= eighteen[c_subject]
    care = np.full(m, -1, np.int64)
    care[care_idx] = np.arange(care_idx.size)
    cin = CinEpisodes(
        subject=who,
        la_idx=la,
        referral=referral,
        closure=closure,
        nfa=nfa,
        source=np.where(is_uasc, "7", _pick(rng, REFERRAL_SOURCE, m)),
        need=np.where(is_uasc, "N8", _pick(rng, CIN_NEED, m)),
        reason=reason,
        assessment=assessment,
        authorised=authorised,
        factors=factors,
        plan_start=plan_start,
        plan_end=np.where(plan_end > w1, NEVER, plan_end),
        s47=s47_start,
        icpc=icpc,
        cpp_start=icpc,
        cpp_end=np.where(cpp_end > w1, NEVER, cpp_end),
        cpp_category=np.where(cpp, _pick(rng, ABUSE, m), ""),
        cpp_previous=np.where(cpp, rng.poisson(0.3, m), 0),
        care=care,
    )
    age_start = (c_start - subj.dob[c_subject]) / YEAR
    episodes = _care_episodes(
        rng, pop, c_subject, c_la, c_start, c_end, leaves_at_18, age_start, is_uasc[care_idx], w1
    )
    disabled = rng.random(len(subj.dob)) < np.where(sen == "E", 0.45, 0.06)
    kinds = {
        "LD": 0.3,
        "AUT": 0.25,
        "COMM": 0.15,
        "BEH": 0.15,
        "MOB": 0.05,
        "HEAR": 0.05,
        "VIS": 0.05,
    }
    return CareHistory(
        subjects=subj,
        cin=cin,
        care=episodes,
        care_start=c_start,
        care_end=np.where(c_end > w1, NEVER, c_end),
        care_subject=c_subject,
        care_la=c_la,
        disabilities=np.where(disabled, _pick(rng, kinds, len(subj.dob)), "NONE"),
    )


def _care_episodes(
    rng: np.random.Generator,
    pop: Population,
    subject: np.ndarray,
    la: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    leaves_at_18: np.ndarray,
    age: np.ndarray,
    uasc: np.ndarray,
    w1: np.int64,
) -> CareEpisodes:
    """Split each period of care into episodes at placement and legal-status changes."""
    p = subject.size
    years = np.maximum(end - start, 1) / YEAR
    n_ep = np.minimum(rng.poisson(0.9 * years), 6) + 1
    period = np.repeat(np.arange(p), n_ep)
    n = period.size
    k = np.arange(n) - np.repeat(np.cumsum(n_ep) - n_ep, n_ep)
    cut = np.sort(rng.random((p, 7)), axis=1)
    frac = np.where(k == 0, 0.0, cut[period, np.maximum(k - 1, 0)])
    decom = start[period] + (frac * (end - start)[period]).astype(np.int64)
    for _ in range(6):  # strictly increasing within a period
        prev = np.r_[decom[0] - 1, decom[:-1]] if n else decom
        decom = np.where((k > 0) & (decom <= prev), prev + 1, decom)
    last = np.r_[period[1:] != period[:-1], True] if n else np.zeros(0, bool)
    dec = np.where(last, end[period], np.r_[decom[1:], 0] if n else decom)
    rne = np.where(
        k == 0, "S", _pick(rng, {"P": 0.6, "L": 0.25, "T": 0.1, "B": 0.04, "U": 0.01}, n)
    )
    first_ls = _carry_forward(np.where(uasc[period], "V2", _pick(rng, LEGAL_STATUS, n)), k)
    young = age[period] < 5
    changed = np.isin(rne, ("L", "B", "U"))
    later = np.where(young & (first_ls != "V2"), "E1", np.where(first_ls == "C1", "C2", first_ls))
    legal = np.where(changed, later, first_ls)
    since_start = (decom - start[period]) / YEAR
    old = age[period] + since_start >= 16
    place = np.where(old, _pick(rng, PLACEMENT_16, n), _pick(rng, PLACEMENT, n))
    adopt = (legal == "E1") & (rng.random(n) < 0.6)
    place = np.where(adopt, _pick(rng, {"A4": 0.4, "A6": 0.4, "A3": 0.1, "A5": 0.1}, n), place)
    provider = np.where(place == "P1", "PR0", _pick(rng, PROVIDER, n))
    need = _carry_forward(np.where(uasc[period], "N8", _pick(rng, NEED, n)), k)
    final = np.where(
        leaves_at_18[period],
        _pick(rng, CEASE_18, n),
        np.where(age[period] < 10, _pick(rng, CEASE_YOUNG, n), _pick(rng, CEASE_OLD, n)),
    )
    adopted = np.isin(place, ("A3", "A4", "A5", "A6")) & ~leaves_at_18[period]
    final = np.where(adopted & (rng.random(n) < 0.8), "E11", final)
    open_end = last & (end[period] > w1)
    rec = np.where(last, np.where(open_end, "", final), "X1")
    dec = np.where(open_end, NEVER, dec)
    next_rne = np.concatenate([rne[1:], np.array(["S"])]) if n else rne
    moves = ~last & np.isin(next_rne, ("P", "B", "T", "U"))
    change = np.where(moves, _pick(rng, PLACE_CHANGE, n), "")
    # Placements mostly in the responsible LA's districts, some out of area.
    owner = pop.addresses.district_la.astype(np.int64)
    order = np.argsort(owner, kind="stable")
    first = np.searchsorted(owner[order], np.arange(len(pop.las)))
    size = np.bincount(owner, minlength=len(pop.las))
    la64 = la[period].astype(np.int64)
    local = order[
        np.minimum(first[la64] + (rng.random(n) * size[la64]).astype(np.int64), len(order) - 1)
    ]
    anywhere = rng.integers(0, len(owner), n)
    district = np.where(rng.random(n) < 0.65, local, anywhere)
    registered = np.isin(place, ("K1", "K2", "R1", "S1"))
    urn = np.where(registered, np.char.add("SC", rng.integers(100000, 999999, n).astype(str)), "")
    return CareEpisodes(
        period=period,
        subject=subject[period],
        la_idx=la[period],
        decom=decom,
        dec=dec,
        rne=rne,
        legal_status=legal,
        placement=place,
        provider=provider,
        need=need,
        reason_ceased=rec,
        place_change=change,
        placement_district=district,
        placement_urn=urn,
    )


def _carry_forward(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Within each run starting at k == 0, repeat the first value (a period's first episode)."""
    if values.size == 0:
        return values
    idx = np.where(k == 0, np.arange(values.size), 0)
    idx = np.maximum.accumulate(idx)
    return values[idx]


def histories(ctx) -> CareHistory:
    """The run's care histories, built once per write context and shared by both writers."""
    cache = ctx.__dict__.setdefault("_social_care", {})
    if "history" not in cache:
        cache["history"] = build(ctx.pop)
    return cache["history"]


def in_year(start: np.ndarray, end: np.ndarray, year: AcademicYear) -> np.ndarray:
    """Rows whose span [start, end] overlaps the year's 1 April to 31 March."""
    a, b = _days(f"{year.start}-04-01"), _days(f"{year.start + 1}-03-31")
    return (start <= b) & (end >= a)


def year_bounds(year: AcademicYear) -> tuple[np.int64, np.int64]:
    return _days(f"{year.start}-04-01"), _days(f"{year.start + 1}-03-31")


# -- what the returns show of a child on 31 March --------------------------------------

# What goes wrong with the UPN of a child who holds one, and how often. Truth labels use
# synth.defects.LABELS: a record with no UPN (blank, or a UN code instead) is missing_upn;
# children who never had a UPN are missing_upn too, with a person id < 0 if not a pupil.
IDENTIFIER_RATES = MappingProxyType(
    {
        "bad_check": 0.02,  # UPN keyed with a wrong check letter
        "missing_upn": 0.01,  # UPN left blank, no reason given
        "unknown_code": 0.025,  # a UN code although the child has a UPN (UN3/UN4/UN5)
    }
)


def la_child_ids(subject: np.ndarray, la_code: np.ndarray, seed: int) -> np.ndarray:
    """The LA's own child id: stable for a child within an LA, unrelated to any UPN."""
    from synth.ids import scramble

    key = subject.astype(np.uint64) * np.uint64(1000) + la_code.astype(np.uint64)
    return np.char.add("C", np.char.zfill(scramble(key, 40, seed + 903).astype(str), 13))


def identifiers(
    pop: Population,
    hist: CareHistory,
    subject: np.ndarray,
    year: AcademicYear,
    rng: np.random.Generator,
    unknown_codes: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """UPN, UPN-unknown code, former UPN and truth label of each child on 31 March.

    Children with no UPN yet (pre-school, or not yet on roll) get UN1 when under five and
    UN2 otherwise; UASC mostly UN2. Among children with a UPN, a few are keyed with a
    wrong check letter, left blank, or given a UN code instead (IDENTIFIER_RATES).
    """
    n = subject.size
    person = hist.subjects.person_id[subject]
    pupil = person >= 0
    t = pop.period_index(year, "summer")
    idx = pop.upn.index_at(np.where(pupil, person, 0), t)
    has = pupil & (idx >= 0)
    upn = np.where(has, pop.upn.value[np.maximum(idx, 0)], "").astype("U13")
    prev = pop.upn.previous(np.maximum(idx, 0))
    former = np.where(has & (prev >= 0), pop.upn.value[np.maximum(prev, 0)], "").astype("U13")
    _, end = year_bounds(year)
    age = (end - hist.subjects.dob[subject]) / YEAR
    unknown = np.where(has, "", np.where(age < 5, "UN1", "UN2")).astype("U3")
    label = np.where(has, "none", "missing_upn").astype("U12")
    uasc = hist.subjects.uasc[subject] & has & (rng.random(n) < 0.6)
    unknown = np.where(uasc, "UN2", unknown)
    label = np.where(uasc, "missing_upn", label)
    u = rng.random(n)
    cut = np.cumsum(list(IDENTIFIER_RATES.values()))
    draw = np.where(has & ~uasc, np.searchsorted(cut, u, side="right"), len(cut))
    bad = draw == 0
    if bad.any():
        from linkage.identifiers import CHECK_TABLE

        letters = np.array(list(CHECK_TABLE))
        current = np.searchsorted(letters, np.array([s[:1] for s in upn[bad]]))
        wrong = letters[(current + rng.integers(1, len(letters), bad.sum())) % len(letters)]
        upn[bad] = np.char.add(wrong, np.array([s[1:] for s in upn[bad]]))
    label = np.where(bad, "bad_check", label)
    label = np.where(draw == 1, "missing_upn", label)
    given = [c for c in ("UN3", "UN4", "UN5") if c in unknown_codes]
    unknown = np.where(draw == 2, rng.choice(given, n), unknown)
    label = np.where(draw == 2, "missing_upn", label)
    upn = np.where((draw == 1) | (draw == 2) | uasc, "", upn)
    label = np.where((label == "none") & (former != ""), "former_upn", label)
    return {"upn": upn, "unknown": unknown, "former": former, "label": label}


def sex_codes(field_harmonise: str, sex: np.ndarray) -> np.ndarray:
    """The source codes a year's return uses for M/F/U, read back from the spec's scheme."""
    from core.codes import mapping

    back: dict[str, str] = {}
    for code, letter in mapping(field_harmonise).items():
        back.setdefault(letter, code)
    out = np.full(sex.shape, back.get("U", ""), dtype="U2")
    for letter, code in back.items():
        out[sex == letter] = code
    return out


def truth_table(source_file: str, source_row: np.ndarray, person: np.ndarray, label: np.ndarray):
    """Truth rows for a return's records: file, record row, true person (< 0: not a pupil)."""
    import pyarrow as pa

    n = len(person)
    return pa.table(
        {
            "source_file": pa.array([source_file] * n, pa.string()),
            "source_row": pa.array(np.asarray(source_row, np.int64)),
            "person_id": pa.array(np.asarray(person, np.int64)),
            "defect": pa.array(np.asarray(label).astype(str), pa.string()),
        }
    )
