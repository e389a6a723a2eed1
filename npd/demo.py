"""The demo: a synthetic population through the whole pipeline on the embedded defaults.

Three academic years, all three census terms each plus key stage 2, into a DuckDB
warehouse under var/, with Data Docs and a readable summary at the end.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.config import Settings
from core.feeds import FEEDS
from core.partition import Partition
from core.periods import AcademicYear
from governance.keys import create_dev_key
from pipeline.steps import STEPS, PeriodResult, run_period

# A planted defect for the data-quality dashboard to show (docs/dashboard.md): 5% invalid
# ethnicity codes in one LA's spring census, when the run covers that year. Staging
# quarantines those rows (a code not in its list), so they are not loaded; the dashboard
# counts them from the quarantine reasons as that LA's invalid codes and flags it.
DEMO_PLANT = "school_census:2023/24:spring:LA330:ethnicity:0.05:invalid_code"


@dataclass
class DemoResult:
    results: list[PeriodResult]
    seconds: float


def demo_partitions(years: list[AcademicYear]) -> list[Partition]:
    """Census terms in order, each year's annual feeds after its summer census."""
    partitions: list[Partition] = []
    for year in years:
        for feed in FEEDS.values():
            partitions.extend(Partition(feed.name, year, term) for term in feed.terms())
    return sorted(partitions, key=lambda p: (p.year, FEEDS[p.feed].termly is False, p.term or ""))


def _wipe(settings: Settings) -> None:
    """Start from nothing but the key: landing, staging, stores, truth and reports."""
    for path in (
        settings.landing_dir,
        settings.staging_dir,
        settings.truth_dir,
        settings.gx_dir,
        settings.reports_dir,
        settings.tmp_dir,
        settings.home / "locks",
    ):
        if path.exists():
            shutil.rmtree(path)
    for url in (settings.warehouse_url, settings.identity_url):
        if url.startswith("duckdb:///"):
            database = Path(url.removeprefix("duckdb:///"))
            for target in (database, database.with_name(database.name + ".wal")):
                target.unlink(missing_ok=True)


def run_demo(
    pupils: int,
    seed: int,
    years: list[AcademicYear],
    fresh: bool = True,
    console: Console | None = None,
) -> DemoResult:
    from expectations.runner import build_data_docs
    from quality.dashboard import build_dashboard
    from quality.summary import period_lines, render
    from synth.generate import generate

    console = console or Console()
    started = time.perf_counter()
    settings = Settings.from_env()
    if fresh:
        _wipe(settings)
    settings.ensure_dirs()
    key_path, created = create_dev_key(settings)
    if created:
        console.print(
            f"Created a local development pseudonymisation key at {key_path} "
            "(demo only: production sets NPD_PSEUDONYM_KEY or the Airflow connection npd_pseudonym_key)."
        )
    else:
        console.print(f"Using the local development pseudonymisation key at {key_path}.")

    with _progress(console) as progress:
        task = progress.add_task("Generating synthetic population", total=None)

        def tick(label: str, done: int, total: int) -> None:
            progress.update(task, description=f"Generating: {label}", completed=done, total=total)

        summary = generate(
            landing_dir=settings.landing_dir,
            truth_dir=settings.truth_dir,
            pupils=pupils,
            seed=seed,
            years=years,
            plants=[DEMO_PLANT] if AcademicYear.parse("2023/24") in years else None,
            progress=tick,
        )
        progress.update(task, description="Generated synthetic population")
    console.print(summary.describe())

    partitions = demo_partitions(years)
    results: list[PeriodResult] = []
    with _progress(console) as progress:
        task = progress.add_task("Pipeline", total=len(partitions) * len(STEPS))
        for partition in partitions:

            def on_step(name: str, partition: Partition = partition) -> None:
                progress.update(task, description=f"{partition.label}: {name}")
                progress.advance(task)

            results.append(run_period(partition, settings, on_step=on_step))
        progress.update(task, description="Pipeline done")

    docs = build_data_docs(settings.gx_dir)
    dashboard = build_dashboard(settings).index
    render(period_lines(settings), settings, console)
    seconds = time.perf_counter() - started
    console.print()
    console.print(f"Warehouse (research and audit schemas): {settings.warehouse_url}")
    console.print(f"Identity store (restricted):           {settings.identity_url}")
    console.print(f"Great Expectations Data Docs:          {docs}")
    console.print(f"Data-quality dashboard:                {dashboard}")
    console.print(f"Staging, quarantine and reports:       {settings.staging_dir}")
    console.print(
        f"Landing files / ground truth:          {settings.landing_dir} / {settings.truth_dir}"
    )
    blocked = [r for r in results if r.status != "loaded"]
    console.print(
        f"{len(results) - len(blocked)} of {len(results)} partitions loaded in {seconds:.0f}s"
        + (f"; {len(blocked)} blocked or failed (see above)" if blocked else ".")
    )
    return DemoResult(results=results, seconds=seconds)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
