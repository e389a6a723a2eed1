"""Planted defects: extra, targeted damage for testing the data-quality dashboard.

A plant is `feed:year:term:LA<nnn>:field:rate:kind`, e.g.
`school_census:2023/24:spring:LA330:ethnicity:0.05:invalid_code`: in that one return,
replace that share of the field's (non-blank) values. `field` is a source column name
(of `pupilonroll` for the census, or `table.field` for another table); for annual
feeds the term is `annual`. Kinds: `invalid_code` (a value the field's type or code
list rejects) and `blank`. The number of cells changed is round(rate x non-blank cells).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.codes import codelist, mapping
from core.periods import AcademicYear, Term
from ingest.spec import FieldSpec, load_spec

KINDS = ("invalid_code", "blank")
_DEFAULT_TABLE = {"school_census": "pupilonroll", "ks2": "ks2"}
# Values that fail each field type (or, for codes, the field's code list).
_INVALID_BY_TYPE = {
    "date": "2099-Feb-31 00:00:00",
    "upn": "X00000000000X",
    "uln": "0000000000",
    "int": "XX",
    "float": "XX",
    "bool": "Maybe",
    "postcode": "XX9 9XX9",
    "name": "####",
    "string": "####",
}
_CODE_CANDIDATES = ("XXXX", "X9", "99", "#")


@dataclass(frozen=True)
class Plant:
    text: str
    feed: str
    year: AcademicYear
    term: Term | None
    la: int
    table: str
    field: str
    rate: float
    kind: str

    @classmethod
    def parse(cls, text: str) -> Plant:
        parts = text.split(":")
        if len(parts) != 7:
            raise ValueError(f"plant {text!r}: expected feed:year:term:LA<nnn>:field:rate:kind")
        feed, year, term, la, field, rate, kind = (p.strip() for p in parts)
        if feed not in _DEFAULT_TABLE:
            raise ValueError(f"plant {text!r}: unknown feed {feed!r}")
        if not (la.upper().startswith("LA") and la[2:].isdigit()):
            raise ValueError(f"plant {text!r}: LA must look like LA330")
        if kind not in KINDS:
            raise ValueError(f"plant {text!r}: kind must be one of {', '.join(KINDS)}")
        value = float(rate)
        if not 0 <= value <= 1:
            raise ValueError(f"plant {text!r}: rate must be between 0 and 1")
        annual = term.lower() in ("annual", "")
        if annual != (feed == "ks2"):
            raise ValueError(f"plant {text!r}: the census needs a term, KS2 takes 'annual'")
        table, _, name = field.rpartition(".")
        table = table or _DEFAULT_TABLE[feed]
        academic_year = AcademicYear.parse(year)
        spec = load_spec(feed).for_year(academic_year)
        if table not in spec.tables:
            raise ValueError(f"plant {text!r}: {feed} has no table {table!r}")
        sources = [f.source for f in spec.tables[table].fields]
        if name not in sources:
            raise ValueError(f"plant {text!r}: {table} in {academic_year} has no column {name!r}")
        return cls(
            text=text,
            feed=feed,
            year=academic_year,
            term=None if annual else Term(term.lower()),
            la=int(la[2:]),
            table=table,
            field=name,
            rate=value,
            kind=kind,
        )

    def matches(
        self, feed: str, year: AcademicYear, term: Term | None, la: int, table: str
    ) -> bool:
        return (self.feed, self.year, self.term, self.la, self.table) == (
            feed,
            year,
            term,
            la,
            table,
        )

    def invalid_value(self, spec_field: FieldSpec) -> str:
        if spec_field.type == "code":
            for candidate in _CODE_CANDIDATES:
                if not _valid_code(spec_field, candidate):
                    return candidate
            raise ValueError(f"plant {self.text!r}: no invalid value found for {spec_field.source}")
        return _INVALID_BY_TYPE.get(spec_field.type, "####")

    def apply(
        self, column: pa.Array, spec_field: FieldSpec, seed: int
    ) -> tuple[pa.Array, np.ndarray]:
        """The column with the plant applied, and the rows changed (0-based)."""
        valid = np.asarray(pc.fill_null(pc.not_equal(column, ""), False))
        candidates = np.flatnonzero(valid)
        count = round(self.rate * candidates.size)
        rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(self.text.encode())])
        rows = (
            np.sort(rng.choice(candidates, size=count, replace=False))
            if count
            else np.zeros(0, np.int64)
        )
        mask = np.zeros(len(column), dtype=bool)
        mask[rows] = True
        if self.kind == "blank":
            out = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), column)
        else:
            out = pc.if_else(pa.array(mask), pa.scalar(self.invalid_value(spec_field)), column)
        return out, rows


def _valid_code(spec_field: FieldSpec, value: str) -> bool:
    if spec_field.codelist:
        return codelist(spec_field.codelist).is_valid(value)
    if spec_field.harmonise:
        return value in mapping(spec_field.harmonise)
    return False


def parse_plants(texts: list[str] | None) -> list[Plant]:
    return [Plant.parse(t) for t in texts or []]
