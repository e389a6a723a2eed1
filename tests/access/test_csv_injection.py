"""Formula injection (issue 13, item 9): no CSV we write for people carries a text value
starting with `=`, `+`, `-`, `@`, tab or CR unneutralised, and nothing else changes.

Extracts run on an embedded DuckDB warehouse holding a KS4 results table shaped as the
catalogue says, whose text values begin with each dangerous character and whose Progress 8
scores are negative numbers; the quarantine export runs on a staged quarantine file whose
file names and reasons begin with them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from core.config import Settings
from core.partition import Partition
from governance import csv_safe
from governance.disclosure import DisclosurePolicy
from governance.extract import ExtractRequest, extract
from warehouse.engine import ensure_schema, open_engine
from warehouse.load import append
from warehouse_schema.catalogue import load_catalogue

DANGEROUS = ["=", "+", "-", "@", "\t", "\r"]
PAYLOADS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
# Text that is safe as it is; a CR or LF inside a value must keep the rest in its cell.
SAFE = ["F", "'=already quoted", " =leading space is text", "", "x\r=1+1", "y\n@SUM(1)"]
KS4 = "research.ks4_result"
TEXT_COLUMNS = ["laestab", "urn", "sex", "link_method", "load_id"]


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _expected(value: str) -> str:
    return "'" + value if value[:1] in DANGEROUS else value


# ---- the rule itself ----------------------------------------------------------------------


@pytest.mark.parametrize("char", DANGEROUS)
def test_each_dangerous_first_character_gets_a_quote_and_nothing_else_changes(char: str) -> None:
    assert csv_safe.neutralise(char + "x") == "'" + char + "x"
    assert csv_safe.neutralise("x" + char) == "x" + char  # only the first character counts
    with duckdb.connect() as con:
        sql = csv_safe.sql_cell("v")
        got = con.execute(f"SELECT {sql} FROM (SELECT ? AS v)", [char + "x"]).fetchone()[0]
    assert got == "'" + char + "x"


@pytest.mark.parametrize("value", ["F", "", "'=x", " =x", "x=1", "é", None])
def test_safe_text_and_nulls_are_untouched_in_both_forms(value: str | None) -> None:
    assert csv_safe.cell(value) == value
    with duckdb.connect() as con:
        sql = csv_safe.sql_cell("v")
        got = con.execute(f"SELECT {sql} FROM (SELECT CAST(? AS VARCHAR) AS v)", [value])
        assert got.fetchone()[0] == value


def test_numbers_stay_numbers_and_headers_are_text() -> None:
    with duckdb.connect() as con:
        con.execute(
            'CREATE TABLE t ("=name" VARCHAR, score DOUBLE, n INTEGER, d DATE, b BOOLEAN, '
            "iv INTERVAL)"
        )
        con.execute(
            "INSERT INTO t VALUES ('-x', -0.42, -3, DATE '2024-09-01', true, INTERVAL '-1 day')"
        )
        out = io.StringIO(
            con.sql(csv_safe.safe_select(con, "SELECT * FROM t")).to_df().to_csv(index=False)
        )
    header, row = list(csv.reader(out))
    assert header == ["'=name", "score", "n", "d", "b", "iv"]
    assert row[:5] == ["'-x", "-0.42", "-3", "2024-09-01", "True"]
    assert row[5].startswith("'-")  # not a number, date or boolean: text, neutralised

    frame = pd.DataFrame(
        {"@who": ["=a", "b", None], "score": [-1.5, 2.0, None], "code": ["-1", "-2", "3"]}
    )
    safe = csv_safe.neutralise_frame(frame, numeric=["code"])
    assert list(safe.columns) == ["'@who", "score", "code"]
    assert safe["'@who"].tolist()[:2] == ["'=a", "b"] and pd.isna(safe["'@who"].iloc[2])
    assert safe["score"].tolist()[:2] == [-1.5, 2.0]
    assert safe["code"].tolist() == ["-1", "-2", "3"]
    assert list(frame.columns) == ["@who", "score", "code"]  # the caller's frame is untouched

    buffer = io.StringIO()
    csv_safe.SafeWriter(buffer).writerows([["+h", "n"], ["-x", -7], ["ok", 0.5]])
    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [
        ["'+h", "n"],
        ["'-x", "-7"],
        ["ok", "0.5"],
    ]


# ---- extracts -----------------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, pa.Table]:
    """An embedded warehouse with a KS4 results table whose text begins dangerously."""
    monkeypatch.setenv("NPD_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", "5e" * 32)
    for var in ("NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL", "NPD_LANDING_DIR"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings.from_env()
    settings.ensure_dirs()
    table = load_catalogue().table(KS4)
    values = PAYLOADS + SAFE
    rows = []
    for i, value in enumerate(values):
        rows.append(
            {
                "pupil_pseudonym": f"{i:064x}",
                "link_method": value,
                "academic_year": "2024/25",
                "la_code": -5 if i % 2 else 330,  # a negative number in a numeric column
                "laestab": value,
                "urn": values[-1 - i],
                "sex": value,
                "p8_score": -0.25 * (i + 1),
                "att8": 40.5 + i,
                "load_id": value,
            }
        )
    data = pa.Table.from_pylist(rows, schema=table.arrow_schema())
    for url, store in ((settings.warehouse_url, "warehouse"), (settings.identity_url, "identity")):
        with open_engine(url) as engine, engine.begin() as conn:
            ensure_schema(conn, store)
            if store == "warehouse":
                append(conn, table, data)
    return settings, data


def _request(**kw) -> ExtractRequest:
    base = {"recipient": "Spreadsheet User", "purpose": "research", "tier": 4}
    return ExtractRequest(**{**base, "destroy_by": dt.date.today() + dt.timedelta(days=30), **kw})


def test_a_row_extract_neutralises_every_dangerous_text_cell_and_nothing_else(
    warehouse: tuple[Settings, pa.Table],
) -> None:
    settings, data = warehouse
    columns = [*TEXT_COLUMNS, "la_code", "p8_score", "att8"]
    out = extract(_request(columns=tuple(f"ks4_result.{c}" for c in columns)), settings)
    header, *rows = _read_csv(out.folder / "ks4_result.csv")
    assert header == columns
    assert len(rows) == data.num_rows == out.row_count
    written = {tuple(r) for r in rows}
    expected = set()
    for r in data.to_pylist():
        text = [_expected(r[c]) for c in TEXT_COLUMNS]
        numbers = [str(r["la_code"]), repr(r["p8_score"]), repr(r["att8"])]
        expected.add((*text, *numbers))
    assert written == expected
    # every payload arrived neutralised, every negative number as a number
    cells = [c for r in rows for c in r[: len(TEXT_COLUMNS)]]
    assert not [c for c in cells if c[:1] in DANGEROUS]
    assert {r[columns.index("la_code")] for r in rows} == {"330", "-5"}
    assert all(float(r[columns.index("p8_score")]) < 0 for r in rows)
    # the register's checksum is of the file as written
    assert out.entry["files"].startswith("ks4_result.csv:")


def test_an_aggregate_extract_neutralises_text_dimensions_but_not_numeric_ones(
    warehouse: tuple[Settings, pa.Table],
) -> None:
    settings, data = warehouse
    out = extract(
        _request(
            purpose="official_statistics",
            aggregate_by=("ks4_result.sex", "ks4_result.la_code"),
            policy=DisclosurePolicy(threshold=1),  # nothing small to hide in 12 rows
        ),
        settings,
    )
    header, *rows = _read_csv(out.folder / "ks4_result_counts.csv")
    assert header == ["sex", "la_code", "children"]
    cells = {(sex, la): n for sex, la, n in rows}
    for r in data.to_pylist():
        assert cells[(_expected(r["sex"]), str(r["la_code"]))] == "1"
    assert not [sex for sex, _, _ in rows if sex[:1] in DANGEROUS]
    assert {la for _, la, _ in rows} == {"330", "-5", "Total"}
    assert cells[("Total", "Total")] == str(data.num_rows)


# ---- the quarantine export ----------------------------------------------------------------


def test_the_quarantine_export_is_neutralised_and_never_carries_raw_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from npd.cli import app

    monkeypatch.setenv("NPD_HOME", str(tmp_path / "var"))
    monkeypatch.delenv("NPD_LANDING_DIR", raising=False)
    settings = Settings.from_env()
    partition = Partition.of("school_census", "2024/25", "autumn")
    folder = partition.staging_dir(settings)
    folder.mkdir(parents=True)
    raw = "A123456789012,Smith,Alice,2014-05-01"  # what a raw row holds: identifiers
    quarantined = pa.table(
        {
            "_load_id": ["L1"] * 4,
            "_source_file": [
                "2024-25/school_census/autumn/LA330/=cmd.csv",
                "2024-25/school_census/autumn/LA330/2024_autumn_pupilonroll.csv",
                "2024-25/school_census/autumn/LA330/2024_autumn_pupilonroll.csv",
                "2024-25/school_census/autumn/LA330/2024_autumn_pupilonroll.csv",
            ],
            "_source_row": pa.array([1, 2, 3, 4], pa.int64()),
            "_return": ["LA330"] * 4,
            "source_table": ["pupilonroll", "@table", "pupilonroll", "pupilonroll"],
            "reason": [
                '=HYPERLINK("http://evil.example") not a date',
                "+field: not a known code",
                "-1 is below the minimum\r=1+1",
                "upn: malformed identifier",
            ],
            "raw": [raw] * 4,
        }
    )
    import pyarrow.parquet as pq

    pq.write_table(quarantined, folder / "quarantine.parquet")
    target = tmp_path / "out" / "quarantine.csv"
    target.parent.mkdir()
    args = ["quarantine", "school_census", "--year", "2024/25", "--term", "autumn"]
    result = CliRunner().invoke(app, [*args, "--csv", str(target)])
    assert result.exit_code == 0, result.output
    assert "4 quarantined row(s) written" in result.output
    text = target.read_text(encoding="utf-8")
    assert "Smith" not in text and "A123456789012" not in text and "Smith" not in result.output
    assert _read_csv(target) == [
        ["file", "line", "table", "reason"],
        ["2024-25/school_census/autumn/LA330/2024_autumn_pupilonroll.csv", "2", "'@table",
         "'+field: not a known code"],
        ["2024-25/school_census/autumn/LA330/2024_autumn_pupilonroll.csv", "3", "pupilonroll",
         "'-1 is below the minimum\r=1+1"],
        ["2024-25/school_census/autumn/LA330/2024_autumn_pupilonroll.csv", "4", "pupilonroll",
         "upn: malformed identifier"],
        ["2024-25/school_census/autumn/LA330/=cmd.csv", "1", "pupilonroll",
         "'=HYPERLINK(\"http://evil.example\") not a date"],
    ]  # fmt: skip
    # A file name that is itself a formula (the file at the top of the landing folder)
    quarantined = quarantined.set_column(
        1, "_source_file", pa.array(["=cmd.csv", "-x.csv", "@y.csv", "\tz.csv"])
    )
    pq.write_table(quarantined, folder / "quarantine.parquet")
    result = CliRunner().invoke(app, [*args, "--csv", str(target)])
    assert result.exit_code == 0, result.output
    files = sorted(r[0] for r in _read_csv(target)[1:])
    assert files == sorted(["'=cmd.csv", "'-x.csv", "'@y.csv", "'\tz.csv"])
    # without --csv the reasons are printed as before, and no file is written
    target.unlink()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "malformed identifier" in result.output
    assert not target.exists()
