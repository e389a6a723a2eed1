"""Further `npd` command groups, one module per concern, each with register(app).

cli.py holds the core commands; a concern that brings its own commands (review queue,
dashboard, extracts, backfill, benchmarks) adds a module here and one line below.
"""

from __future__ import annotations

from importlib import import_module

import typer

COMMAND_MODULES: tuple[str, ...] = (
    "npd.commands.ops",  # backfill, rerun, manifest, schedule
    "npd.commands.access",  # db, extract, releases, sar, objection
    "npd.commands.dashboard",  # data-quality metrics and the dashboard
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        import_module(name).register(app)
