"""The `npd` command: every pipeline step, the demo and the generator, without Airflow."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.periods import AcademicYear
from npd.commands import register_all

app = typer.Typer(
    help="Linked pupil database pipeline (synthetic data only). Start with `npd demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
key_app = typer.Typer(help="The pseudonymisation key.", no_args_is_help=True)
app.add_typer(key_app, name="key")

YearsOpt = Annotated[
    str, typer.Option("--years", help="Academic years, first..last, e.g. 2022/23..2024/25")
]
FeedArg = Annotated[
    str, typer.Argument(help="Feed, named as in ingest/specs/ (an unknown name lists them)")
]
YearOpt = Annotated[str, typer.Option("--year", "-y", help="Academic year, e.g. 2024/25")]
TermOpt = Annotated[
    str | None,
    typer.Option("--term", "-t", help="Census term (termly feeds): autumn, spring, summer"),
]


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress")] = False,
) -> None:
    from core.logs import configure

    configure(logging.INFO if verbose else logging.WARNING)


def parse_years(text: str) -> list[AcademicYear]:
    from core.periods import year_range

    first, _, last = text.partition("..")
    return year_range(first, last or first)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def synth(
    pupils: Annotated[int, typer.Option(help="Pupils on roll in the first year")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files)")] = 2024,
    years: YearsOpt = "2022/23..2024/25",
    out: Annotated[Path | None, typer.Option(help="Landing folder (default: var/landing)")] = None,
    plant: Annotated[
        list[str] | None,
        typer.Option(help="Planted defect feed:year:term:LAnnn:field:rate:kind (repeatable)"),
    ] = None,
) -> None:
    """Generate a synthetic population: landing files, and the ground truth kept apart."""
    from core.config import Settings
    from synth.generate import generate

    settings = Settings.from_env()
    summary = generate(
        landing_dir=out or settings.landing_dir,
        truth_dir=settings.truth_dir,
        pupils=pupils,
        seed=seed,
        years=parse_years(years),
        plants=plant or None,
    )
    typer.echo(summary.describe())


@app.command()
def demo(
    pupils: Annotated[int, typer.Option(help="Pupils on roll in the first year")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 2024,
    years: YearsOpt = "2022/23..2024/25",
    keep: Annotated[
        bool, typer.Option(help="Keep what var/ already holds instead of starting afresh")
    ] = False,
) -> None:
    """Generate a population and run every feed and period into the embedded warehouse."""
    from npd.demo import run_demo

    result = run_demo(pupils=pupils, seed=seed, years=parse_years(years), fresh=not keep)
    if any(r.status == "failed" for r in result.results):
        raise typer.Exit(1)


@app.command()
def run(
    feed: FeedArg,
    year: YearOpt,
    term: TermOpt = None,
    step: Annotated[
        str, typer.Option(help="One step (stage, validate, link, load) or all")
    ] = "all",
) -> None:
    """Run one partition (a feed's year and term) through the pipeline, or one step of it."""
    from core.partition import Partition
    from ingest.errors import InputError, PartitionBlocked
    from pipeline.messages import safe_message
    from pipeline.steps import STEPS, run_period

    try:
        partition = Partition.of(feed, year, term)
    except (KeyError, ValueError) as exc:
        _fail(str(exc).strip("'\""), 2)
    if step == "all":
        result = run_period(partition)
        typer.echo(
            json.dumps(
                {
                    "partition": partition.key,
                    "status": result.status,
                    "message": result.message,
                    "steps": result.steps,
                },
                indent=2,
                default=str,
            )
        )
        if result.status != "loaded":
            raise typer.Exit(1)
        return
    if step not in STEPS:
        _fail(f"unknown step {step!r}: choose from {', '.join(STEPS)} or all", 2)
    try:
        typer.echo(json.dumps(STEPS[step](partition), indent=2, default=str))
    except (InputError, PartitionBlocked, FileNotFoundError) as exc:
        _fail(safe_message(exc))


@app.command()
def summary() -> None:
    """Per feed and period: rows read, staged, quarantined, warned and loaded, link rates,
    and every file not used or rejected whole, with why."""
    from core.config import Settings
    from quality.summary import file_notes, period_lines, render

    settings = Settings.from_env()
    render(period_lines(settings), settings, files=file_notes(settings))


@app.command()
def quarantine(
    feed: FeedArg,
    year: YearOpt,
    term: TermOpt = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Write the rows to this CSV instead (file, line, table, reason; never raw "
            "text), safe to open in a spreadsheet",
        ),
    ] = None,
) -> None:
    """Why rows of a partition were quarantined: file, line and reason (values withheld)."""
    import duckdb

    from core.config import Settings
    from core.duck import sql_str
    from core.partition import Partition

    settings = Settings.from_env()
    partition = Partition.of(feed, year, term)
    path = partition.staging_dir(settings) / "quarantine.parquet"
    if not path.exists():
        _fail(f"{partition.label} has not been staged")
    # The raw text is never read here: raw rows hold identifiers.
    rows = duckdb.sql(
        f"SELECT _source_file, _source_row, source_table, reason "
        f"FROM read_parquet({sql_str(path)}) ORDER BY _source_file, _source_row, source_table"
    ).fetchall()
    if csv_file is not None:
        _quarantine_csv(csv_file, rows)
        typer.echo(f"{partition.label}: {len(rows):,} quarantined row(s) written to {csv_file}")
        return
    if not rows:
        typer.echo(f"{partition.label}: nothing quarantined")
    for source, line, _table, reason in rows:
        typer.echo(f"{source}:{line}: {reason}")


def _quarantine_csv(target: Path, rows: list[tuple]) -> None:
    """The quarantine rows as a CSV for people: text cells neutralised against formula
    injection (governance/csv_safe.py); written beside the target and renamed into place."""
    from governance.csv_safe import SafeWriter

    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as fh:
            writer = SafeWriter(fh)
            writer.writerow(["file", "line", "table", "reason"])
            writer.writerows(rows)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        _fail(f"cannot write {target}: {exc.strerror or exc}")


@app.command()
def docs() -> None:
    """Rebuild the Great Expectations Data Docs from the kept validation results."""
    from core.config import Settings
    from expectations.runner import build_data_docs

    typer.echo(build_data_docs(Settings.from_env().gx_dir))


@app.command()
def catalogue(
    markdown: Annotated[
        Path | None, typer.Option(help="Write the catalogue as Markdown here")
    ] = None,
) -> None:
    """Check the column catalogue and list its tables (or write it out as Markdown)."""
    from warehouse_schema.catalogue import load_catalogue
    from warehouse_schema.docs import catalogue_markdown

    cat = load_catalogue()
    if markdown:
        markdown.write_text(catalogue_markdown(cat), encoding="utf-8")
        typer.echo(f"wrote {markdown}")
        return
    for table in cat.tables.values():
        tiers = sorted({c.tier for c in table.columns})
        typer.echo(f"{table.key:32} {table.store:9} {len(table.columns):3} columns, tiers {tiers}")


@key_app.command("init")
def key_init() -> None:
    """Create a local development key under var/secrets (never for production)."""
    from core.config import Settings
    from governance.keys import create_dev_key

    path, created = create_dev_key(Settings.from_env())
    typer.echo(f"{'created' if created else 'kept existing'} development key at {path}")


register_all(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
