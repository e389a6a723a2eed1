"""One streaming pass over each landing file: its checksum and the facts that decide how to read it.

Stage hashes every input file anyway (the load id and manifest rest on the checksums), so
the same pass also learns, in bounded memory, what a reader must know before trusting the
file: its encoding (UTF-8, UTF-16 by BOM or by its NUL pattern, or undeclared Windows-1252),
its line endings (LF, CRLF, CR-only or mixed), whether its quotes balance, and whether any
value holds a NUL or other control byte. A file that needs it is rewritten once as UTF-8
with LF line endings (ingest.sniff.normalised) before the CSV reader sees it.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

BLOCK = 1 << 20
# NUL and other control bytes (not tab, LF, CR): deleting them is the fastest test for them.
_CONTROL = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20)) + b"\x7f"
# Windows-1252 leaves five bytes undefined: a file holding one is not Windows-1252 either.
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    encoding: str | None  # utf-8 | utf-16-le | utf-16-be | cp1252 | None (cannot be established)
    bom: bool = False
    newlines: int = 0  # line breaks (LF, CRLF or a lone CR each count once)
    line_endings: str = "lf"  # lf | crlf | cr | mixed | none
    quotes: int = 0  # double-quote characters
    control: bool = False  # a NUL or other control byte (not tab, LF, CR)
    first_bad_byte: int | None = None  # offset of the first byte not valid UTF-8

    @property
    def needs_rewrite(self) -> bool:
        """Must the CSV reader be given a UTF-8, LF copy instead of the file itself?"""
        return self.encoding not in ("utf-8", None) or self.line_endings in ("cr", "mixed")

    @property
    def unbalanced_quotes(self) -> bool:
        return self.quotes % 2 == 1

    def reading_note(self, declared: str) -> str | None:
        """What a person should know about how the file was read, or None if as declared."""
        notes = []
        if self.encoding == "cp1252":
            notes.append(
                f"not valid {declared.upper()} (byte {self.first_bad_byte}): read as Windows-1252"
            )
        elif self.encoding in ("utf-16-le", "utf-16-be"):
            endian = "little" if self.encoding.endswith("le") else "big"
            bom = "with" if self.bom else "without"
            notes.append(f"read as UTF-16 ({endian}-endian, {bom} BOM), not {declared.upper()}")
        if self.line_endings in ("cr", "mixed"):
            notes.append(f"{'CR-only' if self.line_endings == 'cr' else 'mixed'} line endings")
        return "; ".join(notes) or None


def sniff(path: Path) -> FileFacts:
    """Hash and inspect a file in one pass of 1 MB blocks (bounded memory at any size)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        first = fh.read(BLOCK)
        utf16 = _utf16_of(first)
        if utf16:
            digest.update(first)
            size = len(first)
            for block in iter(lambda: fh.read(BLOCK), b""):
                digest.update(block)
                size += len(block)
            return FileFacts(digest.hexdigest(), size, utf16[0], bom=utf16[1])
        scan = _Scan()
        block = first
        while block:
            digest.update(block)
            scan.feed(block, size)
            size += len(block)
            block = fh.read(BLOCK)
    encoding = "utf-8" if scan.bad_at is None else _fallback_encoding(path)
    endings = scan.endings()  # settles a CR at the very end
    return FileFacts(
        sha256=digest.hexdigest(),
        size=size,
        encoding=encoding,
        bom=first.startswith(codecs.BOM_UTF8),
        newlines=scan.lf + scan.lone_cr,
        line_endings=endings,
        quotes=scan.quotes,
        control=scan.control,
        first_bad_byte=scan.bad_at,
    )


class _Scan:
    """Counts over a byte stream that survive block boundaries (a CRLF split in two)."""

    def __init__(self) -> None:
        self.lf = self.crlf = self.lone_cr = self.quotes = 0
        self.control = False
        self.bad_at: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._cr_pending = False

    def feed(self, block: bytes, offset: int) -> None:
        lf = block.count(b"\n")
        cr = block.count(b"\r") if b"\r" in block else 0
        crlf = block.count(b"\r\n") if cr else 0
        if self._cr_pending:  # the last block ended in CR: is it half of a CRLF?
            if block.startswith(b"\n"):
                self.crlf += 1
            else:
                self.lone_cr += 1
        self._cr_pending = block.endswith(b"\r")
        self.lf += lf
        self.crlf += crlf
        self.lone_cr += cr - crlf - (1 if self._cr_pending else 0)
        self.quotes += block.count(b'"')
        if not self.control and len(block.translate(None, _CONTROL)) != len(block):
            self.control = True
        if self.bad_at is None and not block.isascii():
            try:
                self._decoder.decode(block)
            except UnicodeDecodeError as exc:
                self.bad_at = offset + exc.start

    def endings(self) -> str:
        if self._cr_pending:
            self.lone_cr += 1
            self._cr_pending = False
        bare_lf = self.lf - self.crlf
        kinds = [k for k, n in (("lf", bare_lf), ("crlf", self.crlf), ("cr", self.lone_cr)) if n]
        if not kinds:
            return "none"
        return kinds[0] if len(kinds) == 1 else "mixed"


def _utf16_of(first: bytes) -> tuple[str, bool] | None:
    """UTF-16 by its BOM, or by text whose every other byte is NUL (a BOM-less export)."""
    if first.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", True
    if first.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", True
    sample = first[:4096]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le", False
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be", False
    return None


def _fallback_encoding(path: Path) -> str | None:
    """Windows-1252 if every byte is defined there (the usual undeclared encoding of a
    spreadsheet export in England), otherwise None: the encoding cannot be established."""
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            if _CP1252_UNDEFINED.search(block):
                return None
    return "cp1252"


def normalised(path: Path, facts: FileFacts, out: Path) -> Path:
    """A UTF-8 copy of the file with LF line endings (and no BOM), written block by block.

    Rewrites only what the reader cannot take as it is; a file that needs nothing is
    returned as it is."""
    if not facts.needs_rewrite:
        return path
    encoding = {"utf-8": "utf-8-sig", "utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be"}.get(
        facts.encoding or "utf-8", facts.encoding or "utf-8"
    )
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    out.parent.mkdir(parents=True, exist_ok=True)
    pending_cr = False
    first = True
    with path.open("rb") as src, out.open("w", encoding="utf-8", newline="") as dst:
        for block in iter(lambda: src.read(BLOCK), b""):
            text = decoder.decode(block)
            if first and facts.bom and text.startswith("\ufeff"):
                text = text[1:]
            first = False
            if pending_cr:
                text = "\r" + text
            pending_cr = text.endswith("\r")
            if pending_cr:
                text = text[:-1]
            dst.write(text.replace("\r\n", "\n").replace("\r", "\n"))
        tail = decoder.decode(b"", final=True)
        dst.write((("\r" if pending_cr else "") + tail).replace("\r\n", "\n").replace("\r", "\n"))
    return out


def rescan(path: Path) -> FileFacts:
    """Facts of a rewritten copy (UTF-8, LF): its quotes, lines and control bytes."""
    return sniff(path)
