"""Validate step: Great Expectations suites per feed (suites/*.json) and the code that runs them.

Import `expectations.runner` for validate_records and build_data_docs; the package
itself imports nothing heavy, so DAG files can reference it cheaply.
"""
