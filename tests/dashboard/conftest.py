"""One small synthetic year with planted defects, run through the pipeline, for the
data-quality metrics and dashboard tests.

Plants: 5% invalid ethnicity codes in LA330's spring census (the dashboard's headline
case), 20% blank language codes in LA352's spring census. The summer census of LA204
loses its pupilonroll file, so that partition is blocked at staging.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings
from core.periods import AcademicYear, Term
from ingest.landing import census_table_path
from npd.demo import demo_partitions
from pipeline.steps import PeriodResult, run_period

YEAR = AcademicYear(2023)
PUPILS = 1200
INVALID_ETHNICITY = "school_census:2023/24:spring:LA330:ethnicity:0.05:invalid_code"
BLANK_LANGUAGE = "school_census:2023/24:spring:LA352:language:0.2:blank"
BLOCKED_LA = 204
FEEDS_RUN = ("school_census", "ks2")


@dataclass
class QualityRun:
    settings: Settings
    results: list[PeriodResult]
    planted: dict[str, int]  # plant -> cells changed (k)


@pytest.fixture(scope="session")
def quality_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QualityRun]:
    from synth.generate import generate

    home = tmp_path_factory.mktemp("quality") / "var"
    with pytest.MonkeyPatch.context() as mp:  # restores the environment after the session
        mp.setenv("NPD_HOME", str(home))
        mp.setenv("NPD_PSEUDONYM_KEY", "3c" * 32)
        settings = Settings.from_env()
        settings.ensure_dirs()
        summary = generate(
            landing_dir=settings.landing_dir,
            truth_dir=settings.truth_dir,
            pupils=PUPILS,
            seed=5,
            years=[YEAR],
            plants=[INVALID_ETHNICITY, BLANK_LANGUAGE],
        )
        census_table_path(
            settings.landing_dir, YEAR, Term.SUMMER, BLOCKED_LA, "pupilonroll"
        ).unlink()
        # The census and KS2 only: enough for a termly and an annual feed, and quick.
        partitions = [p for p in demo_partitions([YEAR]) if p.feed in FEEDS_RUN]
        results = [run_period(p, settings) for p in partitions]
        yield QualityRun(settings=settings, results=results, planted=dict(summary.planted))


@pytest.fixture
def run_env(quality_run: QualityRun, monkeypatch: pytest.MonkeyPatch) -> QualityRun:
    monkeypatch.setenv("NPD_HOME", str(quality_run.settings.home))
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", "3c" * 32)
    for var in ("NPD_LANDING_DIR", "NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL"):
        monkeypatch.delenv(var, raising=False)
    return quality_run


def warehouse_file(run: QualityRun) -> Path:
    return Path(run.settings.warehouse_url.removeprefix("duckdb:///"))
