"""Phonics screening check records: one row per pupil who sat (or was due to sit) the check."""

from __future__ import annotations

import duckdb

from ingest.derive_common import DeriveContext
from ingest.derive_key_stage import derive_results

THRESHOLD = 32  # marks out of 40 needed to meet the expected standard (since 2012)


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    derive_results(
        con,
        ctx,
        "phonics",
        [
            "acad_year",
            "ncyear_actual",
            "toe_code",
            "phonics_mark",
            "phonics_outcome",
            f"k.phonics_mark >= {THRESHOLD} AS phonics_met",
            "k.ncyear_actual = '2' AS retake",
            "check_version",
        ],
        has_laestab=False,
    )
