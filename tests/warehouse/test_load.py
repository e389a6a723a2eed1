"""Partition loads are atomic and idempotent, on DuckDB and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlalchemy as sa

from warehouse import bulk
from warehouse.engine import ensure_schema, open_engine
from warehouse.load import replace_partition
from warehouse_schema.catalogue import load_catalogue

TABLE = load_catalogue().table("research.ks2_result")


def _rows(year: str, n: int, score: int) -> pa.Table:
    return pa.table(
        {
            "pupil_pseudonym": [f"p{i}" for i in range(n)],
            "academic_year": [year] * n,
            "read_score": [score] * n,
            "read_exp": [score >= 100] * n,
            "load_id": [f"load-{year}"] * n,
        }
    )


def _content(conn: sa.Connection) -> list[tuple]:
    return conn.execute(
        sa.text(
            "SELECT academic_year, count(*), min(read_score), max(read_score) FROM research.ks2_result "
            "GROUP BY 1 ORDER BY 1"
        )
    ).fetchall()


def _exercise(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_engine(url) as engine:
        with engine.begin() as conn:
            ensure_schema(conn, "warehouse")
            conn.execute(sa.text("DELETE FROM research.ks2_result"))
            replace_partition(conn, TABLE, {"academic_year": "2022/23"}, _rows("2022/23", 3, 101))
            replace_partition(conn, TABLE, {"academic_year": "2023/24"}, _rows("2023/24", 4, 99))
        with engine.begin() as conn:
            replace_partition(conn, TABLE, {"academic_year": "2023/24"}, _rows("2023/24", 4, 99))
        with engine.connect() as conn:
            assert _content(conn) == [("2022/23", 3, 101, 101), ("2023/24", 4, 99, 99)]

        def broken(conn, schema, table, data):
            raise OSError("disk full")

        monkeypatch.setattr("warehouse.load.insert_arrow", broken)
        with pytest.raises(OSError), engine.begin() as conn:
            replace_partition(conn, TABLE, {"academic_year": "2023/24"}, _rows("2023/24", 9, 110))
        with engine.connect() as conn:
            assert _content(conn) == [("2022/23", 3, 101, 101), ("2023/24", 4, 99, 99)]


def test_duckdb_partition_replace_is_atomic_and_idempotent(tmp_path, monkeypatch) -> None:
    _exercise(f"duckdb:///{tmp_path}/w.duckdb", monkeypatch)


@pytest.mark.postgres
def test_postgres_partition_replace_uses_copy_and_is_atomic(postgres: str, monkeypatch) -> None:
    _exercise(postgres, monkeypatch)


@pytest.mark.postgres
def test_postgres_copy_round_trips_nulls_empty_strings_and_types(postgres: str) -> None:
    data = pa.table(
        {
            "s": ["a", "", None, 'quote "x", comma'],
            "n": pa.array([1, None, 3, 4], pa.int64()),
            "b": [True, False, None, True],
            "d": [dt.date(2024, 1, 2), None, dt.date(2024, 3, 4), dt.date(2024, 5, 6)],
        }
    )
    with open_engine(postgres) as engine, engine.begin() as conn:
        bulk.create_temp(conn, "_roundtrip", data)
        back = bulk.query_arrow(conn, "SELECT s, n, b, d FROM _roundtrip", schema=data.schema)
    assert back.column("s").to_pylist() == ["a", "", None, 'quote "x", comma']
    assert back.column("n").to_pylist() == [1, None, 3, 4]
    assert back.column("b").to_pylist() == [True, False, None, True]
    assert back.column("d").to_pylist() == data.column("d").to_pylist()
