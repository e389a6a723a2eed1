"""UPN and ULN checks: the worked examples in FEEDS.md, and the three forms agreeing."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.identifiers import (
    CHECK_TABLE,
    UpnStatus,
    classify_upn,
    is_valid_uln,
    make_temporary_upns,
    make_ulns,
    make_upns,
    sql_uln_valid,
    sql_upn_status,
    uln_check_digit,
    upn_check_letter,
)


@pytest.mark.parametrize(
    ("body", "letter"),
    [("801200005001", "B"), ("207000016049", "P"), ("80120000500A", "M")],
)
def test_worked_examples_of_the_check_letter(body: str, letter: str) -> None:
    assert upn_check_letter(body) == letter


def test_the_published_erratum_is_not_repeated() -> None:
    # One published example says B207000016049 sums to 267 and Q; the correct letter is P.
    assert classify_upn("Q207000016049") is UpnStatus.BAD_CHECK
    assert classify_upn("P207000016049") is UpnStatus.VALID


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("B801200005001", UpnStatus.VALID),
        (" b801200005001 ", UpnStatus.VALID),
        ("M80120000500A", UpnStatus.TEMPORARY),
        (None, UpnStatus.MISSING),
        ("", UpnStatus.MISSING),
        ("UN3", UpnStatus.UNKNOWN_CODE),
        ("UN10", UpnStatus.UNKNOWN_CODE),
        ("B8012000050", UpnStatus.BAD_FORMAT),
        ("I801200005001", UpnStatus.BAD_FORMAT),  # I is never a check letter
        ("B80120000500I", UpnStatus.BAD_FORMAT),
        ("A000000000000", UpnStatus.BAD_LA),  # 000 is not an LA code (1530)
        ("C801200005001", UpnStatus.BAD_CHECK),
    ],
)
def test_classify_upn(value: str | None, status: UpnStatus) -> None:
    assert classify_upn(value) is status


@pytest.mark.parametrize(
    ("uln", "valid"),
    [
        ("9276308686", True),
        ("1000000043", True),
        ("1234567899", True),
        ("1000000063", False),
        ("9999999999", False),
        ("0276308686", False),
        ("927630868", False),
        (None, False),
    ],
)
def test_uln_worked_examples(uln: str | None, valid: bool) -> None:
    assert is_valid_uln(uln) is valid


def test_uln_with_remainder_zero_has_no_valid_check_digit() -> None:
    assert uln_check_digit("100000006") is None


bodies = st.tuples(
    st.sampled_from([202, 204, 330, 352, 383, 886, 908, 926]),
    st.integers(0, 9999),
    st.integers(0, 99),
    st.integers(0, 999),
)


@given(bodies)
def test_minted_upns_are_valid_and_one_changed_letter_is_caught(
    parts: tuple[int, int, int, int],
) -> None:
    la, estab, year, serial = parts
    upn = str(make_upns(np.array([la]), np.array([estab]), np.array([year]), np.array([serial]))[0])
    assert classify_upn(upn) is UpnStatus.VALID
    wrong = next(c for c in CHECK_TABLE if c != upn[0])
    assert classify_upn(wrong + upn[1:]) is UpnStatus.BAD_CHECK


@given(bodies, st.integers(0, len(CHECK_TABLE) - 1))
def test_minted_temporary_upns_are_temporary(parts: tuple[int, int, int, int], letter: int) -> None:
    la, estab, year, serial = parts
    upn = str(
        make_temporary_upns(
            np.array([la]),
            np.array([estab]),
            np.array([year]),
            np.array([serial % 100]),
            np.array([letter]),
        )[0]
    )
    assert classify_upn(upn) is UpnStatus.TEMPORARY


@given(st.integers(100_000_000, 999_999_999))
def test_minted_ulns_agree_with_the_scalar_check(first_nine: int) -> None:
    uln = str(make_ulns(np.array([first_nine]))[0])
    if uln:
        assert is_valid_uln(uln)
    else:
        assert uln_check_digit(str(first_nine)) is None


upn_like = st.one_of(
    st.text(alphabet="ABCDEFGHJKLMNPQRTUVWXYZIOS0123456789 ", min_size=0, max_size=15),
    st.builds(
        lambda a, b: a + b,
        st.sampled_from(list(CHECK_TABLE)),
        st.text("0123456789", min_size=12, max_size=12),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(upn_like, min_size=1, max_size=30))
def test_sql_upn_status_agrees_with_python(values: list[str]) -> None:
    con = duckdb.connect()
    normalised = [v.strip().upper() or None for v in values]
    rows = con.execute(
        f"SELECT {sql_upn_status('u')} FROM (SELECT unnest(?::VARCHAR[]) AS u)", [normalised]
    ).fetchall()
    assert [r[0] for r in rows] == [classify_upn(v).value for v in normalised]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("0123456789", min_size=0, max_size=11), min_size=1, max_size=30))
def test_sql_uln_check_agrees_with_python(values: list[str]) -> None:
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT {sql_uln_valid('u')} FROM (SELECT unnest(?::VARCHAR[]) AS u)", [values]
    ).fetchall()
    assert [bool(r[0]) for r in rows] == [is_valid_uln(v) for v in values]
