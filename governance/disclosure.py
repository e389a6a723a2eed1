"""Statistical disclosure control for counts of children: the one implementation the
dashboard and the aggregate extracts both use.

A table of counts is published with its margins (totals along every dimension and
the grand total). Primary suppression hides counts below the threshold. Secondary
suppression then makes sure no hidden count can be worked back out: every line of
the table (the cells that share all dimensions but one, together with their total)
must hide none of its entries or at least two. Where a line hides exactly one, the
smallest other entry of that line is hidden too, and this repeats until no line
gives a hidden count away. Published counts may then be rounded (DfE rounds national
CLA figures to the nearest 10). Hidden counts show the symbol `c` (EES convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TOTAL = "Total"


@dataclass(frozen=True)
class DisclosurePolicy:
    threshold: int = 10  # counts 1..threshold-1 are hidden (ONS rule of thumb; configurable)
    rounding_base: int | None = None  # round published counts to the nearest base, e.g. 5 or 10
    hide_zeros: bool = False  # zeros are published unless they would disclose by themselves
    symbol: str = "c"

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("the suppression threshold must be at least 1")
        if self.rounding_base is not None and self.rounding_base < 1:
            raise ValueError("the rounding base must be a positive whole number")


def with_margins(cells: pd.DataFrame, value: str, dims: list[str]) -> pd.DataFrame:
    """The table with a Total for every subset of dimensions (all margins and the grand total)."""
    cells = cells[[*dims, value]].copy()
    for dim in dims:
        cells[dim] = cells[dim].astype(str)
    parts = [cells]
    n = len(dims)
    for mask in range(1, 2**n):
        totalled = [dims[i] for i in range(n) if mask & (1 << i)]
        kept = [d for d in dims if d not in totalled]
        if kept:
            part = cells.groupby(kept, as_index=False, sort=True)[value].sum()
        else:
            part = pd.DataFrame({value: [cells[value].sum()]})
        for dim in totalled:
            part[dim] = TOTAL
        parts.append(part[[*dims, value]])
    return pd.concat(parts, ignore_index=True)


def _lines(table: pd.DataFrame, dims: list[str]) -> list[np.ndarray]:
    """Group ids of every line: for each dimension, the entries sharing all other dimensions."""
    out = []
    for dim in dims:
        others = [d for d in dims if d != dim]
        if others:
            out.append(table.groupby(others, sort=False).ngroup().to_numpy())
        else:
            out.append(np.zeros(len(table), dtype=np.int64))
    return out


def secondary_suppress(
    table: pd.DataFrame, value: str, dims: list[str], hidden: np.ndarray
) -> np.ndarray:
    """Hide further entries until no line hides exactly one (so none can be recovered)."""
    hidden = hidden.copy()
    values = table[value].to_numpy()
    lines = _lines(table, dims)
    # Prefer hiding interior cells to totals, then the smallest count, then a stable order.
    is_total = np.zeros(len(table), dtype=bool)
    for dim in dims:
        is_total |= (table[dim] == TOTAL).to_numpy()
    preference = np.lexsort((np.arange(len(table)), values, is_total))
    rank = np.empty(len(table), dtype=np.int64)
    rank[preference] = np.arange(len(table))
    changed = True
    while changed:
        changed = False
        for groups in lines:
            hidden_per_line = np.bincount(groups, weights=hidden, minlength=groups.max() + 1)
            exposed = np.flatnonzero(hidden_per_line == 1)
            for line in exposed:
                members = np.flatnonzero((groups == line) & ~hidden)
                if members.size == 0:
                    continue
                hidden[members[np.argmin(rank[members])]] = True
                changed = True
    return hidden


def recoverable(table: pd.DataFrame, dims: list[str], hidden: np.ndarray) -> list[int]:
    """Rows of hidden entries that are the only hidden entry in some line (should be none)."""
    found: set[int] = set()
    for groups in _lines(table, dims):
        counts = np.bincount(groups, weights=hidden, minlength=groups.max() + 1)
        found.update(np.flatnonzero(hidden & (counts[groups] == 1)).tolist())
    return sorted(found)


def protect(
    cells: pd.DataFrame,
    value: str,
    dims: list[str],
    policy: DisclosurePolicy | None = None,
    margins: bool = True,
) -> pd.DataFrame:
    """Counts safe to publish: margins added, small counts hidden, nothing recoverable.

    Returns the table with `value` (None where hidden, rounded where the policy says),
    `suppressed` ("primary", "secondary" or None) and `display` (the text to show).
    """
    policy = policy or DisclosurePolicy()
    table = with_margins(cells, value, dims) if margins else cells[[*dims, value]].copy()
    if table[value].isna().any():
        raise ValueError(f"counts in {value!r} must all be present before suppression")
    counts = table[value].to_numpy()
    primary = (counts > 0) & (counts < policy.threshold)
    if policy.hide_zeros:
        primary |= counts == 0
    hidden = secondary_suppress(table, value, dims, primary) if margins else primary
    published = counts.astype(float)
    if policy.rounding_base:
        base = policy.rounding_base
        published = np.floor(published / base + 0.5) * base
    table["suppressed"] = np.where(primary, "primary", np.where(hidden, "secondary", None))
    table[value] = pd.array(np.where(hidden, np.nan, published), dtype="Int64")
    table["display"] = [
        policy.symbol if h else f"{int(v):,}" for h, v in zip(hidden, published, strict=True)
    ]
    return table
