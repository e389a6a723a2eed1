"""Key stage 5 records: one row per student completing 16-18 study at a school sixth form."""

from __future__ import annotations

import duckdb

from ingest.derive_common import DeriveContext
from ingest.derive_key_stage import derive_results


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    derive_results(
        con,
        ctx,
        "ks5",
        [
            "acad_year",
            "age_start",
            "level3",
            "pass2_level3",
            "a_level_student",
            "applied_general_student",
            "academic_student",
            "a_level_entries",
            "a_level_aps",
            "core_maths_achieved",
            "extended_project_achieved",
        ],
    )
