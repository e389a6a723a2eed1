"""Keep record values out of everything validation writes: results, Data Docs and logs.

The architecture's rule: no identifier (UPN, ULN, name, full DOB, postcode,
candidate number) in any log, exception, stored result or dashboard. GX keeps
sample unexpected values by default, echoes exception text that may quote a value,
and aggregate expectations report observed values (a min DOB is a DOB). So:
- results are asked for counts only (RESULT_FORMAT);
- aggregate expectations are refused on identifying columns (check_expectation);
- exception text is withheld from results and GX logs (scrub_exception_info, quiet_gx_logs).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

# Counts and percentages, never values: no partial_unexpected_list, no index lists, no rows.
# (gx_engine.NarrowPandasExecutionEngine relies on this: rows and index columns would
# read columns outside an expectation's domain.)
RESULT_FORMAT: Final[dict[str, Any]] = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}

# Staged columns that identify a child, alone or with others (ARCHITECTURE.md rules).
IDENTIFYING_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "upn",
        "former_upn",
        "uln",
        "surname",
        "forename",
        "middle_names",
        "preferred_surname",
        "former_surname",
        "dob",
        "postcode",
        "postcode_prior",
        "learn_ref",
        "child_id",  # an LA's own child id (SSDA903 CHILD, CIN LAchildID): a linkage key
        "la_child_id",
        "candidate_number",
        "native_id",
        "pupil_on_roll_id",
    }
)

# Expectation types whose results are counts of rows, never the values themselves.
COUNT_ONLY_TYPES: Final[frozenset[str]] = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_value_lengths_to_be_between",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_compound_columns_to_be_unique",
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_column_to_exist",
    }
)

WITHHELD: Final = "withheld: exception text may quote record values"


def columns_of(kwargs: dict[str, Any]) -> list[str]:
    """Every column an expectation reads, as named in its kwargs."""
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    cols += list(kwargs.get("column_list", []))
    return cols


def check_expectation(expectation_type: str, kwargs: dict[str, Any]) -> None:
    """Refuse an expectation whose result would report values of an identifying column."""
    if expectation_type in COUNT_ONLY_TYPES:
        return
    identifying = sorted(set(columns_of(kwargs)) & IDENTIFYING_COLUMNS)
    if identifying:
        raise ValueError(
            f"{expectation_type} reports observed values; not allowed on identifying "
            f"column(s) {identifying}"
        )


_NAME = re.compile(r"[A-Za-z_][\w.]*")


def _exception_name(info: dict[str, Any]) -> str:
    """The exception class named on the traceback's last line (never its message)."""
    message = info.get("exception_message") or ""
    if message.endswith(f"({WITHHELD})"):  # scrubbed already: the name leads the message
        return message.split(" ", 1)[0]
    lines = [ln for ln in (info.get("exception_traceback") or "").splitlines() if ln.strip()]
    name = lines[-1].split(":", 1)[0].strip() if lines else ""
    return name if _NAME.fullmatch(name) else "Exception"


def scrub_exception_info(info: Any) -> tuple[Any, list[str]]:
    """Replace exception messages and tracebacks by the exception's class name.

    GX stores either one {raised_exception, exception_message, exception_traceback}
    record or a mapping of metric id to such records. Returns the scrubbed info and
    the names of the exceptions raised.
    """
    if not isinstance(info, dict):
        return info, []
    if "raised_exception" in info:
        if not info.get("raised_exception"):
            return info, []
        name = _exception_name(info)
        scrubbed = {
            "raised_exception": True,
            "exception_message": f"{name} ({WITHHELD})",
            "exception_traceback": None,
        }
        return scrubbed, [name]
    out: dict[str, Any] = {}
    names: list[str] = []
    for key, sub in info.items():
        out[key], found = scrub_exception_info(sub)
        names += found
    return out, names


class _WithholdExceptionText(logging.Filter):
    """Drop the text of GX log records about exceptions: it may quote record values."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info or "exception" in text.lower():
            record.msg = f"{record.name}: an exception was caught ({WITHHELD})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = _WithholdExceptionText()


def quiet_gx_logs() -> None:
    """GX logs at INFO on import and quotes exception text: keep warnings, withhold the text.

    Logger filters are not inherited, so the filter goes on every GX logger known now.
    """
    root = logging.getLogger("great_expectations")
    root.setLevel(logging.WARNING)
    names = [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]
    for name in ["great_expectations", *names]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
