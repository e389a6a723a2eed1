"""Operations fixtures: synthetic landing files for three academic years, generated once, and
a reference warehouse that one uninterrupted `npd backfill` built from them.

Tests copy the reference home (stores, staging, landing) and change their copy: correct a
file, corrupt one, kill a run, start two at once; then compare table checksums with the
reference.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings
from core.periods import AcademicYear

YEARS = [AcademicYear(2022), AcademicYear(2023), AcademicYear(2024)]
FEEDS = ("school_census", "ks2")  # the feeds the generator writes for every year
KEY = "ab" * 32  # the npd_home fixture's key, so copies keep producing the same pseudonyms
# These tests are about running the pipeline, not about matching: deterministic links only.
FALLBACK = {"NPD_LINKAGE_FALLBACK": "none"}
NPD = str(Path(sys.executable).with_name("npd"))


@dataclass(frozen=True)
class Reference:
    home: Path
    output: str  # what the one backfill command printed


def ops_env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, **FALLBACK, "NPD_HOME": str(home), "NPD_PSEUDONYM_KEY": KEY}
    env["COLUMNS"] = "160"  # the summary table, unwrapped
    for var in ("NPD_LANDING_DIR", "NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL"):
        env.pop(var, None)
    return {**env, **extra}


def backfill_cmd(*extra: str, first: str = "2022/23", last: str = "2024/25") -> list[str]:
    feeds = [arg for feed in FEEDS for arg in ("--feed", feed)]
    return [NPD, "backfill", "--from", first, "--to", last, *feeds, *extra]


@pytest.fixture(scope="session")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synth.generate import generate

    root = tmp_path_factory.mktemp("ops_landing")
    generate(
        landing_dir=root / "landing", truth_dir=root / "truth", pupils=500, seed=17, years=YEARS
    )
    return root / "landing"


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, landing: Path) -> Reference:
    """Three years backfilled from one command, uninterrupted."""
    home = tmp_path_factory.mktemp("ops_reference") / "var"
    shutil.copytree(landing, home / "landing")
    run = subprocess.run(
        backfill_cmd(), env=ops_env(home), capture_output=True, text=True, timeout=1200
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return Reference(home=home, output=run.stdout)


def copy_home(source: Path, target: Path, *, stores: bool = True) -> Path:
    """A private copy of a home: its landing files, and (if stores) everything it built."""
    if stores:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("locks", "tmp"))
    else:
        shutil.copytree(source / "landing", target / "landing")
    return target


@pytest.fixture(autouse=True)
def _deterministic_links(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FALLBACK.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def loaded(reference: Reference, npd_home: Path) -> Settings:
    """A copy of the reference home, as the test's NPD_HOME."""
    copy_home(reference.home, npd_home)
    settings = Settings.from_env()
    settings.ensure_dirs()
    return settings


@pytest.fixture
def fresh(landing: Path, npd_home: Path) -> Settings:
    """The three years' landing files and nothing built yet, as the test's NPD_HOME."""
    shutil.copytree(landing, npd_home / "landing")
    settings = Settings.from_env()
    settings.ensure_dirs()
    return settings
