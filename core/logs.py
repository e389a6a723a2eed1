"""Logging for the CLI: short lines on stderr, and quiet third-party chatter.

Messages the pipeline logs carry counts, partitions and reasons, never identifiers.
"""

from __future__ import annotations

import logging

NOISY = ("great_expectations", "airflow", "alembic", "urllib3", "py4j", "splink", "numexpr")


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for name in NOISY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
