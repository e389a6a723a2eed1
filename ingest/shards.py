"""Staging a partition in shards that run side by side, then merging them.

A shard is a contiguous run of the partition's returns (local authorities for the census,
CIN census and SSDA903; providers for the ILR), staged by `ingest.stage.stage` into its own
folder. Staging is return-local (types, quarantine, duplicate checks and the derived
records all work within one return), so the shards, concatenated in return order, are
the partition as one stage would have written it: the same rows in the same order, the
same quarantine and the same load id. The merge proves what it can: the shards must cover
exactly the returns and files that are in the landing folder now.

In Airflow the shards are a mapped task (`NPD_STAGE_SHARDS`), one worker each under the
Celery or Kubernetes executor; only link and load stay one at a time per identity store.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

from core.config import Settings
from core.duck import columns_of, local_duckdb, sql_str
from core.partition import Partition
from ingest.accounting import StageReport
from ingest.attempts import SHARDS, keep_loaded
from ingest.errors import InputError
from ingest.inventory import Inventory, source_name, take_inventory
from ingest.spec import load_spec
from ingest.stage import QUARANTINE_ORDER, REPORT, WARNINGS, load_id_of, stage, write_parquet


def plan(settings: Settings, partition: Partition, shards: int) -> list[list[str]]:
    """Up to `shards` contiguous groups of return folder names, balanced by bytes."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, not {shards}")
    returns = take_inventory(settings, partition).returns
    sizes = [sum(r.sizes.values()) for r in returns]
    target = sum(sizes) / min(shards, len(returns))
    groups: list[list[str]] = [[]]
    filled = 0.0
    for ret, size in zip(returns, sizes, strict=True):
        if groups[-1] and filled + size / 2 > target * len(groups) and len(groups) < shards:
            groups.append([])
        groups[-1].append(ret.name)
        filled += size
    return groups


def shard_dir(settings: Settings, partition: Partition, index: int) -> Path:
    return partition.staging_dir(settings) / SHARDS / f"{index:04d}"


def stage_shard(
    settings: Settings, partition: Partition, returns: list[str], index: int
) -> StageReport:
    """Stage the named returns into shard `index`'s folder."""
    return stage(settings, partition, only=returns, out=shard_dir(settings, partition, index))


def merge(settings: Settings, partition: Partition, shards: int) -> StageReport:
    """Write the shards' output as the partition's staging folder; remove the shards."""
    started = time.perf_counter()
    folders = [shard_dir(settings, partition, i) for i in range(shards)]
    reports = [_shard_report(settings, partition, f) for f in folders]
    inventory = take_inventory(settings, partition)
    checksums = _covering_checksums(settings, partition, inventory, reports)
    load_id = load_id_of(partition, checksums)
    out = partition.staging_dir(settings)
    merging = out / SHARDS / "merged"
    if merging.exists():
        shutil.rmtree(merging)
    (merging / "tables").mkdir(parents=True)
    spec = load_spec(partition.feed).for_year(partition.year, partition.term)
    xml = [r.name for r in inventory.returns if r.reads_as_xml(spec)]
    # One stage reads every XML return before the CSV ones; so does each shard. A feed
    # taking both forms (SSDA903) has its tables put back in that order; others concatenate.
    mixed = 0 < len(xml) < len(inventory.returns)
    first_xml = (
        "ORDER BY _return IN (" + ", ".join(sql_str(x) for x in xml) + ") DESC, "
        "filename, file_row_number"
    )
    with local_duckdb(settings.tmp_dir) as con:
        for table in spec.tables:
            name = f"tables/{table}.parquet"
            order = first_xml if mixed else ""
            _concat(con, [f / name for f in folders], merging / name, load_id, order)
        _concat(
            con,
            [f / "quarantine.parquet" for f in folders],
            merging / "quarantine.parquet",
            load_id,
            QUARANTINE_ORDER,
        )
        _concat(
            con,
            [f / WARNINGS for f in folders],
            merging / WARNINGS,
            load_id,
            "ORDER BY _source_file, _source_row, source_table, warning",
        )
        _concat(con, [f / "records.parquet" for f in folders], merging / "records.parquet", load_id)
    reasons: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    for shard in reports:
        reasons.update(shard.quarantine_reasons)
        warnings.update(shard.warning_reasons)
    report = StageReport(
        feed=partition.feed,
        academic_year=partition.year.label,
        term=partition.term_value,
        load_id=load_id,
        files=sorted((f for r in reports for f in r.files), key=lambda f: (f.source_file, f.table)),
        records=sum(r.records for r in reports),
        quarantine_reasons=dict(sorted(reasons.items())),
        warning_reasons=dict(sorted(warnings.items())),
        blocking=[m for r in reports for m in r.blocking],
        inputs=dict(sorted(checksums.items())),
        seconds=round(sum(r.seconds for r in reports) + time.perf_counter() - started, 3),
    )
    report.write(merging / REPORT)
    keep_loaded(settings, partition)  # a failed attempt must not take the loaded copy
    for old in out.iterdir():  # what an earlier run left: staged files, later steps' reports
        if old.name != SHARDS:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    for made in merging.iterdir():
        made.rename(out / made.name)
    shutil.rmtree(out / SHARDS)
    return report


def _shard_report(settings: Settings, partition: Partition, folder: Path) -> StageReport:
    path = folder / REPORT
    if not path.exists():
        raise InputError(
            source_name(folder, settings.staging_dir),
            f"{partition.label}: shard {folder.name} has not been staged",
        )
    return StageReport.read(path)


def _covering_checksums(
    settings: Settings, partition: Partition, inventory: Inventory, reports: list[StageReport]
) -> dict[str, str]:
    """The shards' input checksums, if they cover exactly the partition's files as they
    are now (a return added or a file replaced since the shards ran refuses the merge)."""
    checksums: dict[str, str] = {}
    for report in reports:
        twice = sorted(set(checksums) & set(report.inputs))
        if twice:
            raise InputError(twice[0], f"{partition.label}: staged by more than one shard")
        checksums.update(report.inputs)
    now = {source_name(p, settings.landing_dir) for p in inventory.files}
    missing, gone = sorted(now - set(checksums)), sorted(set(checksums) - now)
    if missing or gone:
        name, why = (
            (missing[0], "not staged by any shard")
            if missing
            else (gone[0], "no longer in the landing folder")
        )
        raise InputError(name, f"{partition.label}: {why}; stage the shards again")
    return checksums


def _concat(con, parts: list[Path], out: Path, load_id: str, order: str = "") -> None:
    """The shards' rows in shard order (or `order`), stamped with the partition's load id."""
    files = "[" + ", ".join(sql_str(p) for p in parts) + "]"
    con.execute(
        f"CREATE OR REPLACE VIEW _parts AS SELECT * FROM read_parquet({files}, "
        "filename = true, file_row_number = true)"
    )
    stamp = (
        f" REPLACE ({sql_str(load_id)} AS _load_id)"
        if "_load_id" in columns_of(con, "_parts")
        else ""
    )
    write_parquet(
        con, f"(SELECT * EXCLUDE (filename, file_row_number){stamp} FROM _parts {order})", out
    )
