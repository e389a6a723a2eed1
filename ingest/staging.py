"""Stage files into typed tables with lineage; send what cannot be typed to quarantine.

A StagingSession wraps one local DuckDB for one partition. Each file is loaded as
text, typed by its TableSpec, checked for duplicates within its return, and split:
typed rows are appended to staged_<table>, the rest to quarantine with the reason
and the raw text. The accounts it keeps are the proof that nothing was lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.accounting import FileAccount
from ingest.convert import SQL_TYPES, empty_typed_columns, typed_select
from ingest.csv_source import (
    CsvFile,
    RawFiles,
    drop_raw_files,
    load_csv_files,
    raw_json,
    read_header,
)
from ingest.errors import InputError
from ingest.spec import TableSpec
from npd.duck import quote_ident, scalar, sql_str

LINEAGE = ("_load_id", "_source_file", "_source_row", "_return")

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    _load_id VARCHAR, _source_file VARCHAR, _source_row BIGINT, _return VARCHAR,
    source_table VARCHAR, reason VARCHAR, raw VARCHAR
)
"""


# Questionable but usable values: the row is staged and loaded, and each warning (naming the
# field) is kept per row here, written to warnings.parquet and counted in the stage report.
WARNING_DDL = """
CREATE TABLE IF NOT EXISTS row_warning (
    _load_id VARCHAR, _source_file VARCHAR, _source_row BIGINT, _return VARCHAR,
    source_table VARCHAR, warning VARCHAR
)
"""


class StagingSession:
    def __init__(self, con: duckdb.DuckDBPyConnection, landing_dir: Path, load_id: str):
        self.con = con
        self.landing_dir = landing_dir
        self.load_id = load_id
        self.accounts: list[FileAccount] = []
        con.execute(QUARANTINE_DDL)
        con.execute(WARNING_DDL)

    # -- public ---------------------------------------------------------------------------

    def source_name(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.landing_dir.resolve()).as_posix()
        except ValueError:
            return path.name

    def stage_csv(
        self, path: Path, table: TableSpec, return_name: str, encoding: str
    ) -> FileAccount:
        """Stage one CSV file of a table. Bad rows are quarantined; a bad file is rejected."""
        return self.stage_csv_files([(path, return_name)], table, encoding)[0]

    def stage_csv_files(
        self, files: list[tuple[Path, str]], table: TableSpec, encoding: str
    ) -> list[FileAccount]:
        """Stage every file of one table, one per return, reading files that share a header
        in a single pass. Bad rows are quarantined; a bad file is rejected on its own."""
        self.ensure_table(table)
        accounts: list[FileAccount] = []
        by_header: dict[tuple[str, ...], list[CsvFile]] = {}
        for path, return_name in files:
            source = self.source_name(path)
            account = FileAccount(source_file=source, table=table.name)
            accounts.append(account)
            self.accounts.append(account)
            try:
                header = read_header(path, source, encoding)
            except InputError as exc:
                account.status = "rejected"
                account.messages.append(str(exc))
                continue
            by_header.setdefault(tuple(header), []).append(CsvFile(path, source, return_name))
        by_source = {a.source_file: a for a in accounts}
        for header, group in by_header.items():
            file_reason = self._check_header(
                list(header), table, [by_source[f.source] for f in group]
            )
            if not self._stage_group(group, list(header), table, encoding, file_reason, by_source):
                for single in group:  # one file spoils the shared read: stage each on its own
                    self._stage_group(
                        [single], list(header), table, encoding, file_reason, by_source
                    )
        return accounts

    def _stage_group(
        self,
        group: list[CsvFile],
        header: list[str],
        table: TableSpec,
        encoding: str,
        file_reason: str | None,
        by_source: dict[str, FileAccount],
    ) -> bool:
        """Read and split files sharing a header; False if a shared read of several failed."""
        try:
            raw = load_csv_files(self.con, group, header, encoding)
        except InputError as exc:
            if len(group) > 1:
                return False
            by_source[group[0].source].status = "rejected"
            by_source[group[0].source].messages.append(str(exc))
            return True
        self._split(raw, table, file_reason, by_source)
        drop_raw_files(self.con, raw)
        return True

    def _check_header(
        self, header: list[str], table: TableSpec, accounts: list[FileAccount]
    ) -> str | None:
        """A file-level reason if required columns are missing; notes undeclared columns."""
        declared = {f.source.lower() for f in table.fields}
        present = {h.lower() for h in header}
        missing = [f.source for f in table.fields if f.required and f.source.lower() not in present]
        undeclared = [h for h in header if h.lower() not in declared]
        file_reason = f"required column(s) missing: {', '.join(missing)}" if missing else None
        for account in accounts:
            if file_reason:
                account.status = "rejected"
                account.messages.append(
                    f"{account.source_file}: {file_reason}; every row quarantined"
                )
            if undeclared:
                account.messages.append(
                    f"{account.source_file}: undeclared column(s) not staged: {', '.join(undeclared)}"
                )
        return file_reason

    def record_missing(self, source: str, table: TableSpec, required: bool) -> None:
        """A return lacks a table: fatal for a required table, noted for an optional one."""
        self.ensure_table(table)
        if required:
            account = FileAccount(source_file=source, table=table.name, status="missing")
            account.messages.append(
                f"{source}: required table {table.name} is missing from the return"
            )
            self.accounts.append(account)

    def quarantine_rows(
        self, table: str, rows: list[tuple[str, int, str | None, str, str]]
    ) -> None:
        """Quarantine rows found outside typing: (source_file, source_row, return, reason, raw).
        The caller keeps the file's account (rows read = staged + quarantined)."""
        if rows:
            self._insert_rows("quarantine", table, rows)

    def add_warnings(self, table: str, rows: list[tuple[str, int, str | None, str]]) -> None:
        """Warnings on staged rows: (source_file, source_row, return, warning naming the field)."""
        if rows:
            self._insert_rows("row_warning", table, rows)

    def _insert_rows(self, target: str, table: str, rows: list[tuple]) -> None:
        columns = {
            "_load_id": [self.load_id] * len(rows),
            "_source_file": [r[0] for r in rows],
            "_source_row": pa.array([r[1] for r in rows], pa.int64()),
            "_return": [r[2] for r in rows],
            "source_table": [table] * len(rows),
        }
        if target == "quarantine":
            columns |= {"reason": [r[3] for r in rows], "raw": [r[4] for r in rows]}
        else:
            columns |= {"warning": [r[3] for r in rows]}
        self.con.register("_rows_batch", pa.table(columns))
        self.con.execute(f"INSERT INTO {target} SELECT * FROM _rows_batch")
        self.con.unregister("_rows_batch")

    def ensure_table(self, table: TableSpec) -> None:
        cols = [
            f"{quote_ident(c.name)} {_sql_type_of(table, c.name)}"
            for c in empty_typed_columns(table)
        ]
        lineage = "_load_id VARCHAR, _source_file VARCHAR, _source_row BIGINT, _return VARCHAR"
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {staged_name(table.name)} ({lineage}, {', '.join(cols)})"
        )

    # -- internals ------------------------------------------------------------------------

    def _split(
        self,
        raw: RawFiles,
        table: TableSpec,
        file_reason: str | None,
        accounts: dict[str, FileAccount],
    ) -> None:
        """Type every row, then append typed rows to staged_<table> and the rest, with their
        reasons and raw text, to quarantine; count both per source file.

        The typed rows are written once, in _ord order, into a table shaped like
        staged_<table> with _ord and _reason after it. Failing rows are quarantined and
        deleted from it; if staged_<table> is still empty, the typed table becomes it (a
        rename: no rows copied), otherwise its rows are appended in order."""
        typing = typed_select(table, raw.header)
        reason_expr = sql_str(file_reason) if file_reason else typing.reason_sql()
        cleaned = "".join(f", {c}" for c in typing.cleaned)
        typed_cols = "".join(f", {c.expr} AS {quote_ident(c.name)}" for c in typing.columns)
        kept_raw = "".join(f", {r}" for r in typing.raw_names)
        staged_cols = ", ".join(
            f"CAST({quote_ident(c.name)} AS {_sql_type_of(table, c.name)}) AS {quote_ident(c.name)}"
            for c in typing.columns
        )
        typed = f"{raw.name}_typed"
        select = f"""
            WITH cleaned AS (
                SELECT _ord, _source_file, _source_row, _return{cleaned} FROM {raw.name}
            ),
            typed AS (
                SELECT _ord, _source_file, _source_row, _return{typed_cols}{kept_raw} FROM cleaned
            )
            SELECT CAST({sql_str(self.load_id)} AS VARCHAR) AS _load_id,
                   CAST(_source_file AS VARCHAR) AS _source_file,
                   CAST(_source_row AS BIGINT) AS _source_row,
                   CAST(_return AS VARCHAR) AS _return,
                   {staged_cols},
                   _ord, {reason_expr} AS _reason
            FROM typed
            """
        # Rows must come out in _ord order. A scan of an ordered source through projections
        # keeps its order (DuckDB's order preservation), so the sort is needed only when the
        # source is not known to be ordered or the plan has anything else in it (a join).
        if not (raw.ordered and _keeps_order(self.con, select)):
            select = f"SELECT * FROM ({select}) ORDER BY _ord"
        self.con.execute(f"CREATE OR REPLACE TABLE {typed} AS {select}")
        self._flag_duplicates(typed, table)
        self.con.execute(
            f"""
            INSERT INTO quarantine
            SELECT t._load_id, t._source_file, t._source_row, t._return, {sql_str(table.name)},
                   t._reason, {raw_json("r", raw.header)}
            FROM (SELECT * FROM {typed} WHERE _reason IS NOT NULL) t JOIN {raw.name} r USING (_ord)
            ORDER BY t._ord
            """
        )
        self._quarantine_rejects(raw, table)
        bad = dict.fromkeys(raw.rows, 0)
        bad.update(
            self.con.execute(
                f"SELECT _source_file, count(*) FROM {typed} WHERE _reason IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
        for source, account in accounts.items():
            if source not in raw.rows:
                continue
            rejected = len(raw.rejects.get(source, []))
            account.rows_read = raw.rows_read(source)
            account.rows_quarantined = bad[source] + rejected
            account.rows_staged = raw.rows[source] - bad[source]
        self._append_staged(typed, table)

    def _append_staged(self, typed: str, table: TableSpec) -> None:
        """Move a typed table's good rows (already in order) into staged_<table>."""
        staged = staged_name(table.name)
        self.con.execute(
            f"DELETE FROM {typed} WHERE _reason IS NOT NULL; "
            f"ALTER TABLE {typed} DROP COLUMN _reason; ALTER TABLE {typed} DROP COLUMN _ord"
        )
        if scalar(self.con, f"SELECT count(*) FROM (SELECT 1 FROM {staged} LIMIT 1)") == 0:
            self.con.execute(f"DROP TABLE {staged}; ALTER TABLE {typed} RENAME TO {staged}")
        else:
            self.con.execute(f"INSERT INTO {staged} SELECT * FROM {typed}; DROP TABLE {typed}")

    def _quarantine_rejects(self, raw: RawFiles, table: TableSpec) -> None:
        """Rows the reader could not parse, in one insert (a badly encoded file has many)."""
        rows = [(source, r) for source, found in raw.rejects.items() for r in found]
        if not rows:
            return
        returns = raw.returns or dict(
            self.con.execute(f"SELECT DISTINCT _source_file, _return FROM {raw.name}").fetchall()
        )
        batch = pa.table(
            {
                "_load_id": [self.load_id] * len(rows),
                "_source_file": [source for source, _ in rows],
                "_source_row": pa.array([r.line for _, r in rows], pa.int64()),
                "_return": [returns.get(source) for source, _ in rows],
                "source_table": [table.name] * len(rows),
                "reason": [r.reason for _, r in rows],
                "raw": [r.raw for _, r in rows],
            }
        )
        self.con.register("_rejects_batch", batch)
        self.con.execute("INSERT INTO quarantine SELECT * FROM _rejects_batch")
        self.con.unregister("_rejects_batch")

    def _flag_duplicates(self, typed: str, table: TableSpec) -> None:
        """Quarantine every copy of a key that must be unique within a return (e.g. census 1520)."""
        for group in table.unique:
            cols = ", ".join(quote_ident(c) for c in group)
            not_null = " AND ".join(f"{quote_ident(c)} IS NOT NULL" for c in group)
            sources = "/".join(table.field(c).source for c in group)
            self.con.execute(
                f"""
                UPDATE {typed} AS t SET _reason = concat_ws('; ', t._reason, d.reason)
                FROM (
                    SELECT _ord, {sql_str(sources + ": duplicate within the return, ")}
                           || count(*) OVER w || ' records (rows '
                           || string_agg(_source_row::VARCHAR, ', ' ORDER BY _source_row) OVER w
                           || ')' AS reason
                    FROM {typed}
                    WHERE {not_null}
                      AND (_source_file, {cols}) IN (
                          SELECT (_source_file, {cols}) FROM {typed} WHERE {not_null}
                          GROUP BY _source_file, {cols} HAVING count(*) > 1)
                    WINDOW w AS (PARTITION BY _source_file, {cols})
                ) d
                WHERE t._ord = d._ord
                """
            )


_ORDER_KEEPING = {"PROJECTION", "FILTER", "SEQ_SCAN", "TABLE_SCAN", "DUMMY_SCAN"}


def _keeps_order(con: duckdb.DuckDBPyConnection, select: str) -> bool:
    """Whether the physical plan of select only scans one table and projects or filters it,
    operators that keep insertion order (anything else, a join above all, may not)."""
    plan = con.execute(f"EXPLAIN (FORMAT json) {select}").fetchall()[0][1]
    ops: list[str] = []
    stack = json.loads(plan)
    while stack:
        node = stack.pop()
        ops.append(str(node.get("name", "")).strip().upper().replace(" ", "_"))
        stack.extend(node.get("children", []))
    return bool(ops) and all(op in _ORDER_KEEPING for op in ops)


def staged_name(table: str) -> str:
    return f"staged_{table}"


def _sql_type_of(table: TableSpec, column: str) -> str:
    for fld in table.fields:
        if fld.name == column:
            return SQL_TYPES[fld.type]
    if column.endswith("_valid"):
        return "BOOLEAN"
    return "VARCHAR"
