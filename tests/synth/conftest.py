"""Fixtures for the synth tests (defined in synth_fixtures.py)."""

from synth_fixtures import census_records, generated, population

__all__ = ["census_records", "generated", "population"]
