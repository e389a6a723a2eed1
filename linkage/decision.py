"""Turning scores into decisions: the thresholds, the prior's match share, and the one-to-one rule.

Shared by the pipeline's fallback (linkage.probabilistic) and the benchmark, so the figures
the benchmark prints are those of the rule the pipeline applies.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import duckdb

from linkage.model import LinkageModel


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the match probability (configuration, see docs/linkage.md)."""

    upper: float = 0.9
    lower: float = 0.2
    margin: float = 0.2  # the runner-up must be this far below the best (else: review)

    def __post_init__(self) -> None:
        if not 0.0 < self.lower <= self.upper < 1.0:
            raise ValueError(
                f"linkage thresholds need 0 < lower <= upper < 1 (got lower {self.lower}, "
                f"upper {self.upper})"
            )

    @classmethod
    def from_env(cls) -> Thresholds:
        env = os.environ
        return cls(
            upper=float(env.get("NPD_LINKAGE_UPPER") or cls.upper),
            lower=float(env.get("NPD_LINKAGE_LOWER") or cls.lower),
            margin=float(env.get("NPD_LINKAGE_MARGIN") or cls.margin),
        )


def match_share(
    con: duckdb.DuckDBPyConnection,
    queries: str,
    candidates: str,
    model: LinkageModel,
    weight: float = 50,
) -> float:
    """Share of these queries that have a match, for the prior.

    Counted from exact forename, surname and DOB hits, corrected by how often true pairs
    agree exactly (learned in training), and shrunk towards the trained share for small
    batches. Estimated per batch because it differs by feed: a census record without its
    UPN is nearly always a known child, a learner in the ILR often is not.
    """
    n, hits = con.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM {candidates} c WHERE c.forename = q.forename AND c.surname = q.surname
                                           AND c.dob = q.dob))
        FROM {queries} q
        """
    ).fetchall()[0]
    observed = hits / max(model.exact_recall, 0.5)
    share = (observed + weight * model.match_share) / (n + weight)
    return min(max(share, 0.01), 0.995)


def pair_threshold(thresholds: Thresholds, share: float) -> float:
    """The pairwise probability below which a pair cannot reach the lower threshold as a
    record's posterior (see decide), with a factor 2 to spare: Splink drops such pairs."""
    odds = thresholds.lower / (1 - thresholds.lower) * max(1.0 - share, 1e-3) / 2
    return odds / (1 + odds)


def decide(
    con: duckdb.DuckDBPyConnection,
    *,
    queries: str,
    scores: str,
    rejected: str,
    in_return: str,
    thresholds: Thresholds,
    has_model: bool,
    prior: float = 0.0,
    share: float = 0.0,
    ranked: str = "fb_ranked",
    out: str = "fb_decision",
) -> None:
    """One outcome per query: link, review, new (or unscored without a model).

    queries: unique_id, record_key, return_key, identity_digest, has_candidate, forename,
    surname;
    scores: query_id, person_id, weight (Splink's match weight of the best variant per
    person, scored with pairwise prior `prior`);
    rejected: record_key, identity_digest, candidate_person_id (pairs reviewers rejected);
    in_return: return_key, person_id (persons already linked in each return).

    The probability a decision uses is the record's, not the pair's: Splink's pairwise
    probability allows that the true match may be some other person of the index, but
    every person who could compete shares a blocking key and so is among the candidates.
    With `share` the chance the record has a match at all, candidate i's posterior odds
    are prior*BF_i / ((1 - share) + prior * sum of the other candidates' BF): a lone strong
    candidate gains, a crowd of similar ones loses (persons no blocking rule reaches are
    left out of the sum; their Bayes factors are negligible by design of the rules).

    Link when the best person reaches the upper threshold, the runner-up is at least
    `margin` below it, and the person is not already linked in the return; two records of
    one return that would both link to the same person both go to review. Review
    when the best reaches the lower threshold but cannot link; new below it or with no
    candidate at all, except for a record with no name (the children's social care returns
    carry none): nothing says such a child is new, so it stays unlinked ('unscored').
    """
    t = thresholds
    prior = min(max(prior, 1e-15), 0.5)
    prior_weight = math.log2(prior / (1 - prior))
    absent = max(1.0 - share, 1e-3)  # P(no match in the index), floored: never certain
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {ranked} AS
        WITH kept AS (
            SELECT s.query_id, s.person_id, s.variant_id,
                   pow(2.0, least(s.weight - ({prior_weight}), 900)) AS bf
            FROM {scores} s JOIN {queries} q ON q.unique_id = s.query_id
            WHERE NOT EXISTS (
                SELECT 1 FROM {rejected} r
                WHERE r.record_key = q.record_key AND r.identity_digest = q.identity_digest
                  AND r.candidate_person_id = s.person_id)
        ),
        odds AS (
            SELECT query_id, person_id, variant_id,
                   {prior} * bf / ({absent} + {prior} * (sum(bf) OVER (PARTITION BY query_id) - bf))
                       AS odds
            FROM kept
        ),
        posterior AS (
            SELECT query_id, person_id, variant_id, odds / (1 + odds) AS probability,
                   log2(greatest(odds, 1e-300)) AS weight
            FROM odds
        )
        SELECT k.*, q.record_key, q.return_key,
               row_number() OVER (PARTITION BY k.query_id
                                  ORDER BY k.probability DESC, k.person_id) AS rank,
               (r.person_id IS NOT NULL) AS linked_in_return
        FROM posterior k JOIN {queries} q ON q.unique_id = k.query_id
        LEFT JOIN {in_return} r ON r.return_key = q.return_key AND r.person_id = k.person_id
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH best AS (
            SELECT q.unique_id AS query_id, q.record_key, q.return_key, q.has_candidate,
                   q.forename IS NULL AND q.surname IS NULL AS nameless,
                   b.person_id, b.probability, b.weight,
                   coalesce(b.linked_in_return, false) AS linked_in_return,
                   coalesce(s.probability, 0.0) AS second
            FROM {queries} q
            LEFT JOIN {ranked} b ON b.query_id = q.unique_id AND b.rank = 1
            LEFT JOIN {ranked} s ON s.query_id = q.unique_id AND s.rank = 2
        ),
        first_pass AS (
            SELECT *,
                   CASE WHEN person_id IS NOT NULL AND probability >= {t.upper}
                             AND second <= probability - {t.margin} AND NOT linked_in_return
                        THEN 'link'
                        WHEN person_id IS NOT NULL AND probability >= {t.lower} THEN 'review'
                        WHEN nameless THEN 'unscored'
                        WHEN NOT has_candidate OR {"true" if has_model else "false"} THEN 'new'
                        ELSE 'unscored' END AS outcome,
                   CASE WHEN person_id IS NOT NULL AND probability >= {t.lower}
                        THEN CASE WHEN linked_in_return THEN 'same_return'
                                  WHEN second >= {t.lower}
                                  THEN 'competing'
                                  ELSE 'grey_zone' END END AS reason
            FROM best
        ),
        claims AS (  -- records of one return that would each link to the same person
            SELECT query_id, count(*) OVER (PARTITION BY return_key, person_id) AS claims
            FROM first_pass WHERE outcome = 'link' AND return_key IS NOT NULL
        )
        SELECT f.query_id, f.record_key, f.person_id, f.probability, f.weight,
               CASE WHEN c.claims > 1 THEN 'review' ELSE f.outcome END AS outcome,
               CASE WHEN c.claims > 1 THEN 'same_return'
                    WHEN f.outcome = 'review' THEN f.reason END AS reason
        FROM first_pass f LEFT JOIN claims c USING (query_id)
        """
    )
