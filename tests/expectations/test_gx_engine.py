"""NarrowPandasExecutionEngine: the same records and results as GX's own pandas engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from great_expectations.datasource.fluent.pandas_datasource import PandasDatasource
from great_expectations.execution_engine import PandasExecutionEngine
from staged_frames import KS2_PARAMS, PARAMS, census_frame, ks2_frame

from expectations.gx_engine import NarrowPandasExecutionEngine, domain_columns
from expectations.runner import validate_records

NOT_NULL_B = {"type": "nullity", "column": {"name": "b"}, "is_null": False}
C_IS_X = {"type": "comparison", "column": {"name": "c"}, "operator": "==", "parameter": "x"}
B_AND_C = {"type": "and", "conditions": [NOT_NULL_B, C_IS_X]}
B_OR_C = {"type": "or", "conditions": [NOT_NULL_B, C_IS_X]}

DOMAINS: list[dict[str, Any]] = [
    {"column": "a"},
    {"column": "a", "row_condition": NOT_NULL_B},
    {"column": "a", "row_condition": C_IS_X},
    {"column": "a", "row_condition": B_AND_C},
    {"column": "a", "row_condition": B_OR_C},
    *(
        {"column_A": "a", "column_B": "b", "ignore_row_if": how}
        for how in ("both_values_are_missing", "either_value_is_missing", "neither")
    ),
    {"column_A": "a", "column_B": "b"},
    {"column_A": "a", "column_B": "b", "ignore_row_if": "neither", "row_condition": C_IS_X},
    *(
        {"column_list": ["a", "b", "d"], "ignore_row_if": how}
        for how in ("all_values_are_missing", "any_value_is_missing", "never")
    ),
    {"column_list": ["a", "d"], "ignore_row_if": "any_value_is_missing", "row_condition": B_OR_C},
]


def _frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)

    def holes(values: np.ndarray, p: float) -> pd.Series:
        return pd.Series(values).mask(rng.random(n) < p)

    return pd.DataFrame(
        {
            "a": holes(rng.integers(0, 9, n).astype(float), 0.2),
            "b": holes(rng.choice(np.array(["p", "q", "r"], dtype=object), n), 0.3),
            "c": rng.choice(np.array(["x", "y"], dtype=object), n),
            "d": holes(rng.random(n), 0.1),
            "other": np.arange(n),
        },
        index=pd.RangeIndex(100, 100 + n),
    )


def _engines(frame: pd.DataFrame) -> tuple[PandasExecutionEngine, NarrowPandasExecutionEngine]:
    gx_engine, narrow = PandasExecutionEngine(), NarrowPandasExecutionEngine()
    for engine in (gx_engine, narrow):
        engine.load_batch_data("batch", frame)
    return gx_engine, narrow


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: repr(d)[:80])
def test_domain_records_are_gx_records_of_the_domain_columns(domain: dict[str, Any]) -> None:
    gx_engine, narrow = _engines(_frame())
    expected = gx_engine.get_domain_records(dict(domain))
    got = narrow.get_domain_records(dict(domain))
    assert "other" not in got.columns
    pd.testing.assert_frame_equal(got, expected[list(got.columns)])


def test_table_domains_and_query_strings_keep_the_whole_batch() -> None:
    frame = _frame()
    gx_engine, narrow = _engines(frame)
    assert domain_columns({}) is None
    for domain in ({}, {"row_condition": NOT_NULL_B}, {"column": "a", "row_condition": "b > 1"}):
        assert domain_columns(domain) is None
    pd.testing.assert_frame_equal(
        narrow.get_domain_records({"row_condition": NOT_NULL_B}),
        gx_engine.get_domain_records({"row_condition": NOT_NULL_B}),
    )
    assert list(narrow.get_domain_records({})) == list(frame.columns)


def test_an_unknown_ignore_row_if_fails_as_in_gx() -> None:
    gx_engine, narrow = _engines(_frame())
    for domain in (
        {"column_A": "a", "column_B": "b", "ignore_row_if": "any_value_is_missing"},
        {"column_list": ["a", "b"], "ignore_row_if": "either_value_is_missing"},
    ):
        with pytest.raises(ValueError, match="ignore_row_if"):
            gx_engine.get_domain_records(dict(domain))
        with pytest.raises(ValueError, match="ignore_row_if"):
            narrow.get_domain_records(dict(domain))


def test_validation_uses_the_narrow_engine() -> None:
    import expectations.gx_context  # noqa: F401  # installs the engine

    assert PandasDatasource.execution_engine_override is NarrowPandasExecutionEngine


def _faulty_census() -> pd.DataFrame:
    df = census_frame(300)
    df.loc[df.index[:5], "ethnicity"] = "ZZZZ"
    df.loc[df.index[3:9], "language"] = "??"
    df.loc[df.index[10:14], "upn"] = None
    for column in ("upn", "laestab"):  # the same pupil twice in one school's return
        df.loc[df.index[14:16], column] = df.loc[df.index[20], column]
    df.loc[df.index[30:33], "uln"] = "1234567890"
    df.loc[df.index[30:32], "uln_valid"] = False
    df.loc[df.index[40:42], "entry_date"] = pd.Timestamp("2024-01-01").date()
    df.loc[df.index[50:52], "entry_date"] = None
    df.loc[df.index[60], "record_key"] = df.loc[df.index[61], "record_key"]
    df.loc[df.index[70:73], "sex"] = "X"
    return df


@pytest.mark.parametrize(
    ("suite", "frame", "params"),
    [("school_census", _faulty_census, PARAMS), ("ks2", lambda: ks2_frame(300), KS2_PARAMS)],
)
def test_results_match_gx_own_engine(
    suite: str, frame: Any, params: dict[str, Any], gx_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = frame()
    narrow = validate_records(df, suite, gx_dir=gx_dir, run_name="narrow", params=params)
    monkeypatch.setattr(PandasDatasource, "execution_engine_override", None)
    plain = validate_records(df, suite, gx_dir=gx_dir, run_name="plain", params=params)
    assert narrow.results == plain.results
    if suite == "school_census":  # the planted faults, pair and compound domains among them
        failed = {r.column for r in narrow.results if not r.success}
        assert {"laestab,upn", "census_date,entry_date", "uln_valid", "sex"} <= failed


def test_filtered_records_are_kept_per_batch_and_copied_out() -> None:
    _, narrow = _engines(_frame())
    domain = {"column": "a", "row_condition": NOT_NULL_B}
    first = narrow.get_domain_records(dict(domain))
    first["a"] = -1.0  # a metric changing its records changes nothing kept
    again = narrow.get_domain_records(dict(domain))
    assert again is not first and not (again["a"] == -1.0).any()
    other = _frame().assign(b=None)  # the next batch under the same id: every b missing
    narrow.load_batch_data("batch", other)
    assert narrow.get_domain_records(dict(domain)).empty


def test_result_format_reads_nothing_outside_a_domain() -> None:
    from expectations.privacy import RESULT_FORMAT

    assert RESULT_FORMAT["result_format"] in ("BOOLEAN_ONLY", "BASIC")
    assert not RESULT_FORMAT.get("include_unexpected_rows")
    assert not RESULT_FORMAT.get("unexpected_index_column_names")
