"""The column catalogue: load it, check it, and derive DDL and Arrow schemas from it.

Everything about a warehouse column (type, tier, sensitivity, purposes, how it is
minimised) is read from warehouse_schema/catalogue/*.yml through this module, so the DDL, the load
check, the research-table build and the docs cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
import yaml

STORES = ("warehouse", "identity")

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

SQL_TYPES: dict[str, Any] = {
    "string": sa.String,
    "int16": sa.SmallInteger,
    "int32": sa.Integer,
    "int64": sa.BigInteger,
    "float64": sa.Double,
    "bool": sa.Boolean,
    "date": sa.Date,
    "timestamp": lambda: sa.DateTime(timezone=True),
}

DERIVE_RULES = ("from", "pseudonym", "year_of", "month_of", "postcode_district")


class CatalogueError(ValueError):
    """The catalogue is inconsistent, or data does not match it."""


class UncataloguedColumnError(CatalogueError):
    """A column reached the loader with no catalogue entry: it may not be loaded."""


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    type: str
    description: str
    source: str
    tier: int
    sensitivity: str
    purposes: tuple[str, ...]
    minimisation: str
    nullable: bool = True
    derive: tuple[str, str] | None = None  # (rule, record column)

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]

    def sa_column(self) -> sa.Column:
        return sa.Column(self.name, SQL_TYPES[self.type](), nullable=self.nullable)


@dataclass(frozen=True)
class Table:
    key: str  # schema.table
    store: str
    description: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()
    feed: str | None = None

    @property
    def schema(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise UncataloguedColumnError(f"column {name!r} of {self.key} has no catalogue entry")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns]
        )


@dataclass(frozen=True)
class Catalogue:
    tables: dict[str, Table]
    vocabulary: dict[str, Any]

    def table(self, key: str) -> Table:
        try:
            return self.tables[key]
        except KeyError:
            raise CatalogueError(f"table {key!r} is not in the catalogue") from None

    def tables_in(self, store: str) -> list[Table]:
        return [t for t in self.tables.values() if t.store == store]

    def metadata(self, store: str) -> sa.MetaData:
        """SQLAlchemy metadata for one store: the DDL (and Alembic's target) derive from it."""
        md = sa.MetaData()
        for table in self.tables_in(store):
            sa.Table(table.name, md, *(c.sa_column() for c in table.columns), schema=table.schema)
        return md

    def schemas(self, store: str) -> list[str]:
        return sorted({t.schema for t in self.tables_in(store)})

    def columns(self) -> list[Column]:
        return [c for t in self.tables.values() for c in t.columns]


def _read_yaml(name: str) -> dict[str, Any]:
    text = resources.files("warehouse_schema").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _column(table: str, name: str, raw: dict[str, Any], vocab: dict[str, Any]) -> Column:
    where = f"{table}.{name}"
    required = ("type", "description", "source", "tier", "sensitivity", "purposes", "minimisation")
    unknown = sorted(str(k) for k in raw if k not in (*required, "nullable", "derive"))
    if unknown:  # usually a comma in an unquoted description that YAML split into keys
        raise CatalogueError(f"{where}: unknown field(s) {unknown}: quote text containing commas")
    missing = [k for k in required if k not in raw]
    if missing:
        raise CatalogueError(f"{where}: catalogue entry lacks {', '.join(missing)}")
    if raw["type"] not in ARROW_TYPES:
        raise CatalogueError(f"{where}: unknown type {raw['type']!r}")
    if raw["tier"] not in vocab["tiers"]:
        raise CatalogueError(f"{where}: tier must be 1-4, not {raw['tier']!r}")
    if raw["sensitivity"] not in vocab["sensitivity"]:
        raise CatalogueError(f"{where}: unknown sensitivity {raw['sensitivity']!r}")
    if raw["minimisation"] not in vocab["minimisation"]:
        raise CatalogueError(f"{where}: unknown minimisation {raw['minimisation']!r}")
    purposes = raw["purposes"]
    if isinstance(purposes, str):
        if purposes not in vocab["purpose_sets"]:
            raise CatalogueError(f"{where}: unknown purpose set {purposes!r}")
        purposes = vocab["purpose_sets"][purposes]
    for purpose in purposes:
        if purpose not in vocab["purposes"]:
            raise CatalogueError(f"{where}: unknown purpose {purpose!r}")
        if vocab["purposes"][purpose].get("never"):
            raise CatalogueError(f"{where}: purpose {purpose!r} may never be served")
    derive = None
    if "derive" in raw:
        ((rule, source),) = raw["derive"].items()
        if rule not in DERIVE_RULES:
            raise CatalogueError(f"{where}: unknown derive rule {rule!r}")
        derive = (rule, source)
    return Column(
        table=table,
        name=name,
        type=raw["type"],
        description=raw["description"],
        source=raw["source"],
        tier=int(raw["tier"]),
        sensitivity=raw["sensitivity"],
        purposes=tuple(purposes),
        minimisation=raw["minimisation"],
        nullable=raw.get("nullable", True),
        derive=derive,
    )


def _check_research(table: Table) -> None:
    """Research tables never hold direct identifiers (the briefing's first complaint)."""
    for col in table.columns:
        if col.sensitivity == "identifying" or col.minimisation == "identity_only":
            raise CatalogueError(
                f"{table.key}.{col.name}: identifying columns belong in the identity store"
            )


def _catalogue_files() -> list[tuple[str, dict[str, Any]]]:
    folder = resources.files("warehouse_schema").joinpath("catalogue")
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".yml")), key=lambda p: p.name)
    return [(p.name, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in files]


@cache
def load_catalogue() -> Catalogue:
    vocab = _read_yaml("vocabulary.yml")
    raw_tables: dict[str, dict[str, Any]] = {}
    for name, raw in _catalogue_files():
        for key, spec in (raw.get("tables") or {}).items():
            if key in raw_tables:
                raise CatalogueError(f"{key}: described twice (again in catalogue/{name})")
            raw_tables[key] = spec
    tables: dict[str, Table] = {}
    for key, spec in raw_tables.items():
        if spec.get("store") not in STORES:
            raise CatalogueError(f"{key}: store must be one of {STORES}")
        columns = tuple(_column(key, name, col, vocab) for name, col in spec["columns"].items())
        table = Table(
            key=key,
            store=spec["store"],
            description=spec.get("description", ""),
            columns=columns,
            partition_by=tuple(spec.get("partition_by", ())),
            feed=spec.get("feed"),
        )
        for part in table.partition_by:
            table.column(part)
        if table.schema == "research":
            _check_research(table)
        tables[key] = table
    return Catalogue(tables=tables, vocabulary=vocab)


def conform_stream(table: Table, data: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """`conform`, batch by batch: rows that stream into a store never sit whole in memory.
    An uncatalogued column is refused before the first batch is read."""
    conform(table, data.schema.empty_table())
    batches = (
        batch for raw in data for batch in conform(table, pa.Table.from_batches([raw])).to_batches()
    )
    return pa.RecordBatchReader.from_batches(table.arrow_schema(), batches)


def conform(table: Table, data: pa.Table) -> pa.Table:
    """Check every column is catalogued and cast to the catalogue's types, in catalogue order.

    A column with no entry is refused, naming it: nothing reaches the warehouse unclassified.
    """
    extra = [name for name in data.column_names if name not in table.column_names]
    if extra:
        raise UncataloguedColumnError(
            f"refusing to load {table.key}: column(s) {', '.join(extra)} have no catalogue entry"
        )
    arrays = []
    for col in table.columns:
        if col.name in data.column_names:
            arrays.append(data.column(col.name).cast(col.arrow_type))
        else:
            arrays.append(pa.nulls(data.num_rows, col.arrow_type))
    return pa.Table.from_arrays(arrays, schema=table.arrow_schema())
