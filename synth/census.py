"""Writing the school census: per term and LA, one return of COLLECT-style CSV tables.

Each period's records are built once for all LAs (columns as Arrow arrays, rows sorted
by LA, school and record id), then sliced per LA and written with headers taken from
the census spec for that year, so renames such as gender -> sex follow the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.codes import codelist
from core.periods import Term
from ingest.landing import census_table_path
from ingest.spec import TableSpec, load_spec
from synth import formats
from synth.context import WriteContext
from synth.corrupt import Corruption, corrupt
from synth.ids import hex_ids, scramble
from synth.people import school_day
from synth.plants import Plant
from synth.records import empty_truth, identity, patch, truth_rows
from synth.rng import stream

FEED = "school_census"
TABLES = (
    "school",
    "pupilonroll",
    "pupilnolongeronroll",
    "senneeds",
    "fsmperiod",
    "addressesonroll",
)

_NC = codelist("ncyear_actual")
NC_CODES = np.array(["R", *[str(i) for i in range(1, 15)]])
_ENROL = codelist("enrol_status")
ENROL_CODES = np.array(["C", "M", "S"])
_YSSA = np.array(["", "Yes", "No", "Unsought"])
for _code in [*NC_CODES, *ENROL_CODES]:
    if not (_NC.is_valid(_code) or _ENROL.is_valid(_code)):
        raise ValueError(f"census code {_code} not in core/codelists")
for _code in _YSSA[1:]:
    if not codelist("yssa").is_valid(_code):
        raise ValueError(f"yssa code {_code} not in core/codelists")
# Sessions possible in the term before each census (autumn reports the summer term).
_SESSIONS = {Term.AUTUMN: 124, Term.SPRING: 141, Term.SUMMER: 120}

OnFile = Callable[[str, int], None]
WRITE_THREADS = 2


@dataclass
class _Records:
    """One table's rows for a whole period, sorted by LA then school."""

    person: np.ndarray
    school: np.ndarray
    la_idx: np.ndarray
    columns: dict[str, pa.Array]  # staged name -> column
    label: np.ndarray  # int8 truth label per row

    def bounds(self, n_las: int) -> np.ndarray:
        return np.searchsorted(self.la_idx, np.arange(n_las + 1))


def _person_columns(
    ctx: WriteContext, person: np.ndarray, t: int, ident: dict[str, np.ndarray], bad: Corruption
) -> dict[str, pa.Array]:
    """Columns shared by on-roll and no-longer-on-roll records: names, identifiers, DOB."""
    pop = ctx.pop
    surname_code = pop.surname.value[ident["surname"]]
    nc = pop.nc_year(t, person)
    uln_missing = ~((nc >= 10) & pop.uln_in_census[person])
    legal = ctx.surnames.take(pa.array(surname_code))
    return {
        "dob": formats.dates(bad.dob, formats.CENSUS_DATE),
        "surname": patch(legal, bad.surname_rows, bad.surname_values),
        "forename": patch(
            ctx.forenames.take(pa.array(pop.forename[person])),
            bad.forename_rows,
            bad.forename_values,
        ),
        "middle_names": ctx.middle_names.take(pa.array(person)),
        "preferred_surname": pc.if_else(
            pa.array(ctx.extras["preferred_blank"][person]), pa.scalar(None, pa.string()), legal
        ),
        "former_surname": formats.vocab_take(
            ctx.surnames,
            pop.surname.value[np.maximum(ident["surname_prev"], 0)],
            ident["surname_prev"] < 0,
        ),
        "upn": patch(ctx.upn_values.take(pa.array(ident["upn"])), bad.upn_rows, bad.upn_values),
        "former_upn": formats.vocab_take(ctx.upn_values, ident["upn_prev"]),
        "uln": formats.vocab_take(ctx.uln, person, uln_missing),
        "sex": ctx.code_column("sex", person),
        "ethnicity": ctx.code_column("ethnicity", person),
        "language": ctx.code_column("language", person),
    }


def _corrupt(
    ctx: WriteContext, rng: np.random.Generator, person, school, ident, t: int
) -> Corruption:
    pop = ctx.pop
    return corrupt(
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


def _sorted(
    ctx: WriteContext, kind: str, person: np.ndarray, school: np.ndarray, *more: np.ndarray
):
    """Assign run-unique record ids and sort rows by LA, school, then (random-looking) id."""
    counter = ctx.next_ids(kind, len(person))
    ids = scramble(counter, 44, ctx.pop.seed * 7 + len(kind))
    la_idx = ctx.pop.schools.la_idx[school]
    order = np.lexsort((ids, school, la_idx))
    return (
        ids[order],
        counter[order],
        person[order],
        school[order],
        la_idx[order],
        [m[order] for m in more],
    )


def _sessions(
    ctx: WriteContext, t: int, school: np.ndarray, since: np.ndarray, until: np.ndarray
) -> np.ndarray:
    """Sessions possible in the term before the census, fewer for part of a term."""
    pop = ctx.pop
    base = _SESSIONS[pop.periods[t][1]] + (school.astype(np.int64) * 7919) % 7 - 3
    lo = int(pop.census_day[t - 1]) if t > 0 else int(pop.census_day[0]) - 120
    hi = int(pop.census_day[t])
    share = np.clip((np.minimum(until, hi) - np.maximum(since, lo)) / max(hi - lo, 1), 0.02, 1.0)
    return np.maximum(np.round(base * share), 1).astype(np.int64)


def _on_roll(ctx: WriteContext, t: int, rng: np.random.Generator) -> _Records:
    pop = ctx.pop
    main = pop.on_roll(t)
    dual = pop.dual_period == t
    dual_person, dual_school = pop.dual_person[dual], pop.dual_school[dual]
    person = np.concatenate([main, dual_person])
    school = np.concatenate([pop.school[t, main], dual_school]).astype(np.int32)
    enrol = np.concatenate(
        [np.where(np.isin(main, dual_person), 1, 0), np.full(dual_person.size, 2)]
    )
    sub_entry = int(school_day(np.array([pop.census_day[3 * (t // 3)] - 23]))[0])
    entry = np.concatenate([pop.entry_day[t, main], np.full(dual_person.size, sub_entry)])
    ids, counter, person, school, la_idx, (enrol, entry) = _sorted(
        ctx, "pupilonroll", person, school, enrol, entry
    )
    n = len(person)
    ident = identity(ctx, person, t)
    bad = _corrupt(ctx, rng, person, school, ident, t)
    nc = pop.nc_year(t, person)
    cols = _person_columns(ctx, person, t, ident, bad)
    sen = pop.sen_provision[person]
    fsm_now = pop.fsm[t, person]
    extras = ctx.extras
    lunch_p = np.where(nc <= 2, 0.87, np.where(fsm_now, 0.85, 0.45))
    unit = (sen != "N") & ~pop.special[person] & (extras["unit"][person] < 0.02)
    resourced = (sen != "N") & ~pop.special[person] & (extras["unit"][person] > 0.98)
    u = rng.random(n)
    yssa = np.where(nc >= 9, np.searchsorted([0.4, 0.45, 0.5], u, side="right") + 1, 0)
    yssa[yssa > 3] = 0
    cols.update(
        {
            "pupil_on_roll_id": formats.fixed_bytes(hex_ids(ids, 11, dash_after=8)),
            "native_id": ctx.native_id.take(pa.array(school)),
            "entry_date": formats.dates(entry, formats.CENSUS_DATE),
            "order_seq": formats.vocab_take(["1"], np.zeros(n, np.int64)),
            "source_id": formats.fixed_bytes(hex_ids(scramble(counter, 32, pop.seed + 11), 8)),
            "school_census_id": formats.fixed_bytes(
                hex_ids(
                    scramble(
                        np.uint64(t) * np.uint64(65536) + school.astype(np.uint64),
                        32,
                        pop.seed + 13,
                    ),
                    8,
                )
            ),
            "school_lunch_taken": formats.booleans(extras["lunch"][person] < lunch_p),
            "part_time": formats.booleans(((nc == 0) | (nc >= 12)) & (u > 0.985)),
            "top_up_funding": formats.booleans((sen == "E") & (extras["unit"][person] < 0.5)),
            "unit_contact_time": formats.whole_floats(10 + (person % 11), ~unit),
            "termly_sessions_possible": formats.whole_floats(
                _sessions(ctx, t, school, entry, pop.census_day[t])
            ),
            "sen_unit_indicator": formats.booleans(unit),
            "resourced_provision_indicator": formats.booleans(resourced),
            "yssa": formats.vocab_take(_YSSA, yssa, yssa == 0),
            "service_child": ctx.code_column("service_child", person),
            "enrol_status": formats.vocab_take(ENROL_CODES, enrol),
            "boarder": ctx.code_column("boarder", person, nc < 7) if n else formats.blank(0),
            "plaa": ctx.code_column("plaa", person),
            "sen_provision": ctx.code_column("sen_provision", person),
            "ncyear_actual": formats.vocab_take(NC_CODES, np.clip(nc, 0, 14)),
        }
    )
    return _Records(person=person, school=school, la_idx=la_idx, columns=cols, label=bad.label)


def _off_roll(ctx: WriteContext, t: int, rng: np.random.Generator) -> _Records:
    pop = ctx.pop
    sel = pop.leave_period == t
    person, school, left = pop.leave_person[sel], pop.leave_school[sel], pop.leave_day[sel]
    ids, counter, person, school, la_idx, (left,) = _sorted(
        ctx, "pupilnolongeronroll", person, school, left
    )
    n = len(person)
    before = max(t - 1, 0)
    ident = identity(ctx, person, before)
    bad = _corrupt(ctx, rng, person, school, ident, before)
    entry = pop.entry_day[before, person]
    cols = _person_columns(ctx, person, before, ident, bad)
    nc = pop.nc_year(before, person)
    cols.update(
        {
            "pupil_no_longer_on_roll_id": formats.fixed_bytes(hex_ids(ids, 11, dash_after=8)),
            "native_id": ctx.native_id.take(pa.array(school)),
            "entry_date": formats.dates(entry, formats.CENSUS_DATE),
            "leaving_date": formats.dates(left, formats.CENSUS_DATE),
            "order_seq": formats.vocab_take(["1"], np.zeros(n, np.int64)),
            "source_id": formats.fixed_bytes(hex_ids(scramble(counter, 32, pop.seed + 17), 8)),
            "school_census_id": formats.fixed_bytes(
                hex_ids(
                    scramble(
                        np.uint64(t) * np.uint64(65536) + school.astype(np.uint64),
                        32,
                        pop.seed + 13,
                    ),
                    8,
                )
            ),
            "part_time": formats.booleans(np.zeros(n, bool)),
            "termly_sessions_possible": formats.whole_floats(
                _sessions(ctx, t, school, entry, left)
            ),
            "boarder": ctx.code_column("boarder", person, nc < 7) if n else formats.blank(0),
        }
    )
    return _Records(person=person, school=school, la_idx=la_idx, columns=cols, label=bad.label)


def _children(parent: _Records, rows: np.ndarray, columns: dict[str, pa.Array]) -> _Records:
    """A child table's rows (senneeds, fsmperiod, addresses) pointing at parent rows."""
    take = pa.array(rows)
    cols = {
        "pupil_on_roll_id": parent.columns["pupil_on_roll_id"].take(take),
        "native_id": parent.columns["native_id"].take(take),
        "source_id": parent.columns["source_id"].take(take),
        **columns,
    }
    return _Records(
        person=parent.person[rows],
        school=parent.school[rows],
        la_idx=parent.la_idx[rows],
        columns=cols,
        label=np.zeros(len(rows), np.int8),
    )


def _ordinal(rows: np.ndarray) -> np.ndarray:
    """1, 2, ... within each run of equal (sorted) parent rows."""
    if rows.size == 0:
        return np.zeros(0, np.int64)
    start = np.r_[True, rows[1:] != rows[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(rows.size), 0))
    return np.arange(rows.size) - first + 1


def _senneeds(ctx: WriteContext, parent: _Records) -> _Records:
    pop = ctx.pop
    t1 = pop.sen_type1[parent.person]
    t2 = pop.sen_type2[parent.person]
    r1, r2 = np.flatnonzero(t1 != ""), np.flatnonzero(t2 != "")
    rows = np.concatenate([r1, r2])
    rank = np.concatenate([np.ones(r1.size, np.int64), np.full(r2.size, 2)])
    order = np.argsort(rows, kind="stable")
    rows, rank = rows[order], rank[order]
    sentype = np.where(rank == 1, t1[rows], t2[rows])
    counter = ctx.next_ids("senneeds", rows.size)
    return _children(
        parent,
        rows,
        {
            "sen_needs_id": formats.fixed_bytes(hex_ids(scramble(counter, 32, pop.seed + 19), 8)),
            "order_seq": formats.integers(rank),
            "sen_type_rank": formats.integers(rank),
            "sen_type": formats.codes(sentype),
        },
    )


def _fsmperiods(ctx: WriteContext, parent: _Records, t: int, rng: np.random.Generator) -> _Records:
    pop = ctx.pop
    fp = pop.fsm_periods
    lo = np.searchsorted(fp.person, parent.person, side="left")
    hi = np.searchsorted(fp.person, parent.person, side="right")
    count = hi - lo
    rows = np.repeat(np.arange(len(parent.person)), count)
    offset = np.arange(rows.size) - np.repeat(np.cumsum(count) - count, count)
    idx = np.repeat(lo, count) + offset
    census = int(pop.census_day[t])
    previous = int(pop.census_day[t - 1]) if t > 0 else census - 120
    keep = (fp.start[idx] <= census) & ((fp.end[idx] < 0) | (fp.end[idx] >= previous))
    rows, idx = rows[keep], idx[keep]
    end = fp.end[idx]
    counter = ctx.next_ids("fsmperiod", rows.size)
    country = np.where(
        rng.random(rows.size) < 0.995, "ENG", rng.choice(["WLS", "SCT", "NIR"], size=rows.size)
    )
    return _children(
        parent,
        rows,
        {
            "fsm_period_id": formats.fixed_bytes(hex_ids(scramble(counter, 32, pop.seed + 23), 8)),
            "order_seq": formats.integers(_ordinal(rows)),
            "fsm_start_date": formats.dates(fp.start[idx], formats.CENSUS_DATE),
            "fsm_end_date": formats.dates(end, formats.CENSUS_DATE, (end < 0) | (end > census)),
            "uk_country": formats.codes(country),
        },
    )


def _addresses(ctx: WriteContext, parent: _Records, t: int) -> _Records:
    pop = ctx.pop
    rows = np.arange(len(parent.person))
    address = pa.array(pop.address.value_at(parent.person, t, 0))
    counter = ctx.next_ids("addressesonroll", rows.size)
    strings = ctx.address_strings
    return _children(
        parent,
        rows,
        {
            "address_id": formats.fixed_bytes(hex_ids(scramble(counter, 32, pop.seed + 29), 8)),
            "uprn": strings["uprn"].take(address),
            "paon": strings["paon"].take(address),
            "street": strings["street"].take(address),
            "town": strings["town"].take(address),
            "postcode": strings["postcode"].take(address),
        },
    )


def _school_table(ctx: WriteContext, la_idx: int) -> dict[str, pa.Array]:
    schools = ctx.pop.schools
    rows = np.flatnonzero(schools.la_idx == la_idx)
    return {
        "native_id": ctx.native_id.take(pa.array(rows)),
        "laestab": formats.integers(schools.laestab[rows]),
        "school_name": pa.array(schools.name[rows].astype(str)),
        "urn": formats.integers(schools.urn[rows]),
        "phase": pa.array(np.array(["Primary", "Secondary", "Special"])[schools.phase[rows]]),
    }


def _write(path, spec: TableSpec, columns: dict[str, pa.Array], n: int) -> int:
    header = [f.source for f in spec.fields]
    arrays = [columns.get(f.name, formats.blank(n)) for f in spec.fields]
    return formats.write_csv(path, header, arrays)


def write_period(
    ctx: WriteContext, t: int, plants: list[Plant], on_file: OnFile
) -> tuple[pa.Table, list[dict]]:
    """Write every LA's return for one census period; returns (truth rows, planted cells)."""
    pop = ctx.pop
    year, term = pop.periods[t]
    spec = load_spec(FEED).for_year(year, term)  # the term's column names (autumn FSM)
    rng = stream(pop.seed, "census", t)
    on = _on_roll(ctx, t, rng)
    off = _off_roll(ctx, t, rng)
    children = {
        "senneeds": _senneeds(ctx, on),
        "fsmperiod": _fsmperiods(ctx, on, t, rng),
        "addressesonroll": _addresses(ctx, on, t),
    }
    tables = {"pupilonroll": on, "pupilnolongeronroll": off, **children}
    bounds = {name: rec.bounds(len(pop.las)) for name, rec in tables.items()}
    truth: list[pa.Table] = []
    planted: list[dict] = []
    jobs: list[tuple[Path, TableSpec, dict[str, pa.Array], int]] = []
    for i, la in enumerate(pop.las):
        path = census_table_path(ctx.landing, year, term, la.code, "school")
        school_cols = _school_table(ctx, i)
        jobs.append((path, spec.tables["school"], school_cols, len(school_cols["urn"])))
        for name, rec in tables.items():
            lo, hi = int(bounds[name][i]), int(bounds[name][i + 1])
            path = census_table_path(ctx.landing, year, term, la.code, name)
            cols = {k: v.slice(lo, hi - lo) for k, v in rec.columns.items()}
            table_spec = spec.tables[name]
            for plant in plants:
                if plant.matches(FEED, year, term, la.code, name):
                    field = table_spec.field(plant.field)
                    cols[field.name], rows = plant.apply(
                        cols.get(field.name, formats.blank(hi - lo)), field, pop.seed
                    )
                    planted.append(
                        {"plant": plant.text, "source_file": ctx.relative(path), "rows": rows + 2}
                    )
            jobs.append((path, table_spec, cols, hi - lo))
            if name in ("pupilonroll", "pupilnolongeronroll"):
                truth.append(truth_rows(ctx.relative(path), rec.person[lo:hi], rec.label[lo:hi]))
    # Arrow releases the GIL while writing, so files are written two at a time.
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        for (path, *_), rows in zip(jobs, pool.map(lambda job: _write(*job), jobs), strict=True):
            on_file(ctx.relative(path), rows)
    return pa.concat_tables(truth) if truth else empty_truth(), planted
