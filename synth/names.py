"""Drawing names with realistic frequencies, and the one-character typos returns contain.

Names are stored as indices into two vocabularies (FORENAMES, SURNAMES) so a million
pupils cost a few megabytes and a file column is one `take`. The naming pool a child's
names come from depends on ethnicity (a mix, not a rule: many families of every
background choose British forenames).
"""

from __future__ import annotations

import numpy as np

from core.codes import codelist
from synth.name_lists import POOLS

# Pools mixed by main ethnicity code: (forename pool weights, surname pool weights).
_B, _SAM, _IND, _OAS = "british", "south_asian_muslim", "indian", "other_asian"
_AFR, _EUR, _CHI, _ME = "african", "european", "chinese", "middle_eastern"
NAME_MIX: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "WBRI": ({_B: 1.0}, {_B: 1.0}),
    "WIRI": ({_B: 1.0}, {_B: 1.0}),
    "WIRT": ({_B: 1.0}, {_B: 1.0}),
    "WROM": ({_EUR: 0.6, _B: 0.4}, {_EUR: 0.5, _B: 0.5}),
    "WOTH": ({_EUR: 0.75, _B: 0.25}, {_EUR: 0.85, _B: 0.15}),
    "MWBC": ({_B: 0.85, _AFR: 0.15}, {_B: 0.95, _AFR: 0.05}),
    "MWBA": ({_B: 0.6, _AFR: 0.4}, {_B: 0.6, _AFR: 0.4}),
    "MWAS": ({_B: 0.6, _SAM: 0.2, _IND: 0.2}, {_B: 0.55, _SAM: 0.25, _IND: 0.2}),
    "MOTH": (
        {_B: 0.6, _EUR: 0.15, _ME: 0.15, _AFR: 0.1},
        {_B: 0.6, _EUR: 0.15, _ME: 0.15, _AFR: 0.1},
    ),
    "AIND": ({_IND: 0.9, _B: 0.1}, {_IND: 1.0}),
    "APKN": ({_SAM: 0.97, _B: 0.03}, {_SAM: 1.0}),
    "ABAN": ({_SAM: 0.97, _B: 0.03}, {_SAM: 1.0}),
    "AOTH": ({_OAS: 0.5, _SAM: 0.2, _IND: 0.15, _B: 0.15}, {_OAS: 0.6, _SAM: 0.2, _IND: 0.2}),
    "BCRB": ({_B: 1.0}, {_B: 1.0}),
    "BAFR": ({_AFR: 0.75, _B: 0.25}, {_AFR: 1.0}),
    "BOTH": ({_AFR: 0.5, _B: 0.5}, {_B: 0.5, _AFR: 0.5}),
    "CHNE": ({_CHI: 1.0}, {_CHI: 1.0}),
    "OOTH": ({_ME: 0.85, _B: 0.15}, {_ME: 1.0}),
    "REFU": ({_B: 0.8, _EUR: 0.1, _SAM: 0.1}, {_B: 0.8, _EUR: 0.1, _SAM: 0.1}),
    "NOBT": ({_B: 0.7, _EUR: 0.15, _AFR: 0.15}, {_B: 0.7, _EUR: 0.15, _AFR: 0.15}),
}
_MAIN_ETHNICITY = codelist("ethnicity").codes
if set(NAME_MIX) != set(_MAIN_ETHNICITY):  # the code list is the authority, not this table
    raise ValueError("NAME_MIX must cover exactly the main ethnicity codes in core/codelists")

_POOL_NAMES = tuple(POOLS)


def _vocabulary(kind: str) -> tuple[np.ndarray, dict[str, tuple[int, np.ndarray]]]:
    """All pools' names of one kind in one array, with each pool's offset and Zipf CDF."""
    names: list[str] = []
    ranges: dict[str, tuple[int, np.ndarray]] = {}
    shift, power = (25.0, 1.0) if kind == "surname" else (8.0, 1.05)
    for pool in _POOL_NAMES:
        pool_names = POOLS[pool][kind]
        weights = (np.arange(len(pool_names)) + shift) ** -power
        ranges[pool] = (len(names), np.cumsum(weights) / weights.sum())
        names.extend(pool_names)
    return np.array(names), ranges


_MALE, _MALE_RANGES = _vocabulary("M")
_FEMALE, _FEMALE_RANGES = _vocabulary("F")
SURNAMES, _SURNAME_RANGES = _vocabulary("surname")
# One forename vocabulary: female names follow male ones.
FORENAMES = np.concatenate([_MALE, _FEMALE])
_FEMALE_OFFSET = len(_MALE)


def _pick_pools(rng: np.random.Generator, ethnicity: np.ndarray, which: int) -> np.ndarray:
    """Index into _POOL_NAMES per person, from the ethnicity mix (which: 0 forename, 1 surname)."""
    out = np.zeros(len(ethnicity), dtype=np.int8)
    u = rng.random(len(ethnicity))
    for code, mixes in NAME_MIX.items():
        rows = np.flatnonzero(ethnicity == code)
        if rows.size == 0:
            continue
        mix = mixes[which]
        pools = np.array([_POOL_NAMES.index(p) for p in mix], dtype=np.int8)
        cdf = np.cumsum(list(mix.values()))
        cdf /= cdf[-1]
        out[rows] = pools[np.minimum(np.searchsorted(cdf, u[rows], side="right"), len(pools) - 1)]
    return out


def _zipf_pick(
    rng: np.random.Generator, pool: np.ndarray, ranges: dict[str, tuple[int, np.ndarray]]
) -> np.ndarray:
    out = np.zeros(len(pool), dtype=np.int32)
    u = rng.random(len(pool))
    for i, name in enumerate(_POOL_NAMES):
        rows = np.flatnonzero(pool == i)
        if rows.size:
            offset, cdf = ranges[name]
            out[rows] = offset + np.minimum(
                np.searchsorted(cdf, u[rows], side="right"), len(cdf) - 1
            )
    return out


def draw_forenames(rng: np.random.Generator, sex: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Forename indices into FORENAMES for each person, from their sex and naming pool."""
    male = sex == "M"
    out = np.empty(len(sex), dtype=np.int32)
    out[male] = _zipf_pick(rng, pool[male], _MALE_RANGES)
    out[~male] = _FEMALE_OFFSET + _zipf_pick(rng, pool[~male], _FEMALE_RANGES)
    return out


def draw_names(
    rng: np.random.Generator,
    sex: np.ndarray,
    ethnicity_main: np.ndarray,
    middle_rate: float,
    second_middle_rate: float,
) -> dict[str, np.ndarray]:
    """Forename, up to two middle names (-1 for none) and surname indices per person."""
    n = len(sex)
    pool = _pick_pools(rng, ethnicity_main, 0)
    forename = draw_forenames(rng, sex, pool)
    middle = np.where(rng.random(n) < middle_rate, draw_forenames(rng, sex, pool), -1)
    again = (middle >= 0) & (middle == forename)  # nobody is called Oliver Oliver
    middle[again] = draw_forenames(rng, sex[again], pool[again])
    second = (middle >= 0) & (rng.random(n) < second_middle_rate)
    middle2 = np.where(second, draw_forenames(rng, sex, pool), -1)
    surname = _zipf_pick(rng, _pick_pools(rng, ethnicity_main, 1), _SURNAME_RANGES)
    return {"forename": forename, "middle": middle, "middle2": middle2, "surname": surname}


def draw_surnames(rng: np.random.Generator, ethnicity_main: np.ndarray) -> np.ndarray:
    """New surnames (e.g. after a legal change), from the same ethnicity mix."""
    return _zipf_pick(rng, _pick_pools(rng, ethnicity_main, 1), _SURNAME_RANGES)


_LOWER = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8).astype(np.uint32)


def one_char_edits(rng: np.random.Generator, names: np.ndarray) -> np.ndarray:
    """Each name with one keying error: substitution, deletion, transposition or doubled letter.

    Vectorised on the UTF-32 code points of a fixed-width array; every result differs from
    its input (an edit that would change nothing falls back to a substitution).
    """
    names = np.asarray(names, dtype=str)
    n = len(names)
    if n == 0:
        return names
    width = max(names.dtype.itemsize // 4, 1)
    codes = np.zeros((n, width + 1), dtype=np.uint32)
    codes[:, :width] = names.view(np.uint32).reshape(n, width)
    length = (codes != 0).sum(axis=1)
    cols = np.arange(width + 1)
    op = rng.choice(4, size=n, p=[0.4, 0.2, 0.25, 0.15])  # sub, delete, transpose, double
    op[length < 3] = 0
    pos = 1 + (rng.random(n) * np.maximum(length - 1, 1)).astype(np.int64)  # keep the initial
    pos = np.minimum(pos, np.maximum(length - 1, 0))
    tpos = np.minimum(pos, np.maximum(length - 2, 0))
    rows = np.arange(n)
    same = codes[rows, tpos] == codes[rows, np.minimum(tpos + 1, width)]
    op[(op == 2) & same] = 0
    src = np.broadcast_to(cols, (n, width + 1)).copy()
    delete = op == 1
    src[delete] = np.where(cols >= pos[delete, None], cols + 1, cols)
    double = op == 3
    src[double] = np.where(cols > pos[double, None], cols - 1, cols)
    swap = op == 2
    src[swap, tpos[swap]] = tpos[swap] + 1
    src[swap, tpos[swap] + 1] = tpos[swap]
    src = np.minimum(src, width)
    out = np.take_along_axis(codes, src, axis=1)
    out[delete, width] = 0
    sub = op == 0
    current = out[rows[sub], pos[sub]]
    letter = _LOWER[rng.integers(0, 26, size=int(sub.sum()))]
    letter = np.where(
        letter == current, np.where(letter == _LOWER[0], _LOWER[1], _LOWER[0]), letter
    )
    out[rows[sub], pos[sub]] = letter
    return np.ascontiguousarray(out).view(f"<U{width + 1}").ravel()
