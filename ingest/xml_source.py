"""Stream XML returns into text rows per table, the same shape the CSV reader gives.

One mechanism for every XML feed (CIN census, the SSDA903 XML form, ILR). The file
is read with lxml.etree.iterparse, one repeating *record* element (a Child, a
Learner) at a time; each record is walked once, turned into rows of text for the
tables it holds, and then cleared with everything before it, so memory stays flat
however large the file. Rows are gathered into Arrow record batches and inserted
into a DuckDB temp table per table; from there the StagingSession types, checks,
quarantines and accounts for them exactly as it does for a CSV file
(ingest/convert.py typing rules, the same quarantine, rows read = staged +
quarantined per file and table).

How a spec describes an XML feed
--------------------------------
The spec (ingest/specs/<feed>.yml) keeps its usual `tables:` with typed `fields`
and dated `changes`; a field's source is the *local name* of an element. An `xml:`
section says how the file is laid out::

    format: xml                     # every return is XML (csv_tables + xml: either form per return)
    xml:
      root: Message                 # the root element's local name
      record: Children/Child        # path from the root to the element streamed one at a time
      namespace: "ESFA/ILR/{slug}"  # default namespace: one string ({slug} -> 2024-25), or a
                                    # mapping {2023/24: "...", 2024/25: "..."}; omit for none
      years: {first: 2020/21, last: 2025/26}   # schema years the spec describes (optional)
      rename: {CHILDID: CHILD}      # element local name -> field source (same item, other tag)
      skip: [LearnerDestinationandProgression] # other repeating top-level elements: cleared, counted
      tables:                       # per-table layout; may instead sit in the table's own entry
        child:  {element: Children/Child}
        cin_details:
          element: Children/Child/CINdetails   # path from the root; one row per element
          carry: [LAchildID]        # filled from the enclosing rows (nearest ancestor first,
                                    # then anywhere in the record, then file-level tables)
        uasc: {element: CHILD/HEADER, when: DUC}   # a row only when DUC has text

A table's fields are the leaf elements found below its element, at any depth, that
do not belong to a deeper table (so Section47's DateOfInitialCPC is not mistaken for
CINdetails' own). A table whose element is a leaf (Disability) takes the element's
own text as the field of that name. Tables outside the record (a file Header) are
read once per file. Three virtual sources are filled by the reader and may be
declared like any field: "@record" (ordinal of the record in the file), "@parent"
(row number of the enclosing table's row, to join nested tables) and "@line".

Each row gets `_source_row`, its ordinal among that table's elements in the file
(unique per file and table, so record keys stay unique even in one-line files),
and raw columns `_element` (path and ordinal, e.g. Children/Child[12]/CINdetails[2])
and `_line`, which the quarantine keeps with the raw text.

Using it
--------
`stage_xml_returns(session, return_dirs, spec, year)` stages every *.xml file of a
partition's XML returns, one typing pass per table across all of them (ingest/stage.py
calls it with the returns whose spec format is xml, or the csv_tables return folders
that hold an XML file); `stage_xml_return` does one folder. `XmlReader(path, source,
xml_layout(spec, year))` yields `(table, pyarrow.RecordBatch)` for work without DuckDB
(tests/feeds/children/bench_xml.py).

Bad input
---------
- not XML, empty, wrong root element, wrong namespace: the file is rejected, its
  tables' accounts say why, and a required table blocks the partition;
- a partition year the spec does not describe (`years`, or no namespace for it):
  InputError naming the spec;
- truncated or malformed XML: every complete record before the fault is staged;
  the broken remainder is one quarantined row (raw text kept, capped) and the file
  is rejected with the line and column;
- mixed encodings (bytes that are not valid UTF-8 in a UTF-8 file): the bytes are
  replaced, the file reads on, and each row holding one is quarantined, naming the
  field;
- an element repeated where one is expected: the row is quarantined, naming it;
- undeclared elements, and records found at an unexpected place, are noted (the
  latter quarantined with their raw XML).
No message quotes a value: only element names, ordinals and line numbers.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from lxml import etree

from ingest.accounting import FileAccount
from ingest.csv_source import Reject
from ingest.errors import InputError
from ingest.spec import FeedSpec, SpecError
from npd.duck import quote_ident
from npd.periods import AcademicYear

VIRTUAL = ("@record", "@parent", "@line")
RAW_EXTRAS = ("_element", "_line", "_parent")
BATCH_ROWS = 50_000
RAW_CAP = 65_536  # characters of an unreadable remainder kept in quarantine

_ids = count(1)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8 = {"utf-8", "utf8"}


# -- layout -------------------------------------------------------------------------------


@dataclass(frozen=True)
class XmlTable:
    """Where one staged table's rows come from in the XML."""

    name: str
    path: tuple[str, ...]  # local names from below the root to the table's element
    sources: tuple[str, ...]  # declared field sources, in spec order
    carry: tuple[str, ...] = ()
    when: str | None = None
    in_record: bool = True
    parent: str | None = None  # the enclosing table: its quarantined rows take these along

    @property
    def path_text(self) -> str:
        return "/".join(self.path)


@dataclass(frozen=True)
class XmlLayout:
    """A spec's XML form for one academic year."""

    feed: str
    year: AcademicYear
    root: str
    namespace: str | None
    record: tuple[str, ...]
    tables: dict[str, XmlTable]
    rename: dict[str, str] = field(default_factory=dict)
    skip: tuple[str, ...] = ()

    def clark(self, local: str) -> str:
        return f"{{{self.namespace}}}{local}" if self.namespace else local


def has_xml_form(spec: FeedSpec) -> bool:
    return spec.format == "xml" or bool(spec.raw.get("xml"))


def xml_layout(spec: FeedSpec, year: AcademicYear | str) -> XmlLayout:
    """Compile the spec's `xml:` section for a year (spec = load_spec(feed).for_year(year))."""
    year = AcademicYear.parse(year)
    xml = spec.raw.get("xml") or {}
    if not xml:
        raise SpecError(f"{spec.feed}: the spec has no xml: section")
    _check_year(spec.feed, xml, year)
    record = _path(xml.get("record"), f"{spec.feed}: xml.record")
    layouts = xml.get("tables") or {}
    tables: dict[str, XmlTable] = {}
    for name, table in spec.tables.items():
        raw_table = spec.raw["tables"].get(name, {})
        conf = {k: raw_table[k] for k in ("element", "carry", "when") if k in raw_table}
        conf.update(layouts.get(name) or {})
        if not conf.get("element"):
            continue  # the table has no XML form (e.g. an SSDA903 table only sent as CSV)
        path = _path(conf["element"], f"{spec.feed}: table {name} element")
        sources = tuple(f.source for f in table.fields)
        carry = tuple(conf.get("carry") or ())
        unknown = [c for c in carry if c not in sources]
        if unknown:
            raise SpecError(f"{spec.feed}: table {name} carries undeclared field(s) {unknown}")
        tables[name] = XmlTable(
            name=name,
            path=path,
            sources=sources,
            carry=carry,
            when=conf.get("when"),
            in_record=path[: len(record)] == record,
        )
    tables = _with_parents(tables)
    unknown_tables = set(layouts) - set(spec.tables)
    if unknown_tables:
        raise SpecError(
            f"{spec.feed}: xml.tables names undeclared table(s) {sorted(unknown_tables)}"
        )
    return XmlLayout(
        feed=spec.feed,
        year=year,
        root=xml["root"],
        namespace=_namespace(spec.feed, xml.get("namespace"), year),
        record=record,
        tables=tables,
        rename={str(k): str(v) for k, v in (xml.get("rename") or {}).items()},
        skip=tuple(xml.get("skip") or ()),
    )


def _with_parents(tables: dict[str, XmlTable]) -> dict[str, XmlTable]:
    """Each table's enclosing table: the first (in spec order) at the longest proper prefix."""
    out = {}
    for name, t in tables.items():
        best: XmlTable | None = None
        for other in tables.values():
            n = len(other.path)
            if (
                n < len(t.path)
                and t.path[:n] == other.path
                and (best is None or n > len(best.path))
            ):
                best = other
        out[name] = replace(t, parent=best.name if best else None)
    return out


def _path(text: Any, what: str) -> tuple[str, ...]:
    parts = tuple(p for p in str(text or "").strip("/").split("/") if p)
    if not parts:
        raise SpecError(f"{what}: an element path is required")
    return parts


def _check_year(feed: str, xml: dict[str, Any], year: AcademicYear) -> None:
    years = xml.get("years") or {}
    first = AcademicYear.parse(years["first"]) if "first" in years else None
    last = AcademicYear.parse(years["last"]) if "last" in years else None
    if (first and year < first) or (last and year > last):
        span = f"{first.label if first else '...'} to {last.label if last else '...'}"
        raise InputError(
            f"ingest/specs/{feed}.yml",
            f"unknown schema year {year.label}: the spec describes {span}; "
            "add the year's schema changes to the spec before loading it",
        )


def _namespace(feed: str, spec_ns: Any, year: AcademicYear) -> str | None:
    if spec_ns is None:
        return None
    if isinstance(spec_ns, dict):
        by_year = {AcademicYear.parse(k): v for k, v in spec_ns.items()}
        if year not in by_year:
            known = ", ".join(y.label for y in sorted(by_year))
            raise InputError(
                f"ingest/specs/{feed}.yml",
                f"unknown schema year {year.label}: no XML namespace is declared for it "
                f"(known: {known})",
            )
        return by_year[year] or None
    return str(spec_ns).format(slug=year.slug, label=year.label, start=year.start)


# -- reading ------------------------------------------------------------------------------


class _Table:
    """Rows of one table being built from a file."""

    __slots__ = (
        "carry",
        "count",
        "index",
        "rejects",
        "rows",
        "spec",
        "undeclared",
        "virtual",
        "when",
        "width",
    )

    def __init__(self, spec: XmlTable):
        self.spec = spec
        self.index = {s: i for i, s in enumerate(spec.sources)}
        self.width = len(spec.sources)
        self.virtual = [(s, self.index[s]) for s in VIRTUAL if s in self.index]
        self.carry = [(s, self.index[s]) for s in spec.carry]
        self.when = self.index.get(spec.when) if spec.when is not None else None
        self.rows: list[list[Any]] = []
        self.count = 0  # rows read from this file so far (staged or rejected)
        self.rejects: list[Reject] = []
        self.undeclared: dict[str, int] = {}


class _Row:
    """One table row while its record is walked: values, enclosing row, problems."""

    __slots__ = ("element", "line", "ordinal", "parent", "problems", "table", "values")

    def __init__(self, table: _Table, parent: _Row | None, element: str, line: int | None):
        self.table = table
        self.values: list[str | None] = [None] * table.width
        self.parent = parent
        self.ordinal = 0  # assigned when the row is kept
        self.element = element
        self.line = line
        self.problems: list[str] | None = None


class _Node:
    """One step of the element tree below a top unit: the tables starting here, and below."""

    __slots__ = ("children", "tables")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.tables: list[_Table] = []


class _Utf8Repair:
    """A byte stream that passes valid UTF-8 through untouched and replaces invalid bytes
    with U+FFFD, counting them, so one mis-encoded name does not stop the whole file."""

    def __init__(self, fh):
        self.fh = fh
        self.pending = b""
        self.replaced = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.fh.read(size if size and size > 0 else 1 << 20)
        data = self.pending + chunk
        if not chunk:
            self.pending = b""
            if not data:
                return b""
            text = data.decode("utf-8", "replace")
            self.replaced += text.count("\ufffd")
            return text.encode("utf-8")
        try:
            _, consumed = codecs.utf_8_decode(data, "strict", False)
        except UnicodeDecodeError:
            text, consumed = codecs.utf_8_decode(data, "replace", False)
            self.replaced += text.count("\ufffd")
            self.pending = data[consumed:]
            return text.encode("utf-8")
        self.pending = data[consumed:]
        return data[:consumed]


class XmlReader:
    """Read one XML file as text rows per table, in Arrow record batches.

    Iterate `batches()`; afterwards `rows_read`, `rejects`, `notes`, `failure` and
    `undeclared(table)` say what happened. File-level faults (not XML, wrong root or
    namespace) raise InputError before the first batch.
    """

    def __init__(self, path: Path, source: str, layout: XmlLayout, batch_rows: int = BATCH_ROWS):
        self.path = path
        self.source = source
        self.layout = layout
        self.batch_rows = batch_rows
        self.notes: list[str] = []
        self.failure: str | None = None
        self.failure_table: str | None = None
        self.outside: dict[str, int] = {}  # leaf elements in a record but in no table
        self._tables = {name: _Table(t) for name, t in layout.tables.items()}
        for table in self._tables.values():  # is a carried value worth looking for in the record?
            others = [t for t in self._tables.values() if t is not table and t.spec.in_record]
            table.carry = [(s, i, any(s in t.index for t in others)) for s, i in table.carry]
        self._repair: _Utf8Repair | None = None
        self._file_rows: list[_Row] = []
        self._record_rows: list[_Row] = []
        self._record_ordinal = 0
        self._record_values: dict[str, str] | None = None
        self._compile()

    # results -------------------------------------------------------------------------

    @property
    def rows_read(self) -> dict[str, int]:
        return {name: t.count for name, t in self._tables.items()}

    @property
    def rejects(self) -> dict[str, list[Reject]]:
        return {name: t.rejects for name, t in self._tables.items()}

    def undeclared(self, table: str) -> dict[str, int]:
        return dict(self._tables[table].undeclared)

    # the layout, compiled for the walk ---------------------------------------------------

    def _compile(self) -> None:
        lay = self.layout
        clark = lay.clark
        self._rename = {clark(k): v for k, v in lay.rename.items()}
        self._names: dict[str, str] = {}  # Clark tag -> field source, filled as tags are met
        self._record = tuple(clark(p) for p in lay.record)
        # Top units: the record, and the element of every table outside it.
        self._units: dict[tuple[str, ...], _Node] = {self._record: _Node()}
        for t in self._tables.values():
            if not t.spec.in_record:
                self._units.setdefault(tuple(clark(p) for p in t.spec.path), _Node())
        for t in self._tables.values():
            path = tuple(clark(p) for p in t.spec.path)
            unit = self._record if t.spec.in_record else path
            node = self._units[unit]
            for tag in path[len(unit) :]:
                node = node.children.setdefault(tag, _Node())
            node.tables.append(t)
        self._skip = {clark(s) for s in lay.skip}
        self._top_tags = {key[-1] for key in self._units} | self._skip
        self._unit_label = {
            key: "/".join(etree.QName(t).localname for t in key) for key in self._units
        }

    # streaming ---------------------------------------------------------------------------

    def batches(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        with self.path.open("rb") as raw_fh:
            head = raw_fh.read(512)
            raw_fh.seek(0)
            declared = _DECLARED_ENCODING.match(head)
            encoding = declared.group(1).decode().lower() if declared else "utf-8"
            utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
            fh: Any = raw_fh
            if encoding in _UTF8 and not utf16:
                fh = self._repair = _Utf8Repair(raw_fh)
            self._check_root(fh)
            raw_fh.seek(0)
            if self._repair is not None:
                fh = self._repair = _Utf8Repair(raw_fh)
            yield from self._stream(fh)
        if self._repair is not None and self._repair.replaced:
            self.notes.append(
                f"{self.source}: {self._repair.replaced} byte sequence(s) are not valid UTF-8 "
                "(the file mixes encodings); the rows holding them are quarantined"
            )
        for table in self._tables.values():
            yield from self._flush(table)

    def _check_root(self, fh) -> None:
        """The root element and its namespace, from the file's first start tag."""
        parser = etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True)
        root = None
        fed = 0
        try:
            while root is None:
                chunk = fh.read(4096)
                if not chunk:
                    parser.close()
                    break
                fed += len(chunk)
                parser.feed(chunk)
                for _, el in parser.read_events():
                    root = el
                    break
        except etree.XMLSyntaxError as exc:
            for _, el in parser.read_events():
                root = el
                break
            if root is None:
                problem = "is empty: no XML root element" if not fed else "is not well-formed XML"
                raise InputError(
                    self.source, f"{problem} ({_libxml_message(exc)})", row=exc.lineno or None
                ) from exc
        if root is None:
            raise InputError(self.source, "is empty: no XML root element")
        qname = etree.QName(root.tag)
        if qname.localname != self.layout.root:
            raise InputError(
                self.source,
                f"root element is <{qname.localname}>, expected <{self.layout.root}> "
                f"for {self.layout.feed}",
            )
        found, expected = qname.namespace, self.layout.namespace
        if found != expected:
            raise InputError(
                self.source,
                f"root element <{self.layout.root}> has namespace {found or '(none)'!r}, "
                f"expected {expected or '(none)'!r} for a {self.layout.year.label} "
                f"{self.layout.feed} return",
            )

    def _stream(self, fh) -> Iterator[tuple[str, pa.RecordBatch]]:
        open_unit: tuple[str, int | None] | None = None
        records = 0
        units, skip, record = self._units, self._skip, self._record
        tables = list(self._tables.values())
        events = etree.iterparse(
            fh,
            events=("start", "end"),
            tag=sorted(self._top_tags),
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            for event, el in events:
                key = _path_of(el)
                if key in units:
                    if event == "start":
                        open_unit = (el.tag, el.sourceline)
                        continue
                    open_unit = None
                    if key == record:
                        records += 1
                        self._walk_unit(el, key, records)
                    else:
                        self._walk_unit(el, key, 0)
                    _release(el)
                    for table in tables:
                        if len(table.rows) >= self.batch_rows:
                            yield from self._flush(table)
                elif event == "end" and not self._inside_unit(el):
                    if el.tag in skip:
                        self._skipped = getattr(self, "_skipped", 0) + 1
                    else:
                        if el.tag == record[-1]:
                            records += 1  # keeps @record equal to the record table's row
                        self._misplaced(el, key)
                    _release(el)
        except etree.XMLSyntaxError as exc:
            self._broken(exc, open_unit, records)
        skipped = getattr(self, "_skipped", 0)
        if skipped:
            names = ", ".join(sorted(self.layout.skip))
            self.notes.append(f"{self.source}: {skipped} <{names}> element(s) not staged (skip)")

    def _inside_unit(self, el) -> bool:
        """Is el nested inside a top unit? (Then its own end event is not ours to handle.)"""
        parent = el.getparent()
        while parent is not None:
            if parent.tag in self._top_tags and _path_of(parent) in self._units:
                return True
            parent = parent.getparent()
        return False

    # walking a unit ------------------------------------------------------------------------

    def _walk_unit(self, el, key: tuple[str, ...], ordinal: int) -> None:
        self._record_rows = []
        self._record_ordinal = ordinal
        label = self._unit_label[key] + (f"[{ordinal}]" if ordinal else "")
        node = self._units[key]
        rows = self._open_rows(node, el, None, label)
        self._walk(el, node, rows, label)
        self._close_rows(self._record_rows)
        if not ordinal:
            self._file_rows.extend(self._record_rows)

    def _open_rows(self, node: _Node, el, parent: _Row | None, label: str) -> list[_Row]:
        if not node.tables:
            return [parent] if parent is not None else []
        rows = [_Row(t, parent, label, el.sourceline) for t in node.tables]
        self._record_rows.extend(rows)
        if len(el) == 0:  # a leaf table element: its own text is its field
            self._leaf(self._name(el.tag), el.text, rows)
        return rows

    def _walk(self, el, node: _Node | None, rows: list[_Row], label: str) -> None:
        positions: dict[str, int] = {}
        children = node.children if node is not None else {}
        for child in el:
            tag = child.tag
            below = children.get(tag)
            if below is not None and below.tables:
                n = positions[tag] = positions.get(tag, 0) + 1
                child_label = f"{label}/{tag.rpartition('}')[2]}[{n}]"
                child_rows = self._open_rows(below, child, rows[0] if rows else None, child_label)
                if len(child):
                    self._walk(child, below, child_rows, child_label)
            elif len(child):
                self._walk(child, below, rows, label)
            else:
                self._leaf(self._name(tag), child.text, rows)

    def _name(self, tag: str) -> str:
        name = self._names.get(tag)
        if name is None:
            name = self._names[tag] = self._rename.get(tag) or tag.rpartition("}")[2]
        return name

    def _leaf(self, name: str, text: str | None, rows: list[_Row]) -> None:
        if len(rows) == 1:  # the common case: one table at this element
            row = rows[0]
            i = row.table.index.get(name)
            if i is not None and row.values[i] is None:
                row.values[i] = text if text is not None else ""
                return
        if not rows:
            if text and text.strip():
                self.outside[name] = self.outside.get(name, 0) + 1
            return
        declared = False
        for row in rows:
            table = row.table
            i = table.index.get(name)
            if i is None:
                continue
            declared = True
            if row.values[i] is not None:
                row.problems = (row.problems or []) + [
                    f"{name}: element repeats within one <{table.spec.path[-1]}>"
                ]
                continue
            row.values[i] = text if text is not None else ""
        if not declared and text and text.strip():
            undeclared = rows[0].table.undeclared
            undeclared[name] = undeclared.get(name, 0) + 1

    def _close_rows(self, rows: list[_Row]) -> None:
        """Carry values down, fill virtual fields, drop unmet `when` rows, file the rest."""
        if not rows:
            return
        self._record_values = None  # built only if a carry is not found in the ancestors
        repaired = self._repair is not None and self._repair.replaced > 0
        record = str(self._record_ordinal) if self._record_ordinal else None
        for row in rows:
            table = row.table
            spec = table.spec
            values = row.values
            for s, i, in_record in table.carry:
                if values[i] is None:
                    values[i] = self._carried(row, s, rows if in_record else None)
            if table.when is not None:
                w = values[table.when]
                if not (w and w.strip()):
                    continue
            table.count += 1
            row.ordinal = table.count
            for s, i in table.virtual:
                if s == "@record":
                    values[i] = record
                elif s == "@parent":
                    values[i] = str(row.parent.ordinal) if row.parent is not None else None
                else:
                    values[i] = str(row.line) if row.line is not None else None
            if repaired:
                bad = [s for s, v in zip(spec.sources, values, strict=True) if v and "\ufffd" in v]
                if bad:
                    row.problems = (row.problems or []) + [
                        f"{s}: not valid UTF-8 (the file mixes encodings; bytes replaced)"
                        for s in bad
                    ]
            line = str(row.line) if row.line is not None else None
            parent = str(row.parent.ordinal) if row.parent is not None else None
            if row.problems:
                raw = {"_element": row.element, "_line": line}
                raw.update(zip(spec.sources, values, strict=True))
                table.rejects.append(
                    Reject(line=row.ordinal, reason="; ".join(row.problems), raw=json.dumps(raw))
                )
                continue
            table.rows.append([row.ordinal, row.element, line, parent, *values])

    def _carried(self, row: _Row, source: str, record: list[_Row] | None) -> str | None:
        """Nearest enclosing row first, then anywhere in the record, then file-level rows."""
        parent = row.parent
        while parent is not None:
            i = parent.table.index.get(source)
            if i is not None and parent.values[i]:
                return parent.values[i]
            parent = parent.parent
        if record is not None:
            if self._record_values is None:
                self._record_values = _first_values(record)
            if source in self._record_values:
                return self._record_values[source]
        for file_row in self._file_rows:
            i = file_row.table.index.get(source)
            if i is not None and file_row.values[i]:
                return file_row.values[i]
        return None

    # faults ------------------------------------------------------------------------------

    def _record_table(self) -> _Table | None:
        """The table a broken or misplaced record is charged to: the record's first table."""
        in_record = [t for t in self._tables.values() if t.spec.in_record]
        return (in_record or list(self._tables.values()) or [None])[0]

    def _misplaced(self, el, key: tuple[str, ...] | None) -> None:
        """A record element where the layout does not expect it: quarantined whole."""
        local = etree.QName(el.tag).localname
        where = "/".join([self.layout.root, *(etree.QName(t).localname for t in key or ())])
        expected = "/".join([self.layout.root, *self.layout.record])
        table = self._record_table()
        if table is None:
            self.notes.append(f"{self.source}: <{local}> at {where} not staged")
            return
        table.count += 1
        table.rejects.append(
            Reject(
                line=table.count,
                reason=f"<{local}> at {where} (line {el.sourceline}), expected at {expected}: "
                "not read",
                raw=etree.tostring(el, encoding="unicode")[:RAW_CAP],
            )
        )

    def _broken(self, exc: etree.XMLSyntaxError, open_unit, records: int) -> None:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        start_line = open_unit[1] if open_unit and open_unit[1] else line
        where = (
            f"inside <{etree.QName(open_unit[0]).localname}> starting at line {start_line}"
            if open_unit
            else "outside any record"
        )
        self.failure = (
            f"truncated or malformed XML at line {line}, column {column}, {where} "
            f"({_libxml_message(exc)}); the {records} complete record(s) before it were read, "
            "the rest of the file is quarantined as one row"
        )
        table = self._record_table()
        if table is None:
            return
        self.failure_table = table.spec.name
        table.count += 1
        table.rejects.append(
            Reject(line=table.count, reason=self.failure, raw=_tail_text(self.path, start_line))
        )

    # batches -----------------------------------------------------------------------------

    def _flush(self, table: _Table) -> Iterator[tuple[str, pa.RecordBatch]]:
        if not table.rows:
            return
        columns = list(zip(*table.rows, strict=True))
        table.rows = []
        names = ["_source_row", *RAW_EXTRAS, *table.spec.sources]
        arrays = [pa.array(columns[0], pa.int64())]
        arrays += [pa.array(col, pa.string()) for col in columns[1:]]
        yield table.spec.name, pa.RecordBatch.from_arrays(arrays, names=names)


def _first_values(rows: list[_Row]) -> dict[str, str]:
    """The first non-empty value of each field across a record's rows (for carries)."""
    out: dict[str, str] = {}
    for row in rows:
        for s, v in zip(row.table.spec.sources, row.values, strict=True):
            if v and s not in out:
                out[s] = v
    return out


def _path_of(el) -> tuple[str, ...] | None:
    """Tags from below the root down to el (None for the root itself)."""
    tags = []
    node = el
    while node is not None:
        tags.append(node.tag)
        node = node.getparent()
    tags.pop()  # the root
    tags.reverse()
    return tuple(tags) or None


def _release(el) -> None:
    """Free a processed element and everything before it, so memory stays flat."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    if parent is None:
        return
    while el.getprevious() is not None:
        del parent[0]


def _libxml_message(exc: etree.XMLSyntaxError) -> str:
    """libxml2's message without any bytes it quotes (they may be part of a name)."""
    text = str(exc.msg or exc).splitlines()[0]
    text = re.sub(r"Bytes:.*", "bytes withheld", text)
    return re.sub(r", line \d+, column \d+$", "", text).strip()


def _tail_text(path: Path, from_line: int | None) -> str:
    """The file's text from a line onwards, capped: the raw text of what could not be read."""
    out: list[str] = []
    size = 0
    with path.open("rb") as fh:
        for n, raw_line in enumerate(fh, start=1):
            if from_line and n < from_line:
                continue
            text = raw_line.decode("utf-8", "replace")
            out.append(text)
            size += len(text)
            if size >= RAW_CAP:
                break
    return "".join(out)[:RAW_CAP]


# -- staging ------------------------------------------------------------------------------


def return_xml_files(return_dir: Path) -> list[Path]:
    return sorted(p for p in return_dir.iterdir() if p.is_file() and p.suffix.lower() == ".xml")


def uses_xml(spec: FeedSpec, return_dir: Path) -> bool:
    """Read this return as XML? Always for an xml feed; for a csv_tables feed with an xml:
    section, when the return folder holds an XML file (either form per return)."""
    if spec.format == "xml":
        return True
    if not spec.raw.get("xml"):
        return False
    xml_files = return_xml_files(return_dir)
    if xml_files and any(p.suffix.lower() == ".csv" for p in return_dir.iterdir()):
        raise InputError(
            return_dir.name,
            "holds both an XML return and CSV tables; a return must be one or the other",
        )
    return bool(xml_files)


def stage_xml_return(
    session, return_dir: Path, spec: FeedSpec, year: AcademicYear | str
) -> list[str]:
    """Stage every XML file of one return folder; the names of the tables it supplied."""
    return [table for _, table in stage_xml_returns(session, [return_dir], spec, year)]


def stage_xml_returns(
    session, return_dirs: list[Path], spec: FeedSpec, year: AcademicYear | str
) -> list[tuple[str, str]]:
    """Stage the XML files of every return of a partition; (return, table) pairs supplied.

    `session` is the partition's StagingSession: rows are typed, quarantined and accounted
    for by it, exactly as for CSV files, in one pass per table across every file (150 LA
    returns cost ten typing passes, not 1,500).
    """
    if not return_dirs:
        return []
    layout = xml_layout(spec, year)
    files: list[tuple[Path, str]] = []
    supplied: list[tuple[str, str]] = []
    for table in spec.tables.values():
        session.ensure_table(table)
    for return_dir in return_dirs:
        found = return_xml_files(return_dir)
        where = session.source_name(return_dir)
        for table in spec.tables.values():
            if not found or table.name not in layout.tables:
                name = "*.xml" if not found else table.name
                session.record_missing(f"{where}/<{name}>", table, table.required)
        files += [(path, return_dir.name) for path in found]
        supplied += [(return_dir.name, t) for t in layout.tables] if found else []
    if files:
        _XmlStaging(session, spec, layout).stage(files)
    return supplied


class _XmlStaging:
    """Every file read into one raw table per staged table, then typed table by table."""

    def __init__(self, session, spec: FeedSpec, layout: XmlLayout):
        self.session, self.con, self.spec, self.layout = session, session.con, spec, layout
        self.raw = {name: f"xml_raw_{next(_ids)}" for name in layout.tables}
        self.rows: dict[str, dict[str, int]] = {name: {} for name in layout.tables}
        self.rejects: dict[str, dict[str, list[Reject]]] = {name: {} for name in layout.tables}
        self.accounts: dict[str, dict[str, FileAccount]] = {name: {} for name in layout.tables}
        self.next_ord = dict.fromkeys(layout.tables, 0)  # _ord runs on across files

    def stage(self, files: list[tuple[Path, str]]) -> None:
        for name, t in self.layout.tables.items():
            cols = ", ".join(f"{quote_ident(c)} VARCHAR" for c in (*RAW_EXTRAS, *t.sources))
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {self.raw[name]} (_ord BIGINT, "
                f"_source_file VARCHAR, _return VARCHAR, _source_row BIGINT, {cols})"
            )
        for path, return_name in files:
            self._read(path, return_name)
        for name in sorted(self.layout.tables, key=lambda n: len(self.layout.tables[n].path)):
            self._split(name)  # parents before the tables nested in them
        for raw in self.raw.values():
            self.con.execute(f"DROP TABLE IF EXISTS {raw}")

    def _read(self, path: Path, return_name: str) -> None:
        session, layout = self.session, self.layout
        source = session.source_name(path)
        accounts = {name: FileAccount(source_file=source, table=name) for name in layout.tables}
        session.accounts.extend(accounts.values())
        reader = XmlReader(path, source, layout)
        inserted = dict.fromkeys(layout.tables, 0)
        try:
            for name, batch in reader.batches():
                n = batch.num_rows
                first = self.next_ord[name] + 1
                data = pa.Table.from_batches([batch])
                data = data.add_column(0, "_ord", pa.array(np.arange(first, first + n)))
                data = data.append_column("_source_file", pa.array([source] * n, pa.string()))
                data = data.append_column("_return", pa.array([return_name] * n, pa.string()))
                view = f"{self.raw[name]}_batch"
                self.con.register(view, data)
                self.con.execute(f"INSERT INTO {self.raw[name]} BY NAME SELECT * FROM {view}")
                self.con.unregister(view)
                inserted[name] += n
                self.next_ord[name] += n
        except InputError as exc:
            for account in accounts.values():
                account.status = "rejected"
                account.messages.append(str(exc))
            return
        for name, t in layout.tables.items():
            self.accounts[name][source] = accounts[name]
            self.rows[name][source] = inserted[name]
            self.rejects[name][source] = reader.rejects[name]
            undeclared = reader.undeclared(name)
            if undeclared:
                listed = ", ".join(f"{k} ({v})" for k, v in sorted(undeclared.items()))
                accounts[name].messages.append(
                    f"{source}: undeclared element(s) in <{t.path[-1]}> not staged: {listed}"
                )
        first = accounts[reader.failure_table or next(iter(layout.tables))]
        first.messages.extend(reader.notes)
        if reader.outside:
            listed = ", ".join(f"{k} ({v})" for k, v in sorted(reader.outside.items()))
            first.messages.append(f"{source}: element(s) outside every table not staged: {listed}")
        if reader.failure:
            first.status = "rejected"
            first.messages.append(f"{source}: {reader.failure}")

    def _split(self, name: str) -> None:
        from ingest.csv_source import RawFiles

        t = self.layout.tables[name]
        if t.parent is not None:
            self._follow_parent(name, t)
        rows, rejects = self.rows[name], self.rejects[name]
        if not any(rows.values()) and not any(rejects.values()):
            return  # an empty table costs no SQL
        raw = RawFiles(
            name=self.raw[name],
            header=[*RAW_EXTRAS, *t.sources],
            rows=rows,
            rejects={src: sorted(r, key=lambda x: x.line) for src, r in rejects.items()},
        )
        self.session._split(raw, self.spec.tables[name], None, self.accounts[name])

    def _follow_parent(self, name: str, t: XmlTable) -> None:
        """Rows whose enclosing row was quarantined follow it: no orphan is staged or lost."""
        raw, files = self.raw[name], list(self.rows[name])
        if not files:
            return
        found = self.con.execute(
            f"SELECT r._source_file, r._source_row, {', '.join(f'r.{quote_ident(c)}' for c in (*RAW_EXTRAS, *t.sources))} "
            f"FROM {raw} r JOIN quarantine q ON q.source_table = ? "
            "AND q._source_file = r._source_file AND q._source_row = TRY_CAST(r._parent AS BIGINT) "
            "ORDER BY 1, 2",
            [t.parent],
        ).fetchall()
        if not found:
            return
        self.con.execute(
            f"DELETE FROM {raw} USING quarantine q WHERE q.source_table = ? "
            f"AND q._source_file = {raw}._source_file "
            f"AND q._source_row = TRY_CAST({raw}._parent AS BIGINT)",
            [t.parent],
        )
        cols = [*RAW_EXTRAS, *t.sources]
        enclosing = f"<{self.layout.tables[t.parent].path[-1]}>"
        for row in found:
            source, values = row[0], dict(zip(cols, row[2:], strict=True))
            self.rows[name][source] -= 1
            self.rejects[name].setdefault(source, []).append(
                Reject(
                    line=row[1],
                    reason=f"<{t.path[-1]}> inside {enclosing} {values['_parent']}, "
                    "which was quarantined",
                    raw=json.dumps(values),
                )
            )


def describe_layout(layout: XmlLayout) -> str:
    """One line per table: where its rows come from (for docs and error messages)."""
    lines = [f"<{layout.root}> record {'/'.join(layout.record)}"]
    for t in layout.tables.values():
        extra = f", carry {', '.join(t.carry)}" if t.carry else ""
        extra += f", when {t.when}" if t.when else ""
        lines.append(f"  {t.name}: {t.path_text}{extra}")
    return "\n".join(lines)


__all__ = [
    "XmlLayout",
    "XmlReader",
    "XmlTable",
    "has_xml_form",
    "return_xml_files",
    "stage_xml_return",
    "stage_xml_returns",
    "uses_xml",
    "xml_layout",
]
