"""Writing KS5 results: one NPD-style CSV per academic year for Y13 students at school sixth forms.

Most school sixth-formers are A level students (three entries, some two or four); a
minority take applied general qualifications, more often the lower attainers. A level
points per entry (A* 60 ... E 10) average about 35 (a B-), from latent ability plus noise.
Students completing 16-18 study in FE colleges are in the ILR, not here.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.periods import AcademicYear
from synth import formats
from synth.context import WriteContext
from synth.key_stage import cohort, decimals, flag, school_columns, write
from synth.plants import Plant

FEED = "ks5"
MEAN_APS = 35.0
APS_SD = 11.0
A_LEVEL = 0.85  # share of school sixth-formers taking A levels
EPQ = 0.1  # extended project
CORE_MATHS = 0.03


def write_year(
    ctx: WriteContext, year: AcademicYear, plants: list[Plant], on_file
) -> tuple[pa.Table, list[dict]]:
    """Write the KS5 file for one academic year; returns (truth rows, planted cells)."""
    pop = ctx.pop
    c = cohort(ctx, FEED, year, (13,))
    n, rng = len(c), c.rng
    ability = pop.ability[c.person].astype(np.float64)
    z = 0.8 * ability + 0.45 * rng.standard_normal(n)
    a_level = z + 1.1 * rng.standard_normal(n) > -1.45
    applied = ~a_level | (rng.random(n) < 0.12)
    entries = np.where(a_level, 3 + (rng.random(n) < 0.1) - (rng.random(n) < 0.15), 0)
    # Sixth-formers are selected on ability at 16: centre the points on the national mean.
    z_points = z - z.mean() if n else z
    aps = np.clip(MEAN_APS + APS_SD * z_points, 0, 60)
    pass2 = np.where(a_level, aps >= 12, rng.random(n) < 0.75)
    level3 = pass2 | (rng.random(n) < 0.4)
    dob = pop.dob[c.person]
    age = year.start - dob.astype("datetime64[Y]").astype(np.int64) - 1970
    age -= (dob.astype("datetime64[M]").astype(np.int64) % 12) >= 8  # born Sep-Dec
    cols = school_columns(ctx, c)
    cols |= {
        "age_start": formats.integers(age),
        "level3": flag(level3),
        "pass2_level3": flag(pass2),
        "a_level_student": flag(a_level),
        "applied_general_student": flag(applied),
        "academic_student": flag(a_level),
        "a_level_entries": formats.integers(entries),
        "a_level_aps": decimals(aps, 2, ~a_level),
        "core_maths_achieved": flag(rng.random(n) < CORE_MATHS),
        "extended_project_achieved": flag(a_level & (rng.random(n) < EPQ * (1 + z))),
    }
    return write(ctx, c, "ks5", cols, plants, on_file)
