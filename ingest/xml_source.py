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
      keep_before_fault: true       # truncated/malformed: stage the records before the fault
                                    # (default false: the file is refused whole)
      period: {Year: "{end}", ReferenceDate: "{end}-03-31"}   # file-level (header) elements
                                    # that state the return's period, and what the partition's
                                    # year makes them ({start} {end} {start2} {end2} {slug}
                                    # {label}); another value refuses the file, naming both years
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
`stage_xml_returns(session, returns, spec, year)` stages the XML files of a partition's
XML returns, one typing pass per table across all of them (ingest/stage.py calls it with
the returns ingest.inventory reads as XML, each with its files). `XmlReader(path, source,
xml_layout(spec, year))` yields `(table, pyarrow.RecordBatch)` for work without DuckDB
(tests/feeds/children/bench_xml.py).

Bad input
---------
Every file is untrusted. No input makes the reader raise anything but InputError; no
message quotes a value that could identify a child (only element names, ordinals, line
numbers, and a header's own Year or ReferenceDate).

- Never followed, never resolved: the file is opened without following a link and only if
  it is a regular file; no DTD, external entity or network resource is ever loaded, and no
  entity is expanded (libxml2's default limits stay on: text nodes up to 10,000,000
  characters, nesting up to 256 deep, entity amplification capped).
- Refused before any record (InputError, no rows): not a regular file, empty, not XML, no
  root element in its first 16 MB, wrong root element, wrong namespace (naming the year
  the namespace belongs to).
- Refused whole (every row found is counted and quarantined, the reason in every table's
  account and in each row's quarantine reason, "file refused whole: ..."):
  a DOCTYPE (any: its entities are never expanded, so its values cannot be trusted);
  a parser safety limit reached (an entity expansion bomb, nesting over 256 deep, a text
  node over 10,000,000 characters, over 16 MB of XML without a record ending);
  a header stating another period than the partition's (the spec's `xml.period`, e.g.
  CIN Year and ReferenceDate, ILR Year), naming both years;
  an encoding that cannot be trusted (declared but unknown; more than 1,000 sequences not
  valid in a file that also holds valid text); truncated or malformed XML when the spec
  does not say `xml.keep_before_fault: true`.
- Truncated or malformed XML with `keep_before_fault: true`: every complete record before
  the fault is staged; the broken remainder is one quarantined row (raw text kept, capped)
  and the record table's account is rejected, saying so, with the line and column.
- Encodings: UTF-8 (with or without BOM) is read as is; UTF-16/32 (by BOM or by its byte
  pattern), a declared ISO-8859-1 or Windows-1252, and a declared encoding the bytes
  contradict (UTF-8 text declared Latin-1) are read correctly, with a note saying how.
  A UTF-8 file with a stray invalid byte: the rows holding it are quarantined, naming the
  field; one with several and no valid non-ASCII UTF-8 anywhere was written in
  Windows-1252 without saying so: it is read again as Windows-1252, with a note.
- NUL and control characters (bytes or character references, not tab, LF, CR): replaced
  before the parser sees them; each row holding one is quarantined, naming the field.
- A text over 4,096 characters (no field of these returns comes close): the row is
  quarantined, naming the field; its raw text is capped.
- An element repeated where one is expected: the row is quarantined, naming it.
- An element under a field's legacy name (`legacy: source` in the spec, GenderCurrent for
  Sex in 2024/25) is read as that field, with a warning per row and one note per file
  (docs/bad-input.md, "legacy coding"); it is not an undeclared element.
- Undeclared elements with text: the row loads with a warning per row naming the element
  (warnings.parquet), and the file's account notes them with counts; records found at an
  unexpected place are quarantined with their raw XML.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from core.duck import quote_ident
from core.periods import AcademicYear
from ingest.accounting import FileAccount
from ingest.csv_source import Reject, raw_json
from ingest.errors import InputError
from ingest.spec import FeedSpec, SpecError

VIRTUAL = ("@record", "@parent", "@line")
RAW_EXTRAS = ("_element", "_line", "_parent")
BATCH_ROWS = 50_000
RAW_CAP = 4_096  # characters of raw text kept for a quarantined row or remainder
VALUE_CAP = 1_024  # characters of one value kept in a quarantined row's raw text
MAX_TEXT = 4_096  # the longest text of one element staged (no field of these returns is near)
MAX_UNIT_BYTES = 16 << 20  # XML held at once: more without a record ending refuses the file
MANY_BAD_BYTES = 1_000  # invalid sequences past which a file is not repaired row by row
CONTROL_MARK = "\ue000"  # stands in for a NUL or control character (a private-use character)

_ids = count(1)
_MARK_BYTES = CONTROL_MARK.encode("utf-8")
_DECLARED_ENCODING = re.compile(
    r"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']"""
)
_UTF8_NAMES = {"utf-8", "utf8"}
# Byte order marks, and the first bytes of an unmarked "<?xml" in UTF-16/32 (XML 1.0 F.1).
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_UNMARKED = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
# C0 controls but tab, LF and CR (not allowed in XML 1.0), and DEL: as bytes and as text.
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_CONTROL_RX = re.compile(b"[" + re.escape(_CONTROL_BYTES) + b"]")
_CONTROL_TEXT_RX = re.compile("[" + re.escape(_CONTROL_BYTES.decode("latin-1")) + "]")
_CHARREF_RX = re.compile(rb"&#(x[0-9A-Fa-f]{1,8}|[0-9]{1,10});")
_CHARREF_TEXT_RX = re.compile(r"&#(x[0-9A-Fa-f]{1,8}|[0-9]{1,10});")
# libxml2's limits (kept: no huge_tree), as its messages name them.
_LIMITS = (
    ("amplification", "an entity expansion over the parser's limit (an entity bomb)"),
    ("entity reference loop", "an entity expansion over the parser's limit (an entity bomb)"),
    ("Excessive depth", "elements nested more than 256 deep"),
    ("Text node too long", "a text node over 10,000,000 characters"),
    ("huge text node", "a text node over 10,000,000 characters"),
    ("Name too long", "an element or attribute name over 50,000 characters"),
    ("Resource limit exceeded", "a parser resource limit"),
    ("XML_PARSE_HUGE", "a parser resource limit"),
)


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
    keep_before_fault: bool = False  # a truncated file: stage the records before the fault?
    period: dict[str, str] = field(default_factory=dict)  # header element -> value template
    namespaces: dict[str, AcademicYear] = field(default_factory=dict)  # other years' namespaces

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
        # A legacy coding's earlier element name (GenderCurrent for Sex) is read into its own
        # column; typing reads it as the field (ingest/convert.py, docs/bad-input.md).
        sources += tuple(
            dict.fromkeys(c.source for f in table.fields for c in f.legacy if c.source)
        )
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
    keep = xml.get("keep_before_fault", False)
    if not isinstance(keep, bool):
        raise SpecError(f"{spec.feed}: xml.keep_before_fault must be true or false")
    return XmlLayout(
        feed=spec.feed,
        year=year,
        root=xml["root"],
        namespace=_namespace(spec.feed, xml.get("namespace"), year),
        record=record,
        tables=tables,
        rename={str(k): str(v) for k, v in (xml.get("rename") or {}).items()},
        skip=tuple(xml.get("skip") or ()),
        keep_before_fault=keep,
        period=_period(spec.feed, xml.get("period"), tables, year),
        namespaces=_other_namespaces(xml.get("namespace"), year),
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
    return str(spec_ns).format(**_year_fields(year))


def _other_namespaces(spec_ns: Any, year: AcademicYear) -> dict[str, AcademicYear]:
    """Namespaces other years' returns carry, to name the year of a file that has one."""
    if spec_ns is None:
        return {}
    if isinstance(spec_ns, dict):
        found = {str(v): AcademicYear.parse(k) for k, v in spec_ns.items() if v}
    else:
        years = (AcademicYear(y) for y in range(year.start - 30, year.start + 31))
        found = {str(spec_ns).format(**_year_fields(y)): y for y in years}
    return {ns: y for ns, y in found.items() if y != year}


def _year_fields(year: AcademicYear) -> dict[str, Any]:
    """What a spec's templates may name: {start} 2024, {end} 2025, {start2} 24, {end2} 25,
    {slug} 2024-25, {label} 2024/25."""
    return {
        "start": year.start,
        "end": year.start + 1,
        "start2": f"{year.start % 100:02d}",
        "end2": f"{(year.start + 1) % 100:02d}",
        "slug": year.slug,
        "label": year.label,
    }


def _period(
    feed: str, conf: Any, tables: dict[str, XmlTable], year: AcademicYear
) -> dict[str, str]:
    """xml.period: file-level (header) elements stating the return's period, and the
    template of the value each year gives them (checked here for the partition's year)."""
    if not conf:
        return {}
    if not isinstance(conf, dict):
        raise SpecError(f"{feed}: xml.period must map header elements to templates")
    header_sources = {s for t in tables.values() if not t.in_record for s in t.sources}
    out = {}
    for source, template in conf.items():
        if source not in header_sources:
            raise SpecError(
                f"{feed}: xml.period names {source}, not a field of a table outside the record"
            )
        try:
            str(template).format(**_year_fields(year))
            out[str(source)] = str(template)
        except (KeyError, IndexError, ValueError) as exc:
            raise SpecError(f"{feed}: xml.period {source}: bad template ({exc})") from exc
    return out


def _stated_year(template: str, value: str, year: AcademicYear) -> AcademicYear | None:
    """The year whose template gives this value (None if none within 50 years does)."""
    for y in range(year.start - 50, year.start + 51):
        if template.format(**_year_fields(AcademicYear(y))) == value:
            return AcademicYear(y)
    return None


# -- opening and decoding -------------------------------------------------------------------


class _Overlong(Exception):
    """More XML than MAX_UNIT_BYTES without a record ending: memory would not stay bounded."""


class _Reread(Exception):
    """The file is not the UTF-8 it claims and none of it is: read it again as Windows-1252."""


def _open_regular(path: Path, source: str):
    """The file opened for reading, never following a link, only if it is a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        what = (
            "is a symbolic link: not followed"
            if exc.errno == errno.ELOOP
            else f"cannot be opened ({exc.strerror or type(exc).__name__})"
        )
        raise InputError(source, what) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(source, "is not a regular file (a FIFO, socket or device): not read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@dataclass(frozen=True)
class _Encoding:
    """How a file's bytes become the UTF-8 the parser is given."""

    codec: str = "utf-8"  # Python codec the file is decoded with
    label: str = "UTF-8"  # as messages name it
    skip: int = 0  # bytes of a byte order mark
    note: str | None = None  # for the file's account, when not plain UTF-8 as expected
    refusal: tuple[str, str] | None = None  # (label, detail) when it cannot be trusted


def _label(codec: str) -> str:
    name = codecs.lookup(codec).name
    return {
        "utf-8": "UTF-8",
        "utf-16-le": "UTF-16",
        "utf-16-be": "UTF-16",
        "utf-16": "UTF-16",
        "utf-32-le": "UTF-32",
        "utf-32-be": "UTF-32",
        "utf-32": "UTF-32",
        "latin-1": "ISO-8859-1",
        "iso8859-1": "ISO-8859-1",
        "cp1252": "Windows-1252",
        "ascii": "US-ASCII",
    }.get(name, name.upper())


def _sniff_encoding(fh) -> _Encoding:
    """The file's encoding, from its byte order mark, its first bytes and its declaration
    (XML 1.0 appendix F); a declaration its bytes contradict loses, with a note."""
    head = fh.read(1024)
    fh.seek(0)
    codec, skip, marked = None, 0, False
    for bom, name in _BOMS:
        if head.startswith(bom):
            codec, skip, marked = name, len(bom), True
            break
    else:
        for pattern, name in _UNMARKED:
            if head.startswith(pattern):
                codec = name
                break
    text = head[skip:].decode(codec or "latin-1", "replace")
    match = _DECLARED_ENCODING.match(text)
    declared = match.group(1) if match else None
    declared_codec = _text_codec(declared) if declared else None
    if codec is not None:  # the bytes say which: a BOM or UTF-16/32's NUL pattern
        label = _label(codec)
        bom = "with" if marked else "without"
        if codec == "utf-8":
            if declared and declared_codec not in ("utf-8", None):
                return _Encoding(
                    skip=skip,
                    note=f"declares {declared} but starts with a UTF-8 byte order mark: "
                    "read as UTF-8",
                )
            return _Encoding(skip=skip)
        family = codecs.lookup(codec).name.split("-")[0:2]
        if declared and (declared_codec or "").split("-")[0:2] != family:
            note = f"declares {declared} but is written in {label} ({bom} a byte order mark)"
        else:
            note = f"written in {label} ({bom} a byte order mark), not UTF-8"
        return _Encoding(codec, label, skip, f"{note}: read as {label}")
    if declared is None or declared_codec == "utf-8" or declared.lower() in _UTF8_NAMES:
        return _Encoding()
    if declared_codec is None:
        return _Encoding(
            refusal=(
                "it declares an unknown encoding",
                f"encoding {declared!r} in its XML declaration",
            )
        )
    if (
        declared_codec.startswith(("utf-16", "utf-32"))
        or "<?xml".encode(declared_codec, "replace") != b"<?xml"
    ):
        return _Encoding(
            note=f"declares {declared} but its first bytes are ASCII, as in UTF-8: read as UTF-8"
        )
    kind = _scan_utf8(fh)
    if kind == "ascii":
        return _Encoding()  # ASCII reads the same in every encoding declared
    if kind == "utf-8":
        return _Encoding(note=f"declares {declared} but its text is valid UTF-8: read as UTF-8")
    label = _label(declared_codec)
    return _Encoding(
        declared_codec, label, 0, f"read as {label}, as it declares (not the UTF-8 expected)"
    )


def _text_codec(name: str) -> str | None:
    """Python's name for a text encoding (None for unknown names and bytes-to-bytes codecs
    such as base64, which no XML file can be written in)."""
    try:
        codec = codecs.lookup(name).name
        "<?xml".encode(codec, "replace")
    except (LookupError, UnicodeError, TypeError, ValueError):
        return None
    return codec


def _scan_utf8(fh) -> str:
    """'ascii', 'utf-8' (valid, with some non-ASCII text) or 'other', in bounded memory."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    kind = "ascii"
    try:
        while True:
            block = fh.read(1 << 20)
            decoder.decode(block, final=not block)
            if not block:
                return kind
            if kind == "ascii" and not block.isascii():
                kind = "utf-8"
    except UnicodeDecodeError:
        return "other"
    finally:
        fh.seek(0)


class _Stream:
    """A file's bytes as UTF-8 for libxml2, whatever it was written in.

    UTF-8 passes through untouched (a chunk at a time), invalid sequences replaced by
    U+FFFD and counted; other encodings are decoded and re-encoded. NUL and control
    characters, as bytes or character references, become CONTROL_MARK before the parser
    can stop on them, and are counted. `mark` is set by the reader when a record ends: more
    than MAX_UNIT_BYTES past it raises _Overlong (the parser would hold it all)."""

    def __init__(self, fh, encoding: _Encoding, limit: int | None = MAX_UNIT_BYTES):
        self.fh = fh
        self.limit = limit
        self.total = 0  # bytes given to the parser
        self.mark = 0
        self.replaced = 0  # invalid sequences replaced by U+FFFD
        self.controls = 0  # NUL or control characters replaced by CONTROL_MARK
        self.non_ascii = False  # any valid non-ASCII text seen (UTF-8 files)
        self.eof = False
        self._pending = b""
        self._text_pending = ""
        fh.seek(encoding.skip)
        self._decoder = (
            None
            if encoding.codec == "utf-8"
            else codecs.getincrementaldecoder(encoding.codec)("replace")
        )

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else 1 << 16
        out = b""
        while not out and not self.eof:
            out = self._utf8(size) if self._decoder is None else self._text(size)
        self.total += len(out)
        if self.limit is not None and self.total - self.mark > self.limit:
            raise _Overlong
        return out

    def _utf8(self, size: int) -> bytes:
        chunk = self.fh.read(size)
        final = not chunk
        self.eof = final
        data, self._pending = self._pending + chunk, b""
        if not data:
            return b""
        if data.isascii():
            out = data
        else:
            try:
                _, consumed = codecs.utf_8_decode(data, "strict", final)
                out, self._pending = data[:consumed], data[consumed:]
                self.non_ascii = self.non_ascii or not out.isascii()
            except UnicodeDecodeError:
                text, consumed = codecs.utf_8_decode(data, "replace", final)
                self.replaced += text.count("\ufffd")
                if not text.replace("\ufffd", "").isascii():
                    self.non_ascii = True
                out, self._pending = text.encode("utf-8"), data[consumed:]
        if not final:  # a character reference cut in two waits for its end
            amp = out.rfind(b"&", max(0, len(out) - 16))
            if amp >= 0 and b";" not in out[amp:]:
                out, self._pending = out[:amp], out[amp:] + self._pending
        if len(out.translate(None, _CONTROL_BYTES)) != len(out):
            out, n = _CONTROL_RX.subn(_MARK_BYTES, out)
            self.controls += n
        if b"&#" in out:
            out = _CHARREF_RX.sub(self._charref, out)
        return out

    def _charref(self, m: re.Match) -> bytes:
        if _allowed(m.group(1).decode("ascii")):
            return m.group(0)
        self.controls += 1
        return _MARK_BYTES

    def _text(self, size: int) -> bytes:
        chunk = self.fh.read(size)
        final = not chunk
        self.eof = final
        decoded = self._decoder.decode(chunk, final)
        self.replaced += decoded.count("\ufffd")
        text, self._text_pending = self._text_pending + decoded, ""
        if not final:
            amp = text.rfind("&", max(0, len(text) - 16))
            if amp >= 0 and ";" not in text[amp:]:
                text, self._text_pending = text[:amp], text[amp:]
        if _CONTROL_TEXT_RX.search(text):
            text, n = _CONTROL_TEXT_RX.subn(CONTROL_MARK, text)
            self.controls += n
        if "&#" in text:
            text = _CHARREF_TEXT_RX.sub(self._charref_text, text)
        return text.encode("utf-8", "replace")

    def _charref_text(self, m: re.Match) -> str:
        if _allowed(m.group(1)):
            return m.group(0)
        self.controls += 1
        return CONTROL_MARK


def _allowed(ref: str) -> bool:
    """Is a character reference's code point a character XML 1.0 allows (and not DEL)?"""
    n = int(ref[1:], 16) if ref[:1] in "xX" and len(ref) > 1 else int(ref)
    return (
        n in (0x9, 0xA, 0xD)
        or (0x20 <= n <= 0xD7FF and n != 0x7F)
        or 0xE000 <= n <= 0xFFFD
        or 0x10000 <= n <= 0x10FFFF
    )


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
        "warnings",
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
        self.warnings: list[tuple[int, str]] = []  # (row, warning) of rows staged


class _Row:
    """One table row while its record is walked: values, enclosing row, problems."""

    __slots__ = (
        "element",
        "line",
        "ordinal",
        "parent",
        "problems",
        "table",
        "undeclared",
        "values",
    )

    def __init__(self, table: _Table, parent: _Row | None, element: str, line: int | None):
        self.table = table
        self.values: list[str | None] = [None] * table.width
        self.parent = parent
        self.ordinal = 0  # assigned when the row is kept
        self.element = element
        self.line = line
        self.problems: list[str] | None = None
        self.undeclared: list[str] | None = None  # undeclared elements with text, in order


class _Node:
    """One step of the element tree below a top unit: the tables starting here, and below."""

    __slots__ = ("children", "tables")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.tables: list[_Table] = []


class XmlReader:
    """Read one XML file as text rows per table, in Arrow record batches.

    Iterate `batches()`; afterwards `rows_read`, `rejects`, `warnings(table)`, `notes`,
    `failure`, `refusal`, `reread` and `undeclared(table)` say what happened. Faults found
    before the first record (not a regular file, not XML, wrong root or namespace) raise
    InputError before the first batch; nothing else does.

    `refusal` (label, detail) means the file is refused whole: every row it yielded must
    be quarantined with `refusal_reason` (its own rejects already carry it). `reread` is
    the encoding to read the file again with, from scratch, when it turned out to be
    Windows-1252 written as if UTF-8.
    """

    def __init__(
        self,
        path: Path,
        source: str,
        layout: XmlLayout,
        batch_rows: int = BATCH_ROWS,
        encoding: _Encoding | None = None,
    ):
        self.path = path
        self.source = source
        self.layout = layout
        self.batch_rows = batch_rows
        self.notes: list[str] = []
        self.failure: str | None = None
        self.failure_table: str | None = None
        self.refusals: list[tuple[str, str]] = []
        self.reread: _Encoding | None = None
        self.records = 0  # record elements found
        self.outside: dict[str, int] = {}  # leaf elements in a record but in no table
        self._forced = encoding
        self._encoding = encoding or _Encoding()
        self._tables = {name: _Table(t) for name, t in layout.tables.items()}
        for table in self._tables.values():  # is a carried value worth looking for in the record?
            others = [t for t in self._tables.values() if t is not table and t.spec.in_record]
            table.carry = [(s, i, any(s in t.index for t in others)) for s, i in table.carry]
        self._src: _Stream | None = None
        self._file_rows: list[_Row] = []
        self._record_rows: list[_Row] = []
        self._record_ordinal = 0
        self._record_values: dict[str, str] | None = None
        self._period_open = bool(layout.period)
        self._period = {s: t.format(**_year_fields(layout.year)) for s, t in layout.period.items()}
        self._skipped = 0
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

    def warnings(self, table: str) -> list[tuple[int, str]]:
        """(row, warning) for staged rows that load with a warning (undeclared elements)."""
        return list(self._tables[table].warnings)

    @property
    def refusal(self) -> tuple[str, str] | None:
        """(label, detail) if the file is refused whole; several reasons are joined."""
        if not self.refusals:
            return None
        (label, detail), more = self.refusals[0], self.refusals[1:]
        extra = "".join(f"; also {lab}: {det}" for lab, det in more)
        return label, detail + extra

    @property
    def refusal_reason(self) -> str | None:
        """The quarantine reason of every row of a file refused whole."""
        if not self.refusals:
            return None
        label, detail = self.refusal
        return f"file refused whole: {label} ({detail})"

    def _refuse(self, label: str, detail: str) -> None:
        if label not in (lab for lab, _ in self.refusals):
            self.refusals.append((label, detail))

    # the layout, compiled for the walk ---------------------------------------------------

    def _compile(self) -> None:
        lay = self.layout
        clark = lay.clark
        self._rename = {clark(k): v for k, v in lay.rename.items()}
        self._names: dict[Any, str] = {}  # Clark tag -> field source, filled as tags are met
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
        try:
            yield from self._read()
        except InputError:
            raise
        except Exception as exc:  # never let a reader fault escape: refuse the file whole
            self._refuse(
                "the reader could not read it",
                f"{type(exc).__name__} after {self.records} record(s)",
            )
        if self.reread is not None:
            return
        for table in self._tables.values():
            yield from self._flush(table)
        if self.refusals:
            self._refuse_rejects()

    def _read(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        with _open_regular(self.path, self.source) as fh:
            if self._forced is None:
                self._encoding = _sniff_encoding(fh)
            enc = self._encoding
            if enc.note:
                self.notes.append(f"{self.source}: {enc.note}")
            if enc.refusal:
                self._refuse(*enc.refusal)
            self._check_root(_Stream(fh, enc))
            src = self._src = _Stream(fh, enc)
            try:
                yield from self._stream(src)
            except _Reread:
                self.reread = self._as_cp1252()
                return
        if src.replaced:
            undeclared_1252 = src.replaced >= 1 and not src.non_ascii  # none of it is UTF-8
            if self._forced is None and enc.codec == "utf-8" and undeclared_1252:
                self.reread = self._as_cp1252()
                return
            mixed = " (the file mixes encodings)" if enc.codec == "utf-8" else ""
            self.notes.append(
                f"{self.source}: {src.replaced} byte sequence(s) are not valid {enc.label}"
                f"{mixed}; the rows holding them are quarantined"
            )
        if src.controls:
            self.notes.append(
                f"{self.source}: {src.controls} NUL or control character(s) in the text (not "
                "allowed in XML); the rows holding them are quarantined"
            )

    def _as_cp1252(self) -> _Encoding:
        n = self._src.replaced if self._src else 0
        return _Encoding(
            "cp1252",
            "Windows-1252",
            0,
            f"not valid UTF-8 ({n if n <= MANY_BAD_BYTES else f'over {MANY_BAD_BYTES:,}'} byte "
            "sequence(s)) and none of its text is: written in Windows-1252 without declaring "
            "it, and read as Windows-1252",
        )

    def _refuse_rejects(self) -> None:
        """A file refused whole: its rejects carry the refusal first, then their own reason."""
        reason = self.refusal_reason
        for table in self._tables.values():
            table.rejects = [
                Reject(
                    line=r.line, reason=f"{reason}; {r.reason}" if r.reason else reason, raw=r.raw
                )
                for r in table.rejects
            ]
            table.warnings = []

    def _check_root(self, fh: _Stream) -> None:
        """The root element and its namespace, from the file's first start tag; a DOCTYPE
        refuses the file (read on, to count its records, without loading or expanding it)."""
        parser = etree.XMLPullParser(
            events=("start",), resolve_entities=False, no_network=True, encoding="utf-8"
        )
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
        except _Overlong:
            raise InputError(
                self.source, f"no root element in its first {MAX_UNIT_BYTES >> 20} MB"
            ) from None
        except etree.XMLSyntaxError as exc:
            for _, el in parser.read_events():
                root = el
                break
            if root is None:
                problem = "is empty: no XML root element" if not fed else "is not well-formed XML"
                raise InputError(
                    self.source, f"{problem} ({_libxml_message(exc)})", row=exc.lineno or None
                ) from None
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
            other = self.layout.namespaces.get(found or "")
            whose = f" (the {other.label} schema's: a {other.label} return)" if other else ""
            raise InputError(
                self.source,
                f"root element <{self.layout.root}> has namespace {found or '(none)'!r}, "
                f"expected {expected or '(none)'!r} for a {self.layout.year.label} "
                f"{self.layout.feed} return{whose}",
            )
        self._check_doctype(root.getroottree().docinfo)

    def _check_doctype(self, docinfo) -> None:
        if not docinfo.doctype:
            return
        dtd = docinfo.internalDTD
        entities = list(dtd.entities()) if dtd is not None else []
        external = bool(docinfo.system_url or docinfo.public_id) or any(
            e.system_url for e in entities
        )
        parts = [f"{len(entities)} entity declaration(s)"]
        if external:
            parts.append("an external DTD or entity")
        self._refuse(
            "it declares a DTD",
            f"<!DOCTYPE> with {', '.join(parts)}; DTDs and entities are never loaded or "
            "expanded, so no return may carry one",
        )

    def _stream(self, src: _Stream) -> Iterator[tuple[str, pa.RecordBatch]]:
        open_unit: tuple[str, int | None] | None = None
        units, skip, record = self._units, self._skip, self._record
        tables = list(self._tables.values())
        events = etree.iterparse(
            src,
            events=("start", "end"),
            tag=sorted(self._top_tags),
            encoding="utf-8",
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=False,  # keep libxml2's limits: text, depth, entity amplification
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
                        self.records += 1
                        self._walk_unit(el, key, self.records)
                    else:
                        self._walk_unit(el, key, 0)
                    _release(el)
                    src.mark = src.total
                    for table in tables:
                        if len(table.rows) >= self.batch_rows:
                            yield from self._flush(table)
                elif event == "end" and not self._inside_unit(el):
                    if el.tag in skip:
                        self._skipped += 1
                    else:
                        if el.tag == record[-1]:
                            self.records += 1  # keeps @record equal to the record table's row
                        self._misplaced(el, key)
                    _release(el)
                    src.mark = src.total
        except (etree.XMLSyntaxError, _Overlong) as exc:
            self._broken(exc, open_unit)
        if self._skipped:
            names = ", ".join(sorted(self.layout.skip))
            self.notes.append(
                f"{self.source}: {self._skipped} <{names}> element(s) not staged (skip)"
            )

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
            if self._period_open:
                self._check_period(self._record_rows)

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

    def _name(self, tag) -> str:
        name = self._names.get(tag)
        if name is None:
            if not isinstance(tag, str):  # an entity reference left unexpanded (a DOCTYPE's)
                return "(entity reference)"
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
            first = rows[0]
            undeclared = first.table.undeclared
            undeclared[name] = undeclared.get(name, 0) + 1
            if first.undeclared is None:
                first.undeclared = [name]
            elif name not in first.undeclared:
                first.undeclared.append(name)

    def _close_rows(self, rows: list[_Row]) -> None:
        """Carry values down, fill virtual fields, drop unmet `when` rows, file the rest."""
        if not rows:
            return
        self._record_values = None  # built only if a carry is not found in the ancestors
        src = self._src
        flagged = src is not None and (src.replaced or src.controls)
        if flagged and src.replaced > MANY_BAD_BYTES:
            self._too_many_bad_bytes()
        refused = bool(self.refusals)
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
            if flagged:
                self._flag_bytes(row)
            line = str(row.line) if row.line is not None else None
            parent = str(row.parent.ordinal) if row.parent is not None else None
            if row.problems and not refused:
                raw = {"_element": row.element, "_line": line}
                raw.update(zip(spec.sources, map(_capped, values), strict=True))
                table.rejects.append(
                    Reject(line=row.ordinal, reason="; ".join(row.problems), raw=json.dumps(raw))
                )
                continue
            if row.undeclared and not refused:
                where = spec.path[-1]
                table.warnings.extend(
                    (row.ordinal, f"{name}: undeclared element in <{where}>, not staged")
                    for name in row.undeclared
                )
            table.rows.append([row.ordinal, row.element, line, parent, *values])

    def _flag_bytes(self, row: _Row) -> None:
        """Problems for the values holding replaced bytes or control characters."""
        enc = self._encoding
        for s, v in zip(row.table.spec.sources, row.values, strict=True):
            if not v:
                continue
            if "\ufffd" in v:
                how = (
                    "the file mixes encodings; bytes replaced"
                    if enc.codec == "utf-8"
                    else "bytes replaced"
                )
                row.problems = (row.problems or []) + [f"{s}: not valid {enc.label} ({how})"]
            if CONTROL_MARK in v:
                row.problems = (row.problems or []) + [
                    f"{s}: holds a NUL or control character (not allowed in XML text; replaced)"
                ]

    def _too_many_bad_bytes(self) -> None:
        src, enc = self._src, self._encoding
        if self._forced is None and enc.codec == "utf-8" and not src.non_ascii:
            raise _Reread
        if not self.refusals:
            self._refuse(
                f"not valid {enc.label}",
                f"over {MANY_BAD_BYTES:,} byte sequences are not {enc.label} while the rest "
                "of its text is: it mixes encodings beyond repair row by row",
            )

    def _check_period(self, rows: list[_Row]) -> None:
        """A header stating another period than the partition's refuses the file."""
        expected = self._period
        found: dict[str, str] = {}
        for row in rows:
            for s, i in row.table.index.items():
                v = row.values[i]
                if s in expected and s not in found and v and v.strip():
                    found[s] = v.strip()
        if not found:
            return
        self._period_open = False
        year = self.layout.year
        wrong = []
        for s, value in found.items():
            if value == expected[s]:
                continue
            stated = _stated_year(self.layout.period[s], value, year)
            whose = f"the {stated.label} return's" if stated else "no year's"
            wrong.append(f"{s} {value[:20]!r} is {whose}")
        if wrong:
            want = ", ".join(f"{s} {v}" for s, v in expected.items())
            self._refuse(
                "it states another period",
                f"{'; '.join(wrong)}; this is the {year.label} partition, which expects {want}",
            )

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
                raw=_scrubbed(etree.tostring(el, encoding="unicode")[:RAW_CAP]),
            )
        )

    def _broken(self, exc: Exception, open_unit) -> None:
        """The parser stopped: the rest of the file is one quarantined row; the records
        before it are kept if the spec says so and the fault is not a safety limit."""
        if isinstance(exc, _Overlong):
            line, column, message = None, None, None
            limit = f"over {MAX_UNIT_BYTES >> 20} MB of XML without a record ending"
        else:
            line, column = exc.position if exc.position else (exc.lineno, 0)
            message = _libxml_message(exc)
            limit = next((what for key, what in _LIMITS if key in str(exc.msg or exc)), None)
        start_line = open_unit[1] if open_unit and open_unit[1] else line
        if line and start_line and line < start_line:  # libxml2 places entity faults oddly
            line = None
        inside = (
            f"inside <{etree.QName(open_unit[0]).localname}> starting at line {start_line}"
            if open_unit
            else "outside any record"
        )
        at = f"at line {line}, column {column}, " if line else ""
        records = self.records
        table = self._record_table()
        keep = self.layout.keep_before_fault and limit is None and not self.refusals
        if keep:
            self.failure = (
                f"truncated or malformed XML {at}{inside} ({message}); the {records} complete "
                "record(s) before it were read and kept (the spec's xml.keep_before_fault), "
                "the rest of the file is quarantined as one row"
            )
            reason = self.failure
        elif limit is not None:
            self._refuse(
                f"{limit}",
                f"{at}{inside}{f': {message}' if message else ''}; such a file is never read, "
                f"so none of its {records} record(s) is kept",
            )
            reason = ""
        else:
            why = (
                "the spec's xml.keep_before_fault is false"
                if not self.layout.keep_before_fault
                else "the file is refused whole already"
            )
            self._refuse(
                "truncated or malformed XML",
                f"{at}{inside}: {message}; {why}, so none of its {records} complete record(s) "
                "before the fault is kept",
            )
            reason = ""
        if table is None:
            return
        self.failure_table = table.spec.name
        table.count += 1
        table.rejects.append(
            Reject(
                line=table.count,
                reason=reason,
                raw=_tail_text(self.path, self.source, self._encoding, start_line),
            )
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
        first = 1 + len(RAW_EXTRAS)
        long = None
        for arr in arrays[first:]:  # one vectorised length check per column and batch
            lengths = pc.utf8_length(arr)
            top = pc.max(lengths).as_py()
            if top is not None and top > MAX_TEXT:
                over = pc.fill_null(pc.greater(lengths, MAX_TEXT), False)
                long = over if long is None else pc.or_(long, over)
        if long is not None:
            arrays = self._reject_long(table, arrays, long)
            if len(arrays[0]) == 0:
                return
        yield table.spec.name, pa.RecordBatch.from_arrays(arrays, names=names)

    def _reject_long(self, table: _Table, arrays: list, long) -> list:
        """Rows holding a text over MAX_TEXT: quarantined, naming the field (values capped)."""
        first = 1 + len(RAW_EXTRAS)
        sources = table.spec.sources
        for i in pc.indices_nonzero(long).to_pylist():
            values = [arr[i].as_py() for arr in arrays[first:]]
            over = [
                f"{s}: text of {len(v):,} characters, over the reader's limit of {MAX_TEXT:,}"
                for s, v in zip(sources, values, strict=True)
                if v and len(v) > MAX_TEXT
            ]
            raw = {"_element": arrays[1][i].as_py(), "_line": arrays[2][i].as_py()}
            raw.update(zip(sources, map(_capped, values), strict=True))
            table.rejects.append(
                Reject(line=arrays[0][i].as_py(), reason="; ".join(over), raw=json.dumps(raw))
            )
        keep = pc.invert(long)
        return [pc.filter(arr, keep) for arr in arrays]


def _capped(value: str | None) -> str | None:
    """A value as a quarantined row's raw text keeps it: capped, control marks shown as such."""
    if value is None:
        return None
    return _scrubbed(value[:VALUE_CAP])


def _scrubbed(text: str) -> str:
    return text.replace(CONTROL_MARK, "\ufffd") if CONTROL_MARK in text else text


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


def _tail_text(path: Path, source: str, encoding: _Encoding, from_line: int | None) -> str:
    """The file's text from a line onwards, capped: the raw text of what could not be read."""
    out: list[bytes] = []
    size = 0
    line = 1
    try:
        with _open_regular(path, source) as fh:
            src = _Stream(fh, encoding, limit=None)
            while size < RAW_CAP * 4:
                chunk = src.read(1 << 16)
                if not chunk:
                    break
                if from_line and line < from_line:
                    newlines = chunk.count(b"\n")
                    if line + newlines < from_line:
                        line += newlines
                        continue
                    at = -1
                    for _ in range(from_line - line):
                        at = chunk.index(b"\n", at + 1)
                    chunk, line = chunk[at + 1 :], from_line
                out.append(chunk)
                size += len(chunk)
    except (InputError, OSError):
        return ""
    return _scrubbed(b"".join(out).decode("utf-8", "replace")[:RAW_CAP])


# -- staging ------------------------------------------------------------------------------


def stage_xml_returns(
    session, returns: list[tuple[Path, list[Path]]], spec: FeedSpec, year: AcademicYear | str
) -> list[tuple[str, str]]:
    """Stage the XML files of every return of a partition (each return folder with the
    files ingest.inventory found to read in it); (return, table) pairs supplied.

    `session` is the partition's StagingSession: rows are typed, quarantined and accounted
    for by it, exactly as for CSV files, in one pass per table across every file (150 LA
    returns cost ten typing passes, not 1,500).
    """
    if not returns:
        return []
    layout = xml_layout(spec, year)
    files: list[tuple[Path, str]] = []
    supplied: list[tuple[str, str]] = []
    for table in spec.tables.values():
        session.ensure_table(table)
    for return_dir, found in returns:
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
        self.refused: dict[str, dict[str, int]] = {name: {} for name in layout.tables}
        self.returns: dict[str, str] = {}  # source -> return
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
        self.returns[source] = return_name
        accounts = {name: FileAccount(source_file=source, table=name) for name in layout.tables}
        session.accounts.extend(accounts.values())
        reader = XmlReader(path, source, layout)
        try:
            self._insert(reader, source, return_name)
            if reader.reread is not None:  # Windows-1252 written as if UTF-8: from the top
                self._discard(source)
                reader = XmlReader(path, source, layout, encoding=reader.reread)
                self._insert(reader, source, return_name)
        except InputError as exc:
            self._discard(source)
            for account in accounts.values():
                account.refuse(str(exc))
            return
        for name in layout.tables:
            self.accounts[name][source] = accounts[name]
            self.rejects[name][source] = reader.rejects[name]
        if reader.refusal is not None:
            self._refuse(reader, source, accounts)
            return
        for name, t in layout.tables.items():
            undeclared = reader.undeclared(name)
            if undeclared:
                listed = ", ".join(f"{k} ({v})" for k, v in sorted(undeclared.items()))
                accounts[name].messages.append(
                    f"{source}: undeclared element(s) in <{t.path[-1]}> not staged: {listed}"
                )
            session.add_warnings(
                name, [(source, row, return_name, w) for row, w in reader.warnings(name)]
            )
        first = accounts[reader.failure_table or next(iter(layout.tables))]
        first.messages.extend(reader.notes)
        if reader.outside:
            listed = ", ".join(f"{k} ({v})" for k, v in sorted(reader.outside.items()))
            first.messages.append(f"{source}: element(s) outside every table not staged: {listed}")
        if reader.failure:
            first.refuse(f"{source}: {reader.failure}")

    def _insert(self, reader: XmlReader, source: str, return_name: str) -> None:
        """The reader's batches into the raw tables, numbered on across files."""
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
            self.rows[name][source] = self.rows[name].get(source, 0) + n
            self.next_ord[name] += n

    def _discard(self, source: str) -> None:
        """Forget what a file put in the raw tables (it is read again, or not at all)."""
        for name in self.layout.tables:
            if self.rows[name].pop(source, 0):
                self.con.execute(f"DELETE FROM {self.raw[name]} WHERE _source_file = ?", [source])

    def _refuse(self, reader: XmlReader, source: str, accounts: dict[str, FileAccount]) -> None:
        """A file refused whole: every row it yielded, in every table, goes to quarantine
        with the reason (in SQL: bounded memory however large the file)."""
        label, detail = reader.refusal
        reason = reader.refusal_reason
        for name, t in self.layout.tables.items():
            moved = self.rows[name].get(source, 0)
            if moved:
                header = [*RAW_EXTRAS, *t.sources]
                self.con.execute(
                    "INSERT INTO quarantine (_load_id, _source_file, _source_row, _return, "
                    "source_table, reason, raw) "
                    f"SELECT ?, _source_file, _source_row, _return, ?, ?, "
                    f"left({raw_json('r', header)}, {RAW_CAP}) "
                    f"FROM {self.raw[name]} r WHERE _source_file = ? ORDER BY _ord",
                    [self.session.load_id, name, reason, source],
                )
                self.con.execute(f"DELETE FROM {self.raw[name]} WHERE _source_file = ?", [source])
            self.rows[name][source] = 0
            self.refused[name][source] = moved
        message = (
            f"{source}: refused whole: {label} ({detail}); {reader.records} record(s) found, "
            "every row of the file quarantined"
        )
        for account in accounts.values():
            account.refuse(message)
        accounts[next(iter(self.layout.tables))].messages.extend(reader.notes)

    def _split(self, name: str) -> None:
        from ingest.csv_source import RawFiles

        t = self.layout.tables[name]
        if t.parent is not None:
            self._follow_parent(name, t)
        rows, rejects = self.rows[name], self.rejects[name]
        if any(rows.values()) or any(rejects.values()):
            raw = RawFiles(
                name=self.raw[name],
                header=[*RAW_EXTRAS, *t.sources],
                rows=rows,
                rejects={src: sorted(r, key=lambda x: x.line) for src, r in rejects.items()},
                returns=self.returns,
            )
            self.session._split(raw, self.spec.tables[name], None, self.accounts[name])
        for source, moved in self.refused[name].items():  # counted read and quarantined
            account = self.accounts[name][source]
            account.rows_read += moved
            account.rows_quarantined += moved

    def _follow_parent(self, name: str, t: XmlTable) -> None:
        """Rows whose enclosing row was quarantined follow it: no orphan is staged or lost."""
        raw, files = self.raw[name], [s for s, n in self.rows[name].items() if n]
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
    "stage_xml_returns",
    "xml_layout",
]
