"""The pandas frame GX validates: only the suite's columns, typed for GX's fast paths.

GX 1.x validates pandas frames, not DuckDB tables, so staged Arrow data is wrapped
(not copied) as Arrow-backed pandas columns. One exception: GX's between check is
vectorised only for numpy int and float columns and falls back to a Python call per
value otherwise (2 s per 1M-row column). Integer columns therefore become numpy
int64, or float64 with NaN where they hold nulls (as Arrow's own to_pandas does):
exact for the small integers staged here (scores, LA codes, ages). Dictionary-encoded
columns (code columns as runner.read_records reads them) become pandas categoricals:
value-set, pattern and null checks on them count the same rows as on strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


class MissingColumnsError(ValueError):
    """Staged records lack columns the suite reads: a staging contract fault, not data quality."""


def _types_mapper(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    """Arrow-backed except integers and dictionaries (None: Arrow's numpy or categorical)."""
    if pa.types.is_integer(arrow_type) or pa.types.is_dictionary(arrow_type):
        return None
    return pd.ArrowDtype(arrow_type)


def _numpy_integers(series: pd.Series) -> pd.Series:
    """Integers as numpy int64 (float64 where nulls); other columns returned unchanged."""
    dtype = series.dtype
    if not pd.api.types.is_integer_dtype(dtype) or dtype == np.int64:
        return series
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and series.hasnans:
        return pd.Series(series.to_numpy(dtype=np.float64, na_value=np.nan), index=series.index)
    return pd.Series(series.to_numpy(dtype=np.int64), index=series.index)


def batch_frame(records: pa.Table | pd.DataFrame, columns: list[str], suite: str) -> pd.DataFrame:
    """The suite's columns of records as a GX-ready pandas frame."""
    present = records.column_names if isinstance(records, pa.Table) else list(records.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise MissingColumnsError(f"suite {suite!r}: staged records lack columns {missing}")
    if isinstance(records, pa.Table):
        frame = records.select(columns).to_pandas(types_mapper=_types_mapper)
    else:
        frame = records[columns]
    changed = {}
    for name in columns:
        series = frame[name]
        numpy_series = _numpy_integers(series)
        if numpy_series is not series:
            changed[name] = numpy_series
    return frame.assign(**changed) if changed else frame
