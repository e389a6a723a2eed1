"""Recovery: a run killed with SIGKILL in the middle of a write leaves the stores as they were,
and resuming gives stores identical to an uninterrupted run; two runs at once never
interleave; a run that finds the warehouse held waits, then refuses and says by whom."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from npd.backfill import backfill, run_lock
from tests.ops.conftest import NPD, YEARS, Reference, backfill_cmd, ops_env
from tests.ops.tables import checksums, partition_digest, scalar
from warehouse import audit

HERE = Path(__file__).parent
FIRST = YEARS[0]
CENSUS = ("school_census",)  # one year's three terms: enough to kill the second and resume
pytestmark = pytest.mark.slow


def _reference_year(reference: Reference):
    """The reference's census partitions of the first year (it loaded KS2 after them)."""
    from core.config import Settings

    return checksums(Settings.from_env(reference.home), [FIRST.label], CENSUS)


@pytest.mark.parametrize("step", ["link", "load"])
def test_sigkill_mid_write_leaves_the_stores_whole_and_resuming_matches_an_uninterrupted_run(
    step: str, fresh, npd_home: Path, reference: Reference, tmp_path: Path
) -> None:
    ready = tmp_path / "inside-the-transaction"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "paused_backfill.py"), step, "2", str(ready),
         FIRST.label, FIRST.label, *CENSUS],
        env=ops_env(npd_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while not ready.exists():
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the backfill never reached its second write"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()

    # The autumn census is whole; spring, killed mid-write, left nothing in that store.
    from core.config import Settings

    census, ref = "research.census_pupil", Settings.from_env(reference.home)
    spring = f"academic_year = '{FIRST.label}' AND term = 'spring'"
    assert partition_digest(fresh, census, FIRST.label, "autumn") == partition_digest(
        ref, census, FIRST.label, "autumn"
    )
    assert partition_digest(fresh, census, FIRST.label, "spring")[0] == 0
    assert scalar(fresh, f"SELECT count(*) FROM audit.partition_load WHERE {spring}") == 0
    links = f"SELECT count(*) FROM identity.record_identity WHERE {spring}"
    linked_before_kill = 0 if step == "link" else scalar(ref, links, store="identity")
    assert scalar(fresh, links, store="identity") == linked_before_kill

    resumed = backfill(fresh, FIRST, FIRST, CENSUS)
    assert [r.status for r in resumed.results] == ["skipped", "loaded", "loaded"]
    assert checksums(fresh, [FIRST.label], CENSUS) == _reference_year(reference)


def test_two_backfills_at_once_never_interleave(fresh, npd_home: Path) -> None:
    cmd = [NPD, "backfill", "--from", FIRST.label, "--to", FIRST.label, "--feed", "ks2"]
    cmd += ["--wait", "900"]
    runs = [
        subprocess.Popen(cmd, env=ops_env(npd_home), stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=900)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0]
    assert sorted(o.splitlines()[-1].split(":")[1].split(" in ")[0] for o in outputs) == [
        " 0 loaded, 1 skipped",
        " 1 loaded, 0 skipped",
    ]  # one ran it; the other waited for it, then found nothing left to do
    steps = scalar(fresh, "SELECT list(step ORDER BY started_at) FROM audit.load_run")
    assert steps == ["stage", "validate", "link", "load"]  # each step once, one after another


def test_a_run_finding_the_warehouse_held_refuses_and_says_by_whom(loaded, npd_home) -> None:
    before = checksums(loaded)
    with run_lock(loaded):
        refused = subprocess.run(
            [*backfill_cmd(), "--wait", "1"],
            env=ops_env(npd_home),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert refused.returncode == 1
    assert "backfill refused: the warehouse is busy" in refused.stderr
    assert f"pid {os.getpid()}" in refused.stderr and "runs.lock" in refused.stderr
    assert checksums(loaded) == before


def test_every_step_writes_under_the_store_lock(loaded, monkeypatch) -> None:
    """With the stores held (flock: another open of the lock file, as another process would),
    each step fails saying the warehouse is busy, and neither store's file changes."""
    from core.partition import Partition
    from pipeline.steps import STEPS
    from warehouse.lock import LockTimeout

    stores = [
        Path(u.removeprefix("duckdb:///")) for u in (loaded.warehouse_url, loaded.identity_url)
    ]
    before = [p.read_bytes() for p in stores]
    monkeypatch.setenv("NPD_LOCK_TIMEOUT", "0.5")
    partition = Partition.of("ks2", "2024/25")
    with audit.store_lock(loaded):
        for name, step in STEPS.items():
            with pytest.raises(
                LockTimeout, match=r"the warehouse is busy: pid \d+ .* holds stores\.lock"
            ):
                step(partition, loaded)
            assert [p.read_bytes() for p in stores] == before, f"{name} wrote without the lock"
