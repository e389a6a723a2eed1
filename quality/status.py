"""A status per feed and period: pass, warning or blocked, and why.

blocked: the period's latest run was blocked or failed (audit.load_run), so the warehouse
holds the previous load of the period, if any. warning: it loaded, but a warning
expectation failed, an LA's figures were flagged (quality.flags), or a file in the landing
folder was not used or was rejected whole (audit.file_account: its rows are not in the
load). pass: none of these. A blocked period lists such files after its root cause too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from quality.read import period_label, period_sort_key
from quality.summary import PeriodLine

STATUSES = ("pass", "warning", "blocked", "in progress")


@dataclass
class PeriodStatus:
    feed: str
    academic_year: str
    term: str | None
    status: str
    reasons: list[str] = field(default_factory=list)
    flags: int = 0
    warnings_failed: int = 0

    @property
    def period(self) -> str:
        return period_label(self.academic_year, self.term)

    @property
    def order(self) -> tuple[int, int]:
        return period_sort_key(self.academic_year, self.term)


def _warnings(failed: pd.DataFrame, feed: str, period: str) -> list[str]:
    if failed.empty:
        return []
    rows = failed[
        (failed["feed"] == feed) & (failed["period"] == period) & (failed["severity"] == "warning")
    ]
    return [
        f"expectation failed: {r.rule}"
        + (f" ({r.column_name}" if isinstance(r.column_name, str) else " (")
        + (f", {r.unexpected_percent:.1f}% of rows)" if pd.notna(r.unexpected_percent) else ")")
        for r in rows.itertuples(index=False)
    ]


FILES_LISTED = 3  # files named in a period's reasons; the feed page lists every one


def _files(files: pd.DataFrame | None, feed: str, period: str) -> list[str]:
    """One reason per file not used or rejected whole (the first few, then how many more)."""
    if files is None or files.empty:
        return []
    mine = files[(files["feed"] == feed) & (files["period"] == period)]
    reasons = [f"{r.file}: {r.why}" for r in mine.head(FILES_LISTED).itertuples()]
    if len(mine) > FILES_LISTED:
        reasons.append(f"and {len(mine) - FILES_LISTED:,} more files not used or rejected")
    return reasons


def period_statuses(
    lines: list[PeriodLine],
    failed: pd.DataFrame,
    flags: pd.DataFrame,
    files: pd.DataFrame | None = None,
) -> list[PeriodStatus]:
    """One status per partition that has run, in feed and period order."""
    out = []
    for line in lines:
        period = period_label(line.academic_year, line.term)
        if line.status in ("blocked", "failed"):
            reasons = [line.message or line.status]
            if line.rows_loaded:
                reasons.append(f"the warehouse keeps the previous load ({line.rows_loaded:,} rows)")
            reasons += _files(files, line.feed, period)
            out.append(PeriodStatus(line.feed, line.academic_year, line.term, "blocked", reasons))
            continue
        if line.status != "loaded":
            reasons = [f"{line.status}"]
            out.append(
                PeriodStatus(line.feed, line.academic_year, line.term, "in progress", reasons)
            )
            continue
        mine = (
            flags[(flags["feed"] == line.feed) & (flags["period"] == period)]
            if not flags.empty
            else flags
        )
        warnings = _warnings(failed, line.feed, period)
        reasons = warnings + list(mine["message"]) if not mine.empty else warnings
        reasons = reasons + _files(files, line.feed, period)
        out.append(
            PeriodStatus(
                line.feed,
                line.academic_year,
                line.term,
                "warning" if reasons else "pass",
                reasons,
                flags=len(mine),
                warnings_failed=len(warnings),
            )
        )
    return out
