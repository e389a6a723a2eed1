"""Bad input: each case gets a message naming file, row and field; nothing is lost."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import numpy as np
import pytest

from core.config import Settings
from core.partition import Partition
from ingest.errors import InputError, PartitionBlocked
from ingest.stage import stage
from linkage.identifiers import make_upns
from pipeline import steps

PARTITION = Partition.of("school_census", "2024/25", "spring")
ROWS = 6


def _fixture_rows(shared_fixtures: Path) -> tuple[list[str], list[list[str]]]:
    with (shared_fixtures / "school_census" / "2025_spring_pupilonroll.csv").open(
        encoding="utf-8"
    ) as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [next(reader) for _ in range(ROWS)]
    upns = make_upns(np.full(ROWS, 202), np.full(ROWS, 2001), np.full(ROWS, 19), np.arange(ROWS))
    for row, upn in zip(rows, upns, strict=True):
        row[header.index("upn")] = str(upn)
        # The sample's former UPNs and ULNs are hashes: malformed identifiers quarantine a
        # row, so these rows (which test other defects) carry none.
        row[header.index("formerupn")] = ""
        row[header.index("uniquelearnernumber")] = ""
    return header, rows


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _return_file(settings: Settings) -> Path:
    return (
        settings.landing_dir
        / "2024-25"
        / "school_census"
        / "spring"
        / "LA202"
        / "2025_spring_pupilonroll.csv"
    )


def _quarantine(settings: Settings) -> list[tuple]:
    path = PARTITION.staging_dir(settings) / "quarantine.parquet"
    return duckdb.sql(
        f"SELECT _source_file, _source_row, reason, raw FROM '{path}' ORDER BY 2"
    ).fetchall()


def _account(report):
    (account,) = [f for f in report.files if f.table == "pupilonroll"]
    assert account.balanced, account
    return account


def test_a_period_with_no_landing_folder_names_the_folder(settings: Settings) -> None:
    with pytest.raises(InputError, match=r"2024-25/school_census/spring: no landing folder"):
        stage(settings, PARTITION)


def test_a_missing_required_table_blocks_the_partition(
    settings: Settings, shared_fixtures: Path
) -> None:
    folder = _return_file(settings).parent
    folder.mkdir(parents=True)
    (folder / "2025_spring_senneeds.csv").write_text(
        "pupilonrolltableid,sentype\n", encoding="utf-8"
    )
    report = stage(settings, PARTITION)
    assert report.blocking == [
        "2024-25/school_census/spring/LA202/<pupilonroll>: required table pupilonroll is missing from the return"
    ]
    with pytest.raises(PartitionBlocked, match="required table pupilonroll is missing"):
        steps.stage(PARTITION, settings)


def test_a_missing_required_column_rejects_the_file_and_keeps_every_row(
    settings, shared_fixtures
) -> None:
    header, rows = _fixture_rows(shared_fixtures)
    drop = header.index("dob")
    _write(
        _return_file(settings),
        [h for i, h in enumerate(header) if i != drop],
        [[v for i, v in enumerate(r) if i != drop] for r in rows],
    )
    report = stage(settings, PARTITION)
    account = _account(report)
    assert (account.status, account.rows_read, account.rows_quarantined) == ("rejected", ROWS, ROWS)
    assert any(
        "LA202/2025_spring_pupilonroll.csv: required column(s) missing: dob" in m
        for m in report.blocking
    )
    quarantined = _quarantine(settings)
    assert [q[1] for q in quarantined] == list(range(2, ROWS + 2))
    assert all(q[2] == "required column(s) missing: dob" for q in quarantined)


def test_an_undeclared_windows_1252_file_is_read_whole_with_a_note(
    settings, shared_fixtures
) -> None:
    """A spreadsheet export saved as Windows-1252: every row read correctly, never good rows
    quarantined one by one, and the account says how the file was read."""
    header, rows = _fixture_rows(shared_fixtures)
    path = _write(_return_file(settings), header, rows)
    data = path.read_bytes().replace(rows[2][header.index("surname")].encode(), b"M\xfcller", 1)
    path.write_bytes(data)
    account = _account(stage(settings, PARTITION))
    assert (account.status, account.rows_staged, account.rows_quarantined) == ("ok", ROWS, 0)
    byte = data.index(b"\xfc")
    assert account.messages == [
        f"{account.source_file}: not valid UTF-8 (byte {byte}): read as Windows-1252"
    ]
    staged = duckdb.sql(
        f"SELECT surname FROM '{PARTITION.staging_dir(settings)}/tables/pupilonroll.parquet' "
        "WHERE _source_row = 4"
    ).fetchall()
    assert staged == [("Müller",)]


def test_a_file_in_no_encoding_we_can_establish_is_refused_whole_with_rows_counted(
    settings, shared_fixtures
) -> None:
    """Bytes undefined even in Windows-1252: the file is refused whole, each of its rows
    counted and quarantined with the reason (never read as fewer rows)."""
    header, rows = _fixture_rows(shared_fixtures)
    path = _write(_return_file(settings), header, rows)
    path.write_bytes(path.read_bytes().replace(b"surname", b"s\x81rname", 1))
    report = stage(settings, PARTITION)
    account = _account(report)
    assert (account.status, account.rows_read, account.rows_quarantined) == ("rejected", ROWS, ROWS)
    assert "2025_spring_pupilonroll.csv: not valid UTF-8 (byte" in account.messages[0]
    assert "the encoding cannot be established; refused whole" in account.messages[0]
    assert [q[1] for q in _quarantine(settings)] == list(range(2, ROWS + 2))
    assert report.blocking


def test_a_malformed_date_names_row_and_field_and_withholds_the_value(
    settings, shared_fixtures
) -> None:
    header, rows = _fixture_rows(shared_fixtures)
    rows[1][header.index("dob")] = "31/02/2015"
    _write(_return_file(settings), header, rows)
    account = _account(stage(settings, PARTITION))
    assert account.rows_quarantined == 1
    ((_, line, reason, raw),) = _quarantine(settings)
    assert line == 3
    assert reason == "dob: not a date in the expected format (%Y-%b-%d %H:%M:%S) (value withheld)"
    assert "31/02/2015" in raw  # the raw text is kept, in restricted staging only


def test_a_malformed_code_is_quarantined_quoting_the_harmless_value(
    settings, shared_fixtures
) -> None:
    header, rows = _fixture_rows(shared_fixtures)
    rows[4][header.index("sex")] = "X"
    _write(_return_file(settings), header, rows)
    _account(stage(settings, PARTITION))
    ((_, line, reason, _),) = _quarantine(settings)
    assert (line, reason) == (6, "sex: not a known code (value X)")


def test_a_duplicate_upn_in_one_schools_return_quarantines_the_later_copy(
    settings, shared_fixtures
) -> None:
    header, rows = _fixture_rows(shared_fixtures)
    upn, school = header.index("upn"), header.index("NativeId")
    rows[3][school] = rows[1][school]
    rows[3][upn] = rows[1][upn]
    _write(_return_file(settings), header, rows)
    account = _account(stage(settings, PARTITION))
    assert (account.rows_staged, account.rows_quarantined) == (ROWS - 1, 1)
    reasons = {(q[1], q[2]) for q in _quarantine(settings)}
    expected = (
        "NativeId/upn: duplicate within the file of row 3 with different values "
        "(the first copy is staged)"
    )
    assert reasons == {(5, expected)}
    assert rows[1][upn] not in expected


def test_an_exact_duplicate_row_stages_once_with_a_warning(settings, shared_fixtures) -> None:
    header, rows = _fixture_rows(shared_fixtures)
    rows.append(list(rows[1]))  # line 8 repeats line 3 exactly
    _write(_return_file(settings), header, rows)
    account = _account(stage(settings, PARTITION))
    assert (account.rows_staged, account.rows_quarantined, account.rows_warned) == (ROWS, 1, 1)
    ((_, line, reason, _),) = _quarantine(settings)
    assert (line, reason) == (
        8,
        "pupilonrolltableid: exact duplicate of row 3 (the first copy is staged)",
    )
    warnings = duckdb.sql(
        f"SELECT _source_row, warning FROM '{PARTITION.staging_dir(settings)}/warnings.parquet'"
    ).fetchall()
    assert warnings == [(3, "pupilonrolltableid: row repeated exactly at row(s) 8")]


def test_a_row_with_too_few_fields_is_quarantined_with_its_raw_line(
    settings, shared_fixtures
) -> None:
    header, rows = _fixture_rows(shared_fixtures)
    path = _write(_return_file(settings), header, rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].rsplit(",", 3)[0]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    account = _account(stage(settings, PARTITION))
    assert (account.rows_staged, account.rows_quarantined) == (ROWS - 1, 1)
    ((_, line, reason, raw),) = _quarantine(settings)
    assert line == 3
    assert reason.startswith("too few fields: header has 44")
    assert raw == lines[2]
    staged_rows = duckdb.sql(
        f"SELECT _source_row FROM '{PARTITION.staging_dir(settings)}/tables/pupilonroll.parquet' ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in staged_rows] == [2, 4, 5, 6, 7]


def test_a_missing_required_value_is_quarantined_for_every_kind_of_field(
    settings, shared_fixtures
) -> None:
    header, rows = _fixture_rows(shared_fixtures)
    rows[1][header.index("sex")] = ""  # shows its value when wrong: there is none to show
    rows[3][header.index("dob")] = " "  # identifying: never shown
    _write(_return_file(settings), header, rows)
    account = _account(stage(settings, PARTITION))
    assert (account.rows_staged, account.rows_quarantined) == (ROWS - 2, 2)
    reasons = {(q[1], q[2]) for q in _quarantine(settings)}
    assert reasons == {(3, "sex: required value missing"), (5, "dob: required value missing")}


@pytest.mark.parametrize("rejected", [False, True], ids=["all-lines-parse", "rejected-lines"])
def test_staged_rows_keep_file_and_line_order_with_exact_lines_and_reruns_are_identical(
    settings, shared_fixtures, rejected
) -> None:
    """Several returns read in one pass, with rejected lines, bad values and duplicates:
    staged rows come out in (file, line) order without sorting, every row's line is exact,
    and a rerun writes the same tables."""
    header, template = _fixture_rows(shared_fixtures)
    n, returns = 4000, ["LA202", "LA204", "LA330"]
    pid, upn_col = header.index("pupilonrolltableid"), header.index("upn")
    upn_of, dob, sex = header.index("upn"), header.index("dob"), header.index("sex")
    lines_by_file: dict[str, list[str]] = {}
    for k, la in enumerate(returns):
        serial = np.arange(n) + k * n
        upns = make_upns(np.full(n, 202), 2001 + serial // 1000, np.full(n, 19), serial % 1000)
        rows = []
        for i in range(n):
            row = list(template[i % ROWS])
            row[pid], row[upn_col] = f"{la}-{i:06d}", str(upns[i])
            rows.append(row)
        rows[10][dob] = "not a date"  # line 12
        rows[2000][sex] = "X"  # line 2002
        rows[3000][upn_of], rows[3000][header.index("NativeId")] = (
            rows[2999][upn_of],
            rows[2999][header.index("NativeId")],
        )  # lines 3001 and 3002 duplicate each other
        path = _write(
            _return_file(settings).parent.parent / la / "2025_spring_pupilonroll.csv", header, rows
        )
        if rejected and k != 1:  # two of three files lose a field on two lines (rejected)
            text = path.read_text(encoding="utf-8").splitlines()
            for line in (5, 3500):
                text[line - 1] = text[line - 1].rsplit(",", 3)[0]
            path.write_text("\n".join(text) + "\n", encoding="utf-8")
        lines_by_file[la] = path.read_text(encoding="utf-8").splitlines()

    def staged() -> list[tuple]:
        return duckdb.sql(
            f"SELECT _source_file, _source_row, pupil_on_roll_id "
            f"FROM '{PARTITION.staging_dir(settings)}/tables/pupilonroll.parquet'"
        ).fetchall()

    report = stage(settings, PARTITION)
    first = staged()
    bad = {12, 2002, 3002}  # the later copy of a duplicate
    for k, la in enumerate(returns):
        lost = {5, 3500} if rejected and k != 1 else set()
        (account,) = [f for f in report.files if f.table == "pupilonroll" and la in f.source_file]
        assert account.balanced and account.rows_read == n
        assert account.rows_quarantined == len(bad) + len(lost)
        mine = [
            (line, p) for f, line, p in first if f.endswith(f"{la}/2025_spring_pupilonroll.csv")
        ]
        expected = [line for line in range(2, n + 2) if line not in bad | lost]
        assert [line for line, _ in mine] == expected  # in line order, each line exact
        for line, p in mine:  # the row staged for a line is the one written on it
            assert lines_by_file[la][line - 1].startswith(p + ",")
    assert [f for f, _, _ in first] == sorted(f for f, _, _ in first)  # returns in order
    quarantined = {(q[0].split("/")[-2], q[1]) for q in _quarantine(settings)}
    assert quarantined == {
        (la, line)
        for k, la in enumerate(returns)
        for line in bad | ({5, 3500} if rejected and k != 1 else set())
    }
    stage(settings, PARTITION)
    assert staged() == first


def test_returns_with_different_headers_are_staged_one_after_another_in_full(
    settings, shared_fixtures
) -> None:
    """Files that do not share a header are read separately; the second read appends to
    what the first staged (the first becomes the staged table, the next are inserted)."""
    header, rows = _fixture_rows(shared_fixtures)
    folder = _return_file(settings).parent.parent
    _write(folder / "LA202" / "2025_spring_pupilonroll.csv", header, rows)
    extra = [*header, "notinthespec"]
    others = [list(r) for r in rows]
    for i, r in enumerate(others):
        r[header.index("pupilonrolltableid")] = f"other-{i}"
    _write(folder / "LA204" / "2025_spring_pupilonroll.csv", extra, [[*r, "x"] for r in others])
    _write(folder / "LA330" / "2025_spring_pupilonroll.csv", header, rows[:2])
    report = stage(settings, PARTITION)
    accounts = {f.source_file.split("/")[-2]: f for f in report.files if f.table == "pupilonroll"}
    assert {k: (a.rows_read, a.rows_staged) for k, a in accounts.items()} == {
        "LA202": (ROWS, ROWS),
        "LA204": (ROWS, ROWS),
        "LA330": (2, 2),
    }
    assert any(
        "undeclared column(s) not staged: notinthespec" in m for m in accounts["LA204"].messages
    )
    staged = duckdb.sql(
        f"SELECT _return, _source_row, pupil_on_roll_id "
        f"FROM '{PARTITION.staging_dir(settings)}/tables/pupilonroll.parquet'"
    ).fetchall()
    ids = [r[header.index("pupilonrolltableid")] for r in rows]
    assert staged == [
        *[("LA202", i + 2, ids[i]) for i in range(ROWS)],
        *[("LA330", i + 2, ids[i]) for i in range(2)],
        *[("LA204", i + 2, f"other-{i}") for i in range(ROWS)],
    ]


def test_the_manifest_checksums_exactly_the_files_stage_reads(
    settings: Settings, shared_fixtures: Path, tmp_path: Path
) -> None:
    """A backfill decides "unchanged" from landing_inputs; it must name and hash the same
    files as stage, or a partition with an unused entry would load again on every run."""
    from pipeline.manifest import landing_inputs

    header, rows = _fixture_rows(shared_fixtures)
    pupils = _write(_return_file(settings), header, rows)
    folder = pupils.parent
    (folder / "notes.txt").write_text("for the DfE\n")  # read as nothing, but hashed
    (folder.parent / "README.txt").write_text("beside the returns\n")  # never opened
    (folder / b"caf\xe9.csv".decode("utf-8", "surrogateescape")).write_bytes(b"a\n1\n")
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n")
    (folder / "link.csv").symlink_to(outside)

    inputs = landing_inputs(settings, PARTITION)
    report = stage(settings, PARTITION)
    assert inputs is not None
    assert inputs.checksums == report.inputs
    assert inputs.load_id == report.load_id
    assert sorted(report.inputs) == [
        "2024-25/school_census/spring/LA202/2025_spring_pupilonroll.csv",
        "2024-25/school_census/spring/LA202/notes.txt",
    ]
    unused = sorted(f.source_file for f in report.files if f.status == "unused")
    assert unused == [
        "2024-25/school_census/spring/LA202/caf\ufffd.csv",
        "2024-25/school_census/spring/LA202/link.csv",
        "2024-25/school_census/spring/LA202/notes.txt",
        "2024-25/school_census/spring/README.txt",
    ]
