"""Generated data with known truth and one trained model, shared by the linkage tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from linkage import model as fs
from linkage.bench_data import BenchSpec, build
from linkage.standardise import standard_select


@dataclass(frozen=True)
class Trained:
    folder: Path  # index.parquet, queries.parquet, training.parquet (person_id = truth)
    models_dir: Path
    model: fs.LinkageModel
    facts: dict


def load_standard(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """b_index, b_query, b_train: standardised rows with unique_id and the true person_id."""
    for name, file in (("b_index", "index"), ("b_query", "queries"), ("b_train", "training")):
        con.execute(
            f"CREATE OR REPLACE VIEW raw_{name} AS SELECT * FROM read_parquet('{folder}/{file}.parquet')"
        )
        extra = (
            "row_number() OVER (ORDER BY t.person_id) AS unique_id, t.person_id, "
            "CAST(row_number() OVER (ORDER BY t.person_id) AS VARCHAR) AS record_key, "
            "CAST(NULL AS VARCHAR) AS return_key"
        )
        select = standard_select(con, f"raw_{name}", extra, digest=True)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {select}")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """6,000 pupils a year apart (synth.population with its defect machinery), and a model
    trained on a disjoint set of them the way the pipeline trains on identifier links."""
    folder = tmp_path_factory.mktemp("linkage-data")
    facts = build(BenchSpec(index=6_000, queries=800, seed=7, training=4_000), folder)
    con = duckdb.connect()
    load_standard(con, folder)
    model = fs.train(con, "b_index", "b_train", match_share=1.0, u_pairs=3e5, seed=1)
    con.close()
    models_dir = tmp_path_factory.mktemp("models")
    fs.save(model, models_dir)
    return Trained(folder=folder, models_dir=models_dir, model=model, facts=facts)
