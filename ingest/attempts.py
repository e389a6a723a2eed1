"""A rerun that fails never takes away what describes the data actually loaded.

A partition's staging folder holds the staged files, accounts and reports its steps read;
once loaded (the load step wrote its report there), it describes what the warehouse holds.
Restaging moves that folder's contents aside first; if any later step of the attempt fails
or blocks, the attempt is moved to a folder of failed attempts and the loaded copy comes
back, so the stage report and audit accounts again describe the loaded data. A load that
succeeds discards the copy.

    <home>/staging/<feed>/<year>/<term>/          the partition (steps read it)
    <home>/staging-loaded/<feed>/<year>/<term>/   what was loaded, while an attempt runs
    <home>/staging-failed/<feed>/<year>/<term>/   the last failed attempt, kept to read
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core.config import Settings
from core.partition import Partition

LOADED_MARK = "load_report.json"  # written by the load step (pipeline.steps.LOAD_REPORT)
SHARDS = "shards"  # shard folders inside a partition's staging folder (ingest.shards)


def _beside(settings: Settings, partition: Partition, kind: str) -> Path:
    return (
        settings.home
        / f"staging-{kind}"
        / partition.feed
        / partition.year.slug
        / (partition.term_slug)
    )


def keep_loaded(settings: Settings, partition: Partition) -> None:
    """Before staging over a loaded partition, move what describes the load aside."""
    out = partition.staging_dir(settings)
    if not (out / LOADED_MARK).exists():
        return
    kept = _beside(settings, partition, "loaded")
    if kept.exists():
        shutil.rmtree(kept)
    kept.mkdir(parents=True)
    for entry in out.iterdir():
        if entry.name != SHARDS:
            entry.rename(kept / entry.name)


def restore_loaded(settings: Settings, partition: Partition) -> bool:
    """After a failed or blocked attempt: keep the attempt aside, put the loaded copy back.
    True if there was a loaded copy to restore."""
    kept = _beside(settings, partition, "loaded")
    if not kept.exists():
        return False
    out = partition.staging_dir(settings)
    failed = _beside(settings, partition, "failed")
    if failed.exists():
        shutil.rmtree(failed)
    failed.mkdir(parents=True)
    out.mkdir(parents=True, exist_ok=True)
    for entry in out.iterdir():
        if entry.name != SHARDS:
            entry.rename(failed / entry.name)
    for entry in kept.iterdir():
        entry.rename(out / entry.name)
    kept.rmdir()
    return True


def discard_loaded(settings: Settings, partition: Partition) -> None:
    """A new load succeeded: the copy of the previous one is no longer needed."""
    kept = _beside(settings, partition, "loaded")
    if kept.exists():
        shutil.rmtree(kept)
