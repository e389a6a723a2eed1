"""UPN and ULN checks (FEEDS.md §1), in three forms that must agree.

- scalar functions, the readable reference used by tests and the CLI;
- numpy functions, for the generator that mints millions of identifiers;
- SQL expressions, for staging and linkage inside DuckDB or PostgreSQL.
Tests hold all three to the worked examples and to each other.
"""

from __future__ import annotations

import re
from enum import StrEnum

import numpy as np

from core.codes import is_valid_la_code, sql_la_code_valid, sql_literal

CHECK_TABLE = "ABCDEFGHJKLMNPQRTUVWXYZ"  # I, O and S are never used
_UPN_SHAPE = re.compile(rf"^[{CHECK_TABLE}]\d{{11}}[0-9{CHECK_TABLE}]$")
_UNKNOWN = re.compile(r"^UN([1-9]|10)$")
TEMPORARY_ULN = "9999999999"


class UpnStatus(StrEnum):
    VALID = "valid"  # permanent UPN, check letter right
    TEMPORARY = "temporary"  # temporary UPN (final letter), check letter right
    MISSING = "missing"  # census error 1500
    UNKNOWN_CODE = "unknown_code"  # UN1..UN10: the LA says no UPN is known
    BAD_FORMAT = "bad_format"  # 1540/1550: wrong length or characters
    BAD_LA = "bad_la"  # 1530: chars 2-4 not an LA or pseudo-LA code
    BAD_CHECK = "bad_check"  # 1510: wrong check letter
    # 1520: another record of the same return carries it with other values (set at staging:
    # the first copy is kept, the later ones quarantined, and none may link by it).
    DUPLICATE = "duplicate"

    @property
    def usable(self) -> bool:
        """Can a record be linked deterministically on this UPN?"""
        return self in (UpnStatus.VALID, UpnStatus.TEMPORARY)


def normalise(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().upper()
    return value or None


def _char_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else CHECK_TABLE.index(ch)


def upn_check_letter(body: str) -> str:
    """Check letter for chars 2-13 of a UPN (12 characters, the last may be a letter)."""
    if len(body) != 12:
        raise ValueError("a UPN body has 12 characters")
    total = sum(pos * _char_value(ch) for pos, ch in enumerate(body, start=2))
    return CHECK_TABLE[total % 23]


def classify_upn(value: str | None) -> UpnStatus:
    upn = normalise(value)
    if upn is None:
        return UpnStatus.MISSING
    if _UNKNOWN.match(upn):
        return UpnStatus.UNKNOWN_CODE
    if not _UPN_SHAPE.match(upn):
        return UpnStatus.BAD_FORMAT
    if not is_valid_la_code(int(upn[1:4])):
        return UpnStatus.BAD_LA
    if upn_check_letter(upn[1:]) != upn[0]:
        return UpnStatus.BAD_CHECK
    return UpnStatus.TEMPORARY if upn[12].isalpha() else UpnStatus.VALID


def uln_check_digit(first_nine: str) -> int | None:
    """Check digit for the first nine digits of a ULN, or None when no digit can be valid."""
    if len(first_nine) != 9 or not first_nine.isdigit():
        raise ValueError("a ULN starts with nine digits")
    remainder = sum(w * int(d) for w, d in zip(range(10, 1, -1), first_nine, strict=True)) % 11
    return None if remainder == 0 else 10 - remainder


def is_valid_uln(value: str | None) -> bool:
    uln = normalise(value)
    if uln is None or len(uln) != 10 or not uln.isdigit() or uln[0] == "0":
        return False
    if uln == TEMPORARY_ULN:
        return False
    return uln_check_digit(uln[:9]) == int(uln[9])


# --- numpy forms, for the generator -----------------------------------------------------------

_WEIGHTS_UPN = np.arange(2, 14, dtype=np.int64)
_TABLE_BYTES = np.frombuffer(CHECK_TABLE.encode(), dtype=np.uint8)


def upn_check_letters(digits: np.ndarray) -> np.ndarray:
    """Check letters for an (n, 12) array of character values (0-9, or 0-22 for a final letter)."""
    totals = (digits.astype(np.int64) * _WEIGHTS_UPN).sum(axis=1)
    return _TABLE_BYTES[totals % 23].view("S1").astype("U1")


def make_upns(
    la: np.ndarray, estab: np.ndarray, year2: np.ndarray, serial: np.ndarray
) -> np.ndarray:
    """Permanent UPNs from LA code, establishment number, allocation year and serial (vectorised)."""
    body = np.char.add(
        np.char.add(np.char.zfill(la.astype("U3"), 3), np.char.zfill(estab.astype("U4"), 4)),
        np.char.add(np.char.zfill(year2.astype("U2"), 2), np.char.zfill(serial.astype("U3"), 3)),
    )
    digits = body.astype("S12").view(np.uint8).reshape(-1, 12) - ord("0")
    return np.char.add(upn_check_letters(digits), body)


def make_temporary_upns(
    la: np.ndarray, estab: np.ndarray, year2: np.ndarray, serial2: np.ndarray, letter: np.ndarray
) -> np.ndarray:
    """Temporary UPNs: serial of two digits and a final letter from the check table."""
    body = np.char.add(
        np.char.add(np.char.zfill(la.astype("U3"), 3), np.char.zfill(estab.astype("U4"), 4)),
        np.char.add(np.char.zfill(year2.astype("U2"), 2), np.char.zfill(serial2.astype("U2"), 2)),
    )
    digits = np.empty((len(body), 12), dtype=np.int64)
    digits[:, :11] = body.astype("S11").view(np.uint8).reshape(-1, 11) - ord("0")
    digits[:, 11] = letter
    final = _TABLE_BYTES[letter].view("S1").astype("U1")
    return np.char.add(np.char.add(upn_check_letters(digits), body), final)


_WEIGHTS_ULN = np.arange(10, 1, -1, dtype=np.int64)


def make_ulns(first_nine: np.ndarray) -> np.ndarray:
    """ULNs from nine-digit integers (100000000..999999999); rows with no valid digit get ''."""
    digits = np.char.zfill(first_nine.astype("U9"), 9).astype("S9").view(np.uint8).reshape(-1, 9)
    remainder = ((digits.astype(np.int64) - ord("0")) * _WEIGHTS_ULN).sum(axis=1) % 11
    check = (10 - remainder).astype("U1")
    out = np.char.add(first_nine.astype("U9"), check)
    return np.where(remainder == 0, "", out)


# --- SQL forms, for staging and linkage ---------------------------------------------------------


def _sql_char_value(expr: str, pos: int) -> str:
    ch = f"substr({expr}, {pos}, 1)"
    if pos < 13:
        return f"(ascii({ch}) - 48)"
    return (
        f"(CASE WHEN {ch} BETWEEN '0' AND '9' THEN ascii({ch}) - 48 "
        f"ELSE strpos({sql_literal(CHECK_TABLE)}, {ch}) - 1 END)"
    )


def sql_upn_check_letter(expr: str) -> str:
    """SQL for the check letter a well-shaped UPN should carry."""
    total = " + ".join(f"{pos} * {_sql_char_value(expr, pos)}" for pos in range(2, 14))
    return f"substr({sql_literal(CHECK_TABLE)}, (({total}) % 23) + 1, 1)"


def sql_upn_status(expr: str) -> str:
    """SQL CASE giving the UpnStatus value of a normalised (trimmed, upper-case) UPN."""
    shape = sql_literal(_UPN_SHAPE.pattern)
    return (
        f"(CASE WHEN {expr} IS NULL OR {expr} = '' THEN 'missing' "
        f"WHEN regexp_full_match({expr}, {sql_literal(_UNKNOWN.pattern)}) THEN 'unknown_code' "
        f"WHEN NOT regexp_full_match({expr}, {shape}) THEN 'bad_format' "
        f"WHEN NOT {sql_la_code_valid(f'CAST(substr({expr}, 2, 3) AS INTEGER)')} THEN 'bad_la' "
        f"WHEN {sql_upn_check_letter(expr)} <> substr({expr}, 1, 1) THEN 'bad_check' "
        f"WHEN substr({expr}, 13, 1) BETWEEN '0' AND '9' THEN 'valid' "
        f"ELSE 'temporary' END)"
    )


def sql_uln_valid(expr: str) -> str:
    """SQL boolean: is expr a valid, permanent ULN?"""
    total = " + ".join(
        f"{w} * (ascii(substr({expr}, {i}, 1)) - 48)" for i, w in enumerate(range(10, 1, -1), 1)
    )
    remainder = f"(({total}) % 11)"
    return (
        f"(COALESCE(regexp_full_match({expr}, '^[1-9][0-9]{{9}}$'), false) "
        f"AND {expr} <> {sql_literal(TEMPORARY_ULN)} "
        f"AND {remainder} <> 0 "
        f"AND 10 - {remainder} = ascii(substr({expr}, 10, 1)) - 48)"
    )
