"""Rendering ILR returns: Learner elements column-wise with Arrow, files streamed in chunks.

Shared by the population writer (synth/ilr.py) and the national-size benchmark
(synth/ilr_bench.py). Learner and LearningDelivery columns are Arrow string arrays (null:
the element is left out); deliveries are folded into their learner by an owner index
sorted ascending. A file is a prolog, Learner lines appended chunk by chunk, then the
LearnerDestinationandProgression lines and the epilog, so memory is bounded by a chunk.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from core.periods import AcademicYear
from synth.xml_text import concat, element, nest, wrap

# Element order as the XSD lists it (FEEDS.md §6).
LEARNER_FIELDS = (
    "LearnRefNumber",
    "ULN",
    "FamilyName",
    "GivenNames",
    "DateOfBirth",
    "Ethnicity",
    "Sex",
    "LLDDHealthProb",
    "PostcodePrior",
    "Postcode",
    "PlanLearnHours",
)
DELIVERY_FIELDS = (
    "LearnAimRef",
    "AimType",
    "AimSeqNumber",
    "LearnStartDate",
    "LearnPlanEndDate",
    "FundModel",
    "ProgType",
    "StdCode",
    "DelLocPostCode",
    "CompStatus",
    "LearnActEndDate",
    "WithdrawReason",
    "Outcome",
    "AchDate",
)


def iso_dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Days since 1970 as YYYY-MM-DD (dates before 1970 too: adults' birth dates)."""
    arr = pa.array(np.asarray(days, np.int64).astype("datetime64[D]"), mask=missing)
    return arr.cast(pa.string())


def namespace(year: AcademicYear) -> str:
    return f"ESFA/ILR/{year.slug}"


def learners(columns: dict[str, pa.Array], deliveries: dict[str, pa.Array], owner: np.ndarray):
    """One '<Learner>...</Learner>' string per learner, deliveries nested in order."""
    n = len(columns["LearnRefNumber"])
    delivery = wrap(
        "LearningDelivery",
        concat(*(element(f, deliveries[f]) for f in DELIVERY_FIELDS if f in deliveries)),
    )
    inner = [element(f, columns[f]) for f in LEARNER_FIELDS if f in columns]
    return concat(
        pa.array(["<Learner>"] * n, pa.string()),
        *inner,
        nest(delivery, owner, n),
        pa.array(["</Learner>"] * n, pa.string()),
    )


def destinations(learn_ref: pa.Array, uln: pa.Array, out_type: pa.Array, start: pa.Array):
    """LearnerDestinationandProgression elements (staged as skipped: counted, not read)."""
    return wrap(
        "LearnerDestinationandProgression",
        concat(
            element("LearnRefNumber", learn_ref),
            element("ULN", uln),
            wrap(
                "DPOutcome",
                concat(
                    element("OutType", out_type),
                    element("OutCode", pa.array(["1"] * len(learn_ref), pa.string())),
                    element("OutStartDate", start),
                ),
            ),
        ),
    )


def prolog(year: AcademicYear, ukprn: int, prepared: dt.datetime, serial: int) -> str:
    code = f"{year.start % 100:02d}{(year.start + 1) % 100:02d}"
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<Message xmlns="{namespace(year)}">\n'
        "<Header><CollectionDetails><Collection>ILR</Collection>"
        f"<Year>{code}</Year><FilePreparationDate>{prepared:%Y-%m-%d}</FilePreparationDate>"
        "</CollectionDetails><Source><ProtectiveMarking>OFFICIAL-SENSITIVE-Personal"
        f"</ProtectiveMarking><UKPRN>{ukprn}</UKPRN><SoftwareSupplier>npd-synth"
        "</SoftwareSupplier><SoftwarePackage>npd-synth</SoftwarePackage><Release>1</Release>"
        f"<SerialNo>{serial:02d}</SerialNo><DateTime>{prepared:%Y-%m-%dT%H:%M:%S}</DateTime>"
        "</Source></Header>\n"
        f"<LearningProvider><UKPRN>{ukprn}</UKPRN></LearningProvider>\n"
    )


EPILOG = "</Message>\n"


class IlrFile:
    """One provider's return written in chunks: open, append learner lines, close."""

    def __init__(self, path: Path, head: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.tmp = path, path.with_name(path.name + ".tmp")
        self.fh = open(self.tmp, "wb")  # noqa: SIM115 - closed by close()
        self.fh.write(head.encode("utf-8"))
        self.rows = 0

    def append(self, lines: pa.Array) -> None:
        if len(lines):
            pa_csv.write_csv(
                pa.table({"x": lines}),
                self.fh,
                pa_csv.WriteOptions(include_header=False, quoting_style="none"),
            )

    def close(self, tail: str = EPILOG) -> None:
        self.fh.write(tail.encode("utf-8"))
        self.fh.close()
        os.replace(self.tmp, self.path)
