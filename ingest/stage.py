"""The stage step: a partition's landing files to typed Parquet, quarantine and accounts.

Output, under var/staging/<feed>/<year>/<term|annual>/:
    tables/<table>.parquet   typed rows with lineage (_load_id, _source_file, _source_row, _return)
    quarantine.parquet       rows that could not be typed, with reason and raw text
    records.parquet          the feed's unit records (e.g. one per pupil on roll)
    stage_report.json        per-file accounts: rows read = staged + quarantined
"""

from __future__ import annotations

import hashlib
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ingest.accounting import StageReport
from ingest.errors import InputError
from ingest.feeds import DeriveContext, get_feed
from ingest.landing import find_table_file, period_dir
from ingest.spec import load_spec
from ingest.staging import StagingSession, staged_name
from ingest.xml_source import stage_xml_returns, uses_xml
from npd.config import Settings
from npd.duck import local_duckdb, scalar, sql_str, threads
from npd.partition import Partition

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
    shard, see ingest/shards.py). Raises InputError if the period has no landing folder."""
    started = time.perf_counter()
    feed = get_feed(partition.feed)
    spec = load_spec(partition.feed).for_year(partition.year)
    returns = partition_returns(settings, partition)
    if only is not None:
        unknown = sorted(set(only) - {r.name for r in returns})
        if unknown:
            raise InputError(
                relative(returns[0].parent, settings.landing_dir),
                f"no such return(s) to stage: {', '.join(unknown)}",
            )
        returns = [r for r in returns if r.name in set(only)]
    checksums = input_checksums(settings, returns)
    load_id = load_id_of(partition, checksums)
    out = out or partition.staging_dir(settings)
    if out.exists():
        shutil.rmtree(out)
    (out / "tables").mkdir(parents=True)

    with local_duckdb(settings.tmp_dir) as con:
        session = StagingSession(con, settings.landing_dir, load_id)
        present: list[tuple[str, str]] = []
        csv_files: dict[str, list[tuple[Path, str]]] = {}
        xml_returns = [r for r in returns if uses_xml(spec, r)]  # the spec's format, per return
        present.extend(stage_xml_returns(session, xml_returns, spec, partition.year))
        for return_dir in returns:
            if return_dir in xml_returns:
                continue
            for table in spec.tables.values():
                path = find_table_file(return_dir, table.name)
                if path is None:
                    source = f"{relative(return_dir, settings.landing_dir)}/<{table.name}>"
                    session.record_missing(source, table, table.required)
                    continue
                csv_files.setdefault(table.name, []).append((path, return_dir.name))
                present.append((return_dir.name, table.name))
        for name, files in csv_files.items():  # one read per table across every return
            session.stage_csv_files(files, spec.tables[name], spec.encoding)
        con.execute(  # lists, not an Arrow table: building one imports pandas (~1 s cold)
            "CREATE TABLE returned_tables AS SELECT unnest(?::VARCHAR[]) AS _return, "
            "unnest(?::VARCHAR[]) AS source_table",
            [[p[0] for p in present], [p[1] for p in present]],
        )
        feed.derive()(con, DeriveContext(partition.year, partition.term, load_id))
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

    report = StageReport(
        feed=partition.feed,
        academic_year=partition.year.label,
        term=partition.term_value,
        load_id=load_id,
        files=session.accounts,
        records=records,
        quarantine_reasons={r: n for r, n in reasons},
        warning_reasons=warnings,
        blocking=[
            m
            for f in session.accounts
            if f.status in ("rejected", "missing") and spec.tables[f.table].required
            for m in f.messages
        ],
        inputs=checksums,
        seconds=round(time.perf_counter() - started, 3),
    )
    report.write(out / REPORT)
    return report


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


def partition_returns(settings: Settings, partition: Partition) -> list[Path]:
    """The partition's return folders in staging order (raises InputError if it has none)."""
    source_dir = period_dir(settings.landing_dir, partition.feed, partition.year, partition.term)
    if not source_dir.is_dir():
        raise InputError(
            relative(source_dir, settings.landing_dir), "no landing folder for this period"
        )
    return _returns(source_dir)


def return_files(returns: list[Path]) -> list[Path]:
    return [p for r in returns for p in sorted(r.iterdir()) if p.is_file()]


def input_checksums(settings: Settings, returns: list[Path]) -> dict[str, str]:
    """SHA-256 of every file of the returns, by path under the landing folder."""
    paths = return_files(returns)
    with ThreadPoolExecutor(max_workers=threads()) as pool:  # hashlib releases the GIL
        digests = list(pool.map(_sha256, paths))
    return {relative(p, settings.landing_dir): d for p, d in zip(paths, digests, strict=True)}


def _returns(source_dir: Path) -> list[Path]:
    """Each subfolder is one return (e.g. one per LA); a folder of files is itself one return."""
    subdirs = sorted(p for p in source_dir.iterdir() if p.is_dir())
    return subdirs or [source_dir]


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


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name
