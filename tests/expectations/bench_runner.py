"""Measure validation throughput (rows/s) on a hand-built census-like batch.

A measurement, not a test: `python tests/expectations/bench_runner.py [rows] [suite]`.
The first (warm-up) run pays for registering the suite in a fresh context.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from staged_frames import KS2_PARAMS, PARAMS, census_table, ks2_table

from expectations.runner import validate_records


def main(rows: int = 1_000_000, suite: str = "school_census", repeat: int = 3) -> None:
    table = census_table(rows) if suite == "school_census" else ks2_table(rows)
    params = PARAMS if suite == "school_census" else KS2_PARAMS
    with tempfile.TemporaryDirectory() as tmp:
        gx_dir = Path(tmp) / "gx"
        validate_records(table.slice(0, 1000), suite, gx_dir=gx_dir, run_name="warm", params=params)
        for i in range(repeat):
            start = time.perf_counter()
            outcome = validate_records(table, suite, gx_dir=gx_dir, run_name=f"b{i}", params=params)
            took = time.perf_counter() - start
            print(
                f"{suite}: {rows:,} rows, {len(outcome.results)} expectations, "
                f"{took:.2f} s, {rows / took:,.0f} rows/s, success={outcome.success}"
            )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 1_000_000, args[1] if len(args) > 1 else "school_census")
