"""Pieces every feed writer shares: identity at a period, truth rows, patching columns.

The census and KS2 writers (and later key stage writers) build a file's columns for all
rows at once and then patch the few cells a defect changes; the truth rows for a file
come from the same arrays, so row numbers and labels can never drift apart.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synth.context import WriteContext
from synth.defects import LABEL_CODE, LABELS
from synth.dynamics import UPN_TEMPORARY


def patch(column: pa.Array, rows: np.ndarray, values: np.ndarray) -> pa.Array:
    """The column with the given rows replaced by new values (rows in any order)."""
    if rows.size == 0:
        return column
    order = np.argsort(rows)
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    replacements = pa.array(values[order].astype(str), type=pa.string())
    return pc.replace_with_mask(column, pa.array(mask), replacements)


def identity(ctx: WriteContext, person: np.ndarray, t: int) -> dict[str, np.ndarray]:
    """UPN and surname in force at a period, their predecessors, and the person-level label."""
    pop = ctx.pop
    upn = pop.upn.index_at(person, t)
    upn_prev = pop.upn.previous(upn)
    surname = pop.surname.index_at(person, t)
    surname_prev = pop.surname.previous(surname)
    label = np.full(len(person), LABEL_CODE["none"], dtype=np.int8)
    label[surname_prev >= 0] = LABEL_CODE["name_change"]
    label[upn_prev >= 0] = LABEL_CODE["former_upn"]
    label[pop.upn.kind[upn] == UPN_TEMPORARY] = LABEL_CODE["temporary_upn"]
    return {
        "upn": upn,
        "upn_prev": upn_prev,
        "surname": surname,
        "surname_prev": surname_prev,
        "label": label,
    }


def truth_rows(source_file: str, person: np.ndarray, label: np.ndarray) -> pa.Table:
    """Truth for one file's rows, in file order (the header is line 1, so rows start at 2)."""
    n = len(person)
    return pa.table(
        {
            "source_file": pa.array([source_file], pa.string()).take(
                pa.array(np.zeros(n, np.int64))
            ),
            "source_row": pa.array(np.arange(2, n + 2, dtype=np.int64)),
            "person_id": pa.array(person.astype(np.int64)),
            "defect": pa.array(LABELS, pa.string()).take(pa.array(label.astype(np.int64))),
        }
    )


def empty_truth() -> pa.Table:
    return pa.table(
        {
            "source_file": pa.array([], pa.string()),
            "source_row": pa.array([], pa.int64()),
            "person_id": pa.array([], pa.int64()),
            "defect": pa.array([], pa.string()),
        }
    )
