"""The dashboard DAG: thin, cheap to parse, and calling the same function as the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.airflow

DAG_FILE = REPO / "dags" / "npd_dashboard.py"


def test_the_dashboard_dag_imports_and_serialises() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.dags["npd_dashboard"]
    back = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert [t.task_id for t in back.tasks] == ["build_dashboard"]
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"  # runs after any load
    assert {a.name for _, a in back.timetable.asset_condition.iter_assets()} >= {
        "npd_school_census_loaded",
        "npd_ks2_loaded",
    }


def test_the_dag_file_imports_only_cheap_modules() -> None:
    code = (
        "import sys, runpy, airflow.sdk; before = set(sys.modules); runpy.run_path(sys.argv[1]); "
        "heavy = ('duckdb', 'great_expectations', 'pandas', 'altair', 'pyarrow', 'sqlalchemy', 'quality'); "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} & set(heavy)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAG_FILE)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_task_builds_the_dashboard_and_returns_only_small_values(run_env) -> None:
    from quality.dashboard import rebuild

    result = rebuild()
    assert set(result) == {"index", "pages", "measured", "statuses"}
    assert result["index"].endswith("reports/dashboard/index.html")
    assert result["statuses"] == {"pass": 2, "warning": 1, "blocked": 1}
