"""Writing the phonics screening check: one NPD-style CSV per academic year.

Y1 pupils at the summer census sit the check; Y2 pupils who did not meet the standard in
Y1 (or were absent) retake it. Marks (0-40, threshold 32) come from latent ability plus a
per-person draw, so a pupil's Y1 result is the same whichever year the run starts, and the
retake list in Y2 is exactly the Y1 non-passers. The mark distribution bunches at the
threshold (marks of 29-31 are nudged up), as published distributions do. Low-attaining
pupils with an EHC plan are disapplied (D, no mark); about 1.5% are absent (A).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.codes import codelist
from core.periods import AcademicYear
from synth import formats
from synth.context import WriteContext
from synth.key_stage import cohort, person_normal, person_uniform, school_columns, write
from synth.plants import Plant

FEED = "phonics"
THRESHOLD = 32
MAX_MARK = 40
OUTCOMES = np.array(["WA", "WT", "A", "D"])
for _code in OUTCOMES:
    if not codelist("phonics_outcome").is_valid(_code):
        raise ValueError(f"phonics outcome {_code} not in core/codelists")
ABSENT_RATE = 0.015
Y1_MET = 0.79  # share of Y1 pupils meeting the standard (2023: 79%)
RETAKE_GAIN = 0.45  # latent progress between Y1 and the Y2 retake
BUNCH = 0.35  # chance a mark of 29-31 is nudged to the threshold
_CUT = -0.68  # latent cut giving about Y1_MET (ability is not quite standard normal)


def _mark(z: np.ndarray, nudge: np.ndarray) -> np.ndarray:
    mark = np.clip(np.round(THRESHOLD + 6.0 * (z - _CUT)), 0, MAX_MARK).astype(np.int64)
    near = (mark >= THRESHOLD - 3) & (mark < THRESHOLD) & (nudge < BUNCH)
    return np.where(near, THRESHOLD, mark)


def _disapplied(ctx: WriteContext, person: np.ndarray) -> np.ndarray:
    pop = ctx.pop
    return (pop.sen_provision[person] == "E") & (pop.ability[person] < -1.6)


def y1_result(ctx: WriteContext, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mark, outcome index into OUTCOMES) of each person's Y1 check."""
    ability = ctx.pop.ability[person].astype(np.float64)
    z = 0.8 * ability + 0.6 * person_normal(ctx, "phonics-y1", person)
    mark = _mark(z, person_uniform(ctx, "phonics-y1-bunch", person))
    outcome = np.where(mark >= THRESHOLD, 0, 1)
    outcome = np.where(person_uniform(ctx, "phonics-y1-absent", person) < ABSENT_RATE, 2, outcome)
    outcome = np.where(_disapplied(ctx, person), 3, outcome)
    return mark, outcome


def _retake_result(ctx: WriteContext, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ability = ctx.pop.ability[person].astype(np.float64)
    z = (
        0.8 * ability
        + 0.6 * person_normal(ctx, "phonics-y1", person)
        + RETAKE_GAIN
        + 0.5 * person_normal(ctx, "phonics-y2", person)
    )
    mark = _mark(z, person_uniform(ctx, "phonics-y2-bunch", person))
    outcome = np.where(mark >= THRESHOLD, 0, 1)
    absent = person_uniform(ctx, "phonics-y2-absent", person) < ABSENT_RATE
    return mark, np.where(absent, 2, outcome)


def write_year(
    ctx: WriteContext, year: AcademicYear, plants: list[Plant], on_file
) -> tuple[pa.Table, list[dict]]:
    """Write the phonics file for one academic year; returns (truth rows, planted cells)."""

    def due(person: np.ndarray, nc: np.ndarray) -> np.ndarray:
        retake = np.zeros(len(person), bool)
        y2 = nc == 2
        retake[y2] = np.isin(y1_result(ctx, person[y2])[1], (1, 2))
        return (nc == 1) | retake

    c = cohort(ctx, FEED, year, (1, 2), keep=due)
    nc = ctx.pop.nc_year(c.t, c.person)
    mark, outcome = y1_result(ctx, c.person)
    y2 = nc == 2
    mark[y2], outcome[y2] = _retake_result(ctx, c.person[y2])
    cols = school_columns(ctx, c)
    cols |= {
        "ncyear_actual": formats.integers(nc),
        "phonics_mark": formats.integers(mark, outcome >= 2),
        "phonics_outcome": formats.vocab_take(OUTCOMES, outcome),
        "check_version": pa.array([str(year.start + 1)] * len(c), pa.string()),
    }
    return write(ctx, c, "phonics", cols, plants, on_file)
