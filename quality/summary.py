"""The run summary a person reads: per feed and period, what was read, staged,
quarantined, warned and loaded, how much linked, whether the partition loaded, and which
files of the landing folder were not used or were rejected whole, and why.

It reads the warehouse's audit schema, so it shows the same truth whether the
periods ran from the CLI, the demo or Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from core.config import Settings
from core.feeds import FEEDS
from warehouse.engine import open_engine, table_exists


@dataclass
class PeriodLine:
    feed: str
    academic_year: str
    term: str | None
    status: str
    rows_read: int
    rows_staged: int
    rows_quarantined: int
    rows_loaded: int
    records: int
    linked: int
    new_persons: int
    message: str | None
    files_unused: int = 0  # files in the landing folder not read (audit.file_account)
    rows_warned: int = 0  # staged rows of any table loaded with a warning

    @property
    def link_rate(self) -> float:
        return self.linked / self.records if self.records else 0.0

    @property
    def period(self) -> str:
        return f"{self.academic_year} {self.term}" if self.term else self.academic_year


def period_lines(settings: Settings) -> list[PeriodLine]:
    """One line per partition that has ever run, latest state first by feed, year and term."""
    with open_engine(settings.warehouse_url) as engine, engine.connect() as conn:
        if not table_exists(conn, "audit.load_run"):
            return []
        primary = " ".join(f"WHEN '{f.name}' THEN '{f.primary_table}'" for f in FEEDS.values())
        sql = f"""
        WITH last_run AS (
            SELECT feed, academic_year, coalesce(term, '') AS term, step, status, message,
                   row_number() OVER (PARTITION BY feed, academic_year, term
                                      ORDER BY finished_at DESC) AS n
            FROM audit.load_run
        ),
        files AS (
            SELECT feed, academic_year, coalesce(term, '') AS term, sum(rows_read) AS rows_read,
                   sum(rows_staged) AS rows_staged, sum(rows_quarantined) AS rows_quarantined
            FROM audit.file_account
            WHERE source_table = CASE feed {primary} END
            GROUP BY 1, 2, 3
        ),
        every_file AS (
            SELECT feed, academic_year, coalesce(term, '') AS term,
                   count(*) FILTER (WHERE status = 'unused') AS files_unused,
                   sum(coalesce(rows_warned, 0)) AS rows_warned
            FROM audit.file_account GROUP BY 1, 2, 3
        ),
        links AS (
            SELECT feed, academic_year, coalesce(term, '') AS term, sum(records) AS records,
                   sum(records) FILTER (WHERE link_method <> 'unlinked') AS linked,
                   sum(records) FILTER (WHERE new_person) AS new_persons
            FROM audit.link_summary GROUP BY 1, 2, 3
        ),
        loads AS (
            SELECT feed, academic_year, coalesce(term, '') AS term, sum(rows_loaded) AS rows_loaded
            FROM audit.partition_load GROUP BY 1, 2, 3
        )
        SELECT r.feed, r.academic_year, NULLIF(r.term, '') AS term,
               CASE WHEN r.step = 'load' AND r.status = 'succeeded' THEN 'loaded'
                    WHEN r.status = 'succeeded' THEN 'in progress (' || r.step || ')'
                    ELSE r.status END AS status,
               CAST(coalesce(f.rows_read, 0) AS BIGINT), CAST(coalesce(f.rows_staged, 0) AS BIGINT),
               CAST(coalesce(f.rows_quarantined, 0) AS BIGINT), CAST(coalesce(l.rows_loaded, 0) AS BIGINT),
               CAST(coalesce(k.records, 0) AS BIGINT), CAST(coalesce(k.linked, 0) AS BIGINT),
               CAST(coalesce(k.new_persons, 0) AS BIGINT), r.message,
               CAST(coalesce(e.files_unused, 0) AS BIGINT), CAST(coalesce(e.rows_warned, 0) AS BIGINT)
        FROM last_run r
        LEFT JOIN files f USING (feed, academic_year, term)
        LEFT JOIN every_file e USING (feed, academic_year, term)
        LEFT JOIN links k USING (feed, academic_year, term)
        LEFT JOIN loads l USING (feed, academic_year, term)
        WHERE r.n = 1
        """
        rows = _fetch(conn, sql)
    order = {name: i for i, name in enumerate(FEEDS)}
    lines = [PeriodLine(*row) for row in rows]
    return sorted(
        lines, key=lambda ln: (order.get(ln.feed, 99), ln.academic_year, TERM_ORDER.get(ln.term, 9))
    )


@dataclass
class FileNote:
    """A file of a partition's landing folder that was not loaded: not used, or rejected whole."""

    feed: str
    academic_year: str
    term: str | None
    source_file: str  # relative to the landing folder
    table: str
    status: str  # unused or rejected
    message: str | None  # why (never a value from inside the file)
    rows_read: int = 0

    @property
    def period(self) -> str:
        return f"{self.academic_year} {self.term}" if self.term else self.academic_year

    @property
    def detail(self) -> str:
        """Why, without what is shown beside it: staging's messages name their file and may
        say "not used" (ingest/inventory.py), which a line per file need not repeat."""
        text = self.message or ""  # messages joined by "; " (warehouse.audit.record_stage)
        for lead in (f"{self.source_file}: ", "not used: ", "rejected: "):
            text = text.removeprefix(lead).replace(f"; {lead}", "; ")
        return text

    @property
    def why(self) -> str:
        what = "not used" if self.status == "unused" else "rejected whole"
        return f"{what}: {self.detail}" if self.detail else what


NOTED = ("unused", "rejected")


def file_notes(settings: Settings) -> list[FileNote]:
    """Every file of the latest stage of each partition that was not used or was rejected
    whole, with why, in feed, period and file order."""
    with open_engine(settings.warehouse_url) as engine, engine.connect() as conn:
        if not table_exists(conn, "audit.file_account"):
            return []
        rows = [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT feed, academic_year, term, source_file, source_table, status, message, "
                    "CAST(coalesce(rows_read, 0) AS BIGINT) FROM audit.file_account "
                    "WHERE status IN ('unused', 'rejected')"
                )
            ).fetchall()
        ]
    order = {name: i for i, name in enumerate(FEEDS)}
    notes = [FileNote(*row) for row in rows]
    return sorted(
        notes,
        key=lambda n: (
            order.get(n.feed, 99),
            n.feed,
            n.academic_year,
            TERM_ORDER.get(n.term, 9),
            n.source_file,
            n.table,
        ),
    )


TERM_ORDER = {None: 0, "autumn": 1, "spring": 2, "summer": 3}


def _fetch(conn: sa.Connection, sql: str) -> list[tuple]:
    """Fetch fully: the warehouse may be DuckDB 2.0, which refuses half-read results."""
    return [tuple(r) for r in conn.execute(sa.text(sql)).fetchall()]


SHOWN_PER_PARTITION = 25  # files listed per partition; audit.file_account holds every one


def _printable(text: str) -> str:
    """Text from a landing folder (a file name, a message naming one) fit for a terminal:
    rich markup escaped and control characters shown as escapes, never interpreted."""
    from rich.markup import escape

    return escape(
        "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    )


def render(
    lines: list[PeriodLine],
    settings: Settings,
    console=None,
    files: list[FileNote] | None = None,
) -> None:
    """Print the summary table, then every file not used or rejected whole, with why (read
    from the warehouse when `files` is not given)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 150)
    if not lines:
        console.print("Nothing has run yet: try `npd demo` or `npd run`.")
        return
    if files is None:
        files = file_notes(settings)
    table = Table(title="Pipeline summary", title_justify="left", header_style="bold")
    for col, justify in (
        ("Feed", "left"),
        ("Period", "left"),
        ("Status", "left"),
        ("Read", "right"),
        ("Staged", "right"),
        ("Quarantined", "right"),
        ("Warned", "right"),
        ("Loaded", "right"),
        ("Linked", "right"),
        ("New persons", "right"),
        ("Unused files", "right"),
    ):
        table.add_column(col, justify=justify)
    for line in lines:
        colour = {"loaded": "green", "blocked": "yellow", "failed": "red"}.get(line.status, "cyan")
        unused = f"[yellow]{line.files_unused:,}[/yellow]" if line.files_unused else "0"
        table.add_row(
            line.feed,
            line.period,
            f"[{colour}]{line.status}[/{colour}]",
            f"{line.rows_read:,}",
            f"{line.rows_staged:,}",
            f"{line.rows_quarantined:,}",
            f"{line.rows_warned:,}",
            f"{line.rows_loaded:,}",
            f"{line.link_rate:.1%}",
            f"{line.new_persons:,}",
            unused,
        )
    console.print(table)
    console.print(
        "[dim]Read, staged and quarantined count rows of each feed's main table "
        "(pupilonroll for the census); warned counts staged rows of any table loaded with a "
        "warning (questionable but usable values); linked is the share of records given a "
        "person; unused files are files in the landing folder that were not read.[/dim]"
    )
    for line in lines:
        if line.status in ("blocked", "failed") and line.message:
            console.print(f"[yellow]{line.feed} {line.period}[/yellow]: {_printable(line.message)}")
    _render_files(console, files)


def _render_files(console, files: list[FileNote]) -> None:
    if not files:
        return
    console.print()
    console.print("[bold]Files not used or rejected whole[/bold] (file under the landing folder)")
    by_partition: dict[tuple, list[FileNote]] = {}
    for note in files:
        by_partition.setdefault((note.feed, note.period), []).append(note)
    for (feed, period), notes in by_partition.items():
        console.print(f"[yellow]{feed} {period}[/yellow]")
        for note in notes[:SHOWN_PER_PARTITION]:
            rows = f" ({note.rows_read:,} rows quarantined)" if note.status == "rejected" else ""
            console.print(f"  {_printable(note.source_file)}: {_printable(note.why)}{rows}")
        if len(notes) > SHOWN_PER_PARTITION:
            console.print(
                f"  ... and {len(notes) - SHOWN_PER_PARTITION:,} more "
                "(every one is in audit.file_account)"
            )
