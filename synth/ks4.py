"""Writing KS4 results: one NPD-style CSV per academic year for Y11 pupils.

Attainment 8 is built from its four elements (English and maths double weighted, three
EBacc and three open slots, grades 9-1), each from latent ability plus noise, so ATT8
averages about 46 (0-90) and the English and maths 9-4 pass rate about 65%. Progress 8
compares each element with the average for pupils of the same KS2 prior attainment (a
regression within the file stands in for the national estimates): elements divided by
their slots, P8 = (ATT8 - estimate) / 10, so P8 averages 0 with most pupils in -3..+3.
From 2024/25 the spec drops Progress 8 and the KS2 prior, and the header follows it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.periods import AcademicYear
from synth import formats
from synth.context import WriteContext
from synth.key_stage import (
    cohort,
    decimals,
    flag,
    fsm6,
    girl_shift,
    person_normal,
    school_columns,
    write,
)
from synth.plants import Plant

FEED = "ks4"
MEAN_GRADE = 4.85
GRADE_SD = 1.9
EBACC_ENTRY = 0.39  # share entered for every EBacc pillar (2023: ~39%)
ELEMENTS = {"eng": 2, "mat": 2, "ebac": 3, "open": 3}  # slots per element


def _points(z: np.ndarray, slots: int, filled: np.ndarray) -> np.ndarray:
    """Points of an element: its slots' grades (0-9) added up; empty slots score 0.
    English and maths are one GCSE grade counted twice."""
    grade = np.clip(MEAN_GRADE + GRADE_SD * z, 0, 9)
    if slots == 2:
        return 2 * np.round(grade)
    return np.round(grade * filled)


def _estimate(prior: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Average points for pupils with the same prior attainment (a linear fit in the file)."""
    if prior.size < 2:
        return points.copy()
    slope, intercept = np.polyfit(prior, points, 1)
    return intercept + slope * prior


def write_year(
    ctx: WriteContext, year: AcademicYear, plants: list[Plant], on_file
) -> tuple[pa.Table, list[dict]]:
    """Write the KS4 file for one academic year; returns (truth rows, planted cells)."""
    pop = ctx.pop
    c = cohort(ctx, FEED, year, (11,))
    n, rng = len(c), c.rng
    ability = pop.ability[c.person].astype(np.float64)
    girl = girl_shift(ctx, c.person)
    sen = pop.sen_provision[c.person]
    # KS2 prior: the same latent ability five years earlier, drawn per person.
    prior_z = 0.85 * ability + 0.5 * person_normal(ctx, "ks2-prior", c.person)
    ks2_read = np.clip(np.round(105 + 7.5 * (prior_z + 0.12 * girl)), 80, 120)
    ks2_mat = np.clip(np.round(104.7 + 7.5 * (prior_z - 0.06 * girl)), 80, 120)
    prior = (ks2_read + ks2_mat) / 2
    base = 0.8 * ability + 0.35 * rng.standard_normal(n)
    # Low attainers (and many pupils with an EHC plan) fill fewer EBacc and open slots.
    gaps = np.clip(np.round(-1.2 - base + 0.8 * rng.standard_normal(n)), 0, 3)
    gaps = np.where(sen == "E", np.maximum(gaps, rng.integers(0, 3, n)), gaps)
    z = {
        "eng": base + 0.45 * rng.standard_normal(n) + 0.15 * girl,
        "mat": base + 0.45 * rng.standard_normal(n) - 0.03 * girl,
        "ebac": base + 0.4 * rng.standard_normal(n),
        "open": base + 0.4 * rng.standard_normal(n) + 0.1,
    }
    points = {name: _points(z[name], slots, slots - gaps) for name, slots in ELEMENTS.items()}
    att8 = sum(points.values())
    eng_grade, mat_grade = points["eng"] / 2, points["mat"] / 2
    estimates = {name: _estimate(prior, points[name]) for name in ELEMENTS}
    p8 = {name: (points[name] - estimates[name]) / ELEMENTS[name] for name in ELEMENTS}
    att8_pred = sum(estimates.values())
    p8_score = (att8 - att8_pred) / 10
    entered = (base + 0.8 * rng.standard_normal(n) > 0.35) & (gaps == 0)
    ebac_grade = points["ebac"] / 3
    ebacc_94 = entered & (eng_grade >= 4) & (mat_grade >= 4) & (ebac_grade >= 4)
    ebacc_95 = entered & (eng_grade >= 5) & (mat_grade >= 5) & (ebac_grade >= 5)
    pillars = np.where(entered, 5, 4)
    ebacc_aps = (eng_grade + mat_grade + ebac_grade * (pillars - 2)) / 5
    cols = school_columns(ctx, c)
    cols |= {
        "att8": decimals(att8, 1),
        "att8_pred": decimals(att8_pred, 2),
        "p8_score": decimals(p8_score, 2),
        "p8_eng": decimals(p8["eng"], 2),
        "p8_mat": decimals(p8["mat"], 2),
        "p8_ebac": decimals(p8["ebac"], 2),
        "p8_open": decimals(p8["open"], 2),
        "ebacc_entered": flag(entered),
        "ebacc_94": flag(ebacc_94),
        "ebacc_95": flag(ebacc_95),
        "ebacc_aps": decimals(ebacc_aps, 2),
        "basics_94": flag((eng_grade >= 4) & (mat_grade >= 4)),
        "basics_95": flag((eng_grade >= 5) & (mat_grade >= 5)),
        "gcse_eng_94": flag(eng_grade >= 4),
        "gcse_math_94": flag(mat_grade >= 4),
        "ks2_read_score": formats.integers(ks2_read.astype(np.int64)),
        "ks2_mat_score": formats.integers(ks2_mat.astype(np.int64)),
        "fsm6": flag(fsm6(ctx, c)),
        "sen_ehc": flag(sen == "E"),
        "sen_support": flag(sen == "K"),
    }
    return write(ctx, c, "ks4", cols, plants, on_file)
