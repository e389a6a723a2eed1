"""Children in need census records: one row per Child in each LA's return.

The nested modules (CIN episodes, assessments and their factors, CIN plans, section 47
enquiries, child protection plans, disabilities) are summarised per child over the
census year, joined on the child's row in its file (the XML reader's @parent/@record).
Published validation rules that look across a child's modules become boolean columns
(NULL where a rule does not apply) for the GX suite. A child with no UPN but a
UPNunknown code gets upn_status 'unknown_code', as the SSDA903's UN codes do.
"""

from __future__ import annotations

import duckdb

from core.duck import sql_str
from ingest.derive_cla import age_on, collection_year
from ingest.derive_common import DeriveContext, ethnicity_columns, la_from_return


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    start, end = collection_year(ctx.year)
    s, e = f"DATE '{start.isoformat()}'", f"DATE '{end.isoformat()}'"
    during = "{d} <= " + e + " AND ({c} IS NULL OR {c} >= " + s + ")"
    open_at_end = "{d} <= " + e + " AND ({c} IS NULL OR {c} > " + e + ")"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS
        WITH header AS (
            SELECT _source_file, min(reference_date) AS reference_date, min(la_code) AS header_la
            FROM staged_header GROUP BY ALL
        ),
        details AS (
            SELECT _source_file, child_row,
                   count(*) AS cin_episodes,
                   count(*) FILTER (WHERE referral_date BETWEEN {s} AND {e}) AS referrals_in_year,
                   bool_or({open_at_end.format(d="referral_date", c="closure_date")}) AS in_need_at_31_march,
                   bool_or({during.format(d="referral_date", c="closure_date")}) AS in_need_in_year,
                   max(referral_date) AS latest_referral_date,
                   arg_max(referral_source, (referral_date, _source_row)) AS referral_source,
                   arg_max(primary_need, (referral_date, _source_row)) AS primary_need,
                   arg_max(closure_reason, (referral_date, _source_row)) AS closure_reason,
                   arg_max(referral_nfa, (referral_date, _source_row)) AS referral_nfa,
                   bool_and(coalesce(referral_nfa, false)) AS every_referral_nfa,
                   bool_and(closure_date IS NULL OR closure_reason IS NOT NULL) AS rule_8805_closure_has_reason,
                   bool_and(closure_reason IS NULL OR closure_date IS NOT NULL) AS rule_8810_reason_has_closure,
                   bool_and(closure_date IS NULL OR closure_date >= referral_date) AS closure_after_referral,
                   count(*) FILTER (WHERE closure_date IS NULL) <= 1 AS one_open_episode
            FROM staged_cin_details GROUP BY ALL
        ),
        assessments AS (
            SELECT _source_file, child_row,
                   count(*) FILTER (WHERE start_date BETWEEN {s} AND {e}) AS assessments_in_year
            FROM staged_assessments GROUP BY ALL
        ),
        factors_per_assessment AS (
            SELECT _source_file, child_row, assessment_row,
                   count(*) AS n, bool_or(factor = '21') AS none_identified
            FROM staged_assessment_factors GROUP BY ALL
        ),
        factors AS (
            SELECT f._source_file, f.child_row,
                   string_agg(DISTINCT f.factor, ',' ORDER BY f.factor)
                       FILTER (WHERE f.factor IS NOT NULL AND f.factor <> '21') AS assessment_factors,
                   bool_and(NOT (p.none_identified AND p.n > 1)) AS rule_8869_factor_21_alone
            FROM staged_assessment_factors f
            JOIN factors_per_assessment p USING (_source_file, child_row, assessment_row)
            GROUP BY ALL
        ),
        plans AS (
            SELECT _source_file, child_row,
                   bool_or({during.format(d="start_date", c="end_date")}) AS cin_plan_in_year
            FROM staged_cin_plans GROUP BY ALL
        ),
        s47 AS (
            SELECT _source_file, child_row,
                   count(*) FILTER (WHERE start_date BETWEEN {s} AND {e}) AS s47_in_year,
                   count(*) FILTER (WHERE initial_cpc_date BETWEEN {s} AND {e}) AS icpc_in_year
            FROM staged_section47 GROUP BY ALL
        ),
        cpp AS (
            SELECT _source_file, child_row,
                   bool_or({during.format(d="start_date", c="end_date")}) AS cpp_in_year,
                   bool_or({open_at_end.format(d="start_date", c="end_date")}) AS cpp_at_31_march,
                   arg_max(initial_category, (start_date, _source_row)) AS cpp_initial_category,
                   arg_max(latest_category, (start_date, _source_row)) AS cpp_latest_category,
                   max(previous_plans) AS previous_cp_plans
            FROM staged_cp_plans GROUP BY ALL
        ),
        disabilities AS (
            SELECT _source_file, child_row,
                   count(*) FILTER (WHERE disability <> 'NONE') AS disabilities
            FROM staged_disabilities GROUP BY ALL
        )
        SELECT c._source_file || '#' || c._source_row AS record_key,
               c._load_id, c._source_file, c._source_row, c._return,
               {sql_str(ctx.year.label)} AS academic_year,
               DATE '{end.isoformat()}' AS year_end,
               coalesce({la_from_return("c")}, c.la_code, h.header_la) AS la_code,
               c.la_child_id,
               c.upn,
               CASE WHEN c.upn IS NULL AND c.upn_unknown IS NOT NULL THEN 'unknown_code'
                    ELSE c.upn_status END AS upn_status,
               c.former_upn, c.former_upn_status, c.upn_unknown,
               c.dob, c.expected_dob, c.dob IS NULL AND c.expected_dob IS NOT NULL AS unborn,
               c.sex, {age_on("c.dob", end)} AS age_at_31_march,
               c.ethnicity, {ethnicity_columns("c.ethnicity")},
               c.death_date IS NOT NULL AS died,
               coalesce(dis.disabilities, 0) AS disabilities,
               coalesce(dis.disabilities, 0) > 0 AS disabled,
               coalesce(d.cin_episodes, 0) AS cin_episodes,
               coalesce(d.referrals_in_year, 0) AS referrals_in_year,
               coalesce(d.in_need_at_31_march, false) AS in_need_at_31_march,
               coalesce(d.in_need_in_year, false) AS in_need_in_year,
               d.latest_referral_date, d.referral_source, d.primary_need, d.closure_reason,
               d.referral_nfa,
               coalesce(a.assessments_in_year, 0) AS assessments_in_year,
               f.assessment_factors,
               coalesce(p.cin_plan_in_year, false) AS cin_plan_in_year,
               coalesce(s47.s47_in_year, 0) AS s47_in_year,
               coalesce(s47.icpc_in_year, 0) AS icpc_in_year,
               coalesce(cpp.cpp_in_year, false) AS cpp_in_year,
               coalesce(cpp.cpp_at_31_march, false) AS cpp_at_31_march,
               cpp.cpp_initial_category, cpp.cpp_latest_category, cpp.previous_cp_plans,
               h.reference_date = DATE '{end.isoformat()}' AS rule_100_reference_date,
               CASE WHEN {la_from_return("c")} IS NOT NULL
                    THEN coalesce(c.la_code, h.header_la) = {la_from_return("c")} END
                   AS header_la_matches_return,
               (c.dob IS NULL) <> (c.expected_dob IS NULL) AS rule_8525q_one_birth_date,
               d.rule_8805_closure_has_reason, d.rule_8810_reason_has_closure,
               d.closure_after_referral, d.one_open_episode,
               f.rule_8869_factor_21_alone,
               CASE WHEN {age_on("c.dob", end)} BETWEEN 6 AND 15
                    THEN c.upn IS NOT NULL OR c.upn_unknown IS NOT NULL END AS rule_8770q_upn_or_reason,
               CASE WHEN c.upn_unknown = 'UN7' THEN coalesce(d.every_referral_nfa, false) END
                   AS rule_8772_un7_needs_nfa,
               CASE WHEN c.upn_unknown IS NOT NULL THEN c.upn IS NULL END
                   AS rule_upn_unknown_only_without_upn
        FROM staged_child c
        LEFT JOIN header h USING (_source_file)
        LEFT JOIN details d ON d._source_file = c._source_file AND d.child_row = c._source_row
        LEFT JOIN assessments a ON a._source_file = c._source_file AND a.child_row = c._source_row
        LEFT JOIN factors f ON f._source_file = c._source_file AND f.child_row = c._source_row
        LEFT JOIN plans p ON p._source_file = c._source_file AND p.child_row = c._source_row
        LEFT JOIN s47 ON s47._source_file = c._source_file AND s47.child_row = c._source_row
        LEFT JOIN cpp ON cpp._source_file = c._source_file AND cpp.child_row = c._source_row
        LEFT JOIN disabilities dis
               ON dis._source_file = c._source_file AND dis.child_row = c._source_row
        ORDER BY c._source_file, c._source_row
        """
    )
