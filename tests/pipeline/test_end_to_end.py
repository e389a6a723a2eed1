"""The whole pipeline on generated data: every partition loads, links hold up against the
ground truth, reruns are identical, and no identifier reaches a research table."""

from __future__ import annotations

import hashlib
import re

import duckdb
import pytest

from core.codes import codelist
from core.partition import Partition
from core.periods import TERMS
from pipeline.steps import run_period
from quality.summary import period_lines
from tests.pipeline.conftest import PipelineRun, warehouse_path
from warehouse_schema.catalogue import load_catalogue


def _warehouse(run: PipelineRun) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse_path(run)), read_only=True)


def test_every_partition_loads_with_staged_linked_and_loaded_rows(run_env: PipelineRun) -> None:
    assert [r.status for r in run_env.results] == ["loaded"] * len(run_env.results)
    lines = period_lines(run_env.settings)
    assert (
        len(lines) == len(run_env.results) >= 8
    )  # two years of three census terms and KS2, at least
    for line in lines:
        assert line.status == "loaded", line
        assert line.rows_staged > 0 and line.rows_loaded == line.rows_staged
        assert line.rows_read == line.rows_staged + line.rows_quarantined
        if line.feed in ("school_census", "ks2"):  # every pupil carries a UPN, nearly all valid
            assert line.link_rate > 0.97, line


def test_every_file_balances(run_env: PipelineRun) -> None:
    with _warehouse(run_env) as con:
        bad = con.sql(
            "SELECT source_file FROM audit.file_account "
            "WHERE rows_read <> rows_staged + rows_quarantined"
        ).fetchall()
        files = con.sql("SELECT count(*) FROM audit.file_account").fetchall()[0][0]
    assert bad == [] and files > 50


def test_links_agree_with_the_ground_truth(run_env: PipelineRun) -> None:
    staging, truth = run_env.settings.staging_dir, run_env.settings.truth_dir
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW l AS SELECT _source_file AS source_file, _source_row AS source_row, person_id "
        f"FROM read_parquet('{staging}/*/*/*/linked.parquet', union_by_name = true)"
    )
    con.execute(
        f"CREATE VIEW t AS SELECT * FROM read_parquet('{truth}/*/*/*.parquet', union_by_name = true)"
    )
    pairs = "SELECT l.person_id, t.person_id AS truth FROM l JOIN t USING (source_file, source_row) WHERE l.person_id IS NOT NULL"
    merged = con.sql(
        f"SELECT count(*) FROM (SELECT person_id FROM ({pairs}) GROUP BY 1 HAVING count(DISTINCT truth) > 1)"
    ).fetchall()[0][0]
    split = con.sql(
        f"SELECT count(*) FROM (SELECT truth FROM ({pairs}) GROUP BY 1 HAVING count(DISTINCT person_id) > 1)"
    ).fetchall()[0][0]
    people = con.sql(f"SELECT count(DISTINCT truth) FROM ({pairs})").fetchall()[0][0]
    assert people > PUPILS_MIN
    assert merged == 0  # deterministic links never join two children
    assert split / people < 0.01  # and rarely leave one child as two persons


PUPILS_MIN = 1500

UPN = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")
ULN = re.compile(r"^[1-9][0-9]{9}$")
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}$")
PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")
# Controlled values that may coincide with a name ("Autumn" is a forename too).
CONTROLLED = {t.value.upper() for t in TERMS} | {
    code.upper()
    for name in ("ethnicity", "language", "sen_type", "ks2_test_outcome", "ks2_ta_outcome")
    for code in codelist(name).values
}


def test_no_identifier_appears_in_any_research_table(run_env: PipelineRun) -> None:
    identity = duckdb.connect(
        run_env.settings.identity_url.removeprefix("duckdb:///"), read_only=True
    )
    names = {
        r[0].upper()
        for r in identity.sql(
            "SELECT surname FROM identity.record_identity WHERE surname IS NOT NULL UNION "
            "SELECT forename FROM identity.record_identity WHERE forename IS NOT NULL"
        ).fetchall()
    }
    dobs = {
        r[0] for r in identity.sql("SELECT DISTINCT dob FROM identity.record_identity").fetchall()
    }
    identity.close()
    assert len(names) > 100
    with _warehouse(run_env) as con:
        columns = con.sql(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'research'"
        ).fetchall()
        research = {t.name for t in load_catalogue().tables.values() if t.schema == "research"}
        assert {"census_pupil", "ks2_result"} <= {t for t, _, _ in columns} <= research
        schemas = {
            r[0]
            for r in con.sql(
                "SELECT DISTINCT table_schema FROM information_schema.tables"
            ).fetchall()
        }
        assert "identity" not in schemas
        for table, column, dtype in columns:
            values = [
                r[0]
                for r in con.sql(
                    f'SELECT DISTINCT "{column}" FROM research.{table} WHERE "{column}" IS NOT NULL'
                ).fetchall()
            ]
            if dtype == "VARCHAR":
                strings = [str(v).upper() for v in values]
                assert not [
                    v for v in strings if UPN.match(v) or ULN.match(v) or POSTCODE.match(v)
                ], column
                if column == "language":  # an open list of 3-4 letter codes, some of them names
                    assert all(re.fullmatch(codelist("language").pattern, v) for v in strings)
                else:
                    assert not (set(strings) - CONTROLLED) & names, (table, column)
                if column == "pupil_pseudonym":
                    assert all(PSEUDONYM.match(v) for v in values)
            if dtype == "DATE":
                assert column in ("census_date", "entry_date"), column
        # dates that could be a birth date are only ever census or entry dates
        assert not dobs & {
            r[0]
            for r in con.sql("SELECT DISTINCT census_date FROM research.census_pupil").fetchall()
        }


def test_the_same_child_has_one_pseudonym_across_terms_years_and_feeds(
    run_env: PipelineRun,
) -> None:
    with _warehouse(run_env) as con:
        in_both = con.sql(
            "SELECT count(DISTINCT k.pupil_pseudonym) FROM research.ks2_result k "
            "JOIN research.census_pupil c USING (pupil_pseudonym) "
            "WHERE c.academic_year = k.academic_year AND c.census_term = 'summer' AND c.ncyear_actual = '6'"
        ).fetchall()[0][0]
        ks2 = con.sql("SELECT count(DISTINCT pupil_pseudonym) FROM research.ks2_result").fetchall()[
            0
        ][0]
        terms = con.sql(
            "SELECT count(*) FROM (SELECT pupil_pseudonym FROM research.census_pupil "
            "WHERE pupil_pseudonym IS NOT NULL GROUP BY 1 HAVING count(DISTINCT academic_year || census_term) = 6)"
        ).fetchall()[0][0]
    assert in_both / ks2 > 0.97
    assert terms > PUPILS_MIN * 0.7


def _checksums(run: PipelineRun) -> dict[str, str]:
    out = {}
    with _warehouse(run) as con:
        for table in ("census_pupil", "ks2_result"):
            rows = con.sql(f"SELECT * FROM research.{table} ORDER BY ALL").fetchall()
            out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    identity = duckdb.connect(run.settings.identity_url.removeprefix("duckdb:///"), read_only=True)
    for table in ("person", "person_identifier", "record_identity"):
        rows = identity.sql(f"SELECT * FROM identity.{table} ORDER BY ALL").fetchall()
        out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    identity.close()
    return out


@pytest.mark.parametrize(
    "partition", [("school_census", "2023/24", "spring"), ("ks2", "2024/25", None)]
)
def test_rerunning_a_partition_gives_an_identical_warehouse(
    run_env: PipelineRun, partition
) -> None:
    before = _checksums(run_env)
    result = run_period(Partition.of(*partition), run_env.settings)
    assert result.status == "loaded"
    assert _checksums(run_env) == before
