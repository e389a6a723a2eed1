"""Errors for bad input: each names the file and, where it can, the row and field."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input that stops a file or a partition. The message never quotes identifiers."""

    def __init__(
        self, source: str, problem: str, *, row: int | None = None, field: str | None = None
    ):
        self.source = source
        self.problem = problem
        self.row = row
        self.field = field
        where = source
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field {field}"
        super().__init__(f"{where}: {problem}")


class PartitionBlocked(RuntimeError):
    """A partition may not load (critical validation failure or a rejected required file)."""
