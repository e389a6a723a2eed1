"""The linkage quality and speed benchmark behind `npd bench linkage`.

Phases, each timed with the process's peak RSS so far: data (generate with known truth,
or reuse the cache), load (standardise into DuckDB), train (m from labelled pairs, u from
random pairs), block (candidate pairs per rule and blocking recall), score (Splink
predict), decide (the pipeline's own decision rule, linkage.decision) and evaluate
(precision, recall and F1 of the links made at the chosen thresholds). Figures only:
nothing here prints a name, a date of birth or a postcode.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from core.duck import scalar, sql_str, threads
from linkage import model as fs
from linkage.bench_data import BenchSpec, ensure
from linkage.decision import Thresholds, decide, match_share, pair_threshold
from linkage.scoring import duckdb_linker, score_duckdb
from linkage.standardise import standard_select

PHASES = ("data", "load", "train", "block", "score", "decide")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def cpu_seconds() -> float:
    """CPU time of this process (all threads): unlike wall time, it barely moves when other
    jobs share the machine, so the two together say how much a busy machine cost."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Phase:
    name: str
    seconds: float
    cpu_seconds: float
    peak_rss_gb: float
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchResult:
    spec: BenchSpec
    thresholds: Thresholds
    phases: list[Phase] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    sweep: list[dict[str, float]] = field(default_factory=list)

    def seconds(self, *names: str) -> float:
        return sum(p.seconds for p in self.phases if p.name in names)

    @property
    def end_to_end(self) -> float:
        return self.seconds("load", "train", "block", "score", "decide")

    @property
    def end_to_end_cpu(self) -> float:
        linked = ("load", "train", "block", "score", "decide")
        return sum(p.cpu_seconds for p in self.phases if p.name in linked)


def run(
    spec: BenchSpec,
    cache: Path,
    tmp_dir: Path,
    thresholds: Thresholds,
    memory: str = "6GB",
    u_pairs: float = 1.2e6,
    report: Callable[[Phase], None] | None = None,
) -> BenchResult:
    result = BenchResult(spec=spec, thresholds=thresholds)

    cpu_mark = [cpu_seconds()]

    def phase(name: str, started: float, took: float | None = None, **figures: Any) -> None:
        seconds = time.perf_counter() - started if took is None else took
        cpu, cpu_mark[0] = cpu_seconds() - cpu_mark[0], cpu_seconds()
        p = Phase(name, round(seconds, 2), round(cpu, 1), round(peak_rss_gb(), 2), figures)
        result.phases.append(p)
        if report:
            report(p)

    started = time.perf_counter()
    folder, facts, generated = ensure(spec, cache)
    phase("data", started, generated=generated, **facts)

    tmp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": threads(),
            "memory_limit": memory,
            "temp_directory": str(tmp_dir),
            "preserve_insertion_order": False,
        },
    )
    try:
        started = time.perf_counter()
        for name, file in (("b_index", "index"), ("b_query", "queries"), ("b_train", "training")):
            path = sql_str(folder / f"{file}.parquet")
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW raw_{name} AS "
                f"SELECT * FROM read_parquet({path}, file_row_number = true)"
            )
            extra = (
                # file_row_number numbers rows in parallel (a window would run on one thread)
                "t.file_row_number + 1 AS unique_id, t.person_id, "
                "CAST(t.file_row_number + 1 AS VARCHAR) AS record_key, "
                "CAST(NULL AS VARCHAR) AS return_key, '' AS identity_digest"
            )
            con.execute(f"CREATE TABLE {name} AS {standard_select(con, f'raw_{name}', extra)}")
        phase(
            "load",
            started,
            index=scalar(con, "SELECT count(*) FROM b_index"),
            queries=scalar(con, "SELECT count(*) FROM b_query"),
        )

        started = time.perf_counter()
        # As the pipeline trains: on the labelled persons' index rows (names counted over all).
        con.execute(
            "CREATE TEMP TABLE b_train_index AS SELECT * FROM b_index "
            "WHERE person_id IN (SELECT person_id FROM b_train)"
        )
        model = fs.train(
            con,
            "b_train_index",
            "b_train",
            match_share=1.0,
            u_pairs=u_pairs,
            seed=1,
            frequencies="b_index",
        )
        phase(
            "train",
            started,
            labelled_pairs=model.meta["labelled_pairs"],
            u_pairs=model.meta["u_pairs"],
            model=model.version,
        )

        started = time.perf_counter()
        con.execute("ALTER TABLE b_query ADD COLUMN has_candidate BOOLEAN DEFAULT true")
        share = match_share(con, "b_query", "b_index", model)
        prior = model.prior(scalar(con, "SELECT count(*) FROM b_index"), share)
        linker = duckdb_linker(con, "b_index", "b_query", model, prior)
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        took = time.perf_counter() - started  # counting pairs and recall below is not linking
        block = _blocking(con, blocked.physical_name)
        phase("block", started, took, **block, prior=prior, match_share=round(share, 4))

        started = time.perf_counter()
        pairs = score_duckdb(
            con, "b_index", "b_query", model, prior, pair_threshold(thresholds, share), linker
        )
        con.register("b_pairs_view", pairs)
        con.execute(
            """
            CREATE TABLE b_scores AS
            SELECT p.query_id, i.person_id, p.index_id AS variant_id,
                   p.match_probability AS probability, p.match_weight AS weight
            FROM b_pairs_view p JOIN b_index i ON i.unique_id = p.index_id
            """
        )
        con.unregister("b_pairs_view")
        phase("score", started, scored_pairs=pairs.num_rows)

        started = time.perf_counter()
        con.execute(
            "CREATE TABLE b_rejected (record_key VARCHAR, identity_digest VARCHAR, "
            "candidate_person_id BIGINT)"
        )
        con.execute("CREATE TABLE b_in_return (return_key VARCHAR, person_id BIGINT)")
        _decide(con, thresholds, prior, share)
        outcomes = dict(
            con.execute("SELECT outcome, count(*) FROM fb_decision GROUP BY 1").fetchall()
        )
        phase("decide", started, **outcomes)
        result.quality = _quality(con)
        result.sweep = _sweep(con, thresholds, prior, share)
    finally:
        con.close()
    return result


def _decide(
    con: duckdb.DuckDBPyConnection, thresholds: Thresholds, prior: float, share: float
) -> None:
    decide(
        con,
        queries="b_query",
        scores="b_scores",
        rejected="b_rejected",
        in_return="b_in_return",
        thresholds=thresholds,
        has_model=True,
        prior=prior,
        share=share,
    )


def _blocking(con: duckdb.DuckDBPyConnection, blocked: str) -> dict[str, Any]:
    """Candidate pairs in all and per rule (match_key = the first rule that found the pair),
    and blocking recall: matchable queries whose true person is among their candidates."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE b_blocked AS
        SELECT CAST(split_part(join_key_l, '-__-', 2) AS BIGINT) AS index_id,
               CAST(split_part(join_key_r, '-__-', 2) AS BIGINT) AS query_id, match_key
        FROM {blocked}
        """
    )
    per_rule = dict(
        con.execute("SELECT match_key, count(*) FROM b_blocked GROUP BY 1 ORDER BY 1").fetchall()
    )
    rules = [" + ".join(r) for r in fs.BLOCKING_RULES] + ["dob + names swapped"]
    found, matchable = con.execute(
        """
        SELECT count(DISTINCT q.unique_id) FILTER (WHERE i.person_id = q.person_id),
               (SELECT count(*) FROM b_query q2 WHERE q2.person_id IN (SELECT person_id FROM b_index))
        FROM b_blocked b JOIN b_index i ON i.unique_id = b.index_id
        JOIN b_query q ON q.unique_id = b.query_id
        """
    ).fetchall()[0]
    con.execute("DROP TABLE b_blocked")
    return {
        "candidate_pairs": sum(per_rule.values()),
        "pairs_by_rule": {rules[int(k)]: n for k, n in per_rule.items()},
        "blocking_recall": round(found / matchable, 6) if matchable else 1.0,
        "matchable_queries": matchable,
    }


def _quality(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    tp, fp, review, new_wrong = con.execute(
        """
        SELECT count(*) FILTER (WHERE d.outcome = 'link' AND d.person_id = q.person_id),
               count(*) FILTER (WHERE d.outcome = 'link' AND d.person_id <> q.person_id),
               count(*) FILTER (WHERE d.outcome = 'review'),
               count(*) FILTER (WHERE d.outcome = 'new'
                                AND q.person_id IN (SELECT person_id FROM b_index))
        FROM fb_decision d JOIN b_query q ON q.unique_id = d.query_id
        """
    ).fetchall()[0]
    matchable = scalar(
        con, "SELECT count(*) FROM b_query WHERE person_id IN (SELECT person_id FROM b_index)"
    )
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / matchable if matchable else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true_links": tp,
        "false_links": fp,
        "to_review": review,
        "wrongly_new": new_wrong,
        "matchable": matchable,
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
    }


def _sweep(
    con: duckdb.DuckDBPyConnection, chosen: Thresholds, prior: float, share: float
) -> list[dict[str, float]]:
    """Precision, recall and F1 at other upper thresholds (for choosing the defaults)."""
    out = []
    for upper in sorted({0.5, 0.8, 0.9, 0.95, 0.99, chosen.upper}):
        lower = min(chosen.lower, upper)
        _decide(con, Thresholds(upper=upper, lower=lower, margin=chosen.margin), prior, share)
        q = _quality(con)
        out.append(
            {"upper": upper, **{k: q[k] for k in ("precision", "recall", "f1", "to_review")}}
        )
    _decide(con, chosen, prior, share)
    return out
