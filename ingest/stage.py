"""The stage step: a partition's landing files to typed Parquet, quarantine and accounts.

Output, under var/staging/<feed>/<year>/<term|annual>/:
    tables/<table>.parquet   typed rows with lineage (_load_id, _source_file, _source_row, _return)
    quarantine.parquet       rows that could not be typed, with reason and raw text
    records.parquet          the feed's unit records (e.g. one per pupil on roll)
    stage_report.json        per-file accounts: rows read = staged + quarantined
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.config import Settings
from core.duck import local_duckdb, quote_ident, scalar, sql_str, threads
from core.feeds import get_feed
from core.partition import Partition
from core.periods import AcademicYear
from ingest.accounting import FileAccount, StageReport
from ingest.attempts import keep_loaded
from ingest.convert import RowChecks
from ingest.derive_common import DeriveContext, derive_of
from ingest.inventory import Inventory, ReadPlan, plan_returns, source_name, take_inventory
from ingest.sniff import FileFacts, sniff
from ingest.spec import QUARANTINE_LIMIT_MIN_ROWS, FeedSpec, load_spec
from ingest.staging import StagingSession, staged_name
from ingest.xml_source import stage_xml_returns

REPORT = "stage_report.json"
WARNINGS = "warnings.parquet"
# Quarantined rows in file and line order, however they were found (typing, duplicates,
# malformed lines) and however the returns were grouped (ingest/shards.py).
QUARANTINE_ORDER = "ORDER BY _source_file, _source_row, source_table, reason"


def stage(
    settings: Settings,
    partition: Partition,
    only: list[str] | None = None,
    out: Path | None = None,
) -> StageReport:
    """Stage every return of a partition (or the returns named in `only`, into `out`: one
    shard, see ingest/shards.py). Raises InputError if the period has no landing folder.

    Every entry of the landing folder is accounted for: read, refused whole (its rows
    counted and quarantined) or not used, with the reason (ingest.inventory)."""
    started = time.perf_counter()
    feed = get_feed(partition.feed)
    spec = load_spec(partition.feed).for_year(partition.year, partition.term)
    inventory = take_inventory(settings, partition).select(only)
    facts = sniff_files(inventory.files)
    checksums = {source_name(p, settings.landing_dir): f.sha256 for p, f in facts.items()}
    load_id = load_id_of(partition, checksums)
    if out is None:
        out = partition.staging_dir(settings)
        keep_loaded(settings, partition)  # a failed attempt must not take the loaded copy
    if out.exists():
        shutil.rmtree(out)
    (out / "tables").mkdir(parents=True)

    with (
        local_duckdb(settings.tmp_dir) as con,
        tempfile.TemporaryDirectory(dir=settings.tmp_dir, prefix="stage-") as work,
    ):
        session = StagingSession(con, settings.landing_dir, load_id, Path(work))
        session.checks = row_checks(spec, partition)
        session.accounts.extend(inventory.unused)
        plan = plan_returns(settings.landing_dir, spec, partition, inventory.returns, facts)
        session.accounts.extend(plan.unused)
        present = stage_xml_returns(session, plan.xml_returns, spec, partition.year)
        for name, files in plan.csv_files.items():  # one read per table across every return
            session.stage_csv_files(files, spec.tables[name], spec.encoding, facts)
        for return_dir, table in plan.missing:
            source = f"{source_name(return_dir, settings.landing_dir)}/<{table}>"
            session.record_missing(source, spec.tables[table], spec.tables[table].required)
        refused = _refuse_after_read(session, plan, spec, partition)
        refused_pairs = {(plan.return_of.get(source), table) for source, table in refused}
        present.extend(p for p in plan.present if p not in refused_pairs)
        for child in spec.tables.values():
            if child.parent:
                session.quarantine_orphans(child, spec.tables[child.parent[0]], child.parent[1])
        con.execute(  # lists, not an Arrow table: building one imports pandas (~1 s cold)
            "CREATE TABLE returned_tables AS SELECT unnest(?::VARCHAR[]) AS _return, "
            "unnest(?::VARCHAR[]) AS source_table",
            [[p[0] for p in present], [p[1] for p in present]],
        )
        derive_of(feed)(con, DeriveContext(partition.year, partition.term, load_id))
        for table in spec.tables:
            write_parquet(con, staged_name(table), out / "tables" / f"{table}.parquet")
        write_parquet(
            con, f"(SELECT * FROM quarantine {QUARANTINE_ORDER})", out / "quarantine.parquet"
        )
        write_parquet(con, "records", out / "records.parquet")
        records = scalar(con, "SELECT count(*) FROM records")
        reasons = con.execute(
            "SELECT source_table || ': ' || regexp_replace(reason, ' \\(.*', '') AS r, count(*) "
            "FROM quarantine GROUP BY r ORDER BY r"
        ).fetchall()
        warnings = _write_warnings(con, session, out / WARNINGS)

    shares = _quarantine_shares(spec, session.accounts, {r: n for r, n in reasons})
    report = StageReport(
        feed=partition.feed,
        academic_year=partition.year.label,
        term=partition.term_value,
        load_id=load_id,
        files=session.accounts,
        records=records,
        quarantine_reasons={r: n for r, n in reasons},
        warning_reasons=warnings,
        blocking=list(  # once each: a refused XML file has an account per table it supplies
            dict.fromkeys(
                f.reason or "; ".join(f.messages)
                for f in session.accounts
                if f.status in ("rejected", "missing")
                and f.table in spec.tables
                and spec.tables[f.table].required
            )
        )
        + shares,
        inputs=checksums,
        seconds=round(time.perf_counter() - started, 3),
    )
    report.write(out / REPORT)
    return report


def _quarantine_shares(
    spec: FeedSpec, accounts: list[FileAccount], reasons: dict[str, int]
) -> list[str]:
    """Tables that lost more than their limit of rows to quarantine: a systemic fault (a
    broken export, a mapping error), named with the reason most rows carry."""
    found = []
    for table in spec.tables.values():
        limit = table.blocks_above
        files = [a for a in accounts if a.table == table.name]
        read = sum(a.rows_read for a in files)
        lost = sum(a.rows_quarantined for a in files if a.status != "rejected")
        if limit is None or not read or lost < QUARANTINE_LIMIT_MIN_ROWS or lost / read <= limit:
            continue
        top = max(
            ((r, n) for r, n in reasons.items() if r.startswith(f"{table.name}: ")),
            key=lambda item: item[1],
            default=(f"{table.name}: no reason recorded", 0),
        )
        found.append(
            f"{lost / read:.1%} of {table.name} rows were quarantined ({lost} of {read}; "
            f"the limit is {limit:.0%}), most for {top[0][len(table.name) + 2 :]} ({top[1]} rows)"
        )
    return found


def _write_warnings(con, session: StagingSession, path: Path) -> dict[str, int]:
    """Warnings of rows still staged (a warned row later quarantined keeps only its reason),
    written in file and line order; counts staged rows warned per file and rows per warning."""
    con.execute(
        "DELETE FROM row_warning w USING quarantine q WHERE q.source_table = w.source_table "
        "AND q._source_file = w._source_file AND q._source_row = w._source_row"
    )
    write_parquet(
        con,
        "(SELECT * FROM row_warning ORDER BY _source_file, _source_row, source_table, warning)",
        path,
    )
    warned = {
        (source, table): n
        for source, table, n in con.execute(
            "SELECT _source_file, source_table, count(DISTINCT _source_row) FROM row_warning "
            "GROUP BY 1, 2"
        ).fetchall()
    }
    for account in session.accounts:
        account.rows_warned = warned.get((account.source_file, account.table), 0)
    return dict(
        con.execute(
            "SELECT source_table || ': ' || regexp_replace(warning, ' \\(.*', '') AS w, count(*) "
            "FROM row_warning GROUP BY w ORDER BY w"
        ).fetchall()
    )


def read_report(settings: Settings, partition: Partition) -> StageReport:
    path = partition.staging_dir(settings) / REPORT
    if not path.exists():
        raise FileNotFoundError(f"{partition.label} has not been staged (no {REPORT})")
    return StageReport.read(path)


def landing_checksums(inventory: Inventory, landing: Path) -> dict[str, str]:
    """SHA-256 of every file stage may read, by its name under the landing folder: the same
    files and names as stage's own (ingest.inventory), so a load id computed here is the
    one stage gives."""
    paths = inventory.files
    with ThreadPoolExecutor(max_workers=threads()) as pool:  # hashlib releases the GIL
        digests = list(pool.map(_sha256, paths))
    return {source_name(p, landing): d for p, d in zip(paths, digests, strict=True)}


def sniff_files(paths: list[Path]) -> dict[Path, FileFacts]:
    """Checksums and reading facts of every file, on every core (one pass per file)."""
    with ThreadPoolExecutor(max_workers=threads()) as pool:
        return dict(zip(paths, pool.map(sniff, paths), strict=True))


def row_checks(spec: FeedSpec, partition: Partition) -> RowChecks:
    """The partition's reference day, after which no stated date may fall: the census day,
    31 March for a social care year, or the end of the academic year."""
    kind = spec.reference
    year = partition.year
    if kind == "census_day" and partition.term is not None:
        return RowChecks(year.census_date(partition.term), f"census day {partition.label}")
    if kind == "31_march":
        return RowChecks(dt.date(year.start + 1, 3, 31), f"the end of the {year.label} collection")
    return RowChecks(year.last_day, f"the end of academic year {year.label}")


def _refuse_after_read(
    session: StagingSession, plan: ReadPlan, spec: FeedSpec, partition: Partition
) -> set[tuple[str, str]]:
    """Refuse the files the plan found wanting, and those stating another academic year;
    the (return, table) pairs they supplied no longer count as supplied."""
    refused = dict(plan.refuse)
    for table in spec.tables.values():
        if not table.states_year:
            continue
        column = quote_ident(table.states_year)
        stated = session.con.execute(
            f"SELECT _source_file, {column}, count(*) FROM {staged_name(table.name)} "
            f"WHERE {column} IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 3 DESC"
        ).fetchall()
        for source, value, _ in stated:
            if source not in refused and not _same_year(str(value), partition.year):
                field_name = table.field(table.states_year).source
                refused[source] = (
                    f"{field_name} says {str(value)[:12]}, but the partition is "
                    f"{partition.year.label}: another year's file"
                )
    for source, why in session.refusals.items():  # a legacy coding past its years
        refused.setdefault(source, why)
    for source, why in refused.items():
        session.reject_after_read(source, why)
    return {(a.source_file, a.table) for a in session.accounts if a.source_file in refused}


def _same_year(value: str, year: AcademicYear) -> bool:
    digits = "".join(ch for ch in value if ch.isdigit())
    end = year.start + 1
    return digits in {
        f"{year.start}{end % 100:02d}",
        f"{year.start}{end}",
        f"{year.start % 100:02d}{end % 100:02d}",
        str(end),
    }


def write_parquet(con, table: str, path: Path) -> None:
    """Write a table (or a parenthesised query) the way staging writes every file."""
    # zstd level 1: the same rows and format as the default level 3, about 10% less CPU to
    # write, and no larger on census tables (measured at 1M pupils).
    con.execute(
        f"COPY {table} TO {sql_str(path)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_id_of(partition: Partition, checksums: dict[str, str]) -> str:
    """Deterministic: the same inputs always give the same load id, so reruns are identical."""
    digest = hashlib.sha256()
    for name, checksum in sorted(checksums.items()):
        digest.update(f"{name}\0{checksum}\n".encode())
    return f"{partition.feed}-{partition.year.slug}-{partition.term_slug}-{digest.hexdigest()[:12]}"
