"""Further `npd` command groups, one module per concern, each with register(app).

cli.py holds the core commands; a concern that brings its own commands (review queue,
dashboard, extracts, backfill, benchmarks) adds a module here and one line below.
"""

from __future__ import annotations

from importlib import import_module

import typer

COMMAND_MODULES: tuple[str, ...] = (
    "npd.commands.access",  # db, extract, releases, sar, objection
    "npd.commands.ops",  # backfill, rerun, manifest, schedule
    "npd.commands.dashboard",  # data-quality metrics and the dashboard
    "npd.commands.review",  # the clerical review queue of probabilistic linkage
    "npd.commands.linkage",  # linkage model training and the linkage report
    "npd.commands.bench_linkage",  # npd bench linkage
    "npd.commands.bench_pipeline",  # npd bench pipeline
    "npd.commands.bench_ilr",  # npd bench ilr
    "npd.commands.bench_badinput",  # npd bench badinput
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        import_module(name).register(app)


def group(app: typer.Typer, name: str, help: str) -> typer.Typer:
    """The command group `npd <name>`, created by whichever module asks first, so several
    modules can add commands to one group (`npd bench ilr`, `npd bench linkage`)."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    sub = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub
