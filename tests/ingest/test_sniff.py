"""The one pass over each landing file: what it establishes, at block boundaries too."""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

import pytest

from ingest import sniff as sniffing
from ingest.sniff import normalised, sniff

TEXT = 'upn,surname\nA,Zoë\nB,"O\'Neil, Jr"\n'


def _file(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_plain_utf8_needs_nothing_and_hashes_like_sha256(tmp_path: Path) -> None:
    data = TEXT.encode()
    facts = sniff(_file(tmp_path, data))
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert (facts.encoding, facts.line_endings, facts.newlines, facts.quotes) == (
        "utf-8",
        "lf",
        3,
        2,
    )
    assert not (facts.needs_rewrite or facts.unbalanced_quotes or facts.control)


@pytest.mark.parametrize(
    ("codec", "bom", "expected"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, ("utf-16-le", True)),
        ("utf-16-be", codecs.BOM_UTF16_BE, ("utf-16-be", True)),
        ("utf-16-le", b"", ("utf-16-le", False)),
        ("utf-16-be", b"", ("utf-16-be", False)),
    ],
)
def test_utf16_is_recognised_and_rewritten_as_utf8(tmp_path, codec, bom, expected) -> None:
    path = _file(tmp_path, bom + TEXT.replace("\n", "\r\n").encode(codec))
    facts = sniff(path)
    assert (facts.encoding, facts.bom) == expected
    copy = normalised(path, facts, tmp_path / "out.csv")
    assert copy.read_bytes() == TEXT.encode()


def test_undeclared_windows_1252_is_read_as_such(tmp_path: Path) -> None:
    data = TEXT.encode("cp1252")
    facts = sniff(_file(tmp_path, data))
    assert (facts.encoding, facts.first_bad_byte) == ("cp1252", data.index(b"\xeb"))
    assert normalised(tmp_path / "f.csv", facts, tmp_path / "o.csv").read_text() == TEXT


def test_bytes_undefined_even_in_windows_1252_leave_the_encoding_unknown(tmp_path) -> None:
    facts = sniff(_file(tmp_path, b"a,b\n\x81,\x9d\n"))
    assert facts.encoding is None


def test_a_crlf_split_across_two_blocks_is_one_line_break(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sniffing, "BLOCK", 4)
    data = b"abc\r\ndef\r\ngh\r\n"  # the first CR ends block one, its LF starts block two
    facts = sniff(_file(tmp_path, data))
    assert (facts.line_endings, facts.newlines) == ("crlf", 3)


@pytest.mark.parametrize(
    ("data", "endings", "lines"),
    [(b"a\rb\rc\r", "cr", 3), (b"a\r\nb\nc\r", "mixed", 3), (b"abc", "none", 0)],
)
def test_line_endings_and_their_rewrite(tmp_path, data, endings, lines) -> None:
    path = _file(tmp_path, data)
    facts = sniff(path)
    assert (facts.line_endings, facts.newlines) == (endings, lines)
    if facts.needs_rewrite:
        assert b"\r" not in normalised(path, facts, tmp_path / "o.csv").read_bytes()


def test_an_odd_number_of_quotes_and_control_bytes_are_seen(tmp_path: Path) -> None:
    facts = sniff(_file(tmp_path, b'a,b\n"open,x\nc,d\x00\n'))
    assert facts.unbalanced_quotes and facts.control
    assert not sniff(_file(tmp_path, b"a,b\tc\n", "tab.csv")).control  # a tab is not one
