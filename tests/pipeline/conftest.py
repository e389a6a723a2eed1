"""One small synthetic population run through every partition, shared by the pipeline tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings
from core.periods import AcademicYear
from npd.demo import demo_partitions
from pipeline.steps import PeriodResult, run_period

YEARS = [AcademicYear(2023), AcademicYear(2024)]  # spans the 2024/25 gender -> sex rename
PUPILS = 1600


@dataclass
class PipelineRun:
    settings: Settings
    results: list[PeriodResult]


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    from synth.generate import generate

    home = tmp_path_factory.mktemp("pipeline") / "var"
    with pytest.MonkeyPatch.context() as mp:  # restores the environment after the session
        mp.setenv("NPD_HOME", str(home))
        mp.setenv("NPD_PSEUDONYM_KEY", "5e" * 32)
        settings = Settings.from_env()
        settings.ensure_dirs()
        generate(
            landing_dir=settings.landing_dir,
            truth_dir=settings.truth_dir,
            pupils=PUPILS,
            seed=11,
            years=YEARS,
        )
        results = [run_period(p, settings) for p in demo_partitions(YEARS)]
        yield PipelineRun(settings=settings, results=results)


@pytest.fixture
def run_env(pipeline_run: PipelineRun, monkeypatch: pytest.MonkeyPatch) -> PipelineRun:
    monkeypatch.setenv("NPD_HOME", str(pipeline_run.settings.home))
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", "5e" * 32)
    return pipeline_run


def warehouse_path(run: PipelineRun) -> Path:
    return Path(run.settings.warehouse_url.removeprefix("duckdb:///"))
