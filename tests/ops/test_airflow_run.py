"""Airflow runs the census DAG for a census day the way a scheduled or backfilled run does (no
conf: the partition comes from the logical date), publishes the feed's asset with what it
loaded, reports every task's datasets to OpenLineage, skips a second run of unchanged inputs,
and `airflow backfill create` plans one run per published census day."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from core.periods import AcademicYear
from tests.ops.conftest import FALLBACK

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
CENSUS_DAY = "2024-10-03"  # autumn 2024/25


def _airflow(*args: str, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from synth.generate import generate

    root = tmp_path_factory.mktemp("airflow_run")
    home = root / "var"
    generate(
        landing_dir=home / "landing",
        truth_dir=home / "truth",
        pupils=300,
        seed=5,
        years=[AcademicYear(2024)],
    )
    env = {**os.environ, **FALLBACK, "NPD_HOME": str(home), "NPD_PSEUDONYM_KEY": "7a" * 32}
    # Its own metadata database: other DAG tests in the session publish the same asset.
    env["AIRFLOW_HOME"] = str(root / "airflow")
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{root}/airflow/airflow.db"
    (root / "airflow").mkdir()
    for var in ("NPD_LANDING_DIR", "NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL"):
        env.pop(var, None)
    env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(root / "lineage.jsonl"), "append": True}
    )
    env["AIRFLOW__OPENLINEAGE__EXTRACTORS"] = "npd.lineage.StepExtractor"
    migrate = _airflow("db", "migrate", env=env)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    return env


def _upns(home: Path) -> set[str]:
    found = set()
    for path in (home / "landing").rglob("*_pupilonroll.csv"):
        with path.open(encoding="utf-8") as fh:
            found |= {row["upn"] for row in csv.DictReader(fh) if row.get("upn")}
    return found


def _events(env: dict[str, str]) -> list[dict]:
    path = Path(json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])["log_file_path"])
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_census_day_run_loads_its_term_reports_lineage_and_publishes_the_asset(
    airflow_env: dict[str, str],
) -> None:
    home = Path(airflow_env["NPD_HOME"])
    run = _airflow("dags", "test", "npd_school_census", CENSUS_DAY, env=airflow_env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert "school_census 2024/25 autumn (partition chosen by autumn census day 2024-10-03)" in log

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        loaded = con.execute(
            "SELECT count(*) FROM research.census_pupil "
            "WHERE academic_year = '2024/25' AND census_term = 'autumn'"
        ).fetchall()[0][0]
        manifest = con.execute(
            "SELECT outcome, run_by FROM audit.load_manifest WHERE term = 'autumn'"
        ).fetchall()
    assert loaded > 250 and manifest == [("loaded", "airflow")]

    complete = {
        e["job"]["name"].split(".")[-1]: e
        for e in _events(airflow_env)
        if e["eventType"] == "COMPLETE" and e["job"]["name"].startswith("npd_school_census.")
    }
    assert set(complete) == {"stage", "validate", "link", "load"}

    def names(step: str, side: str) -> set[str]:
        return {d["name"] for d in complete[step][side]}

    staged = str(home / "staging" / "school_census" / "2024-25" / "autumn" / "records.parquet")
    assert str(home / "landing" / "2024-25" / "school_census" / "autumn") in names(
        "stage", "inputs"
    )
    assert staged in names("stage", "outputs") and staged in names("validate", "inputs")
    assert {"identity.record_identity", "identity.person"} <= names("link", "outputs")
    assert {"research.census_pupil", "audit.partition_load"} <= names("load", "outputs")

    upns = _upns(home)
    assert len(upns) > 250
    lineage = json.dumps(_events(airflow_env))
    assert not [u for u in upns if u in lineage or u in log], "an identifier reached a log"

    engine = sa.create_engine(airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    with engine.connect() as conn:
        extras = conn.execute(
            sa.text(
                "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                "WHERE a.name = 'npd_school_census_loaded'"
            )
        ).fetchall()
    engine.dispose()
    (extra,) = [json.loads(e[0]) if isinstance(e[0], str) else e[0] for e in extras]
    assert extra["academic_year"] == "2024/25" and extra["term"] == "autumn"
    assert extra["load_id"].startswith("school_census-2024-25-autumn-")
    assert extra["replaced_load_id"] is None and extra["rows"] == loaded

    again = _airflow("dags", "test", "npd_school_census", CENSUS_DAY, env=airflow_env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already loaded from these" in again.stdout + again.stderr  # stage skipped itself


def test_backfill_create_plans_one_run_per_published_census_day(
    airflow_env: dict[str, str],
) -> None:
    reserialize = _airflow("dags", "reserialize", env=airflow_env)
    assert reserialize.returncode == 0, reserialize.stderr[-2000:]
    plan = _airflow(
        "backfill", "create", "--dag-id", "npd_school_census",
        "--from-date", "2023-09-01", "--to-date", "2024-08-31", "--dry-run",
        env=airflow_env,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-2000:]
    days = [line.split()[1] for line in plan.stdout.splitlines() if line.startswith("| 20")]
    assert days == ["2023-10-05", "2024-01-18", "2024-05-16"]
