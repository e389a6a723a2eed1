"""What a failure may say where people and Airflow read it.

The pipeline's own errors are written without identifiers and are kept whole; any other
exception (a library's error may quote a value from a return) is reduced to its type.
Steps, the manifest, the CLI and the Airflow tasks all report failures through here.
"""

from __future__ import annotations

from ingest.errors import InputError, PartitionBlocked


def _own_errors() -> tuple[type[BaseException], ...]:
    from expectations.runner import MissingColumnsError, MissingParamsError
    from governance.keys import KeyMissingError
    from warehouse.lock import LockTimeout
    from warehouse_schema.catalogue import CatalogueError

    return (
        InputError,
        PartitionBlocked,
        FileNotFoundError,
        KeyMissingError,
        LockTimeout,
        CatalogueError,
        MissingColumnsError,
        MissingParamsError,
    )


def safe_message(exc: BaseException) -> str:
    """Messages the pipeline writes itself are identifier-free and kept whole; anything
    else (a library's error may quote a value) is reduced to its type."""
    if isinstance(exc, _own_errors()):
        return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:4000]
    return f"{type(exc).__name__} (details withheld: see the task log)"
