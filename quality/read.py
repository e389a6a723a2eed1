"""Read the quality store (and the audit schema it summarises) back for the dashboard.

Small, aggregate tables only: the current per-LA figures of every partition, the run
history, the latest state of every partition, and the expectations that failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from core.config import Settings
from core.feeds import FEEDS
from core.periods import TERMS, AcademicYear
from ingest.landing import period_dir
from quality.summary import FileNote, PeriodLine, file_notes, period_lines
from warehouse.bulk import query_arrow
from warehouse.engine import open_engine
from warehouse_schema.catalogue import load_catalogue

TERM_ORDER = {t.value: i for i, t in enumerate(TERMS, start=1)}
CURRENT = (
    "quality.la_summary",
    "quality.column_quality",
    "quality.link_method",
    "quality.quarantine_reason",
    "quality.expectation_summary",
)


def period_label(year: str, term: str | None) -> str:
    return f"{year} {term}" if term else year


def period_sort_key(year: str, term: str | None) -> tuple[int, int]:
    """Census terms in order within a year; an annual feed's period after the summer term."""
    return AcademicYear.parse(year).start, TERM_ORDER.get(term or "", len(TERM_ORDER) + 1)


def feed_label(feed: str) -> str:
    return FEEDS[feed].label if feed in FEEDS else feed


@dataclass
class QualityData:
    """Everything the dashboard shows, as pandas frames with `period` and `period_order`."""

    lines: list[PeriodLine]  # latest state of every partition (quality.summary)
    runs: pd.DataFrame  # quality.metric_run, every run
    la_summary: pd.DataFrame
    column_quality: pd.DataFrame
    link_method: pd.DataFrame
    quarantine_reason: pd.DataFrame
    expectation_summary: pd.DataFrame
    failed_expectations: pd.DataFrame  # audit.validation_result rows that failed, current runs
    # Files of the latest stage not used or rejected whole (audit.file_account, quality.summary),
    # and staged rows loaded with a warning by table and warning (audit.warning_summary).
    files: pd.DataFrame = field(default_factory=lambda: files_frame([]))
    warnings: pd.DataFrame = field(
        default_factory=lambda: _with_period(WARNING_SCHEMA.empty_table().to_pandas())
    )

    @property
    def current_runs(self) -> pd.DataFrame:
        """The latest metrics run of each partition."""
        if self.runs.empty:
            return self.runs
        runs = self.runs.sort_values("computed_at")
        return runs.groupby(["feed", "period"], sort=False).tail(1)

    def periods(self, feed: str | None = None) -> list[str]:
        """Periods in time order (of one feed, or of all)."""
        keys = {
            (period_label(ln.academic_year, ln.term), period_sort_key(ln.academic_year, ln.term))
            for ln in self.lines
            if feed is None or ln.feed == feed
        }
        return [p for p, _ in sorted(keys, key=lambda item: item[1])]

    def feeds(self) -> list[str]:
        """Feeds that have run, in registry order (unregistered ones last)."""
        seen = {ln.feed for ln in self.lines}
        order = [f for f in FEEDS if f in seen]
        return order + sorted(seen - set(order))


def _with_period(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        frame["period"] = pd.Series(dtype="string")
        frame["period_order"] = pd.Series(dtype="int64")
        return frame
    terms = [t if isinstance(t, str) else None for t in frame["term"]]
    years = list(frame["academic_year"])
    frame["period"] = [period_label(y, t) for y, t in zip(years, terms, strict=True)]
    frame["period_order"] = [
        a * 10 + b for a, b in (period_sort_key(y, t) for y, t in zip(years, terms, strict=True))
    ]
    return frame


def _existing(conn) -> set[str]:
    """schema.table of every table, fetched fully (a half-read inspector result would block
    the DuckDB 2.0 connection for the Arrow queries that follow)."""
    rows = conn.execute(
        sa.text("SELECT table_schema, table_name FROM information_schema.tables")
    ).fetchall()
    return {f"{schema}.{name}" for schema, name in rows}


def _table(conn, key: str, existing: set[str]) -> pd.DataFrame:
    table = load_catalogue().table(key)
    schema = table.arrow_schema()
    if key not in existing:
        return _with_period(pa.Table.from_pylist([], schema=schema).to_pandas())
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    data = query_arrow(conn, f'SELECT {cols} FROM "{table.schema}"."{table.name}"', schema=schema)
    return _with_period(data.to_pandas())


FAILED_SQL = """
SELECT v.feed, v.academic_year, v.term, v.severity, v.rule, v.expectation, v.column_name,
       v.element_count, v.unexpected_count, v.unexpected_percent
FROM audit.validation_result v
JOIN quality.expectation_summary e
  ON e.validation_run_id = v.run_id AND e.severity = v.severity
WHERE NOT v.success
"""
FAILED_SCHEMA = pa.schema(
    [
        ("feed", pa.string()),
        ("academic_year", pa.string()),
        ("term", pa.string()),
        ("severity", pa.string()),
        ("rule", pa.string()),
        ("expectation", pa.string()),
        ("column_name", pa.string()),
        ("element_count", pa.int64()),
        ("unexpected_count", pa.int64()),
        ("unexpected_percent", pa.float64()),
    ]
)


WARNING_SQL = "SELECT feed, academic_year, term, warning, rows FROM audit.warning_summary"
WARNING_SCHEMA = pa.schema(
    [
        ("feed", pa.string()),
        ("academic_year", pa.string()),
        ("term", pa.string()),
        ("warning", pa.string()),
        ("rows", pa.int64()),
    ]
)
FILE_COLUMNS = [
    "feed",
    "academic_year",
    "term",
    "source_file",
    "source_table",
    "status",
    "message",
    "rows_read",
    "la",
    "why",
    "detail",
    "file",
]
# A return folder LA<nnn> anywhere in a landing path: the LA whose return held the file.
_LA_FOLDER = re.compile(r"(?:^|/)LA(\d{3})(?:/|$)")


def la_of_path(path: str) -> str | None:
    """The LA key ('330') of a file in a return folder LA<nnn>, else None (a national file)."""
    found = _LA_FOLDER.search(path)
    return found.group(1) if found else None


def period_folder(feed: str, year: str, term: str | None) -> str:
    """The period's folder under the landing folder, e.g. '2024-25/school_census/autumn/'."""
    return period_dir(Path(), feed, AcademicYear.parse(year), term).as_posix() + "/"


def files_frame(notes: list[FileNote]) -> pd.DataFrame:
    """File notes (quality.summary) as a frame with `la`, `period` and `period_order`; `file` is
    the path within the period's landing folder and `why`/`detail` name files the same way
    (a person reads them under the period's heading)."""
    rows = []
    for n in notes:
        folder = period_folder(n.feed, n.academic_year, n.term)
        rows.append(
            [
                n.feed,
                n.academic_year,
                n.term,
                n.source_file,
                n.table,
                n.status,
                n.message,
                n.rows_read,
                la_of_path(n.source_file),
                n.why.replace(folder, ""),
                n.detail.replace(folder, ""),
                n.source_file.removeprefix(folder),
            ]
        )
    return _with_period(pd.DataFrame(rows, columns=FILE_COLUMNS))


def read_quality(settings: Settings) -> QualityData:
    lines = period_lines(settings)
    notes = file_notes(settings)
    with open_engine(settings.warehouse_url) as engine, engine.connect() as conn:
        existing = _existing(conn)
        frames = {key: _table(conn, key, existing) for key in ("quality.metric_run", *CURRENT)}
        if {"quality.expectation_summary", "audit.validation_result"} <= existing:
            failed = query_arrow(conn, FAILED_SQL, schema=FAILED_SCHEMA).to_pandas()
        else:
            failed = FAILED_SCHEMA.empty_table().to_pandas()
        if "audit.warning_summary" in existing:
            warnings = query_arrow(conn, WARNING_SQL, schema=WARNING_SCHEMA).to_pandas()
        else:
            warnings = WARNING_SCHEMA.empty_table().to_pandas()
    return QualityData(
        lines=lines,
        runs=frames["quality.metric_run"],
        la_summary=frames["quality.la_summary"],
        column_quality=frames["quality.column_quality"],
        link_method=frames["quality.link_method"],
        quarantine_reason=frames["quality.quarantine_reason"],
        expectation_summary=frames["quality.expectation_summary"],
        failed_expectations=_with_period(failed),
        files=files_frame(notes),
        warnings=_with_period(warnings),
    )
