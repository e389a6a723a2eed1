"""A national-size ILR file set for `npd bench ilr`: learners without a population.

The population writer (synth/ilr.py) needs a simulated school population; a benchmark
of 1.5 million learners needs only realistic files, so here learners are drawn directly
(names, DOB, sex, ULN, postcode, one to four aims) in chunks of CHUNK learners, rendered
by the same synth/ilr_xml.py and appended to each provider's open file. Memory is one
chunk, whatever the number of learners.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from core.periods import AcademicYear
from ingest.landing import ilr_file_path
from linkage.identifiers import make_ulns
from synth import formats
from synth.ilr import ILR_ETHNICITY, STUDY_AIMS
from synth.ilr_xml import IlrFile, iso_dates, learners, prolog
from synth.names import FORENAMES, SURNAMES, draw_names
from synth.rng import stream

CHUNK = 50_000
LEARNERS_PER_PROVIDER = 1_500  # about 1,000 providers for 1.5 million learners
_OUTWARD = np.array(["B42", "LS6", "M14", "NW5", "BS3", "NE4", "L15", "S10", "CV1", "E17"])
_UNIT = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
_ETH_MAIN = np.array(list(ILR_ETHNICITY))
_ETH_CODES = np.array(list(ILR_ETHNICITY.values()))


@dataclass
class BenchFiles:
    learners: int
    deliveries: int
    files: list[Path]

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


def write_bench_files(out: Path, n: int, year: AcademicYear, seed: int = 2024) -> BenchFiles:
    """n learners in ceil(n / LEARNERS_PER_PROVIDER) provider files under out (landing layout)."""
    per = LEARNERS_PER_PROVIDER
    n_providers = max(1, -(-n // per))
    ukprns = 10_000_000 + np.arange(n_providers, dtype=np.int64) * 37 % 90_000_000
    prepared = dt.datetime(year.start + 1, 10, 16, 9, 30)
    open_files: dict[int, IlrFile] = {}
    files: list[Path] = []
    deliveries = 0
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        lines, aims = _chunk(stream(seed, "ilr-bench", lo), lo, hi, year)
        deliveries += aims
        for p in range(lo // per, (hi - 1) // per + 1):
            a, b = max(lo, p * per), min(hi, (p + 1) * per)
            if p not in open_files:
                path = ilr_file_path(out, year, int(ukprns[p]), prepared, 1)
                open_files[p] = IlrFile(path, prolog(year, int(ukprns[p]), prepared, 1))
                files.append(path)
            open_files[p].append(lines.slice(a - lo, b - a))
            if b == min(n, (p + 1) * per):
                open_files.pop(p).close()
    for f in open_files.values():
        f.close()
    return BenchFiles(learners=n, deliveries=deliveries, files=files)


def _chunk(rng: np.random.Generator, lo: int, hi: int, year: AcademicYear) -> tuple[pa.Array, int]:
    m = hi - lo
    sex = np.where(rng.random(m) < 0.5, "M", "F")
    k = rng.integers(0, _ETH_MAIN.size, m)
    main = _ETH_MAIN[k]
    names = draw_names(rng, sex, main, 0.0, 0.0)
    age = np.where(rng.random(m) < 0.4, rng.integers(16, 19, m), rng.integers(19, 65, m))
    aug31 = (np.datetime64(f"{year.start}-08-31") - np.datetime64("1970-01-01")).astype(np.int64)
    dob = aug31 - (age * 365.25).astype(np.int64) - rng.integers(0, 365, m)
    uln = make_ulns(rng.integers(100_000_000, 1_000_000_000, m))
    uln = np.where(uln == "", "9999999999", uln)
    postcode = np.char.add(
        np.char.add(_OUTWARD[rng.integers(0, _OUTWARD.size, m)], " "),
        np.char.add(
            rng.integers(1, 10, m).astype("U1"),
            np.char.add(_UNIT[rng.integers(0, 20, m)], _UNIT[rng.integers(0, 20, m)]),
        ),
    )
    count = rng.integers(1, 5, m)
    owner = np.repeat(np.arange(m), count)
    seq = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count) + 1
    start = aug31 + 2 + rng.integers(0, 60, owner.size)
    planned = start + rng.integers(60, 700, owner.size)
    over = planned <= aug31 + 365
    ref = np.char.add("B", np.char.zfill(np.arange(lo, hi).astype("U11"), 11))
    eth = _ETH_CODES[k]
    columns = {
        "LearnRefNumber": pa.array(ref, pa.string()),
        "ULN": pa.array(uln, pa.string()),
        "FamilyName": pa.array(SURNAMES[names["surname"]], pa.string()),
        "GivenNames": pa.array(FORENAMES[names["forename"]], pa.string()),
        "DateOfBirth": iso_dates(dob),
        "Ethnicity": formats.codes(eth),
        "Sex": formats.codes(sex),
        "LLDDHealthProb": formats.codes(np.where(rng.random(m) < 0.15, "1", "2")),
        "PostcodePrior": pa.array(postcode, pa.string()),
        "Postcode": pa.array(postcode, pa.string()),
    }
    delivery = {
        "LearnAimRef": formats.codes(STUDY_AIMS[rng.integers(0, STUDY_AIMS.size, owner.size)]),
        "AimType": formats.codes(np.where(seq == 1, "5", "4")),
        "AimSeqNumber": formats.integers(seq),
        "LearnStartDate": iso_dates(start),
        "LearnPlanEndDate": iso_dates(planned),
        "FundModel": formats.codes(np.where(age[owner] < 19, "25", "35")),
        "CompStatus": formats.codes(np.where(over, "2", "1")),
        "LearnActEndDate": iso_dates(planned, ~over),
        "Outcome": formats.codes(np.where(over, "1", "")),
    }
    return learners(columns, delivery, owner), int(owner.size)
