"""Declarative feed specifications: fields, types, code lists and the year each change landed.

A spec file (ingest/specs/<feed>.yml) describes the oldest supported schema and a
list of dated changes. `FeedSpec.for_year` applies the changes up to a year, so a
new year's schema change is a few lines of YAML, not new code.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from core.periods import AcademicYear

FIELD_TYPES = ("string", "name", "upn", "uln", "code", "date", "int", "float", "bool", "postcode")
IDENTIFYING_TYPES = ("name", "upn", "uln", "postcode")
DEFAULT_QUARANTINE_LIMIT = 0.2  # of a required table's rows (docs/bad-input.md, "Blocking")
QUARANTINE_LIMIT_MIN_ROWS = 20  # fewer quarantined rows than this never block on their share


class SpecError(ValueError):
    """A feed specification is malformed (a programming error, not bad input)."""


@dataclass(frozen=True)
class FieldSpec:
    source: str  # column or element name as it arrives
    name: str  # staged name
    type: str = "string"
    required: bool = False  # value must be present, so the column must be too
    formats: tuple[str, ...] = ()
    codelist: str | None = None
    harmonise: str | None = None  # a mapping in core/codelists, e.g. "sex:letters"
    # A code not in its code list quarantines the row ("quarantine"); "keep" is for a code
    # field whose list is knowingly incomplete (validated later as a share instead).
    invalid: str = "quarantine"
    upper: bool = False
    max_length: int | None = None  # longer values quarantine the row (default by type below)
    not_after: str | None = None  # "reference": no later than the partition's reference day
    not_before: str | None = None  # another field of the row (staged name) this date follows
    identifying: bool = False
    description: str = ""

    @property
    def length_limit(self) -> int | None:
        """The longest value accepted: the spec's, or a generous default by type (a value
        past it is a broken export or a hostile one, not a longer name)."""
        if self.max_length is not None:
            return self.max_length
        return {"name": 100, "string": 255, "code": 40, "postcode": 10}.get(self.type)

    @property
    def shows_value(self) -> bool:
        """May a quarantine reason quote the bad value? Never for identifiers."""
        return not (self.identifying or self.type in IDENTIFYING_TYPES)


@dataclass(frozen=True)
class TableSpec:
    name: str
    fields: tuple[FieldSpec, ...]
    required: bool = True
    unique: tuple[tuple[str, ...], ...] = ()  # staged-name groups unique within a return
    element: str | None = None  # XML feeds: the repeating element
    # A child table's rows belong to a row of its parent in the same return: (parent table,
    # key fields by staged name); a row whose parent is not there is an orphan (quarantined).
    parent: tuple[str, tuple[str, ...]] | None = None
    states_year: str | None = None  # a field stating the file's academic year (checked)
    # The share of a table's rows quarantined at staging above which the partition blocks: a
    # handful of bad rows never blocks, a systemic fault does (required tables by default).
    quarantine_limit: float | None = None

    @property
    def blocks_above(self) -> float | None:
        if self.quarantine_limit is not None:
            return self.quarantine_limit
        return DEFAULT_QUARANTINE_LIMIT if self.required else None

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name or f.source == name:
                return f
        raise KeyError(f"table {self.name!r} has no field {name!r}")

    @property
    def required_sources(self) -> list[str]:
        return [f.source for f in self.fields if f.required]


@dataclass(frozen=True)
class Change:
    year: AcademicYear
    table: str
    note: str
    rename: dict[str, str] = field(default_factory=dict)  # old source name -> new source name
    add: dict[str, dict[str, Any]] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    update: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedSpec:
    feed: str
    format: str
    encoding: str
    tables: dict[str, TableSpec]
    changes: tuple[Change, ...]
    raw: dict[str, Any]

    @property
    def reference(self) -> str:
        """The day no stated date may fall after (ingest.stage.row_checks): census_day,
        31_march or year_end."""
        return self.raw.get("reference", "year_end")

    def for_year(self, year: AcademicYear | str) -> FeedSpec:
        """The schema in force in an academic year: the base with every change up to it applied."""
        year = AcademicYear.parse(year)
        tables = copy.deepcopy(self.raw["tables"])
        for change in self.changes:
            if change.year > year:
                continue
            fields = tables[change.table]["fields"]
            for old, new in change.rename.items():
                if old not in fields:
                    raise SpecError(f"{self.feed}: change {change.note!r} renames unknown {old!r}")
                fields = {(new if k == old else k): v for k, v in fields.items()}
            for name in change.remove:
                fields.pop(name, None)
            for name, attrs in change.add.items():
                fields[name] = attrs
            for name, attrs in change.update.items():
                fields[name] = {**fields[name], **attrs}
            tables[change.table]["fields"] = fields
        return FeedSpec(
            feed=self.feed,
            format=self.format,
            encoding=self.encoding,
            tables={name: _table(name, t) for name, t in tables.items()},
            changes=(),
            raw=self.raw,
        )


def _field(source: str, attrs: dict[str, Any] | None) -> FieldSpec:
    attrs = dict(attrs or {})
    ftype = attrs.pop("type", "string")
    if ftype not in FIELD_TYPES:
        raise SpecError(f"field {source!r}: unknown type {ftype!r}")
    formats = attrs.pop("formats", ())
    name = attrs.pop("as", source)
    try:
        return FieldSpec(source=source, name=name, type=ftype, formats=tuple(formats), **attrs)
    except TypeError as exc:
        raise SpecError(f"field {source!r}: {exc}") from exc


def _table(name: str, raw: dict[str, Any]) -> TableSpec:
    fields = tuple(_field(src, attrs) for src, attrs in (raw.get("fields") or {}).items())
    unique = tuple(tuple(group) for group in raw.get("unique", []))
    parent = raw.get("parent")
    return TableSpec(
        name=name,
        fields=fields,
        required=raw.get("required", True),
        unique=unique,
        element=raw.get("element"),
        parent=(parent["table"], tuple(parent["key"])) if parent else None,
        states_year=raw.get("states_year"),
        quarantine_limit=raw.get("quarantine_limit"),
    )


def _change(raw: dict[str, Any]) -> Change:
    return Change(
        year=AcademicYear.parse(raw["from"]),
        table=raw["table"],
        note=raw.get("note", ""),
        rename=raw.get("rename", {}),
        add=raw.get("add", {}),
        remove=tuple(raw.get("remove", ())),
        update=raw.get("update", {}),
    )


@cache
def load_spec(feed: str) -> FeedSpec:
    path = resources.files("ingest").joinpath("specs", f"{feed}.yml")
    if not path.is_file():
        raise SpecError(f"no feed specification for {feed!r} (expected ingest/specs/{feed}.yml)")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return FeedSpec(
        feed=raw["feed"],
        format=raw["format"],
        encoding=raw.get("encoding", "utf-8"),
        tables={name: _table(name, t) for name, t in raw["tables"].items()},
        changes=tuple(sorted((_change(c) for c in raw.get("changes", [])), key=lambda c: c.year)),
        raw=raw,
    )
