"""Operator commands: backfill history, rerun a corrected period, read the load manifest
and the schedule. The work is in npd.backfill, pipeline.manifest and npd.calendars."""

from __future__ import annotations

from typing import Annotated

import typer

FromOpt = Annotated[str, typer.Option("--from", help="First academic year, e.g. 2015/16")]
ToOpt = Annotated[str, typer.Option("--to", help="Last academic year, e.g. 2024/25")]
FeedsOpt = Annotated[
    list[str] | None, typer.Option("--feed", help="Only this feed (repeatable; default all)")
]
WaitOpt = Annotated[
    float | None,
    typer.Option(
        help="Seconds to wait if another backfill or rerun holds the warehouse "
        "(default NPD_LOCK_TIMEOUT or 600), then refuse"
    ),
]

STYLE = {
    "loaded": "green",
    "skipped": "dim",
    "absent": "dim",
    "blocked": "yellow",
    "failed": "red",
}


def register(app: typer.Typer) -> None:
    app.command()(backfill)
    app.command()(rerun)
    app.command()(manifest)
    app.command()(schedule)


def _progress(console):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _refuse(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def backfill(
    first: FromOpt,
    last: ToOpt,
    feed: FeedsOpt = None,
    force: Annotated[
        bool, typer.Option(help="Reload partitions even if their inputs are unchanged")
    ] = False,
    wait: WaitOpt = None,
) -> None:
    """Load academic years FROM..TO in order, resumably.

    Partitions the warehouse already holds from unchanged inputs are skipped, so a second
    call does only what is left and a repeat does nothing."""
    from rich.console import Console

    from core.config import Settings
    from core.periods import year_range
    from npd import backfill as ops
    from warehouse.lock import LockTimeout

    console = Console()
    settings = Settings.from_env()
    try:
        years = year_range(first, last)
        partitions = ops.plan(years[0], years[-1], feed)
    except (KeyError, ValueError) as exc:
        _refuse(str(exc).strip("'\""), 2)
    with _progress(console) as progress:
        bar = progress.add_task("Backfill", total=len(partitions))
        started: list[str] = []

        def on_partition(partition) -> None:
            if started:  # the previous partition is done
                progress.advance(bar)
            started.append(partition.key)
            progress.update(bar, description=partition.label)

        def on_step(partition, step: str) -> None:
            progress.update(bar, description=f"{partition.label}: {step}")

        try:
            report = ops.backfill(
                settings,
                years[0],
                years[-1],
                feed,
                force=force,
                wait=wait,
                on_partition=on_partition,
                on_step=on_step,
            )
        except LockTimeout as exc:
            _refuse(f"backfill refused: {exc}")
        progress.update(bar, completed=len(partitions), description="Backfill done")
    _summary(console, report.results)
    counts = ", ".join(
        f"{report.count(s)} {s}" for s in STYLE if report.count(s) or s in ("loaded", "skipped")
    )
    console.print(f"{len(report.results)} partitions: {counts} in {report.seconds:.0f}s")
    if not report.ok:
        raise typer.Exit(1)


def _summary(console, results) -> None:
    from rich.table import Table

    table = Table(title="Partitions", show_lines=False)
    for name in ("feed", "period", "status", "rows loaded", "detail"):
        table.add_column(name, justify="right" if name == "rows loaded" else "left")
    for r in results:
        loaded = r.steps.get("load", {}).get("tables", {})
        table.add_row(
            r.partition.feed,
            r.partition.label.removeprefix(r.partition.feed).strip(),
            f"[{STYLE.get(r.status, '')}]{r.status}[/]",
            f"{sum(loaded.values()):,}" if loaded else "",
            {"loaded": "", "skipped": "inputs unchanged"}.get(r.status, r.message or ""),
        )
    console.print(table)


def rerun(
    feed: Annotated[str, typer.Argument(help="Feed, e.g. school_census")],
    year: Annotated[str, typer.Option("--year", "-y", help="Academic year, e.g. 2023/24")],
    term: Annotated[str | None, typer.Option("--term", "-t", help="Census term")] = None,
    dependents: Annotated[
        bool, typer.Option(help="Re-link partitions that depended on the replaced load")
    ] = True,
    wait: WaitOpt = None,
) -> None:
    """Reload one period after a corrected file, and re-link what depended on it.

    Replaces exactly that partition. Partitions with records matched probabilistically or
    by a reviewer to persons its previous load created are re-linked and reloaded; links by
    identifier stand. Person ids stay stable."""
    from rich.console import Console

    from core.config import Settings
    from core.partition import Partition
    from npd import backfill as ops
    from warehouse.lock import LockTimeout

    console = Console()
    try:
        partition = Partition.of(feed, year, term)
    except (KeyError, ValueError) as exc:
        _refuse(str(exc).strip("'\""), 2)
    with console.status(f"{partition.label}: rerun") as status:
        try:
            report = ops.rerun(
                Settings.from_env(),
                partition,
                dependents=dependents,
                wait=wait,
                on_step=lambda p, step: status.update(f"{p.label}: {step}"),
            )
        except LockTimeout as exc:
            _refuse(f"rerun refused: {exc}")
    new = report.result.steps.get("stage", {}).get("load_id")
    if report.replaced_load_id is None:
        console.print(f"{partition.label}: no earlier load")
    elif report.replaced_load_id == new:
        console.print(f"{partition.label}: inputs unchanged (load {new}); reloaded")
    else:
        console.print(f"{partition.label}: load {report.replaced_load_id} replaced by {new}")
    _summary(console, [report.result, *report.dependents])
    if report.result.status != "loaded" or any(d.status != "loaded" for d in report.dependents):
        raise typer.Exit(1)


def manifest(feed: Annotated[str | None, typer.Option(help="Only this feed")] = None) -> None:
    """The load manifest: what each partition last loaded from, and how it ended.

    Per partition: the latest attempt, its input files, code and linkage model versions,
    and whether the warehouse holds those inputs now."""
    from rich.console import Console
    from rich.table import Table

    from core.config import Settings
    from pipeline.manifest import latest

    rows = [r for r in latest(Settings.from_env()) if feed is None or r["feed"] == feed]
    table = Table(title="Load manifest")
    for name in ("feed", "period", "outcome", "files", "MB", "inputs", "held", "code", "model"):
        table.add_column(name)
    for r in rows:
        period = r["academic_year"] + (f" {r['term']}" if r["term"] else "")
        outcome = r["outcome"] + (f" at {r['failed_step']}" if r["failed_step"] else "")
        table.add_row(
            r["feed"],
            period,
            f"[{STYLE.get(r['outcome'], '')}]{outcome}[/]",
            str(r["input_files"]),
            f"{(r['input_bytes'] or 0) / 1e6:.1f}",
            (r["load_id"] or "").rsplit("-", 1)[-1],  # the digest of the files' checksums
            "yes" if r["held"] else "no",
            r["code_version"] or "",
            r["model_version"] or "",
        )
    Console().print(table if rows else "The load manifest is empty: nothing has run yet.")


def schedule(
    years: Annotated[str, typer.Option(help="Academic years, first..last")] = "2024/25..2025/26",
    feed: FeedsOpt = None,
) -> None:
    """The reference days each feed's DAG runs on.

    The same days `airflow backfill create` makes runs for, and the order `npd backfill`
    loads in."""
    from rich.console import Console
    from rich.table import Table

    from core.feeds import FEEDS
    from npd.calendars import calendar_of, releases
    from npd.cli import parse_years

    table = Table(title="Schedule")
    for name in ("day", "feed", "partition", "reference day", "calendar"):
        table.add_column(name)
    names = feed or list(FEEDS)
    for r in sorted(r for name in names for r in releases(name, parse_years(years))):
        period = r.year.label + (f" {r.term.value}" if r.term else "")
        table.add_row(f"{r.day:%a %d %b %Y}", r.feed, period, r.label, calendar_of(r.feed))
    for name in names:
        if calendar_of(name) is None:
            table.add_row("", name, "", "none: runs when triggered", "")
    Console().print(table)
