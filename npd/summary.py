"""The run summary a person reads: per feed and period, what was read, staged,
quarantined and loaded, how much linked, and whether the partition loaded.

It reads the warehouse's audit schema, so it shows the same truth whether the
periods ran from the CLI, the demo or Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ingest.feeds import FEEDS
from npd.config import Settings
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
               CAST(coalesce(k.new_persons, 0) AS BIGINT), r.message
        FROM last_run r
        LEFT JOIN files f USING (feed, academic_year, term)
        LEFT JOIN links k USING (feed, academic_year, term)
        LEFT JOIN loads l USING (feed, academic_year, term)
        WHERE r.n = 1
        """
        rows = _fetch(conn, sql)
    order = {name: i for i, name in enumerate(FEEDS)}
    terms = {None: 0, "autumn": 1, "spring": 2, "summer": 3}
    lines = [PeriodLine(*row) for row in rows]
    return sorted(
        lines, key=lambda ln: (order.get(ln.feed, 99), ln.academic_year, terms.get(ln.term, 9))
    )


def _fetch(conn: sa.Connection, sql: str) -> list[tuple]:
    """Fetch fully: the warehouse may be DuckDB 2.0, which refuses half-read results."""
    return [tuple(r) for r in conn.execute(sa.text(sql)).fetchall()]


def render(lines: list[PeriodLine], settings: Settings, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    if not lines:
        console.print("Nothing has run yet: try `npd demo` or `npd run`.")
        return
    table = Table(title="Pipeline summary", title_justify="left", header_style="bold")
    for col, justify in (
        ("Feed", "left"),
        ("Period", "left"),
        ("Status", "left"),
        ("Read", "right"),
        ("Staged", "right"),
        ("Quarantined", "right"),
        ("Loaded", "right"),
        ("Linked", "right"),
        ("New persons", "right"),
    ):
        table.add_column(col, justify=justify)
    for line in lines:
        colour = {"loaded": "green", "blocked": "yellow", "failed": "red"}.get(line.status, "cyan")
        table.add_row(
            line.feed,
            line.period,
            f"[{colour}]{line.status}[/{colour}]",
            f"{line.rows_read:,}",
            f"{line.rows_staged:,}",
            f"{line.rows_quarantined:,}",
            f"{line.rows_loaded:,}",
            f"{line.link_rate:.1%}",
            f"{line.new_persons:,}",
        )
    console.print(table)
    console.print(
        "[dim]Read, staged and quarantined count rows of each feed's main table "
        "(pupilonroll for the census); linked is the share of records given a person.[/dim]"
    )
    for line in lines:
        if line.status in ("blocked", "failed") and line.message:
            console.print(f"[yellow]{line.feed} {line.period}[/yellow]: {line.message}")
