"""Where an LA's figures for a period fall outside what the dashboard calls healthy.

Great Expectations judges a whole partition; a defect confined to one LA's return (5%
invalid ethnicity codes in one LA is under 1% nationally) passes it. These flags apply
the same kind of test per LA, to published figures only (so a flag never hints at a
suppressed count), and turn a partition's status to `warning`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from quality.publish import la_title


@dataclass(frozen=True)
class FlagPolicy:
    min_validity: float = 0.99  # share of codes returned that are valid, per column
    max_quarantine_rate: float = 0.01  # share of rows read that were quarantined
    min_link_rate: float = 0.97  # share of records given a person
    # A column that is normally complete (at least this share present last period) ...
    usually_complete: float = 0.98
    # ... is flagged when its completeness falls by more than this since the last period.
    max_completeness_drop: float = 0.02


FLAG_COLUMNS = ["feed", "la", "period", "kind", "column_name", "value", "threshold", "message"]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _codes(value: float) -> str:
    return "1 invalid code" if int(value) == 1 else f"{int(value):,} invalid codes"


def _invalid(r) -> str:
    """Where a column's invalid codes went: quarantined (those rows are not in the load) and
    staged (loaded). Only published counts reach here: validity needs every part."""
    said = []
    if r.quarantined > 0:
        said.append(f"{_codes(r.quarantined)}, their rows quarantined and not loaded")
    if r.invalid > 0:
        said.append(f"{_codes(r.invalid)} loaded")
    return "; ".join(said)


def _flags(frame: pd.DataFrame, kind: str, value: str, threshold: float, text) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    out = frame.assign(kind=kind, value=frame[value], threshold=threshold)
    if "column_name" not in out:
        out["column_name"] = None
    out["message"] = [text(row) for row in out.itertuples(index=False)]
    return out[FLAG_COLUMNS]


def la_flags(
    la: pd.DataFrame,
    columns: pd.DataFrame,
    period_order: dict[str, int],
    policy: FlagPolicy | None = None,
) -> pd.DataFrame:
    """One row per flag: feed, LA (or 'Total'), period, kind, column, value and a message."""
    policy = policy or FlagPolicy()
    parts = []
    if not columns.empty:
        invalid = columns[columns["validity"] < policy.min_validity]
        parts.append(
            _flags(
                invalid,
                "validity",
                "validity",
                policy.min_validity,
                lambda r: (
                    f"{la_title(r.la)}: {r.source_table}.{r.column_name} "
                    f"{_pct(r.validity)} valid {r.codelist} codes (expected at least "
                    f"{_pct(policy.min_validity)}): {_invalid(r)}"
                ),
            )
        )
        ordered = columns.assign(order=columns["period"].map(period_order)).sort_values("order")
        keys = ["feed", "source_table", "column_name", "la"]
        ordered["previous"] = ordered.groupby(keys)["completeness"].shift(1)
        drop = ordered[
            (ordered["previous"] >= policy.usually_complete)
            & (ordered["previous"] - ordered["completeness"] > policy.max_completeness_drop)
        ]
        parts.append(
            _flags(
                drop,
                "completeness",
                "completeness",
                policy.max_completeness_drop,
                lambda r: (
                    f"{la_title(r.la)}: {r.source_table}.{r.column_name} "
                    f"{_pct(r.completeness)} complete, down from {_pct(r.previous)}"
                ),
            )
        )
    if not la.empty:
        parts.append(
            _flags(
                la[la["quarantine_rate"] > policy.max_quarantine_rate],
                "quarantine",
                "quarantine_rate",
                policy.max_quarantine_rate,
                lambda r: (
                    f"{la_title(r.la)}: {_pct(r.quarantine_rate)} of rows quarantined "
                    f"(expected at most {_pct(policy.max_quarantine_rate)})"
                ),
            )
        )
        parts.append(
            _flags(
                la[la["link_rate"] < policy.min_link_rate],
                "linkage",
                "link_rate",
                policy.min_link_rate,
                lambda r: (
                    f"{la_title(r.la)}: {_pct(r.link_rate)} of records linked "
                    f"(expected at least {_pct(policy.min_link_rate)})"
                ),
            )
        )
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    return pd.concat(parts, ignore_index=True)
