"""School census records: one row per pupil on roll on census day.

Joins the COLLECT tables of each return on pupilonrolltableid: the school table
gives LA and establishment, FSM periods give eligibility on census day, SEN needs
give the primary and secondary type by rank, addresses give the postcode.

(list_contains rather than IN: DuckDB plans an IN list of five or more values as a join.)
"""

from __future__ import annotations

import duckdb

from core.duck import sql_str
from ingest.derive_common import (
    DeriveContext,
    age_start_of_year,
    ethnicity_columns,
    expected_ncyear,
    la_from_return,
    language_group,
    record_key,
)


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    assert ctx.term is not None
    census = ctx.year.census_date(ctx.term).isoformat()
    age = age_start_of_year("p.dob", ctx.year)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS
        WITH school AS (
            SELECT _return, native_id, min(laestab) AS laestab, min(urn) AS urn
            FROM staged_school GROUP BY ALL
        ),
        fsm AS (
            SELECT _return, pupil_on_roll_id,
                   bool_or(fsm_start_date <= DATE '{census}'
                           AND (fsm_end_date IS NULL OR fsm_end_date >= DATE '{census}')) AS eligible
            FROM staged_fsmperiod GROUP BY ALL
        ),
        fsm_returns AS (SELECT DISTINCT _return FROM returned_tables WHERE source_table = 'fsmperiod'),
        sen AS (
            SELECT _return, pupil_on_roll_id,
                   min(sen_type) FILTER (WHERE sen_type_rank = 1) AS primary_sen_type,
                   min(sen_type) FILTER (WHERE sen_type_rank = 2) AS secondary_sen_type
            FROM staged_senneeds GROUP BY ALL
        ),
        address AS (
            SELECT _return, pupil_on_roll_id, arg_min(postcode, _source_row) AS postcode
            FROM staged_addressesonroll WHERE postcode IS NOT NULL GROUP BY ALL
        )
        SELECT {record_key("p")} AS record_key,
               p._load_id, p._source_file, p._source_row, p._return,
               {sql_str(ctx.year.label)} AS academic_year,
               {sql_str(ctx.term.value)} AS census_term,
               DATE '{census}' AS census_date,
               coalesce(TRY_CAST(left(s.laestab, 3) AS INTEGER), {la_from_return("p")}) AS la_code,
               TRY_CAST(substr(s.laestab, 4, 4) AS INTEGER) AS estab,
               s.laestab, s.urn, p.native_id, p.pupil_on_roll_id,
               p.upn, p.upn_status, p.former_upn, p.former_upn_status, p.uln, p.uln_valid,
               p.surname, p.forename, p.middle_names, p.preferred_surname, p.former_surname,
               p.dob, p.sex,
               p.ethnicity, {ethnicity_columns("p.ethnicity")},
               p.language, {language_group("p.language")},
               CASE WHEN fr._return IS NOT NULL THEN coalesce(f.eligible, false) END AS fsm_eligible,
               p.sen_provision, sen.primary_sen_type, sen.secondary_sen_type,
               p.ncyear_actual, {expected_ncyear(age)} AS ncyear_expected,
               {age} AS age_start_of_year,
               CASE WHEN list_contains(['N1', 'N2', 'R', '1', '2', '3', '4', '5', '6', '7', '8',
                                        '9', '10', '11', '12', '13', '14'], p.ncyear_actual)
                    THEN p.ncyear_actual = {expected_ncyear(age)} END AS ncyear_age_consistent,
               p.enrol_status, p.entry_date, p.boarder, p.service_child, p.plaa, p.yssa,
               p.part_time, a.postcode
        FROM staged_pupilonroll p
        LEFT JOIN school s USING (_return, native_id)
        LEFT JOIN fsm f USING (_return, pupil_on_roll_id)
        LEFT JOIN fsm_returns fr ON fr._return = p._return
        LEFT JOIN sen USING (_return, pupil_on_roll_id)
        LEFT JOIN address a USING (_return, pupil_on_roll_id)
        ORDER BY p._source_file, p._source_row
        """
    )
