"""The fallback never matches a learner to a person holding a different ULN."""

from __future__ import annotations

import duckdb
import sqlalchemy as sa

from core.config import Settings
from linkage.fallback import LinkContext
from linkage.probabilistic import _without_uln_conflicts
from tests.linkage.test_master_index import ULNS, UPNS, _link


def test_a_learner_is_never_matched_to_a_person_holding_another_uln(settings: Settings) -> None:
    _link(settings, [{"upn": UPNS[0], "uln": ULNS[0]}, {"upn": UPNS[1]}], "autumn")
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE src AS SELECT * FROM (VALUES ('r1', ?, true), ('r2', ?, true), "
        "('r3', NULL, false)) t(record_key, uln, uln_valid)",
        [ULNS[1], ULNS[0]],
    )
    con.execute("CREATE TABLE assigned (record_key VARCHAR, person_id BIGINT)")
    con.execute(
        "CREATE TABLE fb_q AS SELECT row_number() OVER () AS unique_id, record_key FROM src"
    )
    scores = con.sql(
        "SELECT * FROM (VALUES (1, 1), (1, 2), (2, 1), (3, 1)) t(query_id, person_id)"
    ).to_arrow_table()
    engine = sa.create_engine(settings.identity_url)
    with engine.begin() as conn:
        context = LinkContext(conn, "ilr", "2024/25", None, "L")
        kept = _without_uln_conflicts(con, context, scores)
    engine.dispose()
    # r1's ULN is not person 1's (who holds another): that pair goes; person 2 holds no ULN,
    # r2 carries person 1's own ULN, r3 carries none.
    assert sorted(
        zip(kept["query_id"].to_pylist(), kept["person_id"].to_pylist(), strict=True)
    ) == [
        (1, 2),
        (2, 1),
        (3, 1),
    ]
