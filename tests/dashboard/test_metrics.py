"""The quality metrics, computed from generated data with known, planted defects."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from core.duck import local_duckdb
from core.partition import Partition
from ingest.spec import load_spec
from ingest.stage import read_report
from quality.metrics import _literals, _reasons, code_columns
from quality.store import catch_up, measure, stale_partitions
from tests.dashboard.conftest import (
    BLANK_LANGUAGE,
    BLOCKED_LA,
    INVALID_ETHNICITY,
    QualityRun,
    warehouse_file,
)

SPRING = Partition.of("school_census", "2023/24", "spring")
SUMMER = Partition.of("school_census", "2023/24", "summer")


def _query(run: QualityRun, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse_file(run)), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _column(run: QualityRun, term: str, column: str) -> dict[int, tuple[int, int, int]]:
    """LA -> (rows, values present, valid codes) of a pupilonroll column in a census term."""
    rows = _query(
        run,
        "SELECT la_code, rows, non_null, valid FROM quality.column_quality "
        "WHERE feed = 'school_census' AND academic_year = '2023/24' AND term = ? "
        "AND source_table = 'pupilonroll' AND column_name = ?",
        [term, column],
    )
    return {la: (n, present, valid) for la, n, present, valid in rows}


def _quarantined_codes(run: QualityRun, term: str, column: str) -> dict[int, int]:
    """LA -> rows quarantined because their code of a pupilonroll column is not in its code
    list: quality.quarantine_reason, mapped to the column through the feed's spec."""
    names = ["feed", "academic_year", "term", "la_code", "source_table", "reason", "rows"]
    reasons = pd.DataFrame(
        _query(
            run,
            f"SELECT {', '.join(names)} FROM quality.quarantine_reason "
            "WHERE feed = 'school_census' AND academic_year = '2023/24' AND term = ?",
            [term],
        ),
        columns=names,
    )
    coded = code_columns(reasons)
    coded = coded[(coded["source_table"] == "pupilonroll") & (coded["column_name"] == column)]
    return {int(la): int(n) for la, n in zip(coded["la_code"], coded["rows"], strict=True)}


def test_every_run_partition_was_measured_by_its_load(run_env: QualityRun) -> None:
    loaded = [r.partition for r in run_env.results if r.status == "loaded"]
    assert len(loaded) == 3  # autumn, spring and KS2; summer is blocked
    triggers = _query(
        run_env,
        "SELECT feed, academic_year, term, bool_and(loaded) FROM quality.metric_run "
        "WHERE trigger = 'load' GROUP BY ALL",
    )
    assert {(f, y, t) for f, y, t, _ in triggers} == {
        (p.feed, p.year.label, p.term_value) for p in loaded
    }
    assert all(ok for *_, ok in triggers)


def test_k_planted_invalid_codes_are_k_quarantined_codes_in_that_la_only(
    run_env: QualityRun,
) -> None:
    k = run_env.planted[INVALID_ETHNICITY]
    assert k >= 10  # enough to be published, not suppressed
    # A code not in its list quarantines the row at staging: the k are counted from the
    # quarantine reasons, in LA330's spring return and nowhere else ...
    assert _quarantined_codes(run_env, "spring", "ethnicity") == {330: k}
    assert _quarantined_codes(run_env, "autumn", "ethnicity") == {}
    # ... and none reaches the staged table (so none is loaded).
    for term in ("autumn", "spring"):
        assert all(p == v for _, p, v in _column(run_env, term, "ethnicity").values())
    # The stage report counts the same rows under the same words.
    reasons = read_report(run_env.settings, SPRING).quarantine_reasons
    assert reasons["pupilonroll: ethnicity: not a known code"] == k
    codelist = _query(
        run_env,
        "SELECT DISTINCT codelist FROM quality.column_quality WHERE column_name = 'ethnicity'",
    )
    assert codelist == [("ethnicity",)]  # from the spec's FieldSpec.codelist


def test_a_row_counts_under_each_of_its_invalid_codes_and_no_value_is_kept(tmp_path) -> None:
    """The stored reason of a row is its first, as staging words it, plus every further code
    of it not in its list; the text of a value (even one holding "; ") never comes along."""
    spec = load_spec("school_census").for_year("2023/24")
    rows = [
        ("pupilonroll", "ethnicity: not a known code (value ZZZZ)"),
        ("pupilonroll", "language: not a known code (value QQQ); ethnicity: not a known code (value Z)"),
        ("pupilonroll", "ethnicity: not a known code (value A; B SMITH); language: not a known code (value X)"),
        ("pupilonroll", "entrydate: in the future: after the census day (2024-01-18); enrolstatus: not a known code (value 9)"),
        ("pupilonroll", "ethnicity: not a known code (value X; ethnicity: not a known code)"),
        ("senneeds", "pupilonrolltableid: no pupilonroll row staged with this value in the return (orphan row)"),
        ("pupilonroll", "NativeId/upn: duplicate within the file of row 64 with different values (the first copy is staged)"),
        ("pupilonroll", "NativeId/upn: duplicate within the file of row 80 with different values (the first copy is staged)"),
        ("pupilonroll", "NativeId/upn: exact duplicate of row 7 (the first copy is staged)"),
    ]  # fmt: skip
    with local_duckdb(tmp_path) as con:
        con.execute(
            "CREATE TABLE quarantine AS SELECT 330::SMALLINT AS la, "
            "unnest(?::VARCHAR[]) AS source_table, unnest(?::VARCHAR[]) AS reason",
            [[t for t, _ in rows], [r for _, r in rows]],
        )
        head = _literals(SPRING, "load", "run")
        got = _reasons(con, spec, head).to_pandas()
    counts = dict(zip(got["source_table"] + ": " + got["reason"], got["rows"], strict=True))
    assert counts == {
        "pupilonroll: ethnicity: not a known code": 4,
        "pupilonroll: language: not a known code": 2,
        "pupilonroll: entrydate: in the future: after the census day": 1,
        "pupilonroll: enrolstatus: not a known code": 1,
        "senneeds: pupilonrolltableid: no pupilonroll row staged with this value in the return": 1,
        # one reason per kind, not per row number
        "pupilonroll: NativeId/upn: duplicate within the file with different values": 2,
        "pupilonroll: NativeId/upn: exact duplicate": 1,
    }
    assert not got["reason"].str.contains("SMITH|ZZ|QQ").any()
    coded = code_columns(got)
    by_column = dict(zip(coded["column_name"], coded["rows"], strict=True))
    assert by_column == {"ethnicity": 4, "language": 2, "enrol_status": 1}


def test_k_planted_blanks_are_k_missing_values(run_env: QualityRun) -> None:
    k = run_env.planted[BLANK_LANGUAGE]
    spring = _column(run_env, "spring", "language")
    autumn = _column(run_env, "autumn", "language")
    rows, present, _ = spring[352]
    baseline = {la: n - p for la, (n, p, _) in autumn.items()}
    assert rows - present == k + baseline[352] and k > 0
    assert all(n - p == baseline.get(la, 0) for la, (n, p, _) in spring.items() if la != 352)


def test_la_rows_account_for_every_row_of_the_primary_table(run_env: QualityRun) -> None:
    by_la = _query(
        run_env,
        "SELECT la_code, rows_read, rows_staged, rows_quarantined, records, rows_loaded "
        "FROM quality.la_summary WHERE feed = 'school_census' AND term = 'spring'",
    )
    assert all(read == staged + quarantined for _, read, staged, quarantined, *_ in by_la)
    assert all(loaded == records for *_, records, loaded in by_la)
    files = _query(
        run_env,
        "SELECT sum(rows_read), sum(rows_staged), sum(rows_quarantined) FROM audit.file_account "
        "WHERE feed = 'school_census' AND term = 'spring' AND source_table = 'pupilonroll'",
    )[0]
    assert tuple(sum(r[i] for r in by_la) for i in (1, 2, 3)) == files


def test_link_methods_by_la_add_up_to_the_partition_link_summary(run_env: QualityRun) -> None:
    for feed, term in (("school_census", "spring"), ("ks2", None)):
        term_test = "term = ?" if term else "term IS NULL"
        params = [feed, term] if term else [feed]
        ours = _query(
            run_env,
            f"SELECT link_method, sum(records), sum(new_persons) FROM quality.link_method "
            f"WHERE feed = ? AND {term_test} GROUP BY 1 ORDER BY 1",
            params,
        )
        audit = _query(
            run_env,
            "SELECT link_method, sum(records), sum(records) FILTER (WHERE new_person) "
            f"FROM audit.link_summary WHERE feed = ? AND {term_test} GROUP BY 1 ORDER BY 1",
            params,
        )
        assert [(m, n, new or 0) for m, n, new in audit] == ours
        las = _query(
            run_env,
            f"SELECT DISTINCT la_code FROM quality.link_method WHERE feed = ? AND {term_test}",
            params,
        )
        assert len(las) == 8


def test_duplicates_are_the_rows_quarantined_as_census_1520(run_env: QualityRun) -> None:
    dup = _query(
        run_env,
        "SELECT term, sum(duplicate_rows) FROM quality.la_summary "
        "WHERE feed = 'school_census' AND academic_year = '2023/24' GROUP BY 1 ORDER BY 1",
    )
    reasons = _query(
        run_env,
        "SELECT term, sum(rows) FILTER (WHERE reason LIKE '%duplicate%') FROM "
        "quality.quarantine_reason WHERE feed = 'school_census' AND academic_year = '2023/24' "
        "AND source_table = 'pupilonroll' GROUP BY 1 ORDER BY 1",
    )
    dup, reasons = dict(dup), {t: n or 0 for t, n in reasons}
    for term, n in dup.items():  # the periods measured so far (summer, blocked, may not be)
        report = read_report(run_env.settings, Partition.of("school_census", "2023/24", term))
        staged = sum(k for r, k in report.quarantine_reasons.items() if "duplicate" in r)
        assert n == reasons.get(term, 0) == staged, term
    assert dup["spring"] > 0


def test_expectation_results_are_summarised_by_severity(run_env: QualityRun) -> None:
    ours = _query(
        run_env,
        "SELECT severity, expectations, failed FROM quality.expectation_summary "
        "WHERE feed = 'school_census' AND term = 'spring' ORDER BY severity",
    )
    audit = _query(
        run_env,
        "SELECT severity, count(*), count(*) FILTER (WHERE NOT success) FROM audit.validation_result "
        "WHERE feed = 'school_census' AND term = 'spring' GROUP BY 1 ORDER BY 1",
    )
    assert ours == audit and [s for s, *_ in ours] == ["critical", "warning"]


def test_a_rerun_replaces_the_figures_and_keeps_the_history(run_env: QualityRun) -> None:
    def counts() -> tuple[int, int]:
        return _query(
            run_env,
            "SELECT (SELECT count(*) FROM quality.column_quality WHERE term = 'spring'), "
            "(SELECT count(*) FROM quality.metric_run WHERE term = 'spring')",
        )[0]

    before_rows, before_runs = counts()
    first = measure(SPRING, run_env.settings, trigger="cli")
    second = measure(SPRING, run_env.settings, trigger="cli")
    after_rows, after_runs = counts()
    assert after_rows == before_rows  # replaced, not appended
    assert after_runs == before_runs + 2  # each run kept
    assert first["run_id"] != second["run_id"]
    current = _query(
        run_env, "SELECT DISTINCT run_id FROM quality.column_quality WHERE term = 'spring'"
    )
    assert current == [(second["run_id"],)]
    assert {k: v for k, v in first.items() if k != "run_id"} == {
        k: v for k, v in second.items() if k != "run_id"
    }


def test_a_blocked_partition_is_caught_up_by_the_dashboard(run_env: QualityRun) -> None:
    blocked = next(r for r in run_env.results if r.partition == SUMMER)
    assert blocked.status == "blocked"
    catch_up(run_env.settings)
    assert stale_partitions(run_env.settings) == []
    runs = _query(
        run_env,
        "SELECT trigger, loaded, rows_loaded FROM quality.metric_run WHERE term = 'summer'",
    )
    assert runs and all(t == "dashboard" and not loaded and n == 0 for t, loaded, n in runs)
    las = _query(
        run_env, "SELECT la_code FROM quality.la_summary WHERE term = 'summer' AND rows_read > 0"
    )
    assert (BLOCKED_LA,) not in las and len(las) == 7


def test_measuring_what_never_staged_writes_nothing(run_env: QualityRun) -> None:
    never = Partition.of("school_census", "2024/25", "autumn")
    assert measure(never, run_env.settings) == {"partition": never.key, "measured": False}
    with pytest.raises(ValueError, match="unknown trigger"):
        measure(SPRING, run_env.settings, trigger="cron")
