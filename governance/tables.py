"""Which catalogue tables a store holds yet.

Probed on a connection of its own: with DuckDB 2.0, SQLAlchemy's inspector leaves a result
open on its connection, and the next native query there (warehouse.bulk.query_arrow) is
refused.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from warehouse.engine import table_exists


def present(engine: sa.Engine, keys: Iterable[str]) -> set[str]:
    """The tables among `keys` (schema.table) that exist in the store."""
    with engine.connect() as conn:
        return {key for key in keys if table_exists(conn, key)}
