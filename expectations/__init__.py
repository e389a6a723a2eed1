"""Validate step: Great Expectations suites per feed (suites/*.json) and the code that runs them.

Import `expectations.runner` for validate_records and build_data_docs. Only modules that
run validation import this package, always lazily, so DAG files stay cheap to parse.

Importing the package imports Great Expectations once, with Spark hidden from it: GX
probes for pyspark at import and, where it is installed (the Spark linkage path needs
it), pulls in all of Spark ML for support this project never uses (validation runs on
pandas batches), costing seconds per process and printing pandas-version warnings.
"""

from __future__ import annotations

import sys


def _import_gx_without_spark() -> None:
    if "great_expectations" in sys.modules:
        return
    hide = "pyspark" not in sys.modules
    if hide:
        sys.modules["pyspark"] = None  # type: ignore[assignment]  # makes `import pyspark` fail
    try:
        import great_expectations  # noqa: F401
    finally:
        if hide and sys.modules.get("pyspark", 0) is None:
            del sys.modules["pyspark"]  # later imports of pyspark (Splink on Spark) work as usual


_import_gx_without_spark()
