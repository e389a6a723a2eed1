"""The seam for linking records that carry no usable identifier.

Deterministic linkage hands every record it could not place to a Fallback. The
default links nothing and leaves the records counted as unlinked; the
probabilistic (Fellegi-Sunter) linker plugs in here without touching the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

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
        """Place records of table `unlinked` (local DuckDB; the columns linkage reads,
        `linkage.master_index.link_columns()`); return rows of RESULT_SCHEMA.

        A returned person_id of NULL with new_person true asks the index for a new person.
        """
        ...


@dataclass(frozen=True)
class LinkContext:
    """What a fallback that reads or writes the identity store is given besides the records.

    `conn` is the identity store transaction the link runs in (so a review queue written
    by the fallback commits or rolls back with the links); `records` and `placed` name the
    local DuckDB tables of the batch's records and of their links so far (record_key,
    person_id, link_method), so a fallback can respect links made in the same return;
    `standard` the same records standardised once, with record_key and return_key.
    """

    conn: Any  # sqlalchemy.Connection
    feed: str
    academic_year: str
    term: str | None
    load_id: str
    records: str = "src"
    placed: str = "assigned"
    standard: str = "src_std"  # the records standardised (linkage.candidates.standardise_records)


class StoreFallback(Fallback, Protocol):
    """A Fallback that also needs the identity store: link_records calls this instead."""

    def link_with_store(
        self, con: duckdb.DuckDBPyConnection, unlinked: str, context: LinkContext
    ) -> pa.Table: ...


class NoFallback:
    """Link nothing: records without a usable identifier stay unlinked (and are counted)."""

    name = "none"

    def link(self, con: duckdb.DuckDBPyConnection, unlinked: str, feed: str) -> pa.Table:
        return RESULT_SCHEMA.empty_table()
