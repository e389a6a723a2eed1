"""What blocks a partition and what does not (docs/validation-policy.md).

A critical failure blocks only its partition, says why, and keeps the old load. Rows failing
a critical rule about rows do not block a national partition while they stay under the
rule's threshold: they load and are counted as warnings. When a partition is blocked, the
first line of the message is the root cause, read from the stage report when staging
explains it, and quotes no identifier.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from core.config import Settings
from core.partition import Partition
from core.periods import AcademicYear
from ingest.errors import PartitionBlocked
from pipeline import steps
from pipeline.steps import run_period
from quality.summary import period_lines

SPRING = Partition.of("school_census", "2024/25", "spring")
SUMMER = Partition.of("school_census", "2024/25", "summer")
KS2 = Partition.of("ks2", "2024/25")
SSDA903 = Partition.of("ssda903", "2024/25")
YEAR_DIR = "2024-25"


def _corrupt_laestab(settings: Settings, partition: Partition) -> None:
    """Give one LA's schools an LA number that does not exist (000)."""
    folder = settings.landing_dir / "2024-25" / "school_census" / partition.term_value / "LA202"
    (school,) = folder.glob("*_school.csv")
    rows = list(csv.DictReader(school.open(encoding="utf-8")))
    for row in rows:
        row["laestab"] = "000" + row["laestab"][3:]
    _write_rows(school, rows)


def _write_rows(path: Path, rows: list[dict[str, str]], fields: list[str] | None = None) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields or list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)


def _loaded(settings: Settings, term: str) -> tuple[int, str | None]:
    with _warehouse(settings) as con:
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

    _corrupt_laestab(settings, SPRING)  # one LA's schools: more than 1% of the pupils
    blocked = run_period(SPRING, settings)
    assert blocked.status == "blocked"
    assert re.match(
        r"school_census 2024/25 spring blocked by validation: [0-9.]+% of rows checked fail "
        r"\[valid LA code\] on la_code \([0-9]+ of [0-9]+; blocks above 1%\);",
        blocked.message,
    )
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
    with _warehouse(settings) as con:
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


# A national partition: every LA the generator knows, one KS2 file for England (as the
# STA sends it) and one SSDA903 return per LA, some of them XML.
NATIONAL_PUPILS = 40_000


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The landing folder of a generated national population, 2024/25 (read, never changed)."""
    from synth.generate import generate
    from synth.geography import LOCAL_AUTHORITIES

    root = tmp_path_factory.mktemp("national")
    generate(
        landing_dir=root / "landing",
        truth_dir=root / "truth",
        pupils=NATIONAL_PUPILS,
        seed=13,
        years=[AcademicYear(2024)],
        las=sorted(LOCAL_AUTHORITIES),
    )
    return root / "landing"


def _land(settings: Settings, national: Path, feed: str) -> Path:
    """A copy of the feed's national landing folder in this test's home, to damage."""
    target = settings.landing_dir / YEAR_DIR / feed
    shutil.copytree(national / YEAR_DIR / feed, target)
    return target


def _ks2_file(settings: Settings, national: Path) -> tuple[Path, list[dict[str, str]]]:
    (path,) = _land(settings, national, "ks2").glob("*.csv")
    return path, _read_rows(path)


def _blocked_at_staging(settings: Settings, partition: Partition) -> list[str]:
    with pytest.raises(PartitionBlocked) as blocked:
        steps.stage(partition, settings)
    return str(blocked.value).splitlines()


def _blocked_at_validation(settings: Settings, partition: Partition) -> list[str]:
    steps.stage(partition, settings)
    with pytest.raises(PartitionBlocked) as blocked:
        steps.validate(partition, settings)
    return str(blocked.value).splitlines()


def _identifiers(rows: list[dict[str, str]], *columns: str) -> set[str]:
    return {r[c] for r in rows for c in columns if r.get(c) and len(r[c]) >= 5}


def test_a_handful_of_bad_scores_in_a_national_partition_load_counted_as_warnings(
    settings: Settings, national: Path
) -> None:
    path, rows = _ks2_file(settings, national)
    assert len(rows) > 3000
    for row in rows[:: len(rows) // 5][:5]:  # five pupils, spread over the file
        row["READSCORE"] = "130"
    _write_rows(path, rows)

    result = run_period(KS2, settings)
    assert result.status == "loaded", result.message
    assert result.steps["load"]["tables"] == {"research.ks2_result": len(rows)}  # none lost
    assert result.steps["validate"]["critical_failures"] == 0
    assert result.steps["validate"]["warnings"] >= 1
    with _warehouse(settings) as con:
        counted = con.sql(
            "SELECT severity, success, unexpected_count FROM audit.validation_result "
            "WHERE column_name = 'read_score' AND expectation = 'expect_column_values_to_be_between' "
            "ORDER BY severity"
        ).fetchall()
    assert counted == [("critical", True, 5), ("warning", False, 5)]


def test_a_share_of_bad_scores_above_the_threshold_blocks_naming_it_first(
    settings: Settings, national: Path
) -> None:
    path, rows = _ks2_file(settings, national)
    bad = len(rows) // 50  # 2% of the national file: over the rule's 1%
    for row in rows[:bad]:
        row["READSCORE"] = "130"
    _write_rows(path, rows)

    lines = _blocked_at_validation(settings, KS2)
    scored = sum(1 for r in rows if r["READSCORE"])  # absent pupils have no score to check
    assert lines[0] == (
        f"ks2 2024/25 blocked by validation: {100 * bad / scored:.2f}% of rows checked fail "
        f"[KS2 scaled score 80-120] on read_score ({bad} of {scored}; blocks above 1%)"
    )
    assert any(line.startswith("  CRITICAL [KS2 scaled score 80-120]") for line in lines[1:])
    with _warehouse(settings) as con:
        (message,) = con.sql(
            "SELECT message FROM audit.load_run WHERE step = 'validate' AND status = 'blocked'"
        ).fetchall()[0]
    assert message.startswith(lines[0])  # the audit trail keeps the root cause first


def test_every_sex_code_unknown_blocks_with_the_quarantine_as_the_root_cause(
    settings: Settings, national: Path
) -> None:
    path, rows = _ks2_file(settings, national)
    for row in rows:
        row["SEX"] = "Q"
    _write_rows(path, rows)

    # A systemic loss at staging (every row, over the table's limit): blocked there, the
    # quarantine reason as the root cause, before validation could see an empty partition.
    lines = _blocked_at_staging(settings, KS2)
    assert lines[0] == (
        f"ks2 2024/25 blocked at staging: 100.0% of ks2 rows were quarantined ({len(rows)} of "
        f"{len(rows)}; the limit is 20%), most for SEX: not a known code ({len(rows)} rows)"
    )
    text = "\n".join(lines)
    assert "(value" not in text
    leaked = {i for i in _identifiers(rows, "UPN", "CANDNO", "SURNAME", "FORENAMES") if i in text}
    assert not leaked


def test_every_903_header_row_quarantined_is_the_first_line(
    settings: Settings, national: Path
) -> None:
    folder = _land(settings, national, "ssda903")
    children = 0
    for header in folder.glob("*/header.csv"):
        rows = _read_rows(header)
        children += len(rows)
        _write_rows(header, [{**r, "SEX": "Q"} for r in rows])
    for xml in folder.glob("*/*.xml"):  # the LAs that send their return as XML
        text = xml.read_text(encoding="utf-8")
        children += text.count("<SEX>")
        xml.write_text(re.sub(r"<SEX>[^<]*</SEX>", "<SEX>Q</SEX>", text), encoding="utf-8")

    lines = _blocked_at_staging(settings, SSDA903)
    assert lines[0] == (
        f"ssda903 2024/25 blocked at staging: 100.0% of header rows were quarantined ({children} "
        f"of {children}; the limit is 20%), most for SEX: not a known code ({children} rows)"
    )


def test_a_rejected_national_file_is_the_first_line_at_staging(
    settings: Settings, national: Path
) -> None:
    path, rows = _ks2_file(settings, national)
    _write_rows(path, [{k: v for k, v in r.items() if k != "SEX"} for r in rows])

    with pytest.raises(PartitionBlocked) as blocked:
        steps.stage(KS2, settings)
    first = str(blocked.value).splitlines()[0]
    assert first == (
        f"ks2 2024/25 blocked at staging: {YEAR_DIR}/ks2/{path.name}: "
        "required column(s) missing: SEX; every row quarantined"
    )


def test_a_rejected_file_comes_before_a_missing_one_at_staging(
    settings: Settings, national: Path
) -> None:
    folder = _land(settings, national, "ssda903")
    returns = sorted(p for p in folder.iterdir() if (p / "header.csv").exists())
    missing, rejected = returns[0], returns[1]  # missing sorts first in the stage report
    (missing / "header.csv").unlink()
    rows = _read_rows(rejected / "header.csv")
    _write_rows(rejected / "header.csv", [{k: v for k, v in r.items() if k != "DOB"} for r in rows])

    with pytest.raises(PartitionBlocked) as blocked:
        steps.stage(SSDA903, settings)
    lines = str(blocked.value).splitlines()
    assert lines[0].startswith(
        f"ssda903 2024/25 blocked at staging: {YEAR_DIR}/ssda903/{rejected.name}/header.csv: "
        "required column(s) missing: DOB"
    )
    assert lines[1] == (
        f"  also: {YEAR_DIR}/ssda903/{missing.name}/<header>: "
        "required table header is missing from the return"
    )
