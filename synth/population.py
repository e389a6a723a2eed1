"""The synthetic population: people, their identifiers over time, and where they are on roll.

Every feed is a view of this one object. The census writers read it term by term; KS2
reads the summer Y6 pupils and their latent ability; later feeds (phonics, KS1, KS4,
KS5, children looked after, children in need, FE learners) can be derived from the
same people: the ULN is minted for everyone, pupils leaving after Y11 are flagged by
their enrolment ending, and ability, disadvantage, SEN and FSM histories are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.periods import AcademicYear, Term, year_range
from synth import fsm
from synth.addresses import Addresses
from synth.dynamics import (
    ARRIVAL_FROM_ABROAD,
    ARRIVAL_INITIAL,
    ARRIVAL_RECEPTION,
    UPN_REISSUED,
    UPN_REPLACES_TEMPORARY,
    UPN_TEMPORARY,
    simulate,
)
from synth.geography import LocalAuthority, resolve
from synth.history import History
from synth.ids import draw_ulns
from synth.rates import RATES
from synth.rng import stream
from synth.schools import GROUP_SPECIAL, Schools, group_of

__all__ = [
    "ARRIVAL_FROM_ABROAD",
    "ARRIVAL_INITIAL",
    "ARRIVAL_RECEPTION",
    "UPN_REISSUED",
    "UPN_REPLACES_TEMPORARY",
    "UPN_TEMPORARY",
    "Population",
    "build_population",
]


@dataclass(frozen=True)
class Population:
    """People (index = person_id) and their state at each census period of the run."""

    seed: int
    years: tuple[AcademicYear, ...]
    periods: tuple[tuple[AcademicYear, Term], ...]
    census_day: np.ndarray  # int32 days since 1970-01-01 per period
    las: tuple[LocalAuthority, ...]
    schools: Schools
    addresses: Addresses
    # --- per person ---
    person_id: np.ndarray  # int64
    sex: np.ndarray  # 'M' / 'F'
    dob: np.ndarray  # datetime64[D]
    reception_year: np.ndarray  # int16: academic year (start) the person is in Reception
    ethnicity: np.ndarray  # code as recorded (main or extended)
    ethnicity_main: np.ndarray
    language: np.ndarray
    forename: np.ndarray  # int32 index into synth.names.FORENAMES
    middle: np.ndarray  # int32 index or -1
    middle2: np.ndarray  # int32 index or -1
    ability: np.ndarray  # float32 latent attainment (KS1/KS2/KS4 reuse it)
    disadvantage: np.ndarray  # float32 latent deprivation (drives FSM)
    sen_provision: np.ndarray  # 'N' / 'K' / 'E'
    sen_type1: np.ndarray  # primary need, '' if none
    sen_type2: np.ndarray  # secondary need, '' if none
    special: np.ndarray  # bool: attends special schools
    uln: np.ndarray  # 10-digit ULN (everyone has one; the census carries it from Y10)
    uln_in_census: np.ndarray  # bool: the school records the ULN once the pupil is in Y10+
    first_period: np.ndarray  # int16: the period the person first appears on roll
    arrival: np.ndarray  # int8: ARRIVAL_INITIAL / ARRIVAL_RECEPTION / ARRIVAL_FROM_ABROAD
    fsm_propensity: np.ndarray  # float32 stationary chance of being eligible
    fsm_before: np.ndarray  # bool: eligible at some time before the run (for FSM6)
    upn: History  # values: 13-character UPNs; kind: synth.dynamics.UPN_*
    surname: History  # values: int32 index into synth.names.SURNAMES
    address: History  # values: int64 address ids into `addresses`
    # --- per period x person ---
    school: np.ndarray  # int32 school index of the main registration, -1 off roll
    entry_day: np.ndarray  # int32 days: entry date to that school, -1 off roll
    fsm: np.ndarray  # bool: eligible for FSM on census day
    fsm_periods: fsm.FsmPeriods
    # --- events ---
    leave_period: np.ndarray  # period at whose census the pupil is no longer on roll
    leave_person: np.ndarray
    leave_school: np.ndarray  # the school they left
    leave_day: np.ndarray  # int32 days: leaving date
    dual_period: np.ndarray  # subsidiary (dual) registrations: period, person, school
    dual_person: np.ndarray
    dual_school: np.ndarray

    @property
    def n_persons(self) -> int:
        return len(self.person_id)

    def period_index(self, year: AcademicYear, term: Term | str) -> int:
        return self.periods.index((year, Term(term)))

    def nc_year(self, period: int, persons: np.ndarray | None = None) -> np.ndarray:
        """National Curriculum year (0 = Reception) of each person in a period's year."""
        ry = self.reception_year if persons is None else self.reception_year[persons]
        return self.periods[period][0].start - ry.astype(np.int64)

    def on_roll(self, period: int) -> np.ndarray:
        """Persons with a main registration at the period's census."""
        return np.flatnonzero(self.school[period] >= 0)


def build_population(
    pupils: int, seed: int, years: list[AcademicYear], las: list[int] | None = None
) -> Population:
    """Simulate the population over the academic years (the span first..last of `years`).

    `pupils` is the number on roll in the first year's autumn census.
    """
    if pupils < 1:
        raise ValueError("pupils must be at least 1")
    if not years:
        raise ValueError("at least one academic year is needed")
    span = year_range(min(years), max(years))
    chosen = resolve(las)
    sim = simulate(seed, pupils, span, chosen)
    people = sim.people
    n = len(people["sex"])
    periods = len(sim.periods)
    la_weights = np.array([la.pupils_k for la in chosen], dtype=float)
    la_weights /= la_weights.sum()
    targets = fsm.la_targets(chosen, la_weights)
    pi = fsm.propensity(people["disadvantage"], people["first_la_idx"].astype(np.int64), targets)
    rng = stream(seed, "fsm")
    state = fsm.simulate_states(rng, pi, people["first_period"], periods)
    earliest = (
        ((people["reception_year"].astype(np.int64) - 1970) * 12 + 8)
        .astype("datetime64[M]")
        .astype("datetime64[D]")
        .astype(np.int64)
    )
    # Pupils from abroad cannot have been eligible in England before they arrived.
    first = people["first_period"].astype(np.int64)
    arrived = sim.census_day.astype(np.int64)[np.maximum(first - 1, 0)] + 1
    abroad = people["arrival"] == ARRIVAL_FROM_ABROAD
    earliest = np.where(abroad, np.maximum(earliest, arrived), earliest)
    fsm_periods = fsm.periods_from_states(
        rng, state, sim.census_day.astype(np.int64), people["first_period"], earliest
    )
    older = (people["arrival"] == ARRIVAL_INITIAL) & (people["reception_year"] < span[0].start)
    fsm_before = older & (rng.random(n) < 0.5 * pi)
    dual = _dual_registrations(stream(seed, "dual"), sim.schools, sim.school, people, span)
    return Population(
        seed=seed,
        years=tuple(span),
        periods=tuple(sim.periods),
        census_day=sim.census_day,
        las=tuple(chosen),
        schools=sim.schools,
        addresses=sim.book.freeze(),
        person_id=np.arange(n, dtype=np.int64),
        sex=people["sex"],
        dob=people["dob"].astype("datetime64[D]"),
        reception_year=people["reception_year"],
        ethnicity=people["ethnicity"],
        ethnicity_main=people["ethnicity_main"],
        language=people["language"],
        forename=people["forename"],
        middle=people["middle"],
        middle2=people["middle2"],
        ability=people["ability"],
        disadvantage=people["disadvantage"],
        sen_provision=people["sen_provision"],
        sen_type1=people["sen_type1"],
        sen_type2=people["sen_type2"],
        special=people["special"],
        uln=draw_ulns(stream(seed, "uln"), n),
        uln_in_census=people["uln_in_census"],
        first_period=people["first_period"],
        arrival=people["arrival"],
        fsm_propensity=pi.astype(np.float32),
        fsm_before=fsm_before,
        upn=History.from_events(**vars(sim.upn_events)),
        surname=History.from_events(**vars(sim.surname_events)),
        address=History.from_events(**vars(sim.address_events)),
        school=sim.school,
        entry_day=sim.entry_day,
        fsm=state,
        fsm_periods=fsm_periods,
        leave_period=sim.leave_period,
        leave_person=sim.leave_person,
        leave_school=sim.leave_school,
        leave_day=sim.leave_day,
        dual_period=dual[0],
        dual_person=dual[1],
        dual_school=dual[2],
    )


def _dual_registrations(
    rng: np.random.Generator,
    schools: Schools,
    school: np.ndarray,
    people: dict[str, np.ndarray],
    span: list[AcademicYear],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A few pupils each year also registered at a second school (special or same phase).

    Chosen in autumn; the subsidiary registration lasts the year while the main one does.
    """
    periods, persons, subs = [], [], []
    for k, year in enumerate(span):
        t0 = 3 * k
        main = school[t0]
        ids = np.flatnonzero((main >= 0) & ~people["special"])
        ids = ids[rng.random(ids.size) < RATES["dual_registration"]]
        la_idx = schools.la_idx[main[ids]].astype(np.int64)
        nc = year.start - people["reception_year"][ids].astype(np.int64)
        group = np.where(
            rng.random(ids.size) < 0.5, GROUP_SPECIAL, group_of(nc, np.zeros(ids.size, bool))
        )
        sub = schools.pick(rng, group, la_idx)
        ok = sub != main[ids]
        ids, sub = ids[ok], sub[ok]
        for t in range(t0, min(t0 + 3, school.shape[0])):
            still = school[t, ids] == main[ids]
            periods.append(np.full(int(still.sum()), t, np.int16))
            persons.append(ids[still])
            subs.append(sub[still])
    if not periods:
        return np.zeros(0, np.int16), np.zeros(0, np.int64), np.zeros(0, np.int32)
    return np.concatenate(periods), np.concatenate(persons).astype(np.int64), np.concatenate(subs)
