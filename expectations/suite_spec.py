"""Load a suite from expectations/suites/<name>.json into plain, resolved data.

Kept free of GX imports (GX takes seconds to import) so a DAG or the CLI can list
suites, their columns and parameters cheaply; gx_suite.py turns a spec into GX objects.

Blocking policy (docs/validation-policy.md), enforced here for every suite: a critical
expectation is either structural (`meta.structural: true`, or a table-level type: any
failure blocks) or about rows, with its blocking threshold as GX's `mostly` (it blocks
when more than 1 - mostly of the rows checked fail). The rows a critical rule fails below
its threshold are still counted: the suite gets a warning on the same check without
`mostly` (derived here, unless the JSON states its own warning for that check).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from expectations.outcome import share_text
from expectations.privacy import check_expectation, columns_of
from expectations.references import ParamKind, resolve

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")
_META_KEYS = ("severity", "rule", "why")
DERIVED = "derived"  # meta key of a warning derived from a critical rule's threshold


class SuiteSpecError(ValueError):
    """A suite file is malformed: it names the suite and the expectation at fault."""


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation with its references resolved; meta carries severity, rule and why."""

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any]

    @property
    def severity(self) -> Severity:
        return self.meta["severity"]

    @property
    def rule(self) -> str:
        return self.meta["rule"]

    @property
    def columns(self) -> list[str]:
        return columns_of(self.kwargs)

    @property
    def mostly(self) -> float | None:
        """The share of rows checked that must pass; for a critical rule, its threshold."""
        return self.kwargs.get("mostly")

    @property
    def structural(self) -> bool:
        """A critical check that blocks on any failure (no threshold)."""
        return self.severity == "critical" and self.mostly is None

    @property
    def derived(self) -> bool:
        """A warning the loader added to count a critical rule's rows below its threshold."""
        return bool(self.meta.get(DERIVED))

    @property
    def check(self) -> tuple[str, dict[str, Any]]:
        """What is checked, whatever the tolerance: the type and kwargs without `mostly`."""
        return self.type, {k: v for k, v in self.kwargs.items() if k != "mostly"}


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    description: str
    expectations: tuple[ExpectationSpec, ...]
    parameters: dict[str, ParamKind]  # run-time values the suite needs, and how each is used

    @property
    def columns(self) -> list[str]:
        """Every column the suite reads (and row conditions filter on), in first-use order."""
        seen: dict[str, None] = {}
        for exp in self.expectations:
            for col in [*exp.columns, *_condition_columns(exp.kwargs.get("row_condition"))]:
                seen.setdefault(col, None)
        return list(seen)

    @property
    def code_columns(self) -> list[str]:
        """Columns only ever checked against a value set, a pattern or for nulls.

        Such columns hold a few distinct codes, so they can be read dictionary-encoded
        (pandas categoricals); a column that is also compared, made unique or used in a
        row condition is not one of them.
        """
        uses: dict[str, set[str]] = {}
        for exp in self.expectations:
            for col in exp.columns:
                uses.setdefault(col, set()).add(exp.type)
            for col in _condition_columns(exp.kwargs.get("row_condition")):
                uses.setdefault(col, set()).add("row_condition")
        return [c for c in self.columns if uses.get(c) and uses[c] <= CODE_CHECKS]


CODE_CHECKS = frozenset(
    {
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
    }
)


def _condition_columns(condition: Any) -> list[str]:
    if not isinstance(condition, dict):
        return []
    if "conditions" in condition:
        return [c for sub in condition["conditions"] for c in _condition_columns(sub)]
    column = condition.get("column")
    return [column["name"]] if isinstance(column, dict) and "name" in column else []


def suite_names() -> list[str]:
    folder = resources.files("expectations").joinpath("suites")
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def load_suite_json(name: str) -> dict[str, Any]:
    """The suite file as written (references unresolved)."""
    path = resources.files("expectations").joinpath("suites", f"{name}.json")
    if not path.is_file():
        raise SuiteSpecError(f"no suite {name!r} (known: {suite_names()})")
    return json.loads(path.read_text(encoding="utf-8"))


def build_spec(raw: dict[str, Any]) -> SuiteSpec:
    """Check and resolve a suite document; every error names the suite and expectation."""
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SuiteSpecError("a suite needs a name")
    params: dict[str, ParamKind] = {}
    built: list[ExpectationSpec] = []
    for i, item in enumerate(raw.get("expectations", [])):
        where = f"suite {name!r} expectation {i} ({item.get('type')})"
        meta = item.get("meta") or {}
        missing = [k for k in _META_KEYS if not meta.get(k)]
        if missing:
            raise SuiteSpecError(f"{where}: meta needs {missing}")
        if meta["severity"] not in SEVERITIES:
            raise SuiteSpecError(f"{where}: severity must be one of {SEVERITIES}")
        if meta.get(DERIVED):
            raise SuiteSpecError(f"{where}: meta.{DERIVED} is set by the loader, not in JSON")
        try:
            kwargs = resolve(item.get("kwargs", {}), params)
            check_expectation(item["type"], kwargs)
        except (KeyError, ValueError) as err:
            raise SuiteSpecError(f"{where}: {err}") from None
        _check_blocking(where, item["type"], kwargs, meta)
        built.append(ExpectationSpec(type=item["type"], kwargs=kwargs, meta=dict(meta)))
    if not built:
        raise SuiteSpecError(f"suite {name!r} has no expectations")
    return SuiteSpec(
        name=name,
        description=raw.get("description", ""),
        expectations=tuple(_with_derived_warnings(built)),
        parameters=params,
    )


def _check_blocking(where: str, type_: str, kwargs: dict[str, Any], meta: dict[str, Any]) -> None:
    """A critical expectation says how it blocks: on any failure (structural) or on a share."""
    mostly = kwargs.get("mostly")
    if mostly is not None and not (
        isinstance(mostly, (int, float)) and not isinstance(mostly, bool) and 0 < mostly <= 1
    ):
        raise SuiteSpecError(f"{where}: mostly must be a share between 0 and 1, not {mostly!r}")
    structural = meta.get("structural")
    if structural is not None and structural is not True:
        raise SuiteSpecError(f"{where}: meta.structural is true or absent")
    if meta["severity"] != "critical":
        if structural:
            raise SuiteSpecError(f"{where}: only a critical expectation can be structural")
        return
    if structural and mostly is not None:
        raise SuiteSpecError(f"{where}: a structural expectation blocks on any failure: no mostly")
    if mostly is not None and mostly >= 1:
        raise SuiteSpecError(
            f"{where}: mostly 1 blocks on any failing row: mark it meta.structural instead"
        )
    if mostly is None and not structural and not type_.startswith("expect_table_"):
        raise SuiteSpecError(
            f"{where}: a critical expectation about rows needs its blocking threshold (mostly), "
            "or meta.structural: true if any failure must block"
        )


def _with_derived_warnings(built: list[ExpectationSpec]) -> list[ExpectationSpec]:
    """Each critical rule with a threshold, followed by a warning counting every failing row
    (the same check without mostly), unless the suite states a warning for that check."""
    stated = {_key(e) for e in built if e.severity == "warning"}
    out: list[ExpectationSpec] = []
    for exp in built:
        out.append(exp)
        if exp.severity != "critical" or exp.mostly is None or _key(exp) in stated:
            continue
        type_, kwargs = exp.check
        limit = share_text(1 - exp.mostly)
        meta = {
            "severity": "warning",
            "rule": exp.rule,
            "why": (
                f"Every row failing this critical rule, counted: while no more than {limit} "
                f"fail they load; more blocks the partition. {exp.meta['why']}"
            ),
            DERIVED: True,
        }
        out.append(ExpectationSpec(type=type_, kwargs=kwargs, meta=meta))
    return out


def _key(exp: ExpectationSpec) -> str:
    type_, kwargs = exp.check
    return json.dumps([type_, kwargs], sort_keys=True, default=str)


def load_suite(name: str) -> SuiteSpec:
    """The named suite, resolved against the code lists as they are now (not cached: cheap)."""
    return build_spec(load_suite_json(name))
