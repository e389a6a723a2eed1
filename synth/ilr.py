"""Writing the ILR: one XML return per FE provider (UKPRN) per year, from the population.

Learners are of two kinds. *Pupils* of the run who leave school: Y11 leavers who do not
stay on at a school sixth form start a 16-19 study programme at a college in their LA
(one or two years), and some Y13 leavers start an apprenticeship; their ULN is the one
the census carried from Y10, so deterministic ULN linkage bridges the ILR to the census.
*Outsiders* have no census record in the run (adults, and young people schooled before
the run, privately or elsewhere): their person id in the truth is negative, and they keep
their ULN, names and provider across the years they study.

Each learner's programme of aims is simulated once with its true end (completion or
withdrawal); a year's return shows the aims active in that ILR year (1 August to 31 July)
as known at the final return (R14), so an aim ending later is still continuing. Keying
defects per learner record (ILR_RATES): a temporary ULN 9999999999, a ULN with a wrong
check digit, a one-character name typo, the unknown postcode ZZ99 9ZZ. Names, DOB, sex
and postcode are the person's, so the probabilistic fallback can place learners whose
ULN is unusable. Truth: `truth/<year>/ilr/annual.parquet`, one row per Learner with the
reader's `_source_row` (the Learner's ordinal in its file).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pyarrow as pa

from core.codes import codelist
from core.periods import AcademicYear, Term
from ingest.landing import ilr_file_path
from synth import formats
from synth.context import WriteContext
from synth.ids import draw_ulns, scramble
from synth.ilr_xml import EPILOG, IlrFile, destinations, iso_dates, learners, prolog
from synth.names import FORENAMES, SURNAMES, draw_names, one_char_edits
from synth.plants import Plant
from synth.records import empty_truth
from synth.rng import stream
from synth.social_care import truth_table

FEED = "ilr"
ISO = "%Y-%m-%d"
ILR_RATES = MappingProxyType(
    {
        "fe_after_y11": 0.70,  # Y11 leavers (not staying at school) who start at a college
        "two_year_programme": 0.75,  # of those, on a two-year study programme
        "apprenticeship_after_y13": 0.10,  # Y13 leavers starting an apprenticeship
        "outsiders_per_pupil": 0.04,  # learners with no census record, per pupil, per year
        "young_outsiders": 0.35,  # of those, aged 16-18 (the rest adults 19-60)
        "withdrawn": 0.10,  # aims withdrawn before their planned end
        "achieved": 0.85,  # completed aims achieved
        "temporary_uln": 0.015,  # learner records with ULN 9999999999
        "bad_check_uln": 0.005,  # learner records whose ULN has a wrong check digit
        "typo": 0.01,  # a one-character edit in the family or given name
        "postcode_unknown": 0.005,  # Postcode ZZ99 9ZZ
        "given_middle_name": 0.25,  # GivenNames holding a middle name too
    }
)
PROVIDERS_PER_LA = 2  # general FE colleges per LA, plus NATIONAL providers for apprentices
NATIONAL = 2
STUDY, APPRENTICESHIP, ADULT = 0, 1, 2
FUND_MODEL = np.array(["25", "36", "35"])
# DfE main ethnicity code -> ILR code: how the generator renders a person's ethnicity.
ILR_ETHNICITY = {
    "WBRI": "31", "WIRI": "32", "WIRT": "33", "WROM": "33", "WOTH": "34",
    "MWBC": "35", "MWBA": "36", "MWAS": "37", "MOTH": "38",
    "AIND": "39", "APKN": "40", "ABAN": "41", "CHNE": "42", "AOTH": "43",
    "BAFR": "44", "BCRB": "45", "BOTH": "46", "OOTH": "98", "REFU": "99", "NOBT": "99",
}  # fmt: skip
if not all(codelist("ilr_ethnicity").is_valid(v) for v in ILR_ETHNICITY.values()):
    raise ValueError("ILR_ETHNICITY must map onto ilr_ethnicity codes in core/codelists")
STUDY_AIMS = np.array(["60303980", "60147773", "6031532X", "60189340", "60054679", "50086832"])
FUNCTIONAL_SKILLS = np.array(["Z0007834", "Z0007835"])  # maths and English
ADULT_AIMS = np.array(["60305046", "60108486", "6030126X", "50079116", "Z0001947"])
STANDARDS = np.array([3, 15, 24, 37, 91, 119, 161, 227, 296])
WITHDRAW_REASONS = np.array(["2", "3", "43", "44", "97", "98"])
TEMPORARY_ULN = "9999999999"
EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class Programmes:
    """Every learner's programme in the run: who, where, what and the true dates."""

    person: np.ndarray  # truth person id (< 0: no census record in the run)
    key: np.ndarray  # int64 >= 0, unique per learner (LearnRefNumber, draws)
    kind: np.ndarray  # STUDY / APPRENTICESHIP / ADULT
    provider: np.ndarray  # index into Providers
    uln: np.ndarray
    surname: np.ndarray  # indices into SURNAMES / FORENAMES
    forename: np.ndarray
    middle: np.ndarray  # -1 for none
    dob: np.ndarray  # days since 1970
    sex: np.ndarray
    ethnicity: np.ndarray  # ILR codes
    lldd: np.ndarray
    postcode: np.ndarray
    # aims (sorted by programme)
    aim_owner: np.ndarray
    aim_ref: np.ndarray
    aim_type: np.ndarray
    aim_seq: np.ndarray
    start: np.ndarray  # days
    planned_end: np.ndarray
    end: np.ndarray  # true end day (completion or withdrawal)
    withdrawn: np.ndarray
    achieved: np.ndarray
    std_code: np.ndarray  # 0: none
    withdraw_reason: np.ndarray


def providers(pop) -> np.ndarray:
    """UKPRNs (8 digits, 10000000-10099999): PROVIDERS_PER_LA per LA, then NATIONAL."""
    n = len(pop.las) * PROVIDERS_PER_LA + NATIONAL
    return 10_000_000 + scramble(np.arange(n, dtype=np.uint64), 16, pop.seed + 25).astype(np.int64)


def _day(d: dt.date) -> int:
    return int((np.datetime64(d, "D") - EPOCH).astype(np.int64))


def _leavers(pop, nc_left: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Persons who left school at the end of NC year nc_left, after the run's first year:
    person, index of the first year out of school, LA index of the school they left."""
    autumns = np.array([pop.period_index(y, Term.AUTUMN) for y in pop.years])
    starts = np.array([y.start for y, _ in pop.periods])
    t = pop.leave_period.astype(np.int64)
    keep = np.isin(t, autumns[1:])
    keep[keep] = starts[t[keep] - 1] - pop.reception_year[pop.leave_person[keep]] == nc_left
    person, t, school = pop.leave_person[keep], t[keep], pop.leave_school[keep]
    return person, np.searchsorted(autumns, t), pop.schools.la_idx[school].astype(np.int64)


def programmes(ctx: WriteContext) -> Programmes:
    """The run's ILR programmes, simulated once per write context and shared by every year."""
    cache = ctx.__dict__.setdefault("_ilr", {})
    if "programmes" not in cache:
        cache["programmes"] = _simulate(ctx)
    return cache["programmes"]


def _simulate(ctx: WriteContext) -> Programmes:
    pop = ctx.pop
    rng = stream(pop.seed, FEED, "programmes")
    n_las, years = len(pop.las), pop.years
    # Pupils: Y11 leavers to college, Y13 leavers to apprenticeships.
    p11, y11, la11 = _leavers(pop, 11)
    go = rng.random(p11.size) < ILR_RATES["fe_after_y11"]
    p13, y13, la13 = _leavers(pop, 13)
    app = rng.random(p13.size) < ILR_RATES["apprenticeship_after_y13"]
    person = np.concatenate([p11[go], p13[app]]).astype(np.int64)
    first = np.concatenate([y11[go], y13[app]])
    la = np.concatenate([la11[go], la13[app]])
    kind = np.concatenate([np.full(int(go.sum()), STUDY), np.full(int(app.sum()), APPRENTICESHIP)])
    t_last = len(pop.periods) - 1
    # Outsiders: a pool per year of the run.
    per_year = round(ILR_RATES["outsiders_per_pupil"] * pop.on_roll(0).size)
    m = per_year * len(years)
    o_first = np.repeat(np.arange(len(years)), per_year)
    young = rng.random(m) < ILR_RATES["young_outsiders"]
    o_kind = np.where(young, np.where(rng.random(m) < 0.85, STUDY, APPRENTICESHIP), ADULT)
    o_sex = np.where(rng.random(m) < 0.5, "M", "F")
    o_eth = pop.ethnicity_main[rng.integers(0, pop.n_persons, m)]
    names = draw_names(rng, o_sex, o_eth, 0.6, 0.12)
    start_of = np.array([_day(dt.date(y.start, 8, 31)) for y in years])[o_first]
    age = np.where(young, rng.integers(16, 18, m), rng.integers(19, 61, m))
    o_dob = start_of - (age * 365.25).astype(np.int64) - rng.integers(0, 365, m)
    o_uln = _fresh_ulns(pop, m)
    o_addr = rng.integers(0, len(pop.addresses), m)
    o_la = rng.integers(0, n_las, m)
    n_pupils = person.size
    key = np.concatenate([person, pop.n_persons + np.arange(m)]).astype(np.int64)
    kind_all = np.concatenate([kind, o_kind])
    la_all = np.concatenate([la, o_la])
    local = la_all * PROVIDERS_PER_LA + key % PROVIDERS_PER_LA
    national = n_las * PROVIDERS_PER_LA + key % NATIONAL
    provider = np.where((kind_all == APPRENTICESHIP) & (key % 3 == 0), national, local)
    surname_idx = pop.surname.index_at(person, t_last)
    address = pop.address.index_at(person, t_last)
    sen = pop.sen_provision[person] != "N"
    lldd = np.where(rng.random(n_pupils) < np.where(sen, 0.8, 0.06), "1", "2")
    o_lldd = np.where(rng.random(m) < 0.12, "1", "2")
    lldd_all = np.concatenate([lldd, o_lldd])
    lldd_all = np.where(rng.random(lldd_all.size) < 0.03, "9", lldd_all)
    eth = np.concatenate([pop.ethnicity_main[person], o_eth])
    base = dict(
        person=np.concatenate([person, -(10**12) - np.arange(m)]),
        key=key,
        kind=kind_all,
        provider=provider,
        uln=np.concatenate([pop.uln[person], o_uln]),
        surname=np.concatenate([pop.surname.value[np.maximum(surname_idx, 0)], names["surname"]]),
        forename=np.concatenate([pop.forename[person], names["forename"]]),
        middle=np.concatenate([pop.middle[person], names["middle"]]),
        dob=np.concatenate([(pop.dob[person] - EPOCH).astype(np.int64), o_dob]),
        sex=np.concatenate([pop.sex[person], o_sex]),
        ethnicity=_ilr_ethnicity(eth),
        lldd=lldd_all,
        postcode=np.concatenate(
            [
                pop.addresses.postcode(np.maximum(pop.address.value[np.maximum(address, 0)], 0)),
                pop.addresses.postcode(o_addr),
            ]
        ),
    )
    first_all = np.concatenate([first, o_first])
    return Programmes(**base, **_aims(rng, kind_all, first_all, years))


def _ilr_ethnicity(main: np.ndarray) -> np.ndarray:
    uniq, inverse = np.unique(main, return_inverse=True)
    return np.array([ILR_ETHNICITY[e] for e in uniq.tolist()], dtype="U2")[inverse]


def _fresh_ulns(pop, m: int) -> np.ndarray:
    """m valid ULNs no pupil of the run holds."""
    candidates = draw_ulns(stream(pop.seed, FEED, "uln"), m + m // 4 + 64)
    return candidates[~np.isin(candidates, pop.uln)][:m]


def _aims(rng, kind: np.ndarray, first: np.ndarray, years) -> dict[str, np.ndarray]:
    """Each programme's aims with their planned and true dates (days since 1970)."""
    n = kind.size
    sep_of = np.array([_day(dt.date(y.start, 9, 1)) for y in years], np.int64)[first]
    two_year = rng.random(n) < ILR_RATES["two_year_programme"]
    extra = np.where(
        kind == STUDY, rng.integers(1, 3, n), np.where(kind == ADULT, rng.integers(0, 2, n), 1)
    )
    count = 1 + extra
    owner = np.repeat(np.arange(n), count)
    seq = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count) + 1
    k = kind[owner]
    core = seq == 1
    adult_start = sep_of + rng.integers(0, 300, n)
    start = np.where(
        k == ADULT, adult_start[owner], sep_of[owner] + rng.integers(0, 21, owner.size)
    )
    length = np.where(
        k == STUDY,
        np.where(core & two_year[owner], 690, 320),
        np.where(k == APPRENTICESHIP, np.where(core, 640, 300), rng.integers(30, 300, owner.size)),
    )
    planned = start + length + rng.integers(0, 10, owner.size)
    withdrawn = rng.random(owner.size) < ILR_RATES["withdrawn"]
    end = np.where(
        withdrawn,
        start + (rng.random(owner.size) * (planned - start)).astype(np.int64),
        planned - rng.integers(0, 15, owner.size),
    )
    aim_type = np.where(
        k == STUDY,
        np.where(core, "5", "4"),
        np.where(k == APPRENTICESHIP, np.where(core, "1", "3"), "4"),
    )
    ref = np.where(
        k == STUDY,
        np.where(
            core,
            STUDY_AIMS[rng.integers(0, STUDY_AIMS.size, owner.size)],
            FUNCTIONAL_SKILLS[(seq - 2) % 2],
        ),
        np.where(
            k == APPRENTICESHIP,
            np.where(core, "ZPROG001", STUDY_AIMS[rng.integers(0, STUDY_AIMS.size, owner.size)]),
            ADULT_AIMS[rng.integers(0, ADULT_AIMS.size, owner.size)],
        ),
    )
    std = np.where(k == APPRENTICESHIP, STANDARDS[rng.integers(0, STANDARDS.size, n)][owner], 0)
    return {
        "aim_owner": owner,
        "aim_ref": ref,
        "aim_type": aim_type,
        "aim_seq": seq,
        "start": start,
        "planned_end": planned,
        "end": end,
        "withdrawn": withdrawn,
        "achieved": ~withdrawn & (rng.random(owner.size) < ILR_RATES["achieved"]),
        "std_code": std,
        "withdraw_reason": WITHDRAW_REASONS[rng.integers(0, WITHDRAW_REASONS.size, owner.size)],
    }


def _active(prog: Programmes, year: AcademicYear) -> tuple[np.ndarray, np.ndarray]:
    """Aims in learning at some time in the ILR year (1 August to 31 July), and their learners."""
    ys, ye = _day(dt.date(year.start, 8, 1)), _day(dt.date(year.start + 1, 7, 31))
    aims = np.flatnonzero((prog.start <= ye) & (prog.end >= ys))
    return aims, np.unique(prog.aim_owner[aims])


def file_count(ctx: WriteContext, year: AcademicYear) -> int:
    """How many returns write_year writes for a year: one per provider with learners."""
    prog = programmes(ctx)
    return int(np.unique(prog.provider[_active(prog, year)[1]]).size)


def write_year(
    ctx: WriteContext, year: AcademicYear, plants: list[Plant], on_file
) -> tuple[pa.Table, list[dict]]:
    """Write every provider's ILR return for one year; returns (truth rows, planted cells)."""
    pop, prog = ctx.pop, programmes(ctx)
    rng = stream(pop.seed, FEED, year.start)
    ye = _day(dt.date(year.start + 1, 7, 31))
    aims, learner = _active(prog, year)
    ukprns = providers(pop)
    order = np.lexsort(
        (scramble(prog.key[learner].astype(np.uint64), 40, pop.seed + 26), prog.provider[learner])
    )
    learner = learner[order]
    n = learner.size
    cols, label = _learner_columns(ctx, prog, learner, rng)
    # Aims of the chosen learners, in learner order.
    rank = np.full(prog.kind.size, -1, np.int64)
    rank[learner] = np.arange(n)
    aims = aims[np.lexsort((prog.aim_seq[aims], rank[prog.aim_owner[aims]]))]
    owner = rank[prog.aim_owner[aims]]
    lines = learners(cols, _delivery_columns(prog, aims, ye), owner)
    ended = np.zeros(n, bool)
    np.logical_or.at(ended, owner, prog.end[aims] <= ye)
    prov = prog.provider[learner]
    bounds = np.searchsorted(prov, np.arange(ukprns.size + 1))
    prepared = dt.datetime(year.start + 1, 10, 16, 9, 30)
    truth_parts = []
    for i, ukprn in enumerate(ukprns):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if hi == lo:
            continue  # a provider with no learners this year sends no return
        stamp = prepared + dt.timedelta(minutes=7 * i)
        path = ilr_file_path(ctx.landing, year, int(ukprn), stamp, 1)
        f = IlrFile(path, prolog(year, int(ukprn), stamp, 1))
        f.append(lines.slice(lo, hi - lo))
        done = np.flatnonzero(ended[lo:hi]) + lo
        f.append(
            destinations(
                cols["LearnRefNumber"].take(pa.array(done)),
                cols["ULN"].take(pa.array(done)),
                formats.codes(np.where(rng.random(done.size) < 0.6, "EDU", "EMP")),
                formats.dates(np.full(done.size, ye + 30), ISO),
            )
        )
        f.close(EPILOG)
        on_file(ctx.relative(path), hi - lo)
        truth_parts.append(
            truth_table(
                ctx.relative(path),
                np.arange(1, hi - lo + 1),
                prog.person[learner[lo:hi]],
                label[lo:hi],
            )
        )
    truth = pa.concat_tables(truth_parts) if truth_parts else empty_truth()
    return truth, []


def _learner_columns(ctx: WriteContext, prog: Programmes, learner: np.ndarray, rng):
    """Learner element columns with per-record keying defects, and the truth label."""
    pop = ctx.pop
    n = learner.size
    key = (prog.key[learner].astype(np.uint64) << np.uint64(10)) + prog.provider[learner].astype(
        np.uint64
    )
    ref = np.char.add("L", np.char.zfill(scramble(key, 36, pop.seed + 27).astype(str), 11))
    uln = prog.uln[learner].astype("U10")
    surname = SURNAMES[prog.surname[learner]]
    forename = FORENAMES[prog.forename[learner]]
    middle = prog.middle[learner]
    with_middle = (middle >= 0) & (rng.random(n) < ILR_RATES["given_middle_name"])
    given = np.where(
        with_middle,
        np.char.add(np.char.add(forename, " "), FORENAMES[np.maximum(middle, 0)]),
        forename,
    )
    postcode = prog.postcode[learner].astype("U8")
    u = rng.random(n)
    cut = np.cumsum(
        [ILR_RATES[k] for k in ("temporary_uln", "bad_check_uln", "typo", "postcode_unknown")]
    )
    draw = np.searchsorted(cut, u, side="right")
    label = np.full(n, "none", dtype="U16")
    uln = np.where(draw == 0, TEMPORARY_ULN, uln)
    label[draw == 0] = "temporary_uln"
    bad = draw == 1
    wrong = (
        uln[bad].astype("U10").view("U1").reshape(-1, 10)[:, 9].astype(int)
        + rng.integers(1, 10, int(bad.sum()))
    ) % 10
    uln[bad] = np.char.add(np.array([s[:9] for s in uln[bad]], dtype="U9"), wrong.astype("U1"))
    label[bad] = "bad_check"
    typo = np.flatnonzero(draw == 2)
    on_surname = rng.random(typo.size) < 0.5
    surname[typo[on_surname]] = one_char_edits(rng, surname[typo[on_surname]])
    given[typo[~on_surname]] = one_char_edits(rng, forename[typo[~on_surname]])
    label[typo] = "typo"
    postcode = np.where(draw == 3, "ZZ99 9ZZ", postcode)
    label[draw == 3] = "postcode_unknown"
    kind = prog.kind[learner]
    cols = {
        "LearnRefNumber": pa.array(ref, pa.string()),
        "ULN": pa.array(uln, pa.string()),
        "FamilyName": pa.array(surname.astype(str), pa.string()),
        "GivenNames": pa.array(given.astype(str), pa.string()),
        "DateOfBirth": iso_dates(prog.dob[learner]),
        "Ethnicity": formats.codes(prog.ethnicity[learner]),
        "Sex": formats.codes(prog.sex[learner]),
        "LLDDHealthProb": formats.codes(prog.lldd[learner]),
        "PostcodePrior": pa.array(prog.postcode[learner].astype(str), pa.string()),
        "Postcode": pa.array(postcode.astype(str), pa.string()),
        "PlanLearnHours": formats.integers(
            np.where(kind == STUDY, 540 + 10 * (prog.key[learner] % 7), 0), kind != STUDY
        ),
    }
    return cols, label


def _delivery_columns(prog: Programmes, aims: np.ndarray, ye: int) -> dict[str, pa.Array]:
    """LearningDelivery columns as known at the year's final return."""
    over = prog.end[aims] <= ye
    withdrawn = over & prog.withdrawn[aims]
    completed = over & ~prog.withdrawn[aims]
    achieved = completed & prog.achieved[aims]
    kind = prog.kind[prog.aim_owner[aims]]
    comp = np.where(withdrawn, "3", np.where(completed, "2", "1"))
    outcome = np.where(withdrawn, "3", np.where(achieved, "1", np.where(completed, "3", "")))
    std = prog.std_code[aims]
    return {
        "LearnAimRef": formats.codes(prog.aim_ref[aims]),
        "AimType": formats.codes(prog.aim_type[aims]),
        "AimSeqNumber": formats.integers(prog.aim_seq[aims]),
        "LearnStartDate": formats.dates(prog.start[aims], ISO),
        "LearnPlanEndDate": formats.dates(prog.planned_end[aims], ISO),
        "FundModel": formats.codes(FUND_MODEL[kind]),
        "ProgType": formats.codes(np.where(kind == APPRENTICESHIP, "25", "")),
        "StdCode": formats.integers(std, std == 0),
        "CompStatus": formats.codes(comp),
        "LearnActEndDate": formats.dates(np.where(over, prog.end[aims], -1), ISO),
        "WithdrawReason": formats.codes(np.where(withdrawn, prog.withdraw_reason[aims], "")),
        "Outcome": formats.codes(outcome),
        "AchDate": formats.dates(
            np.where(achieved & (kind == APPRENTICESHIP), prog.end[aims], -1), ISO
        ),
    }
