"""Smoke test of `npd bench pipeline` at a tiny size: it runs, measures and records (no timings asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from npd.bench import STAGES, PeakSampler, rss_bytes


def test_rss_sampler_sees_memory_grow() -> None:
    assert rss_bytes() > 0
    with PeakSampler(interval=0.01) as sampler:
        block = bytearray(64 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
    assert sampler.peak >= rss_bytes() - 2**20
    del block


@pytest.mark.slow
def test_bench_pipeline_command_prints_and_writes_figures(tmp_path: Path) -> None:
    env = {**os.environ, "NPD_HOME": str(tmp_path / "var"), "NPD_PSEUDONYM_KEY": "3c" * 32}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "npd.cli",
            "bench",
            "pipeline",
            "--pupils",
            "400",
            "--home",
            str(tmp_path / "work"),
            "--results",
            str(tmp_path / "results"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for stage in STAGES:
        assert stage in out.stdout
    (path,) = (tmp_path / "results").glob("pipeline-400-*.json")
    figures = json.loads(path.read_text())
    assert set(figures["stages"]) == set(STAGES)
    assert figures["stages"]["stage"]["rows"] > figures["stages"]["load"]["rows"] > 0
    assert all(s == "loaded" for s in figures["statuses"].values()), figures["statuses"]
    assert figures["peak_rss"] > 0 and figures["pipeline_seconds"] > 0
    assert figures["stages"]["stage"]["cpu_seconds"] > 0
    census = figures["by_feed"]["school_census"]
    assert census["stage"]["partitions"] == 3 and census["load"]["rows"] > 0
    assert "Seconds by feed" in out.stdout
