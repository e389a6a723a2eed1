"""Code lists render the same as Python and SQL; feed specs apply their dated changes."""

from __future__ import annotations

import duckdb
import pytest

from core.codes import codelist, is_valid_la_code, mapping, sql_case, sql_la_code_valid
from ingest.spec import SpecError, load_spec


def test_sex_schemes_harmonise_every_source_to_m_f_u() -> None:
    harmonised = set(codelist("sex").codes)
    for scheme in ("letters", "ssda903_numeric", "cin_gender_current"):
        assert set(mapping(f"sex:{scheme}").values()) <= harmonised
    assert mapping("sex:cin_gender_current") == {"1": "M", "2": "F", "0": "U", "9": "U"}


def test_extended_ethnicity_codes_fold_into_main_codes() -> None:
    main = mapping("ethnicity_main")
    assert (main["WENG"], main["BSOM"], main["AMPK"], main["WBRI"]) == (
        "WBRI",
        "BAFR",
        "APKN",
        "WBRI",
    )
    assert codelist("ethnicity").is_valid("WENG")
    assert not codelist("ethnicity").is_valid("XXXX")


def test_sql_case_matches_the_python_mapping() -> None:
    con = duckdb.connect()
    m = mapping("ethnicity_main")
    values = [*m, "XXXX", None]
    got = con.execute(
        f"SELECT {sql_case(m, 'v')} FROM (SELECT unnest(?::VARCHAR[]) AS v)", [values]
    ).fetchall()
    assert [g[0] for g in got] == [m.get(v) if v else None for v in values]


def test_sql_validity_of_pattern_lists() -> None:
    con = duckdb.connect()
    lang = codelist("language")
    got = con.execute(
        f"SELECT {lang.sql_valid('v')} FROM (SELECT unnest(['ENG','PNJA','e1','TOOLONG']) AS v)"
    ).fetchall()
    assert [g[0] for g in got] == [True, True, False, False]


def test_census_schema_renames_gender_to_sex_from_2024_25() -> None:
    spec = load_spec("school_census")
    before = {f.source for f in spec.for_year("2023/24").tables["pupilonroll"].fields}
    after = {f.source for f in spec.for_year("2024/25").tables["pupilonroll"].fields}
    assert "gender" in before and "sex" not in before
    assert "sex" in after and "gender" not in after
    staged = spec.for_year("2023/24").tables["pupilonroll"].field("gender")
    assert staged.name == "sex"


def test_unknown_feed_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match="no feed specification for 'nope'"):
        load_spec("nope")


def test_every_code_list_has_short_codes_and_no_stray_meanings() -> None:
    from core.codes import _raw

    for name, entry in _raw().items():
        if isinstance(entry, dict) and "codes" in entry:
            for code in entry["codes"]:
                assert len(str(code)) <= 16, (name, code)  # a meaning parsed as a code is longer


def test_la_code_check_in_sql_agrees_with_python_for_every_code() -> None:
    con = duckdb.connect()
    got = con.execute(
        f"SELECT c, {sql_la_code_valid('c')} FROM range(-5, 1100) t(c) ORDER BY c"
    ).fetchall()
    assert [ok for _, ok in got] == [is_valid_la_code(c) for c, _ in got]
    assert sum(ok for _, ok in got) > 150  # the real LA codes are there, not an empty mask
