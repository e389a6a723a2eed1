"""A validation results store that withholds exception text before anything is written.

GX writes each result to its store inside ValidationDefinition.run, before the
runner sees it. Exception messages and tracebacks can quote a record value, so the
store itself scrubs them: nothing unscrubbed ever reaches disk or Data Docs, whoever
runs the validation. Configured in great_expectations.yml by class_name/module_name.
"""

from __future__ import annotations

from typing import Any

from great_expectations.data_context.store import ValidationResultsStore

from expectations.gx_results import scrub_exceptions


class ScrubbingValidationResultsStore(ValidationResultsStore):
    def serialize(self, value: Any) -> Any:
        scrub_exceptions(value)
        return super().serialize(value)
