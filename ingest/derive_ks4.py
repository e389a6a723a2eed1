"""Key stage 4 records: one row per Y11 pupil with the headline measures."""

from __future__ import annotations

import duckdb

from ingest.derive_common import DeriveContext
from ingest.derive_key_stage import derive_results


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    derive_results(
        con,
        ctx,
        "ks4",
        [
            "acad_year",
            "att8",
            "att8_pred",
            "p8_score",
            "p8_eng",
            "p8_mat",
            "p8_ebac",
            "p8_open",
            "ebacc_entered",
            "ebacc_94",
            "ebacc_95",
            "ebacc_aps",
            "basics_94",
            "basics_95",
            "gcse_eng_94",
            "gcse_math_94",
            "ks2_read_score",
            "ks2_mat_score",
            "fsm6",
            "sen_ehc",
            "sen_support",
            "(CASE WHEN k.sen_ehc THEN 'E' WHEN k.sen_support THEN 'K' "
            "WHEN k.sen_ehc IS NOT NULL OR k.sen_support IS NOT NULL THEN 'N' END) AS sen_provision",
        ],
        candidate=False,
    )
