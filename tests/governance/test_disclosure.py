"""Disclosure control: small counts hidden, and never recoverable from the totals."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.disclosure import TOTAL, DisclosurePolicy, protect, recoverable


def _cells(rows: dict[tuple[str, str], int]) -> pd.DataFrame:
    return pd.DataFrame([{"la": la, "sex": sex, "n": n} for (la, sex), n in rows.items()])


def _value(table: pd.DataFrame, la: str, sex: str):
    row = table[(table.la == la) & (table.sex == sex)].iloc[0]
    return row["n"], row["suppressed"], row["display"]


def test_naive_suppression_would_be_undone_by_the_totals_but_this_is_not() -> None:
    cells = _cells({("202", "F"): 20, ("202", "M"): 3, ("330", "F"): 30, ("330", "M"): 15})
    out = protect(cells, "n", ["la", "sex"], DisclosurePolicy(threshold=10))
    # Hiding only the 3 would leave it as (202 total 23) - (202 F 20).
    assert _value(out, "202", TOTAL)[0] == 23
    assert _value(out, "202", "M")[1:] == ("primary", "c")
    assert _value(out, "202", "F")[1] == "secondary"
    hidden = out["suppressed"].notna().to_numpy()
    assert recoverable(out, ["la", "sex"], hidden) == []
    # the published totals are true totals, and every hidden entry shows the symbol
    assert _value(out, TOTAL, TOTAL)[0] == 68
    assert set(out.loc[out.suppressed.notna(), "display"]) == {"c"}


def test_nothing_small_nothing_hidden_and_zeros_published() -> None:
    cells = _cells({("202", "F"): 0, ("202", "M"): 12, ("330", "F"): 30, ("330", "M"): 15})
    out = protect(cells, "n", ["la", "sex"], DisclosurePolicy(threshold=10))
    assert out["suppressed"].isna().all()
    assert _value(out, "202", "F")[0] == 0


def test_rounding_applies_to_published_counts_only() -> None:
    cells = _cells(
        {
            ("202", "F"): 23,
            ("202", "M"): 4,
            ("330", "F"): 36,
            ("330", "M"): 15,
            ("352", "F"): 44,
            ("352", "M"): 51,
        }
    )
    out = protect(cells, "n", ["la", "sex"], DisclosurePolicy(threshold=5, rounding_base=10))
    assert _value(out, "202", "M")[2] == "c"
    published = out[out.suppressed.isna()]
    assert (published["n"] % 10 == 0).all()
    assert _value(out, "352", "F")[0] == 40 and _value(out, "352", "M")[0] == 50
    assert _value(out, TOTAL, TOTAL)[0] == 170  # 173 rounded


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        DisclosurePolicy(threshold=0)
    with pytest.raises(ValueError):
        DisclosurePolicy(rounding_base=0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 5),
    st.integers(2, 4),
    st.integers(1, 3),
    st.lists(st.integers(0, 40), min_size=60, max_size=60),
)
def test_no_hidden_count_is_ever_recoverable(
    n_la: int, n_sex: int, n_year: int, counts: list[int]
) -> None:
    keys = list(
        itertools.product(
            [f"L{i}" for i in range(n_la)],
            [f"S{i}" for i in range(n_sex)],
            [f"Y{i}" for i in range(n_year)],
        )
    )
    cells = pd.DataFrame(
        [
            {"la": a, "sex": b, "year": c, "n": counts[i % len(counts)]}
            for i, (a, b, c) in enumerate(keys)
        ]
    )
    dims = ["la", "sex", "year"]
    out = protect(cells, "n", dims, DisclosurePolicy(threshold=10))
    hidden = out["suppressed"].notna().to_numpy()
    raw = out["n"].isna().to_numpy()
    assert np.array_equal(hidden, raw)
    assert recoverable(out, dims, hidden) == []
    small = (cells["n"] > 0) & (cells["n"] < 10)
    assert out.loc[out.suppressed == "primary"].shape[0] >= int(small.sum())
