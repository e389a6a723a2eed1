"""Code lists and harmonisation, read from core/codelists/*.yml (the one place code lists live).

Each mapping renders two ways from the same data: as a Python dict for Arrow or
pandas work, and as a SQL CASE expression for staging inside DuckDB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def _raw() -> dict[str, Any]:
    """Every code list, merged from core/codelists/*.yml; a name may be defined only once."""
    merged: dict[str, Any] = {}
    folder = resources.files("core").joinpath("codelists")
    for path in sorted(
        (p for p in folder.iterdir() if p.name.endswith(".yml")), key=lambda p: p.name
    ):
        for name, entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            if name in merged:
                raise ValueError(
                    f"code list {name!r} is defined twice (again in codelists/{path.name})"
                )
            merged[name] = entry
    return merged


@dataclass(frozen=True)
class CodeList:
    name: str
    codes: dict[str, str]
    pattern: str | None = None
    description: str = ""
    extra_valid: frozenset[str] = field(default_factory=frozenset)

    @property
    def values(self) -> list[str]:
        """Every enumerated valid value (main and extended codes)."""
        return sorted(set(self.codes) | self.extra_valid)

    def is_valid(self, value: str | None) -> bool:
        if value is None:
            return False
        if value in self.codes or value in self.extra_valid:
            return True
        return bool(self.pattern and re.fullmatch(self.pattern, value))

    def sql_valid(self, expr: str) -> str:
        """SQL boolean: is expr a valid code? (NULL stays NULL).

        list_contains, not IN: DuckDB plans an IN list of five or more values inside a
        projection as a join, which gives up the read order staging keeps without a sort."""
        inlist = ", ".join(sql_literal(v) for v in self.values)
        test = f"list_contains([{inlist}], {expr})"
        if self.pattern:
            test = f"({test} OR regexp_full_match({expr}, {sql_literal(self.pattern)}))"
        return test


def codelist(name: str) -> CodeList:
    raw = _raw()
    if name not in raw or not isinstance(raw[name], dict) or "codes" not in raw[name]:
        raise KeyError(f"no code list named {name!r} in core/codelists")
    entry = raw[name]
    extra: frozenset[str] = frozenset()
    if name == "ethnicity":
        extra = frozenset(c for codes in raw["ethnicity_extended"].values() for c in codes)
    return CodeList(
        name=name,
        codes={str(k): str(v) for k, v in entry["codes"].items()},
        pattern=entry.get("pattern"),
        description=entry.get("description", ""),
        extra_valid=extra,
    )


def mapping(name: str) -> dict[str, str]:
    """A value-to-value mapping defined in core/codelists."""
    raw = _raw()
    if name == "ethnicity_main":
        out = {c: c for c in raw["ethnicity"]["codes"]}
        for main, extended in raw["ethnicity_extended"].items():
            out.update({c: main for c in extended})
        return out
    if name in ("ethnic_group_major", "language_group_major", "ilr_ethnic_group_major"):
        return {code: group for group, codes in raw[name].items() for code in codes}
    if name.startswith("sex:"):
        return {str(k): str(v) for k, v in raw["sex_schemes"][name.split(":", 1)[1]].items()}
    raise KeyError(f"no mapping named {name!r} in core/codelists")


def sex_schemes() -> list[str]:
    return list(_raw()["sex_schemes"])


def la_names() -> dict[str, str]:
    return {str(k): str(v) for k, v in _raw()["la_names"].items()}


def la_code_ranges() -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in _raw()["la_code_ranges"]]


def is_valid_la_code(code: int) -> bool:
    return any(a <= code <= b for a, b in la_code_ranges())


def sql_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def sql_case(mapping_: dict[str, str], expr: str, default: str = "NULL") -> str:
    """Render a mapping as a SQL CASE over expr; unmapped values give default."""
    if not mapping_:
        return default
    whens = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in mapping_.items())
    return f"(CASE {expr} {whens} ELSE {default} END)"


def _la_code_mask() -> str:
    """One character per code 0..999: '1' where the code is a valid LA or pseudo-LA code."""
    return "".join("1" if is_valid_la_code(code) else "0" for code in range(1000))


def sql_la_code_valid(expr: str) -> str:
    """SQL boolean: is the integer expr a valid LA or pseudo-LA code?

    A lookup in a 1,000-character mask, not one BETWEEN per range: the UPN check runs it
    on every census record (35 ranges cost 1.7 CPU s per million UPNs, the mask 0.6 s)."""
    if max(b for _, b in la_code_ranges()) > 999:
        return "(" + " OR ".join(f"{expr} BETWEEN {a} AND {b}" for a, b in la_code_ranges()) + ")"
    return (
        f"(CASE WHEN {expr} BETWEEN 0 AND 999 "
        f"THEN substr({sql_literal(_la_code_mask())}, {expr} + 1, 1) = '1' ELSE false END)"
    )


def language_group_major_sql(expr: str) -> str:
    lang = codelist("language")
    groups = mapping("language_group_major")
    return (
        f"(CASE WHEN {expr} IS NULL THEN '3_UNCL' "
        f"WHEN {expr} IN ({', '.join(sql_literal(c) for c in groups)}) "
        f"THEN {sql_case(groups, expr)} "
        f"WHEN {lang.sql_valid(expr)} THEN '2_OTH' ELSE '3_UNCL' END)"
    )
