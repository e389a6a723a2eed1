"""The safe-access commands as their users meet them: what they print and how they exit."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from npd.cli import app
from tests.access.conftest import PgRun, connect

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
FUTURE = (dt.date.today() + dt.timedelta(days=90)).isoformat()


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_db_check_and_grants(pg_env: PgRun) -> None:
    code, out = _run("db", "check")
    assert code == 0, out
    assert "warehouse: at " in out and "identity: at " in out
    code, out = _run("db", "grants", "--store", "identity")
    prefix = pg_env.db.roles.prefix
    assert code == 0
    assert f'GRANT SELECT, INSERT ON "identity"."person" TO "{prefix}_linkage";' in out


def test_extract_refusal_names_every_column_and_exits_2(pg_env: PgRun, tmp_path: Path) -> None:
    code, out = _run(
        "extract", "--recipient", "Home Office", "--purpose", "immigration_enforcement",
        "--tier", "1", "--destroy-by", FUTURE, "--column", "census_pupil.ethnicity",
        "--column", "census_pupil.la_code", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 2
    assert "research.census_pupil.ethnicity: never released for immigration enforcement" in out
    assert "research.census_pupil.la_code: never released for immigration enforcement" in out
    assert list(tmp_path.iterdir()) == []


def test_extract_then_releases_then_sar(pg_env: PgRun, tmp_path: Path) -> None:
    code, out = _run(
        "extract", "--recipient", "CLI University", "--purpose", "research", "--tier", "4",
        "--destroy-by", FUTURE, "--standard", "ks2_attainment_tier4", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, out
    release_id = out.split()[1]
    assert (tmp_path / release_id / "ks2_result.csv").exists()
    assert "children left out because their families objected to research: 0" in out
    code, out = _run("releases")
    assert code == 0, out
    assert release_id in out.replace("\n", "") or release_id[:12] in out
    assert "Chain verified" in out
    assert "No release is past its destruction date" in out
    with connect(pg_env.db.url).connect() as conn:
        upn = conn.execute(
            sa.text(
                "SELECT upn FROM identity.record_identity WHERE feed = 'ks2' "
                "AND upn_status = 'valid' ORDER BY record_key LIMIT 1"
            )
        ).scalar_one()
    code, out = _run("sar", "--upn", upn)
    assert code == 0, out
    assert int(re.search(r"(\d+) releases", out).group(1)) >= 1
    assert upn not in out  # the command line output names no child
    report = Path(out.split("report written to ")[1].split()[0])
    assert "CLI University" in report.read_text()


def test_objections_by_command(pg_env: PgRun) -> None:
    with connect(pg_env.db.url).connect() as conn:
        upn = conn.execute(
            sa.text(
                "SELECT upn FROM identity.record_identity WHERE upn_status = 'valid' "
                "ORDER BY record_key DESC LIMIT 1"
            )
        ).scalar_one()
    code, out = _run(
        "objection", "add", "--upn", upn, "--purpose", "commercial", "--channel", "school"
    )
    assert code == 0 and "recorded: objected for commercial" in out
    code, out = _run("objection", "counts")
    assert code == 0 and any(line.split() == ["commercial", "1"] for line in out.splitlines()), out
    code, out = _run("objection", "add", "--upn", upn, "--purpose", "operations")
    assert code == 2 and "not a class of use a family can object to" in out
    code, out = _run("objection", "withdraw", "--upn", upn, "--purpose", "commercial")
    assert code == 0
    code, out = _run("objection", "counts")
    assert any(line.split() == ["commercial", "0"] for line in out.splitlines()), out
