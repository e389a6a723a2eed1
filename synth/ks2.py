"""Writing KS2 results: one NPD-style CSV per academic year for the summer census Y6 pupils.

Scaled scores (80-120, expected standard 100) come from each person's latent ability
plus subject noise, so FSM and SEN gaps arise from the population rather than being
pasted on; EHC-plan pupils working below the test standard get B and a pre-key-stage
teacher assessment. Identifiers carry the KS2 defect rates from synth/defects.py.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.codes import codelist, mapping
from core.periods import AcademicYear, Term
from ingest.landing import annual_file_path
from ingest.spec import load_spec
from synth import formats
from synth.context import WriteContext
from synth.corrupt import corrupt
from synth.plants import Plant
from synth.records import empty_truth, identity, patch, truth_rows
from synth.rng import stream

FEED = "ks2"
TEST_OUTCOMES = np.array(["AS", "NS", "A", "B"])
TA_OUTCOMES = np.array(["GDS", "EXS", "WTS", "PK1", "PK2", "PK3", "PK4", "PK5", "PK6"])
for _code in TEST_OUTCOMES:
    if not codelist("ks2_test_outcome").is_valid(_code):
        raise ValueError(f"KS2 test outcome {_code} not in core/codelists")
for _code in TA_OUTCOMES:
    if not codelist("ks2_ta_outcome").is_valid(_code):
        raise ValueError(f"KS2 TA outcome {_code} not in core/codelists")
_EAL = {"1_ENG": 1, "2_OTH": 2, "3_UNCL": 3}
ABSENT_RATE = 0.01  # per subject test
MEAN_SCORE = {"read": 105.0, "mat": 104.7, "gps": 104.8}
SCORE_SD = 7.5
FSM6_PERIODS = 18  # six years of censuses


def _score(z: np.ndarray, mean: float) -> np.ndarray:
    return np.clip(np.round(mean + SCORE_SD * z), 80, 120).astype(np.int64)


def _eal_group(language: np.ndarray) -> np.ndarray:
    groups = mapping("language_group_major")
    out = np.full(len(language), _EAL["2_OTH"])
    for code, group in groups.items():
        out[language == code] = _EAL[group]
    valid = codelist("language")
    bad = np.array([not valid.is_valid(c) for c in np.unique(language)])
    for code in np.unique(language)[bad]:  # a few distinct codes, not per pupil
        out[language == code] = _EAL["3_UNCL"]
    return out


def write_year(
    ctx: WriteContext, year: AcademicYear, plants: list[Plant], on_file
) -> tuple[pa.Table, list[dict]]:
    """Write the KS2 file for one academic year; returns (truth rows, planted cells)."""
    pop = ctx.pop
    t = pop.period_index(year, Term.SUMMER)
    rng = stream(pop.seed, "ks2", year.start)
    on = pop.on_roll(t)
    person = on[pop.nc_year(t, on) == 6]
    school = pop.school[t, person]
    la_idx = pop.schools.la_idx[school]
    order = np.lexsort((rng.random(len(person)), school, la_idx))
    person, school, la_idx = person[order], school[order], la_idx[order]
    n = len(person)
    seq = _within_school(school)
    ident = identity(ctx, person, t)
    bad = corrupt(
        rng,
        FEED,
        ident["label"],
        school,
        person,
        pop.upn.value[ident["upn"]],
        pop.forename[person],
        pop.surname.value[ident["surname"]],
        (pop.dob[person] - np.datetime64("1970-01-01", "D")).astype(np.int64),
    )
    ability = pop.ability[person].astype(np.float64)
    male = pop.sex[person] == "M"
    eal = _eal_group(pop.language[person])
    sen = pop.sen_provision[person]
    girl = np.where(male, -1.0, 1.0)

    def z(shift: np.ndarray | float) -> np.ndarray:
        return 0.85 * ability + 0.5 * rng.standard_normal(n) + shift

    z_read, z_mat, z_gps, z_writ = (
        z(0.12 * girl - 0.1 * (eal == 2)),
        z(-0.06 * girl),
        z(0.12 * girl),
        z(0.18 * girl),
    )
    below = ((sen == "E") & (ability < -1.5)) | ((sen == "K") & (ability < -2.6))
    scores, outcomes, absent = {}, {}, {}
    for subject, zz in (("read", z_read), ("mat", z_mat), ("gps", z_gps)):
        score = _score(zz, MEAN_SCORE[subject])
        absent[subject] = (rng.random(n) < ABSENT_RATE) & ~below
        outcome = np.where(score >= 100, 0, 1)
        outcome = np.where(absent[subject], 2, np.where(below, 3, outcome))
        scores[subject], outcomes[subject] = score, outcome
    pk = np.clip(np.floor((ability + 4.5) * 2).astype(np.int64), 1, 6) + 2  # PK1..PK6
    expected = {s: outcomes[s] == 0 for s in scores}
    writ = np.where(z_writ > 1.1, 0, np.where(z_writ > -0.75, 1, 2))
    writ = np.where(below, pk, writ)

    def ta(zz: np.ndarray, cut: float) -> np.ndarray:
        return np.where(below, pk, np.where(zz + 0.25 * rng.standard_normal(n) > cut, 1, 2))

    read_ta, mat_ta = ta(z_read, -0.64), ta(z_mat, -0.57)
    sci_ta = np.where(z(0.0) > -0.9, 1, 2)
    writ_exp = writ <= 1
    rwm = expected["read"] & writ_exp & expected["mat"]
    high = (
        (scores["read"] >= 110)
        & (scores["mat"] >= 110)
        & (writ == 0)
        & expected["read"]
        & expected["mat"]
    )
    lo = max(0, t - FSM6_PERIODS + 1)
    fsm6 = pop.fsm[lo : t + 1, person].any(axis=0) | pop.fsm_before[person]
    laestab = pop.schools.laestab[school].astype(np.int64)
    candno = laestab * 10000 + seq + 1
    cols = {
        "candidate_number": formats.integers(candno),
        "upn": patch(ctx.upn_values.take(pa.array(ident["upn"])), bad.upn_rows, bad.upn_values),
        "surname": patch(
            ctx.surnames.take(pa.array(pop.surname.value[ident["surname"]])),
            bad.surname_rows,
            bad.surname_values,
        ),
        "forename": patch(
            ctx.forenames.take(pa.array(pop.forename[person])),
            bad.forename_rows,
            bad.forename_values,
        ),
        "dob": formats.dates(bad.dob, formats.KS_DATE),
        "sex": ctx.code_column("sex", person),
        "la_code": formats.integers(pop.schools.la[school]),
        "estab": formats.integers(pop.schools.estab[school]),
        "laestab": formats.integers(laestab),
        "urn": formats.integers(pop.schools.urn[school]),
        "read_ta_outcome": formats.vocab_take(TA_OUTCOMES, read_ta),
        "writ_ta_outcome": formats.vocab_take(TA_OUTCOMES, writ),
        "mat_ta_outcome": formats.vocab_take(TA_OUTCOMES, mat_ta),
        "sci_ta_outcome": formats.vocab_take(TA_OUTCOMES, np.where(below, 2, sci_ta)),
        "writ_exp": formats.booleans(writ_exp, true="1", false="0"),
        "rwm_exp": formats.booleans(rwm, true="1", false="0"),
        "rwm_high": formats.booleans(high, true="1", false="0"),
        "fsm6": formats.booleans(fsm6, true="1", false="0"),
        "eal_group": formats.integers(eal),
        "sen_provision": ctx.code_column("sen_provision", person),
    }
    for subject in ("read", "mat", "gps"):
        missing = outcomes[subject] >= 2
        cols[f"{subject}_score"] = formats.integers(scores[subject], missing)
        cols[f"{subject}_outcome"] = formats.vocab_take(TEST_OUTCOMES, outcomes[subject])
        cols[f"{subject}_exp"] = formats.booleans(expected[subject], true="1", false="0")
    path = annual_file_path(ctx.landing, FEED, year)
    spec = load_spec(FEED).for_year(year).tables["ks2"]
    planted = []
    bounds = np.searchsorted(la_idx, np.arange(len(pop.las) + 1))
    for plant in plants:
        if plant.feed != FEED or plant.year != year:
            continue
        i = next((k for k, la in enumerate(pop.las) if la.code == plant.la), None)
        if i is None:
            continue
        a, b = int(bounds[i]), int(bounds[i + 1])
        field = spec.field(plant.field)
        column = cols.get(field.name, formats.blank(n))
        changed, rows = plant.apply(column.slice(a, b - a), field, pop.seed)
        cols[field.name] = pa.concat_arrays([column.slice(0, a), changed, column.slice(b)])
        planted.append(
            {"plant": plant.text, "source_file": ctx.relative(path), "rows": rows + a + 2}
        )
    header = [f.source for f in spec.fields]
    written = formats.write_csv(
        path, header, [cols.get(f.name, formats.blank(n)) for f in spec.fields]
    )
    on_file(ctx.relative(path), written)
    truth = truth_rows(ctx.relative(path), person, bad.label) if n else empty_truth()
    return truth, planted


def _within_school(school: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal school indices (rows sorted by school)."""
    if school.size == 0:
        return np.zeros(0, np.int64)
    start = np.r_[True, school[1:] != school[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(school.size), 0))
    return np.arange(school.size) - first
