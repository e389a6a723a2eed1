"""Record-level defects: what goes wrong when a record is keyed or exported.

Drawn per file row, only on rows whose person has no persisting defect at the time, at
rates scaled up by the share of such rows so each defect's share of all rows matches
synth/defects.py. Returns only what changes, so writers patch a few cells of columns
built for the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.identifiers import CHECK_TABLE
from synth.defects import LABEL_CODE, record_rates
from synth.names import FORENAMES, SURNAMES, one_char_edits

_NONE = LABEL_CODE["none"]
_ORDER = ("missing_upn", "bad_check", "typo", "duplicate_upn", "dob_swap")
_CHECK = np.array(list(CHECK_TABLE))


@dataclass(frozen=True)
class Corruption:
    label: np.ndarray  # int8 label code per row (person-level labels kept)
    upn_rows: np.ndarray  # rows whose UPN changes
    upn_values: np.ndarray  # their new UPN ('' for missing)
    forename_rows: np.ndarray
    forename_values: np.ndarray
    surname_rows: np.ndarray
    surname_values: np.ndarray
    dob: np.ndarray  # int64 days, swapped where dob_swap


def _month_day(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year start (datetime64[Y]), month and day of days since 1970, via the span's few dates."""
    if day.size == 0:
        empty = np.zeros(0, np.int64)
        return empty.astype("datetime64[Y]"), empty, empty
    lo = int(day.min())
    span = np.arange(lo, int(day.max()) + 1).astype("datetime64[D]")
    year = span.astype("datetime64[Y]")
    month = span.astype("datetime64[M]")
    m = (month - year.astype("datetime64[M]")).astype(np.int64) + 1
    d = (span - month).astype(np.int64) + 1
    i = day - lo
    return year[i], m[i], d[i]


def corrupt(
    rng: np.random.Generator,
    feed: str,
    label: np.ndarray,
    group: np.ndarray,
    person: np.ndarray,
    upn: np.ndarray,
    forename: np.ndarray,
    surname: np.ndarray,
    dob: np.ndarray,
) -> Corruption:
    """Draw record-level defects for one file's rows (rows sorted by `group`, e.g. school).

    forename and surname are indices into synth.names.FORENAMES and SURNAMES.
    """
    n = len(label)
    rates = record_rates(feed)
    label = label.astype(np.int8).copy()
    eligible = label == _NONE
    share = max(eligible.mean(), 1e-9) if n else 1.0
    year, month, day = _month_day(dob)
    swappable = (day <= 12) & (day != month)
    swap_share = max((swappable & eligible).sum() / max(eligible.sum(), 1), 1e-9)
    u = rng.random(n)
    chosen = np.full(n, -1, dtype=np.int8)
    lo = 0.0
    for i, name in enumerate(_ORDER):
        p = rates.get(name, 0.0) / share
        if name == "dob_swap":
            p /= swap_share
        chosen[eligible & (u >= lo) & (u < lo + p)] = i
        lo += p
    chosen[(chosen == _ORDER.index("dob_swap")) & ~swappable] = -1
    chosen[(chosen == _ORDER.index("missing_upn")) & (upn == "")] = -1

    upn_rows, upn_values = [], []
    rows = np.flatnonzero(chosen == _ORDER.index("missing_upn"))
    upn_rows.append(rows)
    upn_values.append(np.full(rows.size, "", dtype="U13"))
    rows = np.flatnonzero((chosen == _ORDER.index("bad_check")) & (upn != ""))
    chosen[(chosen == _ORDER.index("bad_check")) & (upn == "")] = -1
    if rows.size:
        current = np.searchsorted(_CHECK, _first(upn[rows]))
        wrong = _CHECK[(current + rng.integers(1, len(_CHECK), size=rows.size)) % len(_CHECK)]
        upn_rows.append(rows)
        upn_values.append(np.char.add(wrong, _rest(upn[rows])))
    # A second pupil in the same school's return given another pupil's UPN.
    rows = np.flatnonzero(chosen == _ORDER.index("duplicate_upn"))
    if rows.size:
        first = np.searchsorted(group, group[rows], side="left")
        size = np.searchsorted(group, group[rows], side="right") - first
        free = (chosen < 0) & (upn != "")
        donor = first + (rng.random(rows.size) * size).astype(np.int64)
        donor = np.where(donor == rows, first + (donor - first + 1) % np.maximum(size, 1), donor)
        ok = (donor != rows) & (person[donor] != person[rows]) & free[donor]
        chosen[rows[~ok]] = -1
        rows, donor = rows[ok], donor[ok]
        upn_rows.append(rows)
        upn_values.append(upn[donor])
    typo = np.flatnonzero(chosen == _ORDER.index("typo"))
    on_surname = rng.random(typo.size) < 0.5
    s_rows, f_rows = typo[on_surname], typo[~on_surname]
    swap = chosen == _ORDER.index("dob_swap")
    new_dob = dob.astype(np.int64).copy()
    if swap.any():
        swapped = (
            year[swap].astype("datetime64[M]") + (day[swap] - 1).astype("timedelta64[M]")
        ).astype("datetime64[D]") + (month[swap] - 1).astype("timedelta64[D]")
        new_dob[swap] = swapped.astype(np.int64)
    picked = chosen >= 0
    codes = np.array([LABEL_CODE[name] for name in _ORDER], dtype=np.int8)
    label[picked] = codes[chosen[picked]]
    return Corruption(
        label=label,
        upn_rows=np.concatenate(upn_rows).astype(np.int64),
        upn_values=np.concatenate(upn_values).astype("U13"),
        forename_rows=f_rows,
        forename_values=one_char_edits(rng, FORENAMES[forename[f_rows]]),
        surname_rows=s_rows,
        surname_values=one_char_edits(rng, SURNAMES[surname[s_rows]]),
        dob=new_dob,
    )


def _first(values: np.ndarray) -> np.ndarray:
    return values.astype("U13").view("U1").reshape(-1, 13)[:, 0]


def _rest(values: np.ndarray) -> np.ndarray:
    return values.astype("U13").view("U1").reshape(-1, 13)[:, 1:].copy().view("U12").ravel()
