"""Validate one staged partition against its suite and keep the result as history.

The pipeline calls validate_records once per (feed, year, term) partition: the
outcome says whether the partition may load (no critical failure) and which
warnings to show. Each run's GX result is stored under gx_dir by run name and
time, never overwritten, and build_data_docs renders the whole history.

Lean by design, because it runs on every partition: only the columns the suite
reads are read (read_records) and handed to GX (no copy: Arrow buffers are wrapped,
pandas selects lazily), each metric sees only its domain's columns (gx_engine.py),
one batch per run, counts-only result format, and the batch let go once the run is done.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from great_expectations.core.run_identifier import RunIdentifier

from expectations.batch_frame import MissingColumnsError, batch_frame
from expectations.gx_context import open_context, prepare, setup_lock
from expectations.gx_engine import release_batches
from expectations.gx_results import scrub_exceptions, to_record
from expectations.outcome import ValidationOutcome
from expectations.privacy import RESULT_FORMAT, quiet_gx_logs
from expectations.suite_spec import SuiteSpec, load_suite

__all__ = [
    "MissingColumnsError",
    "MissingParamsError",
    "ValidationOutcome",
    "build_data_docs",
    "read_records",
    "validate_records",
]


class MissingParamsError(ValueError):
    """The run did not pass a partition value the suite needs (e.g. academic_year)."""


def read_records(path: Path, suite: str) -> pa.Table:
    """The staged records file with only the columns the suite reads (every row).

    Parquet skips the other columns' pages: a census file has twice the columns the
    suite reads. Code columns (SuiteSpec.code_columns) stay dictionary-encoded as
    parquet stores them, which spares decoding a million short strings each and
    makes them pandas categoricals. Columns the file lacks are left out, so
    validate_records reports them (MissingColumnsError) as for the whole table.
    """
    spec = load_suite(suite)
    schema = pq.read_schema(path)
    present = set(schema.names)
    codes = [
        c for c in spec.code_columns if c in present and pa.types.is_string(schema.field(c).type)
    ]
    return pq.read_table(
        path, columns=[c for c in spec.columns if c in present], read_dictionary=codes
    )


def _parameters(spec: SuiteSpec, params: dict[str, object]) -> dict[str, Any]:
    """GX expectation parameters: a value used as a value_set becomes a one-value set."""
    missing = sorted(n for n in spec.parameters if params.get(n) is None)
    if missing:
        raise MissingParamsError(f"suite {spec.name!r} needs run parameters {missing}")
    out: dict[str, Any] = {}
    for name, kind in spec.parameters.items():
        value = params[name]
        if kind == "set" and not isinstance(value, (list, tuple, set, frozenset)):
            value = [value]
        out[name] = sorted(value) if isinstance(value, (set, frozenset)) else value
    return out


def validate_records(
    records: pa.Table | pd.DataFrame,
    suite: str,
    *,
    gx_dir: Path,
    run_name: str,
    params: dict[str, object],
) -> ValidationOutcome:
    """Run the suite on one partition's staged records; store the result; say if it may load.

    params carries the partition values the suite checks against (academic_year, term);
    extra keys (e.g. feed) are ignored, so Partition.as_params() can be passed as is.
    """
    quiet_gx_logs()  # GX modules imported since the last run bring new loggers
    spec = load_suite(suite)
    frame = batch_frame(records, spec.columns, spec.name)
    gx_params = _parameters(spec, params)
    _, definition = prepare(Path(gx_dir), spec)
    run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC))
    try:
        result = definition.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=gx_params,
            result_format=dict(RESULT_FORMAT),
            run_id=run_id,
        )
    finally:
        release_batches()  # GX's cached engine would keep the frame for the process's life
    scrub_exceptions(result)  # the store scrubbed what it wrote; this is the copy in hand
    order = {e.id: i for i, e in enumerate(definition.suite.expectations)}
    in_suite_order = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, 0))
    return ValidationOutcome.from_records(
        suite=spec.name,
        run_name=run_name,
        run_time=run_id.run_time.isoformat(),
        params={name: _plain(params[name]) for name in spec.parameters},
        results=[to_record(evr) for evr in in_suite_order],
        row_count=len(frame),
    )


def _plain(value: object) -> object:
    """Partition values as JSON-safe scalars or lists (a date becomes its ISO text)."""
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def build_data_docs(gx_dir: Path) -> Path:
    """Render Data Docs for every stored suite and validation result; return index.html."""
    context = open_context(Path(gx_dir))
    with setup_lock(Path(gx_dir).resolve()):  # two builds would write the same pages
        sites = context.build_data_docs()
    url = sites.get("local_site") or next(iter(sites.values()))
    return Path(url.removeprefix("file://"))
