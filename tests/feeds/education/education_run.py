"""One small generated population run through the education feeds, shared by these tests.

A uniquely named module (not conftest) so tests can import its helpers; conftest.py
re-exports the fixture. Only the summer census runs (enough to link the key stage and
ILR records to census pupils), over two years that span the KS1 GENDER -> SEX rename and
the KS4 loss of Progress 8 in 2024/25.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from core.config import Settings
from core.partition import Partition
from core.periods import AcademicYear, Term
from pipeline.steps import PeriodResult, run_period

YEARS = [AcademicYear(2023), AcademicYear(2024)]
PUPILS = 3000
SEED = 23
KEY_STAGES = ("phonics", "ks1", "ks4", "ks5")
EDUCATION = (*KEY_STAGES,)


@dataclass
class EducationRun:
    settings: Settings
    results: dict[Partition, PeriodResult]

    def warehouse(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(
            self.settings.warehouse_url.removeprefix("duckdb:///"), read_only=True
        )

    def identity(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(self.settings.identity_url.removeprefix("duckdb:///"), read_only=True)

    def staged(self, feed: str, year: AcademicYear, name: str = "linked.parquet") -> Path:
        return Partition(feed, year).staging_dir(self.settings) / name

    def linked_with_truth(self, feed: str) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with view `l`: every linked record of the feed and its truth."""
        con = duckdb.connect()
        files = [str(self.staged(feed, y)) for y in YEARS]
        truth = [str(self.settings.truth_dir / y.slug / feed / "annual.parquet") for y in YEARS]
        con.execute(
            f"CREATE VIEW l AS SELECT r.*, t.person_id AS truth, t.defect "
            f"FROM read_parquet({files}, union_by_name = true) r "
            f"JOIN read_parquet({truth}) t "
            f"ON t.source_file = r._source_file AND t.source_row = r._source_row"
        )
        return con


def partitions() -> list[Partition]:
    out = []
    for year in YEARS:
        out.append(Partition("school_census", year, Term.SUMMER))
        out.extend(Partition(feed, year) for feed in EDUCATION)
    return out


@pytest.fixture(scope="session")
def education_run(tmp_path_factory: pytest.TempPathFactory) -> EducationRun:
    from synth.generate import generate

    home = tmp_path_factory.mktemp("education") / "var"
    with pytest.MonkeyPatch.context() as mp:  # restores the environment after the session
        mp.setenv("NPD_HOME", str(home))
        mp.setenv("NPD_PSEUDONYM_KEY", "3c" * 32)
        settings = Settings.from_env()
        settings.ensure_dirs()
        generate(
            landing_dir=settings.landing_dir,
            truth_dir=settings.truth_dir,
            pupils=PUPILS,
            seed=SEED,
            years=YEARS,
            las=[202, 330],
        )
        results = {p: run_period(p, settings) for p in partitions()}
        yield EducationRun(settings=settings, results=results)
