"""Stream a CSV file into DuckDB as text, keeping rows the reader cannot parse.

DuckDB's parallel CSV reader does the work. Rows with the wrong number of fields
or bytes that are not valid in the declared encoding are not dropped: the reader
records them (store_rejects) and they come back as quarantine candidates with
their line number and raw text. Every data row, and every rejected one, gets the physical
line of the file on which it starts (header = line 1).

Counting rows is enough for that while every record is one line. A file whose line count
says otherwise (a quoted value holding a line break, a blank line) gets one more streaming
pass that finds where each record starts, splitting records as DuckDB's reader does.
"""

from __future__ import annotations

import codecs
import csv
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from core.duck import quote_ident, sql_str
from ingest.errors import InputError

_ids = count(1)

_DUCK_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "latin-1": "latin-1", "utf-16": "utf-16"}
_REJECT_WORDS = {
    "MISSING COLUMNS": "too few fields",
    "TOO MANY COLUMNS": "too many fields",
    "INVALID ENCODING": "not valid {encoding}",
    "INVALID UNICODE": "not valid {encoding}",
    "UNQUOTED VALUE": "badly quoted value",
    "LINE SIZE OVER MAXIMUM": "line too long",
}


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str
    raw: str


HEADER_LIMIT = 1 << 20  # a header row longer than 1 MB is not a header
PIECE = 1 << 20  # record_runs reads a file this many characters at a time
RAW_LIMIT = 4000  # characters of a refused line kept in quarantine


def read_header(path: Path, source: str, encoding: str = "utf-8") -> list[str]:
    """The header row's column names, or an InputError naming the file."""
    try:
        with path.open("rb") as fh:
            first = fh.readline(HEADER_LIMIT + 1)
    except OSError as exc:
        raise InputError(source, f"cannot be read ({exc.strerror})") from exc
    if len(first) > HEADER_LIMIT:
        raise InputError(source, f"header row is longer than {HEADER_LIMIT} bytes", row=1)
    if not first.strip():
        raise InputError(source, "is empty: no header row")
    try:
        text = codecs.decode(
            first, "utf-8-sig" if encoding.replace("_", "-") in ("utf-8", "utf8") else encoding
        )
    except UnicodeDecodeError as exc:
        raise InputError(
            source, f"header row is not valid {encoding} (byte {exc.start})", row=1
        ) from exc
    try:
        header = [h.strip() for h in next(csv.reader([text.rstrip("\r\n")]))]
    except csv.Error as exc:
        raise InputError(source, f"header row cannot be parsed as CSV ({exc})", row=1) from exc
    lowered = [h.lower() for h in header]
    duplicates = sorted({h for h in lowered if lowered.count(h) > 1})
    if duplicates:
        raise InputError(source, f"header repeats column(s) {', '.join(duplicates)}", row=1)
    if any(not h for h in header):
        raise InputError(source, "header has an empty column name", row=1)
    return header


def raw_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(line number, text) of every physical line, each capped at RAW_LIMIT characters, in
    bounded memory whatever the file holds (a line of gigabytes is read in pieces)."""
    codec = "utf-8" if encoding in ("utf-8", "utf8") else encoding
    with path.open("rb") as fh:
        line_no = 0
        while True:
            piece = fh.readline(1 << 16)
            if not piece:
                return
            line_no += 1
            head, rest = piece, piece
            while not rest.endswith((b"\n", b"\r")):  # the line goes on: skip the rest
                rest = fh.readline(1 << 16)
                if not rest:
                    break
            text = head.decode(codec, errors="replace").rstrip("\r\n")
            if len(text) > RAW_LIMIT:
                text = text[:RAW_LIMIT] + " ... (line truncated)"
            yield line_no, text


@dataclass(frozen=True)
class CsvFile:
    path: Path
    source: str  # path relative to the landing folder
    return_name: str
    newlines: int | None = None  # line breaks in the file (FileFacts.newlines), if known


@dataclass(frozen=True)
class RawFiles:
    """Rows of one table as text: a DuckDB table or view with columns _ord, _source_file,
    _return, _source_row and the header's columns.

    `ordered` says a plain scan of it yields rows in _ord order, so typing can keep that
    order without sorting; a reader that cannot promise it leaves it False."""

    name: str
    header: list[str]
    rows: dict[str, int]  # source -> rows parsed
    rejects: dict[str, list[Reject]]  # source -> rows the reader rejected
    ordered: bool = False
    returns: dict[str, str] | None = None  # source -> return, where the reader knows it

    def rows_read(self, source: str) -> int:
        return self.rows.get(source, 0) + len({r.line for r in self.rejects.get(source, [])})


def load_csv_files(
    con: duckdb.DuckDBPyConnection, files: list[CsvFile], header: list[str], encoding: str = "utf-8"
) -> RawFiles:
    """One parallel read for many files of one table (one per return): the reader's fixed cost
    is paid once per table, not once per file, which matters with 150 LAs a term.

    The read is stored once, as text, in read order (files in list order, each file's rows in
    line order: DuckDB keeps insertion order), so a row's rowid is its ordinal and no window
    function (single-threaded) or sort is needed to number rows. Lineage is computed by the
    view over it from small per-file constants.

    Reject lines come from DuckDB as record numbers (header = 1, a blank line counts, a
    record over several lines counts once). Where a file's lines outnumber its records,
    `_record_lines` finds each record's first line and both rejects and rows are given it."""
    n = next(_ids)
    name, rejects_table, rejects_scan = f"raw_{n}", f"rejects_{n}", f"rejects_scan_{n}"
    columns = "{" + ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    duck_encoding = _DUCK_ENCODINGS.get(encoding.lower().replace("_", "-"))
    if duck_encoding is None:
        raise InputError(files[0].source, f"encoding {encoding!r} is not supported")
    paths = "[" + ", ".join(sql_str(f.path) for f in files) + "]"
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {name}_read AS
            SELECT CAST(file_index AS INTEGER) AS _file, *
            FROM read_csv({paths}, columns = {columns}, header = true,
                          auto_detect = false, delim = ',', quote = '"', escape = '"',
                          encoding = {sql_str(duck_encoding)}, store_rejects = true,
                          rejects_table = {sql_str(rejects_table)},
                          rejects_scan = {sql_str(rejects_scan)})
            """
        )
    except duckdb.Error as exc:
        raise InputError(files[0].source, f"cannot be parsed as CSV: {_first_line(exc)}") from exc
    by_path = {str(f.path): f.source for f in files}
    found = con.execute(
        f"SELECT s.file_path, e.line, e.error_type, e.column_idx, e.csv_line, e.error_message "
        f"FROM {rejects_table} e JOIN {rejects_scan} s USING (scan_id, file_id) ORDER BY 1, 2"
    ).fetchall()
    con.execute(f"DROP TABLE IF EXISTS {rejects_table}; DROP TABLE IF EXISTS {rejects_scan}")
    rejects: dict[str, list[Reject]] = {}
    for path, group in _by_file(found):
        rejects[by_path.get(path, path)] = _rejects_of(group, header, encoding)
    counts = {
        int(i): (int(rows), int(start))
        for i, rows, start in con.execute(
            f"SELECT _file, count(*), min(rowid) FROM {name}_read GROUP BY 1"
        ).fetchall()
    }
    starts = [counts.get(i, (0, 0))[1] for i in range(len(files))]
    # A row's line: its place in its file + the file's tail (the line of its first row, had
    # nothing before it been out of step). Rows before the last one out of step (after a
    # rejected or blank line, a record over several lines) are looked up in a line map.
    tails: list[int] = []
    maps: dict[int, np.ndarray] = {}
    for i, f in enumerate(files):
        found_here = rejects.get(f.source, [])
        rejected = {r.line for r in found_here}
        rows_here = counts.get(i, (0, 0))[0]
        tails.append(2 + len(rejected))
        if _lines_of(f, encoding) == rows_here + len(rejected) + 1:  # one line per record
            if rejected:
                maps[i] = _after_rejects(rejected)
            continue
        located = _record_lines(f.path, encoding, rejected, rows_here)
        if located is None:  # the reader split records otherwise: keep counting
            if rejected:
                maps[i] = _after_rejects(rejected)
            continue
        row_lines, reject_lines = located
        rejects[f.source] = [replace(r, line=reject_lines[r.line]) for r in found_here]
        tails[i], kept = _tail_of(row_lines)
        if kept.size:
            maps[i] = kept
    line = f"r.rowid - {_int_list(starts)}[r._file + 1] + {_int_list(tails)}[r._file + 1]"
    join = ""
    if maps:
        lines = _line_map(maps)
        con.register(f"{name}_lines_view", lines)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_lines AS SELECT * FROM {name}_lines_view")
        con.unregister(f"{name}_lines_view")
        join = (
            f"LEFT JOIN {name}_lines l ON l._file = r._file "
            f"AND l._file_ord = r.rowid - {_int_list(starts)}[r._file + 1] + 1"
        )
        line = f"coalesce(l._line, {line})"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {name} AS
        SELECT r.rowid AS _ord,
               {_str_list([f.source for f in files])}[r._file + 1] AS _source_file,
               {_str_list([f.return_name for f in files])}[r._file + 1] AS _return,
               CAST({line} AS BIGINT) AS _source_row,
               r.* EXCLUDE (_file)
        FROM {name}_read r {join}
        """
    )
    rows = {f.source: counts.get(i, (0, 0))[0] for i, f in enumerate(files)}
    returns = {f.source: f.return_name for f in files}
    return RawFiles(
        name=name, header=header, rows=rows, rejects=rejects, ordered=not join, returns=returns
    )


def drop_raw_files(con: duckdb.DuckDBPyConnection, raw: RawFiles) -> None:
    con.execute(
        f"DROP VIEW IF EXISTS {raw.name}; DROP TABLE IF EXISTS {raw.name}_read; "
        f"DROP TABLE IF EXISTS {raw.name}_lines"
    )


def _int_list(values: list[int]) -> str:
    return "([" + ", ".join(str(int(v)) for v in values) + "]::BIGINT[])"


def _str_list(values: list[str]) -> str:
    return "([" + ", ".join(sql_str(v) for v in values) + "]::VARCHAR[])"


def _by_file(found: list[tuple]) -> list[tuple[str, list[tuple]]]:
    groups: dict[str, list[tuple]] = {}
    for row in found:
        groups.setdefault(row[0], []).append(row[1:])
    return list(groups.items())


def _rejects_of(found: list[tuple], header: list[str], encoding: str) -> list[Reject]:
    """Rejected rows of one file, one Reject per line with every reason joined."""
    by_line: dict[int, Reject] = {}
    for line, error_type, column_idx, csv_line, message in found:
        words = _REJECT_WORDS.get(str(error_type), str(message).splitlines()[0])
        words = words.format(encoding=encoding.upper())
        if error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            fields = (csv_line or "").count(",") + 1
            words = f"{words}: header has {len(header)}, row has about {fields}"
        elif column_idx is not None and 0 < int(column_idx) <= len(header):
            words = f"{header[int(column_idx) - 1]}: {words}"
        if line in by_line:
            words = f"{by_line[line].reason}; {words}"
        by_line[int(line)] = Reject(line=int(line), reason=words, raw=csv_line or "")
    return list(by_line.values())


def _after_rejects(rejected: set[int]) -> np.ndarray:
    """For a file of one line per record: each parsed row's line up to the file's last
    rejected line, skipping the rejected lines (rows after it follow on directly)."""
    lines = np.array(sorted(rejected), dtype=np.int64)
    return np.setdiff1d(np.arange(2, lines.max() + 2, dtype=np.int64), lines)


def _tail_of(row_lines: np.ndarray) -> tuple[int, np.ndarray]:
    """A file's tail (line = place in file + tail from its last row on) and the lines of the
    rows before the last one out of step, which the line map must hold."""
    if not row_lines.size:
        return 2, row_lines
    offsets = row_lines - np.arange(row_lines.size, dtype=np.int64)
    tail = int(offsets[-1])
    out_of_step = np.flatnonzero(offsets != tail)
    return tail, row_lines[: out_of_step[-1] + 1 if out_of_step.size else 0]


def _line_map(maps: dict[int, np.ndarray]) -> pa.Table:
    """The line of each row in a file's map (by file index), rows numbered from 1."""
    files, ords, lines = [], [], []
    for index, kept in maps.items():
        files.append(np.full(kept.size, index, dtype=np.int64))
        ords.append(np.arange(1, kept.size + 1, dtype=np.int64))
        lines.append(kept)
    return pa.table(
        {
            "_file": pa.array(np.concatenate(files), pa.int64()),
            "_file_ord": pa.array(np.concatenate(ords), pa.int64()),
            "_line": pa.array(np.concatenate(lines), pa.int64()),
        }
    )


def _lines_of(f: CsvFile, encoding: str) -> int | None:
    """Physical lines in a file (a last line without a line break counts): from the line
    breaks the stage counted when it has them, else counted here. None where the encoding
    is not ASCII-compatible (UTF-16), which sends the file to `_record_lines`."""
    if _codec(encoding).startswith("utf-16"):
        return None
    with f.path.open("rb") as fh:
        newlines = f.newlines
        if newlines is None:
            newlines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
        size = fh.seek(0, 2)
        if not size:
            return 0
        fh.seek(size - 1)
        return newlines + (fh.read(1) != b"\n")


def _codec(encoding: str) -> str:
    codec = _DUCK_ENCODINGS.get(encoding.lower().replace("_", "-"), encoding)
    return "utf-8-sig" if codec == "utf-8" else codec


def _record_lines(
    path: Path, encoding: str, rejected: set[int], rows: int
) -> tuple[np.ndarray, dict[int, int]] | None:
    """The first line of every parsed row of a file (in order) and of every rejected record
    (by DuckDB's record number), from one streaming pass. None if the pass does not find
    the records the reader found (then the counted lines stand)."""
    firsts = array("q")  # every record's first line: 8 bytes a record, whatever it holds
    blanks = bytearray()  # 1 where the record is a blank line (the reader skips it)
    for first, n, blank in record_runs(path, encoding):
        firsts.extend(range(first, first + n))
        blanks.extend(b"\1" * n if blank else bytes(n))
    starts = np.frombuffer(firsts, dtype=np.int64) if firsts else np.zeros(0, np.int64)
    numbers = np.array(sorted(rejected), dtype=np.int64) - 1  # DuckDB's record number - 1
    if numbers.size and (numbers[0] < 1 or numbers[-1] >= starts.size):
        return None
    keep = np.frombuffer(blanks, dtype=np.uint8) == 0
    if not keep[numbers].all():  # a blank line rejected: not the records the reader saw
        return None
    keep[numbers] = False
    keep[:1] = False  # the header
    if int(keep.sum()) != rows:
        return None
    return starts[keep], {int(k) + 1: int(starts[k]) for k in numbers}


# Where DuckDB's CSV reader is in a record (delimiter ',', quote and escape '"'):
_START, _FIELD, _SPACE, _PLAIN, _QUOTED, _CLOSED = range(6)
# Lines that are each a whole record, matched in one call (C speed): a line without quotes,
# or fields each empty, plain, or quoted and closed (after one space at most: after two it
# is plain text) with only spaces between a closing quote and what follows. A blank line,
# a record over several lines or anything else irregular ends the match.
_QUOTED_RE = r'"[^"\n]*+(?:""[^"\n]*+)*+"'
_FIELD_RE = rf'(?:[^ ",\n][^,\n]*+| ?{_QUOTED_RE} *+| [^ ",\n][^,\n]*+|  [^,\n]*+| ?)'
_ONE_LINE_RECORDS = re.compile(
    rf'(?:(?!\r?\n)(?:[^"\n\r]++\r?\n|{_FIELD_RE}(?:,{_FIELD_RE})*+\r?\n))*+'
)
_BLANK_LINES = re.compile(r"(?:\r?\n)++")


def record_starts(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, bool]]:
    """(first line, is blank) of every record of a CSV file, header first."""
    for first, n, blank in record_runs(path, encoding):
        for k in range(n):
            yield first + k, blank


def record_runs(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, int, bool]]:
    """Runs of records of a CSV file, header first, as (first line, records, blank): the
    records of a run are one line each, except a run of one that is not blank, which may
    go on over the lines up to the next run's first line.

    Records are split as DuckDB's reader splits them: a quote opens a quoted value at the
    start of a field or after one space; anywhere else it is text. Blank lines are records
    (they count in the reader's record numbers) that the reader skips. The file is read in
    blocks of PIECE characters, a longer line in pieces, so memory stays bounded whatever
    the file holds. Line breaks are LF or CRLF: the stage rewrites others before reading."""
    with path.open(encoding=_codec(encoding), errors="replace", newline="") as fh:
        line_no, state, start, carry = 1, _START, 1, ""
        while True:
            block = fh.read(PIECE)
            if not block and not carry:
                break
            text = carry + block if block else carry + "\n"  # a last line without a break
            end = text.rfind("\n") + 1
            if not end:  # within a line longer than a block: step through this piece
                cut = len(text) - text.endswith("\r")  # a CR may be half of a CRLF
                if state == _START and cut:
                    start = line_no
                state, carry = _step(text, state, 0, cut), text[cut:]
                continue
            pos = 0
            while pos < end:
                if state == _START:
                    quote = text.find('"', pos, end)
                    plain = end if quote < 0 else text.rfind("\n", pos, quote) + 1 or pos
                    if plain > pos and not _blank_line_in(text, pos, plain):
                        n = text.count("\n", pos, plain)  # lines without quotes, one a record
                        yield line_no, n, False
                        line_no, pos = line_no + n, plain
                        continue
                    stop = _ONE_LINE_RECORDS.match(text, pos, end).end()
                    if stop > pos:
                        n = text.count("\n", pos, stop)
                        yield line_no, n, False
                        line_no, pos = line_no + n, stop
                        continue
                    blank = _BLANK_LINES.match(text, pos, end)
                    if blank:
                        n = text.count("\n", pos, blank.end())
                        yield line_no, n, True
                        line_no, pos = line_no + n, blank.end()
                        continue
                    start = line_no  # a record that may go on over several lines
                eol = text.find("\n", pos, end) + 1
                if state != _QUOTED or text.find('"', pos, eol) >= 0:
                    state = _step(text, state, pos, eol)
                line_no, pos = line_no + 1, eol
                if state != _QUOTED:
                    yield start, 1, False
                    state = _START
            carry = text[end:]
            if not block:
                break
        if state != _START:  # a quoted value never closed: the record runs to the end
            yield start, 1, False


def _blank_line_in(text: str, pos: int, end: int) -> bool:
    """Is any of the whole lines text[pos:end] blank?"""
    return (
        text.startswith(("\n", "\r\n"), pos, end)
        or text.find("\n\n", pos, end) >= 0
        or text.find("\n\r\n", pos, end) >= 0
    )


def _step(text: str, state: int, i: int, n: int) -> int:
    """The reader's state after text[i:n], a piece of one line (a line break only at its
    end): the state machine of DuckDB's reader, as far as it decides where records end."""
    while i < n:
        if state == _QUOTED:
            i = text.find('"', i, n) + 1
            if not i:
                return _QUOTED
            state = _CLOSED
            continue
        if state == _PLAIN:  # quotes are text until the next delimiter
            i = text.find(",", i, n) + 1
            if not i:
                return _PLAIN
            state = _FIELD
            continue
        c = text[i]
        if c == '"':
            state = _QUOTED  # opens a value, or (after a closing quote) an escaped quote
        elif c == ",":
            state = _FIELD
        elif c == "\n":
            return state
        elif c == " ":
            if state != _CLOSED:  # one space may come before a quote, not two
                state = _SPACE if state in (_START, _FIELD) else _PLAIN
        else:
            state = _PLAIN
        i += 1
    return state


def raw_json(alias: str, header: list[str]) -> str:
    """SQL turning a raw row back into JSON text keyed by the file's own column names."""
    parts = ", ".join(f"{quote_ident(h)} := {alias}.{quote_ident(h)}" for h in header)
    return f"CAST(to_json(struct_pack({parts})) AS VARCHAR)"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
