"""Defects the generator puts into the files on purpose, at known rates.

One table, read by the generator, the tests, the benchmarks and docs/synthetic-data.md.
A defect is either per record (drawn afresh for each row of a file) or per person
(it persists from the term it happens). Record-level defects are only drawn on records
whose person carries no persisting defect at that time, so each record has exactly one
truth label and each label's share of records matches its rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

LABELS: tuple[str, ...] = (
    "none",
    "missing_upn",
    "bad_check",
    "temporary_upn",
    "former_upn",
    "typo",
    "name_change",
    "dob_swap",
    "duplicate_upn",
    "temporary_uln",  # ILR: ULN 9999999999 (synth/ilr.py ILR_RATES)
    "postcode_unknown",  # ILR: Postcode ZZ99 9ZZ
)
# Key stage results files share one set of record-level rates (the same keying and export path).
KEY_STAGES: tuple[str, ...] = ("phonics", "ks1", "ks2", "ks4", "ks5")
LABEL_CODE = MappingProxyType({label: i for i, label in enumerate(LABELS)})


@dataclass(frozen=True)
class Defect:
    label: str
    rate: float
    unit: str  # what the rate is a share of
    feeds: tuple[str, ...]
    description: str


DEFECTS: tuple[Defect, ...] = (
    Defect("missing_upn", 0.003, "census records", ("school_census",), "UPN left blank"),
    Defect("missing_upn", 0.005, "key stage records", KEY_STAGES, "UPN left blank"),
    Defect("bad_check", 0.002, "records", ("school_census", *KEY_STAGES), "check letter replaced"),
    Defect(
        "typo",
        0.01,
        "records",
        ("school_census", *KEY_STAGES),
        "one-character edit (substitution, deletion, transposition or doubled letter) "
        "in forename or surname",
    ),
    Defect("dob_swap", 0.001, "census records", ("school_census",), "DOB day and month swapped"),
    Defect(
        "duplicate_upn",
        0.0002,
        "census records",
        ("school_census",),
        "a second, different pupil in the same school's return given the same UPN",
    ),
    Defect(
        "temporary_upn",
        0.30,
        "joiners from abroad",
        ("school_census", *KEY_STAGES),
        "first recorded with a temporary UPN, replaced by a permanent one next term",
    ),
    Defect(
        "former_upn",
        0.001,
        "pupils per year",
        ("school_census", *KEY_STAGES),
        "UPN re-issued after a move between LAs (old one kept as formerupn); also labels "
        "records whose permanent UPN replaced a temporary one",
    ),
    Defect(
        "name_change",
        0.003,
        "pupils per year",
        ("school_census", *KEY_STAGES),
        "surname changes and persists; formersurname holds the old one",
    ),
)


def record_rates(feed: str) -> dict[str, float]:
    """Per-record defect rates for a feed's writer: label -> share of all its records."""
    per_record = {"missing_upn", "bad_check", "typo", "dob_swap", "duplicate_upn"}
    return {d.label: d.rate for d in DEFECTS if feed in d.feeds and d.label in per_record}


def rate(label: str, feed: str = "school_census") -> float:
    for d in DEFECTS:
        if d.label == label and feed in d.feeds:
            return d.rate
    raise KeyError(f"no defect {label!r} for feed {feed!r}")


def markdown() -> str:
    """The defect table as it appears in docs/synthetic-data.md (a test keeps them equal)."""
    lines = [
        "| label | rate | share of | feeds | what happens |",
        "| --- | --- | --- | --- | --- |",
    ]
    for d in DEFECTS:
        lines.append(
            f"| `{d.label}` | {d.rate:.2%} | {d.unit} | {', '.join(d.feeds)} | {d.description} |"
        )
    return "\n".join(lines)
