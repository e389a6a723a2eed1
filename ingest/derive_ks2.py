"""Key stage 2 records: one row per pupil in the year's results file."""

from __future__ import annotations

import duckdb

from core.duck import sql_str
from ingest.derive_common import DeriveContext, age_start_of_year, record_key


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS
        SELECT {record_key("k")} AS record_key,
               k._load_id, k._source_file, k._source_row, k._return,
               {sql_str(ctx.year.label)} AS academic_year,
               k.candidate_number, k.upn, k.upn_status,
               CAST(NULL AS VARCHAR) AS former_upn, 'missing' AS former_upn_status,
               k.surname, k.forename, k.dob, k.sex,
               {age_start_of_year("k.dob", ctx.year)} AS age_start_of_year,
               k.la_code, k.estab,
               coalesce(k.laestab, lpad(k.la_code::VARCHAR, 3, '0') || lpad(k.estab::VARCHAR, 4, '0'))
                   AS laestab,
               k.urn, k.read_score, k.mat_score, k.gps_score,
               k.read_outcome, k.mat_outcome, k.gps_outcome,
               k.read_ta_outcome, k.writ_ta_outcome, k.mat_ta_outcome, k.sci_ta_outcome,
               k.read_exp, k.writ_exp, k.mat_exp, k.gps_exp, k.rwm_exp, k.rwm_high,
               k.fsm6, k.eal_group, k.sen_provision
        FROM staged_ks2 k
        ORDER BY k._source_file, k._source_row
        """
    )
