"""Formula injection: no CSV we write for people hands a spreadsheet a formula.

A spreadsheet opening a CSV runs any cell that begins like a formula, so a value such as
`=HYPERLINK(...)` or `-2+3+cmd|'/c calc'!A0` typed into a return by anyone upstream would
run on the recipient's machine. The rule (OWASP, "CSV Injection"): a text cell that begins
with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a single quote `'` in
front of it, which spreadsheets read as "this is text" and do not show. Nothing else about
the value changes, and every other cell is written exactly as before.

What is text and what is a number (decided here, once, for every writer):

- Every cell of a text column is text, whatever it looks like: a text code "-1" is written
  `'-1` (it stays the text it was in the warehouse, rather than becoming a number).
  Header cells are text.
- Numbers written as numbers are not text and are never changed: a numeric column (a DuckDB
  or Arrow integer, decimal or floating type, a pandas numeric dtype, a Python int or float)
  keeps its sign, so a Progress 8 score of -0.42 stays the number -0.42 a spreadsheet reads
  as a number. A number's text is only a sign, digits, a point, an exponent, or inf/nan: it
  can name no function and no cell, so it cannot run anything.
- Booleans, dates and timestamps are written in fixed formats that begin with a digit or a
  letter, so they are left as they are too. Any other type is cast to text and neutralised.

A carriage return or line feed inside a value must stay inside its (quoted) cell, or the
text after it would open a new row with a cell nobody neutralised: DuckDB's CSV writer and
the csv module with CRLF line ends (`SafeWriter`, `write_frame`) quote such cells.

Two forms of the one rule: `sql_cell`/`safe_select` for DuckDB's `COPY ... (FORMAT csv)`
(a CASE over the text columns), and `neutralise`/`write_frame`/`SafeWriter` for pandas and
the csv module. Writers that use it: governance/extract.py (row extracts through
DuckDB, aggregate extracts through pandas) and `npd quarantine --csv` (npd/cli.py).

Deliberately not applied: warehouse/bulk.py's COPY streams (a machine-to-machine COPY into
and out of PostgreSQL: a quote there would change the data loaded, and no person opens it),
and synth/'s landing files (they stand for the returns LAs send, hostile values included:
they must reach the pipeline exactly as written).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from core.duck import quote_ident, sql_str

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# The characters that make a spreadsheet read a cell as a formula (or, tab and carriage
# return, hide one after them).
DANGEROUS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"

# DuckDB types written as they are (see the module docstring): numbers, booleans, dates
# and times. Compared with the type name up to any "(" (DECIMAL(18,3)) or " " (TIMESTAMP
# WITH TIME ZONE).
_PLAIN_TYPES = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
        "FLOAT",
        "DOUBLE",
        "DECIMAL",
        "BOOLEAN",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "TIMESTAMP_S",
        "TIMESTAMP_MS",
        "TIMESTAMP_NS",
    }
)


def dangerous(text: str) -> bool:
    """Would a spreadsheet read this text cell as (or as hiding) a formula?"""
    return text.startswith(DANGEROUS)


def neutralise(text: str) -> str:
    """The text as it may be written to a CSV for people (a quote in front if dangerous)."""
    return QUOTE + text if dangerous(text) else text


def cell(value: Any) -> Any:
    """A cell for the csv module: text neutralised; numbers, None and the rest as they are."""
    return neutralise(value) if isinstance(value, str) else value


class SafeWriter:
    """csv.writer whose text cells (header included) are neutralised on the way out, with
    CRLF line ends (so a cell holding a CR is quoted). Open the file with newline=""."""

    def __init__(self, fh, **kwargs: Any) -> None:
        self._writer = csv.writer(fh, **{**kwargs, "lineterminator": "\r\n"})

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def neutralise_frame(frame: pd.DataFrame, numeric: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of the frame fit for `to_csv`: the header and every text cell neutralised.

    Columns of a numeric or boolean dtype, and those named in `numeric` (numbers already
    turned into their text, e.g. for a disclosure-control label beside them), are numbers
    written as numbers and stay as they are."""
    import pandas as pd

    keep = set(numeric)
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if name in keep or pd.api.types.is_numeric_dtype(column) or column.dtype == bool:
            continue
        out[name] = column.map(cell, na_action="ignore")
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def write_frame(frame: pd.DataFrame, path, numeric: Iterable[str] = ()) -> None:
    """Write the frame as a CSV for people (no index): neutralised (`neutralise_frame`) and
    with CRLF line ends, so that the csv module quotes every cell holding a carriage return
    (with bare LF line ends it would not, and a spreadsheet would start a new row, and a new
    first cell, at the CR inside a value)."""
    neutralise_frame(frame, numeric).to_csv(path, index=False, lineterminator="\r\n")


def sql_cell(expr: str) -> str:
    """SQL (DuckDB and PostgreSQL) for a text expression neutralised; NULL stays NULL."""
    starts = ", ".join(
        "chr(9)" if c == "\t" else "chr(13)" if c == "\r" else sql_str(c) for c in DANGEROUS
    )
    return (
        f"CASE WHEN left({expr}, 1) IN ({starts}) THEN {sql_str(QUOTE)} || {expr} ELSE {expr} END"
    )


def is_plain(duckdb_type: str) -> bool:
    """Is a column of this DuckDB type written as it is (a number, boolean, date or time)?"""
    base = duckdb_type.upper().split("(", 1)[0].strip()
    return base in _PLAIN_TYPES or base.startswith("TIMESTAMP")


def safe_select(con: duckdb.DuckDBPyConnection, query: str, order: bool = True) -> str:
    """A SELECT over `query` whose every text column, and every column name, is neutralised,
    for `COPY (...) TO ... (FORMAT csv, HEADER true)`. Columns of the types `is_plain`
    accepts pass through; any other type is cast to VARCHAR and neutralised. With `order`,
    rows are ordered by every column in turn (as written), so the file is deterministic."""
    described: Sequence[tuple] = con.execute(f"DESCRIBE {query}").fetchall()
    parts = []
    for name, kind, *_ in described:
        source = f"q.{quote_ident(name)}"
        expr = source if is_plain(kind) else sql_cell(f"CAST({source} AS VARCHAR)")
        parts.append(f"{expr} AS {quote_ident(neutralise(name))}")
    by = ", ".join(str(i + 1) for i in range(len(parts)))
    return f"SELECT {', '.join(parts)} FROM ({query}) q" + (f" ORDER BY {by}" if order else "")
