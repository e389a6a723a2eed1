"""Stage files into typed tables with lineage; send what cannot be typed to quarantine.

A StagingSession wraps one local DuckDB for one partition. Each file is loaded as
text, typed by its TableSpec, checked for duplicates within its return, and split:
typed rows are appended to staged_<table>, the rest to quarantine with the reason
and the raw text. The accounts it keeps are the proof that nothing was lost.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from itertools import count
from pathlib import Path

import duckdb
import pyarrow as pa

from core.codes import mapping
from core.duck import columns_of, quote_ident, scalar, sql_str
from ingest.accounting import FileAccount
from ingest.convert import SQL_TYPES, RowChecks, empty_typed_columns, typed_select
from ingest.csv_source import (
    CsvFile,
    RawFiles,
    drop_raw_files,
    load_csv_files,
    raw_json,
    raw_lines,
    read_header,
)
from ingest.errors import InputError
from ingest.inventory import source_name
from ingest.sniff import FileFacts, normalised, sniff
from ingest.spec import FieldSpec, TableSpec

_copies = count(1)
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
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        landing_dir: Path,
        load_id: str,
        work_dir: Path | None = None,
    ):
        self.con = con
        self.landing_dir = landing_dir
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="npd-stage-"))
        self.load_id = load_id
        self.accounts: list[FileAccount] = []
        self.checks = RowChecks()  # the partition's row rules (reference day); stage sets them
        # Files to refuse whole once every file is read (a legacy coding past its years):
        # source -> reason; ingest.stage refuses them with the others it finds then.
        self.refusals: dict[str, str] = {}
        con.execute(QUARANTINE_DDL)
        con.execute(WARNING_DDL)

    # -- public ---------------------------------------------------------------------------

    def source_name(self, path: Path) -> str:
        return source_name(path, self.landing_dir)

    def stage_csv(
        self, path: Path, table: TableSpec, return_name: str, encoding: str
    ) -> FileAccount:
        """Stage one CSV file of a table. Bad rows are quarantined; a bad file is rejected."""
        return self.stage_csv_files([(path, return_name)], table, encoding)[0]

    def stage_csv_files(
        self,
        files: list[tuple[Path, str]],
        table: TableSpec,
        encoding: str,
        facts: dict[Path, FileFacts] | None = None,
        checks: RowChecks | None = None,
    ) -> list[FileAccount]:
        """Stage every file of one table, one per return, reading files that share a header
        in a single pass. Bad rows are quarantined; a file that cannot be trusted is refused
        whole, its rows counted and quarantined (never read as fewer rows)."""
        self.ensure_table(table)
        checks = checks or self.checks
        accounts: list[FileAccount] = []
        by_header: dict[tuple[str, ...], list[CsvFile]] = {}
        control = False
        for path, return_name in files:
            source = self.source_name(path)
            account = FileAccount(source_file=source, table=table.name)
            accounts.append(account)
            self.accounts.append(account)
            try:
                read_path, file_facts = self._readable(path, source, encoding, facts, account)
                header = read_header(read_path, source, "utf-8")
            except InputError as exc:
                self.reject_unread(path, account, return_name, exc.problem, facts)
                continue
            control = control or file_facts.control
            by_header.setdefault(tuple(header), []).append(
                CsvFile(read_path, source, return_name, newlines=file_facts.newlines)
            )
        checks = replace(checks, control=control)
        by_source = {a.source_file: a for a in accounts}
        for header, group in by_header.items():
            file_reason = self._check_header(
                list(header), table, [by_source[f.source] for f in group]
            )
            if not self._stage_group(group, list(header), table, file_reason, by_source, checks):
                for single in group:  # one file spoils the shared read: stage each on its own
                    self._stage_group([single], list(header), table, file_reason, by_source, checks)
        return accounts

    def _readable(
        self,
        path: Path,
        source: str,
        encoding: str,
        facts: dict[Path, FileFacts] | None,
        account: FileAccount,
    ) -> tuple[Path, FileFacts]:
        """The file to give the CSV reader (a UTF-8, LF copy where the original is not), and
        its facts; an InputError where the file cannot be trusted as a whole."""
        found = (facts or {}).get(path) or sniff(path)
        if found.encoding is None:
            raise InputError(
                source,
                f"not valid {encoding.upper()} (byte {found.first_bad_byte}), nor UTF-16 or "
                "Windows-1252: the encoding cannot be established; refused whole",
            )
        note = found.reading_note(encoding)
        read_path = path
        if found.needs_rewrite:
            try:
                read_path = normalised(path, found, self.work_dir / f"{next(_copies)}.csv")
            except UnicodeDecodeError as exc:  # a UTF-16 mark or pattern the bytes then break
                raise InputError(
                    source,
                    f"looks like {found.encoding.upper()} but is not valid "
                    f"{found.encoding.upper()}: the encoding cannot be established; refused whole",
                ) from exc
            found = sniff(read_path)
        if note:
            account.messages.append(f"{source}: {note}")
        if found.unbalanced_quotes:
            raise InputError(
                source,
                "a quoted field is never closed (an odd number of double quotes): the rows "
                "cannot be told apart; refused whole",
            )
        return read_path, found

    def reject_unread(
        self,
        path: Path,
        account: FileAccount,
        return_name: str,
        problem: str,
        facts: dict[Path, FileFacts] | None = None,
    ) -> None:
        """Refuse a file whole without parsing it: every line after the header is counted as
        a row read and quarantined with the problem (raw text capped), in bounded memory."""
        account.refuse(f"{account.source_file}: {problem}")
        found = (facts or {}).get(path)
        encoding = "utf-8" if found is None or found.encoding in (None, "utf-8") else found.encoding
        why = problem
        batch: list[tuple[str, int, str | None, str, str]] = []
        rows = 0
        for line_no, text in raw_lines(path, encoding):
            if line_no == 1 or not text.strip():
                continue
            rows += 1
            batch.append((account.source_file, line_no, return_name, f"file refused: {why}", text))
            if len(batch) >= 50_000:
                self.quarantine_rows(account.table, batch)
                batch = []
        self.quarantine_rows(account.table, batch)
        account.rows_read = account.rows_quarantined = rows
        account.rows_staged = 0

    def _row_json(self, alias: str, table: str) -> str:
        """SQL for a staged row as JSON (its fields, not its lineage) for quarantine's raw."""
        fields = sorted(c for c in columns_of(self.con, table) if not c.startswith("_"))
        parts = ", ".join(f"{quote_ident(c)} := {alias}.{quote_ident(c)}" for c in fields)
        return f"CAST(to_json(struct_pack({parts})) AS VARCHAR)"

    def quarantine_orphans(self, child: TableSpec, parent: TableSpec, key: tuple[str, ...]) -> None:
        """Rows of a child table (SEN needs, FSM periods, episodes) whose parent row (the
        pupil, the child) is not staged in the same return: quarantined as orphans."""
        staged, parents = staged_name(child.name), staged_name(parent.name)
        keys = " AND ".join(f"p.{quote_ident(k)} = c.{quote_ident(k)}" for k in key)
        fields = "/".join(child.field(k).source for k in key)
        reason = (
            f"{fields}: no {parent.name} row staged with this value in the return (orphan row: "
            f"its {parent.name} row is missing or was quarantined)"
        )
        orphan = f"NOT EXISTS (SELECT 1 FROM {parents} p WHERE p._return = c._return AND {keys})"
        counts = dict(
            self.con.execute(
                f"SELECT c._source_file, count(*) FROM {staged} c WHERE {orphan} GROUP BY 1"
            ).fetchall()
        )
        if not counts:
            return
        self.con.execute(
            f"""
            INSERT INTO quarantine
            SELECT c._load_id, c._source_file, c._source_row, c._return, {sql_str(child.name)},
                   {sql_str(reason)}, {self._row_json("c", staged)}
            FROM {staged} c WHERE {orphan}
            """
        )
        self.con.execute(
            f"DELETE FROM {staged} WHERE rowid IN (SELECT c.rowid FROM {staged} c WHERE {orphan})"
        )
        for account in self.accounts:
            if account.table == child.name and account.source_file in counts:
                n = counts[account.source_file]
                account.rows_staged -= n
                account.rows_quarantined += n

    def reject_after_read(self, source: str, reason: str) -> None:
        """Refuse a file already staged (a problem seen only once its rows were read): its
        staged rows, in every table, move to quarantine with the reason."""
        for account in [a for a in self.accounts if a.source_file == source]:
            account.refuse(f"{source}: {reason}")
            if not account.rows_staged:
                continue
            staged = staged_name(account.table)
            self.con.execute(
                f"""
                INSERT INTO quarantine
                SELECT s._load_id, s._source_file, s._source_row, s._return,
                       {sql_str(account.table)}, {sql_str("file refused: " + reason)},
                       {self._row_json("s", staged)}
                FROM {staged} s WHERE s._source_file = ?
                """,
                [source],
            )
            self.con.execute(f"DELETE FROM {staged} WHERE _source_file = ?", [source])
            account.rows_quarantined += account.rows_staged
            account.rows_staged = 0

    def _stage_group(
        self,
        group: list[CsvFile],
        header: list[str],
        table: TableSpec,
        file_reason: str | None,
        by_source: dict[str, FileAccount],
        checks: RowChecks,
    ) -> bool:
        """Read and split files sharing a header; False if a shared read of several failed."""
        try:
            raw = load_csv_files(self.con, group, header, "utf-8")
        except InputError as exc:
            if len(group) > 1:
                return False
            account = by_source[group[0].source]
            self.reject_unread(group[0].path, account, group[0].return_name, exc.problem)
            return True
        self._split(raw, table, file_reason, by_source, checks)
        drop_raw_files(self.con, raw)
        return True

    def _check_header(
        self, header: list[str], table: TableSpec, accounts: list[FileAccount]
    ) -> str | None:
        """A file-level reason if required columns are missing; notes undeclared columns."""
        declared = {f.source.lower() for f in table.fields}
        declared |= {c.source.lower() for f in table.fields for c in f.legacy if c.source}
        present = {h.lower() for h in header}
        missing = [
            f.source
            for f in table.fields
            if f.required
            and f.source.lower() not in present
            and not any(c.source and c.source.lower() in present for c in f.legacy)
        ]
        undeclared = [h for h in header if h.lower() not in declared]
        file_reason = f"required column(s) missing: {', '.join(missing)}" if missing else None
        for account in accounts:
            if file_reason:
                account.refuse(f"{account.source_file}: {file_reason}; every row quarantined")
            if undeclared:
                account.messages.append(
                    f"{account.source_file}: undeclared column(s) not staged: {', '.join(undeclared)}"
                )
        return file_reason

    def record_missing(self, source: str, table: TableSpec, required: bool) -> None:
        """A return lacks a table: fatal for a required table, noted for an optional one."""
        self.ensure_table(table)
        if required:
            account = FileAccount(source_file=source, table=table.name)
            account.refuse(
                f"{source}: required table {table.name} is missing from the return", "missing"
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
        checks: RowChecks | None = None,
    ) -> None:
        """Type every row, then append typed rows to staged_<table> and the rest, with their
        reasons and raw text, to quarantine; count both per source file.

        The typed rows are written once, in _ord order, into a table shaped like
        staged_<table> with _ord and _reason after it. Failing rows are quarantined and
        deleted from it; if staged_<table> is still empty, the typed table becomes it (a
        rename: no rows copied), otherwise its rows are appended in order."""
        typing = typed_select(table, raw.header, checks or self.checks)
        reason_expr = sql_str(file_reason) if file_reason else typing.reason_sql()
        cleaned = "".join(f", {c}" for c in typing.cleaned)
        typed_cols = "".join(f", {c.expr} AS {quote_ident(c.name)}" for c in typing.columns)
        kept_raw = "".join(f", {r}" for r in typing.raw_names)
        staged_cols = ", ".join(
            f"CAST({quote_ident(c.name)} AS {_sql_type_of(table, c.name)}) AS {quote_ident(c.name)}"
            for c in typing.columns
        )
        typed = f"{raw.name}_typed"
        legacy = "".join(f", {m} AS __legacy_{i}" for i, (_, m) in enumerate(typing.legacy))
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
                   _ord, {reason_expr} AS _reason, {typing.warning_sql()} AS _warning{legacy}
            FROM typed
            """
        # Rows must come out in _ord order. A scan of an ordered source through projections
        # keeps its order (DuckDB's order preservation), so the sort is needed only when the
        # source is not known to be ordered or the plan has anything else in it (a join).
        if not (raw.ordered and _keeps_order(self.con, select)):
            select = f"SELECT * FROM ({select}) ORDER BY _ord"
        self.con.execute(f"CREATE OR REPLACE TABLE {typed} AS {select}")
        self._flag_duplicates(typed, table)
        for i, (fld, _) in enumerate(typing.legacy):
            self._legacy_codings(typed, f"__legacy_{i}", fld, accounts)
        self.con.execute(
            f"""
            INSERT INTO row_warning
            SELECT _load_id, _source_file, _source_row, _return, {sql_str(table.name)}, w
            FROM (SELECT *, unnest(string_split(_warning, '; ')) AS w FROM {typed}
                  WHERE _reason IS NULL AND _warning IS NOT NULL)
            """
        )
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

    def _legacy_codings(
        self, typed: str, marker: str, fld: FieldSpec, accounts: dict[str, FileAccount]
    ) -> None:
        """A file holding a field in a legacy coding (docs/bad-input.md, "legacy coding"):
        within the coding's years, one note naming it and the rows read in it (each row is
        warned); past them, or mixed with values the two codings read differently, the file
        is refused whole once every file is read (`refusals`), naming both schema years."""
        found: dict[str, dict[int, tuple[int, int]]] = {}
        for source, k, staged, rows in self.con.execute(
            f"SELECT _source_file, {marker}, count(*) FILTER (WHERE _reason IS NULL), count(*) "
            f"FROM {typed} WHERE {marker} IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall():
            found.setdefault(source, {})[k] = (staged, rows)
        current = "/".join(mapping(fld.harmonise)) if fld.harmonise else "its own codes"
        for source, kinds in found.items():
            for k, (staged, rows) in kinds.items():
                if k == 0:
                    continue
                old = fld.legacy[k - 1]
                schema = f"the {old.looks_like} schema" if old.looks_like else "an earlier schema"
                expected = f"the {old.year} schema" if old.year else "this year's schema"
                if not old.accepted:
                    why = (
                        f"{fld.source} in a legacy coding ({old.note}) on {rows} row(s): the "
                        f"file looks like {schema}, but {expected} codes {fld.source} "
                        f"{current}, and that coding is accepted only until {old.until}"
                    )
                elif 0 in kinds:
                    why = (
                        f"{fld.source} mixes codings: a legacy coding ({old.note}) on {rows} "
                        f"row(s) as in {schema}, and {kinds[0][1]} row(s) whose value "
                        f"means something else in {expected} ({current}): which one each "
                        "row means cannot be told"
                    )
                else:
                    if source in accounts:
                        accounts[source].messages.append(
                            f"{source}: {fld.source} read in a legacy coding on {staged} "
                            f"row(s) ({old.note}; {expected} codes it {current}): harmonised "
                            f"and each row warned; accepted until {old.until}"
                        )
                    continue
                self.refusals.setdefault(source, f"{why}; refused whole")

    def _append_staged(self, typed: str, table: TableSpec) -> None:
        """Move a typed table's good rows (already in order) into staged_<table>."""
        staged = staged_name(table.name)
        self.con.execute(
            f"DELETE FROM {typed} WHERE _reason IS NOT NULL; "
            f"ALTER TABLE {typed} DROP COLUMN _reason; ALTER TABLE {typed} DROP COLUMN _ord; "
            f"ALTER TABLE {typed} DROP COLUMN _warning"
        )
        for column in [c for c in columns_of(self.con, typed) if c.startswith("__legacy_")]:
            self.con.execute(f"ALTER TABLE {typed} DROP COLUMN {column}")
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
        """A key that must be unique within a file (e.g. census 1520): the first copy by line
        is staged and each later copy quarantined, naming the key and the first copy's row.
        A later copy identical in every field is an exact duplicate; the first copy then
        loads with a warning saying where it was repeated."""
        columns = sorted(c for c in columns_of(self.con, typed) if not c.startswith("_"))
        fingerprint = (
            "md5(CAST(to_json(struct_pack("
            + ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns)
            + ")) AS VARCHAR))"
        )
        for group in table.unique:
            cols = ", ".join(quote_ident(c) for c in group)
            not_null = " AND ".join(f"{quote_ident(c)} IS NOT NULL" for c in group)
            sources = "/".join(table.field(c).source for c in group)
            later = f"""
                SELECT _ord, _source_file, _source_row, _return, first_row, first_ord,
                       fp = first_fp AS exact
                FROM (
                    SELECT _ord, _source_file, _source_row, _return, fp,
                           first_value(_source_row) OVER w AS first_row,
                           first_value(_ord) OVER w AS first_ord,
                           first_value(fp) OVER w AS first_fp,
                           row_number() OVER w AS n
                    FROM (
                        SELECT *, {fingerprint} AS fp FROM {typed}
                        WHERE _reason IS NULL AND {not_null}
                          AND (_source_file, {cols}) IN (
                              SELECT (_source_file, {cols}) FROM {typed}
                              WHERE _reason IS NULL AND {not_null}
                              GROUP BY _source_file, {cols} HAVING count(*) > 1)
                    )
                    WINDOW w AS (PARTITION BY _source_file, {cols} ORDER BY _source_row, _ord)
                ) WHERE n > 1
            """
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _later AS {later}")
            if scalar(self.con, "SELECT count(*) FROM _later") == 0:
                continue
            self.con.execute(
                f"""
                UPDATE {typed} AS t SET _reason = CASE WHEN d.exact
                    THEN {sql_str(sources + ": exact duplicate of row ")} || d.first_row
                         || ' (the first copy is staged)'
                    ELSE {sql_str(sources + ": duplicate within the file of row ")} || d.first_row
                         || ' with different values (the first copy is staged)' END
                FROM _later d WHERE t._ord = d._ord
                """
            )
            self.con.execute(
                f"""
                INSERT INTO row_warning
                SELECT _load_id, _source_file, _source_row, _return, {sql_str(table.name)},
                       CASE WHEN exact THEN {sql_str(sources + ": row repeated exactly at row(s) ")}
                            ELSE {sql_str(sources + ": repeated with different values at row(s) ")}
                       END || rows_at
                FROM (
                    SELECT t._load_id, t._source_file, t._source_row, t._return, d.exact,
                           string_agg(d._source_row::VARCHAR, ', ' ORDER BY d._source_row) AS rows_at
                    FROM _later d JOIN {typed} t ON t._ord = d.first_ord
                    GROUP BY ALL
                )
                """
            )
            # Two pupils under one UPN (census error 1520): which one owns it cannot be
            # known, so the staged first copy keeps its UPN but may not link by it.
            for name in group:
                if table.field(name).type == "upn":
                    status = quote_ident(f"{name}_status")
                    self.con.execute(
                        f"UPDATE {typed} SET {status} = 'duplicate' WHERE _ord IN "
                        "(SELECT first_ord FROM _later WHERE NOT exact)"
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
