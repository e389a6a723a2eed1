"""Fixtures for the ILR tests: one generated run, and copying ILR files into a fresh landing.

`ilr_run` generates a small population over three years in two LAs and runs the summer
census and the ILR of each year through stage, validate, link and load. In the first
year no learner can have a census record in the run (school leavers appear in the ILR
the year after they leave), so the second year is where learners bridge to the census,
and the third shows what the index learned from the second (a leaver's ULN the census
never carried links by ULN once the fallback has found the learner).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from core.config import Settings
from core.partition import Partition
from core.periods import AcademicYear, Term
from pipeline.steps import PeriodResult, run_period

YEARS = [AcademicYear(2022), AcademicYear(2023), AcademicYear(2024)]
LAS = [202, 330]
PUPILS = 3000
SEED = 41
KEY = "4b" * 32


@dataclass
class IlrRun:
    settings: Settings
    results: dict[str, PeriodResult]

    def files(self, year: AcademicYear) -> list[Path]:
        return sorted((self.settings.landing_dir / year.slug / "ilr").rglob("*.xml"))

    def linked(self, feed: str, year: AcademicYear, term: str = "annual") -> str:
        return f"'{self.settings.staging_dir}/{feed}/{year.slug}/{term}/linked.parquet'"

    def truth(self, feed: str, year: AcademicYear, term: str = "annual") -> str:
        return f"'{self.settings.truth_dir}/{year.slug}/{feed}/{term}.parquet'"

    def with_truth(self, year: AcademicYear) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with views `ilr` and `census` (summer): linked records and truth."""
        con = duckdb.connect()
        for view, feed, term in (("ilr", "ilr", "annual"), ("census", "school_census", "summer")):
            con.execute(
                f"CREATE VIEW {view} AS SELECT r.*, t.person_id AS truth, t.defect "
                f"FROM read_parquet({self.linked(feed, year, term)}) r "
                f"JOIN read_parquet({self.truth(feed, year, term)}) t "
                "ON t.source_file = r._source_file AND t.source_row = r._source_row"
            )
        return con


def land_ilr(settings: Settings, year: AcademicYear | str, path: Path, data: bytes) -> Path:
    """Write bytes as an ILR file into a fresh landing, in the provider folder of `path`."""
    year = AcademicYear.parse(year)
    target = settings.landing_dir / year.slug / "ilr" / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


@pytest.fixture(scope="session")
def ilr_run(tmp_path_factory: pytest.TempPathFactory) -> IlrRun:
    from synth.generate import generate

    home = tmp_path_factory.mktemp("ilr") / "var"
    with pytest.MonkeyPatch.context() as mp:  # restores the environment after the session
        mp.setenv("NPD_HOME", str(home))
        mp.setenv("NPD_PSEUDONYM_KEY", KEY)
        try:
            settings = Settings.from_env()
            settings.ensure_dirs()
            generate(settings.landing_dir, settings.truth_dir, PUPILS, SEED, YEARS, las=LAS)
            results = {}
            for year in YEARS:
                for partition in (
                    Partition("school_census", year, Term.SUMMER),
                    Partition("ilr", year),
                ):
                    results[partition.label] = run_period(partition, settings)
            yield IlrRun(settings=settings, results=results)
        finally:
            shutil.rmtree(home / "tmp", ignore_errors=True)


@pytest.fixture
def ilr_env(ilr_run: IlrRun, monkeypatch: pytest.MonkeyPatch) -> IlrRun:
    monkeypatch.setenv("NPD_HOME", str(ilr_run.settings.home))
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", KEY)
    return ilr_run
