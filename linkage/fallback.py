"""The seam for linking records that carry no usable identifier.

Deterministic linkage hands every record it could not place to a Fallback. The
default links nothing and leaves the records counted as unlinked; the
probabilistic (Fellegi-Sunter) linker plugs in here without touching the rest.
"""

from __future__ import annotations

from typing import Protocol

import duckdb
import pyarrow as pa

# What a fallback returns for the records it places.
RESULT_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("person_id", pa.int64()),
        ("link_method", pa.string()),
        ("match_probability", pa.float64()),
        ("model_version", pa.string()),
        ("new_person", pa.bool_()),
    ]
)


class Fallback(Protocol):
    name: str

    def link(self, con: duckdb.DuckDBPyConnection, unlinked: str, feed: str) -> pa.Table:
        """Place records of table `unlinked` (local DuckDB); return rows of RESULT_SCHEMA.

        A returned person_id of NULL with new_person true asks the index for a new person.
        """
        ...


class NoFallback:
    """Link nothing: records without a usable identifier stay unlinked (and are counted)."""

    name = "none"

    def link(self, con: duckdb.DuckDBPyConnection, unlinked: str, feed: str) -> pa.Table:
        return RESULT_SCHEMA.empty_table()
