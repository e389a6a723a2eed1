"""The typing SQL's shortcuts give exactly what the plain expressions give."""

from __future__ import annotations

import duckdb

from ingest.convert import clean_text


def test_cleaning_matches_trim_and_nullif_for_every_kind_of_space() -> None:
    values = [None, "", " ", "  ", "a", " a", "a ", " a ", "a b", "\ta\t", "a\n", "é", " é", "é "]
    values += [f"{chr(c)}x{chr(c)}" for c in (9, 10, 13, 133, 160, 5760, 8192, 8203, 8239)]
    values += [chr(c) for c in (160, 8287, 12288, 65279)] + ["naïve", "Zoë ", "\u3000Zoë"]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    differing = con.execute(
        f"SELECT v FROM t WHERE {clean_text('v')} IS DISTINCT FROM NULLIF(trim(v), '')"
    ).fetchall()
    assert differing == []
