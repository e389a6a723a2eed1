"""Backfill historical years and rerun corrected periods, one run at a time.

A backfill loads every partition of a range of academic years in the order the data
became final (npd.calendars.history), skipping those the warehouse already holds from
unchanged inputs, so a second call resumes where the first stopped and a repeat does
nothing. A rerun reloads one partition whatever its inputs and, when its inputs had
changed, re-links the partitions whose records were matched (probabilistically or by a
reviewer) to persons its replaced load created. Links by identifier need no second look:
the master index never forgets an identifier, and person ids are never reassigned.

Only one backfill or rerun runs at a time (a run lock, held throughout); each write
inside it also takes the store lock, so Airflow tasks and CLI runs never interleave
with it inside a transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from core.config import Settings
from core.partition import Partition
from core.periods import AcademicYear
from ingest.landing import period_dir
from npd.calendars import history
from pipeline import manifest
from pipeline.steps import STEPS, PeriodResult, run_period
from warehouse import audit
from warehouse.lock import exclusive

log = logging.getLogger(__name__)

OnStep = Callable[[Partition, str], None]
IDENTIFIER_METHODS = "('upn', 'former_upn', 'uln', 'la_child_id', 'unlinked')"


def run_lock(settings: Settings, timeout: float | None = None):
    """Held for a whole backfill or rerun: a second one waits, then refuses, saying who holds it."""
    return exclusive(settings.home / "locks" / "runs.lock", timeout)


def plan(
    first: AcademicYear, last: AcademicYear, feeds: Iterable[str] | None = None
) -> list[Partition]:
    """Every partition of the years, in the order their data became final."""
    from core.feeds import FEEDS, get_feed

    names = [get_feed(f).name for f in feeds] if feeds else list(FEEDS)
    return [Partition(r.feed, r.year, r.term) for r in history(names, first, last)]


@dataclass
class RunReport:
    results: list[PeriodResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def ok(self) -> bool:
        return not any(r.status in ("blocked", "failed") for r in self.results)


def _landed(settings: Settings, partition: Partition) -> bool:
    return period_dir(settings.landing_dir, partition.feed, partition.year, partition.term).is_dir()


def backfill(
    settings: Settings,
    first: AcademicYear,
    last: AcademicYear,
    feeds: Iterable[str] | None = None,
    *,
    force: bool = False,
    wait: float | None = None,
    on_partition: Callable[[Partition], None] | None = None,
    on_step: OnStep | None = None,
) -> RunReport:
    """Load the years first..last in order. A partition with no landing folder is reported
    absent; a blocked or failed one holds up no other."""
    started = time.perf_counter()
    report = RunReport()
    settings.ensure_dirs()
    with run_lock(settings, wait):
        for partition in plan(first, last, feeds):
            if on_partition:
                on_partition(partition)
            if not _landed(settings, partition):
                report.results.append(
                    PeriodResult(partition, "absent", message="no landing folder")
                )
                continue
            report.results.append(
                run_period(
                    partition,
                    settings,
                    on_step=(lambda step, p=partition: on_step(p, step)) if on_step else None,
                    skip_unchanged=not force,
                    run_by="backfill",
                )
            )
    report.seconds = round(time.perf_counter() - started, 1)
    return report


@dataclass
class RerunReport:
    result: PeriodResult
    replaced_load_id: str | None
    dependents: list[PeriodResult] = field(default_factory=list)


def rerun(
    settings: Settings,
    partition: Partition,
    *,
    dependents: bool = True,
    wait: float | None = None,
    on_step: OnStep | None = None,
) -> RerunReport:
    """Reload one partition from its landing files now (e.g. after a corrected file);
    if its inputs changed, re-link and reload what depended on its previous load."""
    settings.ensure_dirs()
    with run_lock(settings, wait):
        before = manifest.held_load_id(settings, partition)
        result = run_period(
            partition,
            settings,
            on_step=(lambda step: on_step(partition, step)) if on_step else None,
            run_by="rerun",
        )
        report = RerunReport(result=result, replaced_load_id=before)
        now = result.steps.get("stage", {}).get("load_id")
        if dependents and result.status == "loaded" and before and before != now:
            report.dependents = _relink_dependents(settings, partition, before, on_step)
    return report


def relink_dependents(
    settings: Settings, partition: Partition, replaced_load_id: str, wait: float | None = None
) -> list[PeriodResult]:
    """Re-link and reload the partitions that depended on a partition's replaced load."""
    with run_lock(settings, wait):
        return _relink_dependents(settings, partition, replaced_load_id, None)


def dependents_of(settings: Settings, partition: Partition, load_id: str) -> list[Partition]:
    """Other partitions with records matched (not by identifier) to a person the load created,
    in the order their data became final.

    Links by UPN, former UPN, ULN or LA child id rest on identifiers the master index never
    forgets, so a correction cannot unsettle them (relinking would give the same person); a
    probabilistic or clerical match to a person the replaced load created rested on that
    load's records, so it is decided again."""
    from warehouse.engine import open_engine, table_exists

    with (
        audit.store_lock(settings),
        open_engine(settings.identity_url) as engine,
        engine.connect() as conn,
    ):
        if not table_exists(conn, "identity.record_identity"):
            return []
        rows = conn.execute(
            sa.text(
                f"""
                SELECT DISTINCT feed, academic_year, term FROM identity.record_identity
                WHERE link_method NOT IN {IDENTIFIER_METHODS}
                  AND person_id IN (
                      SELECT person_id FROM identity.person WHERE first_load_id = :load_id)
                  AND NOT (feed = :feed AND academic_year = :year
                           AND coalesce(term, '') = :term)
                """
            ),
            {
                "load_id": load_id,
                "feed": partition.feed,
                "year": partition.year.label,
                "term": partition.term_value or "",
            },
        ).fetchall()
    found = {Partition.of(f, y, t) for f, y, t in rows}
    if not found:
        return []
    years = sorted(p.year for p in found)
    return [p for p in plan(years[0], years[-1], {p.feed for p in found}) if p in found]


def _relink_dependents(
    settings: Settings, partition: Partition, replaced: str, on_step: OnStep | None
) -> list[PeriodResult]:
    results = []
    for dependent in dependents_of(settings, partition, replaced):
        log.info("%s depended on %s's replaced load: re-linking", dependent.label, partition.label)
        results.append(_relink(settings, dependent, on_step))
    return results


def _relink(settings: Settings, partition: Partition, on_step: OnStep | None) -> PeriodResult:
    """Link afresh and reload a partition (restaging it first if its staging is gone)."""
    from pipeline.steps import VALIDATION, link

    validation = partition.staging_dir(settings) / VALIDATION
    held = manifest.held_load_id(settings, partition)
    staged = validation.exists() and json.loads(validation.read_text()).get("load_id") == held
    steps = {
        **({} if staged else {"stage": STEPS["stage"], "validate": STEPS["validate"]}),
        "link": lambda p, s: link(p, s, relink=True),
        "load": STEPS["load"],
    }
    return run_period(
        partition,
        settings,
        on_step=(lambda step: on_step(partition, step)) if on_step else None,
        run_by="relink",
        steps=steps,
    )
