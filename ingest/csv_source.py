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
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingest.errors import InputError
from npd.duck import quote_ident, scalar, sql_str

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


@dataclass(frozen=True)
class RawTable:
    """A file loaded as text into a DuckDB temp table with columns _ord, _source_row, header..."""

    name: str
    header: list[str]
    rows: int
    rejects: list[Reject]

    @property
    def rows_read(self) -> int:
        return self.rows + len({r.line for r in self.rejects})


def read_header(path: Path, source: str, encoding: str = "utf-8") -> list[str]:
    """The header row's column names, or an InputError naming the file."""
    try:
        with path.open("rb") as fh:
            first = fh.readline()
    except OSError as exc:
        raise InputError(source, f"cannot be read ({exc.strerror})") from exc
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
    header = [h.strip() for h in next(csv.reader([text.rstrip("\r\n")]))]
    lowered = [h.lower() for h in header]
    duplicates = sorted({h for h in lowered if lowered.count(h) > 1})
    if duplicates:
        raise InputError(source, f"header repeats column(s) {', '.join(duplicates)}", row=1)
    if any(not h for h in header):
        raise InputError(source, "header has an empty column name", row=1)
    return header


def load_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: str,
    header: list[str],
    encoding: str = "utf-8",
) -> RawTable:
    """Load a CSV's data rows as text into a fresh temp table; collect rejected rows."""
    n = next(_ids)
    name, rejects_table, rejects_scan = f"raw_{n}", f"rejects_{n}", f"rejects_scan_{n}"
    columns = "{" + ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    duck_encoding = _DUCK_ENCODINGS.get(encoding.lower().replace("_", "-"))
    if duck_encoding is None:
        raise InputError(source, f"encoding {encoding!r} is not supported")
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {name} AS
            SELECT row_number() OVER () AS _ord, *
            FROM read_csv({sql_str(path)}, columns = {columns}, header = true,
                          auto_detect = false, delim = ',', quote = '"', escape = '"',
                          encoding = {sql_str(duck_encoding)}, store_rejects = true,
                          rejects_table = {sql_str(rejects_table)},
                          rejects_scan = {sql_str(rejects_scan)})
            """
        )
    except duckdb.Error as exc:
        raise InputError(source, f"cannot be parsed as CSV: {_first_line(exc)}") from exc
    rejects = _collect_rejects(con, rejects_table, header, encoding)
    con.execute(f"DROP TABLE IF EXISTS {rejects_table}; DROP TABLE IF EXISTS {rejects_scan}")
    rows = scalar(con, f"SELECT count(*) FROM {name}")
    _number_rows(con, name, rows, rejects)
    return RawTable(name=name, header=header, rows=rows, rejects=rejects)


def _collect_rejects(
    con: duckdb.DuckDBPyConnection, table: str, header: list[str], encoding: str
) -> list[Reject]:
    found = con.execute(
        f"SELECT line, error_type, column_idx, csv_line, error_message FROM {table} ORDER BY line"
    ).fetchall()
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


def _number_rows(
    con: duckdb.DuckDBPyConnection, name: str, rows: int, rejects: list[Reject]
) -> None:
    """Give each parsed row its line number, skipping the lines the reader rejected."""
    if not rejects:
        con.execute(f"ALTER TABLE {name} ADD COLUMN _source_row BIGINT")
        con.execute(f"UPDATE {name} SET _source_row = _ord + 1")
        return
    rejected = np.array(sorted({r.line for r in rejects}), dtype=np.int64)
    lines = np.setdiff1d(np.arange(2, rows + len(rejected) + 2, dtype=np.int64), rejected)[:rows]
    mapping = pa.table({"_ord": np.arange(1, rows + 1, dtype=np.int64), "_line": lines})
    con.register(f"{name}_lines", mapping)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT r.*, l._line AS _source_row "
        f"FROM {name} r JOIN {name}_lines l USING (_ord) ORDER BY r._ord"
    )
    con.unregister(f"{name}_lines")


@dataclass(frozen=True)
class CsvFile:
    path: Path
    source: str  # path relative to the landing folder
    return_name: str


@dataclass(frozen=True)
class RawFiles:
    """Several files with one header, loaded as text in one pass into a DuckDB temp table
    with columns _ord, _source_file, _return, _source_row and the header's columns."""

    name: str
    header: list[str]
    rows: dict[str, int]  # source -> rows parsed
    rejects: dict[str, list[Reject]]  # source -> rows the reader rejected

    def rows_read(self, source: str) -> int:
        return self.rows.get(source, 0) + len({r.line for r in self.rejects.get(source, [])})


def load_csv_files(
    con: duckdb.DuckDBPyConnection, files: list[CsvFile], header: list[str], encoding: str = "utf-8"
) -> RawFiles:
    """One parallel read for many files of one table (one per return): the reader's fixed cost
    is paid once per table, not once per file, which matters with 150 LAs a term."""
    n = next(_ids)
    name, rejects_table, rejects_scan = f"raw_{n}", f"rejects_{n}", f"rejects_scan_{n}"
    columns = "{" + ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    duck_encoding = _DUCK_ENCODINGS.get(encoding.lower().replace("_", "-"))
    if duck_encoding is None:
        raise InputError(files[0].source, f"encoding {encoding!r} is not supported")
    paths = "[" + ", ".join(sql_str(f.path) for f in files) + "]"
    con.register(
        f"{name}_files",
        pa.table(
            {
                "_path": [str(f.path) for f in files],
                "_source_file": [f.source for f in files],
                "_return": [f.return_name for f in files],
            }
        ),
    )
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {name}_read AS
            SELECT row_number() OVER () AS _ord, filename AS _path, * EXCLUDE (filename)
            FROM read_csv({paths}, columns = {columns}, header = true, filename = true,
                          auto_detect = false, delim = ',', quote = '"', escape = '"',
                          encoding = {sql_str(duck_encoding)}, store_rejects = true,
                          rejects_table = {sql_str(rejects_table)},
                          rejects_scan = {sql_str(rejects_scan)})
            """
        )
    except duckdb.Error as exc:
        con.unregister(f"{name}_files")
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
    # Number each file's rows without rewriting the data: a view over the read joins tiny
    # tables (file names, first ordinal per file, line maps for files with rejected lines).
    con.register(f"{name}_lines_view", _line_map(rejects))
    con.register(
        f"{name}_skips_view",
        pa.table(
            {
                "_source_file": pa.array(list(rejects), pa.string()),
                "_skipped": pa.array(
                    [len({r.line for r in v}) for v in rejects.values()], pa.int64()
                ),
            }
        ),
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {name}_map AS
        SELECT f._path, f._source_file, f._return, s._start, coalesce(k._skipped, 0) AS _skipped
        FROM {name}_files f
        JOIN (SELECT _path, min(_ord) AS _start FROM {name}_read GROUP BY 1) s USING (_path)
        LEFT JOIN {name}_skips_view k USING (_source_file);
        CREATE OR REPLACE TEMP TABLE {name}_lines AS SELECT * FROM {name}_lines_view;
        CREATE OR REPLACE TEMP VIEW {name} AS
        SELECT r._ord, m._source_file, m._return,
               coalesce(l._line, r._ord - m._start + 2 + m._skipped) AS _source_row,
               r.* EXCLUDE (_ord, _path)
        FROM {name}_read r
        JOIN {name}_map m USING (_path)
        LEFT JOIN {name}_lines l
          ON l._source_file = m._source_file AND l._file_ord = r._ord - m._start + 1;
        """
    )
    for view in ("_lines_view", "_skips_view", "_files"):
        con.unregister(f"{name}{view}")
    rows = dict.fromkeys((f.source for f in files), 0)
    rows.update(
        con.execute(
            f"SELECT m._source_file, count(*) FROM {name}_read r JOIN {name}_map m USING (_path) "
            "GROUP BY 1"
        ).fetchall()
    )
    return RawFiles(name=name, header=header, rows=rows, rejects=rejects)


def drop_raw_files(con: duckdb.DuckDBPyConnection, raw: RawFiles) -> None:
    con.execute(
        f"DROP VIEW IF EXISTS {raw.name}; DROP TABLE IF EXISTS {raw.name}_read; "
        f"DROP TABLE IF EXISTS {raw.name}_map; DROP TABLE IF EXISTS {raw.name}_lines"
    )


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


def _line_map(rejects: dict[str, list[Reject]]) -> pa.Table:
    """For files with rejected lines only: each parsed row's line number, skipping those lines.

    Rows of files without rejects are numbered in SQL (ordinal + 1 for the header)."""
    sources, ords, lines = [], [], []
    for source, found in rejects.items():
        if not found:
            continue
        rejected = np.array(sorted({r.line for r in found}), dtype=np.int64)
        span = np.arange(2, rejected.max() + 2, dtype=np.int64)
        kept = np.setdiff1d(span, rejected)  # lines after the last reject follow on directly
        sources.append(np.full(kept.size, source, dtype=object))
        ords.append(np.arange(1, kept.size + 1, dtype=np.int64))
        lines.append(kept)
    if not sources:
        return pa.table(
            {
                "_source_file": pa.array([], pa.string()),
                "_file_ord": pa.array([], pa.int64()),
                "_line": pa.array([], pa.int64()),
            }
        )
    return pa.table(
        {
            "_source_file": pa.array(np.concatenate(sources), pa.string()),
            "_file_ord": np.concatenate(ords),
            "_line": np.concatenate(lines),
        }
    )


def raw_json(alias: str, header: list[str]) -> str:
    """SQL turning a raw row back into JSON text keyed by the file's own column names."""
    parts = ", ".join(f"{quote_ident(h)} := {alias}.{quote_ident(h)}" for h in header)
    return f"CAST(to_json(struct_pack({parts})) AS VARCHAR)"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
