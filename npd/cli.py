"""The `npd` command: every pipeline step, the demo and the generator, without Airflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from npd.periods import AcademicYear

app = typer.Typer(
    help="Linked pupil database pipeline (synthetic data only).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

YearsOpt = Annotated[
    str, typer.Option("--years", help="Academic years, first..last, e.g. 2022/23..2024/25")
]


def parse_years(text: str) -> list[AcademicYear]:
    from npd.periods import year_range

    first, _, last = text.partition("..")
    return year_range(first, last or first)


@app.command()
def synth(
    pupils: Annotated[int, typer.Option(help="Pupils on roll in the first year")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files)")] = 2024,
    years: YearsOpt = "2022/23..2024/25",
    out: Annotated[Path | None, typer.Option(help="Landing folder (default: var/landing)")] = None,
) -> None:
    """Generate a synthetic population and write its landing files and ground truth."""
    from npd.config import Settings
    from synth.generate import generate

    settings = Settings.from_env()
    landing = out or settings.landing_dir
    summary = generate(
        landing_dir=landing,
        truth_dir=settings.truth_dir,
        pupils=pupils,
        seed=seed,
        years=parse_years(years),
    )
    typer.echo(summary.describe())


if __name__ == "__main__":
    app()
