"""Benchmark data with known truth, from the project's population generator.

The index is every pupil on roll at the first autumn census, one record each, as the
census would carry them (the generator's record-level defects applied: typos, DOB
day/month swaps). Queries are pupils on roll a year later, with the same defect
machinery on top of what really changed in the year (surname changes, moves, a new LA);
the Reception intake and arrivals from abroad among them have no match in the index.
A disjoint set of pupils on roll in both censuses plays the part of the identifier-linked
records the model trains on. Written as Parquet with `person_id` (the truth) and cached,
since building an 8M population takes minutes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FORMAT = 1
INDEX_PERIOD, QUERY_PERIOD = 0, 3  # autumn of the first and of the second academic year
FILES = ("index", "queries", "training")


@dataclass(frozen=True)
class BenchSpec:
    index: int
    queries: int
    seed: int = 2024
    training: int = 200_000

    def folder(self, cache: Path) -> Path:
        return (
            cache
            / f"linkage-bench-v{FORMAT}-{self.index}-{self.queries}-{self.training}-{self.seed}"
        )


def records(pop, persons: np.ndarray, period: int, rng: np.random.Generator) -> pa.Table:
    """One census-like record per person at a period, with record-level defects drawn."""
    from synth.corrupt import corrupt
    from synth.names import FORENAMES, SURNAMES

    persons = np.sort(np.asarray(persons, np.int64))
    school = pop.school[period, persons]
    order = np.argsort(school, kind="stable")
    persons, school = persons[order], school[order]
    surname = pop.surname.value[pop.surname.index_at(persons, period)]
    forename = pop.forename[persons]
    dob = (pop.dob[persons] - np.datetime64("1970-01-01", "D")).astype(np.int64)
    bad = corrupt(
        rng,
        "school_census",
        np.zeros(len(persons), np.int8),
        school,
        persons,
        np.full(len(persons), "", "U13"),  # UPN defects are not this benchmark's business
        forename,
        surname,
        dob,
    )
    forenames = FORENAMES[forename].astype(object)
    forenames[bad.forename_rows] = bad.forename_values
    surnames = SURNAMES[surname].astype(object)
    surnames[bad.surname_rows] = bad.surname_values
    address = pop.address.value_at(persons, period, -1)
    return pa.table(
        {
            "person_id": pa.array(persons),
            "forename": pa.array(forenames, pa.string()),
            "surname": pa.array(surnames, pa.string()),
            "dob": pa.array(bad.dob.astype("datetime64[D]")),
            "sex": pa.array(pop.sex[persons].astype(str)),
            "postcode": pa.array(pop.addresses.postcode(np.maximum(address, 0)).astype(str)),
            "la_code": pa.array(pop.schools.la[school].astype(np.int16)),
        }
    )


def build(spec: BenchSpec, folder: Path) -> dict[str, int]:
    """Generate and write the three files; returns row counts (and how many queries match)."""
    from core.periods import year_range
    from synth.population import build_population
    from synth.rng import stream

    pop = build_population(spec.index, spec.seed, year_range("2022/23", "2023/24"))
    rng = stream(spec.seed, "linkage-bench")
    index_persons = pop.on_roll(INDEX_PERIOD)
    later = pop.on_roll(QUERY_PERIOD)
    queries = rng.choice(later, size=min(spec.queries, len(later)), replace=False)
    both = np.setdiff1d(np.intersect1d(later, index_persons), queries)
    training = rng.choice(both, size=min(spec.training, len(both)), replace=False)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "index": records(pop, index_persons, INDEX_PERIOD, stream(spec.seed, "bench-index")),
        "queries": records(pop, queries, QUERY_PERIOD, stream(spec.seed, "bench-queries")),
        "training": records(pop, training, QUERY_PERIOD, stream(spec.seed, "bench-training")),
    }
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
    facts = {name: t.num_rows for name, t in tables.items()}
    facts["queries_with_match"] = int(np.isin(queries, index_persons).sum())
    (folder / "facts.json").write_text(json.dumps({**asdict(spec), **facts}), encoding="utf-8")
    return facts


def _build_in_child(spec: BenchSpec, folder: str) -> dict[str, int]:
    return build(spec, Path(folder))


def ensure(spec: BenchSpec, cache: Path) -> tuple[Path, dict[str, int], bool]:
    """The cached files for `spec`, generated in a child process (so the generator's memory
    does not count in the linkage's peak) when absent. Returns (folder, facts, generated)."""
    folder = spec.folder(cache)
    facts_file = folder / "facts.json"
    if facts_file.exists() and all((folder / f"{n}.parquet").exists() for n in FILES):
        return folder, json.loads(facts_file.read_text(encoding="utf-8")), False
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        facts = pool.apply(_build_in_child, (spec, str(folder)))
    return folder, facts, True
