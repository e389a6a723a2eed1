"""What the key stage writers (phonics, KS1, KS4, KS5) share: the cohort, the pupil columns,
per-person draws, and writing the file with its plants and truth.

A key stage file is one row per pupil of some NC years at the summer census (main
registration), sorted by LA and school. Identity columns carry the record-level defects
of synth/defects.py through synth.corrupt, exactly as KS2 does; each writer adds only its
result columns. Per-person draws (`person_normal`) depend on the person and a label, not
on the year, so a pupil's phonics result in Y1 decides whether they retake in Y2 however
the run's years are chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from core.periods import AcademicYear, Term
from ingest.landing import annual_file_path
from ingest.spec import load_spec
from synth import formats
from synth.context import WriteContext
from synth.corrupt import Corruption, corrupt
from synth.plants import Plant
from synth.records import empty_truth, identity, patch, truth_rows
from synth.rng import stream
from synth.schools import SPECIAL

OnFile = Callable[[str, int], None]
FSM6_PERIODS = 18  # six years of censuses


@dataclass(frozen=True)
class Cohort:
    """The pupils of one key stage file, in file order, with their identity as recorded."""

    feed: str
    year: AcademicYear
    t: int  # the summer census period of the year
    person: np.ndarray
    school: np.ndarray
    la_idx: np.ndarray
    bad: Corruption
    ident: dict[str, np.ndarray]
    rng: np.random.Generator  # the writer's stream for its result columns

    def __len__(self) -> int:
        return len(self.person)


def cohort(
    ctx: WriteContext,
    feed: str,
    year: AcademicYear,
    nc_years: tuple[int, ...],
    keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Cohort:
    """Pupils on roll at the summer census in the given NC years (optionally filtered by
    keep(person, nc_year)), sorted by LA, school, then at random; defects drawn."""
    pop = ctx.pop
    t = pop.period_index(year, Term.SUMMER)
    rng = stream(pop.seed, feed, year.start)
    on = pop.on_roll(t)
    nc = pop.nc_year(t, on)
    chosen = np.isin(nc, nc_years)
    if keep is not None:
        chosen &= keep(on, nc)
    person = on[chosen]
    school = pop.school[t, person]
    la_idx = pop.schools.la_idx[school]
    order = np.lexsort((rng.random(len(person)), school, la_idx))
    person, school, la_idx = person[order], school[order], la_idx[order]
    ident = identity(ctx, person, t)
    bad = corrupt(
        rng,
        feed,
        ident["label"],
        school,
        person,
        pop.upn.value[ident["upn"]],
        pop.forename[person],
        pop.surname.value[ident["surname"]],
        (pop.dob[person] - np.datetime64("1970-01-01", "D")).astype(np.int64),
    )
    return Cohort(feed, year, t, person, school, la_idx, bad, ident, rng)


def person_normal(ctx: WriteContext, label: str, person: np.ndarray) -> np.ndarray:
    """A standard normal draw per person for one purpose, the same in every year of a run."""
    cache = ctx.__dict__.setdefault("_person_normal", {})
    if label not in cache:
        cache[label] = stream(ctx.pop.seed, "person", label).standard_normal(ctx.pop.n_persons)
    return cache[label][person]


def person_uniform(ctx: WriteContext, label: str, person: np.ndarray) -> np.ndarray:
    """A uniform [0, 1) draw per person for one purpose, the same in every year of a run."""
    cache = ctx.__dict__.setdefault("_person_uniform", {})
    if label not in cache:
        cache[label] = stream(ctx.pop.seed, "person-u", label).random(ctx.pop.n_persons)
    return cache[label][person]


def within_school(school: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal school indices (rows sorted by school)."""
    if school.size == 0:
        return np.zeros(0, np.int64)
    start = np.r_[True, school[1:] != school[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(school.size), 0))
    return np.arange(school.size) - first


def girl_shift(ctx: WriteContext, person: np.ndarray) -> np.ndarray:
    """+1 for girls, -1 for boys: the sign of the usual gender gaps."""
    return np.where(ctx.pop.sex[person] == "M", -1.0, 1.0)


def fsm6(ctx: WriteContext, c: Cohort) -> np.ndarray:
    """Eligible for FSM at any census of the last six years the run covers (or before it)."""
    pop = ctx.pop
    lo = max(0, c.t - FSM6_PERIODS + 1)
    return pop.fsm[lo : c.t + 1, c.person].any(axis=0) | pop.fsm_before[c.person]


def flag(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """A 1/0 flag column, as key stage files write booleans."""
    return formats.booleans(values, missing, true="1", false="0")


def decimals(values: np.ndarray, places: int, missing: np.ndarray | None = None) -> pa.Array:
    """Numbers with a fixed number of decimal places ('46.50'), blank where missing.

    Rendered from the vocabulary of values the column spans (a few thousand at most),
    so a million rows cost one take.
    """
    scaled = np.round(np.asarray(values, dtype=np.float64) * 10**places).astype(np.int64)
    mask = np.zeros(scaled.size, bool) if missing is None else np.asarray(missing, bool)
    if scaled.size == 0 or mask.all():
        return formats.blank(scaled.size)
    lo, hi = int(scaled[~mask].min()), int(scaled[~mask].max())
    vocab = [f"{v / 10**places:.{places}f}" for v in range(lo, hi + 1)]
    return formats.vocab_take(vocab, np.where(mask, 0, scaled - lo), mask)


def toe_codes(ctx: WriteContext, school: np.ndarray) -> pa.Array:
    """GIAS type of establishment: community special, academy converter (by name), community."""
    schools = ctx.pop.schools
    academy = np.char.find(schools.name.astype(str), "Academy") >= 0
    kind = np.where(schools.phase == SPECIAL, 2, np.where(academy, 1, 0))
    return formats.vocab_take(["01", "34", "07"], kind[school])


def school_columns(ctx: WriteContext, c: Cohort) -> dict[str, pa.Array]:
    """Candidate number, identity (with defects) and school columns by staged name."""
    pop = ctx.pop
    laestab = pop.schools.laestab[c.school].astype(np.int64)
    bad = c.bad
    return {
        "candidate_number": formats.integers(laestab * 10000 + within_school(c.school) + 1),
        "upn": patch(ctx.upn_values.take(pa.array(c.ident["upn"])), bad.upn_rows, bad.upn_values),
        "surname": patch(
            ctx.surnames.take(pa.array(pop.surname.value[c.ident["surname"]])),
            bad.surname_rows,
            bad.surname_values,
        ),
        "forename": patch(
            ctx.forenames.take(pa.array(pop.forename[c.person])),
            bad.forename_rows,
            bad.forename_values,
        ),
        "dob": formats.dates(bad.dob, formats.KS_DATE),
        "sex": ctx.code_column("sex", c.person),
        "la_code": formats.integers(pop.schools.la[c.school]),
        "estab": formats.integers(pop.schools.estab[c.school]),
        "laestab": formats.integers(laestab),
        "urn": formats.integers(pop.schools.urn[c.school]),
        "toe_code": toe_codes(ctx, c.school),
        "acad_year": pa.array([c.year.label] * len(c), pa.string()),
    }


def write(
    ctx: WriteContext,
    c: Cohort,
    table: str,
    cols: dict[str, pa.Array],
    plants: list[Plant],
    on_file: OnFile,
) -> tuple[pa.Table, list[dict]]:
    """Write the year's file with the spec's header for that year; plants; truth rows."""
    pop = ctx.pop
    n = len(c)
    path = annual_file_path(ctx.landing, c.feed, c.year)
    spec = load_spec(c.feed).for_year(c.year).tables[table]
    planted = []
    bounds = np.searchsorted(c.la_idx, np.arange(len(pop.las) + 1))
    for plant in plants:
        if plant.feed != c.feed or plant.year != c.year:
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
    truth = truth_rows(ctx.relative(path), c.person, c.bad.label) if n else empty_truth()
    return truth, planted
