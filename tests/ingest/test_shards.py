"""Staging in shards (groups of LA or provider returns) then merging gives the partition
exactly as one stage writes it, and the merge refuses shards that do not cover the landing
folder as it is now."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import Settings
from core.partition import Partition
from core.periods import AcademicYear
from ingest.accounting import StageReport
from ingest.errors import InputError
from ingest.shards import SHARDS, merge, plan, stage_shard
from ingest.stage import REPORT, stage
from synth.generate import generate

YEAR = AcademicYear(2024)
LAS = [202, 330, 850, 926, 380]
PARTITIONS = [
    Partition.of("school_census", YEAR, "spring"),
    Partition.of("cin_census", YEAR),
    Partition.of("ssda903", YEAR),
    Partition.of("ilr", YEAR),
]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated returns with the generator's planted defects (quarantine, duplicates)."""
    root = tmp_path_factory.mktemp("shards")
    generate(root / "landing", root / "truth", pupils=1500, seed=11, years=[YEAR], las=LAS)
    for la in (202, 926):  # in the first and the last shard: a duplicate row, a short row
        path = root / f"landing/2024-25/school_census/spring/LA{la}/2025_spring_pupilonroll.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        lines[3] = lines[3].rsplit(",", 4)[0]
        path.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    return root / "landing"


def _settings(landing: Path, home: Path) -> Settings:
    settings = dataclasses.replace(Settings.from_env(home), landing_dir=landing)
    settings.ensure_dirs()
    return settings


def _sharded(settings: Settings, partition: Partition, shards: int) -> StageReport:
    groups = plan(settings, partition, shards)
    for index, returns in reversed(list(enumerate(groups))):  # any order, any worker
        stage_shard(settings, partition, returns, index)
    return merge(settings, partition, len(groups))


def _nullable(table: pa.Table) -> pa.Table:
    """Types and values; a merged file does not repeat Parquet's required-column flags."""
    return table.cast(pa.schema([f.with_nullable(True) for f in table.schema]))


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*.parquet")}


@pytest.mark.parametrize("partition", PARTITIONS, ids=lambda p: p.feed)
def test_shards_merged_are_the_partition_one_stage_writes(
    landing: Path, tmp_path: Path, partition: Partition
) -> None:
    whole, sharded = (
        _settings(landing, tmp_path / "whole"),
        _settings(landing, tmp_path / "sharded"),
    )
    expected = stage(whole, partition)
    assert len(plan(sharded, partition, 3)) == 3
    got = _sharded(sharded, partition, 3)

    assert got.load_id == expected.load_id
    assert (got.records, got.rows_read, got.rows_staged, got.rows_quarantined) == (
        expected.records,
        expected.rows_read,
        expected.rows_staged,
        expected.rows_quarantined,
    )
    if partition.feed == "school_census":  # the damaged rows are quarantined the same way
        assert got.rows_quarantined == 6
    assert got.quarantine_reasons == expected.quarantine_reasons
    assert got.inputs == expected.inputs and got.blocking == expected.blocking
    key = lambda f: (f.source_file, f.table)  # noqa: E731
    assert sorted(got.files, key=key) == sorted(expected.files, key=key)

    want = _files(partition.staging_dir(whole))
    have = _files(partition.staging_dir(sharded))
    assert set(have) == set(want) and "records.parquet" in have
    for name, path in want.items():  # same rows, same order, same load id on every row
        assert _nullable(pq.read_table(have[name])).equals(_nullable(pq.read_table(path))), name
    assert not (partition.staging_dir(sharded) / SHARDS).exists()
    assert StageReport.read(partition.staging_dir(sharded) / REPORT).load_id == expected.load_id


def test_plan_keeps_return_order_and_never_makes_an_empty_shard(
    landing: Path, tmp_path: Path
) -> None:
    settings = _settings(landing, tmp_path)
    census = PARTITIONS[0]
    returns = [f"LA{la:03d}" for la in sorted(LAS)]
    for shards in (1, 2, 3, 5, 9):
        groups = plan(settings, census, shards)
        assert [r for g in groups for r in g] == returns
        assert len(groups) == min(shards, len(LAS)) and all(groups)
    with pytest.raises(ValueError, match="at least 1"):
        plan(settings, census, 0)


def test_merge_refuses_a_missing_shard_and_a_return_landed_since(
    landing: Path, tmp_path: Path
) -> None:
    settings = _settings(tmp_path / "landing", tmp_path / "home")
    shutil.copytree(landing, settings.landing_dir)
    census = PARTITIONS[0]
    groups = plan(settings, census, 2)
    stage_shard(settings, census, groups[0], 0)
    with pytest.raises(InputError, match="shard 0001 has not been staged"):
        merge(settings, census, 2)

    stage_shard(settings, census, groups[1], 1)
    late = settings.landing_dir / "2024-25/school_census/spring/LA999"
    shutil.copytree(settings.landing_dir / "2024-25/school_census/spring/LA330", late)
    with pytest.raises(InputError, match=r"LA999.*not staged by any shard"):
        merge(settings, census, 2)
    assert not (census.staging_dir(settings) / "records.parquet").exists()

    shutil.rmtree(late)
    assert merge(settings, census, 2).records > 0


def test_a_shard_names_only_returns_the_partition_has(landing: Path, tmp_path: Path) -> None:
    settings = _settings(landing, tmp_path)
    with pytest.raises(InputError, match=r"no such return.*LA001"):
        stage_shard(settings, PARTITIONS[0], ["LA001"], 0)
