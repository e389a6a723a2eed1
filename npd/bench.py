"""The national-scale pipeline benchmark: one synthetic academic year through every stage.

It measures, per stage, the rows handled, the seconds, rows per second and the peak
resident memory while the stage ran (sampled by a background thread), and writes the
figures to a JSON file so runs at different sizes can be compared. It runs the same
step functions as the CLI, the demo and the DAGs, in its own NPD_HOME.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.periods import AcademicYear

STAGES = ("generate", "stage", "validate", "link", "load")


def rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class PeakSampler:
    """Samples resident memory every few milliseconds and keeps the peak of a window."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


@dataclass
class StageFigure:
    stage: str
    rows: int = 0
    seconds: float = 0.0
    cpu_seconds: float = (
        0.0  # all threads of the process: steadier than wall time on a busy machine
    )
    peak_rss: int = 0
    partitions: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class BenchResult:
    pupils: int
    academic_year: str
    seed: int
    started: str
    stages: dict[str, StageFigure] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)  # partition -> loaded/blocked/failed
    by_feed: dict[str, dict[str, StageFigure]] = field(
        default_factory=dict
    )  # feed -> stage -> figure
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def pipeline_seconds(self) -> float:
        return sum(f.seconds for name, f in self.stages.items() if name != "generate")

    @property
    def peak_rss(self) -> int:
        return max((f.peak_rss for f in self.stages.values()), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "stages": _as_dicts(self.stages),
            "by_feed": {feed: _as_dicts(stages) for feed, stages in self.by_feed.items()},
            "pipeline_seconds": self.pipeline_seconds,
            "peak_rss": self.peak_rss,
        }


def _as_dicts(figures: dict[str, StageFigure]) -> dict[str, dict[str, Any]]:
    return {k: {**asdict(v), "rows_per_second": v.rows_per_second} for k, v in figures.items()}


@contextmanager
def _measured(*figures: StageFigure) -> Iterator[None]:
    """Add the wall and CPU seconds and the peak memory of the block to every figure given
    (a stage's total and the same stage for one feed)."""
    started, cpu = time.perf_counter(), time.process_time()
    with PeakSampler() as sampler:
        yield
    for figure in figures:
        figure.seconds += time.perf_counter() - started
        figure.cpu_seconds += time.process_time() - cpu
        figure.peak_rss = max(figure.peak_rss, sampler.peak)


def _step_rows(step: str, summary: dict[str, Any]) -> int:
    """Rows a step handled, from the summary the step itself returns."""
    if step == "stage":
        return int(summary.get("rows_read", 0))
    if step == "validate":
        return int(summary.get("rows", 0))
    if step == "link":
        return int(summary.get("records", 0))
    return int(sum(summary.get("tables", {}).values()))


def run_benchmark(
    home: Path,
    pupils: int,
    year: AcademicYear,
    seed: int = 2024,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Generate one academic year at the given size in `home`, then run every partition."""
    import shutil

    from core.config import Settings
    from npd.demo import demo_partitions
    from pipeline.steps import STEPS
    from synth.generate import generate

    if home.exists():
        shutil.rmtree(home)
    os.environ["NPD_HOME"] = str(home)
    os.environ.setdefault("NPD_PSEUDONYM_KEY", os.urandom(32).hex())
    settings = Settings.from_env()
    settings.ensure_dirs()
    result = BenchResult(
        pupils=pupils,
        academic_year=year.label,
        seed=seed,
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine={"cpus": os.cpu_count(), "threads": os.environ.get("NPD_THREADS")},
    )
    say = progress or (lambda _: None)
    say(f"generating {pupils:,} pupils for {year.label}")
    figure = result.stages.setdefault("generate", StageFigure("generate"))
    with _measured(figure):
        summary = generate(
            landing_dir=settings.landing_dir,
            truth_dir=settings.truth_dir,
            pupils=pupils,
            seed=seed,
            years=[year],
        )
    figure.rows = sum(summary.files.values())
    for partition in demo_partitions([year]):
        status = "loaded"
        feed = result.by_feed.setdefault(partition.feed, {})
        for name, step in STEPS.items():
            say(f"{partition.label}: {name}")
            figures = (
                result.stages.setdefault(name, StageFigure(name)),
                feed.setdefault(name, StageFigure(name)),
            )
            with _measured(*figures):
                try:
                    out = step(partition, settings)
                except Exception as exc:  # a blocked or failed partition is a figure too
                    status = "blocked" if type(exc).__name__ == "PartitionBlocked" else "failed"
                    break
            for figure in figures:
                figure.rows += _step_rows(name, out)
                figure.partitions += 1
        result.statuses[partition.label] = status
    return result


def write_result(result: BenchResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = result.started.replace(":", "").replace("-", "")
    path = folder / f"pipeline-{result.pupils}-{stamp}.json"
    path.write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
    return path


def render(results: list[BenchResult], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 110)
    for result in results:
        table = Table(
            title=f"Pipeline benchmark: {result.pupils:,} pupils, {result.academic_year}",
            title_justify="left",
            header_style="bold",
        )
        for col in ("Stage", "Rows", "Seconds", "CPU s", "Rows/s", "Peak RSS"):
            table.add_column(col, justify="left" if col == "Stage" else "right")
        for name in STAGES:
            f = result.stages.get(name)
            if f is None:
                continue
            table.add_row(
                name,
                f"{f.rows:,}",
                f"{f.seconds:,.1f}",
                f"{f.cpu_seconds:,.1f}",
                f"{f.rows_per_second:,.0f}",
                f"{f.peak_rss / 2**30:,.2f} GB",
            )
        table.add_row(
            "[bold]pipeline (without generate)[/bold]",
            "",
            f"{result.pipeline_seconds:,.1f}",
            f"{sum(f.cpu_seconds for n, f in result.stages.items() if n != 'generate'):,.1f}",
            "",
            f"{result.peak_rss / 2**30:,.2f} GB",
        )
        console.print(table)
        console.print(_feed_table(result))
        failed = {p: s for p, s in result.statuses.items() if s != "loaded"}
        console.print(
            f"{len(result.statuses) - len(failed)} of {len(result.statuses)} partitions loaded"
            + (f"; not loaded: {failed}" if failed else "")
        )


def _feed_table(result: BenchResult):
    """Seconds per feed and stage: where the time goes, so the bottleneck has a name."""
    from rich.table import Table

    table = Table(title="Seconds by feed (rows staged)", title_justify="left", header_style="bold")
    table.add_column("Feed")
    table.add_column("Rows staged", justify="right")
    for name in STAGES[1:]:
        table.add_column(name, justify="right")
    for feed, stages in result.by_feed.items():
        staged = stages.get("stage")
        cells = [f"{stages[n].seconds:,.1f}" if n in stages else "-" for n in STAGES[1:]]
        table.add_row(feed, f"{staged.rows:,}" if staged else "-", *cells)
    return table


def render_scaling(results: list[BenchResult], console=None) -> None:
    """Seconds per stage relative to the smallest size: linear growth shows as the size ratio."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if len(results) > 1:
        results = sorted(results, key=lambda r: r.pupils)
        base = results[0]
        table = Table(
            title="Scaling (seconds per stage relative to the smallest size)", title_justify="left"
        )
        table.add_column("Pupils", justify="right")
        for name in STAGES:
            table.add_column(name, justify="right")
        for r in results:
            cells = []
            for name in STAGES:
                a, b = base.stages.get(name), r.stages.get(name)
                cells.append(f"{b.seconds / a.seconds:.1f}x" if a and b and a.seconds else "-")
            table.add_row(f"{r.pupils:,} ({r.pupils / base.pupils:.0f}x)", *cells)
        console.print(table)


# -- npd bench badinput -----------------------------------------------------------------------
# The bad-input corpus (issue 13) run through the real `npd run`, one fresh NPD_HOME per case:
# pass counts per feed and contract item, and the seconds and peak RSS of the hostile cases.
# The corpus and its checker live with the tests (tests/badinput/), so this runs from a source
# checkout.


def source_checkout() -> Path:
    """The repository root when npd runs from a source checkout (tests/badinput beside npd/)."""
    import sys

    root = Path(__file__).resolve().parent.parent
    if not (root / "tests" / "badinput" / "checker.py").exists():
        raise RuntimeError(
            "npd bench badinput runs from a source checkout: tests/badinput/ is not beside npd/"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root


def run_badinput(
    work: Path,
    only: list[str] | None = None,
    jobs: int = 1,
    large_mb: int | None = None,
    keep: str = "failed",
    timeout: float = 900,
    progress: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Write the corpus (or the cases named) under work/corpus, run each case through
    `npd run` in its own home under work/runs, and return the summary with every result."""
    source_checkout()
    from tests.badinput.checker import run_corpus, summarise
    from tests.badinput.corpus import build

    corpus = work / "corpus"
    build(corpus, only, large_mb=large_mb)
    started = time.perf_counter()
    results = run_corpus(
        corpus, work / "runs", only=only, jobs=jobs, progress=progress, keep=keep, timeout=timeout
    )
    summary = summarise(results)
    summary.update(
        benchmark="badinput",
        seconds=round(time.perf_counter() - started, 1),
        measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine={"cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1)},
        results=[r.to_dict() for r in results],
    )
    return summary
