"""`npd bench pipeline`: a national-size synthetic year through every stage, with figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from npd.commands import group


def register(app: typer.Typer) -> None:
    bench = group(app, "bench", "Benchmarks that print measured figures (never timed tests).")

    @bench.command("pipeline")
    def pipeline(
        pupils: Annotated[
            str,
            typer.Option(
                help="Pupils on roll; several sizes comma-separated, e.g. 1000000,2000000"
            ),
        ] = "1000000",
        year: Annotated[str, typer.Option(help="Academic year to generate and run")] = "2024/25",
        seed: Annotated[int, typer.Option(help="Random seed")] = 2024,
        home: Annotated[
            Path | None,
            typer.Option(help="Work folder (default: var/bench/pipeline); wiped per size"),
        ] = None,
        results: Annotated[
            Path | None,
            typer.Option(help="Folder for the JSON figures (default: var/bench/results)"),
        ] = None,
    ) -> None:
        """Generate one academic year per size and run every feed's partitions through stage,
        validate, link and load, printing rows, seconds, rows/s and peak RSS per stage."""
        from rich.console import Console

        from core.config import Settings
        from core.periods import AcademicYear
        from npd.bench import render, render_scaling, run_benchmark, write_result

        console = Console()
        base = Settings.from_env().home / "bench"
        sizes = [int(p.replace("_", "")) for p in pupils.split(",") if p.strip()]
        done = []
        for size in sizes:
            work = (home or base / "pipeline") / f"{size}"
            result = run_benchmark(
                work, size, AcademicYear.parse(year), seed, progress=lambda msg: console.log(msg)
            )
            path = write_result(result, results or base / "results")
            console.print(f"figures written to {path}")
            done.append(result)
            render([result], console)
        render_scaling(done, console)
