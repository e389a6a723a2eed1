"""The small pieces: typos, id minting, histories, schools, the population object."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.periods import year_range
from linkage.identifiers import UpnStatus, classify_upn, is_valid_uln
from synth.history import History
from synth.ids import UpnMinter, draw_ulns, hex_ids, scramble
from synth.names import FORENAMES, SURNAMES, one_char_edits
from synth.population import build_population


def _distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (restricted), for checking one-character edits."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_typos_are_exactly_one_edit_away(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = np.concatenate(
        [FORENAMES[rng.integers(0, len(FORENAMES), 40)], SURNAMES[:10], ["Al", "O'Neill"]]
    )
    edited = one_char_edits(rng, names)
    for before, after in zip(names, edited, strict=True):
        assert _distance(str(before), str(after)) == 1, (before, after)


def test_minted_upns_are_valid_unique_and_carry_school_and_year() -> None:
    minter = UpnMinter()
    la = np.array([330] * 5 + [202] * 3)
    estab = np.array([2001] * 5 + [4123] * 3)
    first = minter.permanent(la, estab, np.full(8, 2023))
    again = minter.permanent(la[:2], estab[:2], np.full(2, 2023))
    upns = np.concatenate([first, again])
    assert len(set(upns)) == 10
    assert all(classify_upn(u) is UpnStatus.VALID for u in upns)
    assert [u[1:8] for u in first[:5]] == ["3302001"] * 5
    assert [u[8:10] for u in upns] == ["23"] * 10
    assert [u[10:] for u in first[:5]] == ["001", "002", "003", "004", "005"]
    assert [u[10:] for u in again] == ["006", "007"]
    temporary = minter.temporary(la[:3], estab[:3], np.full(3, 2024))
    assert all(classify_upn(u) is UpnStatus.TEMPORARY for u in temporary)


def test_ulns_are_valid_and_distinct() -> None:
    ulns = draw_ulns(np.random.default_rng(3), 5000)
    assert len(set(ulns)) == 5000
    assert all(is_valid_uln(u) for u in ulns[:1000])


def test_scrambled_ids_never_collide() -> None:
    counter = np.arange(200_000, dtype=np.uint64)
    ids = scramble(counter, 44, 12345)
    assert len(np.unique(ids)) == len(ids)
    text = hex_ids(ids, 11, dash_after=8)
    assert len(set(text)) == len(text) and len(text[0]) == 12


def test_history_gives_the_value_in_force() -> None:
    h = History.from_events(
        person=[np.array([0, 1, 1, 2])],
        period=[np.array([0, 0, 3, 2])],
        value=[np.array(["a", "b", "c", "d"])],
        kind=[np.array([0, 0, 1, 0])],
    )
    idx = h.index_at(np.array([0, 1, 1, 2, 2, 5]), np.array([4, 2, 3, 1, 2, 0]))
    assert list(idx) == [0, 1, 2, -1, 3, -1]
    assert list(h.previous(idx[:3])) == [-1, -1, 1]


def test_population_exposes_what_later_feeds_need() -> None:
    years = year_range("2022/23", "2023/24")
    pop = build_population(1500, 4, years, las=[202, 886])
    n, periods = pop.n_persons, len(pop.periods)
    assert (
        pop.school.shape == (periods, n)
        and pop.entry_day.shape == (periods, n)
        and pop.fsm.shape == (periods, n)
    )
    assert len(pop.on_roll(0)) == 1500
    assert set(np.unique(pop.schools.la)) == {202, 886}
    for name in (
        "sex",
        "dob",
        "ability",
        "disadvantage",
        "sen_provision",
        "uln",
        "ethnicity",
        "language",
    ):
        assert len(getattr(pop, name)) == n, name
    assert (pop.school[pop.first_period, pop.person_id] >= 0).all()  # on roll when first seen
    assert ((pop.school >= 0).sum(axis=0) > 0).all()
    # Y11 leavers are still people: later feeds (FE, KS4) can follow them by person_id and ULN.
    left = (pop.school[2] >= 0) & (pop.school[3] < 0) & (pop.nc_year(2) == 11)
    assert left.sum() > 0 and all(is_valid_uln(u) for u in pop.uln[left][:50])
