"""A critical validation failure blocks only its partition, says why, and keeps the old load."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from npd.config import Settings
from npd.partition import Partition
from npd.periods import AcademicYear
from npd.steps import run_period
from npd.summary import period_lines

SPRING = Partition.of("school_census", "2024/25", "spring")
SUMMER = Partition.of("school_census", "2024/25", "summer")


def _corrupt_laestab(settings: Settings, partition: Partition) -> None:
    """Give one LA's schools an LA number that does not exist (000)."""
    folder = settings.landing_dir / "2024-25" / "school_census" / partition.term_value / "LA202"
    (school,) = folder.glob("*_school.csv")
    rows = list(csv.DictReader(school.open(encoding="utf-8")))
    for row in rows:
        row["laestab"] = "000" + row["laestab"][3:]
    with school.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _loaded(settings: Settings, term: str) -> tuple[int, str | None]:
    path = settings.warehouse_url.removeprefix("duckdb:///")
    with duckdb.connect(path, read_only=True) as con:
        return con.sql(
            "SELECT count(*), min(load_id) FROM research.census_pupil "
            f"WHERE academic_year = '2024/25' AND census_term = '{term}'"
        ).fetchall()[0]


def test_critical_failure_blocks_one_partition_and_keeps_the_previous_load(
    settings: Settings,
) -> None:
    from synth.generate import generate

    generate(
        landing_dir=settings.landing_dir,
        truth_dir=settings.truth_dir,
        pupils=500,
        seed=5,
        years=[AcademicYear(2024)],
    )
    first = run_period(SPRING, settings)
    assert first.status == "loaded"
    before = _loaded(settings, "spring")

    _corrupt_laestab(settings, SPRING)
    blocked = run_period(SPRING, settings)
    assert blocked.status == "blocked"
    assert "blocked by validation" in blocked.message and "la_code" in blocked.message
    assert _loaded(settings, "spring") == before  # the previous partition stands

    assert run_period(SUMMER, settings).status == "loaded"  # other partitions are not held up
    lines = {ln.period: ln for ln in period_lines(settings)}
    assert lines["2024/25 spring"].status == "blocked"
    assert lines["2024/25 summer"].status == "loaded"


def test_the_blocking_reason_is_kept_in_the_audit_trail(settings: Settings) -> None:
    from synth.generate import generate

    generate(
        landing_dir=settings.landing_dir,
        truth_dir=settings.truth_dir,
        pupils=300,
        seed=6,
        years=[AcademicYear(2024)],
    )
    _corrupt_laestab(settings, SUMMER)
    assert run_period(SUMMER, settings).status == "blocked"
    path = Path(settings.warehouse_url.removeprefix("duckdb:///"))
    with duckdb.connect(str(path), read_only=True) as con:
        runs = con.sql(
            "SELECT step, status, message FROM audit.load_run ORDER BY finished_at"
        ).fetchall()
        failed = con.sql(
            "SELECT expectation, column_name, severity, unexpected_count FROM audit.validation_result "
            "WHERE NOT success"
        ).fetchall()
    assert [(s, st) for s, st, _ in runs] == [("stage", "succeeded"), ("validate", "blocked")]
    assert "CRITICAL" in runs[-1][2]
    assert any(col == "la_code" and sev == "critical" and n > 0 for _, col, sev, n in failed)
