"""Scoring candidate pairs with a trained model, on a Splink engine: DuckDB, or Spark.

The model is data (linkage.model); which database runs it is a Splink DatabaseAPI. The
pipeline scores in the step's local DuckDB; the same model file scores on Spark for
scale-out (tests/linkage/test_spark_engine.py runs it in local mode). Inputs are
standardised rows (linkage.standardise) with an integer unique_id; outputs are Arrow.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import duckdb
import pyarrow as pa

from linkage.model import INDEX, QUERY, LinkageModel, register_term_frequencies
from linkage.standardise import MODEL_COLUMNS

SCORES = pa.schema(
    [
        ("index_id", pa.int64()),
        ("query_id", pa.int64()),
        ("match_weight", pa.float64()),
        ("match_probability", pa.float64()),
    ]
)
_names = count(1)


def _select(table: str, dataset: str) -> str:
    return (
        f"SELECT '{dataset}' AS source_dataset, unique_id, {', '.join(MODEL_COLUMNS)} FROM {table}"
    )


def _linker(db_api: Any, index: Any, queries: Any, model: LinkageModel, prior: float) -> Any:
    from splink import Linker

    n = next(_names)
    linker = Linker(
        [
            db_api.register(index, table_name=f"__npd_index_{n}"),
            db_api.register(queries, table_name=f"__npd_query_{n}"),
        ],
        model.settings_for(db_api.sql_dialect.sql_dialect_str, prior),
        log_level=None,
        validate_settings=False,
    )
    register_term_frequencies(linker, db_api, model)
    return linker


def _pairs_sql(predictions: str) -> str:
    """Predictions as (index_id, query_id, ...), whichever side Splink put each dataset on."""
    return f"""
        SELECT CASE WHEN source_dataset_l = '{INDEX}' THEN unique_id_l ELSE unique_id_r END AS index_id,
               CASE WHEN source_dataset_l = '{INDEX}' THEN unique_id_r ELSE unique_id_l END AS query_id,
               match_weight, match_probability
        FROM {predictions}
    """


def duckdb_linker(
    con: duckdb.DuckDBPyConnection, index: str, queries: str, model: LinkageModel, prior: float
) -> Any:
    """A Splink linker over two local tables of standardised rows (index, queries)."""
    from splink import DuckDBAPI

    n = next(_names)
    con.execute(f"CREATE OR REPLACE TEMP VIEW __npd_in_index_{n} AS {_select(index, INDEX)}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW __npd_in_query_{n} AS {_select(queries, QUERY)}")
    return _linker(DuckDBAPI(con), f"__npd_in_index_{n}", f"__npd_in_query_{n}", model, prior)


def score_duckdb(
    con: duckdb.DuckDBPyConnection,
    index: str,
    queries: str,
    model: LinkageModel,
    prior: float,
    threshold: float | None = None,
    linker: Any = None,
) -> pa.Table:
    """Score every blocked pair of query and index rows (pairs below `threshold` dropped)."""
    linker = linker or duckdb_linker(con, index, queries, model, prior)
    predictions = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    # Fetch fully before anything else runs on this connection (DuckDB 2.0).
    out = con.sql(_pairs_sql(predictions.physical_name)).to_arrow_table()
    predictions.drop_table_from_database_and_remove_from_cache()
    return out.cast(SCORES)


def score_spark(
    spark: Any,
    index: pa.Table,
    queries: pa.Table,
    model: LinkageModel,
    prior: float,
    threshold: float | None = None,
    break_lineage_method: str = "persist",
) -> pa.Table:
    """The same scoring on Spark: index and queries are Arrow tables of standardised rows.

    `persist` keeps intermediate tables in executor memory, right for a single machine;
    a cluster with a checkpoint directory would pass "checkpoint"."""
    from splink import SparkAPI

    db_api = SparkAPI(
        spark_session=spark,
        num_partitions_on_repartition=spark.sparkContext.defaultParallelism,
        break_lineage_method=break_lineage_method,
    )

    def frame(table: pa.Table, dataset: str) -> Any:
        rows = table.select(["unique_id", *MODEL_COLUMNS])
        rows = rows.add_column(0, "source_dataset", pa.array([dataset] * rows.num_rows))
        return spark.createDataFrame(rows)

    linker = _linker(db_api, frame(index, INDEX), frame(queries, QUERY), model, prior)
    predictions = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    pairs = spark.sql(_pairs_sql(predictions.physical_name)).toArrow()
    return pairs.cast(SCORES)
