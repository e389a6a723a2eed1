"""Fixtures for the children's social care feeds: landing helpers and one generated run.

`children_run` generates a small population over two years (spanning the 2024/25
schema changes: CIN GenderCurrent -> Sex, SSDA903 SEX 1/2 -> M/F/U) in four LAs, one of
which sends its SSDA903 as XML, and runs the spring census, the SSDA903 and the CIN
census of both years through stage, validate, link and load.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings
from core.partition import Partition
from core.periods import AcademicYear
from pipeline.steps import PeriodResult, run_period

YEARS = [AcademicYear(2023), AcademicYear(2024)]
LAS = [202, 330, 352, 908]  # the fourth LA (908) sends the SSDA903 as XML
PUPILS = 2500
SEED = 31


def land(settings: Settings, feed: str, year: str, la: int, *files: Path) -> Path:
    """Copy files unchanged into one LA's return folder for a feed and year."""
    folder = settings.landing_dir / AcademicYear.parse(year).slug / feed / f"LA{la:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


def cin_stating(data: bytes, year: str) -> bytes:
    """A copy of a CIN census return whose Header states the census of `year` (Year 2022 and
    ReferenceDate 2022-03-31 for 2021/22), to read a published fixture that states another
    period. Only the text of those two Header elements changes; every other byte is kept."""
    end = AcademicYear.parse(year).start + 1
    cut = data.index(b"</Header>")
    header = data[:cut]
    for element, value in (("Year", f"{end}"), ("ReferenceDate", f"{end}-03-31")):
        header, n = re.subn(
            rf"<{element}>[^<]*</{element}>".encode(),
            f"<{element}>{value}</{element}>".encode(),
            header,
        )
        assert n == 1, f"the Header holds {n} <{element}> element(s)"
    return header + data[cut:]


@dataclass
class ChildrenRun:
    settings: Settings
    results: dict[str, PeriodResult]


@pytest.fixture(scope="session")
def children_run(tmp_path_factory: pytest.TempPathFactory) -> ChildrenRun:
    from synth.generate import generate

    home = tmp_path_factory.mktemp("children") / "var"
    with pytest.MonkeyPatch.context() as mp:  # restores the environment after the session
        mp.setenv("NPD_HOME", str(home))
        mp.setenv("NPD_PSEUDONYM_KEY", "c1" * 32)
        settings = Settings.from_env()
        settings.ensure_dirs()
        generate(settings.landing_dir, settings.truth_dir, PUPILS, SEED, YEARS, las=LAS)
        partitions = [Partition.of("school_census", y, "spring") for y in YEARS]
        partitions += [Partition.of(f, y) for y in YEARS for f in ("ssda903", "cin_census")]
        results = {p.label: run_period(p, settings) for p in partitions}
        yield ChildrenRun(settings=settings, results=results)


@pytest.fixture
def children_env(children_run: ChildrenRun, monkeypatch: pytest.MonkeyPatch) -> ChildrenRun:
    monkeypatch.setenv("NPD_HOME", str(children_run.settings.home))
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", "c1" * 32)
    return children_run
