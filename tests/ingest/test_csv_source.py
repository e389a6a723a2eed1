"""load_csv_files names every row, and every row the reader rejects, by the physical line on
which it starts, also when a quoted value holds a line break (one record over several lines)."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

import ingest.csv_source as csv_source
from ingest.csv_source import CsvFile, RawFiles, load_csv_files, record_starts
from ingest.sniff import sniff

HEADER = ["upn", "surname", "forename", "dob", "ethnicity", "classtype", "enrolstatus"]


def pupil(n: int, classtype: str = "S", ethnicity: str = "WBRI") -> str:
    return f"A20225881{n:04d},Smith,Pupil {n},2015-06-09,{ethnicity},{classtype},C"


def write(path: Path, lines: list[str], ending: str = "\n") -> Path:
    path.write_bytes(("\n".join([",".join(HEADER), *lines]) + "\n").replace("\n", ending).encode())
    return path


def read(con: duckdb.DuckDBPyConnection, *paths: Path, facts: bool = True) -> RawFiles:
    files = [
        CsvFile(p, p.name, f"LA{i}", sniff(p).newlines if facts else None)
        for i, p in enumerate(paths)
    ]
    return load_csv_files(con, files, HEADER)


def lines_by_upn(con: duckdb.DuckDBPyConnection, raw: RawFiles, source: str) -> dict[str, int]:
    return dict(
        con.execute(
            f"SELECT upn, _source_row FROM {raw.name} WHERE _source_file = ? ORDER BY _ord",
            [source],
        ).fetchall()
    )


def test_rows_after_quoted_line_breaks_are_named_by_the_line_they_start_on(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pupilonroll.csv",
        [
            pupil(1),  # line 2
            pupil(2, classtype='"Class\nA"'),  # lines 3-4
            pupil(3),  # line 5
            pupil(4, classtype='"Class\nB\n\nC"'),  # lines 6-9 (a blank line inside the value)
            pupil(5, ethnicity="ZZZZ"),  # line 10
            pupil(6),  # line 11
        ],
    )
    con = duckdb.connect()
    raw = read(con, path)
    assert lines_by_upn(con, raw, path.name) == {
        "A202258810001": 2,
        "A202258810002": 3,
        "A202258810003": 5,
        "A202258810004": 6,
        "A202258810005": 10,
        "A202258810006": 11,
    }
    assert raw.rows == {path.name: 6}
    assert raw.rows_read(path.name) == 6  # a record over several lines is one row
    assert con.execute(f"SELECT classtype FROM {raw.name} WHERE upn LIKE '%4'").fetchone() == (
        "Class\nB\n\nC",
    )


def test_a_rejected_row_after_a_multi_line_record_is_named_by_its_physical_line(
    tmp_path: Path,
) -> None:
    """DuckDB reports a rejected row by its record number (here 5: the header, two rows, the
    record over two lines); the quarantine must name the line a person finds it on (6)."""
    path = write(
        tmp_path / "pupilonroll.csv",
        [
            pupil(1),  # line 2
            pupil(2, classtype='"Class\nA"'),  # lines 3-4
            pupil(3),  # line 5
            pupil(4) + ",extra,extra",  # line 6: too many fields
            pupil(5),  # line 7
            pupil(6, classtype='"Class\nA"'),  # lines 8-9
            pupil(7) + ",extra",  # line 10: too many fields
            pupil(8),  # line 11
        ],
    )
    con = duckdb.connect()
    raw = read(con, path)
    rejects = raw.rejects[path.name]
    assert [r.line for r in rejects] == [6, 10]
    assert rejects[0].reason.startswith("too many fields")
    assert rejects[0].raw.startswith("A202258810004,")
    assert lines_by_upn(con, raw, path.name) == {
        "A202258810001": 2,
        "A202258810002": 3,
        "A202258810003": 5,
        "A202258810005": 7,
        "A202258810006": 8,
        "A202258810008": 11,
    }
    assert raw.rows_read(path.name) == 8


def test_two_files_in_one_read_only_one_with_line_breaks(tmp_path: Path) -> None:
    plain = write(
        tmp_path / "plain.csv",
        [pupil(1), pupil(2) + ",extra", pupil(3), pupil(4)],
    )
    broken = write(
        tmp_path / "broken.csv",
        [pupil(11), pupil(12, classtype='"Class\nA"'), pupil(13) + ",extra", pupil(14)],
    )
    for order in ((plain, broken), (broken, plain)):
        con = duckdb.connect()
        raw = read(con, *order)
        assert lines_by_upn(con, raw, "plain.csv") == {
            "A202258810001": 2,
            "A202258810003": 4,
            "A202258810004": 5,
        }
        assert [r.line for r in raw.rejects["plain.csv"]] == [3]
        assert lines_by_upn(con, raw, "broken.csv") == {
            "A202258810011": 2,
            "A202258810012": 3,
            "A202258810014": 6,
        }
        assert [r.line for r in raw.rejects["broken.csv"]] == [5]
        assert raw.rows == {"plain.csv": 3, "broken.csv": 3}


def test_a_file_of_one_line_per_record_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage's line count shows every record is one line: no second pass over the file."""
    path = write(tmp_path / "plain.csv", [pupil(1), pupil(2, classtype='"Class, A"'), pupil(3)])

    def no_second_pass(*args: object) -> None:
        raise AssertionError("a file of one line per record was read again")

    monkeypatch.setattr(csv_source, "record_starts", no_second_pass)
    con = duckdb.connect()
    raw = read(con, path)
    assert lines_by_upn(con, raw, path.name) == {
        "A202258810001": 2,
        "A202258810002": 3,
        "A202258810003": 4,
    }
    assert raw.ordered


def test_without_the_stage_line_count_the_reader_counts_lines_itself(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", [pupil(1), pupil(2, classtype='"Class\nA"'), pupil(3)])
    con = duckdb.connect()
    raw = read(con, path, facts=False)
    assert lines_by_upn(con, raw, path.name) == {
        "A202258810001": 2,
        "A202258810002": 3,
        "A202258810003": 5,
    }


def test_crlf_blank_lines_and_no_final_line_break(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    body = [pupil(1), "", pupil(2, classtype='"Class\nA"'), "", "", pupil(3) + ",x", pupil(4)]
    path.write_bytes(("\r\n".join([",".join(HEADER), *body])).encode())
    con = duckdb.connect()
    raw = read(con, path)
    assert lines_by_upn(con, raw, path.name) == {
        "A202258810001": 2,
        "A202258810002": 4,
        "A202258810004": 9,
    }
    assert [r.line for r in raw.rejects[path.name]] == [8]


def test_quotes_are_split_as_duckdb_splits_them(tmp_path: Path) -> None:
    """A quote opens a value at the start of a field or after one space; after two spaces or
    inside text it is text, so the line break after it ends the record."""
    path = write(
        tmp_path / "p.csv",
        [
            pupil(1, classtype=' "Class\nA"'),  # lines 2-3: one space, then a quoted value
            pupil(2, classtype='Cl"ass'),  # line 4: a quote inside text
            pupil(3, classtype='"Class ""A"""'),  # line 5: escaped quotes
            pupil(4, classtype='"Class" "\nA"'),  # lines 6-7: a quote after a closing one
            pupil(5),  # line 8
            ",".join(["A202258810006", "Smith", "Pupil", "2015", "WBRI", '  "Class', "C"]),
            pupil(7, classtype='x"'),  # line 10: the two quotes above are text
        ],
    )
    con = duckdb.connect()
    raw = read(con, path)
    assert lines_by_upn(con, raw, path.name) == {
        "A202258810001": 2,
        "A202258810002": 4,
        "A202258810003": 5,
        "A202258810004": 6,
        "A202258810005": 8,
        "A202258810006": 9,
        "A202258810007": 10,
    }


def test_lines_longer_than_a_read_piece(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_source, "PIECE", 3)
    path = write(
        tmp_path / "p.csv",
        [pupil(1), pupil(2, classtype='" "" ,\n,"'), pupil(3, classtype=' "\n "'), pupil(4)],
    )
    assert [s for s, _ in record_starts(path)] == [1, 2, 3, 5, 7]
    con = duckdb.connect()
    raw = read(con, path)
    assert list(lines_by_upn(con, raw, path.name).values()) == [2, 3, 5, 7]


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_random_files_against_the_lines_they_were_written_on(tmp_path: Path, ending: str) -> None:
    """Records of one to four lines, blank lines and rejected rows in random order: every
    row and every reject is named by the line it was written on."""
    rng = random.Random(13)
    values = ["S", '"Class\nA"', ' "Class\n\nB"', '"a ""quoted""\nvalue"', 'Cl"ass', "  x", ""]
    lines, expected, rejected, line_no = [], {}, {}, 2
    for n in range(1, 400):
        if rng.random() < 0.05:
            lines.append("")
            line_no += 1
        value = rng.choice(values)
        text = pupil(n, classtype=value)
        if rng.random() < 0.08:
            text += ",extra"
            rejected[line_no] = f"A20225881{n:04d}"
        else:
            expected[f"A20225881{n:04d}"] = line_no
        lines.append(text)
        line_no += text.count("\n") + 1
    path = write(tmp_path / "p.csv", lines, ending)
    con = duckdb.connect()
    raw = read(con, path)
    assert lines_by_upn(con, raw, path.name) == expected
    found = {r.line: r.raw.lstrip("\r\n").split(",")[0] for r in raw.rejects[path.name]}
    assert found == rejected
    assert raw.rows_read(path.name) == len(expected) + len(rejected)
