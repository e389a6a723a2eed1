"""Children looked after (SSDA903) records: one row per child in each LA's return.

A child is in the return if it has a header row or an episode (a child in episodes
with no header row still gets a record, flagged `header_present = false`, so nothing
staged is dropped; the suite counts them). The year's episodes, reviews, missing
episodes, outcomes (OC2/OC3), adoption and UASC tables are summarised per child, and
the published validation rules that look across a child's episodes become boolean
columns (NULL where a rule does not apply) for the GX suite.

The collection year of academic year 2023/24 runs 1 April 2023 to 31 March 2024.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from core.codes import codelist
from core.duck import sql_str
from core.periods import AcademicYear
from ingest.derive_common import DeriveContext, ethnicity_columns, la_from_return
from ingest.spec import load_spec

FEED = "ssda903"


def collection_year(year: AcademicYear) -> tuple[dt.date, dt.date]:
    """First and last day of the year a children's social care return covers."""
    return dt.date(year.start, 4, 1), dt.date(year.start + 1, 3, 31)


def age_on(dob: str, day: dt.date) -> str:
    """SQL: whole years of age on a day."""
    return f"CAST(date_part('year', age(DATE '{day.isoformat()}', {dob})) AS INTEGER)"


def _valid(table: str, source: str, expr: str, year: AcademicYear) -> str:
    """SQL: is expr valid for the code list the year's spec gives the field (NULL stays NULL)?"""
    name = load_spec(FEED).for_year(year).tables[table].field(source).codelist
    assert name is not None, f"{table}.{source} has no code list"
    return codelist(name).sql_valid(expr)


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    start, end = collection_year(ctx.year)
    s, e = f"DATE '{start.isoformat()}'", f"DATE '{end.isoformat()}'"
    y = ctx.year
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS
        WITH children AS (
            SELECT _return, child_id FROM staged_header
            UNION SELECT _return, child_id FROM staged_episodes
        ),
        ep AS (
            SELECT *, greatest(decom, {s}) AS in_from, least(coalesce(dec, {e}), {e}) AS in_to
            FROM staged_episodes
        ),
        episodes AS (
            SELECT _return, child_id,
                   count(*) AS episodes,
                   arg_min(_source_file, (decom, _source_row)) AS first_file,
                   arg_min(_source_row, (decom, _source_row)) AS first_row,
                   min(decom) AS first_decom,
                   arg_min(legal_status, (decom, _source_row)) AS legal_status_first,
                   arg_max(legal_status, (decom, _source_row)) AS legal_status_latest,
                   arg_max(placement, (decom, _source_row)) AS placement_latest,
                   arg_max(placement_provider, (decom, _source_row)) AS placement_provider_latest,
                   arg_min(need_code, (decom, _source_row)) AS need_code,
                   arg_max(home_postcode, (decom, _source_row)) AS home_postcode,
                   arg_max(placement_postcode, (decom, _source_row)) AS placement_postcode,
                   bool_or(dec IS NULL) AS looked_after_at_31_march,
                   bool_or(rne = 'S' AND decom >= {s}) AS started_in_year,
                   arg_max(reason_ceased, (dec, _source_row))
                       FILTER (WHERE dec IS NOT NULL AND reason_ceased <> 'X1') AS reason_ceased,
                   max(dec) FILTER (WHERE dec IS NOT NULL AND reason_ceased <> 'X1') AS ceased_date,
                   count(*) FILTER (WHERE rne IN ('P', 'B', 'T', 'U') AND decom >= {s})
                       AS placement_changes_in_year,
                   sum(greatest(date_diff('day', in_from, in_to) + 1, 0))
                       FILTER (WHERE in_to >= in_from) AS days_looked_after_in_year,
                   bool_and(coalesce({_valid("episodes", "RNE", "rne", y)}, false)) AS rule_143_rne_valid,
                   bool_and(coalesce({_valid("episodes", "LS", "legal_status", y)}, false)) AS rule_144_ls_valid,
                   bool_and(coalesce({_valid("episodes", "CIN", "need_code", y)}, false)) AS rule_145_need_valid,
                   bool_and(coalesce({_valid("episodes", "PLACE", "placement", y)}, false)) AS rule_146_place_valid,
                   bool_and((dec IS NULL) = (reason_ceased IS NULL)) AS rule_148_dec_rec_together,
                   bool_and(reason_ceased IS NULL OR {_valid("episodes", "REC", "reason_ceased", y)})
                       AS rule_149_rec_valid,
                   bool_and(dec IS NULL OR dec >= decom) AS rule_356_dec_after_decom,
                   bool_and(decom <= {e} AND (dec IS NULL OR dec >= {s})) AS episodes_in_year,
                   count(*) FILTER (WHERE dec IS NULL) <= 1 AS rule_one_open_episode
            FROM ep GROUP BY ALL
        ),
        uasc AS (
            SELECT _return, child_id, true AS uasc, max(uasc_ceased) AS uasc_ceased
            FROM staged_uasc GROUP BY ALL
        ),
        reviews AS (
            SELECT _return, child_id,
                   count(*) FILTER (WHERE review_date BETWEEN {s} AND {e}) AS reviews_in_year,
                   bool_and(review_code IS NULL OR {_valid("reviews", "REVIEW_CODE", "review_code", y)})
                       AS review_codes_valid
            FROM staged_reviews GROUP BY ALL
        ),
        missing AS (
            SELECT _return, child_id,
                   count(*) FILTER (WHERE missing_type = 'M') AS missing_episodes,
                   count(*) FILTER (WHERE missing_type = 'A') AS away_episodes,
                   bool_and(missing_end IS NULL OR missing_end >= missing_start)
                       AS missing_dates_ordered
            FROM staged_missing GROUP BY ALL
        ),
        oc2 AS (
            SELECT _return, child_id,
                   arg_max(sdq_score, _source_row) AS sdq_score,
                   arg_max(sdq_reason, _source_row) AS sdq_reason,
                   bool_or(convicted) AS convicted, bool_or(health_check) AS health_check,
                   bool_or(immunisations) AS immunisations, bool_or(teeth_check) AS teeth_check,
                   bool_or(health_assessment) AS health_assessment,
                   bool_or(substance_misuse) AS substance_misuse,
                   bool_or(intervention_received) AS intervention_received,
                   bool_or(intervention_offered) AS intervention_offered
            FROM staged_oc2 GROUP BY ALL
        ),
        oc3 AS (
            SELECT _return, child_id, arg_max(in_touch, _source_row) AS in_touch,
                   arg_max(activity, _source_row) AS activity,
                   arg_max(accommodation, _source_row) AS accommodation
            FROM staged_oc3 GROUP BY ALL
        ),
        ad1 AS (
            SELECT _return, child_id, true AS adoption_recorded,
                   bool_or(adopted_by_foster_carer) AS adopted_by_foster_carer,
                   max(number_of_adopters) AS number_of_adopters
            FROM staged_ad1 GROUP BY ALL
        ),
        placed AS (
            SELECT _return, child_id, true AS placed_for_adoption
            FROM staged_placed_for_adoption GROUP BY ALL
        ),
        prev AS (
            SELECT _return, child_id, arg_max(previous_permanence, _source_row) AS previous_permanence
            FROM staged_previous_permanence GROUP BY ALL
        ),
        sw AS (
            SELECT _return, child_id, count(*) AS social_worker_episodes
            FROM staged_sw_episodes GROUP BY ALL
        ),
        returned AS (
            SELECT _return, string_agg(source_table, ',' ORDER BY source_table) AS tables_returned
            FROM returned_tables GROUP BY ALL
        )
        SELECT coalesce(h._source_file, ep.first_file) || '#' || coalesce(h._source_row, ep.first_row)
                   AS record_key,
               coalesce(h._load_id, {sql_str(ctx.load_id)}) AS _load_id,
               coalesce(h._source_file, ep.first_file) AS _source_file,
               coalesce(h._source_row, ep.first_row) AS _source_row,
               c._return,
               {sql_str(y.label)} AS academic_year,
               DATE '{end.isoformat()}' AS year_end,
               {la_from_return("c")} AS la_code,
               c.child_id,
               c.child_id AS la_child_id,  -- the linkage key's name in every feed (CIN: LAchildID)
               h._source_row IS NOT NULL AS header_present,
               CASE WHEN h.upn_status = 'unknown_code' THEN NULL ELSE h.upn END AS upn,
               coalesce(h.upn_status, 'missing') AS upn_status,
               CASE WHEN h.upn_status = 'unknown_code' THEN h.upn END AS upn_unknown,
               CAST(NULL AS VARCHAR) AS former_upn, 'missing' AS former_upn_status,
               h.dob, h.sex,
               {age_on("h.dob", end)} AS age_at_31_march,
               h.ethnicity, {ethnicity_columns("h.ethnicity")},
               h.mother IS NOT NULL AND h.mother >= 1 AS is_mother,
               ep.home_postcode AS postcode, ep.placement_postcode,
               coalesce(ep.episodes, 0) AS episodes,
               ep.first_decom, ep.legal_status_first, ep.legal_status_latest,
               ep.placement_latest, ep.placement_provider_latest, ep.need_code,
               coalesce(ep.looked_after_at_31_march, false) AS looked_after_at_31_march,
               coalesce(ep.started_in_year, false) AS started_in_year,
               ep.reason_ceased, ep.ceased_date,
               coalesce(ep.reason_ceased IN ('E11', 'E12'), false) AS adopted_in_year,
               coalesce(ep.placement_changes_in_year, 0) AS placement_changes_in_year,
               coalesce(ep.days_looked_after_in_year, 0) AS days_looked_after_in_year,
               coalesce(u.uasc, false) AS uasc,
               coalesce(r.reviews_in_year, 0) AS reviews_in_year,
               coalesce(m.missing_episodes, 0) AS missing_episodes,
               coalesce(m.away_episodes, 0) AS away_episodes,
               o2.sdq_score, o2.sdq_reason, o2.convicted, o2.health_check, o2.immunisations,
               o2.teeth_check, o2.health_assessment, o2.substance_misuse,
               o2.intervention_received, o2.intervention_offered,
               o3.in_touch, o3.activity AS care_leaver_activity,
               o3.accommodation AS care_leaver_accommodation,
               coalesce(a.adoption_recorded, false) AS adoption_recorded,
               a.adopted_by_foster_carer, a.number_of_adopters,
               coalesce(pl.placed_for_adoption, false) AS placed_for_adoption,
               pp.previous_permanence,
               sw.social_worker_episodes,
               ret.tables_returned,
               CASE WHEN h._source_row IS NOT NULL THEN h.dob IS NOT NULL END AS rule_102_dob_present,
               CASE WHEN h._source_row IS NOT NULL AND h.ethnicity IS NOT NULL
                    THEN {codelist("ethnicity").sql_valid("h.ethnicity")} END AS rule_103_ethnicity_valid,
               ep.rule_143_rne_valid, ep.rule_144_ls_valid, ep.rule_145_need_valid,
               ep.rule_146_place_valid, ep.rule_148_dec_rec_together, ep.rule_149_rec_valid,
               ep.rule_356_dec_after_decom, ep.episodes_in_year, ep.rule_one_open_episode,
               r.review_codes_valid, m.missing_dates_ordered,
               CASE WHEN h.upn_status = 'unknown_code' THEN
                   regexp_full_match(h.upn, '^UN[1-5]$') END AS rule_168_un_code_valid,
               CASE WHEN h.upn = 'UN1' THEN {age_on("h.dob", end)} < 5 END
                   AS rule_209_un1_not_school_age
        FROM children c
        LEFT JOIN staged_header h USING (_return, child_id)
        LEFT JOIN episodes ep USING (_return, child_id)
        LEFT JOIN uasc u USING (_return, child_id)
        LEFT JOIN reviews r USING (_return, child_id)
        LEFT JOIN missing m USING (_return, child_id)
        LEFT JOIN oc2 o2 USING (_return, child_id)
        LEFT JOIN oc3 o3 USING (_return, child_id)
        LEFT JOIN ad1 a USING (_return, child_id)
        LEFT JOIN placed pl USING (_return, child_id)
        LEFT JOIN prev pp USING (_return, child_id)
        LEFT JOIN sw USING (_return, child_id)
        LEFT JOIN returned ret ON ret._return = c._return
        ORDER BY _source_file, _source_row
        """
    )
