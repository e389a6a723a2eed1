"""The bad-input corpus: returns of every feed, damaged on purpose, each with a manifest.

Nothing here is committed as data. `build(out)` generates a small synthetic population with
synth/ (seeded: the same corpus every time), reads the shared fixtures, and writes each case
as out/<case>/landing/... beside out/<case>/manifest.json. checker.py runs every case
through `npd run` in a fresh NPD_HOME and checks the manifest and the contract of issue 13.

    python -m tests.badinput.corpus OUT [--only NAME ...]     write the corpus, list the cases

The synthetic base is cleaned first (rows the generator made questionable on purpose, such
as a UPN with a wrong check letter, are left out), so a case's manifest can say exactly which
rows are quarantined or warned and that no other row is. Cases made from the shared
fixtures are not strict: those files carry fake identifiers that fail their checks, so only
what the case planted is checked there, beside the accounts.

A manifest (`Case.manifest`)
----------------------------
name, feed, year, term   the partition `npd run` is given
items                    the contract items of issue 13 the case shows (1-9)
kind, description        the defect class, and what was done to the return
outcome                  loaded | blocked | refused (blocked, or our own refusal) | any
message, root_cause      words the run's message must hold; root-cause words must open it
strict                   a file the manifest does not list must read clean (status ok,
                         nothing quarantined or warned); off for fixture data
files                    per landing path: status (one of), rows_read (a CSV file's records,
                         or per XML table under `tables`), messages (words an account of
                         the file must hold), quarantine / warn (rows that must be: file
                         line for CSV, element ordinal and table for XML, with the fields a
                         reason or warning may start with and words it must hold),
                         may_quarantine / may_warn (rows that may be, or "any")
specials                 entries the checker makes in the landing folder that are not regular
                         files (symbolic links, FIFOs, sockets), with what the report must say
outside                  files written outside the landing folder, holding the secret
                         (@@SECRET@@); no byte of them may reach NPD_HOME or the output
templated                landing files in which @@OUTSIDE@@ is the outside folder's path
hostile                  time and peak memory are reported, and must stay under 1 GB
before                   a rerun: these landing files load first, then the case's files
                         replace them and must not change what is loaded (item 8)
extract                  columns released with `npd extract` after the run (item 9)
quarantine_csv           `npd quarantine --csv` is run and its cells checked (item 9)
variants                 other acceptable outcomes (each replaces outcome, message, files)
"""

from __future__ import annotations

import argparse
import codecs
import copy
import csv
import io
import json
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from core.periods import AcademicYear, Term
from ingest.landing import (
    annual_file_path,
    census_file_prefix,
    census_table_path,
    la_return_dir,
    la_return_table_path,
    la_return_xml_path,
    period_dir,
)
from ingest.spec import load_spec
from linkage.identifiers import (
    UpnStatus,
    classify_upn,
    is_valid_uln,
    make_ulns,
    uln_check_digit,
    upn_check_letter,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "shared"

YEAR = AcademicYear(2024)  # 2024/25: the census says sex, SSDA903 SEX is M/F/U
PUPILS = 30_000
SEED = 1313
LAS = [202, 352, 908, 330]  # the fourth sends its SSDA903 as XML (synth.ssda903.xml_form)
CENSUS_LA = 202
CLA_CSV_LA = 352
CLA_XML_LA = 330
CIN_LA = 330
CENSUS_PUPILS = 400  # pupils on roll kept in the base census return
KS_ROWS = 300  # rows kept in a key stage file
ILR_LEARNERS = 120
LARGE_MB = 96  # the large census file (hostile); NPD_BADINPUT_LARGE_MB or build(large_mb=)
SINGLE_LINE_MB = 12  # the single line of many megabytes
ROOT = Path("")  # landing paths are relative to the landing folder

FEEDS = (
    "school_census",
    "phonics",
    "ks1",
    "ks2",
    "ks4",
    "ks5",
    "ssda903",
    "cin_census",
    "ilr",
)
ITEMS = {
    1: "no crash",
    2: "every file accounted for",
    3: "nothing silently lost",
    4: "the right outcome per row",
    5: "only systemic problems block",
    6: "whole-file refusals",
    7: "hostile files",
    8: "operator mistakes",
    9: "formula injection",
}
SECRET = "@@SECRET@@"
OUTSIDE = "@@OUTSIDE@@"


# -- CSV tables -------------------------------------------------------------------------------


class Csv:
    """A CSV table as text cells: the header and the data rows (0-based indexes)."""

    def __init__(self, header: list[str], rows: list[list[str]]):
        self.header = list(header)
        self.rows = [list(r) for r in rows]

    @classmethod
    def read(cls, path: Path) -> Csv:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            return cls(header, list(reader))

    def copy(self) -> Csv:
        return Csv(self.header, self.rows)

    def col(self, name: str) -> int:
        return self.header.index(name)

    def get(self, i: int, column: str) -> str:
        return self.rows[i][self.col(column)]

    def set(self, i: int, column: str, value: str) -> None:
        self.rows[i][self.col(column)] = value

    def column(self, name: str) -> list[str]:
        j = self.col(name)
        return [r[j] for r in self.rows]

    def keep(self, predicate: Callable[[list[str]], bool]) -> None:
        self.rows = [r for r in self.rows if predicate(r)]

    def drop_column(self, name: str) -> None:
        j = self.col(name)
        self.header.pop(j)
        for r in self.rows:
            r.pop(j)

    def render(self, newline: str = "\n") -> tuple[str, list[int]]:
        """The text, and the file line each data row starts on (a quoted line break in a
        value makes a record span lines)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        parts: list[str] = []

        def emit(row: list[str]) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(row)
            text = buffer.getvalue()
            parts.append(text)
            return text

        line = 1 + emit(self.header).count("\n")
        lines = []
        for row in self.rows:
            lines.append(line)
            line += emit(row).count("\n")
        text = "".join(parts)
        if newline != "\n":
            text = text.replace("\n", newline)
        return text, lines

    def encode(self, encoding: str = "utf-8", newline: str = "\n", bom: bool = False) -> bytes:
        return _encoded(self.render(newline)[0], encoding, bom)


def _encoded(text: str, encoding: str, bom: bool) -> bytes:
    data = text.encode(encoding)
    if bom:
        data = {
            "utf-8": codecs.BOM_UTF8,
            "utf-16-le": codecs.BOM_UTF16_LE,
            "utf-16-be": codecs.BOM_UTF16_BE,
        }[encoding] + data
    return data


def physical_data_lines(data: bytes) -> int:
    """Data lines of a file as a person counts them: line breaks (LF, CRLF or a lone CR
    each once), plus an unterminated last line, less the header."""
    breaks = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    tail = 1 if data and not data.endswith((b"\n", b"\r")) else 0
    return max(breaks + tail - 1, 0)


# -- XML documents ----------------------------------------------------------------------------


class XmlDoc:
    """An XML return as synth writes it: a prolog, one record element per line, an epilog."""

    def __init__(self, text: str, record: str):
        self.record = record
        lines = text.splitlines(keepends=True)
        first = next(i for i, line in enumerate(lines) if line.startswith(f"<{record}>"))
        last = max(i for i, line in enumerate(lines) if line.startswith(f"<{record}>"))
        self.prolog = "".join(lines[:first])
        self.records = [line.rstrip("\n") for line in lines[first : last + 1]]
        self.epilog = "".join(lines[last + 1 :])

    def copy(self) -> XmlDoc:
        other = copy.copy(self)
        other.records = list(self.records)
        return other

    def text(self) -> str:
        return self.prolog + "".join(r + "\n" for r in self.records) + self.epilog

    def encode(self) -> bytes:
        return self.text().encode("utf-8")

    def count(self, tag: str, upto: int | None = None) -> int:
        """Elements <tag> in the records (before record `upto`, if given)."""
        return sum(r.count(f"<{tag}>") for r in self.records[:upto])

    def ordinal(self, i: int, tag: str, nth: int = 0) -> int:
        """1-based ordinal in the file of the nth <tag> of record i (a table's _source_row)."""
        return self.count(tag, i) + nth + 1

    def _span(self, i: int, tag: str, nth: int) -> re.Match:
        found = list(re.finditer(rf"<{tag}>(.*?)</{tag}>", self.records[i], re.S))
        return found[nth]

    def get(self, i: int, tag: str, nth: int = 0) -> str:
        return self._span(i, tag, nth).group(1)

    def has(self, i: int, tag: str) -> bool:
        return f"<{tag}>" in self.records[i]

    def set(self, i: int, tag: str, value: str, nth: int = 0) -> None:
        m = self._span(i, tag, nth)
        r = self.records[i]
        self.records[i] = r[: m.start(1)] + value + r[m.end(1) :]

    def remove(self, i: int, tag: str, nth: int = 0) -> None:
        m = self._span(i, tag, nth)
        r = self.records[i]
        self.records[i] = r[: m.start()] + r[m.end() :]

    def insert_after(self, i: int, tag: str, fragment: str, nth: int = 0) -> None:
        m = self._span(i, tag, nth)
        r = self.records[i]
        self.records[i] = r[: m.end()] + fragment + r[m.end() :]

    def find(self, predicate: Callable[[str], bool], start: int = 0) -> int:
        return next(i for i in range(start, len(self.records)) if predicate(self.records[i]))


# -- the synthetic base -------------------------------------------------------------------------


def rel(path: Path) -> str:
    return path.as_posix()


class Base:
    """Synthetic returns of one academic year, generated once, cleaned, and handed out as
    fresh copies for each case to damage."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.landing = folder / "landing"
        truth = folder / "truth"
        done = folder / "generated"
        if not done.exists():
            from synth.generate import generate

            shutil.rmtree(folder, ignore_errors=True)
            generate(self.landing, truth, PUPILS, SEED, [YEAR], las=LAS)
            done.write_text("ok\n")
        self.questionable: dict[str, set[int]] = {}
        rows = duckdb.sql(
            "SELECT source_file, source_row FROM read_parquet("
            f"'{truth.as_posix()}/**/*.parquet', union_by_name = true) WHERE defect <> 'none'"
        ).fetchall()
        for source, row in rows:
            self.questionable.setdefault(source, set()).add(int(row))
        self._cache: dict[Any, Any] = {}

    def _cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return _copied(self._cache[key])

    # census --------------------------------------------------------------------------------

    def census(self, term: Term = Term.SPRING) -> dict[str, Csv]:
        return self._cached(("census", term), lambda: self._census(term))

    def _census(self, term: Term) -> dict[str, Csv]:
        folder = census_table_path(self.landing, YEAR, term, CENSUS_LA, "x").parent
        prefix = census_file_prefix(YEAR, term) + "_"
        spec = load_spec("school_census").for_year(YEAR, term)
        named = {n: t for t, ts in spec.tables.items() for n in ts.file_names(term)}
        tables: dict[str, Csv] = {}  # by table, as census_path writes them back
        for path in sorted(folder.glob("*.csv")):  # (autumn's FSM file is fsmperiodsonroll)
            stem = path.stem.removeprefix(prefix)
            tables[named.get(stem, stem)] = Csv.read(path)
        bad = self.questionable.get(
            rel(census_table_path(ROOT, YEAR, term, CENSUS_LA, "pupilonroll")), set()
        )
        pupils = tables["pupilonroll"]
        seen: set[str] = set()
        keep = []
        for i, row in enumerate(pupils.rows):
            upn = row[pupils.col("upn")]
            uln = row[pupils.col("uniquelearnernumber")]
            if i + 2 in bad or upn in seen or classify_upn(upn) is not UpnStatus.VALID:
                continue
            if (uln and not is_valid_uln(uln)) or row[pupils.col("formerupn")]:
                continue
            if any(v != v.strip() for v in row):
                continue
            seen.add(upn)
            keep.append(row)
        pupils.rows = keep[:CENSUS_PUPILS]
        ids = set(pupils.column("pupilonrolltableid"))
        for name in ("senneeds", "fsmperiod", "addressesonroll"):
            tables[name].keep(lambda r, t=tables[name]: r[t.col("pupilonrolltableid")] in ids)
        off = tables["pupilnolongeronroll"]
        off.keep(lambda r: classify_upn(r[off.col("upn")]) is UpnStatus.VALID)
        off.rows = off.rows[:40]
        return tables

    # key stages ----------------------------------------------------------------------------

    def key_stage(self, feed: str) -> Csv:
        return self._cached(("ks", feed), lambda: self._key_stage(feed))

    def _key_stage(self, feed: str) -> Csv:
        path = annual_file_path(self.landing, feed, YEAR)
        table = Csv.read(path)
        bad = self.questionable.get(rel(annual_file_path(ROOT, feed, YEAR)), set())
        upn = KS[feed].upn
        seen: set[str] = set()
        keep = []
        for i, row in enumerate(table.rows):
            value = row[table.col(upn)]
            if i + 2 in bad or value in seen or classify_upn(value) is not UpnStatus.VALID:
                continue
            seen.add(value)
            keep.append(row)
        table.rows = keep[:KS_ROWS]
        return table

    # SSDA903 -------------------------------------------------------------------------------

    def cla_tables(self) -> dict[str, Csv]:
        return self._cached("cla", self._cla_tables)

    def _cla_tables(self) -> dict[str, Csv]:
        folder = la_return_dir(self.landing, "ssda903", YEAR, CLA_CSV_LA)
        tables = {p.stem: Csv.read(p) for p in sorted(folder.glob("*.csv"))}
        drop: set[str] = set()
        for name, table in tables.items():
            source = rel(la_return_table_path(ROOT, "ssda903", YEAR, CLA_CSV_LA, name))
            for line in self.questionable.get(source, ()):
                drop.add(table.rows[line - 2][table.col("CHILD")])
        header = tables["header"]
        for row in header.rows:
            if classify_upn(row[header.col("UPN")]) not in (
                UpnStatus.VALID,
                UpnStatus.UNKNOWN_CODE,
            ):
                drop.add(row[header.col("CHILD")])
        for table in tables.values():
            table.keep(lambda r, t=table: r[t.col("CHILD")] not in drop)
        return tables

    def cla_xml(self) -> XmlDoc:
        return self._cached("cla_xml", self._cla_xml)

    def _cla_xml(self) -> XmlDoc:
        path = la_return_xml_path(self.landing, "ssda903", YEAR, CLA_XML_LA)
        doc = XmlDoc(path.read_text(encoding="utf-8"), "CHILD")
        bad = self.questionable.get(rel(la_return_xml_path(ROOT, "ssda903", YEAR, CLA_XML_LA)))
        doc.records = [
            r
            for i, r in enumerate(doc.records)
            if (i + 1) not in (bad or ()) and _upn_clean(r, unknown_ok=True)
        ]
        return doc

    # CIN census ----------------------------------------------------------------------------

    def cin(self) -> XmlDoc:
        return self._cached("cin", self._cin)

    def _cin(self) -> XmlDoc:
        path = la_return_xml_path(self.landing, "cin_census", YEAR, CIN_LA)
        doc = XmlDoc(path.read_text(encoding="utf-8"), "Child")
        bad = self.questionable.get(rel(la_return_xml_path(ROOT, "cin_census", YEAR, CIN_LA)))
        doc.records = [
            r
            for i, r in enumerate(doc.records)
            if (i + 1) not in (bad or ()) and _upn_clean(r, unknown_ok=False)
        ]
        return doc

    # ILR -----------------------------------------------------------------------------------

    def ilr(self) -> tuple[str, XmlDoc]:
        """The landing path of the largest provider's file, and the file cleaned."""
        return self._cached("ilr", self._ilr)

    def _ilr(self) -> tuple[str, XmlDoc]:
        folder = period_dir(self.landing, "ilr", YEAR)
        path = max(folder.rglob("*.xml"), key=lambda p: p.stat().st_size)
        source = rel(path.relative_to(self.landing))
        doc = XmlDoc(path.read_text(encoding="utf-8"), "Learner")
        bad = self.questionable.get(source, set())
        keep = []
        for i, r in enumerate(doc.records):
            uln = re.search(r"<ULN>([^<]*)</ULN>", r)
            if (i + 1) in bad or not uln or not is_valid_uln(uln.group(1)):
                continue
            keep.append(r)
        doc.records = keep[:ILR_LEARNERS]
        return source, doc


def _copied(value):
    """A copy a case may change freely (tables, documents, and pairs or maps of them)."""
    if isinstance(value, Csv | XmlDoc):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    return value


def _upn_clean(record: str, unknown_ok: bool) -> bool:
    found = re.search(r"<UPN>([^<]*)</UPN>", record)
    if not found:
        return True
    ok = (UpnStatus.VALID, UpnStatus.UNKNOWN_CODE) if unknown_ok else (UpnStatus.VALID,)
    return classify_upn(found.group(1)) in ok


# -- cases --------------------------------------------------------------------------------------


def _entry(table: str | None, row: int | None, fields: Iterable[str], contains: Iterable[str]):
    return {"table": table, "row": row, "fields": list(fields), "contains": list(contains)}


@dataclass
class Case:
    """One bad-input case: the landing files it writes and what must become of them."""

    name: str
    feed: str
    year: str
    term: str | None
    items: list[int]
    kind: str
    description: str
    outcome: str = "loaded"
    message: list[str] = field(default_factory=list)
    root_cause: list[str] = field(default_factory=list)
    strict: bool = True
    hostile: bool = False
    source: str = "synth"
    files: dict[str, bytes] = field(default_factory=dict)
    expect: dict[str, dict[str, Any]] = field(default_factory=dict)
    specials: list[dict[str, Any]] = field(default_factory=list)
    outside: dict[str, str] = field(default_factory=dict)
    templated: list[str] = field(default_factory=list)
    before: dict[str, bytes] | None = None
    extract: dict[str, Any] | None = None
    quarantine_csv: bool = False
    variants: list[dict[str, Any]] = field(default_factory=list)
    lines: dict[str, list[int]] = field(default_factory=dict)
    lazy: dict[str, Callable[[], bytes]] = field(default_factory=dict)

    # writing files ---------------------------------------------------------------------------

    def put(
        self,
        path: str | Path,
        data: bytes,
        *,
        status: str | Iterable[str] = "ok",
        rows_read: int | None = None,
        messages: Iterable[str] = (),
        tables: dict[str, dict[str, Any]] | None = None,
    ) -> str:
        key = rel(Path(path))
        self.files[key] = data
        self.file(key, status=status, rows_read=rows_read, messages=messages, tables=tables)
        return key

    def put_lazy(self, path: str | Path, make: Callable[[], bytes], **expect: Any) -> str:
        """A file too large to hold for every case: made only when the case is written."""
        key = rel(Path(path))
        self.lazy[key] = make
        self.file(key, **expect)
        return key

    def put_csv(
        self,
        path: str | Path,
        table: Csv,
        *,
        encoding: str = "utf-8",
        newline: str = "\n",
        bom: bool = False,
        status: str | Iterable[str] = "ok",
        messages: Iterable[str] = (),
        rows_read: int | None = None,
    ) -> str:
        text, lines = table.render(newline)
        data = _encoded(text, encoding, bom)
        key = self.put(
            path,
            data,
            status=status,
            messages=messages,
            rows_read=len(table.rows) if rows_read is None else rows_read,
        )
        self.lines[key] = lines
        return key

    def put_xml(
        self,
        path: str | Path,
        doc: XmlDoc | bytes,
        *,
        status: str | Iterable[str] = "ok",
        messages: Iterable[str] = (),
        tables: dict[str, int] | None = None,
    ) -> str:
        data = doc if isinstance(doc, bytes) else doc.encode()
        counts = {t: {"rows_read": n} for t, n in (tables or {}).items()}
        return self.put(path, data, status=status, messages=messages, tables=counts)

    def file(self, path: str | Path, **expect: Any) -> dict[str, Any]:
        """The expectations of one landing path (created with the defaults if new)."""
        key = rel(Path(path))
        spec = self.expect.setdefault(
            key,
            {
                "status": ["ok"],
                "rows_read": None,
                "messages": [],
                "tables": {},
                "quarantine": [],
                "may_quarantine": [],
                "warn": [],
                "may_warn": [],
            },
        )
        for name, value in expect.items():
            if value is None and name != "rows_read":
                continue
            if name == "status":
                value = [value] if isinstance(value, str) else list(value)
            elif name == "messages":
                value = list(value)
            spec[name] = value
        return spec

    def remove(self, path: str | Path) -> None:
        key = rel(Path(path))
        self.files.pop(key, None)
        self.expect.pop(key, None)
        self.lines.pop(key, None)

    # row expectations ------------------------------------------------------------------------

    def _row(self, path: str, i: int | None, row: int | None) -> int:
        if row is not None:
            return row
        assert i is not None
        return self.lines[path][i] if path in self.lines else i + 2

    def q(
        self,
        path: str,
        i: int | None = None,
        *fields: str,
        row: int | None = None,
        table: str | None = None,
        contains: Iterable[str] = (),
    ) -> None:
        """Row i (0-based data row of a CSV file; or `row` = the file line, or the element
        ordinal of an XML table) must be quarantined, its reason opening with a field."""
        self.file(path)["quarantine"].append(
            _entry(table, self._row(path, i, row), fields or ["*"], contains)
        )

    def w(
        self,
        path: str,
        i: int | None = None,
        *fields: str,
        row: int | None = None,
        table: str | None = None,
        contains: Iterable[str] = (),
    ) -> None:
        """Row i must be staged with a warning naming a field."""
        self.file(path)["warn"].append(
            _entry(table, self._row(path, i, row), fields or ["*"], contains)
        )

    def may_q(self, path: str, rows: Iterable[int] | str, table: str | None = None) -> None:
        spec = self.file(path)
        if rows == "any":
            spec["may_quarantine"] = "any"
        elif spec["may_quarantine"] != "any":
            spec["may_quarantine"].append({"table": table, "rows": sorted(set(rows))})

    def may_w(self, path: str, rows: Iterable[int] | str, table: str | None = None) -> None:
        spec = self.file(path)
        if rows == "any":
            spec["may_warn"] = "any"
        elif spec["may_warn"] != "any":
            spec["may_warn"].append({"table": table, "rows": sorted(set(rows))})

    def special(
        self,
        path: str | Path,
        kind: str,
        target: str | None = None,
        *,
        messages: Iterable[str] = (),
        status: str | Iterable[str] = "unused",
    ) -> str:
        """An entry the checker makes: symlink (target: @@OUTSIDE@@/name, an absolute path,
        or a path relative to the link), fifo, socket."""
        key = rel(Path(path))
        self.specials.append({"path": key, "kind": kind, "target": target})
        self.file(key, status=status, messages=messages)
        return key

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "feed": self.feed,
            "year": self.year,
            "term": self.term,
            # every case asserts item 1 (no crash), whatever else it shows
            "items": sorted(set(self.items) | {1}),
            "kind": self.kind,
            "description": self.description,
            "source": self.source,
            "outcome": self.outcome,
            "message": self.message,
            "root_cause": self.root_cause,
            "strict": self.strict,
            "hostile": self.hostile,
            "files": self.expect,
            "specials": self.specials,
            "outside": self.outside,
            "templated": self.templated,
            "before": sorted(self.before) if self.before is not None else None,
            "extract": self.extract,
            "quarantine_csv": self.quarantine_csv,
            "variants": self.variants,
        }

    def write(self, folder: Path) -> Path:
        target = folder / self.name
        if target.exists():
            shutil.rmtree(target)
        for name, data in self.files.items():
            path = target / "landing" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        for name, make in self.lazy.items():
            path = target / "landing" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(make())
        if self.before is not None:
            for name, data in self.before.items():
                path = target / "before" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        (target / "landing").mkdir(parents=True, exist_ok=True)
        (target / "manifest.json").write_text(
            json.dumps(self.manifest(), indent=1, sort_keys=False) + "\n", encoding="utf-8"
        )
        return target


# -- feed helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyStage:
    feed: str
    upn: str
    surname: str
    forename: str
    dob: str
    sex: str
    acadyr: str | None
    candidate: str | None
    urn: str
    laestab: str | None = None


KS = {
    "phonics": KeyStage(
        "phonics", "UPN", "SURNAME", "FORENAMES", "DOB", "SEX", "ACADYR", "ID", "URN"
    ),
    "ks1": KeyStage(
        "ks1", "UPN", "SURNAME", "FORENAMES", "DOB", "SEX", "ACADYR", "KS1_ID", "URN", "LAESTAB"
    ),
    "ks2": KeyStage(
        "ks2", "UPN", "SURNAME", "FORENAMES", "DOB", "SEX", None, "CANDNO", "URN", "LAESTAB"
    ),
    "ks4": KeyStage(
        "ks4",
        "KS4_UPN",
        "KS4_SURNAME",
        "KS4_FORENAMES",
        "KS4_DOB",
        "KS4_SEX",
        "KS4_ACADYR",
        None,
        "KS4_URN",
        "KS4_LAESTAB",
    ),
    "ks5": KeyStage(
        "ks5",
        "KS5_UPN",
        "KS5_SURNAME",
        "KS5_FORENAMES",
        "KS5_DOB",
        "KS5_GENDER",
        "KS5_ACADYR",
        "KS5_CANDNO",
        "KS5_URN",
        "KS5_LAESTAB",
    ),
}
CENSUS_ORDER = (
    "school",
    "pupilonroll",
    "pupilnolongeronroll",
    "senneeds",
    "fsmperiod",
    "addressesonroll",
)
CENSUS_DEPENDANTS = ("senneeds", "fsmperiod", "addressesonroll")
CLA_DEPENDANTS = (
    "episodes",
    "uasc",
    "reviews",
    "missing",
    "oc2",
    "oc3",
    "ad1",
    "placed_for_adoption",
    "previous_permanence",
    "sw_episodes",
)


def census_path(table: str, term: Term = Term.SPRING, la: int = CENSUS_LA) -> str:
    return rel(census_table_path(ROOT, YEAR, term, la, table))


def ks_path(feed: str) -> str:
    return rel(annual_file_path(ROOT, feed, YEAR))


def cla_path(table: str, la: int = CLA_CSV_LA) -> str:
    return rel(la_return_table_path(ROOT, "ssda903", YEAR, la, table))


def cla_xml_path(la: int = CLA_XML_LA) -> str:
    return rel(la_return_xml_path(ROOT, "ssda903", YEAR, la))


def cin_path(la: int = CIN_LA) -> str:
    return rel(la_return_xml_path(ROOT, "cin_census", YEAR, la))


def bad_check_upn(upn: str) -> str:
    """The same UPN with a wrong check letter (chars 2-13 kept)."""
    right = upn_check_letter(upn[1:])
    wrong = next(c for c in "ABCDEFGHJKLMNPQRTUVWXYZ" if c != right)
    out = wrong + upn[1:]
    assert classify_upn(out) is UpnStatus.BAD_CHECK
    return out


def bad_la_upn(upn: str) -> str:
    """A UPN in the right shape with a right check letter whose LA part is no LA (000)."""
    body = "000" + upn[4:]
    out = upn_check_letter(body) + body
    assert classify_upn(out) is UpnStatus.BAD_LA
    return out


def bad_check_uln(uln: str) -> str:
    digit = uln_check_digit(uln[:9])
    wrong = str(((digit or 0) + 1) % 10)
    out = uln[:9] + wrong
    assert not is_valid_uln(out)
    return out


def valid_uln(seed: int) -> str:
    n = 100_000_000 + (seed * 7919) % 899_999_999
    while True:
        (out,) = make_ulns(np.array([n]))
        if out:
            return str(out)
        n += 1


class Builder:
    """Makes the cases of each feed from the base: one method per feed family."""

    def __init__(self, base: Base, fixtures: Path = FIXTURES, large_mb: int = LARGE_MB):
        self.base = base
        self.fixtures = fixtures
        self.large_mb = large_mb
        self.cases: list[Case] = []

    def add(self, case: Case) -> Case:
        if any(c.name == case.name for c in self.cases):
            raise ValueError(f"two cases named {case.name}")
        self.cases.append(case)
        return case

    # census --------------------------------------------------------------------------------

    def census_case(
        self, name: str, items: list[int], kind: str, description: str, **kw: Any
    ) -> tuple[Case, dict[str, Csv]]:
        term = kw.pop("term", Term.SPRING)
        case = Case(name, "school_census", YEAR.label, term.value, items, kind, description, **kw)
        return case, self.base.census(term)

    def put_census(
        self,
        case: Case,
        tables: dict[str, Csv],
        term: Term = Term.SPRING,
        la: int = CENSUS_LA,
        skip: Iterable[str] = (),
    ) -> dict[str, str]:
        paths = {}
        for name in CENSUS_ORDER:
            if name in tables and name not in skip:
                paths[name] = case.put_csv(census_path(name, term, la), tables[name])
        self.add(case)
        return paths

    def census_dependants(
        self,
        case: Case,
        tables: dict[str, Csv],
        pupil: int | None = None,
        *,
        pid: str | None = None,
        orphans: bool = False,
    ) -> None:
        """Rows of a quarantined pupil (or of a pupilonrolltableid) in the other tables may
        follow it into quarantine; with `orphans`, the id is no pupil's any more, and they
        must (orphan rows)."""
        if pid is None:
            assert pupil is not None
            pid = tables["pupilonroll"].get(pupil, "pupilonrolltableid")
        for name in CENSUS_DEPENDANTS:
            t = tables[name]
            path = census_path(name, Term(case.term))
            for i, r in enumerate(t.rows):
                if r[t.col("pupilonrolltableid")] != pid:
                    continue
                if orphans:
                    case.q(path, i, "pupilonrolltableid", "pupil_on_roll_id")
                else:
                    case.may_q(path, [i + 2])

    # key stages ----------------------------------------------------------------------------

    def ks_case(
        self, feed: str, name: str, items: list[int], kind: str, description: str, **kw: Any
    ) -> tuple[Case, Csv]:
        case = Case(name, feed, YEAR.label, None, items, kind, description, **kw)
        return case, self.base.key_stage(feed)

    # SSDA903 -------------------------------------------------------------------------------

    def cla_case(
        self, name: str, items: list[int], kind: str, description: str, **kw: Any
    ) -> tuple[Case, dict[str, Csv]]:
        case = Case(name, "ssda903", YEAR.label, None, items, kind, description, **kw)
        return case, self.base.cla_tables()

    def put_cla(self, case: Case, tables: dict[str, Csv], skip: Iterable[str] = ()) -> None:
        for name, table in tables.items():
            if name not in skip:
                case.put_csv(cla_path(name), table)
        self.add(case)

    def cla_dependants(
        self, case: Case, tables: dict[str, Csv], child: str, *, orphans: bool = False
    ) -> None:
        """A child's rows in the other tables may follow its header row into quarantine; with
        `orphans`, no header row has this CHILD any more, and they must (orphan rows)."""
        for name in CLA_DEPENDANTS:
            t = tables.get(name)
            if t is None:
                continue
            for i, r in enumerate(t.rows):
                if r[t.col("CHILD")] != child:
                    continue
                if orphans:
                    case.q(cla_path(name), i, "CHILD", "child_id")
                else:
                    case.may_q(cla_path(name), [i + 2])

    # XML -----------------------------------------------------------------------------------

    def xml_case(
        self, feed: str, name: str, items: list[int], kind: str, description: str, **kw: Any
    ) -> Case:
        return Case(name, feed, YEAR.label, None, items, kind, description, **kw)


def xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# The families of cases live in families.py; build() runs them all.


def build(
    out: Path,
    only: Iterable[str] | None = None,
    *,
    base_dir: Path | None = None,
    large_mb: int | None = None,
    fixtures: Path | None = None,
) -> list[Path]:
    """Write the corpus (or the cases named in `only`) under `out`; the case folders."""
    import os

    from tests.badinput.families import FAMILIES

    out.mkdir(parents=True, exist_ok=True)
    base = Base(base_dir or out / ".base")
    mb = large_mb or int(os.environ.get("NPD_BADINPUT_LARGE_MB", LARGE_MB))
    builder = Builder(base, fixtures or FIXTURES, mb)
    for family in FAMILIES:
        family(builder)
    wanted = set(only) if only is not None else None
    if wanted is not None:
        unknown = wanted - {c.name for c in builder.cases}
        if unknown:
            raise KeyError(f"no such case(s): {', '.join(sorted(unknown))}")
    return [c.write(out) for c in builder.cases if wanted is None or c.name in wanted]


def all_cases(base_dir: Path, large_mb: int = LARGE_MB) -> list[Case]:
    """Every case, built in memory (for counting and for tests of the corpus itself)."""
    from tests.badinput.families import FAMILIES

    builder = Builder(Base(base_dir), FIXTURES, large_mb)
    for family in FAMILIES:
        family(builder)
    return builder.cases


def iter_manifests(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.glob("*/manifest.json")):
        yield path.parent, json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--large-mb", type=int, default=None)
    args = parser.parse_args(argv)
    written = build(args.out, args.only, large_mb=args.large_mb)
    for folder in written:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        print(f"{manifest['name']:48} {manifest['feed']:14} items {manifest['items']}")
    print(f"{len(written)} cases in {args.out}")


if __name__ == "__main__":
    main()
