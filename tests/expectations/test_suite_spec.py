"""Suites as data: meta on every expectation, references resolved from the one source."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

import core.codes
from core.codes import codelist, is_valid_la_code
from core.feeds import FEEDS
from expectations.references import SuiteReferenceError
from expectations.suite_spec import (
    SuiteSpecError,
    build_spec,
    load_suite,
    load_suite_json,
    suite_names,
)
from linkage.identifiers import UpnStatus

SUITES = sorted(feed.suite for feed in FEEDS.values())


def _walk(value: Any, key: str | None = None):
    """Yield (key, value) for every object or value nested in a suite document."""
    if isinstance(value, dict):
        yield key, value
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)


def _resolved_pairs(name: str, ref: str):
    """(argument, resolved value) for each kwarg written as {ref: argument} in the suite."""
    raw = load_suite_json(name)
    written = [e for e in load_suite(name).expectations if not e.derived]
    for item, built in zip(raw["expectations"], written, strict=True):
        for key, value in item["kwargs"].items():
            if isinstance(value, dict) and ref in value:
                yield value[ref], built.kwargs[key]


def test_suite_files_are_the_feeds() -> None:
    assert suite_names() == SUITES


@pytest.mark.parametrize("name", SUITES)
def test_every_expectation_has_severity_rule_and_why(name: str) -> None:
    spec = load_suite(name)
    assert spec.name == name
    for exp in spec.expectations:
        assert exp.meta["severity"] in ("critical", "warning")
        assert exp.meta["rule"] and exp.meta["why"]
    assert {e.severity for e in spec.expectations} == {"critical", "warning"}


@pytest.mark.parametrize("name", SUITES)
def test_every_type_is_a_gx_expectation_class(name: str) -> None:
    from expectations.gx_suite import to_gx_suite

    suite = to_gx_suite(load_suite(name))
    spec = load_suite(name)
    assert all(type(e).__name__.startswith("Expect") for e in suite.expectations)
    for gx_exp, exp in zip(suite.expectations, spec.expectations, strict=True):
        assert gx_exp.expectation_type == exp.type
        assert gx_exp.severity.value == exp.severity
        assert gx_exp.meta == exp.meta


@pytest.mark.parametrize("name", SUITES)
def test_codelist_references_resolve_to_exactly_the_codes_yml_values(name: str) -> None:
    pairs = list(_resolved_pairs(name, "$codelist"))
    assert pairs
    for list_name, resolved in pairs:
        assert resolved == codelist(list_name).values


# Critical checks that block on any failure: the partition's own stamps and keys, and the
# identity of a return (the LA a CIN or 903 return came from, an ILR provider). Anything
# else critical is about rows and blocks only above its threshold (docs/validation-policy.md).
STRUCTURAL_COLUMNS = {
    "record_key",
    "academic_year",
    "census_term",
    "acad_year",
    "rule_header_collection_year",
}
RETURN_IDENTITY = {"cin_census": {"la_code"}, "ssda903": {"la_code"}, "ilr": {"ukprn"}}


@pytest.mark.parametrize("name", SUITES)
def test_every_critical_expectation_is_structural_or_has_a_threshold(name: str) -> None:
    for exp in load_suite(name).expectations:
        if exp.severity != "critical":
            continue
        if exp.structural:
            unique = exp.type.endswith("_to_be_unique")
            allowed = STRUCTURAL_COLUMNS | RETURN_IDENTITY.get(name, set())
            assert exp.type.startswith("expect_table_") or unique or set(exp.columns) <= allowed, (
                f"{name}: [{exp.rule}] is about rows: give it a threshold (mostly)"
            )
        else:
            # 1% for a rule every return should meet, 5% for known-noisy items: no looser
            assert exp.mostly in (0.99, 0.95), (name, exp.rule, exp.mostly)


@pytest.mark.parametrize("name", SUITES)
def test_rows_failing_a_critical_rule_below_its_threshold_are_counted_by_a_warning(
    name: str,
) -> None:
    spec = load_suite(name)
    warnings = [e for e in spec.expectations if e.severity == "warning"]
    for exp in spec.expectations:
        if exp.severity == "critical" and exp.mostly is not None:
            twins = [w for w in warnings if w.check == exp.check]
            assert len(twins) == 1, (name, exp.rule)
            (twin,) = twins
            assert twin.derived or twin.mostly is None or twin.mostly > exp.mostly
            if twin.derived:
                assert twin.rule == exp.rule and "mostly" not in twin.kwargs
                assert spec.expectations.index(twin) == spec.expectations.index(exp) + 1


def test_a_critical_rule_with_a_stated_warning_gets_no_derived_one() -> None:
    check = {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "a", "value_set": [True]},
    }
    critical = {
        **check,
        "kwargs": {**check["kwargs"], "mostly": 0.95},
        "meta": {"severity": "critical", "rule": "r", "why": "w"},
    }
    derived = build_spec(_doc(critical)).expectations
    assert [(e.severity, e.derived, e.mostly) for e in derived] == [
        ("critical", False, 0.95),
        ("warning", True, None),
    ]
    assert "no more than 5% fail" in derived[1].meta["why"]
    stated = build_spec(_doc(critical, {**check, "meta": META})).expectations
    assert [(e.severity, e.derived) for e in stated] == [("critical", False), ("warning", False)]


def test_sex_is_checked_against_the_harmonised_list() -> None:
    for name in SUITES:
        sex = next(
            e
            for e in load_suite(name).expectations
            if e.kwargs.get("column") == "sex" and "value_set" in e.kwargs
        )
        assert sex.kwargs["value_set"] == codelist("sex").values
        assert sex.severity == "critical"


def test_language_regex_accepts_what_the_code_list_accepts() -> None:
    pairs = list(_resolved_pairs("school_census", "$pattern"))
    assert [name for name, _ in pairs] == ["language"]
    regex = re.compile(pairs[0][1])
    lang = codelist("language")
    for value in [*lang.values, "POL", "URDU", "english", "E1", "ENGLISH", "", "EN G"]:
        assert bool(regex.search(value)) == lang.is_valid(value), value


def test_la_code_reference_is_every_valid_la_code() -> None:
    checked = 0
    for name in SUITES:  # every suite of a feed with an LA (the ILR's providers have none)
        for _, resolved in _resolved_pairs(name, "$la_codes"):
            assert resolved == [c for c in range(1000) if is_valid_la_code(c)]
            checked += 1
    assert checked >= len(SUITES) - 1


def test_upn_usable_reference_follows_the_identifier_checks() -> None:
    (usable,) = [v for arg, v in _resolved_pairs("school_census", "$upn_status") if arg == "usable"]
    assert usable == [s.value for s in UpnStatus if s.usable]


def test_literal_value_sets_retype_no_code_list() -> None:
    """A literal value set is booleans or a few codes drawn from a code list, never a new list."""
    known = {v for name in core.codes._raw() for v in _values_of(name)}
    for name in SUITES:
        for key, value in _walk(load_suite_json(name)["expectations"]):
            if key == "value_set" and isinstance(value, list):
                assert len(value) <= 2, (name, value)
                assert all(isinstance(v, bool) or v in known for v in value), (name, value)


def _values_of(name: str) -> list[str]:
    try:
        return codelist(name).values
    except KeyError:
        return []


def test_params_become_gx_parameters() -> None:
    census = load_suite("school_census")
    assert census.parameters == {"academic_year": "set", "term": "set"}
    assert load_suite("ks2").parameters == {"academic_year": "set"}
    year = next(
        e
        for e in census.expectations
        if e.kwargs.get("column") == "academic_year" and "value_set" in e.kwargs
    )
    assert year.kwargs["value_set"] == {"$PARAMETER": "academic_year"}


def test_a_code_added_to_codes_yml_reaches_the_suite_without_editing_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = copy.deepcopy(core.codes._raw())
    raw["ethnicity"]["codes"]["WXYZ"] = "A new code"
    monkeypatch.setattr(core.codes, "_raw", lambda: raw)
    (ethnicity,) = [v for n, v in _resolved_pairs("school_census", "$codelist") if n == "ethnicity"]
    assert "WXYZ" in ethnicity


def _doc(*expectations: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "expectations": list(expectations)}


META = {"severity": "warning", "rule": "r", "why": "w"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}, "meta needs"),
        (
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a"},
                "meta": {**META, "severity": "fatal"},
            },
            "severity must be",
        ),
        (
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "a", "value_set": {"$codelist": "no_such_list"}},
                "meta": META,
            },
            "no code list",
        ),
        (
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "a", "value_set": {"$codeList": "sex"}},
                "meta": META,
            },
            "unknown reference",
        ),
        (
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "a", "value_set": {"$upn_status": ["valid", "bogus"]}},
                "meta": META,
            },
            "unknown status",
        ),
        (
            {
                "type": "expect_column_max_to_be_between",
                "kwargs": {"column": "dob", "max_value": "2020-01-01"},
                "meta": META,
            },
            "identifying",
        ),
        (
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a"},
                "meta": {**META, "severity": "critical"},
            },
            "needs its blocking threshold",
        ),
        (
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a", "mostly": 0.99},
                "meta": {**META, "severity": "critical", "structural": True},
            },
            "structural expectation blocks on any failure",
        ),
        (
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a", "mostly": 1},
                "meta": {**META, "severity": "critical"},
            },
            "mark it meta.structural",
        ),
        (
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a", "mostly": 99},
                "meta": {**META, "severity": "critical"},
            },
            "share between 0 and 1",
        ),
        (
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a"},
                "meta": {**META, "structural": True},
            },
            "only a critical expectation can be structural",
        ),
        (
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a"},
                "meta": {**META, "derived": True},
            },
            "set by the loader",
        ),
    ],
)
def test_malformed_suites_are_refused_with_the_expectation_named(
    item: dict[str, Any], message: str
) -> None:
    with pytest.raises(SuiteSpecError, match=message) as err:
        build_spec(_doc(item))
    assert "expectation 0" in str(err.value)


def test_reference_errors_are_value_errors() -> None:
    assert issubclass(SuiteReferenceError, ValueError)


def test_code_columns_are_only_value_set_pattern_or_null_checked() -> None:
    spec = load_suite("school_census")
    codes = spec.code_columns
    assert {"ethnicity", "language", "sex", "academic_year", "uln_valid"} <= set(codes)
    # unique, compound-unique, compared in a pair, or read by a row condition
    assert not {"record_key", "laestab", "upn", "entry_date", "uln"} & set(codes)
    assert codes == [c for c in spec.columns if c in codes]
