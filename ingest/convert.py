"""Typing rules as SQL: one typed expression and one failure reason per declared field.

Raw values arrive as text. Each field of a TableSpec becomes a typed column and,
where its value cannot be typed, a reason naming the source field. Reasons quote
the offending value only for fields that cannot identify a child.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.codes import codelist, mapping, sql_case, sql_literal
from core.duck import quote_ident
from ingest.spec import FieldSpec, TableSpec
from linkage.identifiers import sql_uln_valid, sql_upn_status

SQL_TYPES = {
    "string": "VARCHAR",
    "name": "VARCHAR",
    "upn": "VARCHAR",
    "uln": "VARCHAR",
    "code": "VARCHAR",
    "postcode": "VARCHAR",
    "date": "DATE",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
}
_TRUE = ("true", "t", "1", "y", "yes")
_FALSE = ("false", "f", "0", "n", "no")


EARLIEST_DATE = dt.date(1900, 1, 1)  # any date before it is impossible in these returns
# NUL and other control bytes (not tab, LF or CR) have no place in any value.
CONTROL_PATTERN = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]"
UPN_CHARACTERS = "[A-Z][0-9]{11}[0-9A-Z]"  # the shape; a first letter never used fails the check
FORMULA_START = "^[=+\\-@]"


@dataclass(frozen=True)
class RowChecks:
    """What the row rules need to know beyond the spec: the partition's reference day (the
    census day, the 31 March a social care year runs to, or the end of the collection
    year), and whether any file of the table holds control bytes (checked only then)."""

    reference: dt.date | None = None
    reference_label: str = "the reference day"
    control: bool = False


@dataclass(frozen=True)
class TypedColumn:
    name: str
    expr: str


def _reason(fld: FieldSpec, condition: str, problem: str, raw: str | None) -> str:
    """SQL for a reason string, emitted only where condition holds. The value is quoted only
    for fields that cannot identify a child, and only where there is a value (raw given)."""
    text = f"{sql_literal(fld.source + ': ' + problem)}"
    if raw is not None and fld.shows_value:
        text = f"{text} || ' (value ' || left({raw}, 40) || ')'"
    elif raw is not None:
        text = f"{text} || ' (value withheld)'"
    return f"CASE WHEN {condition} THEN {text} END"


def _typed(
    fld: FieldSpec, raw: str, typed: str, legacy_from: list[str | None] | None = None
) -> tuple[str, str | None]:
    """Typed expression over the cleaned raw value, and the condition (over the cleaned raw
    value and the typed column) under which typing failed; None when it cannot fail.
    `legacy_from`: per legacy coding of the field, a flag column set where the value came
    from its earlier name (None where it has none or the file lacks it)."""
    if fld.type == "date":
        formats = fld.formats or ("%Y-%m-%d",)
        tries = ", ".join(f"try_strptime({raw}, {sql_literal(f)})" for f in formats)
        expr = f"CAST(coalesce({tries}) AS DATE)" if len(formats) > 1 else f"CAST({tries} AS DATE)"
        return expr, f"{raw} IS NOT NULL AND {typed} IS NULL"
    if fld.type == "int":
        as_double = f"TRY_CAST({raw} AS DOUBLE)"
        expr = (
            f"(CASE WHEN {as_double} = trunc({as_double}) AND abs({as_double}) < 9e15 "
            f"THEN CAST({as_double} AS BIGINT) END)"
        )
        return expr, f"{raw} IS NOT NULL AND {typed} IS NULL"
    if fld.type == "float":
        expr = f"TRY_CAST({raw} AS DOUBLE)"
        return expr, f"{raw} IS NOT NULL AND ({typed} IS NULL OR isnan({typed}))"
    if fld.type == "bool":
        # A simple CASE, not IN lists: DuckDB turns an IN list of five or more values into a
        # join, which costs more and gives up the row order that lets staging skip a sort.
        whens = " ".join(
            f"WHEN {sql_literal(v)} THEN {str(v in _TRUE).lower()}" for v in (*_TRUE, *_FALSE)
        )
        return f"(CASE lower({raw}) {whens} END)", f"{raw} IS NOT NULL AND {typed} IS NULL"
    if fld.type == "postcode":
        squashed = f"regexp_replace(upper({raw}), '\\s+', '', 'g')"
        expr = (
            f"(CASE WHEN length({squashed}) BETWEEN 5 AND 7 "
            f"THEN left({squashed}, length({squashed}) - 3) || ' ' || right({squashed}, 3) "
            f"ELSE {squashed} END)"
        )
        return expr, None
    if fld.type == "code" and fld.harmonise:
        expr = sql_case(mapping(fld.harmonise), raw)
        codings = [sql_case(mapping(c.harmonise), raw) for c in fld.legacy if c.harmonise]
        if codings:  # a value only a legacy coding knows (docs/bad-input.md, "legacy coding")
            expr = f"coalesce({expr}, {', '.join(codings)})"
            by_source = [
                f"WHEN {came} THEN coalesce({sql_case(mapping(c.harmonise), raw)}, "
                f"{sql_case(mapping(fld.harmonise), raw)})"
                for c, came in zip(fld.legacy, legacy_from or (), strict=False)
                if c.harmonise and came
            ]
            if by_source:  # read from the legacy name: its own coding first
                expr = f"(CASE {' '.join(by_source)} ELSE {expr} END)"
        return expr, f"{raw} IS NOT NULL AND {typed} IS NULL"
    if fld.type == "code" and fld.codelist and fld.invalid == "quarantine":
        return raw, f"{raw} IS NOT NULL AND NOT {codelist(fld.codelist).sql_valid(raw)}"
    if fld.type == "upn":  # malformed: not the UPN's length and characters (nor UN1-UN10)
        return raw, (
            f"{quote_ident(fld.name + '_status')} = 'bad_format' "
            f"AND NOT regexp_full_match({raw}, '{UPN_CHARACTERS}')"
        )
    if fld.type == "uln":
        return raw, f"{raw} IS NOT NULL AND NOT regexp_full_match({raw}, '[0-9]{{10}}')"
    return raw, None


def _problem(fld: FieldSpec) -> str:
    if fld.type == "date":
        return (
            f"not a date in the expected format ({fld.formats[0] if fld.formats else '%Y-%m-%d'})"
        )
    if fld.type == "int":
        return "not a whole number"
    if fld.type == "float":
        return "not a number"
    if fld.type == "bool":
        return "not a yes/no value"
    if fld.type == "upn":
        return "malformed UPN (not 13 characters: a letter, 11 digits, a digit or a letter)"
    if fld.type == "uln":
        return "malformed ULN (not 10 digits)"
    return "not a known code"


def _rules(
    fld: FieldSpec, raw: str, typed: str, checks: RowChecks, present: set[str]
) -> list[tuple[str, str, bool]]:
    """Row rules beyond typing: (failing condition, problem, quote the value?)."""
    rules: list[tuple[str, str, bool]] = []
    limit = fld.length_limit
    listed = fld.type == "code" and (
        fld.harmonise or (fld.codelist and fld.invalid == "quarantine")
    )
    if limit is not None and not listed:  # a code list already bounds a listed code
        rules.append(
            (f"length({raw}) > {limit}", f"longer than its maximum of {limit} characters", False)
        )
    if checks.control:
        rules.append(
            (
                f"regexp_matches({raw}, '{CONTROL_PATTERN}')",
                "holds a NUL or control character",
                False,
            )
        )
    if fld.type == "date":
        rules.append(
            (
                f"{typed} < DATE '{EARLIEST_DATE}'",
                f"impossible date (before {EARLIEST_DATE:%Y})",
                True,
            )
        )
        if fld.not_after == "reference" and checks.reference is not None:
            rules.append(
                (
                    f"{typed} > DATE '{checks.reference}'",
                    f"in the future: after {checks.reference_label} ({checks.reference})",
                    False,
                )
            )
        if fld.not_before and fld.not_before in present:
            other = quote_ident(fld.not_before)
            rules.append((f"{typed} < {other}", f"before {fld.not_before}", False))
    return rules


def _warnings(fld: FieldSpec, padded: str, raw: str) -> list[tuple[str, str]]:
    """Questionable but usable: (condition, warning) over the padding flag and cleaned text."""
    found = [(padded, "leading or trailing spaces trimmed")]
    if fld.type == "name":
        found.append(
            (f"regexp_matches({raw}, '{FORMULA_START}')", "starts with a formula character")
        )
    if fld.type == "upn":
        status = quote_ident(fld.name + "_status")
        found.append(
            (
                f"({status} = 'bad_check' OR ({status} = 'bad_format' "
                f"AND regexp_full_match({raw}, '{UPN_CHARACTERS}')))",
                "UPN check letter does not match",
            )
        )
        found.append((f"{status} = 'bad_la'", "UPN characters 2-4 are not an LA code"))
    if fld.type == "uln":
        found.append(
            (
                f"regexp_full_match({raw}, '[0-9]{{10}}') AND {raw} <> '9999999999' "
                f"AND NOT {quote_ident(fld.name + '_valid')}",
                "ULN check digit does not match",
            )
        )
    return found


def legacy_marker(fld: FieldSpec, raw: str, legacy_from: list[str | None]) -> str:
    """SQL for the legacy coding a row's value was read in: k (1-based, into fld.legacy)
    where only that coding knows the value or it came from that coding's earlier name; 0
    where the value is in a legacy coding and means something else in the current one
    (ambiguous, should the file hold the legacy coding); NULL for the current coding."""
    current = mapping(fld.harmonise) if fld.harmonise else {}
    whens: list[str] = []
    ambiguous: list[str] = []
    for k, (coding, came) in enumerate(zip(fld.legacy, legacy_from, strict=True), start=1):
        tests = [came] if came else []
        if coding.harmonise:
            old = mapping(coding.harmonise)
            only = [v for v in old if v not in current]
            if only:
                tests.append(f"list_contains([{', '.join(map(sql_literal, only))}], {raw})")
            clash = [v for v in old if v in current and current[v] != old[v]]
            if clash:
                ambiguous.append(f"list_contains([{', '.join(map(sql_literal, clash))}], {raw})")
        if tests:
            whens.append(f"WHEN {' OR '.join(tests)} THEN {k}")
    if ambiguous:
        whens.append(f"WHEN {' OR '.join(ambiguous)} THEN 0")
    return f"(CASE {' '.join(whens)} END)" if whens else "CAST(NULL AS INTEGER)"


def legacy_warning(fld: FieldSpec, marker: str) -> tuple[str, str]:
    """The row warning of a value read in a legacy coding: (condition, SQL text)."""
    texts = " ".join(
        f"WHEN {k} THEN {sql_literal(f'{fld.source}: read in a legacy coding ({c.note})')}"
        for k, c in enumerate(fld.legacy, start=1)
    )
    return f"{marker} > 0", f"(CASE {marker} {texts} END)"


@dataclass(frozen=True)
class TypedSelect:
    """Typing in three layers so each value is cleaned once and typed once:
    `cleaned` (trimmed raw text per present field, named __raw_<i>), `columns` (typed
    expressions over the cleaned text) and `reasons` (over cleaned text and typed columns).
    `failures` are the reasons' conditions: a row has a reason exactly when one holds, so
    reason text is built only for the rows that fail (building it for every row is costly)."""

    cleaned: list[str]
    columns: list[TypedColumn]
    reasons: list[str]
    raw_names: list[str]
    failures: list[str]
    warnings: list[tuple[str, str]] = ()  # (condition, SQL text of the warning)
    # Fields with legacy codings and the SQL of each row's marker (legacy_marker): staging
    # counts them per file to note, or refuse, the file.
    legacy: list[tuple[FieldSpec, str]] = ()

    def reason_sql(self) -> str:
        """SQL for a row's reasons joined by '; ', or NULL when it has none."""
        if not self.reasons:
            return "NULL"
        any_failed = " OR ".join(f"({c})" for c in self.failures)
        return f"CASE WHEN {any_failed} THEN concat_ws('; ', {', '.join(self.reasons)}) END"

    def warning_sql(self) -> str:
        """SQL for a row's warnings joined by '; ', or NULL when it has none."""
        if not self.warnings:
            return "CAST(NULL AS VARCHAR)"
        any_warned = " OR ".join(f"({c})" for c, _ in self.warnings)
        texts = ", ".join(f"CASE WHEN {c} THEN {t} END" for c, t in self.warnings)
        return f"CASE WHEN {any_warned} THEN concat_ws('; ', {texts}) END"


def typed_select(
    table: TableSpec, header: list[str], checks: RowChecks | None = None
) -> TypedSelect:
    """Typing for a table whose file has the given header.

    Absent optional columns become typed NULLs; absent required columns are a file-level
    problem the caller reports, and their values count as missing here.
    """
    checks = checks or RowChecks()
    present = {h.strip().lower(): h for h in header}
    staged_present = {f.name for f in table.fields if f.source.lower() in present}
    warnings: list[tuple[str, str]] = []
    cleaned: list[str] = []
    raw_names: list[str] = []
    columns: list[TypedColumn] = []
    reasons: list[str] = []
    failures: list[str] = []
    legacy: list[tuple[FieldSpec, str]] = []
    for i, fld in enumerate(table.fields):
        sql_type = SQL_TYPES[fld.type]
        actual = present.get(fld.source.lower())
        # A legacy coding's earlier name (GenderCurrent for Sex) is read as the field.
        earlier = [present.get(c.source.lower()) if c.source else None for c in fld.legacy]
        if actual is None and not any(earlier):
            columns.append(TypedColumn(fld.name, f"CAST(NULL AS {sql_type})"))
            _identifier_extras(fld, "CAST(NULL AS VARCHAR)", columns)
            continue
        original = quote_ident(actual) if actual is not None else "CAST(NULL AS VARCHAR)"
        text = clean_text(original)
        legacy_from: list[str | None] = [None] * len(fld.legacy)
        if any(earlier):
            names = [quote_ident(e) for e in earlier if e]
            text = f"coalesce({text}, {', '.join(clean_text(n) for n in names)})"
            for k, e in enumerate(earlier):
                if e:
                    came = f"__from_{i}_{k}"
                    cleaned.append(
                        f"({clean_text(original)} IS NULL "
                        f"AND {clean_text(quote_ident(e))} IS NOT NULL) AS {came}"
                    )
                    raw_names.append(came)
                    legacy_from[k] = came
                    if actual is not None:  # both names given: which one holds cannot be told
                        reasons.append(
                            _reason(
                                fld,
                                f"__both_{i}_{k}",
                                f"given twice, also as {e} (its legacy name)",
                                None,
                            )
                        )
                        failures.append(f"__both_{i}_{k}")
                        cleaned.append(
                            f"({clean_text(original)} IS NOT NULL "
                            f"AND {clean_text(quote_ident(e))} IS NOT NULL) AS __both_{i}_{k}"
                        )
                        raw_names.append(f"__both_{i}_{k}")
            original = f"coalesce({original}, {', '.join(names)})"
        if fld.upper or fld.type in ("upn", "uln"):
            text = f"upper({text})"
        raw = f"__raw_{i}"
        cleaned.append(f"{text} AS {raw}")
        raw_names.append(raw)
        padded = f"__pad_{i}"
        cleaned.append(
            f"coalesce(prefix({original}, ' ') OR suffix({original}, ' '), false) AS {padded}"
        )
        raw_names.append(padded)
        expr, failed = _typed(fld, raw, quote_ident(fld.name), legacy_from)
        if fld.legacy:
            marker = legacy_marker(fld, raw, legacy_from)
            legacy.append((fld, marker))
            warnings.append(legacy_warning(fld, marker))
        columns.append(TypedColumn(fld.name, expr))
        _identifier_extras(fld, raw, columns)
        if failed:
            reasons.append(_reason(fld, failed, _problem(fld), raw))
            failures.append(failed)
        typed_col = quote_ident(fld.name)
        for condition, problem, quote in _rules(fld, raw, typed_col, checks, staged_present):
            reasons.append(_reason(fld, condition, problem, raw if quote else None))
            failures.append(condition)
        for condition, warning in _warnings(fld, padded, raw):
            warnings.append((condition, sql_literal(f"{fld.source}: {warning}")))
        if fld.required:
            reasons.append(_reason(fld, f"{raw} IS NULL", "required value missing", None))
            failures.append(f"{raw} IS NULL")
    return TypedSelect(
        cleaned=cleaned,
        columns=columns,
        reasons=reasons,
        raw_names=raw_names,
        failures=failures,
        warnings=warnings,
        legacy=legacy,
    )


def clean_text(col: str) -> str:
    """SQL for NULLIF(trim(col), ''), calling trim only where it could change the value.

    DuckDB's trim strips Unicode space separators (category Zs) from both ends; among ASCII
    that is only ' '. So a non-empty, all-ASCII value that neither starts nor ends with ' '
    is already clean, and checking that is cheaper than trimming (one of the larger costs
    of typing a wide table)."""
    return (
        f"(CASE WHEN {col} = '' OR prefix({col}, ' ') OR suffix({col}, ' ') "
        f"OR strlen({col}) <> length({col}) THEN NULLIF(trim({col}), '') ELSE {col} END)"
    )


def _identifier_extras(fld: FieldSpec, raw: str, columns: list[TypedColumn]) -> None:
    """UPN fields carry their check status; ULN fields their validity."""
    if fld.type == "upn":
        columns.append(TypedColumn(f"{fld.name}_status", sql_upn_status(raw)))
    elif fld.type == "uln":
        columns.append(TypedColumn(f"{fld.name}_valid", sql_uln_valid(raw)))


def empty_typed_columns(table: TableSpec) -> list[TypedColumn]:
    """The typed schema of a table with no rows (for returns that lack an optional table)."""
    return typed_select(table, []).columns
