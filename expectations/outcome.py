"""What a validation run decided, in plain data the pipeline, DAGs and dashboards can use.

A partition is blocked iff a critical expectation failed: a structural one on any
failure, a rule about rows when more than its threshold (1 - mostly) of rows fail;
failed warnings are reported but do not block. Records carry counts and percentages
only (never record values), so an outcome is safe to log, put in XCom or show on a
dashboard.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExpectationRecord:
    """One expectation's result: what was checked, how it is ranked, and the counts."""

    expectation_type: str
    column: str | None  # column name; comma-joined for pair and compound expectations
    severity: str
    rule: str
    why: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None  # of the non-null values checked, as GX reports it
    missing_count: int | None = None  # null values a value check skipped
    mostly: float | None = None
    row_condition: str | None = None
    error: str | None = None  # exception class name when the expectation could not run
    derived: bool = False  # a warning counting a critical rule's rows below its threshold

    @property
    def limit(self) -> float | None:
        """The share of rows checked that may fail before the expectation fails (1 - mostly)."""
        return None if self.mostly is None else 1 - self.mostly

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        when = f" where {self.row_condition}" if self.row_condition else ""
        if self.error:
            found = f"could not run ({self.error})"
        elif self.unexpected_count is not None and self.element_count is not None:
            pct = (
                f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            )
            found = f"{self.unexpected_count} of {self.element_count} rows unexpected{pct}"
            if self.limit:
                verb = "blocks" if self.severity == "critical" else "warns"
                found += f", {verb} above {share_text(self.limit)} failing"
        elif self.element_count is not None:
            found = f"observed {self.element_count}"
        else:
            found = "failed"
        return (
            f"{self.severity.upper()} [{self.rule}] {self.expectation_type}{where}{when}: "
            f"{found}. {self.why}"
        )

    def headline(self) -> str:
        """The failure in one plain sentence, fit to head a blocking message."""
        where = f" on {self.column}" if self.column else ""
        when = f" where {self.row_condition}" if self.row_condition else ""
        if self.error:
            return f"[{self.rule}]{where} could not run ({self.error})"
        if self.unexpected_count is None:
            if self.expectation_type.startswith("expect_table_row_count"):
                if self.element_count == 0:
                    return f"[{self.rule}] the partition has no records"
                return f"[{self.rule}] failed: {self.element_count} records"
            return f"[{self.rule}] failed{where}"
        checked = (self.element_count or 0) - (self.missing_count or 0)
        if self.limit and self.unexpected_percent is not None:
            return (
                f"{self.unexpected_percent:.2f}% of rows checked fail [{self.rule}]{where}{when} "
                f"({self.unexpected_count} of {checked}; blocks above {share_text(self.limit)})"
            )
        return f"[{self.rule}] failed{where}{when}: {self.unexpected_count} of {checked} rows"


@dataclass(frozen=True)
class ValidationOutcome:
    suite: str
    run_name: str
    run_time: str  # ISO 8601, UTC: with run_name, the key of the stored GX result
    params: dict[str, Any]
    success: bool  # False iff a critical expectation failed: the partition must not load
    results: list[ExpectationRecord]
    critical_failures: list[ExpectationRecord] = field(default_factory=list)
    warnings_failed: list[ExpectationRecord] = field(default_factory=list)
    row_count: int | None = None

    @classmethod
    def from_records(
        cls,
        *,
        suite: str,
        run_name: str,
        run_time: str,
        params: dict[str, Any],
        results: list[ExpectationRecord],
        row_count: int | None,
    ) -> ValidationOutcome:
        failed = [r for r in results if not r.success]
        critical = [r for r in failed if r.severity == "critical"]
        return cls(
            suite=suite,
            run_name=run_name,
            run_time=run_time,
            params=params,
            success=not critical,
            results=results,
            critical_failures=critical,
            warnings_failed=[r for r in failed if r.severity != "critical"],
            row_count=row_count,
        )

    def root_failure(self) -> ExpectationRecord | None:
        """The critical failure most likely to be the cause of the others: the first
        structural one (in suite order), else the row rule failing the largest share."""
        structural = [r for r in self.critical_failures if r.mostly is None]
        if structural:
            return structural[0]
        return max(
            self.critical_failures,
            key=lambda r: r.unexpected_percent or 0.0,
            default=None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: plain types only, NaN and infinities as None."""
        return _json_safe(asdict(self))

    def describe(self) -> str:
        """A headline, then one line per failed expectation, critical first."""
        partition = " ".join(str(v) for v in self.params.values() if v is not None)
        head = (
            f"{self.suite} {partition}".strip() + f" (run {self.run_name}, {self.row_count} rows)"
        )
        if not self.success:
            head += (
                f": BLOCKED, {len(self.critical_failures)} critical expectation(s) failed"
                f", {len(self.warnings_failed)} warning(s)"
            )
        elif self.warnings_failed:
            head += f": passed with {len(self.warnings_failed)} warning(s)"
        else:
            head += f": passed all {len(self.results)} expectations"
        blocked = {(r.expectation_type, r.column, r.rule) for r in self.critical_failures}
        warned = [  # a derived warning says again what its failed critical rule says
            r
            for r in self.warnings_failed
            if not (r.derived and (r.expectation_type, r.column, r.rule) in blocked)
        ]
        lines = [head] + ["  " + r.describe() for r in [*self.critical_failures, *warned]]
        return "\n".join(lines)


def share_text(share: float) -> str:
    """A share as people write a threshold: 0.01 -> '1%', 0.005 -> '0.5%'."""
    return f"{round(share * 100, 4):g}%"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return str(value)
