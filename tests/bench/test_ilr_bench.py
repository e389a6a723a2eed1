"""Smoke test of `npd bench ilr` at a tiny size: it generates, reads, measures and records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_bench_ilr_command_prints_and_writes_figures(tmp_path: Path) -> None:
    env = {**os.environ, "NPD_HOME": str(tmp_path / "var")}
    out = subprocess.run(
        [sys.executable, "-m", "npd.cli", "bench", "ilr", "--learners", "3200"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "learners/s" in out.stdout and "rows/s" in out.stdout and "MB/s" in out.stdout
    figures = json.loads((tmp_path / "var" / "reports" / "bench" / "ilr-3200.json").read_text())
    assert figures["read"]["rows"]["learner"] == 3200
    assert figures["read"]["rows"]["provider"] == figures["generate"]["files"] == 3
    assert figures["read"]["rows"]["learning_delivery"] == figures["generate"]["deliveries"]
    assert figures["read"]["rejected"] == 0 and figures["read"]["peak_rss_mb"] > 0
    assert not list((tmp_path / "var" / "tmp").glob("npd-bench-ilr-*"))  # files removed
