"""The annual feeds the generator writes after each year's census terms.

Each module named here has FEED (the feed name) and
write_year(ctx, year, plants, on_file) -> (truth table, planted cells).
Adding a feed to the generator is one line here.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

ANNUAL_WRITERS: tuple[str, ...] = (
    "synth.ks2",
    "synth.phonics",
    "synth.ks1",
    "synth.ks4",
    "synth.ks5",
    "synth.cin",
    "synth.ssda903",
    "synth.ilr",
)


def annual_writers() -> list[ModuleType]:
    return [import_module(name) for name in ANNUAL_WRITERS]
