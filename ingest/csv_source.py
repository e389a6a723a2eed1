"""Stream a CSV file into DuckDB as text, keeping rows the reader cannot parse.

DuckDB's parallel CSV reader does the work. Rows with the wrong number of fields
or bytes that are not valid in the declared encoding are not dropped: the reader
records them (store_rejects) and they come back as quarantine candidates with
their line number and raw text. Every data row gets its line number in the file
(header = line 1), exact for files without line breaks inside quoted fields.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingest.errors import InputError
from npd.duck import quote_ident, sql_str

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
    view over it from small per-file constants."""
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
    skipped = [len({r.line for r in rejects.get(f.source, [])}) for f in files]
    # A row's line: its place in its file + 1 for the header + the lines rejected before it.
    # Rows after a file's last rejected line follow on directly; rows before it (files with
    # rejected lines only) are looked up in a small line map.
    line = f"r.rowid - {_int_list(starts)}[r._file + 1] + 2 + {_int_list(skipped)}[r._file + 1]"
    join = ""
    rejecting = {i: rejects[f.source] for i, f in enumerate(files) if rejects.get(f.source)}
    if rejecting:
        lines = _line_map(rejecting)
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


def _line_map(rejects: dict[int, list[Reject]]) -> pa.Table:
    """For files with rejected lines only (by file index): each parsed row's line number up to
    the file's last rejected line, skipping the rejected lines."""
    files, ords, lines = [], [], []
    for index, found in rejects.items():
        rejected = np.array(sorted({r.line for r in found}), dtype=np.int64)
        span = np.arange(2, rejected.max() + 2, dtype=np.int64)
        kept = np.setdiff1d(span, rejected)  # lines after the last reject follow on directly
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


def raw_json(alias: str, header: list[str]) -> str:
    """SQL turning a raw row back into JSON text keyed by the file's own column names."""
    parts = ", ".join(f"{quote_ident(h)} := {alias}.{quote_ident(h)}" for h in header)
    return f"CAST(to_json(struct_pack({parts})) AS VARCHAR)"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
