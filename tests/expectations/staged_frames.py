"""Hand-built staged record batches (synthetic) shaped like the staging step's output.

Vectorised, so the same builders make 10 rows for a test and 1M for the benchmark.
Every value is valid, so a test plants exactly the faults it means to count.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

YEAR = "2023/24"
TERM = "autumn"
CENSUS_DAY = dt.date(2023, 10, 5)
PARAMS = {"feed": "school_census", "academic_year": YEAR, "term": TERM}
KS2_PARAMS = {"feed": "ks2", "academic_year": YEAR, "term": None}


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(str), type=pa.string())


def _pick(rng: np.random.Generator, choices: list[str], n: int) -> pa.Array:
    return pa.array(np.asarray(choices)[rng.integers(0, len(choices), n)], type=pa.string())


def _upns(n: int, la: np.ndarray) -> pa.Array:
    serial = np.char.zfill(np.arange(n).astype(str), 9)
    return _strings(np.char.add(np.char.add("A", np.char.zfill(la.astype(str), 3)), serial))


def _dobs(rng: np.random.Generator, n: int, first: dt.date, days: int) -> pa.Array:
    return pa.array(
        np.datetime64(first) + rng.integers(0, days, n).astype("timedelta64[D]"), pa.date32()
    )


def census_table(n: int, seed: int = 1) -> pa.Table:
    """n pupils on roll on autumn census day 2023/24, every value valid."""
    rng = np.random.default_rng(seed)
    la = np.asarray([202, 330, 886, 919])[rng.integers(0, 4, n)]
    estab = rng.integers(2000, 2100, n)
    ethnicity = ["WBRI", "WOTH", "AIND", "BAFR", "MWBC", "CHNE", "WENG", "NOBT"]
    age = rng.integers(5, 11, n)  # years 1-6
    ncyear = (age - 4).astype(str)
    cols: dict[str, pa.Array] = {
        "record_key": _strings(
            np.char.add("census/LA202/pupilonroll.csv#", np.arange(n).astype(str))
        ),
        "academic_year": pa.array([YEAR] * n, pa.string()),
        "census_term": pa.array([TERM] * n, pa.string()),
        "census_date": pa.array([CENSUS_DAY] * n, pa.date32()),
        "la_code": pa.array(la, pa.int32()),
        "estab": pa.array(estab, pa.int32()),
        "laestab": _strings(np.char.add(la.astype(str), estab.astype(str))),
        "native_id": _strings(np.arange(n)),
        "pupil_on_roll_id": _strings(np.arange(n)),
        "upn": _upns(n, la),
        "upn_status": pa.array(["valid"] * n, pa.string()),
        "former_upn": pa.nulls(n, pa.string()),
        "former_upn_status": pa.array(["missing"] * n, pa.string()),
        "uln": pa.nulls(n, pa.string()),
        "uln_valid": pa.array(np.zeros(n, bool)),
        "surname": _pick(rng, ["Okafor", "Smith", "Nowak", "Khan", "Jones"], n),
        "forename": _pick(rng, ["Amara", "Oliver", "Zofia", "Ayaan", "Ruby"], n),
        "middle_names": pa.nulls(n, pa.string()),
        "preferred_surname": pa.nulls(n, pa.string()),
        "former_surname": pa.nulls(n, pa.string()),
        "dob": _dobs(rng, n, dt.date(2013, 9, 1), 365 * 6),
        "sex": _pick(rng, ["M", "F"], n),
        "ethnicity": _pick(rng, ethnicity, n),
        "ethnicity_main": _pick(rng, ["WBRI"], n),
        "ethnic_group_major": _pick(rng, ["WHIT"], n),
        "language": _pick(rng, ["ENG", "ENB", "POL", "URD", "SOM"], n),
        "language_group_major": _pick(rng, ["1_ENG", "2_OTH"], n),
        "fsm_eligible": pa.array(rng.random(n) < 0.25),
        "sen_provision": _pick(rng, ["N", "N", "N", "K", "E"], n),
        "primary_sen_type": _pick(rng, ["SPLD", "MLD", "ASD"], n),
        "secondary_sen_type": pa.nulls(n, pa.string()),
        "ncyear_actual": _strings(ncyear),
        "ncyear_expected": _strings(ncyear),
        "age_start_of_year": pa.array(age, pa.int32()),
        "ncyear_age_consistent": pa.array(np.ones(n, bool)),
        "enrol_status": _pick(rng, ["C", "C", "C", "M"], n),
        "entry_date": _dobs(rng, n, dt.date(2018, 9, 1), 365 * 5),
        "boarder": _pick(rng, ["N"], n),
        "service_child": _pick(rng, ["N", "Y"], n),
        "plaa": _pick(rng, ["N"], n),
        "yssa": _pick(rng, ["No"], n),
        "part_time": pa.array(np.zeros(n, bool)),
        "postcode": _pick(rng, ["LS1 4AP", "B15 2TT", "CT1 2EH"], n),
    }
    return pa.table(cols)


def ks2_table(n: int, seed: int = 2) -> pa.Table:
    """n pupils' KS2 results for 2023/24, every value valid and consistent."""
    rng = np.random.default_rng(seed)
    la = np.asarray([202, 330, 886])[rng.integers(0, 3, n)]
    estab = rng.integers(2000, 2100, n)
    cols: dict[str, pa.Array] = {
        "record_key": _strings(np.char.add("ks2/ks2.csv#", np.arange(n).astype(str))),
        "academic_year": pa.array([YEAR] * n, pa.string()),
        "candidate_number": _strings(np.char.zfill(np.arange(n).astype(str), 6)),
        "upn": _upns(n, la),
        "upn_status": pa.array(["valid"] * n, pa.string()),
        "surname": _pick(rng, ["Okafor", "Smith", "Nowak"], n),
        "forename": _pick(rng, ["Amara", "Oliver", "Zofia"], n),
        "dob": _dobs(rng, n, dt.date(2012, 9, 1), 365),
        "sex": _pick(rng, ["M", "F"], n),
        "la_code": pa.array(la, pa.int32()),
        "estab": pa.array(estab, pa.int32()),
        "laestab": _strings(np.char.add(la.astype(str), estab.astype(str))),
        "urn": _strings(rng.integers(100000, 150000, n)),
        "fsm6": pa.array(rng.random(n) < 0.25),
        "eal_group": _pick(rng, ["1", "2"], n),
        "sen_provision": _pick(rng, ["N", "K"], n),
    }
    for subject in ("read", "mat", "gps"):
        score = rng.integers(80, 121, n)
        cols[f"{subject}_score"] = pa.array(score, pa.int32())
        cols[f"{subject}_outcome"] = _strings(np.where(score >= 100, "AS", "NS"))
        cols[f"{subject}_exp"] = pa.array(score >= 100)
    for subject in ("read", "writ", "mat", "sci"):
        cols[f"{subject}_ta_outcome"] = _pick(rng, ["EXS", "GDS", "WTS"], n)
    cols["writ_exp"] = pa.array(rng.random(n) < 0.7)
    cols["rwm_exp"] = pa.array(rng.random(n) < 0.6)
    cols["rwm_high"] = pa.array(rng.random(n) < 0.1)
    return pa.table(cols)


def census_frame(n: int, seed: int = 1) -> pd.DataFrame:
    """census_table as an Arrow-backed pandas frame, easy to plant faults in."""
    return census_table(n, seed).to_pandas(types_mapper=pd.ArrowDtype)


def ks2_frame(n: int, seed: int = 2) -> pd.DataFrame:
    return ks2_table(n, seed).to_pandas(types_mapper=pd.ArrowDtype)
