"""Fixtures for the education feed tests (defined in education_run.py)."""

from education_run import education_run

__all__ = ["education_run"]
