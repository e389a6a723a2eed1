"""ILR records: one row per Learner in each provider's return.

A learner's learning deliveries (joined on the learner's row in its file, the reader's
@parent) are summarised over the ILR year, 1 August to 31 July. The ILR carries no UPN,
so the identifier columns are the ULN (`uln`, `uln_valid`, and `uln_status` saying why
an unusable one is unusable) and the names, DOB, sex and postcode the probabilistic
fallback compares. Published validation rules that look across a learner's deliveries
become boolean columns (NULL where a rule does not apply), one expectation each.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from core.codes import codelist, mapping, sql_case, sql_literal
from core.duck import sql_str
from core.periods import AcademicYear
from ingest.derive_cla import age_on
from ingest.derive_common import DeriveContext
from ingest.spec import load_spec
from linkage.identifiers import TEMPORARY_ULN

FEED = "ilr"
PLACEHOLDER_POSTCODE = "ZZ99 9ZZ"  # ILR: postcode not known


def ilr_year(year: AcademicYear) -> tuple[dt.date, dt.date]:
    """First and last day of an ILR year (1 August to 31 July)."""
    return dt.date(year.start, 8, 1), dt.date(year.start + 1, 7, 31)


def collection_code(year: AcademicYear) -> str:
    """The Header's CollectionDetails/Year for an academic year: 2024/25 -> '2425'."""
    return f"{year.start % 100:02d}{(year.start + 1) % 100:02d}"


def uln_status(uln: str, valid: str) -> str:
    """SQL: valid, temporary (9999999999), missing, bad_check (ten digits, wrong check
    digit) or bad_format. `valid` is the staged uln_valid column (linkage.identifiers)."""
    return (
        f"CASE WHEN {uln} IS NULL THEN 'missing' "
        f"WHEN {uln} = {sql_literal(TEMPORARY_ULN)} THEN 'temporary' "
        f"WHEN {valid} THEN 'valid' "
        f"WHEN regexp_full_match({uln}, '[1-9][0-9]{{9}}') THEN 'bad_check' "
        "ELSE 'bad_format' END"
    )


def _codes_valid(year: AcademicYear) -> str:
    """SQL over a staged delivery `d`: every coded field is blank or in its code list."""
    table = load_spec(FEED).for_year(year).tables["learning_delivery"]
    tests = [
        f"(d.{f.name} IS NULL OR {codelist(f.codelist).sql_valid('d.' + f.name)})"
        for f in table.fields
        if f.codelist
    ]
    return " AND ".join(tests)


def derive(con: duckdb.DuckDBPyConnection, ctx: DeriveContext) -> None:
    start, end = ilr_year(ctx.year)
    s, e = f"DATE '{start.isoformat()}'", f"DATE '{end.isoformat()}'"
    ten_years_before = f"DATE '{dt.date(start.year - 10, 8, 1).isoformat()}'"
    main_first = "CASE WHEN d.aim_type IN ('1', '5') THEN 0 ELSE 1 END, d.aim_seq, d._source_row"
    group = sql_case(mapping("ilr_ethnic_group_major"), "l.ethnicity", default="'UNCL'")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS
        WITH header AS (
            SELECT h._source_file, min(h.collection) AS collection,
                   min(h.collection_year) AS collection_year, min(h.header_ukprn) AS header_ukprn,
                   min(p.ukprn) AS provider_ukprn
            FROM staged_header h LEFT JOIN staged_provider p USING (_source_file)
            GROUP BY ALL
        ),
        deliveries AS (
            SELECT d._source_file, d.learner_row,
                   count(*) AS aims,
                   count(*) FILTER (WHERE d.start_date <= {e}
                                    AND coalesce(d.actual_end_date, {e}) >= {s}) AS aims_in_year,
                   count(*) FILTER (WHERE d.comp_status = '1') AS aims_continuing,
                   count(*) FILTER (WHERE d.comp_status = '2') AS aims_completed,
                   count(*) FILTER (WHERE d.comp_status = '3') AS aims_withdrawn,
                   count(*) FILTER (WHERE d.outcome = '1') AS aims_achieved,
                   arg_min(d.fund_model, ({main_first})) AS fund_model,
                   arg_min(d.aim_type, ({main_first})) AS main_aim_type,
                   arg_min(d.prog_type, ({main_first})) AS prog_type,
                   arg_min(d.comp_status, ({main_first})) AS main_comp_status,
                   arg_min(d.outcome, ({main_first})) AS main_outcome,
                   bool_or(d.fund_model = '36' OR d.prog_type IS NOT NULL) AS apprenticeship,
                   min(d.start_date) AS first_start_date,
                   max(d.planned_end_date) AS last_planned_end_date,
                   bool_and(d.start_date <= {e} AND d.start_date >= {ten_years_before})
                       AS rule_learn_start_date_in_range,
                   bool_and(d.planned_end_date >= d.start_date) AS rule_plan_end_after_start,
                   bool_and(d.actual_end_date IS NULL OR d.actual_end_date >= d.start_date)
                       AS rule_act_end_after_start,
                   bool_and(d.actual_end_date IS NULL OR d.actual_end_date <= {e})
                       AS rule_act_end_in_year,
                   bool_and((d.comp_status = '1') = (d.actual_end_date IS NULL)
                            OR d.comp_status IS NULL) AS rule_comp_status_matches_end,
                   bool_and(d.outcome IS NULL OR d.actual_end_date IS NOT NULL)
                       AS rule_outcome_needs_end,
                   bool_and(d.achievement_date IS NULL OR d.outcome = '1')
                       AS rule_ach_date_needs_achieved,
                   count(DISTINCT d.aim_seq) = count(d.aim_seq) AS rule_aim_seq_unique,
                   bool_and({_codes_valid(ctx.year)}) AS rule_delivery_codes_valid
            FROM staged_learning_delivery d GROUP BY ALL
        )
        SELECT l._source_file || '#' || l._source_row AS record_key,
               l._load_id, l._source_file, l._source_row, l._return,
               {sql_str(ctx.year.label)} AS academic_year,
               {e} AS year_end,
               coalesce(l.ukprn, h.provider_ukprn) AS ukprn,
               l.learn_ref,
               l.uln, coalesce(l.uln_valid, false) AS uln_valid,
               {uln_status("l.uln", "l.uln_valid")} AS uln_status,
               l.surname, l.forename, l.dob, l.sex,
               CASE WHEN l.postcode <> {sql_literal(PLACEHOLDER_POSTCODE)} THEN l.postcode END
                   AS postcode,
               CASE WHEN l.postcode_prior <> {sql_literal(PLACEHOLDER_POSTCODE)}
                    THEN l.postcode_prior END AS postcode_prior,
               {age_on("l.dob", start - dt.timedelta(days=1))} AS age_at_31_august,
               l.ethnicity, {group} AS ethnic_group_major,
               l.lldd_health_prob, l.lldd_health_prob = '1' AS lldd,
               l.planned_learning_hours,
               coalesce(d.aims, 0) AS aims,
               coalesce(d.aims_in_year, 0) AS aims_in_year,
               coalesce(d.aims_continuing, 0) AS aims_continuing,
               coalesce(d.aims_completed, 0) AS aims_completed,
               coalesce(d.aims_withdrawn, 0) AS aims_withdrawn,
               coalesce(d.aims_achieved, 0) AS aims_achieved,
               d.fund_model, d.main_aim_type, d.prog_type, d.main_comp_status, d.main_outcome,
               coalesce(d.apprenticeship, false) AS apprenticeship,
               d.first_start_date, d.last_planned_end_date,
               d.rule_learn_start_date_in_range, d.rule_plan_end_after_start,
               d.rule_act_end_after_start, d.rule_act_end_in_year,
               d.rule_comp_status_matches_end, d.rule_outcome_needs_end,
               d.rule_ach_date_needs_achieved, d.rule_aim_seq_unique,
               d.rule_delivery_codes_valid,
               d.aims IS NOT NULL AS rule_has_learning_delivery,
               l.postcode IS DISTINCT FROM {sql_literal(PLACEHOLDER_POSTCODE)}
                   AND l.postcode IS NOT NULL AS postcode_known,
               h.collection = 'ILR' AND h.collection_year = {sql_literal(collection_code(ctx.year))}
                   AS rule_header_collection_year,
               coalesce(l.ukprn, h.provider_ukprn) = h.header_ukprn AS rule_header_ukprn_matches,
               CASE WHEN regexp_full_match(l._return, '[0-9]{{8}}')
                    THEN CAST(coalesce(l.ukprn, h.provider_ukprn) AS VARCHAR) = l._return END
                   AS ukprn_matches_return
        FROM staged_learner l
        LEFT JOIN header h USING (_source_file)
        LEFT JOIN deliveries d ON d._source_file = l._source_file AND d.learner_row = l._source_row
        ORDER BY l._source_file, l._source_row
        """
    )
