"""Ethnicity by LA, extended codes, and first language correlated with ethnicity.

Shares are rough state-school figures (England about 64% White British; inner London,
Birmingham and Manchester far more diverse). Codes are checked against core/codelists,
which stays the authority; extended codes are drawn from its lists.
"""

from __future__ import annotations

import numpy as np

from core.codes import codelist, mapping

_ETH = codelist("ethnicity")
MAIN_CODES: tuple[str, ...] = tuple(_ETH.codes)

# Shares of main codes per profile (normalised on use; missing codes have weight 0).
PROFILES: dict[str, dict[str, float]] = {
    "england": {
        "WBRI": 0.64, "WIRI": 0.002, "WIRT": 0.001, "WROM": 0.003, "WOTH": 0.076, "MWBC": 0.016,
        "MWBA": 0.010, "MWAS": 0.019, "MOTH": 0.022, "AIND": 0.036, "APKN": 0.047,
        "ABAN": 0.019, "AOTH": 0.021, "BAFR": 0.042, "BCRB": 0.010, "BOTH": 0.008,
        "CHNE": 0.005, "OOTH": 0.021, "REFU": 0.005, "NOBT": 0.003,
    },
    "camden": {
        "WBRI": 0.26, "WIRI": 0.006, "WIRT": 0.002, "WROM": 0.003, "WOTH": 0.16, "MWBC": 0.03,
        "MWBA": 0.025, "MWAS": 0.03, "MOTH": 0.06, "AIND": 0.02, "APKN": 0.008, "ABAN": 0.12,
        "AOTH": 0.025, "BAFR": 0.11, "BCRB": 0.03, "BOTH": 0.02, "CHNE": 0.012, "OOTH": 0.07,
        "REFU": 0.01, "NOBT": 0.005,
    },
    "hackney": {
        "WBRI": 0.22, "WIRI": 0.005, "WIRT": 0.003, "WROM": 0.006, "WOTH": 0.21, "MWBC": 0.045,
        "MWBA": 0.025, "MWAS": 0.02, "MOTH": 0.06, "AIND": 0.015, "APKN": 0.01, "ABAN": 0.02,
        "AOTH": 0.02, "BAFR": 0.13, "BCRB": 0.08, "BOTH": 0.035, "CHNE": 0.008, "OOTH": 0.07,
        "REFU": 0.01, "NOBT": 0.005,
    },
    "inner_london": {
        "WBRI": 0.24, "WIRI": 0.005, "WIRT": 0.002, "WROM": 0.004, "WOTH": 0.15, "MWBC": 0.04,
        "MWBA": 0.025, "MWAS": 0.025, "MOTH": 0.06, "AIND": 0.02, "APKN": 0.01, "ABAN": 0.06,
        "AOTH": 0.025, "BAFR": 0.15, "BCRB": 0.06, "BOTH": 0.03, "CHNE": 0.01, "OOTH": 0.06,
        "REFU": 0.01, "NOBT": 0.005,
    },
    "tower_hamlets": {
        "WBRI": 0.12, "WIRI": 0.002, "WIRT": 0.001, "WROM": 0.003, "WOTH": 0.06, "MWBC": 0.015,
        "MWBA": 0.01, "MWAS": 0.015, "MOTH": 0.025, "AIND": 0.01, "APKN": 0.01, "ABAN": 0.55,
        "AOTH": 0.02, "BAFR": 0.08, "BCRB": 0.015, "BOTH": 0.01, "CHNE": 0.008, "OOTH": 0.03,
        "REFU": 0.005, "NOBT": 0.003,
    },
    "birmingham": {
        "WBRI": 0.26, "WIRI": 0.004, "WIRT": 0.002, "WROM": 0.006, "WOTH": 0.05, "MWBC": 0.045,
        "MWBA": 0.01, "MWAS": 0.015, "MOTH": 0.02, "AIND": 0.04, "APKN": 0.24, "ABAN": 0.06,
        "AOTH": 0.03, "BAFR": 0.07, "BCRB": 0.03, "BOTH": 0.02, "CHNE": 0.004, "OOTH": 0.07,
        "REFU": 0.005, "NOBT": 0.003,
    },
    "manchester": {
        "WBRI": 0.33, "WIRI": 0.004, "WIRT": 0.002, "WROM": 0.008, "WOTH": 0.06, "MWBC": 0.03,
        "MWBA": 0.02, "MWAS": 0.015, "MOTH": 0.03, "AIND": 0.015, "APKN": 0.15, "ABAN": 0.04,
        "AOTH": 0.025, "BAFR": 0.13, "BCRB": 0.02, "BOTH": 0.02, "CHNE": 0.01, "OOTH": 0.07,
        "REFU": 0.006, "NOBT": 0.004,
    },
    "bradford": {
        "WBRI": 0.36, "WIRI": 0.002, "WIRT": 0.002, "WROM": 0.01, "WOTH": 0.04, "MWBC": 0.015,
        "MWBA": 0.005, "MWAS": 0.02, "MOTH": 0.015, "AIND": 0.025, "APKN": 0.42, "ABAN": 0.03,
        "AOTH": 0.01, "BAFR": 0.015, "BCRB": 0.005, "BOTH": 0.005, "CHNE": 0.002,
        "OOTH": 0.015, "REFU": 0.004, "NOBT": 0.003,
    },
    "leeds": {
        "WBRI": 0.60, "WIRI": 0.003, "WIRT": 0.002, "WROM": 0.01, "WOTH": 0.07, "MWBC": 0.03,
        "MWBA": 0.01, "MWAS": 0.015, "MOTH": 0.02, "AIND": 0.02, "APKN": 0.06, "ABAN": 0.01,
        "AOTH": 0.02, "BAFR": 0.06, "BCRB": 0.007, "BOTH": 0.01, "CHNE": 0.005, "OOTH": 0.03,
        "REFU": 0.005, "NOBT": 0.003,
    },
    "liverpool": {
        "WBRI": 0.75, "WIRI": 0.005, "WIRT": 0.001, "WROM": 0.004, "WOTH": 0.04, "MWBC": 0.015,
        "MWBA": 0.012, "MWAS": 0.01, "MOTH": 0.025, "AIND": 0.005, "APKN": 0.003,
        "ABAN": 0.003, "AOTH": 0.01, "BAFR": 0.04, "BCRB": 0.003, "BOTH": 0.01, "CHNE": 0.01,
        "OOTH": 0.045, "REFU": 0.006, "NOBT": 0.003,
    },
    "kent": {
        "WBRI": 0.76, "WIRI": 0.002, "WIRT": 0.002, "WROM": 0.006, "WOTH": 0.07, "MWBC": 0.012,
        "MWBA": 0.01, "MWAS": 0.015, "MOTH": 0.02, "AIND": 0.025, "APKN": 0.004,
        "ABAN": 0.005, "AOTH": 0.02, "BAFR": 0.025, "BCRB": 0.003, "BOTH": 0.004,
        "CHNE": 0.004, "OOTH": 0.01, "REFU": 0.005, "NOBT": 0.003,
    },
    "shire": {
        "WBRI": 0.77, "WIRI": 0.003, "WIRT": 0.002, "WROM": 0.004, "WOTH": 0.07, "MWBC": 0.012,
        "MWBA": 0.008, "MWAS": 0.018, "MOTH": 0.02, "AIND": 0.02, "APKN": 0.008,
        "ABAN": 0.006, "AOTH": 0.015, "BAFR": 0.02, "BCRB": 0.004, "BOTH": 0.004,
        "CHNE": 0.006, "OOTH": 0.01, "REFU": 0.005, "NOBT": 0.003,
    },
    "norfolk": {
        "WBRI": 0.80, "WIRI": 0.002, "WIRT": 0.002, "WROM": 0.01, "WOTH": 0.09, "MWBC": 0.01,
        "MWBA": 0.007, "MWAS": 0.01, "MOTH": 0.015, "AIND": 0.006, "APKN": 0.002,
        "ABAN": 0.003, "AOTH": 0.008, "BAFR": 0.012, "BCRB": 0.002, "BOTH": 0.003,
        "CHNE": 0.003, "OOTH": 0.007, "REFU": 0.006, "NOBT": 0.003,
    },
    "rural": {
        "WBRI": 0.84, "WIRI": 0.002, "WIRT": 0.002, "WROM": 0.006, "WOTH": 0.07, "MWBC": 0.008,
        "MWBA": 0.005, "MWAS": 0.01, "MOTH": 0.012, "AIND": 0.005, "APKN": 0.002,
        "ABAN": 0.003, "AOTH": 0.006, "BAFR": 0.01, "BCRB": 0.002, "BOTH": 0.002,
        "CHNE": 0.003, "OOTH": 0.005, "REFU": 0.006, "NOBT": 0.003,
    },
    "cornwall": {
        "WBRI": 0.91, "WIRI": 0.002, "WIRT": 0.001, "WROM": 0.003, "WOTH": 0.035, "MWBC": 0.005,
        "MWBA": 0.003, "MWAS": 0.007, "MOTH": 0.01, "AIND": 0.002, "APKN": 0.001,
        "ABAN": 0.001, "AOTH": 0.003, "BAFR": 0.003, "BCRB": 0.001, "BOTH": 0.001,
        "CHNE": 0.002, "OOTH": 0.003, "REFU": 0.008, "NOBT": 0.003,
    },
    # Pupils joining from abroad: mostly White Other, Black African, Other, Asian.
    "from_abroad": {
        "WBRI": 0.08, "WOTH": 0.30, "WROM": 0.03, "MOTH": 0.03, "AIND": 0.06, "APKN": 0.06,
        "ABAN": 0.03, "AOTH": 0.07, "BAFR": 0.15, "BOTH": 0.02, "CHNE": 0.03, "OOTH": 0.12,
        "NOBT": 0.02,
    },
}  # fmt: skip

# Which extended code dominates a main code's extended use (the rest share what is left).
EXTENDED_PREFERENCE: dict[str, str] = {
    "WBRI": "WENG",
    "APKN": "AMPK",
    "BAFR": "BSOM",
    "WOTH": "WEEU",
}
EXTENDED_PREFERENCE_BY_PROFILE: dict[str, dict[str, str]] = {
    "cornwall": {"WBRI": "WCOR"},
    "hackney": {"WOTH": "WTUR"},
    "manchester": {"BAFR": "BNGN"},
}

# First language by main ethnicity: share English, then other languages' relative weights.
# Three- and four-letter DfE language codes (validated against the code list's pattern).
LANGUAGE_BY_ETHNICITY: dict[str, tuple[float, dict[str, float]]] = {
    "WBRI": (0.996, {"CYM": 0.5, "ENB": 1.0}),
    "WIRI": (0.97, {"ENB": 1.0}),
    "WIRT": (0.96, {"ENB": 1.0}),
    "WROM": (0.35, {"RMN": 0.45, "ROM": 0.35, "SLO": 0.1, "CZE": 0.1}),
    "WOTH": (
        0.25,
        {
            "POL": 0.28, "RMN": 0.17, "LIT": 0.08, "POR": 0.1, "SPA": 0.05, "ITA": 0.04,
            "BUL": 0.05, "TUR": 0.06, "ALB": 0.04, "RUS": 0.03, "HUN": 0.03, "LAT": 0.02,
            "GRE": 0.02, "FRN": 0.02, "GER": 0.01,
        },
    ),
    "MWBC": (0.99, {"ENB": 1.0}),
    "MWBA": (0.85, {"FRN": 0.3, "YOR": 0.2, "SOM": 0.2, "ENB": 0.3}),
    "MWAS": (0.85, {"URD": 0.4, "PNJ": 0.3, "BNG": 0.3}),
    "MOTH": (0.8, {"ARA": 0.3, "POR": 0.2, "SPA": 0.2, "ENB": 0.3}),
    "AIND": (
        0.4,
        {"GUJ": 0.35, "PNJ": 0.3, "TAM": 0.08, "HIN": 0.1, "TEL": 0.05, "MLM": 0.05, "URD": 0.07},
    ),
    "APKN": (0.35, {"URD": 0.6, "PNJ": 0.3, "PAS": 0.05, "PNJM": 0.05}),
    "ABAN": (0.25, {"BNG": 0.8, "BNGS": 0.2}),
    "AOTH": (0.35, {"NEP": 0.3, "TAM": 0.2, "TGL": 0.15, "SIN": 0.1, "ARA": 0.1, "URD": 0.15}),
    "BCRB": (0.99, {"ENB": 1.0}),
    "BAFR": (
        0.4,
        {"SOM": 0.3, "YOR": 0.15, "ARA": 0.08, "AKA": 0.08, "IGB": 0.08, "FRN": 0.08,
         "POR": 0.05, "TIG": 0.06, "AMR": 0.05, "SWA": 0.04, "LIN": 0.03},
    ),
    "BOTH": (0.9, {"FRN": 0.4, "POR": 0.3, "ENB": 0.3}),
    "CHNE": (0.35, {"CHI": 0.5, "CHIC": 0.2, "CHIM": 0.3}),
    "OOTH": (
        0.3,
        {"ARA": 0.4, "KUR": 0.15, "PHR": 0.12, "PAS": 0.1, "TUR": 0.08, "TGL": 0.08, "VIE": 0.07},
    ),
    "REFU": (0.8, {"REF": 0.7, "NOT": 0.3}),
    "NOBT": (0.7, {"NOT": 0.8, "ENB": 0.2}),
}  # fmt: skip

_LANG = codelist("language")
_EXTENDED: dict[str, list[str]] = {}
for _ext, _main in mapping("ethnicity_main").items():
    if _ext != _main:
        _EXTENDED.setdefault(_main, []).append(_ext)


def _check_tables() -> None:
    """The code list in core/codelists is the authority: fail loudly if a table strays from it."""
    for name, profile in PROFILES.items():
        bad = [c for c in profile if c not in _ETH.codes]
        if bad:
            raise ValueError(f"ethnicity profile {name!r} uses non-main codes {bad}")
    prefs = [EXTENDED_PREFERENCE, *EXTENDED_PREFERENCE_BY_PROFILE.values()]
    for pref in prefs:
        for main, ext in pref.items():
            if ext not in _EXTENDED.get(main, []):
                raise ValueError(f"{ext} is not an extended code of {main} in core/codelists")
    if set(LANGUAGE_BY_ETHNICITY) != set(_ETH.codes):
        raise ValueError("LANGUAGE_BY_ETHNICITY must cover the main ethnicity codes")
    for _, (_, langs) in LANGUAGE_BY_ETHNICITY.items():
        for code in langs:
            if not _LANG.is_valid(code):
                raise ValueError(f"language code {code} is not valid in core/codelists")


_check_tables()
ENGLISH = "ENG"
if not _LANG.is_valid(ENGLISH):
    raise ValueError("core/codelists must list ENG")


def _categorical(rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
    codes = np.array(list(weights))
    cdf = np.cumsum(np.array(list(weights.values()), dtype=float))
    cdf /= cdf[-1]
    return codes[np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(codes) - 1)]


def draw_main_ethnicity(rng: np.random.Generator, profile: str, n: int) -> np.ndarray:
    return _categorical(rng, n, PROFILES[profile]).astype("U4")


def draw_recorded_ethnicity(
    rng: np.random.Generator, main: np.ndarray, profile: str, extended_share: float
) -> np.ndarray:
    """The code a school records: the main code, or for some pupils an extended code."""
    out = main.astype("U4").copy()
    use = rng.random(len(main)) < extended_share
    prefs = {**EXTENDED_PREFERENCE, **EXTENDED_PREFERENCE_BY_PROFILE.get(profile, {})}
    for code, extended in _EXTENDED.items():
        rows = np.flatnonzero(use & (main == code))
        if rows.size == 0:
            continue
        preferred = prefs.get(code)
        weights = {c: (len(extended) if c == preferred else 1.0) for c in extended}
        out[rows] = _categorical(rng, rows.size, weights)
    return out


def draw_language(
    rng: np.random.Generator, main: np.ndarray, english_factor: np.ndarray | float = 1.0
) -> np.ndarray:
    """First language from main ethnicity; english_factor < 1 for pupils arriving from abroad."""
    n = len(main)
    out = np.full(n, ENGLISH, dtype="U4")
    u = rng.random(n)
    p_english = np.zeros(n)
    for code, (share, _) in LANGUAGE_BY_ETHNICITY.items():
        p_english[main == code] = share
    p_english = p_english * english_factor
    other = u >= p_english
    for code, (_, langs) in LANGUAGE_BY_ETHNICITY.items():
        rows = np.flatnonzero(other & (main == code))
        if rows.size:
            out[rows] = _categorical(rng, rows.size, langs)
    return out
