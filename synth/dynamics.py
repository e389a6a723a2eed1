"""Simulating enrolment census by census: intakes, transfers, moves, joiners and leavers.

Each step acts on every pupil at once (boolean masks and searchsorted picks); the only
Python loops are over census periods and over the handful of LAs. The simulation
records what happened as arrays: the school per person per period, entry dates,
leaving events, and change events for UPNs, surnames and addresses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from core.periods import TERMS, AcademicYear, Term
from synth import defects
from synth.addresses import AddressBook
from synth.geography import LocalAuthority, other_la_codes
from synth.ids import UpnMinter
from synth.names import draw_surnames
from synth.people import days, draw_people, school_day, sen_thresholds, weekday_on_or_after
from synth.rates import RATES
from synth.rng import stream
from synth.schools import (
    GROUP_PRIMARY,
    GROUP_SECONDARY,
    GROUP_SIXTH,
    GROUP_SPECIAL,
    PRIMARY,
    Schools,
    build_schools,
    group_of,
)

# Why a UPN event happened (History.kind for the UPN history).
UPN_FIRST, UPN_TEMPORARY, UPN_REPLACES_TEMPORARY, UPN_REISSUED = 0, 1, 2, 3
# Why a surname event happened.
SURNAME_BIRTH, SURNAME_CHANGED = 0, 1
# Why an address event happened.
ADDRESS_FIRST, ADDRESS_MOVED = 0, 1
# How a person first appears.
ARRIVAL_INITIAL, ARRIVAL_RECEPTION, ARRIVAL_FROM_ABROAD = 0, 1, 2

# Relative sizes of year groups R..13 in the first autumn: births fell slowly, so younger
# cohorts are a little smaller; Y12/13 hold the ~45% who stay on at a school sixth form.
_YEAR_GROUP_SIZE = np.array([0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.0, 1.01, 1.01, 1.02, 1.02])


@dataclass
class _Events:
    person: list[np.ndarray] = field(default_factory=list)
    period: list[np.ndarray] = field(default_factory=list)
    value: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)

    def add(self, person: np.ndarray, period: int, value: np.ndarray, kind: int) -> None:
        if len(person):
            self.person.append(np.asarray(person, dtype=np.int64))
            self.period.append(np.full(len(person), period, dtype=np.int16))
            self.value.append(np.asarray(value))
            self.kind.append(np.full(len(person), kind, dtype=np.int8))


@dataclass
class SimResult:
    """Everything the simulation produced, before packing into a Population."""

    las: list[LocalAuthority]
    periods: list[tuple[AcademicYear, Term]]
    census_day: np.ndarray  # int32 days since 1970-01-01, per period
    schools: Schools
    school_district: np.ndarray
    book: AddressBook
    people: dict[str, np.ndarray]
    school: np.ndarray  # (periods, persons) int32, -1 off roll
    entry_day: np.ndarray  # (periods, persons) int32 days, -1 off roll
    leave_period: np.ndarray
    leave_person: np.ndarray
    leave_school: np.ndarray
    leave_day: np.ndarray
    upn_events: _Events
    surname_events: _Events
    address_events: _Events
    sen_cuts: tuple[float, float, float]


class _Simulation:
    def __init__(
        self, seed: int, pupils: int, years: list[AcademicYear], las: list[LocalAuthority]
    ):
        self.seed = seed
        self.pupils = pupils
        self.las = las
        self.periods = [(y, term) for y in years for term in TERMS]
        self.census_day = np.array(
            [days(y.census_date(term)) for y, term in self.periods], dtype=np.int32
        )
        weights = np.array([la.pupils_k for la in las], dtype=float)
        self.la_weight = weights / weights.sum()
        self.schools = build_schools(stream(seed, "schools"), las, pupils * self.la_weight)
        self.book = AddressBook(las, stream(seed, "addresses"))
        self.school_district = self.book.random_district(self.schools.la_idx.astype(np.int64))
        self.minter = UpnMinter()
        self.chunks: list[dict[str, np.ndarray]] = []
        self.n = 0
        # state per person (grows as people arrive)
        self.reception_year = np.zeros(0, dtype=np.int16)
        self.special = np.zeros(0, dtype=bool)
        self.ability = np.zeros(0, dtype=np.float32)
        self.ethnicity_main = np.zeros(0, dtype="U4")
        self.current_upn_temporary = np.zeros(0, dtype=bool)
        self.upn_last_period = np.zeros(0, dtype=np.int16)
        self.surname_changed = np.zeros(0, dtype=bool)
        self.surname_now = np.zeros(0, dtype=np.int32)
        self.first_period = np.zeros(0, dtype=np.int16)
        self.leave_day = np.zeros(0, dtype=np.int32)  # this step's leaving dates
        self.school_now = np.zeros(0, dtype=np.int32)
        self.entry_now = np.zeros(0, dtype=np.int32)
        self.school_hist: list[np.ndarray] = []
        self.entry_hist: list[np.ndarray] = []
        self.leaves: list[tuple[np.ndarray, ...]] = []
        self.upn = _Events()
        self.surname = _Events()
        self.address = _Events()
        self.sen_cuts: tuple[float, float, float] | None = None
        self.other_las = np.array([c for c in other_la_codes() if c not in {la.code for la in las}])

    # --- people -----------------------------------------------------------------------------

    def _add_people(
        self,
        rng: np.random.Generator,
        la_idx: np.ndarray,
        reception_year: np.ndarray,
        period: int,
        arrival: int,
    ) -> np.ndarray:
        from_abroad = arrival == ARRIVAL_FROM_ABROAD
        attrs = draw_people(rng, self.las, la_idx, reception_year, from_abroad, self.sen_cuts)
        if self.sen_cuts is None:
            self.sen_cuts = sen_thresholds(attrs["sen_latent"])
        if from_abroad:
            attrs["special"][:] = False
        k = len(la_idx)
        ids = np.arange(self.n, self.n + k, dtype=np.int64)
        attrs["first_period"] = np.full(k, period, dtype=np.int16)
        attrs["arrival"] = np.full(k, arrival, dtype=np.int8)
        attrs["first_la_idx"] = la_idx.astype(np.int16)
        self.chunks.append(attrs)
        self.n += k
        self.reception_year = np.concatenate([self.reception_year, attrs["reception_year"]])
        self.special = np.concatenate([self.special, attrs["special"]])
        self.ability = np.concatenate([self.ability, attrs["ability"]])
        self.ethnicity_main = np.concatenate([self.ethnicity_main, attrs["ethnicity_main"]])
        self.current_upn_temporary = np.concatenate([self.current_upn_temporary, np.zeros(k, bool)])
        self.upn_last_period = np.concatenate([self.upn_last_period, np.full(k, -1, np.int16)])
        self.surname_changed = np.concatenate([self.surname_changed, np.zeros(k, bool)])
        self.surname_now = np.concatenate([self.surname_now, attrs["surname"].astype(np.int32)])
        self.first_period = np.concatenate([self.first_period, attrs["first_period"]])
        self.leave_day = np.concatenate([self.leave_day, np.full(k, -1, np.int32)])
        self.school_now = np.concatenate([self.school_now, np.full(k, -1, np.int32)])
        self.entry_now = np.concatenate([self.entry_now, np.full(k, -1, np.int32)])
        self.surname.add(ids, period, attrs["surname"], SURNAME_BIRTH)
        return ids

    def _enrol(self, ids: np.ndarray, school: np.ndarray, entry: np.ndarray) -> None:
        self.school_now[ids] = school
        self.entry_now[ids] = entry

    def _home(self, ids: np.ndarray, school: np.ndarray, period: int, kind: int) -> None:
        """New addresses for people, near their school's district."""
        la_idx = self.schools.la_idx[school].astype(np.int64)
        address = self.book.new(la_idx, near=self.school_district[school])
        self.address.add(ids, period, address, kind)

    # --- dates ------------------------------------------------------------------------------

    def _sept_start(self, rng: np.random.Generator, year: np.ndarray | int, n: int) -> np.ndarray:
        """First days of an autumn term (entry of a new intake), in the given academic years."""
        months = (np.broadcast_to(np.asarray(year, dtype=np.int64), (n,)) - 1970) * 12 + 8
        sept2 = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + 1
        return weekday_on_or_after(sept2 + rng.integers(0, 5, size=n)).astype(np.int32)

    def _july_end(self, rng: np.random.Generator, year: int, n: int) -> np.ndarray:
        """Last days of a summer term (leavers at the end of an academic year)."""
        day = days(dt.date(year, 7, 18)) + rng.integers(0, 7, size=n)
        return (day - np.where((day + 3) % 7 >= 5, (day + 3) % 7 - 4, 0)).astype(np.int32)

    def _between(self, rng: np.random.Generator, t: int, n: int) -> np.ndarray:
        """School days strictly between the previous census and this one."""
        lo, hi = int(self.census_day[t - 1]) + 1, int(self.census_day[t]) - 1
        day = school_day(rng.integers(lo, hi - 2, size=n))
        if self.periods[t][1] is Term.AUTUMN:  # over the summer: mostly from the new term
            sept = self._sept_start(rng, self.periods[t][0].start, n)
            day = np.where(rng.random(n) < 0.7, sept, np.maximum(day, sept))
        return np.minimum(day, hi).astype(np.int32)

    # --- UPNs -------------------------------------------------------------------------------

    def _mint(
        self, ids: np.ndarray, school: np.ndarray, year: np.ndarray | int, period: int, kind: int
    ) -> None:
        la = self.schools.la[school].astype(np.int64)
        estab = self.schools.estab[school].astype(np.int64)
        year_arr = np.broadcast_to(np.asarray(year, dtype=np.int64), (len(ids),))
        if kind == UPN_TEMPORARY:
            value = self.minter.temporary(la, estab, year_arr)
        else:
            value = self.minter.permanent(la, estab, year_arr)
        self.upn.add(ids, period, value, kind)
        self.current_upn_temporary[ids] = kind == UPN_TEMPORARY
        self.upn_last_period[ids] = period

    def _mint_elsewhere(self, rng: np.random.Generator, ids: np.ndarray, year: np.ndarray) -> None:
        """UPNs first allocated by a school in another LA (pupils who moved in long ago)."""
        la = self.other_las[rng.integers(0, len(self.other_las), size=len(ids))].astype(np.int64)
        estab = rng.integers(2000, 4000, size=len(ids)).astype(np.int64)
        self.upn.add(ids, 0, self.minter.permanent(la, estab, year), UPN_FIRST)

    # --- the first autumn -------------------------------------------------------------------

    def initial(self) -> None:
        rng = stream(self.seed, "initial")
        year = self.periods[0][0]
        sizes = np.concatenate(
            [_YEAR_GROUP_SIZE, [_YEAR_GROUP_SIZE[-1] * RATES["stay_on_sixth_form"]] * 2]
        )
        share = sizes / sizes.sum()
        counts = np.floor(share * self.pupils).astype(np.int64)
        counts[: self.pupils - counts.sum()] += 1  # exact total
        nc = np.repeat(np.arange(14), counts)
        la_idx = rng.choice(len(self.las), size=self.pupils, p=self.la_weight)
        ids = self._add_people(rng, la_idx, (year.start - nc).astype(np.int16), 0, ARRIVAL_INITIAL)
        special = self.special[ids]
        school = self.schools.pick(rng, group_of(nc, special), la_idx)
        # Entry to the current school: the start of its phase, or later for pupils who moved.
        phase_start = np.where(
            nc <= 6, year.start - nc, np.where(nc <= 11, year.start - (nc - 7), year.start)
        )
        phase_start = np.where(
            (nc >= 12) & (rng.random(self.pupils) < 0.7), year.start - (nc - 7), phase_start
        )
        phase_start = np.where(special, year.start - rng.integers(0, nc + 1), phase_start)
        entry = self._sept_start(rng, phase_start, self.pupils)
        moved_in = rng.random(self.pupils) < 0.15
        span = np.maximum(int(self.census_day[0]) - entry, 1)
        entry = np.where(
            moved_in,
            school_day(entry + (rng.random(self.pupils) * span).astype(np.int32)),
            entry,
        )
        entry = np.minimum(entry, int(self.census_day[0]) - 1).astype(np.int32)
        self._enrol(ids, school, entry)
        # Where each UPN was first allocated: the Reception school, often not the current one.
        reception_year = self.reception_year[ids].astype(np.int64)
        primary_now = (nc <= 6) & ~special
        at_current = primary_now & ~moved_in
        elsewhere_la = np.where(
            primary_now, moved_in & (rng.random(self.pupils) < 0.3), rng.random(self.pupils) < 0.12
        )
        in_la = ~at_current & ~elsewhere_la
        special_first = special & (rng.random(self.pupils) < 0.5)
        at_current |= special_first
        in_la &= ~special_first
        elsewhere_la &= ~special_first
        first_school = school.copy()
        first_school[in_la] = self.schools.pick(
            rng, np.full(int(in_la.sum()), GROUP_PRIMARY), la_idx[in_la]
        )
        here = at_current | in_la
        self._mint(ids[here], first_school[here], reception_year[here], 0, UPN_FIRST)
        self._mint_elsewhere(rng, ids[elsewhere_la], reception_year[elsewhere_la])
        self._home(ids, school, 0, ADDRESS_FIRST)
        self._close_period(0, np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32))

    def _close_period(
        self, t: int, left: np.ndarray, left_school: np.ndarray, left_day: np.ndarray
    ) -> None:
        self.school_hist.append(self.school_now.copy())
        self.entry_hist.append(np.where(self.school_now >= 0, self.entry_now, -1).astype(np.int32))
        if len(left):
            self.leaves.append((np.full(len(left), t, np.int16), left, left_school, left_day))

    # --- each later census ------------------------------------------------------------------

    def step(self, t: int) -> None:
        rng = stream(self.seed, "step", t)
        year, term = self.periods[t]
        prev_school = self.school_now.copy()
        self.leave_day[:] = -1
        if term is Term.AUTUMN:
            self._new_year(rng, t, year)
        self._temporary_to_permanent(t, year)
        self._moves(rng, t, year)
        self._leavers(rng, t, year)
        self._joiners(rng, t, year)
        self._surname_changes(rng, t)
        n_before = len(prev_school)
        changed = np.flatnonzero((prev_school >= 0) & (self.school_now[:n_before] != prev_school))
        self._close_period(t, changed, prev_school[changed], self.leave_day[changed])

    def _nc(self, year: AcademicYear) -> np.ndarray:
        return year.start - self.reception_year.astype(np.int64)

    def _la_of(self, school: np.ndarray) -> np.ndarray:
        return self.schools.la_idx[school].astype(np.int64)

    def _new_year(self, rng: np.random.Generator, t: int, year: AcademicYear) -> None:
        leave_day = self.leave_day
        nc = self._nc(year)
        on = self.school_now >= 0
        july = self._july_end(rng, year.start, self.n)
        # Y13 leave; of Y11, those who do not stay on leave (higher attainers stay more often;
        # the -0.1 offsets the spread of ability so the mean stays at the rate).
        stay = RATES["stay_on_sixth_form"]
        stay_p = 1 / (1 + np.exp(-(np.log(stay / (1 - stay)) - 0.1 + 1.1 * self.ability)))
        stay_p = np.where(self.special, 0.7, stay_p)
        into_y12 = on & (nc == 12)
        stays = rng.random(self.n) < stay_p
        leaving = on & ((nc >= 14) | (into_y12 & ~stays))
        leave_day[leaving] = july[leaving]
        self.school_now[leaving] = -1
        # Y12 stayers at schools without a sixth form move to one in the same LA.
        cur = np.maximum(self.school_now, 0)
        to_sixth = (
            into_y12
            & stays
            & ~self.special
            & ~self.schools.sixth_form[cur]
            & (self.school_now >= 0)
        )
        # Y6 -> Y7: primary pupils transfer to a secondary school in their LA.
        to_sec = (
            on
            & (nc == 7)
            & ~self.special
            & (self.schools.phase[cur] == PRIMARY)
            & (self.school_now >= 0)
        )
        for mask, group in ((to_sixth, GROUP_SIXTH), (to_sec, GROUP_SECONDARY)):
            ids = np.flatnonzero(mask)
            new = self.schools.pick(
                rng, np.full(len(ids), group), self._la_of(self.school_now[ids])
            )
            leave_day[ids] = july[ids]
            self._enrol(ids, new, self._sept_start(rng, year.start, len(ids)))
        # A new Reception intake (falling slowly with births).
        k = t // 3
        size = self.pupils / (_YEAR_GROUP_SIZE.sum() + 2 * 1.02 * RATES["stay_on_sixth_form"])
        size *= (
            _YEAR_GROUP_SIZE[0] * (1 - RATES["cohort_decline"]) ** k * (1 + rng.normal(0, 0.005))
        )
        count = round(size)
        la_idx = rng.choice(len(self.las), size=count, p=self.la_weight)
        ids = self._add_people(
            rng, la_idx, np.full(count, year.start, np.int16), t, ARRIVAL_RECEPTION
        )
        group = np.where(self.special[ids], GROUP_SPECIAL, GROUP_PRIMARY)
        school = self.schools.pick(rng, group, la_idx)
        self._enrol(ids, school, self._sept_start(rng, year.start, count))
        self._mint(ids, school, year.start, t, UPN_FIRST)
        self._home(ids, school, t, ADDRESS_FIRST)

    def _temporary_to_permanent(self, t: int, year: AcademicYear) -> None:
        """Pupils who arrived with a temporary UPN get a permanent one at the next census."""
        ids = np.flatnonzero(self.current_upn_temporary & (self.school_now >= 0))
        census_year = year.census_date(self.periods[t][1]).year
        self._mint(ids, self.school_now[ids], census_year, t, UPN_REPLACES_TEMPORARY)

    def _moves(self, rng: np.random.Generator, t: int, year: AcademicYear) -> None:
        n = self.n
        on = self.school_now >= 0
        on &= self.first_period < t  # the new intake has only just started
        movers = np.flatnonzero(on & (rng.random(n) < RATES["move_per_term"]))
        if movers.size == 0:
            return
        la_now = self._la_of(self.school_now[movers])
        cross = (rng.random(movers.size) < RATES["move_cross_la"]) & (len(self.las) > 1)
        new_la = la_now.copy()
        for _ in range(3):  # redraw the few that drew their own LA
            redo = cross & (new_la == la_now)
            new_la[redo] = rng.choice(len(self.las), size=int(redo.sum()), p=self.la_weight)
        cross &= new_la != la_now
        new_la = np.where(cross, new_la, la_now)
        group = group_of(self._nc(year)[movers], self.special[movers])
        target = self.schools.pick(rng, group, new_la)
        for _ in range(5):  # redraw those who drew their own school
            same = target == self.school_now[movers]
            target[same] = self.schools.pick(rng, group[same], new_la[same])
        keep = target != self.school_now[movers]
        movers, target, cross = movers[keep], target[keep], cross[keep]
        entry = self._between(rng, t, movers.size)
        lo = int(self.census_day[t - 1]) + 1
        left = np.maximum(entry - rng.integers(0, 8, size=movers.size), lo)
        if self.periods[t][1] is Term.AUTUMN:
            summer = entry <= days(dt.date(year.start, 9, 9))
            left = np.where(summer, self._july_end(rng, year.start, movers.size), left)
        self.leave_day[movers] = np.minimum(left, entry).astype(np.int32)
        self._enrol(movers, target, entry)
        new_home = cross | (rng.random(movers.size) < RATES["move_new_address"])
        self._home(movers[new_home], target[new_home], t, ADDRESS_MOVED)
        # A few pupils moving LA are wrongly given a new UPN by the new school.
        annual_cross = 3 * RATES["move_per_term"] * RATES["move_cross_la"]
        p_reissue = min(1.0, defects.rate("former_upn") / annual_cross)
        fresh = self.current_upn_temporary[movers] | (self.upn_last_period[movers] == t)
        reissue = cross & (rng.random(movers.size) < p_reissue) & ~fresh
        ids = movers[reissue]
        entry_year = (
            entry[reissue].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
        )
        self._mint(ids, target[reissue], entry_year, t, UPN_REISSUED)

    def _leavers(self, rng: np.random.Generator, t: int, year: AcademicYear) -> None:
        on = np.flatnonzero((self.school_now >= 0) & (self.first_period < t))  # not the new intake
        go = on[rng.random(on.size) < RATES["leave_per_year"] / 3]
        if self.periods[t][1] is Term.AUTUMN:  # left over the summer
            self.leave_day[go] = self._july_end(rng, year.start, go.size)
        else:
            self.leave_day[go] = self._between(rng, t, go.size)
        self.school_now[go] = -1

    def _joiners(self, rng: np.random.Generator, t: int, year: AcademicYear) -> None:
        on = int((self.school_now >= 0).sum())
        count = int(rng.poisson(on * RATES["join_per_year"] / 3))
        if count == 0:
            return
        nc = rng.integers(0, 12, size=count)
        la_idx = rng.choice(len(self.las), size=count, p=self.la_weight)
        ids = self._add_people(
            rng, la_idx, (year.start - nc).astype(np.int16), t, ARRIVAL_FROM_ABROAD
        )
        school = self.schools.pick(rng, group_of(nc, np.zeros(count, bool)), la_idx)
        entry = self._between(rng, t, count)
        self._enrol(ids, school, entry)
        temporary = rng.random(count) < defects.rate("temporary_upn")
        census_year = year.census_date(self.periods[t][1]).year
        self._mint(ids[temporary], school[temporary], census_year, t, UPN_TEMPORARY)
        self._mint(ids[~temporary], school[~temporary], census_year, t, UPN_FIRST)
        self._home(ids, school, t, ADDRESS_FIRST)

    def _surname_changes(self, rng: np.random.Generator, t: int) -> None:
        on = np.flatnonzero(self.school_now >= 0)
        ids = on[rng.random(on.size) < defects.rate("name_change") / 3]
        ids = ids[~self.surname_changed[ids]]  # one legal change per child is plenty
        new = draw_surnames(rng, self.ethnicity_main[ids])
        for _ in range(5):  # a change of name is to a different name
            same = new == self.surname_now[ids]
            new[same] = draw_surnames(rng, self.ethnicity_main[ids[same]])
        keep = new != self.surname_now[ids]
        ids, new = ids[keep], new[keep]
        self.surname.add(ids, t, new, SURNAME_CHANGED)
        self.surname_now[ids] = new
        self.surname_changed[ids] = True

    # --- result -----------------------------------------------------------------------------

    def result(self) -> SimResult:
        n = self.n
        school = np.full((len(self.periods), n), -1, dtype=np.int32)
        entry = np.full((len(self.periods), n), -1, dtype=np.int32)
        for t, (s, e) in enumerate(zip(self.school_hist, self.entry_hist, strict=True)):
            school[t, : len(s)] = s
            entry[t, : len(e)] = e
        people = {k: np.concatenate([c[k] for c in self.chunks]) for k in self.chunks[0]}
        empty = (
            np.zeros(0, np.int16),
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
        )
        leaves = (
            [np.concatenate(parts) for parts in zip(*self.leaves, strict=True)]
            if self.leaves
            else empty
        )
        assert self.sen_cuts is not None
        return SimResult(
            las=self.las,
            periods=self.periods,
            census_day=self.census_day,
            schools=self.schools,
            school_district=self.school_district,
            book=self.book,
            people=people,
            school=school,
            entry_day=entry,
            leave_period=leaves[0],
            leave_person=leaves[1],
            leave_school=leaves[2],
            leave_day=leaves[3],
            upn_events=self.upn,
            surname_events=self.surname,
            address_events=self.address,
            sen_cuts=self.sen_cuts,
        )


def simulate(
    seed: int, pupils: int, years: list[AcademicYear], las: list[LocalAuthority]
) -> SimResult:
    """Run the enrolment simulation over consecutive academic years."""
    sim = _Simulation(seed, pupils, years, las)
    sim.initial()
    for t in range(1, len(sim.periods)):
        sim.step(t)
    return sim.result()
