"""The ILR on generated data: every learner staged, ULN links that bridge to the census
per the truth, outsiders kept apart, unusable ULNs handed to the fallback, a research
table without identifiers, and no identifier in the summary, reports or quarantine."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from core.partition import Partition
from ingest.stage import read_report
from linkage.identifiers import TEMPORARY_ULN
from tests.feeds.ilr.conftest import YEARS, IlrRun

PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")
IDENTIFYING = {"uln", "learn_ref", "surname", "forename", "dob", "postcode", "postcode_prior"}


def test_every_partition_loads(ilr_env: IlrRun) -> None:
    assert {k: r.status for k, r in ilr_env.results.items()} == dict.fromkeys(
        ilr_env.results, "loaded"
    )


@pytest.mark.parametrize("year", YEARS, ids=lambda y: y.label)
def test_every_learner_and_delivery_is_staged_and_matches_the_truth(ilr_env: IlrRun, year) -> None:
    report = read_report(ilr_env.settings, Partition("ilr", year))
    assert all(f.balanced for f in report.files)
    learners = sum(f.rows_read for f in report.files if f.table == "learner")
    staged = sum(f.rows_staged for f in report.files if f.table == "learner")
    deliveries = sum(f.rows_staged for f in report.files if f.table == "learning_delivery")
    truth = duckdb.sql(f"SELECT count(*) FROM {ilr_env.truth('ilr', year)}").fetchall()[0][0]
    assert learners == staged == report.records == truth > 50
    assert deliveries > learners  # most learners have more than one aim
    assert {f.table for f in report.files} == {
        "header",
        "provider",
        "learner",
        "learning_delivery",
    }
    notes = " ".join(m for f in report.files for m in f.messages)
    assert "<LearnerDestinationandProgression> element(s) not staged (skip)" in notes


PARTS = (("ilr", "annual"), ("school_census", "summer"))


def _everything(run: IlrRun, linked: Callable[..., str] | None = None) -> duckdb.DuckDBPyConnection:
    """Views `ilr` and `census` (summer): every record of the run with its truth, `y` the
    year's index; `linked` names another run's linked files (default: the run's own)."""
    linked = linked or run.linked
    con = duckdb.connect()
    parts = [
        f"SELECT {i} AS y, '{feed}' AS feed, r.record_key, r.person_id, r.link_method, "
        "r.new_person, r.uln, coalesce(r.uln_valid, false) AS uln_valid, t.person_id AS truth "
        f"FROM read_parquet({linked(feed, year, term)}) r "
        f"JOIN read_parquet({run.truth(feed, year, term)}) t "
        "ON t.source_file = r._source_file AND t.source_row = r._source_row"
        for i, year in enumerate(YEARS)
        for feed, term in PARTS
    ]
    con.execute(f"CREATE VIEW a AS {' UNION ALL '.join(parts)}")
    con.execute("CREATE VIEW ilr AS SELECT * FROM a WHERE feed = 'ilr'")
    con.execute("CREATE VIEW census AS SELECT * FROM a WHERE feed = 'school_census'")
    # School leavers in the ILR with a valid ULN, beside the one person the census holds for
    # them (a child the census itself split is the first period's limit, docs/linkage.md),
    # whether a census record carried this ULN, and the first year the ILR had it.
    con.execute(
        """
        CREATE VIEW leavers AS
        SELECT i.*, p.person_id AS census_person,
               EXISTS (SELECT 1 FROM census c WHERE c.truth = i.truth AND c.uln = i.uln) AS carried,
               i.y = min(i.y) OVER (PARTITION BY i.truth, i.uln) AS first_year
        FROM ilr i
        JOIN (SELECT truth, min(person_id) AS person_id FROM census GROUP BY truth
              HAVING count(DISTINCT person_id) = 1) p USING (truth)
        WHERE i.truth >= 0 AND i.uln_valid
        """
    )
    return con


def test_school_leavers_are_their_census_person_whether_or_not_the_census_carried_their_uln(
    ilr_env: IlrRun,
) -> None:
    """A leaver whose census record carried the ULN links by it; one whose census never did
    (10% of Y10+ pupils in the generator) is offered to the fallback before the unseen ULN
    could make a second person, is found, and the ULN is learned: their next ILR record
    links by ULN."""
    con = _everything(ilr_env)
    wrong = con.sql("SELECT count(*) FROM leavers WHERE person_id IS DISTINCT FROM census_person")
    assert wrong.fetchall()[0][0] == 0
    by_case = dict(
        con.sql(
            "SELECT carried || '/' || first_year || '/' || link_method, count(*) FROM leavers "
            "GROUP BY 1"
        ).fetchall()
    )
    carried = sum(n for k, n in by_case.items() if k.startswith("true/"))
    assert carried > 40 and carried == by_case.get("true/true/uln", 0) + by_case.get(
        "true/false/uln", 0
    )
    # Never carried: the fallback found them (no record in review in this run) ...
    found = by_case.get("false/true/probabilistic", 0)
    assert found >= 10 and by_case.get("false/true/uln", 0) == 0
    # ... and the next year their ULN was known.
    assert by_case.get("false/false/uln", 0) >= 5
    assert set(by_case) <= {
        "true/true/uln",
        "true/false/uln",
        "false/true/probabilistic",
        "false/false/uln",
    }
    uln_persons = con.sql(
        "SELECT count(*) FROM leavers WHERE NOT carried AND link_method = 'uln' AND new_person"
    ).fetchall()[0][0]
    assert uln_persons == 0


def test_learners_with_no_census_record_never_join_a_pupil(ilr_env: IlrRun) -> None:
    """Outsiders (negative ids in the truth): an unseen valid ULN with no census match makes
    the learner's person, never a pupil's; one person per learner across years, even where
    the first record's ULN was unusable (a fallback person) and a later one valid (the
    fallback finds that person before the ULN could make another)."""
    for year in YEARS:
        con = ilr_env.with_truth(year)
        outsiders, joined = con.sql(
            "SELECT count(*), count(*) FILTER (WHERE person_id IN (SELECT person_id FROM census)) "
            "FROM ilr WHERE truth < 0"
        ).fetchall()[0]
        assert outsiders > 50 and joined == 0
    con = _everything(ilr_env)
    split = con.sql(
        "SELECT count(*) FROM (SELECT truth FROM ilr WHERE truth < 0 GROUP BY truth "
        "HAVING count(DISTINCT person_id) > 1)"
    ).fetchall()[0][0]
    kept, unusable_first = con.sql(
        """
        SELECT count(*) FILTER (WHERE persons = 1 AND records > 1),
               count(*) FILTER (WHERE persons = 1 AND NOT first_valid AND any_valid)
        FROM (SELECT truth, count(*) AS records, count(DISTINCT person_id) AS persons,
                     arg_min(uln_valid, y) AS first_valid, bool_or(uln_valid) AS any_valid
              FROM ilr WHERE truth < 0 GROUP BY truth)
        """
    ).fetchall()[0]
    assert split == 0 and kept > 20 and unusable_first >= 1
    # Each outsider's first record: a valid ULN makes their person (no candidate above the
    # threshold among the pupils), and the ULN's person is no one else's.
    first = con.sql(
        "SELECT link_method, new_person, count(*) FROM ilr WHERE truth < 0 AND uln_valid "
        "AND y = (SELECT min(y) FROM ilr o WHERE o.truth = ilr.truth) GROUP BY ALL"
    ).fetchall()
    assert {(m, n) for m, n, _ in first} <= {("uln", True), ("uln", False)}
    assert sum(c for m, n, c in first if n) > 50


def test_learners_whose_uln_is_unusable_go_to_the_fallback(ilr_env: IlrRun) -> None:
    rows = []
    for year in YEARS:
        con = ilr_env.with_truth(year)
        rows += con.sql(
            "SELECT uln_status, uln_valid, link_method, defect FROM ilr "
            "WHERE defect IN ('temporary_uln', 'bad_check')"
        ).fetchall()
    assert rows
    for status, valid, method, defect in rows:
        assert not valid and method != "uln"
        assert status == ("temporary" if defect == "temporary_uln" else "bad_check")
        assert method in ("probabilistic", "clerical", "unlinked")
    # Where the learner is known by an identifier elsewhere, the fallback found that person.
    con = duckdb.connect()
    parts = [
        f"SELECT r.person_id, r.link_method, r.new_person, t.person_id AS truth "
        f"FROM read_parquet({ilr_env.linked(feed, year, term)}) r "
        f"JOIN read_parquet({ilr_env.truth(feed, year, term)}) t "
        "ON t.source_file = r._source_file AND t.source_row = r._source_row"
        for feed, term in (("ilr", "annual"), ("school_census", "summer"))
        for year in YEARS
    ]
    con.execute(f"CREATE VIEW a AS {' UNION ALL '.join(parts)}")
    placed, right = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE k.person_id = p.person_id) "
        "FROM a p JOIN (SELECT truth, min(person_id) AS person_id FROM a "
        "WHERE link_method IN ('upn', 'former_upn', 'uln') GROUP BY truth) k USING (truth) "
        "WHERE p.link_method = 'probabilistic' AND NOT p.new_person"
    ).fetchall()[0]
    assert placed >= 1 and right == placed


def test_sex_is_harmonised_and_the_research_table_holds_no_identifier(ilr_env: IlrRun) -> None:
    with duckdb.connect(
        ilr_env.settings.warehouse_url.removeprefix("duckdb:///"), read_only=True
    ) as con:
        columns = {
            r[0]
            for r in con.sql(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'research' AND table_name = 'ilr_learner'"
            ).fetchall()
        }
        assert columns and not columns & IDENTIFYING
        sexes = {r[0] for r in con.sql("SELECT DISTINCT sex FROM research.ilr_learner").fetchall()}
        assert sexes == {"M", "F"}
        per_year = dict(
            con.sql(
                "SELECT academic_year, count(*) FROM research.ilr_learner GROUP BY 1"
            ).fetchall()
        )
        pseudonyms = [
            r[0]
            for r in con.sql(
                "SELECT pupil_pseudonym FROM research.ilr_learner WHERE pupil_pseudonym IS NOT NULL"
            ).fetchall()
        ]
    for year in YEARS:
        report = read_report(ilr_env.settings, Partition("ilr", year))
        assert per_year[year.label] == report.records
    assert pseudonyms and all(PSEUDONYM.match(p) for p in pseudonyms)


def test_no_learner_identifier_reaches_the_summary_or_reports(ilr_env: IlrRun) -> None:
    from quality.summary import period_lines, render

    year = YEARS[-1]
    records = ilr_env.settings.staging_dir / "ilr" / year.slug / "annual" / "records.parquet"
    values = duckdb.sql(
        f"SELECT uln, surname, forename, CAST(dob AS VARCHAR), postcode, learn_ref FROM '{records}'"
    ).fetchall()
    identifiers = {v for row in values for v in row if v and len(v) > 4} - {TEMPORARY_ULN}
    assert len(identifiers) > 100
    out = io.StringIO()
    render(period_lines(ilr_env.settings), ilr_env.settings, Console(file=out, width=200))
    summary = out.getvalue()
    assert "ilr" in summary and "2024/25" in summary
    texts = [summary]
    staging = ilr_env.settings.staging_dir / "ilr"
    texts += [p.read_text(encoding="utf-8") for p in staging.rglob("*.json")]
    texts += [p.read_text(encoding="utf-8") for p in ilr_env.settings.reports_dir.rglob("*.json")]
    quarantine = [str(p) for p in staging.rglob("quarantine.parquet")]
    texts += [r[0] for r in duckdb.sql(f"SELECT reason FROM read_parquet({quarantine})").fetchall()]
    text = "\n".join(texts)
    reached = sorted(i for i in identifiers if i in text)
    assert not reached, f"an identifier reached the summary or a report ({len(reached)})"


@pytest.mark.parametrize(
    ("plant", "rule", "blocks"),
    [
        ("bad_check", "ULN check digit, systemic", True),
        ("reversed_end", "of learning_delivery rows were quarantined", True),
        ("few_bad_checks", "ULN_04 ULN check digit", False),
    ],
)
def test_the_suite_flags_planted_defects(
    ilr_run: IlrRun, settings, plant: str, rule: str, blocks: bool
) -> None:
    """Defects planted in a generated file: a systemic fault blocks, a keying slip warns."""
    import json

    from ingest.errors import PartitionBlocked
    from pipeline import steps
    from tests.feeds.ilr.conftest import land_ilr

    year = YEARS[-1]
    path = max(ilr_run.files(year), key=lambda p: p.stat().st_size)
    text = path.read_text(encoding="utf-8")

    def wrong_check(m: re.Match) -> str:
        uln = m.group(1)
        return f"<ULN>{uln[:9]}{(int(uln[9]) + 1) % 10}</ULN>"

    if plant == "bad_check":
        text = re.sub(r"<ULN>([1-8][0-9]{9})</ULN>", wrong_check, text)
    elif plant == "few_bad_checks":
        text = re.sub(r"<ULN>([1-8][0-9]{9})</ULN>", wrong_check, text, count=3)
    else:
        text = re.sub(
            r"<LearnStartDate>(\d{4})-", lambda m: f"<LearnStartDate>{int(m.group(1)) + 3}-", text
        )
    land_ilr(settings, year, path, text.encode("utf-8"))
    partition = Partition("ilr", year)
    if plant == "reversed_end":  # start dates three years on: quarantined at staging, systemic
        with pytest.raises(PartitionBlocked, match=re.escape(rule)):
            steps.stage(partition, settings)
        return
    steps.stage(partition, settings)
    if blocks:
        with pytest.raises(PartitionBlocked, match=re.escape(rule)):
            steps.validate(partition, settings)
        return
    summary = steps.validate(partition, settings)
    assert summary["success"] and summary["warnings"] >= 1
    failed = json.loads((partition.staging_dir(settings) / "validation.json").read_text())
    assert rule in json.dumps(failed)


def test_a_next_year_header_is_refused_at_staging_naming_both_years(
    ilr_run: IlrRun, settings
) -> None:
    """A 2024/25 file whose Header states Year 2526 (next year's return in this year's
    folder): refused whole at staging, every row counted and quarantined, and the partition
    blocked with a first line naming the file, the year it states and the partition's."""
    from ingest.errors import PartitionBlocked
    from pipeline import steps
    from tests.feeds.ilr.conftest import land_ilr

    year = YEARS[-1]
    path = max(ilr_run.files(year), key=lambda p: p.stat().st_size)
    text = path.read_text(encoding="utf-8")
    assert text.count("<Year>2425</Year>") == 1
    land_ilr(settings, year, path, text.replace("<Year>2425</Year>", "<Year>2526</Year>").encode())
    partition = Partition("ilr", year)
    with pytest.raises(PartitionBlocked) as blocked:
        steps.stage(partition, settings)
    learners = text.count("<Learner>")
    refusal = (
        "refused whole: it states another period (Year '2526' is the 2025/26 return's; "
        "this is the 2024/25 partition, which expects Year 2425)"
    )
    source = f"2024-25/ilr/{path.parent.name}/{path.name}"
    assert str(blocked.value).splitlines()[0] == (
        f"ilr 2024/25 blocked at staging: {source}: {refusal}; {learners} record(s) found, "
        "every row of the file quarantined"
    )
    report = read_report(settings, partition)
    assert [(f.table, f.status, f.rows_staged) for f in report.files] == [
        ("header", "rejected", 0),
        ("provider", "rejected", 0),
        ("learner", "rejected", 0),
        ("learning_delivery", "rejected", 0),
    ]
    read = {f.table: f.rows_read for f in report.files}
    assert read == {
        "header": 1,
        "provider": 1,
        "learner": learners,
        "learning_delivery": text.count("<LearningDelivery>"),
    }
    assert all(f.rows_quarantined == f.rows_read for f in report.files)
    assert report.records == 0
    reasons = duckdb.sql(
        f"SELECT DISTINCT reason FROM '{partition.staging_dir(settings)}/quarantine.parquet'"
    ).fetchall()
    assert reasons == [(f"file {refusal}",)]


def _link_run_again(run: IlrRun, folder: Path, fallback) -> Callable[..., str]:
    """Link the run's staged records again, partition by partition in the run's order, into a
    fresh identity store under `folder`; returns where each partition's links went."""
    import json

    from core.periods import Term
    from linkage.master_index import link_records

    store = f"duckdb:///{folder / 'identity_store.duckdb'}"
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    for year in YEARS:
        for partition in (Partition("school_census", year, Term.SUMMER), Partition("ilr", year)):
            staged = partition.staging_dir(run.settings)
            load_id = json.loads((staged / "validation.json").read_text())["load_id"]
            out = (
                folder / partition.feed / year.slug / f"{partition.term_value or 'annual'}.parquet"
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            link_records(
                staged / "records.parquet",
                out,
                store,
                folder / "tmp",
                partition.feed,
                year.label,
                partition.term_value,
                load_id,
                fallback=fallback(),
            )
    return lambda feed, year, term="annual": f"'{folder / feed / year.slug / term}.parquet'"


def test_with_the_fallback_off_an_unseen_uln_makes_a_person_at_once_as_before(
    ilr_env: IlrRun, tmp_path: Path
) -> None:
    """NPD_LINKAGE_FALLBACK=none: nothing is offered to a fallback, so a valid ULN decides
    alone, as before: a leaver whose census never carried it is a second person. Linked
    twice from empty stores, the person ids are the same."""
    from linkage.fallback import NoFallback

    first = _link_run_again(ilr_env, tmp_path / "a", NoFallback)
    con = _everything(ilr_env, first)
    methods = dict(
        con.sql("SELECT uln_valid || '/' || link_method, count(*) FROM ilr GROUP BY 1").fetchall()
    )
    assert set(methods) == {"true/uln", "false/unlinked"}
    split, never_carried = con.sql(
        "SELECT count(*) FILTER (WHERE person_id <> census_person), count(*) FROM leavers "
        "WHERE NOT carried"
    ).fetchall()[0]
    assert split == never_carried >= 30
    carried_wrong = con.sql(
        "SELECT count(*) FROM leavers WHERE carried AND person_id <> census_person"
    ).fetchall()[0][0]
    assert carried_wrong == 0
    again = _everything(ilr_env, _link_run_again(ilr_env, tmp_path / "b", NoFallback))
    ids = "SELECT feed, y, record_key, person_id, link_method FROM a ORDER BY ALL"
    assert con.sql(ids).fetchall() == again.sql(ids).fetchall()


def test_linked_again_from_an_empty_store_the_person_ids_are_the_same(
    ilr_env: IlrRun, tmp_path: Path
) -> None:
    """The whole run linked again with the probabilistic fallback (training its own model the
    same way) gives every record the person id and method it has in the run."""
    from linkage.probabilistic import LinkageConfig, ProbabilisticLinker

    config = LinkageConfig(models_dir=tmp_path / "models")
    again = _everything(
        ilr_env, _link_run_again(ilr_env, tmp_path / "a", lambda: ProbabilisticLinker(config))
    )
    ids = "SELECT feed, y, record_key, person_id, link_method, new_person FROM a ORDER BY ALL"
    assert again.sql(ids).fetchall() == _everything(ilr_env).sql(ids).fetchall()
