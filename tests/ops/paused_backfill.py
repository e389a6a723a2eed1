"""Run a backfill that stops dead inside its k-th write to a store, for the SIGKILL tests.

    python paused_backfill.py {link|load} K READY_FILE FIRST LAST FEED...

Inside the k-th research-table write (load) or record_identity write (link), after the rows
are written but before the transaction commits, it creates READY_FILE and sleeps; the test
then kills it with SIGKILL. Nothing here is used by the pipeline itself.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def _pause_on(module, k: int, ready: Path, only_research: bool) -> None:
    original = module.replace_partition
    seen = {"n": 0}

    def paused(conn, table, values, data):
        rows = original(conn, table, values, data)
        if not only_research or table.schema == "research":
            seen["n"] += 1
            if seen["n"] == k:
                ready.write_text(f"{table.key} {values}")
                time.sleep(600)
        return rows

    module.replace_partition = paused


def main() -> None:
    step, k, ready, first, last, *feeds = sys.argv[1:]
    import linkage.master_index
    import warehouse.research
    from npd.backfill import backfill
    from npd.config import Settings
    from npd.periods import AcademicYear

    module = warehouse.research if step == "load" else linkage.master_index
    _pause_on(module, int(k), Path(ready), only_research=step == "load")
    backfill(Settings.from_env(), AcademicYear.parse(first), AcademicYear.parse(last), feeds)


if __name__ == "__main__":
    main()
