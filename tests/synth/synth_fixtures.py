"""One small generated population shared by the synth tests (a few seconds to build).

A uniquely named module (not conftest) so tests can import its helpers whatever other
conftest modules the full suite loads; conftest.py re-exports the fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from core.periods import AcademicYear, year_range
from synth.generate import SynthSummary, generate
from synth.population import Population, build_population

SEED = 11
PUPILS = 4000
YEARS = year_range("2023/24", "2024/25")  # spans the gender -> sex rename in 2024/25
PLANT = "school_census:2023/24:spring:LA330:ethnicity:0.05:invalid_code"
BLANK_PLANT = "ks2:2024/25:annual:LA886:READOUTCOME:0.1:blank"


@dataclass
class Generated:
    landing: Path
    truth: Path
    summary: SynthSummary
    progress: list[tuple[str, int, int]]

    def csv(self, relative: str) -> pd.DataFrame:
        return read_csv(self.landing / relative)

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.landing.glob(pattern))

    def truth_table(self, year: AcademicYear, feed: str, term: str) -> pd.DataFrame:
        return pd.read_parquet(self.truth / year.slug / feed / f"{term}.parquet")

    def records(self, table: str = "pupilonroll") -> pd.DataFrame:
        """Every census row of a table across returns, joined to its truth by file and row."""
        frames = []
        for year in YEARS:
            for term in ("autumn", "spring", "summer"):
                truth = self.truth_table(year, "school_census", term)
                for path in sorted(
                    (self.landing / year.slug / "school_census" / term).glob(f"LA*/*_{table}.csv")
                ):
                    df = read_csv(path)
                    rel = path.relative_to(self.landing).as_posix()
                    df["source_file"] = rel
                    df["source_row"] = range(2, len(df) + 2)
                    df["year"] = year.start
                    df["term"] = term
                    df["la"] = int(path.parent.name[2:])
                    frames.append(df)
        out = pd.concat(frames, ignore_index=True)
        truth = pd.concat(
            [
                self.truth_table(y, "school_census", t)
                for y in YEARS
                for t in ("autumn", "spring", "summer")
            ]
        )
        return out.merge(truth, on=["source_file", "source_row"], how="left", validate="one_to_one")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("synth")
    calls: list[tuple[str, int, int]] = []
    summary = generate(
        landing_dir=root / "landing",
        truth_dir=root / "truth",
        pupils=PUPILS,
        seed=SEED,
        years=YEARS,
        plants=[PLANT, BLANK_PLANT],
        progress=lambda label, done, total: calls.append((label, done, total)),
    )
    return Generated(
        landing=root / "landing", truth=root / "truth", summary=summary, progress=calls
    )


@pytest.fixture(scope="session")
def population() -> Population:
    return build_population(PUPILS, SEED, YEARS)


@pytest.fixture(scope="session")
def census_records(generated: Generated) -> pd.DataFrame:
    return generated.records("pupilonroll")
