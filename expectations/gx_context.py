"""The file-based GX context under Settings.gx_dir, and the objects a suite run needs in it.

One context per gx_dir per process (opening one reads its YAML and stores). Objects
(pandas data source, one dataframe asset and whole-frame batch definition per suite,
the suite, its validation definition) are written only when missing or changed, so
repeated runs do not rewrite the project config. Partitions validate in parallel
processes (Airflow tasks): a process that must write the config takes a file lock
and re-reads the config first, so it never saves over what another process added.
"""

from __future__ import annotations

import copy
import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.data_context import FileDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.exceptions import DataContextError
from great_expectations.execution_engine import pandas_execution_engine

from expectations.gx_engine import use_narrow_engine
from expectations.gx_suite import to_gx_suite
from expectations.privacy import quiet_gx_logs
from expectations.suite_spec import SuiteSpec

DATASOURCE = "staged_records"  # staged record batches, handed over as in-memory frames
BATCH_DEFINITION = "whole_partition"  # one batch per run: the partition being validated

quiet_gx_logs()
log = logging.getLogger(__name__)

# GX fingerprints every pandas batch under 1 GB by hashing all its values
# (batch_markers.pandas_data_fingerprint). On a 1M-row Arrow-backed census batch that
# costs 8 s, three times the validation itself; the partition's load id already
# identifies the batch. A threshold of 0 turns the fingerprint off.
if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
    pandas_execution_engine.HASH_THRESHOLD = 0
else:  # a GX upgrade moved it: validation still works, only slower
    log.warning("great_expectations has no HASH_THRESHOLD; batch fingerprinting stays on")

use_narrow_engine()  # metrics read their domain's columns, not copies of the whole batch


RESULTS_STORE = "scrubbed_validation_results_store"
_RESULTS_STORE_CLASS = {
    "class_name": "ScrubbingValidationResultsStore",
    "module_name": "expectations.gx_store",
}


def _use_scrubbing_store(context: FileDataContext) -> bool:
    """Make ScrubbingValidationResultsStore the results store; True if the config changed.

    It gets its own store name: GX re-adds a plain store under the default name whenever
    no configured store has the class name ValidationResultsStore.
    """
    config = context.config
    if config.validation_results_store_name == RESULTS_STORE:
        return False
    current = config.stores[config.validation_results_store_name]
    config.stores[RESULTS_STORE] = {**copy.deepcopy(current), **_RESULTS_STORE_CLASS}
    config.validation_results_store_name = RESULTS_STORE
    context.variables.save()
    return True


_SETUP_LOCK = ".setup.lock"
_contexts: dict[Path, FileDataContext] = {}


@contextmanager
def setup_lock(gx_dir: Path) -> Iterator[None]:
    """Exclusive across processes while the GX config is read and written."""
    gx_dir.mkdir(parents=True, exist_ok=True)
    with (gx_dir / _SETUP_LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open(gx_dir: Path) -> FileDataContext:
    """Open (creating on first use) the context: scrubbing store, no progress bars or analytics."""
    context = gx.get_context(mode="file", context_root_dir=str(gx_dir))
    if _use_scrubbing_store(context):  # stores are built on open: reopen to use it
        context = gx.get_context(mode="file", context_root_dir=str(gx_dir))
    quiet_gx_logs()  # loggers GX created while opening the context
    variables = context.variables
    bars = variables.progress_bars  # a ProgressBarsConfig when set, a dict when read back
    shown = vars(bars) if isinstance(bars, ProgressBarsConfig) else dict(bars or {"on": True})
    if any(shown.values()):
        variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        variables.save()
    if context.config.analytics_enabled is not False:
        context.enable_analytics(False)
    return context


def open_context(gx_dir: Path) -> FileDataContext:
    """This process's context for gx_dir."""
    gx_dir = gx_dir.resolve()
    if gx_dir not in _contexts:
        with setup_lock(gx_dir):
            _contexts[gx_dir] = _open(gx_dir)
    return _contexts[gx_dir]


def prepare(gx_dir: Path, spec: SuiteSpec) -> tuple[FileDataContext, gx.ValidationDefinition]:
    """The context and the suite's validation definition, registered and up to date.

    The common case (everything already registered, suite unchanged) only reads.
    """
    gx_dir = gx_dir.resolve()
    context = open_context(gx_dir)
    current = _current_definition(context, spec)
    if current is not None:
        return context, current
    with setup_lock(gx_dir):
        context = _contexts[gx_dir] = _open(gx_dir)  # what other processes wrote meanwhile
        return context, _ensure_definition(context, spec)


def _expectation_key(exp: Any) -> dict[str, Any]:
    return exp.dict(exclude={"id", "rendered_content"})


def _same_suite(a: gx.ExpectationSuite, b: gx.ExpectationSuite) -> bool:
    return [_expectation_key(e) for e in a.expectations] == [
        _expectation_key(e) for e in b.expectations
    ] and (a.meta or {}).get("notes") == (b.meta or {}).get("notes")


def _batch_definition(context: FileDataContext, asset_name: str) -> Any:
    sources = context.data_sources
    if DATASOURCE in sources.all():
        source = sources.get(DATASOURCE)
    else:
        source = sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _suite(context: FileDataContext, spec: SuiteSpec) -> gx.ExpectationSuite:
    wanted = to_gx_suite(spec)
    try:
        stored = context.suites.get(spec.name)
    except DataContextError:
        return context.suites.add(wanted)
    if _same_suite(stored, wanted):
        return stored
    log.info("suite %s changed (code lists or JSON); updating the stored suite", spec.name)
    return context.suites.add_or_update(wanted)


def _current_definition(
    context: FileDataContext, spec: SuiteSpec
) -> gx.ValidationDefinition | None:
    """The stored validation definition if it is fresh and its suite matches spec; else None."""
    try:
        found = context.validation_definitions.get(spec.name)
        if found.is_fresh().success and _same_suite(found.suite, to_gx_suite(spec)):
            return found
    except (DataContextError, LookupError, ValueError):
        pass  # missing, or written by another process since this context was opened
    return None


def _ensure_definition(context: FileDataContext, spec: SuiteSpec) -> gx.ValidationDefinition:
    """Create or refresh the suite's validation definition and what it depends on."""
    batch_definition = _batch_definition(context, spec.name)
    suite = _suite(context, spec)
    try:
        found = context.validation_definitions.get(spec.name)
        if found.is_fresh().success and found.suite.id == suite.id:
            return found
        context.validation_definitions.delete(spec.name)
    except DataContextError:
        pass
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=spec.name, data=batch_definition, suite=suite)
    )
