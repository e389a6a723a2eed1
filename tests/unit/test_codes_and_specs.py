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


def test_legacy_codings_know_their_years_from_the_spec() -> None:
    """A field's `legacy:` coding: the last year its schema used it comes from the changes,
    the year it is read in from for_year; it is accepted up to `until`."""
    (sex,) = load_spec("cin_census").for_year("2025/26").tables["child"].field("sex").legacy
    assert (sex.source, sex.harmonise, sex.looks_like.label) == (
        "GenderCurrent",
        "sex:cin_gender_current",
        "2023/24",
    )
    assert sex.accepted and sex.until.label == "2025/26"
    assert load_spec("cin_census").for_year("2023/24").tables["child"].field("sex").legacy == ()
    (old,) = load_spec("ssda903").for_year("2024/25").tables["header"].field("SEX").legacy
    assert (old.harmonise, old.looks_like.label, old.year.label) == (
        "sex:ssda903_numeric",
        "2023/24",
        "2024/25",
    )


@pytest.mark.parametrize(
    ("legacy", "words"),
    [
        ("sex:ssda903_numeric", "each entry is a mapping"),
        ([{"harmonise": "sex:ssda903_numeric", "until": "2025/26", "typo": 1}], "mapping of"),
        ([{"until": "2025/26", "note": "n"}], "harmonise mapping, its source, or both"),
        ([{"harmonise": "sex:ssda903_numeric", "until": "2025/26"}], "a note"),
        ([{"harmonise": "sex:ssda903_numeric", "until": "soon", "note": "n"}], "academic year"),
        ([{"harmonise": "sex:nope", "until": "2025/26", "note": "n"}], "no mapping named"),
        ([{"harmonise": "sex:letters", "until": "2025/26", "note": "n"}], "the field's own"),
        ([{"source": "SEX", "until": "2025/26", "note": "n"}], "the field's own name"),
    ],
)
def test_a_malformed_legacy_coding_is_a_spec_error(legacy, words: str) -> None:
    from ingest.spec import _field

    attrs = {"type": "code", "harmonise": "sex:letters", "legacy": legacy}
    with pytest.raises(SpecError, match=words):
        _field("SEX", attrs)


def test_a_legacy_coding_ending_before_it_was_replaced_is_a_spec_error() -> None:
    import dataclasses

    spec = load_spec("ssda903")
    changes = tuple(
        dataclasses.replace(
            c,
            update={
                k: {**v, "legacy": [{**x, "until": "2023/24"} for x in v["legacy"]]}
                if "legacy" in v
                else v
                for k, v in c.update.items()
            },
        )
        for c in spec.changes
    )
    with pytest.raises(SpecError, match="no later than 2023/24"):
        dataclasses.replace(spec, changes=changes).for_year("2024/25")
