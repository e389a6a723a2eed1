"""Stage files into typed tables with lineage; send what cannot be typed to quarantine.

A StagingSession wraps one local DuckDB for one partition. Each file is loaded as
text, typed by its TableSpec, checked for duplicates within its return, and split:
typed rows are appended to staged_<table>, the rest to quarantine with the reason
and the raw text. The accounts it keeps are the proof that nothing was lost.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingest.accounting import FileAccount
from ingest.convert import SQL_TYPES, empty_typed_columns, typed_select
from ingest.csv_source import RawTable, load_csv, raw_json, read_header
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


class StagingSession:
    def __init__(self, con: duckdb.DuckDBPyConnection, landing_dir: Path, load_id: str):
        self.con = con
        self.landing_dir = landing_dir
        self.load_id = load_id
        self.accounts: list[FileAccount] = []
        con.execute(QUARANTINE_DDL)

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
        source = self.source_name(path)
        account = FileAccount(source_file=source, table=table.name)
        self.accounts.append(account)
        self.ensure_table(table)
        try:
            header = read_header(path, source, encoding)
            raw = load_csv(self.con, path, source, header, encoding)
        except InputError as exc:
            account.status = "rejected"
            account.messages.append(str(exc))
            return account
        declared = {f.source.lower() for f in table.fields}
        present = {h.lower() for h in header}
        missing = [f.source for f in table.fields if f.required and f.source.lower() not in present]
        file_reason = None
        if missing:
            file_reason = f"required column(s) missing: {', '.join(missing)}"
            account.status = "rejected"
            account.messages.append(f"{source}: {file_reason}; every row quarantined")
        undeclared = [h for h in header if h.lower() not in declared]
        if undeclared:
            account.messages.append(
                f"{source}: undeclared column(s) not staged: {', '.join(undeclared)}"
            )
        self._type_and_split(raw, table, source, return_name, file_reason, account)
        self.con.execute(f"DROP TABLE IF EXISTS {raw.name}")
        return account

    def record_missing(self, source: str, table: TableSpec, required: bool) -> None:
        """A return lacks a table: fatal for a required table, noted for an optional one."""
        self.ensure_table(table)
        if required:
            account = FileAccount(source_file=source, table=table.name, status="missing")
            account.messages.append(
                f"{source}: required table {table.name} is missing from the return"
            )
            self.accounts.append(account)

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

    def _type_and_split(
        self,
        raw: RawTable,
        table: TableSpec,
        source: str,
        return_name: str,
        file_reason: str | None,
        account: FileAccount,
    ) -> None:
        columns, reasons = typed_select(table, raw.header)
        if file_reason:
            reasons = [sql_str(file_reason)]
        typed_cols = ", ".join(f"{c.expr} AS {quote_ident(c.name)}" for c in columns)
        reason_expr = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')" if reasons else "NULL"
        typed = f"{raw.name}_typed"
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {typed} AS
            SELECT _ord, {sql_str(self.load_id)} AS _load_id, {sql_str(source)} AS _source_file,
                   _source_row, {sql_str(return_name)} AS _return, {typed_cols},
                   {reason_expr} AS _reason
            FROM {raw.name}
            """
        )
        self._flag_duplicates(typed, table)
        names = ", ".join(quote_ident(c.name) for c in columns)
        self.con.execute(
            f"INSERT INTO {staged_name(table.name)} (_load_id, _source_file, _source_row, _return, {names}) "
            f"SELECT _load_id, _source_file, _source_row, _return, {names} FROM {typed} "
            f"WHERE _reason IS NULL ORDER BY _ord"
        )
        self.con.execute(
            f"""
            INSERT INTO quarantine
            SELECT t._load_id, t._source_file, t._source_row, t._return, {sql_str(table.name)},
                   t._reason, {raw_json("r", raw.header)}
            FROM {typed} t JOIN {raw.name} r USING (_ord)
            WHERE t._reason IS NOT NULL ORDER BY t._ord
            """
        )
        for reject in raw.rejects:
            self.con.execute(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    self.load_id,
                    source,
                    reject.line,
                    return_name,
                    table.name,
                    reject.reason,
                    reject.raw,
                ],
            )
        bad = scalar(self.con, f"SELECT count(*) FROM {typed} WHERE _reason IS NOT NULL")
        account.rows_read = raw.rows_read
        account.rows_quarantined = bad + len(raw.rejects)
        account.rows_staged = raw.rows - bad
        self.con.execute(f"DROP TABLE IF EXISTS {typed}")

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
                           || ')' AS reason,
                           count(*) OVER w AS n
                    FROM {typed} WHERE {not_null}
                    WINDOW w AS (PARTITION BY {cols})
                ) d
                WHERE t._ord = d._ord AND d.n > 1
                """
            )


def staged_name(table: str) -> str:
    return f"staged_{table}"


def _sql_type_of(table: TableSpec, column: str) -> str:
    for fld in table.fields:
        if fld.name == column:
            return SQL_TYPES[fld.type]
    if column.endswith("_valid"):
        return "BOOLEAN"
    return "VARCHAR"
