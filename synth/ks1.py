"""Writing KS1 teacher assessment: one NPD-style CSV per academic year for Y2 pupils.

Outcomes in reading, writing and maths (GDS/EXS/WTS, PKF or BLW for pupils working below
the standard) and science (EXS/HNM) come from latent ability plus subject noise, cut where
the published shares fall (2023: reading 68% at least expected and 19% greater depth,
writing 60%/8%, maths 70%/16%, science 79%). Girls do better in reading and writing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.codes import codelist
from core.periods import AcademicYear
from synth import formats
from synth.context import WriteContext
from synth.key_stage import cohort, flag, girl_shift, school_columns, write
from synth.plants import Plant

FEED = "ks1"
TA = np.array(["GDS", "EXS", "WTS", "PKF", "BLW", "A"])
SCIENCE = np.array(["EXS", "HNM", "A"])
for _list, _codes in (("ks1_ta_outcome", TA), ("ks1_sci_outcome", SCIENCE)):
    for _code in _codes:
        if not codelist(_list).is_valid(_code):
            raise ValueError(f"KS1 outcome {_code} not in core/codelists {_list}")
# Latent cuts (standard normal) for at least expected and greater depth, and girls' lead.
CUTS = {"read": (-0.54, 0.88, 0.12), "writ": (-0.34, 1.41, 0.2), "math": (-0.58, 0.99, -0.04)}
SCIENCE_CUT = -0.81
ABSENT_RATE = 0.004
DISCOUNT_RATE = 0.003  # pupils discounted from the figures (e.g. recently arrived)


def write_year(
    ctx: WriteContext, year: AcademicYear, plants: list[Plant], on_file
) -> tuple[pa.Table, list[dict]]:
    """Write the KS1 file for one academic year; returns (truth rows, planted cells)."""
    pop = ctx.pop
    c = cohort(ctx, FEED, year, (2,))
    n, rng = len(c), c.rng
    ability = pop.ability[c.person].astype(np.float64)
    sen = pop.sen_provision[c.person]
    girl = girl_shift(ctx, c.person)
    below = (sen == "E") & (ability < -1.5)
    far_below = below & (ability < -2.4)
    absent = rng.random(n) < ABSENT_RATE
    cols = school_columns(ctx, c)
    for subject, (expected, depth, lead) in CUTS.items():
        z = 0.85 * ability + 0.5 * rng.standard_normal(n) + lead * girl
        outcome = np.where(z > depth, 0, np.where(z > expected, 1, 2))
        outcome = np.where(far_below, 4, np.where(below, 3, outcome))
        cols[f"{subject}_outcome"] = formats.vocab_take(TA, np.where(absent, 5, outcome))
    z = 0.85 * ability + 0.5 * rng.standard_normal(n)
    science = np.where((z > SCIENCE_CUT) & ~below, 0, 1)
    cols["sci_outcome"] = formats.vocab_take(SCIENCE, np.where(absent, 2, science))
    discounted = rng.random(n) < DISCOUNT_RATE
    for name in ("disc_read", "disc_writ", "disc_mat", "disc_sci"):
        cols[name] = flag(discounted)
    return write(ctx, c, "ks1", cols, plants, on_file)
