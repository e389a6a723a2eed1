"""Hostile, malformed and mis-encoded XML returns (CIN census, SSDA903 XML, ILR).

Each case starts from a real-shaped return written by the generator (a small synthetic
population, 2024/25) and breaks it the way a struggling LA's or provider's software, an
operator or an attacker would. Every case goes through the stage step and shows: no
exception escapes it, every file account balances (rows read = staged + quarantined, also
for files refused whole), the outcome the reader's policy (ingest/xml_source.py) promises,
and messages that name the file and element or field without quoting an identifier.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from core.config import Settings
from core.partition import Partition
from core.periods import AcademicYear
from ingest.errors import InputError
from ingest.spec import load_spec
from ingest.stage import stage
from ingest.xml_source import XmlReader, xml_layout
from tests.feeds.xml_helpers import (
    assert_quotes_no_identifier,
    every_account_balanced,
    land_bytes,
    messages,
    quarantine_rows,
    staged_text,
    warning_rows,
)

YEAR = AcademicYear(2024)
CIN = Partition("cin_census", YEAR)
ILR = Partition("ilr", YEAR)
CLA = Partition("ssda903", YEAR)
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
SECRET = "OUTSIDE-SECRET-7f3a9c"  # the content of a file outside the landing folder


@dataclass(frozen=True)
class Returns:
    """One generated return per XML feed (bytes), and where each was landed."""

    cin: bytes
    ilr: bytes
    ilr_folder: str
    ilr_name: str
    cla: bytes


@pytest.fixture(scope="module")
def returns(tmp_path_factory: pytest.TempPathFactory) -> Returns:
    from synth.generate import generate

    root = tmp_path_factory.mktemp("xml-hostile")
    generate(root / "landing", root / "truth", 1500, 7, [YEAR], las=[202, 330, 352, 908])
    landing = root / "landing" / YEAR.slug

    def biggest(feed: str, end: bytes) -> Path:
        return max((landing / feed).rglob("*.xml"), key=lambda p: p.read_bytes().count(end))

    cin, ilr = biggest("cin_census", b"</Child>"), biggest("ilr", b"</Learner>")
    cla = biggest("ssda903", b"</CHILD>")
    out = Returns(
        cin=cin.read_bytes(),
        ilr=ilr.read_bytes(),
        ilr_folder=ilr.parent.name,
        ilr_name=ilr.name,
        cla=cla.read_bytes(),
    )
    assert out.cin.startswith(DECLARATION) and out.cin.count(b"</Child>") >= 20
    assert out.ilr.count(b"</Learner>") >= 10 and out.cla.count(b"</CHILD>") >= 3
    return out


def _stage(settings: Settings, partition: Partition, data: bytes, r: Returns | None = None):
    if partition.feed == "ilr":
        assert r is not None
        land_bytes(settings, partition, r.ilr_folder, r.ilr_name, data)
    elif partition.feed == "ssda903":
        land_bytes(settings, partition, "LA908", "ssda903_2024-25_LA908.xml", data)
    else:
        land_bytes(settings, partition, "LA330", "cin_census_2024-25_LA330.xml", data)
    report = stage(settings, partition)  # no exception escapes, whatever the bytes
    every_account_balanced(report)
    return report


def _account(report, table: str):
    (account,) = [f for f in report.files if f.table == table]
    return account


def _counts(report, table: str) -> tuple[int, int, int]:
    a = _account(report, table)
    return a.rows_read, a.rows_staged, a.rows_quarantined


def _refused_whole(report, records: int, record_table: str = "child") -> None:
    """Every account of the file rejected, nothing staged, the records found all counted."""
    assert all(f.status == "rejected" and f.rows_staged == 0 for f in report.files)
    read, staged, quarantined = _counts(report, record_table)
    assert (read, staged, quarantined) == (records, 0, records)
    assert report.blocking


def _with_doctype(data: bytes, doctype: bytes) -> bytes:
    assert data.startswith(DECLARATION)
    return DECLARATION + doctype + b"\n" + data[len(DECLARATION) :]


# -- 2. hostile XML: XXE, DTDs, entity bombs, huge text, deep nesting --------------------------


@pytest.mark.parametrize(
    "kind", ["system-entity", "own-file-entity", "external-dtd", "parameter-entity"]
)
def test_no_external_entity_or_dtd_is_ever_resolved(
    settings: Settings, returns: Returns, tmp_path: Path, kind: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    (outside / "secret.dtd").write_text(f'<!ENTITY sec "{SECRET}-DTD">')
    (outside / "param.dtd").write_text(f'<!ENTITY sec "{SECRET}-PE">')
    doctype, ref = {
        "system-entity": (
            b'<!DOCTYPE Message [<!ENTITY sec SYSTEM "file:///etc/passwd">]>',
            b"&sec;",
        ),
        "own-file-entity": (
            f'<!DOCTYPE Message [<!ENTITY sec SYSTEM "file://{outside}/secret.txt">]>'.encode(),
            b"&sec;",
        ),
        "external-dtd": (
            f'<!DOCTYPE Message SYSTEM "file://{outside}/secret.dtd">'.encode(),
            b"&sec;",
        ),
        "parameter-entity": (
            f'<!DOCTYPE Message [<!ENTITY % p SYSTEM "file://{outside}/param.dtd"> %p;]>'.encode(),
            b"&sec;",
        ),
    }[kind]
    data = _with_doctype(returns.cin, doctype)
    data = data.replace(b"<Ethnicity>", b"<Ethnicity>" + ref, 3)  # referenced in three children
    report = _stage(settings, CIN, data)
    children = data.count(b"</Child>")
    _refused_whole(report, children)
    said = messages(report)
    assert all("refused whole: it declares a DTD (<!DOCTYPE>" in m for m in said if "refused" in m)
    assert any("cin_census_2024-25_LA330.xml: refused whole" in m for m in report.blocking)
    rows = quarantine_rows(settings, CIN)
    assert len([r for r in rows if r[0] == "child"]) == children
    assert all(r[2].startswith("file refused whole: it declares a DTD") for r in rows)
    # Nothing from outside the landing folder reaches quarantine, accounts or messages.
    text = staged_text(settings, CIN, report)
    assert SECRET not in text and "root:x:0:0" not in text and "/bin/" not in text
    for path in settings.home.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert SECRET.encode() not in blob and b"root:x:0:0" not in blob, path
    assert_quotes_no_identifier(report, rows, data)


def test_internal_entities_are_never_expanded_and_the_file_is_refused(
    settings: Settings, returns: Returns
) -> None:
    """Policy: any DOCTYPE refuses the file whole; its entities are left unexpanded, so the
    values they stand for are never read (nor staged, nor quarantined as text)."""
    data = _with_doctype(returns.cin, b'<!DOCTYPE Message [<!ENTITY eth "QQZZQQ">]>')
    data = data.replace(b"<Ethnicity>WBRI</Ethnicity>", b"<Ethnicity>&eth;</Ethnicity>")
    report = _stage(settings, CIN, data)
    _refused_whole(report, data.count(b"</Child>"))
    assert "1 entity declaration(s)" in report.blocking[0]
    assert "QQZZQQ" not in staged_text(settings, CIN, report)


def _billion_laughs() -> bytes:
    levels = [b'<!ENTITY lol0 "lol">'] + [
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    ]
    return b"<!DOCTYPE Message [" + b"".join(levels) + b"]>"


def _quadratic() -> bytes:
    return b'<!DOCTYPE Message [<!ENTITY big "' + b"x" * 50_000 + b'">]>'


@pytest.mark.parametrize("bomb", ["billion-laughs", "quadratic-blowup"])
def test_entity_bombs_are_survived_and_the_file_refused_whole(
    settings: Settings, returns: Returns, bomb: str
) -> None:
    if bomb == "billion-laughs":
        data = _with_doctype(returns.cin, _billion_laughs())
        data = data.replace(b"<Ethnicity>", b"<Ethnicity>&lol9;", 1)
    else:  # 50,000 references to a 50 kB entity: 2.5 GB if ever expanded
        data = _with_doctype(returns.cin, _quadratic())
        data = data.replace(b"<Ethnicity>", b"<Ethnicity>" + b"&big;" * 50_000, 1)
    report = _stage(settings, CIN, data)
    assert all(f.status == "rejected" and f.rows_staged == 0 for f in report.files)
    read, staged, quarantined = _counts(report, "child")
    assert staged == 0 and read == quarantined >= 1  # the records found, all quarantined
    (first, *_) = report.blocking
    assert "refused whole: it declares a DTD (<!DOCTYPE>" in first
    if bomb == "billion-laughs":  # libxml2's amplification cap stops the parser: said so
        assert "also an entity expansion over the parser's limit (an entity bomb)" in first


def test_entity_bombs_and_oversized_records_are_read_in_bounded_memory(
    returns: Returns, tmp_path: Path
) -> None:
    """A fresh process reads each hostile file with the streaming reader: its peak memory
    stays far below what expanding or holding the file would take."""
    files = {
        "billion-laughs": _with_doctype(returns.cin, _billion_laughs()).replace(
            b"<Ethnicity>", b"<Ethnicity>&lol9;", 1
        ),
        "quadratic": _with_doctype(returns.cin, _quadratic()).replace(
            b"<Ethnicity>", b"<Ethnicity>" + b"&big;" * 50_000, 1
        ),
        # one Child holding 40 MB of elements: refused once 16 MB pass without a record end
        "wide-record": returns.cin.replace(
            b"<Disability>NONE</Disability>", b"<Disability>NONE</Disability>" * 1_400_000, 1
        ),
    }
    for name, data in files.items():
        (tmp_path / f"{name}.xml").write_bytes(data)
    script = textwrap.dedent(
        f"""
        import json, resource, sys
        from pathlib import Path
        from ingest.spec import load_spec
        from ingest.xml_source import XmlReader, xml_layout
        layout = xml_layout(load_spec("cin_census").for_year("{YEAR.label}"), "{YEAR.label}")
        out = {{}}
        for path in sorted(Path(sys.argv[1]).glob("*.xml")):
            reader = XmlReader(path, path.name, layout)
            rows = sum(b.num_rows for _, b in reader.batches())
            out[path.stem] = [reader.refusal[0] if reader.refusal else None, rows]
        # this process's own high-water mark (ru_maxrss would keep the parent's across exec)
        status = Path("/proc/self/status")
        hwm = [l for l in status.read_text().splitlines() if l.startswith("VmHWM:")] if status.exists() else []
        kb = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_mb"] = kb // 1024
        print(json.dumps(out))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["billion-laughs"][0] == "it declares a DTD"
    assert got["quadratic"][0] == "it declares a DTD"
    assert got["wide-record"][0] == "over 16 MB of XML without a record ending"
    assert got["peak_mb"] < 400, got  # the 40 MB record as a tree alone would pass 400 MB


@pytest.mark.parametrize("size", [5_000_000, 12_000_000])
def test_a_text_node_of_many_megabytes(settings: Settings, returns: Returns, size: int) -> None:
    """Up to libxml2's 10,000,000-character limit the row is quarantined naming the field
    (raw text capped); past it the parser stops and the file is refused whole."""
    data = returns.cin.replace(b"<Ethnicity>", b"<Ethnicity>" + b"W" * size, 1)
    report = _stage(settings, CIN, data)
    children = data.count(b"</Child>")
    if size < 10_000_000:
        assert _counts(report, "child") == (children, children - 1, 1)
        (row,) = [r for r in quarantine_rows(settings, CIN) if r[0] == "child"]
        assert row[2] == "Ethnicity: text of 5,000,004 characters, over the reader's limit of 4,096"
        assert len(row[3]) < 4_096 and json.loads(row[3])["_element"] == "Children/Child[1]"
        assert report.blocking == []
    else:
        assert _account(report, "child").status == "rejected"
        assert "refused whole: a text node over 10,000,000 characters" in report.blocking[0]
        assert all(len(r[3] or "") <= 4_096 for r in quarantine_rows(settings, CIN))


def test_deep_nesting_is_refused_whole_and_shallow_unknown_nesting_loads_with_a_warning(
    settings: Settings, returns: Returns
) -> None:
    deep = returns.cin.replace(b"</Sex>", b"</Sex>" + b"<X>" * 300 + b"</X>" * 300, 1)
    report = _stage(settings, CIN, deep)
    assert "refused whole: elements nested more than 256 deep" in report.blocking[0]
    assert _account(report, "child").rows_staged == 0
    shallow = returns.cin.replace(
        b"</Sex>", b"</Sex>" + b"<X>" * 100 + b"<Colour>blue</Colour>" + b"</X>" * 100, 1
    )
    report = _stage(settings, CIN, shallow)
    children = shallow.count(b"</Child>")
    assert _counts(report, "child") == (children, children, 0) and report.blocking == []
    assert warning_rows(settings, CIN) == [
        ("child", 1, "Colour: undeclared element in <Child>, not staged")
    ]


# -- 3. truncated or malformed: kept before the fault only where the spec says so ---------------


def _cut_inside(data: bytes, record: bytes) -> bytes:
    return data[: data.index(record, len(data) // 2) + 40]


@pytest.mark.parametrize("feed", ["cin_census", "ilr", "ssda903"])
def test_a_truncated_return_keeps_records_only_where_the_spec_says(
    settings: Settings, returns: Returns, feed: str
) -> None:
    partition, data, record, table = {
        "cin_census": (CIN, returns.cin, b"<Child>", "child"),
        "ilr": (ILR, returns.ilr, b"<Learner>", "learner"),
        "ssda903": (CLA, returns.cla, b"<CHILD>", "header"),
    }[feed]
    cut = _cut_inside(data, record)
    complete = cut.count(record.replace(b"<", b"</"))
    assert load_spec(feed).raw["xml"].get("keep_before_fault", False) == (feed != "ssda903")
    report = _stage(settings, partition, cut, returns)
    rows = quarantine_rows(settings, partition)
    # one message, in every account the file refused whole holds (here header and episodes)
    (message,) = {m for m in report.blocking if "truncated or malformed XML" in m}
    if feed != "ssda903":  # keep_before_fault: true
        assert _counts(report, table) == (complete + 1, complete, 1)
        assert f"the {complete} complete record(s) before it were read and kept" in message
        assert "(the spec's xml.keep_before_fault)" in message
    else:  # the default: the file is refused whole, every record found counted and quarantined
        read, staged, quarantined = _counts(report, table)
        assert (read, staged, quarantined) == (complete + 1, 0, complete + 1)
        assert "refused whole: truncated or malformed XML (at line" in message
        assert f"the spec's xml.keep_before_fault is false, so none of its {complete}" in message
        assert all(r[2].startswith("file refused whole: truncated or malformed XML") for r in rows)
        assert sum(f.rows_staged for f in report.files) == 0
    tail = [r for r in rows if r[0] == table and r[3].lstrip().startswith(record.decode())]
    assert len(tail) == 1 and len(tail[0][3]) <= 4_096  # the broken remainder, raw and capped
    assert_quotes_no_identifier(report, rows, cut)


def test_a_malformed_ssda903_xml_return_is_refused_whole_with_the_line(
    settings: Settings, returns: Returns
) -> None:
    data = returns.cla.replace(b"</EPISODE>", b"</EPISOD>", 1)  # a mismatched end tag
    report = _stage(settings, CLA, data)
    assert sum(f.rows_staged for f in report.files) == 0
    assert all(f.status == "rejected" for f in report.files)
    assert "refused whole: truncated or malformed XML (at line" in report.blocking[0]
    assert "inside <CHILD> starting at line" in report.blocking[0]


# -- 4. unknown elements: the row loads, with a warning naming the element --------------------


def test_an_unknown_element_loads_the_row_with_a_warning_naming_it(
    settings: Settings, returns: Returns
) -> None:
    data = returns.cin.replace(b"</Sex>", b"</Sex><FavouriteColour>blue</FavouriteColour>", 2)
    report = _stage(settings, CIN, data)
    children = data.count(b"</Child>")
    assert _counts(report, "child") == (children, children, 0)
    assert _account(report, "child").rows_warned == 2
    assert warning_rows(settings, CIN) == [
        ("child", n, "FavouriteColour: undeclared element in <Child>, not staged") for n in (1, 2)
    ]
    assert report.warning_reasons == {
        "child: FavouriteColour: undeclared element in <Child>, not staged": 2
    }
    assert any(
        "undeclared element(s) in <Child> not staged: FavouriteColour (2)" in m
        for m in messages(report)
    )  # the per-file note too


def test_an_unknown_element_in_an_ilr_delivery_warns_on_that_delivery(
    settings: Settings, returns: Returns
) -> None:
    data = returns.ilr.replace(b"</AimType>", b"</AimType><Mystery>7</Mystery>", 1)
    report = _stage(settings, ILR, data, returns)
    assert report.blocking == [] and _account(report, "learning_delivery").rows_warned == 1
    assert warning_rows(settings, ILR) == [
        ("learning_delivery", 1, "Mystery: undeclared element in <LearningDelivery>, not staged")
    ]


# -- 5. header cross-checks: the period a return states must be the partition's ---------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            [
                (b"<Year>2025</Year>", b"<Year>2024</Year>"),
                (b"2025-03-31</Ref", b"2024-03-31</Ref"),
            ],
            "Year '2024' is the 2023/24 return's; ReferenceDate '2024-03-31' is the 2023/24 "
            "return's; this is the 2024/25 partition, which expects Year 2025, ReferenceDate "
            "2025-03-31",
        ),
        (
            [(b"2025-03-31</Ref", b"2025-07-21</Ref")],
            "ReferenceDate '2025-07-21' is no year's; this is the 2024/25 partition",
        ),
    ],
    ids=["last year's CIN census", "a reference date that is no census day"],
)
def test_a_cin_header_stating_another_period_refuses_the_file_naming_both_years(
    settings: Settings, returns: Returns, old, new
) -> None:
    data = returns.cin
    for a, b in old:
        data = data.replace(a, b, 1)
    report = _stage(settings, CIN, data)
    _refused_whole(report, data.count(b"</Child>"))
    assert f"refused whole: it states another period ({new}" in report.blocking[0]


def test_an_ilr_header_stating_another_year_refuses_the_file(
    settings: Settings, returns: Returns
) -> None:
    data = returns.ilr.replace(b"<Year>2425</Year>", b"<Year>2324</Year>", 1)
    report = _stage(settings, ILR, data, returns)
    _refused_whole(report, data.count(b"</Learner>"), "learner")
    assert (
        "refused whole: it states another period (Year '2324' is the 2023/24 return's; this is "
        "the 2024/25 partition, which expects Year 2425)" in report.blocking[0]
    )


def test_last_years_ilr_namespace_names_the_year_it_belongs_to(
    settings: Settings, returns: Returns
) -> None:
    data = returns.ilr.replace(b'xmlns="ESFA/ILR/2024-25"', b'xmlns="ESFA/ILR/2023-24"', 1)
    report = _stage(settings, ILR, data, returns)
    assert any(
        "has namespace 'ESFA/ILR/2023-24', expected 'ESFA/ILR/2024-25' for a 2024/25 ilr "
        "return (the 2023/24 schema's: a 2023/24 return)" in m
        for m in report.blocking
    )


def test_the_generated_headers_agree_with_their_partitions(
    settings: Settings, returns: Returns
) -> None:
    for partition, data in ((CIN, returns.cin), (ILR, returns.ilr), (CLA, returns.cla)):
        report = _stage(settings, partition, data, returns)
        assert report.blocking == [] and report.rows_quarantined == 0, partition.label


# -- 6. encodings -----------------------------------------------------------------------------


def _staged_tables(settings: Settings, partition: Partition) -> dict[str, list]:
    out = {}
    for path in sorted((partition.staging_dir(settings) / "tables").glob("*.parquet")):
        out[path.stem] = duckdb.sql(
            f"SELECT * EXCLUDE (_load_id, _source_file) FROM '{path}' ORDER BY ALL"
        ).fetchall()
    return out


@pytest.mark.parametrize(
    ("codec", "bom", "note"),
    [
        ("utf-16", True, "written in UTF-16 (with a byte order mark), not UTF-8: read as UTF-16"),
        ("utf-16-be", False, "written in UTF-16 (without a byte order mark)"),
        ("utf-8-sig", True, None),
        (
            "utf-8",
            False,
            "declares UTF-16 but its first bytes are ASCII, as in UTF-8: read as UTF-8",
        ),
    ],
    ids=["UTF-16 with BOM", "UTF-16 without BOM", "UTF-8 with BOM", "UTF-8 declared UTF-16"],
)
def test_a_utf16_or_bom_return_reads_as_its_utf8_twin(
    settings: Settings, returns: Returns, codec: str, bom: bool, note: str | None
) -> None:
    report = _stage(settings, CIN, returns.cin)
    expected = _staged_tables(settings, CIN)
    text = returns.cin.decode("utf-8")
    if codec.startswith("utf-16") or (note and "declares UTF-16" in note):
        text = text.replace('encoding="utf-8"', 'encoding="UTF-16"', 1)
    report = _stage(settings, CIN, text.encode(codec))
    assert report.blocking == [] and report.rows_quarantined == 0
    assert _staged_tables(settings, CIN) == expected
    if note:
        assert any(note in m for m in messages(report))


def _with_names(data: bytes, names: list[str], encoding: str) -> bytes:
    """The ILR return with its first learners' given names replaced (encoded as asked)."""
    given = iter(names)
    return re.sub(
        rb"<GivenNames>[^<]*</GivenNames>",
        lambda m: b"<GivenNames>" + next(given).encode(encoding) + b"</GivenNames>",
        data,
        count=len(names),
    )


def _forenames(settings: Settings) -> list[str]:
    path = ILR.staging_dir(settings) / "tables" / "learner.parquet"
    return [
        r[0] for r in duckdb.sql(f"SELECT forename FROM '{path}' ORDER BY _source_row").fetchall()
    ]


def test_undeclared_windows_1252_is_read_again_as_windows_1252_with_a_note(
    settings: Settings, returns: Returns
) -> None:
    names = ["Zoë", "José", "Chloé"]
    data = _with_names(returns.ilr, names, "cp1252")  # still declares utf-8
    report = _stage(settings, ILR, data, returns)
    assert report.blocking == [] and report.rows_quarantined == 0  # no row lost one by one
    assert _forenames(settings)[:3] == names
    assert any(
        "not valid UTF-8 (3 byte sequence(s)) and none of its text is: written in "
        "Windows-1252 without declaring it, and read as Windows-1252" in m
        for m in messages(report)
    )


def test_utf8_text_declared_latin_1_is_read_as_utf8_with_a_note(
    settings: Settings, returns: Returns
) -> None:
    data = _with_names(returns.ilr, ["Zoë", "Łucja"], "utf-8")
    data = data.replace(b'encoding="utf-8"', b'encoding="ISO-8859-1"', 1)
    report = _stage(settings, ILR, data, returns)
    assert report.blocking == [] and report.rows_quarantined == 0
    assert _forenames(settings)[:2] == ["Zoë", "Łucja"]
    assert any(
        "declares ISO-8859-1 but its text is valid UTF-8: read as UTF-8" in m
        for m in messages(report)
    )


def test_a_declared_windows_1252_return_is_read_as_declared(
    settings: Settings, returns: Returns
) -> None:
    data = _with_names(returns.ilr, ["Zoë"], "cp1252")
    data = data.replace(b'encoding="utf-8"', b'encoding="windows-1252"', 1)
    report = _stage(settings, ILR, data, returns)
    assert report.blocking == [] and _forenames(settings)[0] == "Zoë"
    assert any("read as Windows-1252, as it declares" in m for m in messages(report))


def test_an_unknown_declared_encoding_refuses_the_file_whole(
    settings: Settings, returns: Returns
) -> None:
    data = returns.cin.replace(b'encoding="utf-8"', b'encoding="x-klingon"', 1)
    report = _stage(settings, CIN, data)
    _refused_whole(report, data.count(b"</Child>"))
    assert (
        "refused whole: it declares an unknown encoding (encoding 'x-klingon'" in report.blocking[0]
    )


def test_nul_and_control_characters_quarantine_the_row_naming_the_field(
    settings: Settings, returns: Returns
) -> None:
    data = returns.cin.replace(b"<Ethnicity>", b"<Ethnicity>\x00", 1)  # a NUL byte
    second = data.index(b"<LAchildID>", data.index(b"</Child>")) + len(b"<LAchildID>")
    data = data[:second] + b"&#1;" + data[second:]  # a control character reference
    third = data.index(b"<Sex>", data.index(b"</Child>", second)) + len(b"<Sex>")
    data = data[:third] + b"\x1b" + data[third:]  # an escape byte
    report = _stage(settings, CIN, data)
    children = data.count(b"</Child>")
    assert _counts(report, "child") == (children, children - 3, 3)
    rows = [r for r in quarantine_rows(settings, CIN) if r[0] == "child"]
    control = "holds a NUL or control character (not allowed in XML text; replaced)"
    assert [(r[1], r[2]) for r in rows] == [
        (1, f"Ethnicity: {control}"),
        (2, f"LAchildID: {control}"),
        (3, f"Sex: {control}"),
    ]
    assert all("\x00" not in r[3] and "\x1b" not in r[3] for r in rows)
    assert any("3 NUL or control character(s) in the text" in m for m in messages(report))
    assert report.blocking == []
    assert_quotes_no_identifier(report, rows, data)


# -- 1. no crash: junk of every kind is refused naming the file --------------------------------


JUNK = {
    "empty": b"",
    "only a BOM": b"\xef\xbb\xbf",
    "whitespace": b"   \n\n",
    "binary": bytes(random.Random(5).randrange(256) for _ in range(4000)),
    "one bracket": b"<",
    "text": b"this is not xml",
    "unclosed root": b'<?xml version="1.0"?><Message>',
    "wrong root": b"<Children><Child/></Children>",
    "a PDF": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
    "zip": b"PK\x03\x04" + bytes(60),
    "NULs": b"\x00" * 300,
    "UTF-16 garbage": b"\xff\xfe" + bytes(range(256)),
}


@pytest.mark.parametrize("name", sorted(JUNK))
def test_junk_is_refused_naming_the_file_and_never_crashes(settings: Settings, name: str) -> None:
    report = _stage(settings, CIN, JUNK[name])
    child = _account(report, "child")
    # an empty file is not used (0 bytes) and the return's required tables are then missing
    expected = "missing" if name == "empty" else "rejected"
    assert child.status == expected and child.rows_staged == 0
    named = "<*.xml>" if name == "empty" else "cin_census_2024-25_LA330.xml"
    assert any(m.startswith(f"2024-25/cin_census/LA330/{named}") for m in report.blocking)
    if name == "empty":
        (unused,) = [f for f in report.files if f.status == "unused"]
        assert unused.messages == [
            "2024-25/cin_census/LA330/cin_census_2024-25_LA330.xml: not used: empty file (0 bytes)"
        ]


def test_the_reader_never_follows_a_link_nor_opens_a_fifo(returns: Returns, tmp_path: Path) -> None:
    real = tmp_path / "outside.xml"
    real.write_bytes(returns.cin)
    folder = tmp_path / "LA330"
    folder.mkdir()
    (folder / "link.xml").symlink_to(real)
    os.mkfifo(folder / "pipe.xml")
    layout = xml_layout(load_spec("cin_census").for_year(YEAR), YEAR)
    with pytest.raises(InputError, match=r"link\.xml: is a symbolic link: not followed"):
        list(XmlReader(folder / "link.xml", "link.xml", layout).batches())
    with pytest.raises(InputError, match=r"pipe\.xml: is not a regular file"):
        list(XmlReader(folder / "pipe.xml", "pipe.xml", layout).batches())


# -- mutations: whatever the damage, only InputError escapes the reader, and counts balance -----


def _read_all(data: bytes, path: Path) -> None:
    """Read mutated bytes with the reader alone: nothing but InputError may escape, and each
    table's rows read = rows yielded + rows rejected."""
    path.write_bytes(data)
    layout = xml_layout(load_spec("cin_census").for_year(YEAR), YEAR)
    reader = XmlReader(path, path.name, layout, batch_rows=7)
    yielded: dict[str, int] = {}
    try:
        for name, batch in reader.batches():
            yielded[name] = yielded.get(name, 0) + batch.num_rows
    except InputError:
        return
    if reader.reread is not None:
        return
    for name, read in reader.rows_read.items():
        rejected = len({r.line for r in reader.rejects[name]})
        assert read == yielded.get(name, 0) + rejected, (name, read, yielded, rejected)


@hyp_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["cut", "insert", "flip", "delete", "repeat"]),
            st.floats(0, 1),
            st.binary(min_size=1, max_size=12),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_returns_never_crash_the_reader(
    returns: Returns, tmp_path: Path, edits: list[tuple[str, float, bytes]]
) -> None:
    data = bytearray(returns.cin)
    for kind, where, blob in edits:
        at = int(where * len(data))
        if kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = blob
        elif kind == "flip" and data:
            data[min(at, len(data) - 1)] ^= blob[0] or 1
        elif kind == "delete":
            del data[at : at + len(blob)]
        else:
            data[at:at] = bytes(data[at : at + 64])
    _read_all(bytes(data), tmp_path / "mutated.xml")


def test_mutated_returns_stage_with_balanced_accounts(settings: Settings, returns: Returns) -> None:
    rng = random.Random(13)
    for _ in range(6):
        data = bytearray(returns.cin)
        for _ in range(3):
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
            else:
                del data[at : at + rng.randrange(1, 40)]
        report = _stage(settings, CIN, bytes(data))
        child = _account(report, "child")
        assert child.rows_read == child.rows_staged + child.rows_quarantined
