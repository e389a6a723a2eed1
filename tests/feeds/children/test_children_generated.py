"""The children's feeds on generated data: realistic subsets of the same pupils, both
SSDA903 forms, links that agree with the ground truth, and no identifier in research."""

from __future__ import annotations

import re

import duckdb
import numpy as np

from core.codes import codelist
from tests.feeds.children.conftest import LAS, PUPILS, YEARS, ChildrenRun

UPN = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}$")
CHILD_ID = re.compile(r"^C[0-9]{13}$")
PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")


def _records(run: ChildrenRun, feed: str, year) -> str:
    return f"{run.settings.staging_dir}/{feed}/{year.slug}/annual/records.parquet"


def test_every_partition_loads(children_env: ChildrenRun) -> None:
    assert {k: r.status for k, r in children_env.results.items()} == dict.fromkeys(
        children_env.results, "loaded"
    )


def test_looked_after_and_in_need_children_are_realistic_shares_of_pupils(
    children_env: ChildrenRun,
) -> None:
    for year in YEARS:
        cla = duckdb.sql(
            f"SELECT count(*) FILTER (WHERE looked_after_at_31_march), count(*), "
            f"count(*) FILTER (WHERE uasc) FROM '{_records(children_env, 'ssda903', year)}'"
        ).fetchall()[0]
        cin = duckdb.sql(
            f"SELECT count(*), count(*) FILTER (WHERE age_at_31_march < 5 OR unborn), "
            f"count(*) FILTER (WHERE cpp_in_year) FROM '{_records(children_env, 'cin_census', year)}'"
        ).fetchall()[0]
        # about 0.7% of children looked after on 31 March, about 3% in need in a year
        assert 0.003 * PUPILS < cla[0] < 0.012 * PUPILS, cla
        assert 0.015 * PUPILS < cin[0] < 0.05 * PUPILS, cin
        assert 0.05 < cin[1] / cin[0] < 0.45  # many in need are not yet of school age
        assert cin[2] > 0  # some on child protection plans


def test_the_same_children_appear_in_both_returns_and_the_census(children_env: ChildrenRun) -> None:
    staging = children_env.settings.staging_dir
    year = YEARS[-1]
    con = duckdb.connect()
    linked = lambda feed: f"read_parquet('{staging}/{feed}/{year.slug}/annual/linked.parquet')"  # noqa: E731
    census = f"read_parquet('{staging}/school_census/{year.slug}/spring/linked.parquet')"
    looked_after_in_need = con.sql(
        f"SELECT count(DISTINCT a.person_id), count(DISTINCT b.person_id) FROM {linked('ssda903')} a "
        f"LEFT JOIN {linked('cin_census')} b ON a.person_id = b.person_id AND a.link_method = 'upn' "
        "WHERE a.link_method = 'upn'"
    ).fetchall()[0]
    assert looked_after_in_need[1] / looked_after_in_need[0] > 0.8  # CLA are children in need
    on_roll = con.sql(
        f"SELECT count(*) FILTER (WHERE c.person_id IS NOT NULL), count(*) FROM {linked('cin_census')} a "
        f"LEFT JOIN (SELECT DISTINCT person_id FROM {census}) c USING (person_id) WHERE a.link_method = 'upn'"
    ).fetchall()[0]
    assert on_roll[0] / on_roll[1] > 0.8  # mostly pupils on roll in spring (16-17s may have left)


def test_upn_unknown_codes_and_wrong_check_letters_occur(children_env: ChildrenRun) -> None:
    files = ", ".join(
        repr(_records(children_env, f, y)) for f in ("ssda903", "cin_census") for y in YEARS
    )
    by_feed = duckdb.sql(
        f"SELECT split_part(_source_file, '/', 2) AS feed, upn_status, count(*) "
        f"FROM read_parquet([{files}]) GROUP BY ALL"
    ).fetchall()
    for feed in ("ssda903", "cin_census"):
        statuses = {s: n for f, s, n in by_feed if f == feed}
        assert statuses["valid"] / sum(statuses.values()) > 0.6, (feed, statuses)
        assert statuses["unknown_code"] > 0, (feed, statuses)
    bad = sum(n for _, s, n in by_feed if s == "bad_check")
    assert 0 < bad < 0.06 * sum(n for _, _, n in by_feed)  # about 2% keyed wrongly
    codes = {
        c
        for (c,) in duckdb.sql(
            f"SELECT DISTINCT upn_unknown FROM '{_records(children_env, 'cin_census', YEARS[-1])}' "
            "WHERE upn_unknown IS NOT NULL"
        ).fetchall()
    }
    assert codes <= set(codelist("cin_upn_unknown").values) and "UN1" in codes


def test_both_ssda903_forms_are_staged_alike(children_env: ChildrenRun) -> None:
    year = YEARS[-1]
    landing = children_env.settings.landing_dir / year.slug / "ssda903"
    assert sorted(p.name for p in (landing / f"LA{LAS[3]}").iterdir()) == [
        f"ssda903_{year.slug}_LA{LAS[3]}.xml"
    ]
    assert (landing / f"LA{LAS[0]:03d}" / "episodes.csv").exists()
    rows = duckdb.sql(
        f"SELECT _return, count(*), count(*) FILTER (WHERE episodes > 0), "
        f"count(*) FILTER (WHERE header_present), bool_and(sex IN ('M', 'F')) "
        f"FROM '{_records(children_env, 'ssda903', year)}' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    by_la = {r[0]: r[1:] for r in rows}
    xml = by_la[f"LA{LAS[3]}"]
    assert xml[0] > 0 and xml[0] == xml[1] == xml[2] and xml[3]  # every child, episodes, header
    tables = f"{children_env.settings.staging_dir}/ssda903/{year.slug}/annual/tables"
    reviews = duckdb.sql(
        f"SELECT _return LIKE 'LA{LAS[3]}' AS xml, count(*) > 0, bool_and(child_id IS NOT NULL AND dob IS NOT NULL) "
        f"FROM '{tables}/reviews.parquet' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert reviews == [(False, True, True), (True, True, True)]  # carried CHILD and DOB in XML


def test_links_agree_with_the_ground_truth(children_env: ChildrenRun) -> None:
    staging, truth = children_env.settings.staging_dir, children_env.settings.truth_dir
    con = duckdb.connect()
    con.execute(
        "CREATE VIEW l AS SELECT _source_file AS source_file, _source_row AS source_row, "
        f"person_id, link_method FROM read_parquet('{staging}/*/*/*/linked.parquet', union_by_name = true)"
    )
    con.execute(
        f"CREATE VIEW t AS SELECT * FROM read_parquet('{truth}/*/*/*.parquet', union_by_name = true)"
    )
    children = "(source_file LIKE '%/ssda903/%' OR source_file LIKE '%/cin_census/%')"
    unmatched = con.sql(
        f"SELECT count(*) FROM l ANTI JOIN t USING (source_file, source_row) WHERE {children}"
    ).fetchall()
    assert unmatched == [(0,)]  # every record of the children's feeds has its truth row
    pairs = "SELECT l.person_id, t.person_id AS truth, l.link_method FROM l JOIN t USING (source_file, source_row) WHERE l.person_id IS NOT NULL"
    merged = con.sql(
        f"SELECT count(*) FROM (SELECT person_id FROM ({pairs}) GROUP BY 1 HAVING count(DISTINCT truth) > 1)"
    ).fetchall()
    assert merged == [(0,)]  # no two children made one person
    by_upn = con.sql(
        f"SELECT count(*), count(*) FILTER (WHERE t.person_id >= 0) FROM l JOIN t USING (source_file, source_row) "
        f"WHERE {children} AND l.link_method = 'upn'"
    ).fetchall()[0]
    assert by_upn[0] > 100 and by_upn[0] == by_upn[1]  # UPN links only ever reach pupils
    # A child with a UN code found by the LA's child id (the same year's SSDA903, an earlier
    # CIN) is the child the person's UPN links reached (and no person holds two children).
    by_la_id = con.sql(
        f"""
        SELECT count(*), count(*) FILTER (WHERE t.person_id = (
            SELECT any_value(t2.person_id) FROM l l2 JOIN t t2 USING (source_file, source_row)
            WHERE l2.person_id = l.person_id AND l2.link_method = 'upn'))
        FROM l JOIN t USING (source_file, source_row) WHERE {children} AND l.link_method = 'la_child_id'
        """
    ).fetchall()[0]
    assert by_la_id[0] > 0 and by_la_id[0] == by_la_id[1]
    # A child linked by UPN in the CIN census is, nearly always, the person the census knows.
    same = con.sql(
        """
        WITH cin AS (SELECT t.person_id AS truth, l.person_id FROM l JOIN t USING (source_file, source_row)
                     WHERE source_file LIKE '%/cin_census/%' AND l.link_method = 'upn'),
             census AS (SELECT DISTINCT t.person_id AS truth, l.person_id FROM l JOIN t USING (source_file, source_row)
                        WHERE source_file LIKE '%/school_census/%')
        SELECT count(*), count(*) FILTER (WHERE cin.person_id = census.person_id)
        FROM cin JOIN census USING (truth)
        """
    ).fetchall()[0]
    # A few split: a UPN the summer census issued, or a permanent UPN replacing a temporary
    # one, that the loaded spring census has not seen yet (a former UPN would bridge it).
    assert same[0] > 50 and same[1] / same[0] > 0.97


def test_no_identifier_reaches_the_children_research_tables(children_env: ChildrenRun) -> None:
    settings = children_env.settings
    identity = duckdb.connect(settings.identity_url.removeprefix("duckdb:///"), read_only=True)
    dobs = {
        r[0]
        for r in identity.sql(
            "SELECT DISTINCT dob FROM identity.record_identity WHERE feed IN ('ssda903', 'cin_census') AND dob IS NOT NULL"
        ).fetchall()
    }
    identity.close()
    child_ids = {
        r[0]
        for r in duckdb.sql(
            f"SELECT child_id FROM read_parquet('{settings.staging_dir}/ssda903/*/annual/records.parquet') "
            f"UNION SELECT la_child_id FROM read_parquet('{settings.staging_dir}/cin_census/*/annual/records.parquet')"
        ).fetchall()
    }
    assert len(dobs) > 50 and len(child_ids) > 100
    with duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True) as con:
        columns = con.sql(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'research' AND table_name IN ('cla_child', 'cin_child')"
        ).fetchall()
        assert {t for t, _, _ in columns} == {"cla_child", "cin_child"}
        names = {c for _, c, _ in columns}
        assert not names & {
            "child_id",
            "la_child_id",
            "upn",
            "former_upn",
            "dob",
            "postcode",
            "placement_postcode",
            "expected_dob",
            "death_date",
        }
        for table, column, dtype in columns:
            values = [
                r[0]
                for r in con.sql(
                    f'SELECT DISTINCT "{column}" FROM research.{table} WHERE "{column}" IS NOT NULL'
                ).fetchall()
            ]
            assert dtype != "DATE", (table, column)  # no dates at all: DOB and event dates stay out
            if dtype == "VARCHAR":
                strings = {str(v).upper() for v in values}
                assert not [
                    v for v in strings if UPN.match(v) or POSTCODE.match(v) or CHILD_ID.match(v)
                ], column
                assert not strings & {c.upper() for c in child_ids}, column
                if column == "pupil_pseudonym":
                    assert all(PSEUDONYM.match(v) for v in values)
        districts = {
            r[0]
            for r in con.sql(
                "SELECT DISTINCT placement_district FROM research.cla_child"
            ).fetchall()
        }
        assert districts - {None} and all(
            re.fullmatch(r"[A-Z]{1,2}[0-9][0-9A-Z]?", d) for d in districts - {None}
        )
        rows = con.sql(
            "SELECT count(*), count(pupil_pseudonym) FROM research.cin_child "
            "WHERE link_method = 'upn'"
        ).fetchall()[0]
        assert rows[0] > 0 and rows[1] == rows[0]  # every child linked has its pseudonym


def test_care_histories_are_consistent_with_the_episodes(children_env: ChildrenRun) -> None:
    year = YEARS[-1]
    tables = f"{children_env.settings.staging_dir}/ssda903/{year.slug}/annual/tables"
    bad = duckdb.sql(
        f"SELECT count(*) FILTER (WHERE dec < decom), count(*) FILTER (WHERE (dec IS NULL) <> (reason_ceased IS NULL)), count(*) "
        f"FROM '{tables}/episodes.parquet'"
    ).fetchall()[0]
    assert bad[0] == 0 and bad[1] == 0 and bad[2] > 0
    open_eps = duckdb.sql(
        f"SELECT max(n) FROM (SELECT count(*) FILTER (WHERE dec IS NULL) n FROM '{tables}/episodes.parquet' GROUP BY _return, child_id)"
    ).fetchall()[0][0]
    assert open_eps == 1
    ages = np.array(
        duckdb.sql(
            f"SELECT age_at_31_march FROM '{_records(children_env, 'ssda903', year)}'"
        ).fetchnumpy()["age_at_31_march"]
    )
    assert ages.min() >= 0 and ages.max() <= 19
