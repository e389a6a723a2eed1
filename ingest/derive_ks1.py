"""Key stage 1 records: one row per Y2 pupil with teacher assessment outcomes."""

from __future__ import annotations

import duckdb

from ingest.derive_common import DeriveContext
from ingest.derive_key_stage import derive_results

_AT_LEAST_EXPECTED = "('EXS', 'GDS')"


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    derive_results(
        con,
        ctx,
        "ks1",
        [
            "acad_year",
            "toe_code",
            "read_outcome",
            "writ_outcome",
            "math_outcome",
            "sci_outcome",
            f"k.read_outcome IN {_AT_LEAST_EXPECTED} AS read_exp",
            f"k.writ_outcome IN {_AT_LEAST_EXPECTED} AS writ_exp",
            f"k.math_outcome IN {_AT_LEAST_EXPECTED} AS math_exp",
            "k.sci_outcome = 'EXS' AS sci_exp",
            "disc_read",
            "disc_writ",
            "disc_mat",
            "disc_sci",
        ],
    )
