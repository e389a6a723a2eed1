"""validate_records: the block/warn decision, stored history and Data Docs."""

from __future__ import annotations

import copy
import json
import multiprocessing
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from staged_frames import KS2_PARAMS, PARAMS, census_frame, census_table, ks2_frame

import core.codes
from expectations.runner import (
    MissingColumnsError,
    MissingParamsError,
    ValidationOutcome,
    build_data_docs,
    read_records,
    validate_records,
)


def _census(df: pd.DataFrame | object, gx_dir: Path, run: str = "test") -> ValidationOutcome:
    return validate_records(df, "school_census", gx_dir=gx_dir, run_name=run, params=PARAMS)


def _failed(outcome: ValidationOutcome, column: str) -> list:
    return [r for r in outcome.results if not r.success and r.column == column]


def test_a_clean_census_batch_passes(gx_dir: Path) -> None:
    outcome = _census(census_frame(200), gx_dir)
    assert outcome.success
    assert outcome.critical_failures == [] and outcome.warnings_failed == []
    assert outcome.row_count == 200
    assert outcome.params == {"academic_year": "2023/24", "term": "autumn"}
    assert outcome.results[0].expectation_type == "expect_table_row_count_to_be_between"
    assert "passed all" in outcome.describe()


def test_a_clean_census_arrow_table_passes(gx_dir: Path) -> None:
    assert _census(census_table(200), gx_dir).success


def test_a_clean_ks2_batch_passes(gx_dir: Path) -> None:
    outcome = validate_records(
        ks2_frame(200), "ks2", gx_dir=gx_dir, run_name="t", params=KS2_PARAMS
    )
    assert outcome.success and not outcome.warnings_failed, outcome.describe()


def test_planted_invalid_ethnicity_codes_warn_with_their_count(gx_dir: Path) -> None:
    df = census_frame(200)
    k = 7
    df.loc[df.index[:k], "ethnicity"] = "ZZZZ"
    outcome = _census(df, gx_dir)
    assert outcome.success  # a warning never blocks
    (warning,) = outcome.warnings_failed
    assert (warning.column, warning.severity, warning.unexpected_count) == (
        "ethnicity",
        "warning",
        k,
    )
    assert warning.element_count == 200
    assert warning.unexpected_percent == pytest.approx(100 * k / 200)
    assert "WARNING [ethnicity code]" in outcome.describe()


def test_a_null_dob_blocks_the_partition(gx_dir: Path) -> None:
    df = census_frame(50)
    df.loc[df.index[3], "dob"] = None
    outcome = _census(df, gx_dir)
    assert not outcome.success
    (failure,) = outcome.critical_failures
    assert (failure.expectation_type, failure.column, failure.unexpected_count) == (
        "expect_column_values_to_not_be_null",
        "dob",
        1,
    )
    text = outcome.describe()
    assert "BLOCKED" in text
    assert "CRITICAL [DOB present] expect_column_values_to_not_be_null on dob" in text


def test_a_duplicate_record_key_blocks_the_partition(gx_dir: Path) -> None:
    df = census_frame(50)
    df.loc[df.index[1], "record_key"] = df.loc[df.index[0], "record_key"]
    outcome = _census(df, gx_dir)
    assert not outcome.success
    (failure,) = outcome.critical_failures
    assert failure.expectation_type == "expect_column_values_to_be_unique"
    assert failure.unexpected_count == 2  # both rows sharing the key
    assert "expect_column_values_to_be_unique on record_key" in outcome.describe()


def test_rows_of_another_partition_block_it(gx_dir: Path) -> None:
    outcome = validate_records(
        census_frame(20),
        "school_census",
        gx_dir=gx_dir,
        run_name="t",
        params={**PARAMS, "term": "spring"},
    )
    assert [(r.column, r.unexpected_count) for r in outcome.critical_failures] == [
        ("census_term", 20)
    ]


def test_invalid_la_code_and_sex_block_but_null_la_code_does_not(gx_dir: Path) -> None:
    df = census_frame(50)
    df["la_code"] = df["la_code"].astype("Int64")
    df.loc[df.index[0], "la_code"] = None
    assert _census(df, gx_dir).success
    df.loc[df.index[1], "la_code"] = 999
    df.loc[df.index[2], "sex"] = "X"
    assert {r.column for r in _census(df, gx_dir).critical_failures} == {"la_code", "sex"}


def test_ks2_scores_out_of_range_warn_up_to_the_threshold_and_block_above(gx_dir: Path) -> None:
    df = ks2_frame(100)
    df["read_score"] = df["read_score"].astype("Int64")
    df.loc[df.index[0], "read_score"] = 130  # 1% of rows: at the threshold, loaded and counted
    df.loc[df.index[1], ["mat_score", "mat_outcome"]] = [105, "NS"]
    df.loc[df.index[2], ["gps_score", "gps_outcome"]] = [None, "AS"]
    outcome = validate_records(df, "ks2", gx_dir=gx_dir, run_name="t", params=KS2_PARAMS)
    assert outcome.success, outcome.describe()
    warned = {
        (r.column, r.row_condition, r.unexpected_count, r.derived) for r in outcome.warnings_failed
    }
    assert warned == {
        ("read_score", None, 1, True),  # the critical rule's row, counted as a warning
        ("mat_outcome", "mat_score >= 100", 1, False),
        ("gps_outcome", "(gps_score < 100 OR gps_score IS NULL)", 1, False),
    }
    (held,) = [r for r in outcome.results if r.severity == "critical" and r.unexpected_count]
    assert (held.column, held.success, held.unexpected_count, held.mostly) == (
        "read_score",
        True,
        1,
        0.99,
    )

    df.loc[df.index[3], "read_score"] = 70  # 2%: over the threshold
    outcome = validate_records(df, "ks2", gx_dir=gx_dir, run_name="t", params=KS2_PARAMS)
    assert [(r.column, r.unexpected_count) for r in outcome.critical_failures] == [
        ("read_score", 2)
    ]
    root = outcome.root_failure()
    assert root is outcome.critical_failures[0]
    assert root.headline() == (
        "2.00% of rows checked fail [KS2 scaled score 80-120] on read_score (2 of 100; "
        "blocks above 1%)"
    )
    df.loc[df.index[50:60], "read_score"] = None  # absent pupils have no score to check
    outcome = validate_records(df, "ks2", gx_dir=gx_dir, run_name="t", params=KS2_PARAMS)
    assert outcome.root_failure().headline() == (
        "2.22% of rows checked fail [KS2 scaled score 80-120] on read_score (2 of 90; "
        "blocks above 1%)"
    )
    text = outcome.describe()
    assert "blocks above 1% failing" in text
    assert text.count("[KS2 scaled score 80-120]") == 1  # not said again by its warning


def test_a_structural_failure_is_the_root_before_a_larger_share_of_row_failures(
    gx_dir: Path,
) -> None:
    df = ks2_frame(100)
    df["read_score"] = df["read_score"].astype("Int64")
    df.loc[df.index[:30], "read_score"] = 200
    df.loc[df.index[1], "record_key"] = df.loc[df.index[0], "record_key"]
    outcome = validate_records(df, "ks2", gx_dir=gx_dir, run_name="t", params=KS2_PARAMS)
    assert {r.column for r in outcome.critical_failures} == {"record_key", "read_score"}
    assert outcome.root_failure().headline() == (
        "[record_key unique] failed on record_key: 2 of 100 rows"
    )
    empty = validate_records(df.iloc[:0], "ks2", gx_dir=gx_dir, run_name="t", params=KS2_PARAMS)
    assert empty.root_failure().headline() == "[partition not empty] the partition has no records"


def test_upn_usable_share_warns_below_97_percent(gx_dir: Path) -> None:
    df = census_frame(100)
    df.loc[df.index[:2], "upn_status"] = "bad_check"
    assert not _failed(_census(df, gx_dir), "upn_status")
    df.loc[df.index[:4], "upn_status"] = "missing"
    (warning,) = _failed(_census(df, gx_dir), "upn_status")
    assert warning.unexpected_count == 4 and warning.rule.startswith("census 1500")


def test_a_code_added_to_codes_yml_is_accepted_without_editing_json(
    gx_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = census_frame(20)
    df.loc[df.index[:5], "ethnicity"] = "WXYZ"
    assert _failed(_census(df, gx_dir), "ethnicity")
    raw = copy.deepcopy(core.codes._raw())
    raw["ethnicity"]["codes"]["WXYZ"] = "A new code"
    monkeypatch.setattr(core.codes, "_raw", lambda: raw)
    assert not _failed(_census(df, gx_dir), "ethnicity")


def test_results_are_kept_per_run(gx_dir: Path) -> None:
    runs = gx_dir / "uncommitted" / "validations" / "school_census"
    before = set(runs.rglob("*.json")) if runs.exists() else set()
    first = _census(census_frame(10), gx_dir, run="history")
    second = _census(census_frame(10), gx_dir, run="history")
    new = set(runs.rglob("*.json")) - before
    assert len(new) == 2  # same run name, two results: history, not overwritten
    assert first.run_time != second.run_time
    stored = json.loads(sorted(new)[0].read_text())
    assert stored["meta"]["run_id"]["run_name"] == "history"
    used = {
        r["expectation_config"]["kwargs"]["column"]: r["expectation_config"]["kwargs"]["value_set"]
        for r in stored["results"]
        if r["expectation_config"]["kwargs"].get("column") in ("academic_year", "census_term")
        and "value_set" in r["expectation_config"]["kwargs"]
    }
    assert used == {"academic_year": ["2023/24"], "census_term": ["autumn"]}  # run-time values kept


def test_data_docs_show_the_suites_and_results(gx_dir: Path) -> None:
    _census(census_frame(10), gx_dir, run="docs")
    index = build_data_docs(gx_dir)
    assert index.name == "index.html" and index.is_file()
    site = index.parent
    assert "school_census" in index.read_text()
    assert (site / "expectations" / "school_census.html").is_file()
    assert list((site / "validations" / "school_census").rglob("*.html"))


def test_outcome_is_json_safe(gx_dir: Path) -> None:
    df = census_frame(10)
    df.loc[df.index[0], "dob"] = None
    data = _census(df, gx_dir).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["success"] is False
    assert data["critical_failures"][0]["column"] == "dob"


def test_missing_params_and_columns_are_refused(gx_dir: Path) -> None:
    with pytest.raises(MissingParamsError, match="term"):
        validate_records(
            census_frame(5),
            "school_census",
            gx_dir=gx_dir,
            run_name="t",
            params={"academic_year": "2023/24"},
        )
    with pytest.raises(MissingColumnsError, match="dob"):
        _census(census_frame(5).drop(columns=["dob"]), gx_dir)


def test_read_records_reads_only_the_suite_columns(gx_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from expectations.suite_spec import load_suite

    table = census_table(50)
    pq.write_table(table, tmp_path / "records.parquet")
    records = read_records(tmp_path / "records.parquet", "school_census")
    assert records.column_names == load_suite("school_census").columns
    assert "surname" not in records.column_names and records.num_rows == 50
    assert _census(records, gx_dir).results == _census(table, gx_dir).results
    kinds = {f.name: pa.types.is_dictionary(f.type) for f in records.schema}
    assert kinds["ethnicity"] and kinds["language"] and kinds["sex"]  # code columns
    assert not kinds["record_key"] and not kinds["upn"] and not kinds["uln"]  # unique, condition
    pq.write_table(table.drop(["dob"]), tmp_path / "records.parquet")
    with pytest.raises(MissingColumnsError, match="dob"):
        _census(read_records(tmp_path / "records.parquet", "school_census"), gx_dir)


def test_dictionary_read_code_columns_count_the_same_faults(gx_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = census_table(300)
    codes = {
        "ethnicity": ("ZZZZ", range(0, 5)),
        "language": ("??", range(3, 9)),
        "sex": (None, range(10, 12)),
        "primary_sen_type": (None, range(0, 300, 3)),
        "secondary_sen_type": ("XX", range(20, 23)),
        "enrol_status": ("Q", range(40, 47)),
    }
    for column, (value, rows) in codes.items():
        values = table[column].to_pylist()
        for i in rows:
            values[i] = value
        table = table.set_column(
            table.schema.get_field_index(column), column, pa.array(values, pa.string())
        )
    pq.write_table(table, tmp_path / "records.parquet")
    records = read_records(tmp_path / "records.parquet", "school_census")
    assert pa.types.is_dictionary(records.schema.field("ethnicity").type)
    read, plain = _census(records, gx_dir), _census(table, gx_dir)
    assert read.results == plain.results
    assert {r.column for r in read.results if r.unexpected_count} >= set(codes) - {
        "primary_sen_type"  # nulls are not unexpected in a value-set check
    }


def test_an_empty_batch_blocks(gx_dir: Path) -> None:
    outcome = _census(census_frame(5).iloc[:0], gx_dir)
    assert not outcome.success
    assert outcome.critical_failures[0].expectation_type == "expect_table_row_count_to_be_between"


def _validate_in_child(gx_dir: Path, suite: str, barrier: Any, errors: Any) -> None:
    try:
        frame, params = (
            (census_frame(20), PARAMS)
            if suite == "school_census"
            else (
                ks2_frame(20),
                KS2_PARAMS,
            )
        )
        barrier.wait()
        validate_records(frame, suite, gx_dir=gx_dir, run_name="parallel", params=params)
    except Exception as err:  # reported to the parent
        errors.put(f"{suite}: {type(err).__name__}: {err}")


def test_parallel_processes_share_one_gx_dir(tmp_path: Path) -> None:
    """Airflow validates partitions in parallel: first-time setup must not lose registrations."""
    gx_dir = tmp_path / "gx"
    ctx = multiprocessing.get_context("fork")  # children reuse the imported GX (seconds saved)
    barrier, errors = ctx.Barrier(4), ctx.Queue()
    suites = ["school_census", "ks2", "school_census", "ks2"]
    children = [
        ctx.Process(target=_validate_in_child, args=(gx_dir, s, barrier, errors)) for s in suites
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert errors.empty(), errors.get()
    assert [c.exitcode for c in children] == [0, 0, 0, 0]
    for suite in ("school_census", "ks2"):
        stored = list((gx_dir / "uncommitted" / "validations" / suite).rglob("*.json"))
        assert len(stored) == 2
        params = PARAMS if suite == "school_census" else KS2_PARAMS
        frame = census_frame(5) if suite == "school_census" else ks2_frame(5)
        assert validate_records(
            frame, suite, gx_dir=gx_dir, run_name="after", params=params
        ).success
