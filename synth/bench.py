"""Time the generator: `python -m synth.bench --pupils 1000000 --years 2022/23..2024/25`.

Reports the population build and the writing of one year's files separately (wall and
CPU seconds), rows written and peak memory, so a change that slows either shows up.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from core.periods import year_range
from synth.generate import SynthSummary, write_files
from synth.population import build_population


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--years", default="2022/23..2024/25", help="simulated years; files for the first"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write (default: a temp folder)"
    )
    args = parser.parse_args(argv)
    first, _, last = args.years.partition("..")
    years = year_range(first, last or first)
    out = args.out or Path(tempfile.mkdtemp(prefix="synth-bench-"))
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        pop = build_population(args.pupils, args.seed, years)
        took = f"{time.perf_counter() - wall:.1f}s wall, {time.process_time() - cpu:.1f}s CPU"
        print(f"build_population: {args.pupils:,} pupils, {len(years)} years: {took}")
        print(f"people simulated: {pop.n_persons:,}")
        summary = SynthSummary(
            args.pupils, args.seed, [y.label for y in years], [la.code for la in pop.las]
        )
        wall, cpu = time.perf_counter(), time.process_time()
        write_files(pop, out / "landing", out / "truth", years[:1], [], summary)
        rows = sum(summary.files.values())
        size = sum(p.stat().st_size for p in (out / "landing").rglob("*") if p.is_file())
        took = f"{time.perf_counter() - wall:.1f}s wall, {time.process_time() - cpu:.1f}s CPU"
        print(f"write {years[0].label}: {len(summary.files)} files, {rows:,} rows: {took}")
        print(f"landing size: {size / 1e6:,.0f} MB")
        print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
