"""The engine seam: the model file that scores pairs in DuckDB scores the same pairs, with the
same probabilities, on Spark (local mode, a small sample), so scale-out is proven."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from linkage.scoring import score_duckdb, score_spark
from tests.linkage.conftest import Trained, load_standard

pytestmark = pytest.mark.slow

SAMPLE_QUERIES = 60


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    session = (
        SparkSession.builder.master("local[2]")
        .appName("npd-linkage-test")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_the_same_model_scores_the_same_pairs_on_spark(trained: Trained, spark) -> None:
    con = duckdb.connect()
    load_standard(con, trained.folder)
    con.execute(
        f"CREATE TABLE q AS SELECT * FROM b_query ORDER BY unique_id LIMIT {SAMPLE_QUERIES}"
    )
    # The index rows a blocking rule could pair with the sample (keeps Spark's work small).
    con.execute(
        """
        CREATE TABLE i AS SELECT * FROM b_index b WHERE EXISTS (
            SELECT 1 FROM q WHERE q.dob = b.dob OR (q.forename = b.forename AND q.surname = b.surname))
        """
    )
    model = trained.model
    persons = con.execute("SELECT count(*) FROM b_index").fetchall()[0][0]
    prior = model.prior(persons, 0.9)
    local = score_duckdb(con, "i", "q", model, prior).sort_by(
        [("query_id", "ascending"), ("index_id", "ascending")]
    )
    index = con.sql("SELECT * FROM i").to_arrow_table()
    queries = con.sql("SELECT * FROM q").to_arrow_table()
    remote = score_spark(spark, index, queries, model, prior).sort_by(
        [("query_id", "ascending"), ("index_id", "ascending")]
    )

    assert local.num_rows > SAMPLE_QUERIES  # true pairs and the blocked non-matches
    assert remote.column("index_id").equals(local.column("index_id"))
    assert remote.column("query_id").equals(local.column("query_id"))
    for column in ("match_weight", "match_probability"):
        a = local.column(column).to_numpy()
        b = remote.column(column).to_numpy()
        assert abs(a - b).max() < 1e-6, column
    # And the pairs that matter agree on the decision side of the threshold.
    strong = pa.compute.greater_equal(local.column("match_probability"), 0.9)
    assert pa.compute.sum(strong).as_py() >= SAMPLE_QUERIES * 0.8
