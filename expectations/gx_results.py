"""Read a GX suite validation result into ExpectationRecords, withholding exception text."""

from __future__ import annotations

from typing import Any

from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.expectations.row_conditions import deserialize_row_condition

from expectations.outcome import ExpectationRecord
from expectations.privacy import columns_of, scrub_exception_info
from expectations.suite_spec import DERIVED


def scrub_exceptions(result: ExpectationSuiteValidationResult) -> bool:
    """Withhold exception messages and tracebacks in place; True if any expectation raised."""
    raised = False
    for evr in result.results:
        scrubbed, names = scrub_exception_info(evr.exception_info)
        if names:
            evr.exception_info = scrubbed
            raised = True
    return raised


def _condition_text(condition: Any) -> str | None:
    if condition is None or isinstance(condition, str):
        return condition
    if isinstance(condition, dict):
        condition = deserialize_row_condition(condition)
    return repr(condition)


def to_record(evr: ExpectationValidationResult) -> ExpectationRecord:
    config = evr.expectation_config
    meta = config.meta or {}
    kwargs = config.kwargs
    result = evr.result or {}
    _, errors = scrub_exception_info(evr.exception_info)
    columns = columns_of(kwargs)
    element_count = result.get("element_count")
    if element_count is None and isinstance(result.get("observed_value"), int):
        element_count = result["observed_value"]  # table row count expectations
    return ExpectationRecord(
        expectation_type=config.type,
        column=",".join(columns) if columns else None,
        severity=str(meta.get("severity", "critical")),
        rule=str(meta.get("rule", config.type)),
        why=str(meta.get("why", "")),
        success=bool(evr.success) and not errors,
        element_count=element_count,
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=result.get("unexpected_percent"),
        missing_count=result.get("missing_count"),
        mostly=kwargs.get("mostly"),
        row_condition=_condition_text(kwargs.get("row_condition")),
        error=errors[0] if errors else None,
        derived=bool(meta.get(DERIVED)),
    )
