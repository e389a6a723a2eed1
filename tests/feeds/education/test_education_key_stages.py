"""Phonics, KS1, KS4 and KS5: each stages, validates, links and loads on generated data; the
year-specific schema changes; links against the ground truth; no identifiers in research."""

from __future__ import annotations

import re

import duckdb
import pytest
from education_run import KEY_STAGES, YEARS, EducationRun

from core.feeds import get_feed
from core.partition import Partition
from ingest.landing import annual_file_path


@pytest.mark.parametrize("feed", KEY_STAGES)
def test_each_key_stage_feed_loads_every_year_and_every_row_is_accounted_for(
    education_run: EducationRun, feed: str
) -> None:
    for year in YEARS:
        result = education_run.results[Partition(feed, year)]
        assert result.status == "loaded", result.message
        stage, load = result.steps["stage"], result.steps["load"]
        assert stage["rows_read"] == stage["rows_staged"] + stage["rows_quarantined"]
        assert stage["records"] == stage["rows_staged"] > 100
        (table,) = get_feed(feed).research_tables
        assert load["tables"] == {table: stage["records"]}
        assert result.steps["validate"]["critical_failures"] == 0


def test_ks1_names_sex_gender_until_2023_24_and_sex_from_2024_25(
    education_run: EducationRun,
) -> None:
    landing = education_run.settings.landing_dir
    headers = {
        y: annual_file_path(landing, "ks1", y).read_text().split("\n", 1)[0].split(",")
        for y in YEARS
    }
    assert "GENDER" in headers[YEARS[0]] and "SEX" not in headers[YEARS[0]]
    assert "SEX" in headers[YEARS[1]] and "GENDER" not in headers[YEARS[1]]
    with education_run.warehouse() as con:
        rows = con.sql(
            "SELECT academic_year, sex, count(*) FROM research.ks1_result GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    assert {(y, s) for y, s, _ in rows} == {(y.label, s) for y in YEARS for s in ("F", "M")}


def test_ks4_has_progress_8_until_2023_24_and_none_from_2024_25(
    education_run: EducationRun,
) -> None:
    landing = education_run.settings.landing_dir
    later = annual_file_path(landing, "ks4", YEARS[1]).read_text().split("\n", 1)[0]
    assert "KS4_P8SCORE" in annual_file_path(landing, "ks4", YEARS[0]).read_text()[:2000]
    assert "P8" not in later and "KS2READSCORE" not in later
    with education_run.warehouse() as con:
        rows = dict(
            con.sql(
                "SELECT academic_year, count(p8_score) / count(*) FROM research.ks4_result "
                "GROUP BY 1"
            ).fetchall()
        )
        mean, spread = con.sql(
            "SELECT avg(p8_score), stddev(p8_score) FROM research.ks4_result"
        ).fetchall()[0]
        att8 = con.sql("SELECT min(att8), avg(att8), max(att8) FROM research.ks4_result").fetchall()
    assert rows == {YEARS[0].label: 1.0, YEARS[1].label: 0.0}
    assert abs(mean) < 0.1 and 0.6 < spread < 1.6  # P8 centres on 0
    lo, avg, hi = att8[0]
    assert lo >= 0 and hi <= 90 and 40 < avg < 53


def test_key_stage_records_link_to_the_census_pupil_they_are(
    education_run: EducationRun,
) -> None:
    """Against the truth: no two children share a person, and each child is one person
    across the census and every key stage feed."""
    census = [
        str(Partition.of("school_census", y, "summer").staging_dir(education_run.settings))
        + "/linked.parquet"
        for y in YEARS
    ]
    truth_dir = education_run.settings.truth_dir
    con = duckdb.connect()
    parts = []
    for feed in KEY_STAGES:
        files = [str(education_run.staged(feed, y)) for y in YEARS]
        truth = [str(truth_dir / y.slug / feed / "annual.parquet") for y in YEARS]
        parts.append((files, truth))
    parts.append(
        (census, [str(truth_dir / y.slug / "school_census/summer.parquet") for y in YEARS])
    )
    union = " UNION ALL ".join(
        f"SELECT r.person_id, r.link_method, t.person_id AS truth, t.defect "
        f"FROM read_parquet({files}, union_by_name = true) r JOIN read_parquet({truth}) t "
        f"ON t.source_file = r._source_file AND t.source_row = r._source_row"
        for files, truth in parts
    )
    con.execute(f"CREATE VIEW everything AS {union}")
    merged = con.sql(
        "SELECT count(*) FROM (SELECT person_id FROM everything WHERE person_id IS NOT NULL "
        "GROUP BY 1 HAVING count(DISTINCT truth) > 1)"
    ).fetchall()[0][0]
    split, people = con.sql(
        "SELECT count(*) FILTER (WHERE n > 1), count(*) FROM (SELECT truth, "
        "count(DISTINCT person_id) AS n FROM everything WHERE person_id IS NOT NULL GROUP BY 1)"
    ).fetchall()[0]
    assert merged == 0
    assert people > 2500 and split / people < 0.01
    # What stays unlinked is exactly what carries no usable UPN.
    for feed in KEY_STAGES:
        feed_con = education_run.linked_with_truth(feed)
        unlinked = dict(
            feed_con.sql(
                "SELECT defect, count(*) FROM l WHERE link_method = 'unlinked' GROUP BY 1"
            ).fetchall()
        )
        assert set(unlinked) <= {"missing_upn", "bad_check"}, (feed, unlinked)
        rate = feed_con.sql("SELECT avg((link_method <> 'unlinked')::INT) FROM l").fetchall()[0][0]
        assert rate > 0.98, feed


UPN = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}$")


def test_no_identifier_reaches_a_key_stage_research_table(education_run: EducationRun) -> None:
    with education_run.identity() as ident:
        names = {
            r[0].upper()
            for r in ident.sql(
                "SELECT surname FROM identity.record_identity WHERE surname IS NOT NULL UNION "
                "SELECT forename FROM identity.record_identity WHERE forename IS NOT NULL"
            ).fetchall()
        }
    candidates = set()
    for feed in KEY_STAGES:
        candidates |= {
            r[0]
            for r in education_run.linked_with_truth(feed)
            .sql("SELECT DISTINCT candidate_number FROM l WHERE candidate_number IS NOT NULL")
            .fetchall()
        }
    assert len(names) > 300 and len(candidates) > 300
    with education_run.warehouse() as con:
        for feed in KEY_STAGES:
            (table,) = get_feed(feed).research_tables
            schema, name = table.split(".")
            columns = con.sql(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE table_schema = '{schema}' AND table_name = '{name}'"
            ).fetchall()
            assert {c for c, _ in columns} >= {"pupil_pseudonym", "birth_year", "birth_month"}
            assert not {c for c, _ in columns} & {
                "upn",
                "surname",
                "forename",
                "dob",
                "candidate_number",
            }
            for column, dtype in columns:
                assert dtype != "DATE", (table, column)
                values = {
                    str(r[0]).upper()
                    for r in con.sql(
                        f'SELECT DISTINCT "{column}" FROM {table} WHERE "{column}" IS NOT NULL'
                    ).fetchall()
                }
                assert not {v for v in values if UPN.match(v) or POSTCODE.match(v)}, column
                assert not values & names, (table, column)
                assert not values & candidates, (table, column)
