"""Building XML returns column-wise with Arrow: one string per element, no per-row Python.

Each element is rendered for all rows at once ('<Tag>value</Tag>', or nothing where the
value is null), siblings are concatenated element-wise, and repeating children are
folded into their parent by list offsets (rows sorted by parent). The CIN census and
the SSDA903 XML form are written this way, one record element per line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv


def element(tag: str, values: pa.Array) -> pa.Array:
    """'<tag>value</tag>' per row; '' where the value is null (the element is left out)."""
    return pc.fill_null(pc.binary_join_element_wise(f"<{tag}>", values, f"</{tag}>", ""), "")


def concat(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def wrap(tag: str, inner: pa.Array, keep: np.ndarray | None = None) -> pa.Array:
    """'<tag>inner</tag>' per row; where keep is False, ''."""
    out = pc.binary_join_element_wise(f"<{tag}>", inner, f"</{tag}>", "")
    if keep is None:
        return out
    return pc.if_else(pa.array(keep), out, pa.scalar("", pa.string()))


def nest(fragments: pa.Array, owner: np.ndarray, n_owners: int) -> pa.Array:
    """The fragments of each owner joined in order (owner sorted ascending); '' for none."""
    offsets = np.searchsorted(np.asarray(owner, np.int64), np.arange(n_owners + 1)).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), fragments.cast(pa.string()))
    return pc.binary_join(lists, "")


def write_xml(path: Path, prolog: str, records: pa.Array, epilog: str) -> int:
    """Write prolog, one record per line, epilog; atomically (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(prolog.encode("utf-8"))
        if len(records):
            pa_csv.write_csv(
                pa.table({"x": records}),
                fh,
                pa_csv.WriteOptions(include_header=False, quoting_style="none"),
            )
        fh.write(epilog.encode("utf-8"))
    os.replace(tmp, path)
    return len(records)
