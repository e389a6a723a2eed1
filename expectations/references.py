"""Resolve the `$`-references in suite JSON to values from their one source of truth.

Suites never re-type a code list: they name it, and the value set is read from
core/codelists (or the identifier checks) when the suite is built, so adding a
code there changes every suite without touching the JSON. Partition values (the
year and term being validated) are `$param` references, passed at run time.

References (a one-key object, anywhere in an expectation's kwargs):
- `{"$codelist": "ethnicity"}`   every valid value of a code list
- `{"$pattern": "language"}`     a regex accepting exactly what `CodeList.is_valid` accepts
- `{"$la_codes": "all"}`         every valid LA or pseudo-LA code (integers)
- `{"$upn_status": "usable"}`    the UPN statuses a link can use; or a list of status names
- `{"$param": "academic_year"}`  a run-time value; under `value_set` it is a one-value set
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from core.codes import codelist, la_code_ranges
from linkage.identifiers import UpnStatus

ParamKind = Literal["set", "value"]

GX_PARAMETER = "$PARAMETER"  # GX's own run-time parameter marker


class SuiteReferenceError(ValueError):
    """A suite names a code list, status or reference kind that does not exist."""


def _codelist_values(name: str) -> list[str]:
    try:
        return codelist(name).values
    except KeyError as err:
        raise SuiteReferenceError(f"$codelist: {err.args[0]}") from None


def _codelist_regex(name: str) -> str:
    """A regex matching the enumerated codes or the list's open pattern, whole value only."""
    try:
        codes = codelist(name)
    except KeyError as err:
        raise SuiteReferenceError(f"$pattern: {err.args[0]}") from None
    if not codes.pattern:
        raise SuiteReferenceError(f"$pattern: code list {name!r} has no pattern; use $codelist")
    enumerated = "|".join(re.escape(v) for v in codes.values)
    return f"^(?:{enumerated})$|^(?:{codes.pattern})$"


def _la_codes(selector: str) -> list[int]:
    if selector != "all":
        raise SuiteReferenceError(f'$la_codes: only "all" is defined, not {selector!r}')
    return [code for low, high in la_code_ranges() for code in range(low, high + 1)]


def _upn_statuses(selector: str | list[str]) -> list[str]:
    if selector == "usable":
        return [s.value for s in UpnStatus if s.usable]
    if isinstance(selector, list):
        known = {s.value for s in UpnStatus}
        unknown = [s for s in selector if s not in known]
        if unknown:
            raise SuiteReferenceError(f"$upn_status: unknown status {unknown} (known: {known})")
        return list(selector)
    raise SuiteReferenceError(f'$upn_status: expected "usable" or a list, not {selector!r}')


_RESOLVERS: dict[str, Callable[[Any], Any]] = {
    "$codelist": _codelist_values,
    "$pattern": _codelist_regex,
    "$la_codes": _la_codes,
    "$upn_status": _upn_statuses,
}


def resolve(value: Any, params: dict[str, ParamKind], key: str | None = None) -> Any:
    """Return value with every reference replaced; record each `$param` (and its kind) in params.

    `$param` becomes GX's own `{"$PARAMETER": name}` so the stored suite stays the same
    for every partition and the value used is kept in each validation result.
    """
    if isinstance(value, list):
        return [resolve(item, params, key) for item in value]
    if not isinstance(value, dict):
        return value
    refs = [k for k in value if isinstance(k, str) and k.startswith("$")]
    if not refs:
        return {k: resolve(v, params, k) for k, v in value.items()}
    if len(value) != 1:
        raise SuiteReferenceError(f"a reference is a one-key object, got {sorted(value)}")
    (ref,) = refs
    arg = value[ref]
    if ref == "$param":
        if not isinstance(arg, str) or not arg:
            raise SuiteReferenceError(f"$param needs a parameter name, got {arg!r}")
        params[arg] = "set" if key == "value_set" else "value"
        return {GX_PARAMETER: arg}
    if ref not in _RESOLVERS:
        raise SuiteReferenceError(f"unknown reference {ref!r} (known: {[*_RESOLVERS, '$param']})")
    return _RESOLVERS[ref](arg)
