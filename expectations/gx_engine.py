"""GX's pandas execution engine, handing each metric only the columns its domain names.

GX's PandasExecutionEngine filters the whole batch frame for every column metric: a
column condition drops the column's null rows with `df[df[col].notnull()]`, a row
condition or a pair/compound `ignore_row_if` filters every row of every column. On a
23-column, 1M-row census batch that is a third of the validation time spent copying
columns no metric reads. NarrowPandasExecutionEngine selects the domain's columns (and
those its row condition reads) first, then filters exactly as GX does; table domains
and row conditions it cannot read (pandas query strings) go to GX unchanged.

GX also asks for the same filtered domain several times per run (a row-conditioned
expectation's row count, unexpected count and values each filter the batch again), so
filtered records are kept for the batch they came from and dropped with it.

GX keeps the last batch (the whole batch frame) in the data source's cached engine,
which lives as long as the process's data context: release_batches() lets it go once a
run is done, so a whole `npd run` does not carry the frame into link and load.

Narrowing is safe because RESULT_FORMAT never asks for unexpected rows or index
columns (privacy.py), the only results that read columns outside the domain.
tests/expectations/test_gx_engine.py checks it against GX's own engine.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

import pandas as pd
from great_expectations.datasource.fluent.pandas_datasource import PandasDatasource
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.row_conditions import (
    AndCondition,
    ComparisonCondition,
    Condition,
    NullityCondition,
    OrCondition,
    deserialize_row_condition,
)

_DOMAIN_KEYS = ("column", "column_A", "column_B")
# ignore_row_if -> dropna(how=...) as GX applies it; None keeps every row
_PAIR_IGNORE = {"both_values_are_missing": "all", "either_value_is_missing": "any", "neither": None}
_LIST_IGNORE = {"all_values_are_missing": "all", "any_value_is_missing": "any", "never": None}


def condition_columns(condition: Any) -> list[str] | None:
    """Columns a structured row condition reads; None if unknown (e.g. a pandas query string)."""
    if isinstance(condition, dict):
        condition = deserialize_row_condition(condition)
    if isinstance(condition, (NullityCondition, ComparisonCondition)):
        return [condition.column.name]
    if isinstance(condition, (AndCondition, OrCondition)):
        found: list[str] = []
        for sub in condition.conditions:
            cols = condition_columns(sub)
            if cols is None:
                return None
            found += cols
        return found
    return None


def domain_columns(domain_kwargs: dict[str, Any]) -> list[str] | None:
    """Every column the domain's records need, in order; None for a whole-table domain."""
    if domain_kwargs.get("table"):
        return None
    columns = [domain_kwargs[k] for k in _DOMAIN_KEYS if k in domain_kwargs]
    columns += list(domain_kwargs.get("column_list") or [])
    if not columns:
        return None
    condition = domain_kwargs.get("row_condition")
    if condition:
        extra = condition_columns(condition)
        if extra is None:
            return None
        columns += extra
    return list(dict.fromkeys(columns))


def _filter_key(domain_kwargs: dict[str, Any]) -> str | None:
    """A stable key for a domain that filters rows; None if it filters none (or is not plain)."""
    if not domain_kwargs.get("row_condition") and not domain_kwargs.get("ignore_row_if"):
        return None

    def plain(value: Any) -> Any:
        if isinstance(value, Condition):
            return value.dict()
        raise TypeError(type(value).__name__)

    try:
        return json.dumps(domain_kwargs, sort_keys=True, default=plain)
    except (TypeError, ValueError):
        return None


# Every narrow engine of the process, so the batches they hold can be let go after a run.
_ENGINES: weakref.WeakSet[Any] = weakref.WeakSet()


class NarrowPandasExecutionEngine(PandasExecutionEngine):
    """PandasExecutionEngine whose column, pair and compound domains hold only their columns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # batch data -> filter key -> records; an entry goes when GX drops its batch
        self._filtered: weakref.WeakKeyDictionary[Any, dict[str, pd.DataFrame]] = (
            weakref.WeakKeyDictionary()
        )
        _ENGINES.add(self)

    def release_batches(self) -> None:
        """Forget every loaded batch, its data and the filtered domains kept for it."""
        self.batch_manager.reset_batch_cache()
        self.batch_manager.batch_data_cache.clear()
        self._filtered.clear()

    def get_domain_records(self, domain_kwargs: dict) -> pd.DataFrame:
        key = _filter_key(domain_kwargs)
        batch = self._batch_data(domain_kwargs) if key else None
        if key is None or batch is None:
            return self._domain_records(domain_kwargs)
        kept = self._filtered.setdefault(batch, {})
        if key not in kept:
            kept[key] = self._domain_records(domain_kwargs)
        return kept[key].copy(deep=False)  # a metric adding a column changes only its copy

    def _batch_data(self, domain_kwargs: dict) -> Any:
        manager = self.batch_manager
        batch_id = domain_kwargs.get("batch_id")
        return (
            manager.active_batch_data
            if batch_id is None
            else manager.batch_data_cache.get(batch_id)
        )

    def _domain_records(self, domain_kwargs: dict) -> pd.DataFrame:
        columns = domain_columns(domain_kwargs)
        if columns is None:
            return super().get_domain_records(domain_kwargs)
        batch_only = {"batch_id": domain_kwargs["batch_id"]} if "batch_id" in domain_kwargs else {}
        data = super().get_domain_records(batch_only)  # the whole batch, unfiltered
        if not set(columns) <= set(data.columns):
            return super().get_domain_records(domain_kwargs)  # GX reports the missing column
        data = data[columns]
        condition = domain_kwargs.get("row_condition")
        if condition:
            data = self._apply_row_condition_filter(data, condition, domain_kwargs)
        if "column" in domain_kwargs:
            return data
        if "ignore_row_if" not in domain_kwargs:
            return data
        if "column_A" in domain_kwargs and "column_B" in domain_kwargs:
            subset, rules = [domain_kwargs["column_A"], domain_kwargs["column_B"]], _PAIR_IGNORE
        elif "column_list" in domain_kwargs:
            subset, rules = list(domain_kwargs["column_list"]), _LIST_IGNORE
        else:
            return data
        ignore = domain_kwargs["ignore_row_if"]
        if ignore not in rules:
            return super().get_domain_records(domain_kwargs)  # GX raises its own error
        how = rules[ignore]
        return data if how is None else data.dropna(axis=0, how=how, subset=subset)


def release_batches() -> None:
    """Let every narrow engine of this process drop the batches it holds (their frames)."""
    for engine in list(_ENGINES):
        engine.release_batches()


def use_narrow_engine() -> None:
    """Make pandas data sources in this process validate with NarrowPandasExecutionEngine.

    GX's documented hook (Datasource.execution_engine_override) is a class attribute:
    the staged_records source is a plain PandasDatasource, and nothing else in a
    validating process uses GX. An override someone else installed is left alone.
    """
    if PandasDatasource.execution_engine_override in (None, NarrowPandasExecutionEngine):
        PandasDatasource.execution_engine_override = NarrowPandasExecutionEngine
