"""Declarative feed specifications: fields, types, code lists and the year each change landed.

A spec file (ingest/specs/<feed>.yml) describes the oldest supported schema and a
list of dated changes. `FeedSpec.for_year` applies the changes up to a year, so a
new year's schema change is a few lines of YAML, not new code.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
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


LEGACY_KEYS = ("harmonise", "source", "until", "note")


@dataclass(frozen=True)
class LegacyCoding:
    """An earlier coding of a field (and its earlier element or column name, where that
    changed too), still read for a while around a schema change: a value only it knows is
    harmonised through its mapping, the row warned and the file noted; past `until` (or
    where a value means something else in the current coding) the file is refused whole."""

    until: AcademicYear  # the last academic year a return may use it in
    note: str  # what it is, in the words messages use ("SEX coded 1/2, the coding before 2024/25")
    harmonise: str | None = None  # its mapping in core/codelists (None: the field's own)
    source: str | None = None  # its element or column name, where that changed too
    # Set by FeedSpec.for_year: the last year whose schema used it (from the spec's changes)
    # and the year of the schema the field belongs to.
    looks_like: AcademicYear | None = None
    year: AcademicYear | None = None

    @property
    def accepted(self) -> bool:
        return self.year is None or self.year <= self.until


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
    legacy: tuple[LegacyCoding, ...] = ()  # earlier codings still read (docs/bad-input.md)

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
    # The names a file of this table arrives under, by term ("autumn", ...; "default" for
    # the terms not listed): a census export names some tables differently by term.
    names: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def file_names(self, term: str | None = None) -> tuple[str, ...]:
        """The names this table's files arrive under in a term (every name if term is None);
        the table's own name when the spec declares none."""
        by_term = dict(self.names)
        if not by_term:
            return (self.name,)
        if term is None:
            return tuple(dict.fromkeys(n for names in by_term.values() for n in names))
        return by_term.get(term, by_term.get("default", (self.name,)))

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

    def for_year(self, year: AcademicYear | str, term: str | None = None) -> FeedSpec:
        """The schema in force in an academic year: the base with every change up to it applied,
        and, given a term, the columns the table's `term_columns` name differently in it."""
        year = AcademicYear.parse(year)
        tables = copy.deepcopy(self.raw["tables"])
        # (table, staged name) -> (a year, its mapping, its source) before each change: where
        # a legacy coding was last the coding.
        history: dict[tuple[str, str], list[tuple[AcademicYear, Any, str]]] = {}
        for change in self.changes:
            if change.year > year:
                continue
            fields = tables[change.table]["fields"]
            before = AcademicYear(change.year.start - 1)
            for src, attrs in fields.items():
                attrs = attrs or {}
                history.setdefault((change.table, attrs.get("as", src)), []).append(
                    (before, attrs.get("harmonise"), src)
                )
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
        if term is not None:
            for name, table in tables.items():
                renames = (table.get("term_columns") or {}).get(str(term), {})
                unknown = set(renames) - set(table.get("fields") or {})
                if unknown:
                    raise SpecError(f"{self.feed}: {name} term_columns renames unknown {unknown}")
                table["fields"] = {renames.get(k, k): v for k, v in table["fields"].items()}
        return FeedSpec(
            feed=self.feed,
            format=self.format,
            encoding=self.encoding,
            tables={
                name: _with_legacy_years(_table(name, t), history, year)
                for name, t in tables.items()
            },
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
    legacy = tuple(_legacy(source, ftype, attrs, raw) for raw in attrs.pop("legacy", None) or ())
    try:
        return FieldSpec(
            source=source, name=name, type=ftype, formats=tuple(formats), legacy=legacy, **attrs
        )
    except TypeError as exc:
        raise SpecError(f"field {source!r}: {exc}") from exc


def _legacy(source: str, ftype: str, attrs: dict[str, Any], raw: Any) -> LegacyCoding:
    """One entry of a field's `legacy:` list, checked (docs/bad-input.md, "legacy coding")."""
    from core.codes import mapping

    where = f"field {source!r}: legacy"
    if not isinstance(raw, dict) or set(raw) - set(LEGACY_KEYS):
        raise SpecError(f"{where}: each entry is a mapping of {', '.join(LEGACY_KEYS)}")
    if not raw.get("harmonise") and not raw.get("source"):
        raise SpecError(f"{where}: an entry names its harmonise mapping, its source, or both")
    if not isinstance(raw.get("note"), str) or not raw["note"].strip():
        raise SpecError(f"{where}: a note saying what the earlier coding is is required")
    try:
        until = AcademicYear.parse(str(raw.get("until")))
    except ValueError as exc:
        raise SpecError(f"{where}: until must be an academic year ({exc})") from exc
    harmonise = raw.get("harmonise")
    if harmonise is not None:
        if ftype != "code" or not attrs.get("harmonise"):
            raise SpecError(f"{where}: a legacy coding needs a code field with harmonise")
        if harmonise == attrs["harmonise"]:
            raise SpecError(f"{where}: {harmonise!r} is the field's own coding")
        try:
            mapping(harmonise)
        except KeyError as exc:
            raise SpecError(f"{where}: no mapping named {harmonise!r} in core/codelists") from exc
    if raw.get("source") == source:
        raise SpecError(f"{where}: source {source!r} is the field's own name")
    return LegacyCoding(
        until=until, note=raw["note"].strip(), harmonise=harmonise, source=raw.get("source")
    )


def _with_legacy_years(
    table: TableSpec, history: dict[tuple[str, str], list[tuple[AcademicYear, Any, str]]], year
) -> TableSpec:
    """A table whose fields' legacy codings know the year they are read in and the last year
    whose schema used them (the latest year, before a change, the field had that mapping and
    name)."""
    if not any(f.legacy for f in table.fields):
        return table
    fields = []
    for f in table.fields:
        legacy = []
        for old in f.legacy:
            used = [
                y
                for y, harmonise, src in history.get((table.name, f.name), [])
                if (old.harmonise is None or old.harmonise == harmonise)
                and (old.source is None or old.source == src)
            ]
            looks_like = max(used, default=None)
            if looks_like is not None and old.until <= looks_like:
                raise SpecError(
                    f"field {f.source!r}: legacy {old.note!r} is accepted until {old.until}, "
                    f"no later than {looks_like}, when it was still the coding"
                )
            legacy.append(replace(old, looks_like=looks_like, year=year))
        fields.append(replace(f, legacy=tuple(legacy)))
    return replace(table, fields=tuple(fields))


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
        names=tuple(
            (str(term), tuple(n.lower() for n in names))
            for term, names in (raw.get("names") or {}).items()
        ),
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
