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


def _pause_on(module, names: tuple[str, ...], k: int, ready: Path, counted) -> None:
    """Wrap each named partition writer of `module`; pause inside the k-th counted write."""
    seen = {"n": 0}

    def wrap(original):
        def paused(conn, table, values, data):
            rows = original(conn, table, values, data)
            if counted(table):
                seen["n"] += 1
                if seen["n"] == k:
                    ready.write_text(f"{table.key} {values}")
                    time.sleep(600)
            return rows

        return paused

    for name in names:
        setattr(module, name, wrap(getattr(module, name)))


def main() -> None:
    step, k, ready, first, last, *feeds = sys.argv[1:]
    import linkage.master_index
    import warehouse.research
    from core.config import Settings
    from core.periods import AcademicYear
    from npd.backfill import backfill

    if step == "load":  # research tables: built by the store itself, or sent from Arrow
        names = ("replace_partition", "replace_partition_select")
        _pause_on(warehouse.research, names, int(k), Path(ready), lambda t: t.schema == "research")
    else:  # the link's record_identity write (its linkage_key write follows in the same transaction)
        _pause_on(  # from the link's Parquet: read by the store itself, or sent from Arrow
            linkage.master_index,
            ("replace_partition", "replace_partition_select"),
            int(k),
            Path(ready),
            lambda t: t.key == "identity.record_identity",
        )
    backfill(Settings.from_env(), AcademicYear.parse(first), AcademicYear.parse(last), feeds)


if __name__ == "__main__":
    main()
