"""Bad input to the children's feeds: each case names file, element or row, and field;
what can be kept is kept, the rest is quarantined with its raw text, nothing is lost."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

from core.config import Settings
from core.partition import Partition
from ingest.errors import InputError, PartitionBlocked
from ingest.stage import stage
from pipeline import steps
from tests.feeds.children.conftest import cin_stating, land
from tests.feeds.xml_helpers import balanced_account, quarantine_rows

CIN_YEAR = "2022/23"  # fake_CIN_data.xml's dates run to July 2022
CIN_FILE = "fake_CIN_data.xml"


def _cin(settings: Settings, shared_fixtures: Path, data: bytes, name: str = CIN_FILE) -> Path:
    folder = land(settings, "cin_census", CIN_YEAR, 201)
    (folder / name).write_bytes(data)
    return folder / name


def _fixture(shared_fixtures: Path) -> bytes:
    """The published 332-child return, its Header stating the 2022/23 census (as published,
    its ReferenceDate 2022-07-21 is no year's, and the whole file would be refused for that:
    tests/feeds/children/test_children_fixtures.py), so each case sees only its own defect."""
    return cin_stating((shared_fixtures / "cin_census" / CIN_FILE).read_bytes(), CIN_YEAR)


_quarantine = quarantine_rows
_account = balanced_account


def test_truncated_xml_keeps_every_complete_child_and_blocks(
    settings: Settings, shared_fixtures: Path
) -> None:
    data = _fixture(shared_fixtures)
    cut = data.index(b"<Child>", len(data) // 2) + 40  # inside a child, half way through
    complete = data[:cut].count(b"</Child>")
    assert complete > 100
    _cin(settings, shared_fixtures, data[:cut])
    partition = Partition.of("cin_census", CIN_YEAR)
    report = stage(settings, partition)
    child = _account(report, "child")
    assert (child.rows_read, child.rows_staged, child.rows_quarantined) == (
        complete + 1,
        complete,
        1,
    )
    assert child.status == "rejected"
    (message,) = report.blocking
    assert (
        "2022-23/cin_census/LA201/fake_CIN_data.xml: truncated or malformed XML at line" in message
    )
    assert "inside <Child> starting at line" in message
    assert f"the {complete} complete record(s) before it were read" in message
    (row,) = [r for r in _quarantine(settings, partition) if r[0] == "child"]
    assert row[1] == complete + 1 and row[3].lstrip().startswith("<Child>")  # the broken tail


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            b"<Message>",
            b'<Message xmlns="urn:example:wrong">',
            "has namespace 'urn:example:wrong', expected '(none)'",
        ),
        (b"<Message>", b"<CINreturn>", "root element is <CINreturn>, expected <Message>"),
    ],
    ids=["wrong namespace", "wrong root element"],
)
def test_a_wrong_namespace_or_root_rejects_the_file_naming_it(
    settings: Settings, shared_fixtures: Path, old: bytes, new: bytes, problem: str
) -> None:
    data = _fixture(shared_fixtures).replace(old, new, 1)
    if new == b"<CINreturn>":
        data = data.replace(b"</Message>", b"</CINreturn>")
    _cin(settings, shared_fixtures, data)
    report = stage(settings, Partition.of("cin_census", CIN_YEAR))
    child = _account(report, "child")
    assert child.status == "rejected" and child.rows_read == 0
    assert any(problem in m and "fake_CIN_data.xml" in m for m in report.blocking)


def test_an_unknown_schema_year_names_the_spec(settings: Settings, shared_fixtures: Path) -> None:
    folder = land(settings, "cin_census", "2026/27", 201)
    (folder / CIN_FILE).write_bytes(_fixture(shared_fixtures))
    with pytest.raises(
        InputError, match=r"ingest/specs/cin_census.yml: unknown schema year 2026/27"
    ):
        stage(settings, Partition.of("cin_census", "2026/27"))


def test_mixed_encodings_quarantine_only_the_rows_holding_bad_bytes(
    settings: Settings, shared_fixtures: Path
) -> None:
    data = _fixture(shared_fixtures)
    first = data.index(b"<LAchildID>") + len(b"<LAchildID>")
    data = data[:first] + "Zoë".encode("latin-1") + data[first + 3 :]  # one latin-1 byte
    # and UTF-8 text elsewhere: the file mixes encodings (one latin-1 byte in a file with no
    # UTF-8 text is a Windows-1252 file, read whole as such: tests/badinput cin-encoding-cp1252)
    last = data.rindex(b"<LAchildID>") + len(b"<LAchildID>")
    data = data[:last] + "Zoë".encode() + data[last + 3 :]
    _cin(settings, shared_fixtures, data)
    partition = Partition.of("cin_census", CIN_YEAR)
    report = stage(settings, partition)
    child = _account(report, "child")
    assert (child.rows_read, child.rows_staged, child.rows_quarantined) == (332, 331, 1)
    notes = [m for f in report.files for m in f.messages]
    assert any("fake_CIN_data.xml: 1 byte sequence(s) are not valid UTF-8" in m for m in notes)
    rows = _quarantine(settings, partition)
    reasons = {(r[0], r[2]) for r in rows}
    assert (
        "child",
        "LAchildID: not valid UTF-8 (the file mixes encodings; bytes replaced)",
    ) in reasons
    assert all("Zo" not in r[2] for r in rows)  # the reason never quotes the value
    assert report.records == 331 and report.blocking == []


def test_a_repeated_element_and_the_later_copy_of_a_duplicate_lachildid_are_quarantined(
    settings: Settings, shared_fixtures: Path
) -> None:
    """A repeated <UPN> quarantines its child; of two children with one LAchildID (rule 8510)
    the first copy is staged and the later one quarantined, each taking its nested rows."""
    data = _fixture(shared_fixtures)
    data = data.replace(
        b"<UPN>A850728973744</UPN>", b"<UPN>A850728973744</UPN><UPN>A850728973744</UPN>", 1
    )
    data = data.replace(b"RND000750143123", b"RND000824303014", 1)  # children 2 and 3
    _cin(settings, shared_fixtures, data)
    partition = Partition.of("cin_census", CIN_YEAR)
    report = stage(settings, partition)
    child = _account(report, "child")
    assert (child.rows_read, child.rows_staged, child.rows_quarantined) == (332, 330, 2)
    rows = [  # beside the fake return's own dates after 31 March, quarantined too
        r[:3]
        for r in _quarantine(settings, partition)
        if r[0] in ("child", "cin_details") and "in the future" not in r[2]
    ]
    assert rows == [
        ("child", 1, "UPN: element repeats within one <Child>"),
        (
            "child",
            3,
            "LAchildID: duplicate within the file of row 2 with different values "
            "(the first copy is staged)",
        ),
        ("cin_details", 1, "<CINdetails> inside <Child> 1, which was quarantined"),
        ("cin_details", 4, "<CINdetails> inside <Child> 3, which was quarantined"),
        ("cin_details", 5, "<CINdetails> inside <Child> 3, which was quarantined"),
    ]
    staged = partition.staging_dir(settings) / "tables" / "child.parquet"
    assert duckdb.sql(
        f"SELECT _source_row FROM '{staged}' WHERE la_child_id = 'RND000824303014'"
    ).fetchall() == [(2,)]


def test_a_child_element_out_of_place_is_quarantined_whole(
    settings: Settings, shared_fixtures: Path
) -> None:
    stray = b"<Child><ChildIdentifiers><LAchildID>X1</LAchildID></ChildIdentifiers></Child>"
    data = _fixture(shared_fixtures).replace(b"</Children>", b"</Children>" + stray)
    _cin(settings, shared_fixtures, data)
    partition = Partition.of("cin_census", CIN_YEAR)
    report = stage(settings, partition)
    assert _account(report, "child").rows_quarantined == 1
    (row,) = [r for r in _quarantine(settings, partition) if r[0] == "child"]
    assert "<Child> at Message/Child" in row[2] and "expected at Message/Children/Child" in row[2]
    assert row[3].startswith("<Child>")


# -- SSDA903 ---------------------------------------------------------------------------------


def _rewrite(path: Path, keep) -> None:
    """Rewrite a CSV keeping the rows for which keep(row) is true (header always kept)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([rows[0], *[r for r in rows[1:] if keep(r)]])
    path.write_text(out.getvalue(), encoding="utf-8")


def _903(settings: Settings, shared_fixtures: Path) -> Path:
    return land(
        settings, "ssda903", "2017/18", 202, *sorted((shared_fixtures / "ssda903").glob("*.csv"))
    )


def test_a_required_ssda903_table_missing_blocks_and_says_which(
    settings: Settings, shared_fixtures: Path
) -> None:
    folder = _903(settings, shared_fixtures)
    (folder / "header.csv").unlink()
    report = stage(settings, Partition.of("ssda903", "2017/18"))
    assert report.blocking == [
        "2017-18/ssda903/LA202/<header>: required table header is missing from the return",
        "100.0% of episodes rows were quarantined (5050 of 5050; the limit is 5%), most for "
        "CHILD: no header row staged with this value in the return (5050 rows)",
    ]


def test_an_optional_ssda903_table_missing_still_loads(
    settings: Settings, shared_fixtures: Path
) -> None:
    folder = _903(settings, shared_fixtures)
    (folder / "oc3.csv").unlink()
    partition = Partition.of("ssda903", "2017/18")
    assert stage(settings, partition).blocking == []
    assert steps.validate(partition, settings)["success"]
    records = partition.staging_dir(settings) / "records.parquet"
    returned = duckdb.sql(f"SELECT DISTINCT tables_returned FROM '{records}'").fetchall()
    assert returned == [
        (
            "ad1,episodes,header,missing,oc2,placed_for_adoption,previous_permanence,reviews,sw_episodes,uasc",
        )
    ]


ORPHAN = (
    "CHILD: no header row staged with this value in the return "
    "(orphan row: its header row is missing or was quarantined)"
)


def test_a_child_in_episodes_with_no_header_row_is_quarantined_as_an_orphan(
    settings: Settings, shared_fixtures: Path
) -> None:
    """Every row of a child whose header row is missing (its 2 episodes, OC2, previous
    permanence and reviews rows) is an orphan: quarantined at staging, counted in its file's
    account, and the child is no record. The rest of the return loads."""
    folder = _903(settings, shared_fixtures)
    _rewrite(folder / "header.csv", lambda r: r[0] != "566910")  # a child with 2 episodes
    partition = Partition.of("ssda903", "2017/18")
    report = stage(settings, partition)
    accounts = {
        f.table: (f.rows_read, f.rows_staged, f.rows_quarantined)
        for f in report.files
        if f.table in ("header", "episodes", "oc2", "previous_permanence")
    }
    assert accounts == {
        "header": (2674, 2674, 0),
        "episodes": (5050, 5048, 2),
        "oc2": (2675, 2674, 1),
        "previous_permanence": (2675, 2674, 1),
    }
    rows = [r[:3] for r in _quarantine(settings, partition)]
    assert [r for r in rows if r[0] in accounts] == [
        ("episodes", 2, ORPHAN),
        ("episodes", 3, ORPHAN),
        ("oc2", 2, ORPHAN),
        ("previous_permanence", 2, ORPHAN),
    ]
    # its review of 30/08/2017 (its later ones fall after 31 March 2018, the reference day)
    assert ("reviews", 2, ORPHAN) in rows
    assert report.records == 2674 and report.blocking == []
    records = partition.staging_dir(settings) / "records.parquet"
    assert duckdb.sql(
        f"SELECT count(*) FROM '{records}' WHERE child_id = '566910' OR NOT header_present"
    ).fetchall() == [(0,)]
    assert steps.validate(partition, settings)["success"]


def test_many_children_with_no_header_row_block_the_partition(
    settings: Settings, shared_fixtures: Path
) -> None:
    folder = _903(settings, shared_fixtures)
    _rewrite(folder / "header.csv", lambda r: int(r[0]) % 10 != 0)  # a tenth of the header lost
    partition = Partition.of("ssda903", "2017/18")
    report = stage(settings, partition)
    episodes = _account(report, "episodes")
    lost = episodes.rows_quarantined
    assert 0.05 < lost / episodes.rows_read < 0.5  # a systemic share, far from every row
    assert report.blocking == [
        f"{lost / 5050:.1%} of episodes rows were quarantined ({lost} of 5050; the limit is 5%), "
        f"most for CHILD: no header row staged with this value in the return ({lost} rows)"
    ]
    with pytest.raises(PartitionBlocked, match=r"blocked at staging: .* of episodes rows were"):
        steps.stage(partition, settings)


def test_an_invalid_sex_code_is_quarantined_naming_the_field(
    settings: Settings, shared_fixtures: Path
) -> None:
    folder = _903(settings, shared_fixtures)
    text = (folder / "header.csv").read_text(encoding="utf-8")
    (folder / "header.csv").write_text(text.replace("566910,2,", "566910,7,", 1), encoding="utf-8")
    partition = Partition.of("ssda903", "2017/18")
    report = stage(settings, partition)
    header = _account(report, "header")
    assert (header.rows_read, header.rows_staged, header.rows_quarantined) == (2675, 2674, 1)
    (row,) = [r for r in _quarantine(settings, partition) if r[0] == "header"]
    assert row[1] == 2 and row[2] == "SEX: not a known code (value 7)"  # rule 101, line 2
    # the child's episodes follow its quarantined header row
    episodes = [r[:3] for r in _quarantine(settings, partition) if r[0] == "episodes"]
    assert episodes == [("episodes", 2, ORPHAN), ("episodes", 3, ORPHAN)]
