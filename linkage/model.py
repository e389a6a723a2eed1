"""The Fellegi-Sunter model: comparisons and blocking as data, trained on pairs the
identifiers already link, and kept as a versioned file.

Training beats Splink's unsupervised default by using what the pipeline already knows:
records linked by UPN (or ULN) in one period and the same person's records from other
periods and feeds are true pairs whose names, dates of birth and postcodes differ the way
real returns do, so they estimate m directly. u comes from random pairs, and the prior is
not stored as a number: it depends on how many persons the index holds when the model is
used, so it is computed then from the expected share of queries that have a match
(Splink's default prior was ~100x too high at national scale).

The model file holds the Splink settings with trained m and u, term frequencies of common
names (a name needs TF_MIN_COUNT holders to be listed, so the file names no rare child),
and metadata. Its version is a hash of what scores pairs, so the same training gives the
same version and every link records exactly which model made it.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from core.duck import scalar

log = logging.getLogger(__name__)

FORMAT = "npd-linkage-model/1"
INDEX, QUERY = "index", "query"  # the two source datasets every model links between
TF_COLUMNS = ("forename", "surname")
TF_MIN_COUNT = 10
SWAP_M = 0.001  # assumed share of true pairs with forename and surname swapped (rare in returns)
MIN_LABELLED_PAIRS = 200
CURRENT = "current"


class TrainingError(ValueError):
    """There is not enough labelled data to train a model (the message says what is missing)."""


def _comparisons() -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def name(col: str, other: str) -> Any:
        return cl.CustomComparison(
            output_column_name=col,
            comparison_levels=[
                cll.NullLevel(col),
                cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
                cll.CustomLevel(
                    f"{col}_l = {other}_r AND {other}_l = {col}_r", "forename and surname swapped"
                ).configure(m_probability=SWAP_M, fix_m_probability=True),
                # Levenshtein <= 2 first: cheap, implied by DL <= 1, and it spares the
                # costly Damerau-Levenshtein on most non-matching pairs.
                cll.And(
                    cll.LevenshteinLevel(col, 2), cll.DamerauLevenshteinLevel(col, 1)
                ).configure(label_for_charts="one typo (Damerau-Levenshtein <= 1)"),
                cll.JaroWinklerLevel(col, 0.9),
                cll.JaroWinklerLevel(col, 0.7),
                cll.ElseLevel(),
            ],
        )

    dob = cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "year(dob_l) = year(dob_r) AND month(dob_l) = dayofmonth(dob_r) "
                "AND dayofmonth(dob_l) = month(dob_r)",
                "day and month swapped",
            ),
            cll.CustomLevel(
                "year(dob_l) = year(dob_r) AND month(dob_l) = month(dob_r)", "same year and month"
            ),
            cll.AbsoluteDateDifferenceLevel(
                "dob", input_is_string=False, threshold=1, metric="year"
            ).configure(label_for_charts="within a year"),
            cll.ElseLevel(),
        ],
    )
    return [
        name("forename", "surname"),
        name("surname", "forename"),
        dob,
        cl.ExactMatch("sex"),
        cl.CustomComparison(
            output_column_name="postcode",
            comparison_levels=[
                cll.NullLevel("postcode"),
                cll.ExactMatchLevel("postcode").configure(label_for_charts="same postcode"),
                cll.ExactMatchLevel("sector").configure(label_for_charts="same sector"),
                cll.ExactMatchLevel("district").configure(label_for_charts="same district"),
                cll.ElseLevel(),
            ],
        ),
    ]


# Designed by counting pairs first (`npd bench linkage` prints them): DOB alone, or sex with
# surname initial and birth year, explodes at national scale; each rule below keeps a few
# candidates per query and together they miss almost no true pair.
BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("dob", "forename"),
    ("dob", "surname"),
    ("forename", "surname", "birth_year"),
    ("dob", "sector"),  # district would do, but gives as many pairs as the other rules together
)
# Forename and surname swapped on one side: (left column, right column) pairs.
SWAPPED: tuple[tuple[str, str], ...] = (("dob", "dob"), ("forename", "surname"))
SWAPPED_RULE = " AND ".join(f"l.{a} = r.{b}" for a, b in SWAPPED)


def blocking_rules() -> list[Any]:
    from splink import block_on

    return [block_on(*cols) for cols in BLOCKING_RULES] + [SWAPPED_RULE]


def base_settings() -> Any:
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        source_dataset_column_name="source_dataset",
        comparisons=_comparisons(),
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


@dataclass(frozen=True)
class LinkageModel:
    splink: dict[str, Any]  # Splink settings with trained m and u
    term_frequencies: dict[str, list[tuple[str, float]]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.meta["version"]

    @property
    def match_share(self) -> float:
        """Share of training queries that had a match: the prior's starting point."""
        return float(self.meta.get("match_share", 0.9))

    @property
    def exact_recall(self) -> float:
        """Share of true pairs agreeing exactly on forename, surname and DOB."""
        return float(self.meta.get("exact_recall", 0.95))

    def settings_for(self, dialect: str, prior: float) -> dict[str, Any]:
        """Splink settings for one engine: its own SQL, this model's parameters.

        The stored SQL is DuckDB's (double-quoted identifiers, DuckDB function names), which
        Spark would misread, so the comparisons are generated afresh for the engine from
        the definitions here and the trained m and u copied across level by level; a model
        trained on other comparisons is refused, not silently misapplied.
        """
        fresh = base_settings().create_settings_dict(dialect)
        trained = self.splink["comparisons"]
        if [c["output_column_name"] for c in fresh["comparisons"]] != [
            c["output_column_name"] for c in trained
        ]:
            raise ValueError(f"linkage model {self.version} has other comparisons: retrain it")
        for new, old in zip(fresh["comparisons"], trained, strict=True):
            labels = [lv.get("label_for_charts") for lv in old["comparison_levels"]]
            if [lv.get("label_for_charts") for lv in new["comparison_levels"]] != labels:
                raise ValueError(
                    f"linkage model {self.version}: the {new['output_column_name']} levels "
                    "differ from the code's: retrain it"
                )
            for level, stored in zip(
                new["comparison_levels"], old["comparison_levels"], strict=True
            ):
                for key in ("m_probability", "u_probability"):
                    if stored.get(key) is not None:
                        level[key] = stored[key]
        fresh["probability_two_random_records_match"] = prior
        fresh["linker_uid"] = "npd"
        return fresh

    @staticmethod
    def prior(index_persons: int, share: float) -> float:
        """P(a random query-index pair is a match) = share of queries with a match / persons."""
        return min(max(share, 1e-6), 0.999) / max(index_persons, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "meta": self.meta,
            "term_frequencies": {k: [list(r) for r in v] for k, v in self.term_frequencies.items()},
            "splink": self.splink,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinkageModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a linkage model file (format {data.get('format')!r})")
        tf = {k: [(str(n), float(f)) for n, f in v] for k, v in data["term_frequencies"].items()}
        return cls(splink=data["splink"], term_frequencies=tf, meta=data["meta"])


def _version(splink: dict[str, Any], tf: dict[str, list[tuple[str, float]]]) -> str:
    scoring = copy.deepcopy(splink)
    scoring.pop("linker_uid", None)
    text = json.dumps({"splink": scoring, "tf": tf}, sort_keys=True, default=str)
    return "fs-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _smooth(splink: dict[str, Any], labelled: int, u_pairs: float) -> None:
    """Add-half smoothing so a level never seen in training keeps a small, finite weight.

    Without it a level no labelled pair reached (a sex mismatch, a wholly different
    forename) would get Splink's untrained default, and one never seen among random pairs
    an infinite weight.
    """
    for comparison in splink["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        k = len(levels)
        for key, n in (("m_probability", labelled), ("u_probability", u_pairs)):
            fixed = "fix_m_probability" if key == "m_probability" else "fix_u_probability"
            free = [lv for lv in levels if not lv.get(fixed)]
            total = sum(lv.get(key) or 0.0 for lv in free)
            for lv in free:
                p = (lv.get(key) or 0.0) / total if total else 1.0 / k
                lv[key] = (p * n + 0.5) / (n + 0.5 * k)


def _term_frequencies(
    con: duckdb.DuckDBPyConnection, table: str
) -> dict[str, list[tuple[str, float]]]:
    out = {}
    for col in TF_COLUMNS:
        rows = con.execute(
            f"""
            SELECT {col}, count(*) / sum(count(*)) OVER () AS tf, count(*) AS n
            FROM {table} WHERE {col} IS NOT NULL GROUP BY {col}
            """
        ).fetchall()
        out[col] = sorted((name, float(tf)) for name, tf, n in rows if n >= TF_MIN_COUNT)
    return out


def register_term_frequencies(linker: Any, db_api: Any, model: LinkageModel) -> None:
    """Use the model's name frequencies (of the whole index), not those of the candidates at
    hand: candidates are pre-selected by name, so their own frequencies would be skewed."""
    import pyarrow as pa

    for col, rows in model.term_frequencies.items():
        table = pa.table(
            {col: [r[0] for r in rows], f"tf_{col}": [r[1] for r in rows]},
            schema=pa.schema([(col, pa.string()), (f"tf_{col}", pa.float64())]),
        )
        sdf = db_api.register(table, table_name=f"__npd_tf_{col}_{id(linker)}")
        linker.table_management.register_term_frequency_lookup(sdf, col)


def _inputs(con: duckdb.DuckDBPyConnection, table: str, dataset: str, name: str) -> None:
    cols = ", ".join(("unique_id", "person_id", *_model_columns()))
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT '{dataset}' AS source_dataset, {cols} FROM {table}"
    )


def _model_columns() -> tuple[str, ...]:
    from linkage.standardise import MODEL_COLUMNS

    return MODEL_COLUMNS


def train(
    con: duckdb.DuckDBPyConnection,
    index: str,
    queries: str,
    *,
    match_share: float,
    u_pairs: float = 2e6,
    seed: int = 1,
    source: str = "",
    frequencies: str | None = None,
) -> LinkageModel:
    """Train on two local tables of standardised rows with person ids (unique_id, person_id
    and the model columns): rows of the same person across the two are the labelled pairs.

    Name frequencies come from `frequencies` (default: the index table), so a caller
    holding the whole index can train on a sample of it and still count names over all."""
    from splink import DuckDBAPI, Linker

    _inputs(con, index, INDEX, "__npd_train_index")
    _inputs(con, queries, QUERY, "__npd_train_query")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE __npd_train_labels AS
        SELECT '{INDEX}' AS source_dataset_l, i.unique_id AS unique_id_l,
               '{QUERY}' AS source_dataset_r, q.unique_id AS unique_id_r
        FROM __npd_train_index i JOIN __npd_train_query q USING (person_id)
        """
    )
    labelled = scalar(con, "SELECT count(*) FROM __npd_train_labels")
    if labelled < MIN_LABELLED_PAIRS:
        raise TrainingError(
            f"too few labelled pairs to train the linkage model: {labelled} "
            f"(needs {MIN_LABELLED_PAIRS}; link a few periods by UPN first)"
        )
    rows = scalar(con, "SELECT count(*) FROM __npd_train_index") * scalar(
        con, "SELECT count(*) FROM __npd_train_query"
    )
    u_pairs = float(min(u_pairs, max(rows // 2, 1)))
    exact = scalar(
        con,
        """
        SELECT avg(CASE WHEN i.forename = q.forename AND i.surname = q.surname AND i.dob = q.dob
                   THEN 1.0 ELSE 0.0 END)
        FROM __npd_train_labels l
        JOIN __npd_train_index i ON i.unique_id = l.unique_id_l
        JOIN __npd_train_query q ON q.unique_id = l.unique_id_r
        """,
    )
    db_api = DuckDBAPI(con)
    linker = Linker(
        [
            db_api.register("__npd_train_index", table_name="__npd_train_index_in"),
            db_api.register("__npd_train_query", table_name="__npd_train_query_in"),
        ],
        base_settings(),
        log_level=None,
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=u_pairs, seed=seed, min_count_per_level=None, num_chunks=1
    )
    linker.training.estimate_m_from_pairwise_labels("__npd_train_labels")
    splink = linker.misc.save_model_to_json()
    splink["linker_uid"] = "npd"
    for comparison, defined in zip(
        splink["comparisons"],
        base_settings().create_settings_dict("duckdb")["comparisons"],
        strict=True,
    ):  # keep every level's label, so a model can be matched to the code that scores it
        for level, spec in zip(
            comparison["comparison_levels"], defined["comparison_levels"], strict=True
        ):
            level["label_for_charts"] = spec.get("label_for_charts")
    _smooth(splink, labelled, u_pairs)
    tf = _term_frequencies(con, frequencies or "__npd_train_index")
    from importlib.metadata import version as package_version

    meta = {
        "version": _version(splink, tf),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "labelled_pairs": int(labelled),
        "u_pairs": int(u_pairs),
        "match_share": round(float(match_share), 6),
        "exact_recall": round(float(exact or 0.0), 6),
        "index_rows": int(scalar(con, "SELECT count(*) FROM __npd_train_index")),
        "query_rows": int(scalar(con, "SELECT count(*) FROM __npd_train_query")),
        "splink": package_version("splink"),
        "source": source,
    }
    for name in ("__npd_train_index", "__npd_train_query"):
        con.execute(f"DROP VIEW IF EXISTS {name}")
    con.execute("DROP TABLE IF EXISTS __npd_train_labels")
    return LinkageModel(splink=splink, term_frequencies=tf, meta=meta)


def save(model: LinkageModel, directory: Path, make_current: bool = True) -> Path:
    """Write the model as <version>.json and (by default) make it the current one."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{model.version}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(model.to_dict(), indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    if make_current:
        pointer = directory / (CURRENT + ".tmp")
        pointer.write_text(model.version + "\n", encoding="utf-8")
        os.replace(pointer, directory / CURRENT)
    return path


def load(directory: Path, pin: str | None = None) -> LinkageModel | None:
    """The pinned model (a version or a file path), else the current one, else None."""
    if pin:
        path = Path(pin) if pin.endswith(".json") else directory / f"{pin}.json"
        if not path.exists():
            raise FileNotFoundError(f"linkage model {pin} not found under {directory}")
    else:
        pointer = directory / CURRENT
        if not pointer.exists():
            return None
        path = directory / f"{pointer.read_text(encoding='utf-8').strip()}.json"
        if not path.exists():
            raise FileNotFoundError(f"the current linkage model file {path.name} is missing")
    return LinkageModel.from_dict(json.loads(path.read_text(encoding="utf-8")))


def match_weight(probability: float) -> float:
    p = min(max(probability, 1e-15), 1 - 1e-15)
    return math.log2(p / (1 - p))
