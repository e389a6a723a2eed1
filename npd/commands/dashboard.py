"""The data-quality commands: measure partitions into the quality store, build the dashboard.

The work is in quality/ (quality.store.measure, quality.dashboard.build_dashboard); the
load step measures each partition itself, so these are for catching up and rebuilding.
"""

from __future__ import annotations

from typing import Annotated

import typer

dashboard_app = typer.Typer(
    help="The data-quality dashboard for statisticians (var/reports/dashboard).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(dashboard_app, name="dashboard")


def _refuse(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@dashboard_app.command("build")
def build(
    refresh: Annotated[
        bool,
        typer.Option(
            help="First measure partitions that ran but were not measured since (e.g. blocked)"
        ),
    ] = True,
) -> None:
    """Build the static dashboard and print where it is."""
    from quality.dashboard import build_dashboard

    result = build_dashboard(refresh=refresh)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.statuses.items()))
    if result.measured:
        typer.echo(f"measured {result.measured} partition(s) first")
    typer.echo(f"periods: {counts or 'none has run yet'}")
    typer.echo(f"{result.pages} pages: {result.index}")


@dashboard_app.command("measure")
def measure(
    feed: Annotated[str | None, typer.Argument(help="Feed (omit with --all)")] = None,
    year: Annotated[str | None, typer.Option("--year", "-y", help="Academic year")] = None,
    term: Annotated[str | None, typer.Option("--term", "-t", help="Census term")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every partition that has run, measured afresh")
    ] = False,
) -> None:
    """Measure a partition's quality figures into the warehouse (replacing its last ones)."""
    import json

    from core.config import Settings
    from core.partition import Partition
    from quality.store import measure as measure_partition
    from quality.store import partitions_run

    settings = Settings.from_env()
    if every:
        if feed or year or term:
            _refuse("give either --all or a feed and --year, not both", 2)
        partitions = partitions_run(settings)
    else:
        if not (feed and year):
            _refuse("give a feed and --year (and --term for a termly feed), or --all", 2)
        try:
            partitions = [Partition.of(feed, year, term)]
        except (KeyError, ValueError) as exc:
            _refuse(str(exc).strip("'\""), 2)
    for partition in partitions:
        result = measure_partition(partition, settings, trigger="cli")
        typer.echo(json.dumps(result, default=str))
        if not result["measured"]:
            _refuse(f"{partition.label} has not been staged: nothing to measure")
