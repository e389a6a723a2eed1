"""The same pipeline, pointed at PostgreSQL for both stores, loads every partition end to end
into a migrated database (COPY for bulk loads, SQLAlchemy for audit, master index, summary)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.feeds import get_feed
from governance.pseudonymise import pseudonym
from quality.summary import period_lines
from tests.access.conftest import KEY, PgRun, connect
from warehouse_schema import migrations
from warehouse_schema.catalogue import load_catalogue

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_every_partition_loads_into_postgresql(pg_run: PgRun) -> None:
    assert pg_run.results, "no partitions ran"
    failed = {r.partition.label: r.message for r in pg_run.results if r.status != "loaded"}
    assert failed == {}
    engine = connect(pg_run.db.url)
    with engine.connect() as conn:
        for result in pg_run.results:
            part = result.partition
            for table_key in get_feed(part.feed).research_tables:
                table = load_catalogue().table(table_key)
                where = "academic_year = :y" + (
                    " AND census_term = :t" if "census_term" in table.partition_by else ""
                )
                held = conn.execute(
                    sa.text(f"SELECT count(*) FROM {table_key} WHERE {where}"),
                    {"y": part.year.label, "t": part.term_value},
                ).scalar_one()
                assert held == result.steps["load"]["tables"][table_key] > 0
        # the schema the pipeline wrote into is still exactly the migrated catalogue
        for store in ("warehouse", "identity"):
            assert migrations.drift(conn, store) == []
    engine.dispose()


def test_the_summary_reads_postgresql_and_accounts_for_every_row(pg_env: PgRun) -> None:
    lines = period_lines(pg_env.settings)
    assert {(ln.feed, ln.period) for ln in lines} == {
        (
            r.partition.feed,
            r.partition.year.label
            + (f" {r.partition.term_value}" if r.partition.term_value else ""),
        )
        for r in pg_env.results
    }
    for line in lines:
        assert line.status == "loaded"
        assert isinstance(line.rows_read, int) and isinstance(line.rows_loaded, int)
        assert line.rows_read == line.rows_staged + line.rows_quarantined
        assert line.records == line.rows_staged > 0  # one record per staged row of the main table
        assert 0 <= line.linked <= line.records


def test_research_pseudonyms_are_the_keyed_hash_of_the_master_index(pg_run: PgRun) -> None:
    key = bytes.fromhex(KEY)
    engine = connect(pg_run.db.url)
    with engine.connect() as conn:
        persons = conn.execute(
            sa.text(
                "SELECT DISTINCT person_id FROM identity.record_identity "
                "WHERE feed = 'school_census' AND person_id IS NOT NULL"
            )
        ).scalars()
        expected = {pseudonym(key, p) for p in persons}
        held = set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT pupil_pseudonym FROM research.census_pupil "
                    "WHERE pupil_pseudonym IS NOT NULL"
                )
            ).scalars()
        )
    engine.dispose()
    assert held == expected and len(held) > 500
