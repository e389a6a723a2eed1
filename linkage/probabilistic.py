"""The probabilistic (Fellegi-Sunter) fallback: records with no usable identifier are matched
on names, DOB, sex and postcode against the persons the identity store already knows.

For each record the best candidate person decides: at or above the upper threshold it is
linked (method probabilistic); between the thresholds, or when a close second candidate
or the one-to-one rule stands in the way, its candidates go to the clerical review queue
and it stays unlinked until someone decides; below the lower threshold, or with no
candidate at all, it is a new person. One-to-one: two records of one return are never
the same child, so a person already linked in the return (by identifier or by this
linker) is not linked again without review, and of two records of a return claiming the
same person only the stronger may link.

Feed-agnostic: it reads only the standard identity columns (linkage.standardise), so a
new feed's records get fallback links without code here. The model is trained once
(automatically, the first time enough records are linked by identifier, or by
`npd linkage train`) and reused; its version is recorded on every link it makes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from core.duck import scalar, sql_str
from linkage import candidates as cand
from linkage import model as fs
from linkage import review
from linkage.decision import Thresholds, decide, match_share, pair_threshold
from linkage.fallback import RESULT_SCHEMA, LinkContext
from linkage.standardise import standard_select
from warehouse.bulk import create_temp, query_arrow

log = logging.getLogger(__name__)

METHOD = "probabilistic"
NO_MODEL = "fs-untrained"  # recorded on new persons made without any model (no candidate)
REVIEW_PER_RECORD = 3
WEIGHTS = "identity.link_weights"


@dataclass(frozen=True)
class LinkageConfig:
    models_dir: Path
    thresholds: Thresholds = field(default_factory=Thresholds)
    model_pin: str | None = None  # a version or a file; default: the current model
    autotrain: bool = True
    u_pairs: float = 1.2e6  # random pairs for u (Splink warns on exactly its default, 1e6)
    max_training_records: int = 50_000

    @classmethod
    def from_env(cls, home: Path) -> LinkageConfig:
        env = os.environ
        return cls(
            models_dir=Path(env.get("NPD_LINKAGE_MODELS") or home / "models"),
            thresholds=Thresholds.from_env(),
            model_pin=env.get("NPD_LINKAGE_MODEL") or None,
            autotrain=(env.get("NPD_LINKAGE_AUTOTRAIN") or "1") not in ("0", "false", "no"),
        )


class ProbabilisticLinker:
    """The Fallback the pipeline uses unless NPD_LINKAGE_FALLBACK=none."""

    name = METHOD

    def __init__(self, config: LinkageConfig) -> None:
        self.config = config
        self._model: fs.LinkageModel | None = None

    def link(self, con: duckdb.DuckDBPyConnection, unlinked: str, feed: str) -> pa.Table:
        """Without the identity store there is nothing to match against: place nothing."""
        return RESULT_SCHEMA.empty_table()

    def model(self) -> fs.LinkageModel | None:
        if self._model is None:
            self._model = fs.load(self.config.models_dir, self.config.model_pin)
        return self._model

    def link_with_store(
        self, con: duckdb.DuckDBPyConnection, unlinked: str, context: LinkContext
    ) -> pa.Table:
        partition = (context.feed, context.academic_year, context.term)
        _queries(con, unlinked, context)
        reviews = review.partition_reviews(context.conn, *partition)
        con.register("_fb_reviews_view", reviews)
        # Records a reviewer has accepted are placed by review.apply_decisions, not scored.
        con.execute(
            """
            DELETE FROM fb_q WHERE (record_key, identity_digest) IN (
                SELECT (record_key, identity_digest) FROM _fb_reviews_view WHERE status = 'accepted')
            """
        )
        if scalar(con, "SELECT count(*) FROM fb_q") == 0:
            review.replace_pending(context.conn, *partition, _empty_reviews())
            _record_weights(con, context, "", decided=False)
            return RESULT_SCHEMA.empty_table()
        cand.ensure_index(context.conn, con)
        cand.fetch_blocked(context.conn, con, "fb_q", partition, "fb_std")
        _batch_rows(con, context)
        cand.variants(con, "fb_std", "fb_c")
        _blocked(con)
        con.execute("CREATE OR REPLACE TEMP VIEW fb_qs AS SELECT * FROM fb_q WHERE has_candidate")
        scored = scalar(con, "SELECT count(*) FROM fb_q WHERE has_candidate") > 0
        model = self.model() or (self._train(con, context) if scored else None)
        if scored and model is None:
            log.warning(
                "%s: no linkage model yet and too few identifier links to train one; "
                "%d record(s) with candidates stay unlinked",
                context.feed,
                scalar(con, "SELECT count(*) FROM fb_q WHERE has_candidate"),
            )
        if scored and model is not None:
            persons = cand.count_persons(context.conn) + scalar(
                con, f"SELECT count(DISTINCT person_id) FROM {context.placed} WHERE new_person"
            )
            share = match_share(con, "fb_q", "fb_c", model)
            prior = model.prior(persons, share)
            floor = pair_threshold(self.config.thresholds, share)
            scores = _without_uln_conflicts(con, context, fs_scores(con, model, prior, floor))
            con.register("_fb_scores_view", scores)
        else:
            share, prior = 0.0, 0.0
            con.register("_fb_scores_view", _empty_scores())
        _one_to_one_inputs(con, context)
        decide(
            con,
            queries="fb_q",
            scores="_fb_scores_view",
            rejected="fb_rejected",
            in_return="fb_in_return",
            thresholds=self.config.thresholds,
            has_model=model is not None,
            prior=prior,
            share=share,
        )
        version = model.version if model else NO_MODEL
        rows = _review_rows(con, context, version, self.config.thresholds.lower)
        review.replace_pending(context.conn, *partition, rows)
        _record_weights(con, context, version)
        out = con.sql(
            f"""
            SELECT record_key, CASE WHEN outcome = 'link' THEN person_id END AS person_id,
                   '{METHOD}' AS link_method, coalesce(probability, 0.0) AS match_probability,
                   {sql_str(version)} AS model_version, outcome = 'new' AS new_person
            FROM fb_decision WHERE outcome IN ('link', 'new') ORDER BY record_key
            """
        ).to_arrow_table()
        for view in ("_fb_reviews_view", "_fb_scores_view"):
            con.unregister(view)
        return out.cast(RESULT_SCHEMA)

    def _train(
        self, con: duckdb.DuckDBPyConnection, context: LinkContext
    ) -> fs.LinkageModel | None:
        """Train once, from this batch's identifier links, when no model exists yet."""
        if not self.config.autotrain:
            return None
        from linkage.training import train_from_batch

        model = train_from_batch(con, context, self.config)
        if model is not None:
            fs.save(model, self.config.models_dir)
            log.info("trained linkage model %s", model.version)
            self._model = model
        return model


def _queries(con: duckdb.DuckDBPyConnection, unlinked: str, context: LinkContext) -> None:
    """The records to place, standardised, with the return each came in."""
    cols = {r[0] for r in con.execute(f"DESCRIBE {unlinked}").fetchall()}
    ret = "t._return" if "_return" in cols else "t._source_file"
    extra = (
        "row_number() OVER (ORDER BY t.record_key) AS unique_id, t.record_key, "
        f"CAST({ret} AS VARCHAR) AS return_key, CAST(NULL AS BIGINT) AS person_id"
    )
    select = standard_select(con, unlinked, extra, digest=True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE fb_q AS {select}")


def _batch_rows(con: duckdb.DuckDBPyConnection, context: LinkContext) -> None:
    """This batch's records already placed are candidates too (a dual registration's other
    row): those sharing a blocking key with a query, from the batch standardised once."""
    term = sql_str(context.term) if context.term else "CAST(NULL AS VARCHAR)"
    year = sql_str(context.academic_year)
    con.execute(
        f"""
        INSERT INTO fb_std
        SELECT a.person_id, {sql_str(context.feed)}, {year}, {term}, s.record_key, s.return_key,
               {cand.recency_of(year, term)}, s.forename, s.surname, s.dob, s.sex, s.postcode,
               s.sector, s.district, s.birth_year, s.la_code
        FROM {context.standard} s JOIN {context.placed} a USING (record_key)
        WHERE a.person_id IS NOT NULL AND {cand.shares_key("s", "fb_q")}
        """
    )


def _blocked(con: duckdb.DuckDBPyConnection) -> None:
    """Mark queries that share at least one blocking key with a candidate.

    A query sharing none cannot match anyone the index holds: it is a new person, model or no
    model. The rules are the model's own (linkage.model.BLOCKING_RULES).
    """
    con.execute("ALTER TABLE fb_q ADD COLUMN has_candidate BOOLEAN")
    con.execute(f"UPDATE fb_q AS q SET has_candidate = {cand.shares_key('q', 'fb_c')}")


def fs_scores(
    con: duckdb.DuckDBPyConnection, model: fs.LinkageModel, prior: float, threshold: float
) -> pa.Table:
    """Per query and candidate person, the best-scoring variant's probability and weight."""
    from linkage.scoring import score_duckdb

    pairs = score_duckdb(con, "fb_c", "fb_qs", model, prior, threshold)
    con.register("_fb_pairs_view", pairs)
    best = con.sql(
        """
        SELECT p.query_id, c.person_id,
               arg_max(c.unique_id, p.match_probability) AS variant_id,
               max(p.match_probability) AS probability, max(p.match_weight) AS weight
        FROM _fb_pairs_view p JOIN fb_c c ON c.unique_id = p.index_id
        GROUP BY ALL
        """
    ).to_arrow_table()
    con.unregister("_fb_pairs_view")
    return best


def _without_uln_conflicts(
    con: duckdb.DuckDBPyConnection, context: LinkContext, scores: pa.Table
) -> pa.Table:
    """Drop the pairs of a record carrying a valid ULN with a person who holds other ULNs but
    not that one: a ULN belongs to one learner for life, so they are two people however alike
    they look. Persons with no ULN yet (a pupil known only by UPN) stay candidates."""
    cols = {r[0] for r in con.execute(f"DESCRIBE {context.records}").fetchall()}
    if scores.num_rows == 0 or not {"uln", "uln_valid"} <= cols:
        return scores
    con.register("_fb_scored_view", scores)
    persons = con.sql("SELECT DISTINCT person_id FROM _fb_scored_view").to_arrow_table()
    create_temp(context.conn, "_fb_scored_persons", persons)
    held = query_arrow(
        context.conn,
        "SELECT p.person_id, p.id_value AS uln FROM identity.person_identifier p "
        "JOIN _fb_scored_persons c ON c.person_id = p.person_id WHERE p.id_type = 'ULN'",
        schema=pa.schema([("person_id", pa.int64()), ("uln", pa.string())]),
    )
    con.register("_fb_held_view", held)
    # ULNs this batch gives persons too (a learner's other record linked by it).
    kept = con.sql(
        f"""
        WITH held AS (
            SELECT person_id, uln FROM _fb_held_view
            UNION SELECT a.person_id, s.uln FROM {context.records} s
                  JOIN {context.placed} a USING (record_key)
                  WHERE a.person_id IS NOT NULL AND coalesce(s.uln_valid, false)
        ), query_uln AS (
            SELECT q.unique_id AS query_id, s.uln FROM fb_q q JOIN {context.records} s
            USING (record_key) WHERE coalesce(s.uln_valid, false)
        )
        SELECT p.* FROM _fb_scored_view p LEFT JOIN query_uln u USING (query_id)
        WHERE u.uln IS NULL
           OR NOT EXISTS (SELECT 1 FROM held h WHERE h.person_id = p.person_id)
           OR EXISTS (SELECT 1 FROM held h WHERE h.person_id = p.person_id AND h.uln = u.uln)
        ORDER BY p.query_id, p.person_id
        """
    ).to_arrow_table()
    for view in ("_fb_scored_view", "_fb_held_view"):
        con.unregister(view)
    return kept


def _empty_scores() -> pa.Table:
    return pa.table(
        {
            "query_id": pa.array([], pa.int64()),
            "person_id": pa.array([], pa.int64()),
            "variant_id": pa.array([], pa.int64()),
            "probability": pa.array([], pa.float64()),
            "weight": pa.array([], pa.float64()),
        }
    )


def _one_to_one_inputs(con: duckdb.DuckDBPyConnection, context: LinkContext) -> None:
    """Persons already linked in each return of the batch, and pairs reviewers rejected."""
    cols = {r[0] for r in con.execute(f"DESCRIBE {context.records}").fetchall()}
    ret = "s._return" if "_return" in cols else "s._source_file"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fb_in_return AS
        SELECT DISTINCT CAST({ret} AS VARCHAR) AS return_key, a.person_id
        FROM {context.records} s JOIN {context.placed} a USING (record_key)
        WHERE a.person_id IS NOT NULL
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE fb_rejected AS
        SELECT record_key, identity_digest, candidate_person_id FROM _fb_reviews_view
        WHERE status = 'rejected'
        """
    )


def _record_weights(
    con: duckdb.DuckDBPyConnection, context: LinkContext, version: str, decided: bool = True
) -> None:
    """Records per decision and 1-bit weight bin (counts only) for the linkage report."""
    from warehouse.load import replace_partition
    from warehouse_schema.catalogue import load_catalogue

    table = load_catalogue().table(WEIGHTS)
    term = sql_str(context.term) if context.term else "CAST(NULL AS VARCHAR)"
    counts = (
        table.arrow_schema().empty_table()
        if not decided
        else con.sql(
            f"""
        SELECT {sql_str(context.feed)} AS feed, {sql_str(context.academic_year)} AS academic_year,
               {term} AS term, {sql_str(context.load_id)} AS load_id,
               {sql_str(version)} AS model_version, outcome,
               CAST(floor(greatest(least(weight, 99), -99)) AS DOUBLE) AS weight_bin,
               count(*) AS records
        FROM fb_decision WHERE weight IS NOT NULL AND outcome IN ('link', 'review', 'new')
        GROUP BY ALL ORDER BY outcome, weight_bin
        """
        ).to_arrow_table()
    )
    replace_partition(
        context.conn,
        table,
        {"feed": context.feed, "academic_year": context.academic_year, "term": context.term},
        counts,
    )


def _review_rows(
    con: duckdb.DuckDBPyConnection, context: LinkContext, version: str, lower: float
) -> pa.Table:
    """Pending pairs for records sent to review: their candidates above the lower threshold,
    best first, at most REVIEW_PER_RECORD each, never a pair already decided."""
    term = sql_str(context.term) if context.term else "CAST(NULL AS VARCHAR)"
    rid = review.review_id_sql(
        context.feed, context.academic_year, context.term, "d.record_key", "r.person_id"
    )
    return con.sql(
        f"""
        SELECT {rid} AS review_id, {sql_str(context.feed)} AS feed,
               {sql_str(context.academic_year)} AS academic_year, {term} AS term,
               d.record_key, q.identity_digest, {sql_str(context.load_id)} AS load_id,
               r.person_id AS candidate_person_id, c.ref_feed AS candidate_feed,
               c.ref_year AS candidate_academic_year, c.ref_term AS candidate_term,
               c.ref_record_key AS candidate_record_key, d.reason,
               r.probability AS match_probability, r.weight AS match_weight,
               {sql_str(version)} AS model_version, 'pending' AS status,
               now()::TIMESTAMPTZ AS queued_at
        FROM fb_decision d
        JOIN fb_q q ON q.unique_id = d.query_id
        JOIN fb_ranked r ON r.query_id = d.query_id AND r.rank <= {REVIEW_PER_RECORD}
                        AND (r.probability >= {lower} OR r.rank = 1)
        JOIN fb_c c ON c.unique_id = r.variant_id
        WHERE d.outcome = 'review'
          AND NOT EXISTS (SELECT 1 FROM _fb_reviews_view v
                          WHERE v.record_key = d.record_key AND v.candidate_person_id = r.person_id
                            AND v.status <> 'pending')
        ORDER BY d.record_key, r.rank
        """
    ).to_arrow_table()


def _empty_reviews() -> pa.Table:
    from warehouse_schema.catalogue import load_catalogue

    return load_catalogue().table(review.TABLE).arrow_schema().empty_table()
