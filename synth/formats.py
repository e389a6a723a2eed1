"""Rendering values the way the real files carry them, and writing CSVs with pyarrow.

Census exports write dates as `2020-Apr-25 00:00:00`, booleans as `True`/`False` and
numbers as floats (`136.0`); key stage files write dates as `YYYYMMDD` and booleans as
`1`/`0`. Every renderer turns a numpy column into an Arrow string column with one
`take` from a small vocabulary, so a million rows cost milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

CENSUS_DATE = "%Y-%b-%d 00:00:00"
KS_DATE = "%Y%m%d"


def blank(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def vocab_take(
    vocab: Sequence[str] | np.ndarray | pa.Array, idx: np.ndarray, missing: np.ndarray | None = None
) -> pa.Array:
    """vocab[idx] as strings; rows where `missing` is set (or idx < 0) are blank."""
    arr = vocab if isinstance(vocab, pa.Array) else pa.array(np.asarray(vocab, dtype=str))
    idx = np.asarray(idx, dtype=np.int64)
    mask = idx < 0 if missing is None else (missing | (idx < 0))
    return arr.take(pa.array(np.maximum(idx, 0), mask=mask))


def codes(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """A low-cardinality string column (codes) via its unique values."""
    values = np.asarray(values)
    if values.size == 0:
        return pa.array([], pa.string())
    uniq, inverse = np.unique(values, return_inverse=True)
    empty = uniq[inverse] == ""
    mask = empty if missing is None else (missing | empty)
    return vocab_take(uniq.astype(str), inverse, mask)


def dates(day: np.ndarray, fmt: str, missing: np.ndarray | None = None) -> pa.Array:
    """Days since 1970-01-01 rendered with a strftime format ('C' locale month names)."""
    day = np.asarray(day, dtype=np.int64)
    mask = day < 0 if missing is None else (missing | (day < 0))
    if day.size == 0 or mask.all():
        return blank(day.size)
    lo, hi = int(day[~mask].min()), int(day[~mask].max())
    span = np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]")
    vocab = pc.strftime(pa.array(span).cast(pa.timestamp("s")), format=fmt, locale="C")
    return vocab_take(vocab, np.where(mask, 0, day - lo), mask)


def whole_floats(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Whole numbers written as floats, e.g. 136 -> '136.0'."""
    values = np.asarray(values, dtype=np.int64)
    mask = np.zeros(values.size, bool) if missing is None else missing
    if values.size == 0 or mask.all():
        return blank(values.size)
    lo, hi = int(values[~mask].min()), int(values[~mask].max())
    vocab = [f"{v}.0" for v in range(lo, hi + 1)]  # a few hundred distinct values at most
    return vocab_take(vocab, np.where(mask, 0, values - lo), mask)


def integers(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    arr = pa.array(values, mask=missing)
    return pc.cast(arr, pa.string())


def booleans(
    values: np.ndarray, missing: np.ndarray | None = None, true: str = "True", false: str = "False"
) -> pa.Array:
    return vocab_take([false, true], np.asarray(values, dtype=np.int64), missing)


def fixed_bytes(values: np.ndarray) -> pa.Array:
    """A numpy 'S' array (e.g. hex ids) as an Arrow string column."""
    return pa.array(values, type=pa.binary()).cast(pa.string())


def write_csv(path: Path, header: Sequence[str], columns: Sequence[pa.Array]) -> int:
    """Write a CSV exactly as given: unquoted header line, unquoted values, LF line ends.

    Values never contain commas, quotes or line breaks (the generator does not produce
    them), which pyarrow checks. Written to a temporary name and renamed, so a reader
    never sees half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(list(columns), names=[f"c{i}" for i in range(len(columns))])
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write((",".join(header) + "\n").encode("utf-8"))
        if table.num_rows:
            pa_csv.write_csv(
                table,
                fh,
                pa_csv.WriteOptions(include_header=False, quoting_style="none", batch_size=65536),
            )
    os.replace(tmp, path)
    return table.num_rows
