"""The DAGs import, serialise, and run a partition end to end with `airflow dags test`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from core.periods import AcademicYear
from tests.conftest import REPO

pytestmark = pytest.mark.airflow

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_every_dag_imports_without_errors(dagbag) -> None:
    from core.feeds import FEEDS

    assert dagbag.import_errors == {}
    assert {f"npd_{f}" for f in FEEDS} | {"npd_linkage"} <= set(dagbag.dags)


def test_every_dag_serialises_and_round_trips(dagbag) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    from core.feeds import FEEDS

    for dag in dagbag.dags.values():
        data = DagSerialization.to_dict(dag)
        back = DagSerialization.from_dict(data)
        assert back.dag_id == dag.dag_id
        if dag.dag_id.removeprefix("npd_") in FEEDS:
            assert [t.task_id for t in back.tasks] == ["stage", "validate", "link", "load"]


def test_params_say_what_a_run_needs(dagbag) -> None:
    census = dagbag.dags["npd_school_census"].params
    ks2 = dagbag.dags["npd_ks2"].params
    assert set(census.keys()) == {"academic_year", "term", "force"}
    assert set(ks2.keys()) == {"academic_year", "force"}
    # Empty by default: the partition comes from the run's logical date (backfills need no conf)
    assert census.get_param("term").schema["enum"] == [None, "autumn", "spring", "summer"]
    assert census["academic_year"] is None and census["term"] is None


def test_dag_files_import_only_cheap_modules() -> None:
    code = (
        "import sys, runpy, airflow.sdk; before = set(sys.modules); runpy.run_path(sys.argv[1]); "
        "heavy = ('duckdb', 'great_expectations', 'pandas', 'splink', 'pyarrow', 'sqlalchemy', 'numpy'); "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} & set(heavy)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "dags" / "npd_feeds.py")],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _census_term_through_dags_test(tmp_path: Path, **extra_env: str):
    """A spring census term of a 400-pupil population run with `airflow dags test`:
    (home, log, rows staged, (rows loaded, rows pseudonymised), audited steps)."""
    from synth.generate import generate

    home = tmp_path / "var"
    env = {**os.environ, "NPD_HOME": str(home), "NPD_PSEUDONYM_KEY": "7a" * 32, **extra_env}
    for var in ("NPD_LANDING_DIR", "NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL"):
        env.pop(var, None)
    generate(home / "landing", home / "truth", pupils=400, seed=3, years=[AcademicYear(2024)])
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    conf = json.dumps({"academic_year": "2024/25", "term": "spring"})
    run = subprocess.run(
        [AIRFLOW, "dags", "test", "npd_school_census", "-c", conf],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    staged = duckdb.sql(
        f"SELECT count(*) FROM '{home}/staging/school_census/2024-25/spring/records.parquet'"
    ).fetchall()[0][0]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        loaded = con.sql(
            "SELECT count(*), count(pupil_pseudonym) FROM research.census_pupil "
            "WHERE academic_year = '2024/25' AND census_term = 'spring'"
        ).fetchall()[0]
        steps = con.sql("SELECT step, status FROM audit.load_run ORDER BY finished_at").fetchall()
    return home, run.stdout + run.stderr, staged, loaded, steps


@pytest.mark.slow
def test_airflow_dags_test_loads_a_census_term(tmp_path: Path) -> None:
    _, _, staged, loaded, steps = _census_term_through_dags_test(tmp_path)
    assert staged > 350
    assert loaded[0] == staged and loaded[1] > 0.97 * staged
    assert steps == [
        ("stage", "succeeded"),
        ("validate", "succeeded"),
        ("link", "succeeded"),
        ("load", "succeeded"),
    ]


def test_a_sharded_stage_maps_one_task_per_group_of_returns(monkeypatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("NPD_STAGE_SHARDS", "3")
    dag = DagBag(dag_folder=str(REPO / "dags")).dags["npd_school_census"]
    order = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert order == {
        "plan_stage": ["merge_stage", "stage_shard"],
        "stage_shard": ["merge_stage"],
        "merge_stage": ["validate"],
        "validate": ["link"],
        "link": ["load"],
        "load": [],
    }
    assert dag.get_task("stage_shard").is_mapped


@pytest.mark.slow
def test_airflow_dags_test_loads_a_census_term_staged_in_shards(tmp_path: Path) -> None:
    """The same run with the LAs' returns staged in three mapped tasks and merged: the
    warehouse gets the partition, audited as one stage."""
    lineage = tmp_path / "lineage.jsonl"
    home, out, staged, loaded, steps = _census_term_through_dags_test(
        tmp_path,
        NPD_STAGE_SHARDS="3",
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
            {"type": "file", "log_file_path": str(lineage), "append": True}
        ),
        AIRFLOW__OPENLINEAGE__EXTRACTORS="npd.lineage.StepExtractor",
    )
    assert out.count("stage_shard") >= 3  # every group ran as its own mapped task instance
    staging = home / "staging/school_census/2024-25/spring"
    assert not (staging / "shards").exists()
    assert staged > 350 and loaded[0] == staged
    assert [s for s, _ in steps] == ["stage", "validate", "link", "load"]
    events = [json.loads(line) for line in lineage.read_text().splitlines() if line.strip()]
    merged = [
        e
        for e in events
        if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(".merge_stage")
    ]
    assert [d["name"] for d in merged[0]["outputs"]].count(str(staging / "records.parquet")) == 1
    upns = set()
    for path in (home / "landing").rglob("*_pupilonroll.csv"):
        with path.open(encoding="utf-8") as fh:
            upns |= {row["upn"] for row in csv.DictReader(fh) if row.get("upn")}
    text = out + lineage.read_text()
    assert len(upns) > 350 and not [u for u in upns if u in text], "an identifier reached a log"
