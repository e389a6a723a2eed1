"""The generator's entry point: build a population, write its landing files and ground truth.

Landing gets only what real feeds carry; the truth (which person each row is, and which
defect it carries) goes to a separate folder, so nothing under landing can leak it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.periods import AcademicYear, Term
from synth import census
from synth.annual import annual_writers
from synth.context import WriteContext
from synth.geography import resolve
from synth.plants import Plant, parse_plants
from synth.population import Population, build_population

Progress = Callable[[str, int, int], None]


@dataclass
class SynthSummary:
    """What a run wrote: rows per file, seconds per step, and headline counts (no identifiers)."""

    pupils: int
    seed: int
    years: list[str]
    las: list[int]
    persons: int = 0
    files: dict[str, int] = field(default_factory=dict)  # landing path (relative) -> data rows
    truth_files: dict[str, int] = field(default_factory=dict)  # truth path (relative) -> rows
    defects: dict[str, int] = field(default_factory=dict)  # truth label -> rows
    planted: dict[str, int] = field(default_factory=dict)  # plant -> cells changed
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds

    def rows_by_table(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for path, rows in self.files.items():
            name = Path(path).stem
            table = name.split("_", 2)[-1] if name[:4].isdigit() else name.split("_")[0]
            table = "ilr" if name.startswith("ILR-") else table
            out[table] += rows
        return dict(sorted(out.items()))

    def describe(self) -> str:
        total = sum(self.defects.values()) or 1
        lines = [
            f"synthetic population: {self.pupils:,} pupils on roll in autumn {self.years[0]}, "
            f"seed {self.seed}, {len(self.las)} LAs, years {self.years[0]}..{self.years[-1]}",
            f"people simulated: {self.persons:,}",
            f"landing files: {len(self.files):,}; truth files: {len(self.truth_files):,}",
            "rows by table: " + ", ".join(f"{k} {v:,}" for k, v in self.rows_by_table().items()),
            "truth labels: "
            + ", ".join(
                f"{k} {v:,} ({100 * v / total:.2f}%)" for k, v in sorted(self.defects.items())
            ),
        ]
        if self.planted:
            lines.append(
                "planted: " + ", ".join(f"{k} -> {v} cells" for k, v in self.planted.items())
            )
        lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        return "\n".join(lines)


def truth_path(truth_dir: Path, year: AcademicYear, feed: str, term: Term | None) -> Path:
    return truth_dir / year.slug / feed / f"{Term(term).value if term else 'annual'}.parquet"


def _write_truth(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def generate(
    landing_dir: Path,
    truth_dir: Path,
    pupils: int,
    seed: int,
    years: list[AcademicYear],
    las: list[int] | None = None,
    plants: list[str] | None = None,
    progress: Progress | None = None,
) -> SynthSummary:
    """Generate the population and write census returns, KS2 files and ground truth."""
    landing_dir, truth_dir = Path(landing_dir), Path(truth_dir)
    if landing_dir.resolve() == truth_dir.resolve() or truth_dir.resolve().is_relative_to(
        landing_dir.resolve()
    ):
        raise ValueError("the truth folder must not be inside the landing folder")
    years = sorted({AcademicYear.parse(y) for y in years})
    parsed = parse_plants(plants)
    codes = [la.code for la in resolve(las)]
    for plant in parsed:  # a plant that can never apply is a mistake, not a no-op
        if plant.la not in codes or plant.year not in years:
            raise ValueError(f"plant {plant.text!r}: LA or year is not part of this run")
    started = time.perf_counter()
    pop = build_population(pupils, seed, years, las)
    summary = SynthSummary(
        pupils=pupils,
        seed=seed,
        years=[y.label for y in years],
        las=[la.code for la in pop.las],
        persons=pop.n_persons,
    )
    summary.timings["population"] = time.perf_counter() - started
    write_files(pop, landing_dir, truth_dir, years, parsed, summary, progress)
    summary.timings["total"] = time.perf_counter() - started
    return summary


def write_files(
    pop: Population,
    landing_dir: Path,
    truth_dir: Path,
    years: list[AcademicYear],
    plants: list[Plant],
    summary: SynthSummary,
    progress: Progress | None = None,
) -> None:
    """Write the chosen years' census returns and KS2 files, and their truth, for a population."""
    ctx = WriteContext(pop, landing_dir)
    writers = annual_writers()
    per_period = len(pop.las) * len(census.TABLES) + 1
    las = [la.code for la in pop.las]
    annual = sum(  # per-LA or per-provider returns (CIN, SSDA903, ILR) say how many files
        w.file_count(ctx, y)
        if hasattr(w, "file_count")
        else len(w.landing_files(landing_dir, y, las))
        if hasattr(w, "landing_files")
        else 1
        for w in writers
        for y in years
    )
    total = len(years) * (3 * per_period + len(writers)) + annual
    done = 0
    labels: Counter[str] = Counter()

    def on_file(path: str, rows: int) -> None:
        nonlocal done
        done += 1
        summary.files[path] = rows
        if progress:
            progress(path, done, total)

    def on_truth(path: Path, table: pa.Table) -> None:
        _write_truth(path, table)
        rel = path.relative_to(truth_dir).as_posix()
        summary.truth_files[rel] = table.num_rows
        labels.update(dict(zip(*_value_counts(table), strict=True)))
        on_file_truth(rel)

    def on_file_truth(rel: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(f"truth/{rel}", done, total)

    all_planted: list[dict] = []
    for year in years:
        started = time.perf_counter()
        for term in (Term.AUTUMN, Term.SPRING, Term.SUMMER):
            t = pop.period_index(year, term)
            truth, planted = census.write_period(ctx, t, plants, on_file)
            on_truth(truth_path(truth_dir, year, census.FEED, term), truth)
            all_planted.extend(planted)
        for writer in writers:
            truth, planted = writer.write_year(ctx, year, plants, on_file)
            on_truth(truth_path(truth_dir, year, writer.FEED, None), truth)
            all_planted.extend(planted)
        summary.timings[f"files {year.label}"] = time.perf_counter() - started
    summary.defects = dict(labels)
    for item in all_planted:
        summary.planted[item["plant"]] = summary.planted.get(item["plant"], 0) + len(item["rows"])
    if plants:
        _write_truth(truth_dir / "plants.parquet", _plants_table(all_planted))


def _value_counts(table: pa.Table) -> tuple[list[str], list[int]]:
    counts = table.column("defect").value_counts().to_pylist()
    return [c["values"] for c in counts], [c["counts"] for c in counts]


def _plants_table(planted: list[dict]) -> pa.Table:
    """Every planted cell: which plant, in which file and row (header = line 1)."""
    counts = np.array([len(item["rows"]) for item in planted], dtype=np.int64)
    which = np.repeat(np.arange(len(planted)), counts)
    plants = pa.array([item["plant"] for item in planted], pa.string())
    sources = pa.array([item["source_file"] for item in planted], pa.string())
    rows = [np.asarray(item["rows"], np.int64) for item in planted]
    return pa.table(
        {
            "plant": plants.take(pa.array(which)),
            "source_file": sources.take(pa.array(which)),
            "source_row": pa.array(np.concatenate(rows) if rows else np.zeros(0, np.int64)),
        }
    )
