"""The cases of the bad-input corpus, one function per family (see corpus.py).

Each function takes the Builder, copies clean base returns, damages them in one way, and says
what must become of every file and row. Row numbers are data-row indexes (0-based) turned
into file lines by the case (a record spanning lines is counted right), or element ordinals
in an XML file, 1-based per table.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.periods import AcademicYear, Term
from ingest.landing import annual_file_path, period_dir
from linkage.identifiers import make_ulns, make_upns
from tests.badinput.corpus import (
    CENSUS_LA,
    CLA_CSV_LA,
    KS,
    OUTSIDE,
    ROOT,
    SECRET,
    SINGLE_LINE_MB,
    YEAR,
    Builder,
    Case,
    Csv,
    XmlDoc,
    bad_check_uln,
    bad_check_upn,
    bad_la_upn,
    census_path,
    cin_path,
    cla_path,
    cla_xml_path,
    ks_path,
    physical_data_lines,
    rel,
    valid_uln,
)

SPRING = Term.SPRING
P = census_path("pupilonroll")
SEN = census_path("senneeds")
FSM = census_path("fsmperiod")
ADDR = census_path("addressesonroll")
SCHOOL = census_path("school")
LABEL = YEAR.label  # 2024/25
OTHER_YEAR = AcademicYear(2023)

CIN_TABLES = {
    "disabilities": "Disability",
    "cin_details": "CINdetails",
    "assessments": "Assessments",
    "assessment_factors": "AssessmentFactors",
    "cin_plans": "CINPlanDates",
    "section47": "Section47",
    "cp_plans": "ChildProtectionPlans",
    "cpp_reviews": "CPPreviewDate",
}
ILR_TABLES = {"learning_delivery": "LearningDelivery"}
CLA_XML_TABLES = {
    "episodes": "EPISODE",
    "reviews": "AREVIEW",
    "missing": "MISSING_EPISODE",
    "oc2": "OC2",
    "placed_for_adoption": "AD_PLACED",
    "sw_episodes": "SW_EPISODE",
}
CLA_XML_WHEN = {
    "uasc": "DUC",
    "oc3": "IN_TOUCH",
    "ad1": "DATE_INT",
    "previous_permanence": "PREV_PERM",
}

BILLION_LAUGHS = (
    '<!DOCTYPE {root} [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
)
XXE = '<!DOCTYPE {root} [\n <!ENTITY xxe SYSTEM "file://@@OUTSIDE@@/secret.txt">\n]>\n'
EXTERNAL_DTD = '<!DOCTYPE {root} SYSTEM "file://@@OUTSIDE@@/evil.dtd">\n'
PARAMETER_ENTITY = (
    '<!DOCTYPE {root} [\n <!ENTITY % remote SYSTEM "file://@@OUTSIDE@@/evil.dtd">\n %remote;\n]>\n'
)
NETWORK_DTD = '<!DOCTYPE {root} SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
EVIL_DTD = '<!ENTITY leak "@@SECRET@@">\n'


def _prolog_with(doc: XmlDoc, doctype: str) -> None:
    """Put a DOCTYPE after the XML declaration (before the root element)."""
    head, sep, rest = doc.prolog.partition("?>\n")
    root = rest.lstrip().split(">", 1)[0].lstrip("<").split()[0]
    doc.prolog = head + sep + doctype.format(root=root) + rest


def _secret_csv(table: Csv, columns: list[str]) -> str:
    """A copy of a table (a few rows) whose given columns hold the secret: what a link or
    an entity would bring in from outside the landing folder."""
    t = table.copy()
    t.rows = t.rows[:3]
    for row in t.rows:
        for c in columns:
            row[t.col(c)] = SECRET
    text, _ = t.render()
    return text


def _followers(case: Case, path: str, doc: XmlDoc, i: int, tags: dict[str, str]) -> None:
    """Rows of nested tables inside record i may follow the record into quarantine."""
    for table, tag in tags.items():
        n = doc.records[i].count(f"<{tag}>")
        if n:
            first = doc.ordinal(i, tag)
            case.may_q(path, range(first, first + n), table=table)


def _cla_when_followers(case: Case, path: str, doc: XmlDoc, i: int) -> None:
    for table, tag in CLA_XML_WHEN.items():
        if doc.has(i, tag):
            ordinal = sum(1 for r in doc.records[:i] if f"<{tag}>" in r) + 1
            case.may_q(path, [ordinal], table=table)


def _cin_counts(doc: XmlDoc) -> dict[str, int]:
    return {"child": len(doc.records), **{t: doc.count(tag) for t, tag in CIN_TABLES.items()}}


def _ilr_counts(doc: XmlDoc) -> dict[str, int]:
    return {"learner": len(doc.records), "learning_delivery": doc.count("LearningDelivery")}


def _cla_xml_counts(doc: XmlDoc) -> dict[str, int]:
    counts = {"header": len(doc.records)}
    counts.update({t: doc.count(tag) for t, tag in CLA_XML_TABLES.items()})
    counts.update(
        {t: sum(1 for r in doc.records if f"<{tag}>" in r) for t, tag in CLA_XML_WHEN.items()}
    )
    return counts


def _with_text(doc: XmlDoc, i: int, tag: str, value: str) -> bytes:
    d = doc.copy()
    d.set(i, tag, value)
    return d.encode()


def _cp1252_safe(table: Csv) -> None:
    for row in table.rows:
        for j, v in enumerate(row):
            try:
                v.encode("cp1252")
            except UnicodeEncodeError:
                row[j] = v.encode("ascii", "replace").decode()


def _tail(path: str) -> str:
    """The last two parts of a landing path: enough to name one file of a pair."""
    return "/".join(path.split("/")[-2:])


def _duplicates(case: Case, pairs: list[tuple[str, str, int]], refused: str) -> None:
    """The same bytes delivered under two names: one copy read and the other not used,
    naming it (either way round), or both refused, each naming the other (then the
    partition's outcome is `refused`); never both read."""
    flipped: dict[str, dict] = {}
    both: dict[str, dict] = {}
    for first, second, rows in pairs:
        case.file(first, status="ok", rows_read=rows, messages=[])
        case.file(second, status="unused", rows_read=None, messages=[_tail(first)])
        flipped[first] = {"status": ["unused"], "rows_read": None, "messages": [_tail(second)]}
        flipped[second] = {"status": ["ok"], "rows_read": rows, "messages": []}
        both[first] = {
            "status": ["unused", "rejected"],
            "rows_read": None,
            "messages": [_tail(second)],
        }
        both[second] = {
            "status": ["unused", "rejected"],
            "rows_read": None,
            "messages": [_tail(first)],
        }
    case.variants.append({"files": flipped})
    case.variants.append({"files": both, "outcome": refused})


def _all_q(case: Case, path: str, table: Csv, *fields: str) -> None:
    for i in range(len(table.rows)):
        case.q(path, i, *fields)


def _unterminated(data: bytes, line: int) -> bytes:
    """Open a quote at the start of a line's second field that is never closed."""
    lines = data.split(b"\n")
    first, sep, rest = lines[line - 1].partition(b",")
    lines[line - 1] = first + sep + b'"' + rest
    out = b"\n".join(lines)
    assert out.count(b'"') % 2 == 1
    return out


# == school census ==============================================================================


def census_family(b: Builder) -> None:
    _census_valid(b)
    _census_codes(b)
    _census_dates(b)
    _census_values(b)
    _census_identifiers(b)
    _census_warnings(b)
    _census_duplicates_and_orphans(b)
    _census_structure(b)
    _census_files(b)
    _census_operator(b)
    _census_blocking(b)


def _census_valid(b: Builder) -> None:
    case, t = b.census_case(
        "census-valid-spring",
        [2, 3],
        "valid",
        "an unchanged LA return of all six tables: every file read, nothing quarantined or warned",
    )
    b.put_census(case, t)
    for term in (Term.AUTUMN, Term.SUMMER):
        case, t = b.census_case(
            f"census-valid-{term.value}",
            [2, 3],
            "valid",
            f"an unchanged {term.value} return (files named {term.value} of the census year)",
            term=term,
        )
        b.put_census(case, t, term)


def _census_code(b: Builder, name: str, table: str, i: int, column: str, value: str) -> None:
    case, t = b.census_case(
        f"census-code-{name}",
        [4, 5],
        "code",
        f"{table}.{column} holds {value!r}, not in its code list, in one row",
    )
    t[table].set(i, column, value)
    b.put_census(case, t)
    case.q(census_path(table), i, column, contains=["code"])
    if table == "pupilonroll":
        b.census_dependants(case, t, i)


def _census_codes(b: Builder) -> None:
    for name, table, i, column, value in (
        ("ethnicity", "pupilonroll", 3, "ethnicity", "ZZZZ"),
        ("language", "pupilonroll", 5, "language", "XYZ9"),
        ("enrolstatus", "pupilonroll", 7, "enrolstatus", "Q"),
        ("sex", "pupilonroll", 9, "sex", "X"),
        ("ncyearactual", "pupilonroll", 11, "ncyearactual", "Y15"),
        ("boarder", "pupilonroll", 13, "boarder", "Z"),
        ("servicechild", "pupilonroll", 15, "servicechild", "Q"),
        ("senprovision", "pupilonroll", 17, "senprovision", "S9"),
        ("sentype", "senneeds", 1, "sentype", "XXXX"),
        ("ukcountry", "fsmperiod", 0, "ukcountry", "ATL"),
    ):
        _census_code(b, name, table, i, column, value)


def _census_row_case(
    b: Builder,
    name: str,
    kind: str,
    description: str,
    table: str,
    i: int,
    column: str,
    value: str,
    *,
    items: tuple[int, ...] = (4, 5),
    fields: tuple[str, ...] = (),
    warn: bool = False,
    contains: tuple[str, ...] = (),
    **kw,
) -> tuple[Case, dict[str, Csv]]:
    case, t = b.census_case(name, list(items), kind, description, **kw)
    pid = t["pupilonroll"].get(i, "pupilonrolltableid") if table == "pupilonroll" else None
    t[table].set(i, column, value)
    b.put_census(case, t)
    path = census_path(table)
    if warn:
        case.w(path, i, *(fields or (column,)), contains=contains)
    else:
        case.q(path, i, *(fields or (column,)), contains=contains)
        if table == "pupilonroll":  # its rows elsewhere follow it, or are orphans (no id)
            b.census_dependants(case, t, pid=pid, orphans=column == "pupilonrolltableid")
    return case, t


def _census_dates(b: Builder) -> None:
    rows = (
        (
            "census-date-dob-impossible",
            "date",
            "dob 30 February",
            "pupilonroll",
            4,
            "dob",
            "2015-Feb-30 00:00:00",
        ),
        (
            "census-date-dob-before-1900",
            "date",
            "dob in 1899",
            "pupilonroll",
            6,
            "dob",
            "1899-Dec-31 00:00:00",
        ),
        (
            "census-date-dob-future",
            "date",
            "dob after census day (2031)",
            "pupilonroll",
            8,
            "dob",
            "2031-Mar-01 00:00:00",
        ),
        (
            "census-date-entry-not-a-date",
            "date",
            "entrydate 31/13/2024",
            "pupilonroll",
            10,
            "entrydate",
            "31/13/2024",
        ),
        (
            "census-date-fsm-start-impossible",
            "date",
            "fsmstartdate 30 February",
            "fsmperiod",
            1,
            "fsmstartdate",
            "2024-Feb-30 00:00:00",
        ),
    )
    for name, kind, what, table, i, column, value in rows:
        case, t = _census_row_case(b, name, kind, f"{table}.{what}", table, i, column, value)
        if column == "dob":  # the entry date (not before dob) must not be what trips the row
            t[table].set(i, "entrydate", "")
            case.put_csv(P, t[table])
    case, t = b.census_case(
        "census-date-fsm-end-before-start",
        [4, 5],
        "date",
        "an FSM period ending a year before it starts",
    )
    fsm = t["fsmperiod"]
    i = next(k for k, r in enumerate(fsm.rows) if r[fsm.col("fsmstartdate")])
    start = fsm.get(i, "fsmstartdate")
    fsm.set(i, "fsmenddate", str(int(start[:4]) - 1) + start[4:])
    b.put_census(case, t)
    case.q(FSM, i, "fsmenddate", "fsmstartdate")


def _census_values(b: Builder) -> None:
    for name, what, table, i, column, value in (
        ("census-required-dob-missing", "dob blank", "pupilonroll", 2, "dob", ""),
        ("census-required-sex-missing", "sex blank", "pupilonroll", 12, "sex", ""),
        (
            "census-required-id-missing",
            "pupilonrolltableid blank",
            "pupilonroll",
            14,
            "pupilonrolltableid",
            "",
        ),
        (
            "census-required-sen-pupil-missing",
            "senneeds.pupilonrolltableid blank",
            "senneeds",
            2,
            "pupilonrolltableid",
            "",
        ),
    ):
        _census_row_case(
            b, name, "required", f"{what}: a required value missing", table, i, column, value
        )
    for name, what, table, i, column, value in (
        (
            "census-length-surname",
            "surname of 400 letters",
            "pupilonroll",
            16,
            "surname",
            "A" * 400,
        ),
        (
            "census-length-classtype",
            "classtype of 1,000 characters",
            "pupilonroll",
            18,
            "classtype",
            "c" * 1000,
        ),
        (
            "census-length-postcode",
            "a postcode of 40 characters",
            "addressesonroll",
            3,
            "postcode",
            "SW1A 1AA" * 5,
        ),
        (
            "census-length-street",
            "a street of 2,000 characters",
            "addressesonroll",
            4,
            "street",
            "High Street " * 170,
        ),
    ):
        _census_row_case(
            b, name, "length", f"{what}: over the field's maximum length", table, i, column, value
        )
    for name, what, table, i, column, value in (
        (
            "census-control-nul-surname",
            "a NUL byte in surname",
            "pupilonroll",
            20,
            "surname",
            "Sm\x00ith",
        ),
        (
            "census-control-bell-forename",
            "a BEL byte in forename",
            "pupilonroll",
            22,
            "forename",
            "Ja\x07ne",
        ),
        (
            "census-control-escape-middlenames",
            "an ANSI escape in middlenames",
            "pupilonroll",
            24,
            "middlenames",
            "\x1b[2J\x1b[31mX",
        ),
        (
            "census-control-vt-street",
            "a vertical tab in street",
            "addressesonroll",
            5,
            "street",
            "High\x0bStreet",
        ),
    ):
        _census_row_case(
            b,
            name,
            "control",
            f"{what}: a control byte in a value",
            table,
            i,
            column,
            value,
            items=(4, 7),
        )


def _census_identifiers(b: Builder) -> None:
    for name, what, column, i, value in (
        ("census-upn-short", "a UPN of 5 characters", "upn", 26, "A1234"),
        ("census-upn-long", "a UPN of 14 characters", "upn", 28, "A12345678901234"),
        (
            "census-upn-characters",
            "a former UPN with punctuation",
            "formerupn",
            30,
            "A1234567890!2",
        ),
        ("census-uln-short", "a ULN of 5 digits", "uniquelearnernumber", 32, "12345"),
        ("census-uln-letters", "a ULN with letters", "uniquelearnernumber", 34, "12345678AB"),
    ):
        _census_row_case(
            b,
            name,
            "identifier",
            f"{what}: a malformed identifier",
            "pupilonroll",
            i,
            column,
            value,
        )
    pupils = b.base.census()["pupilonroll"]
    _census_row_case(
        b,
        "census-upn-check-letter",
        "identifier-warning",
        "a UPN whose check letter is wrong: loaded with a warning",
        "pupilonroll",
        36,
        "upn",
        bad_check_upn(pupils.get(36, "upn")),
        warn=True,
    )
    _census_row_case(
        b,
        "census-upn-la-part",
        "identifier-warning",
        "a UPN whose LA part (000) is no LA: loaded with a warning",
        "pupilonroll",
        38,
        "upn",
        bad_la_upn(pupils.get(38, "upn")),
        warn=True,
    )
    _census_row_case(
        b,
        "census-uln-check-digit",
        "identifier-warning",
        "a ULN whose check digit is wrong: loaded with a warning",
        "pupilonroll",
        40,
        "uniquelearnernumber",
        bad_check_uln(valid_uln(40)),
        warn=True,
    )


def _census_warnings(b: Builder) -> None:
    for name, column, i, value in (
        ("census-formula-surname", "surname", 42, '=HYPERLINK("http://example.invalid","x")'),
        ("census-formula-forename", "forename", 44, "+SUM(1,2)"),
        ("census-formula-preferredsurname", "preferredsurname", 46, "-2+3+cmd|' /C calc'!A0"),
        ("census-formula-middlenames", "middlenames", 48, "@SUM(A1)"),
    ):
        case, _ = _census_row_case(
            b,
            name,
            "formula",
            f"{column} starts like a spreadsheet formula: loaded with a warning",
            "pupilonroll",
            i,
            column,
            value,
            warn=True,
            items=(4, 9),
        )
        case.quarantine_csv = True
    for name, column, i, value in (
        ("census-padded-ethnicity", "ethnicity", 50, " WBRI "),
        ("census-padded-surname", "surname", 52, "  Smith  "),
        ("census-padded-sex", "sex", 54, "F "),
    ):
        _census_row_case(
            b,
            name,
            "padded",
            f"{column} has leading or trailing spaces: trimmed, with a warning",
            "pupilonroll",
            i,
            column,
            value,
            warn=True,
        )


def _census_duplicates_and_orphans(b: Builder) -> None:
    case, t = b.census_case(
        "census-duplicate-pupil-id",
        [4, 8],
        "duplicate",
        "two pupils share a pupilonrolltableid: the later copy is quarantined, naming the first",
    )
    pupils = t["pupilonroll"]
    lost = pupils.get(60, "pupilonrolltableid")
    pupils.set(60, "pupilonrolltableid", pupils.get(3, "pupilonrolltableid"))
    b.put_census(case, t)
    case.q(P, 60, "pupilonrolltableid", "pupil_on_roll_id", contains=[str(case.lines[P][3])])
    case.may_w(P, [case.lines[P][3]])  # the first copy may say it is repeated
    b.census_dependants(case, t, 3)
    b.census_dependants(case, t, pid=lost, orphans=True)  # no pupil has this id any more

    case, t = b.census_case(
        "census-duplicate-upn-in-school",
        [4, 8],
        "duplicate",
        "two pupils of one school share a UPN (census error 1520): the later copy is quarantined",
    )
    pupils = t["pupilonroll"]
    j = next(
        k
        for k in range(70, len(pupils.rows))
        if pupils.get(k, "NativeId") == pupils.get(4, "NativeId")
    )
    pupils.set(j, "upn", pupils.get(4, "upn"))
    b.put_census(case, t)
    case.q(P, j, "upn", "NativeId", "native_id", contains=[str(case.lines[P][4])])
    case.may_w(P, [case.lines[P][4]])
    b.census_dependants(case, t, j)

    case, t = b.census_case(
        "census-exact-duplicate-row",
        [4],
        "duplicate",
        "a pupil's row appears twice, word for word: the first warned, the later copy quarantined",
    )
    pupils = t["pupilonroll"]
    pupils.rows.insert(80, list(pupils.rows[6]))
    b.put_census(case, t)
    case.w(P, 6, contains=[])
    case.q(P, 80, contains=[str(case.lines[P][6])])
    b.census_dependants(case, t, 6)

    case, t = b.census_case(
        "census-exact-duplicate-sen-row",
        [4],
        "duplicate",
        "an SEN row repeated word for word at the end: the first warned, the later copy quarantined",
    )
    sen = t["senneeds"]
    sen.rows.append(list(sen.rows[2]))
    b.put_census(case, t)
    case.w(SEN, 2)
    case.q(SEN, len(sen.rows) - 1, contains=[str(case.lines[SEN][2])])

    for table, name in (("senneeds", "sen"), ("fsmperiod", "fsm"), ("addressesonroll", "address")):
        case, t = b.census_case(
            f"census-orphan-{name}",
            [4],
            "orphan",
            f"a {table} row whose pupilonrolltableid is no pupil in the return",
        )
        t[table].set(0, "pupilonrolltableid", "no-such-pupil-01")
        b.put_census(case, t)
        case.q(census_path(table), 0, "pupilonrolltableid", "pupil_on_roll_id")


def _census_structure(b: Builder) -> None:
    case, t = b.census_case(
        "census-too-few-fields",
        [3, 4],
        "structure",
        "a pupil row that lost its last three fields: quarantined with its line",
    )
    b.put_census(case, t)
    data = case.files[P].split(b"\n")
    data[6] = data[6].rsplit(b",", 3)[0]
    case.files[P] = b"\n".join(data)
    case.q(P, 5)
    b.census_dependants(case, t, 5)

    case, t = b.census_case(
        "census-too-many-fields",
        [3, 4],
        "structure",
        "a pupil row with two fields more than the header",
    )
    b.put_census(case, t)
    data = case.files[P].split(b"\n")
    data[8] = data[8] + b",extra,extra"
    case.files[P] = b"\n".join(data)
    case.q(P, 7)
    b.census_dependants(case, t, 7)

    case, t = b.census_case(
        "census-quoted-line-break",
        [3, 4],
        "structure",
        "a quoted value holding a line break is one record; a later bad code is found on its own line",
    )
    pupils = t["pupilonroll"]
    pupils.set(2, "classtype", "Class\nA")
    pupils.set(6, "ethnicity", "ZZZZ")
    b.put_census(case, t)
    assert case.lines[P][6] == 9
    case.q(P, 6, "ethnicity")
    b.census_dependants(case, t, 6)
    case.may_q(P, [case.lines[P][2]])  # a line break in a value may count as a control byte
    case.may_w(P, [case.lines[P][2]])

    case, t = b.census_case(
        "census-unterminated-quote",
        [3, 5, 6],
        "structure",
        "a quote opened on line 10 of the pupil file and never closed: refused whole, every line counted",
        outcome="blocked",
        message=["2025_spring_pupilonroll.csv"],
    )
    b.put_census(case, t)
    case.files[P] = _unterminated(case.files[P], 10)
    case.file(P, status="rejected", rows_read=physical_data_lines(case.files[P]))
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")  # their pupils are not staged

    case, t = b.census_case(
        "census-unterminated-quote-optional",
        [3, 5, 6],
        "structure",
        "an unterminated quote in the (optional) SEN file: that file refused, the return loads",
    )
    b.put_census(case, t)
    case.files[SEN] = _unterminated(case.files[SEN], 3)
    case.file(SEN, status="rejected", rows_read=physical_data_lines(case.files[SEN]))

    case, t = b.census_case(
        "census-duplicated-header-column",
        [6],
        "structure",
        "the pupil file's header names surname twice: refused whole",
        outcome="blocked",
        message=["surname"],
    )
    pupils = t["pupilonroll"]
    pupils.header.append("surname")
    for row in pupils.rows:
        row.append(row[pupils.col("surname")])
    b.put_census(case, t)
    case.file(P, status="rejected", messages=["surname"])
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-missing-required-column",
        [6],
        "structure",
        "the pupil file has no dob column: refused whole, every row counted and quarantined",
        outcome="blocked",
        message=["dob"],
    )
    t["pupilonroll"].drop_column("dob")
    b.put_census(case, t)
    case.file(P, status="rejected", messages=["dob"])
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-missing-column-optional",
        [6],
        "structure",
        "the FSM file has no fsmstartdate column: that file refused, the return loads",
    )
    t["fsmperiod"].drop_column("fsmstartdate")
    b.put_census(case, t)
    case.file(FSM, status="rejected", messages=["fsmstartdate"])


def _census_files(b: Builder) -> None:
    """Encodings and line endings."""
    for name, enc, bom, words in (
        ("utf16-le-bom", "utf-16-le", True, ["UTF-16"]),
        ("utf16-le-no-bom", "utf-16-le", False, ["UTF-16"]),
        ("utf16-be-bom", "utf-16-be", True, ["UTF-16"]),
    ):
        case, t = b.census_case(
            f"census-encoding-{name}",
            [6],
            "encoding",
            f"the pupil file in {enc.upper()} {'with' if bom else 'without'} a BOM: read, saying so",
        )
        b.put_census(case, t)
        case.put_csv(P, t["pupilonroll"], encoding=enc, bom=bom, messages=words)
    case, t = b.census_case(
        "census-encoding-cp1252",
        [6],
        "encoding",
        "the pupil file in undeclared Windows-1252 (accented names): read as Windows-1252, saying so",
    )
    pupils = t["pupilonroll"]
    _cp1252_safe(pupils)
    pupils.set(1, "surname", "Zoë-Müller")
    pupils.set(2, "forename", "Renée")
    b.put_census(case, t)
    case.put_csv(P, pupils, encoding="cp1252", messages=["Windows-1252"])

    case, t = b.census_case(
        "census-encoding-undecodable",
        [6],
        "encoding",
        "the SEN file holds bytes that are neither UTF-8, UTF-16 nor Windows-1252: refused whole",
    )
    b.put_census(case, t)
    data = case.files[SEN].replace(b"SLCN", b"SL\x81\x8d", 1)
    assert data != case.files[SEN]
    case.put(SEN, data, status="rejected", rows_read=physical_data_lines(data))

    case, t = b.census_case(
        "census-encoding-utf16-odd-length",
        [1, 6],
        "encoding",
        "the SEN file in UTF-16 with a BOM, cut off after an odd number of bytes: refused whole",
    )
    b.put_census(case, t)
    data = t["senneeds"].encode("utf-16-le", bom=True)
    data = data[: len(data) // 2 * 2 - 1]
    case.put(
        SEN,
        data,
        status="rejected",
        rows_read=physical_data_lines(data.decode("utf-16-le", "ignore").encode()),
    )

    case, t = b.census_case(
        "census-encoding-bogus-bom",
        [1, 6],
        "encoding",
        "a UTF-8 SEN file that begins with the bytes of a UTF-16 BOM (FF FE): no crash, refused whole",
    )
    b.put_census(case, t)
    data = b"\xff\xfe" + case.files[SEN]
    case.put(SEN, data, status="rejected")
    case.may_q(SEN, "any")

    case, t = b.census_case(
        "census-encoding-utf8-bom",
        [6],
        "encoding",
        "the school file starts with a UTF-8 byte order mark: read as usual",
    )
    b.put_census(case, t)
    case.put_csv(SCHOOL, t["school"], bom=True)

    for name, newline, target, words in (
        ("cr-only", "\r", P, ["line ending"]),
        ("crlf", "\r\n", ADDR, []),
    ):
        case, t = b.census_case(
            f"census-newlines-{name}",
            [3, 7],
            "line-endings",
            f"{target.rsplit('/', 1)[1]} with {name} line endings: every row read",
        )
        b.put_census(case, t)
        table = target.rsplit("_", 1)[1].removesuffix(".csv")
        case.put_csv(target, t[table], newline=newline, messages=words)
    case, t = b.census_case(
        "census-newlines-mixed",
        [3, 7],
        "line-endings",
        "the SEN file mixes CRLF and LF line endings: every row read, saying so",
    )
    b.put_census(case, t)
    lines = case.files[SEN].split(b"\n")
    data = b"".join(line + (b"\r\n" if k % 2 else b"\n") for k, line in enumerate(lines[:-1]))
    case.put(SEN, data, rows_read=len(t["senneeds"].rows), messages=["line ending"])


def _census_operator(b: Builder) -> None:
    case, t = b.census_case(
        "census-prefix-last-year",
        [6, 8],
        "wrong-period",
        "the pupil file is named 2024_spring (last year's census) in 2024/25 spring: refused, naming both",
        outcome="blocked",
        message=["2024_spring_pupilonroll.csv"],
    )
    b.put_census(case, t, skip=["pupilonroll"])
    wrong = P.replace("2025_spring_pupilonroll", "2024_spring_pupilonroll")
    case.put_csv(wrong, t["pupilonroll"], status="rejected", messages=["2024", "2025"])
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-prefix-other-term",
        [6, 8],
        "wrong-period",
        "the SEN file is named 2025_summer in the spring return: refused, the return loads",
    )
    b.put_census(case, t, skip=["senneeds"])
    case.put_csv(
        SEN.replace("2025_spring", "2025_summer"),
        t["senneeds"],
        status="rejected",
        messages=["summer", "spring"],
    )

    case, t = b.census_case(
        "census-two-files-one-table",
        [8],
        "two-files",
        "pupilonroll.csv beside 2025_spring_pupilonroll.csv, with other pupils: both refused, each naming the other",
        outcome="blocked",
        message=["pupilonroll"],
    )
    b.put_census(case, t)
    other = t["pupilonroll"].copy()
    other.rows = other.rows[200:]
    plain = P.rsplit("/", 1)[0] + "/pupilonroll.csv"
    case.put_csv(plain, other, status="rejected", messages=[_tail(P)])
    case.file(P, status="rejected", messages=[_tail(plain)])
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-duplicate-delivery",
        [2, 8],
        "duplicate-delivery",
        "the SEN file sent twice, byte for byte, as senneeds.csv too: one read, the other not used",
    )
    b.put_census(case, t)
    plain = SEN.rsplit("/", 1)[0] + "/senneeds.csv"
    case.put(plain, case.files[SEN])
    _duplicates(case, [(SEN, plain, len(t["senneeds"].rows))], "loaded")

    case, t = b.census_case(
        "census-copy-under-other-name",
        [2, 8],
        "duplicate-delivery",
        "a copy of the SEN file named '2025_spring_senneeds (1).csv' (no table): not used, naming the file it copies",
    )
    b.put_census(case, t)
    copy_name = SEN.rsplit("/", 1)[0] + "/2025_spring_senneeds (1).csv"
    case.put(copy_name, case.files[SEN], status="unused", messages=[_tail(SEN)])

    case, t = b.census_case(
        "census-return-sent-twice",
        [2, 8],
        "duplicate-delivery",
        "the same LA return copied into a second LA folder (LA204): never read twice, and never one picked silently",
    )
    b.put_census(case, t)
    pairs = []
    for name in list(case.files):
        copy_path = name.replace(f"/LA{CENSUS_LA}/", "/LA204/")
        case.put(copy_path, case.files[name])
        pairs.append((name, copy_path, case.expect[name]["rows_read"]))
    _duplicates(case, pairs, "blocked")

    case, t = b.census_case(
        "census-extra-files",
        [2],
        "extra-files",
        "a readme, a spreadsheet, .DS_Store and a CSV of a table the spec does not know, in the return",
    )
    b.put_census(case, t)
    folder = P.rsplit("/", 1)[0]
    case.put(f"{folder}/readme.txt", b"Sent by the LA on the last day.\n", status="unused")
    case.put(f"{folder}/pupils.xlsx", b"PK\x03\x04" + bytes(range(256)) * 8, status="unused")
    case.put(f"{folder}/.DS_Store", b"\x00\x00\x00\x01Bud1" + b"\x00" * 64, status="unused")
    case.put(
        f"{folder}/2025_spring_exclusions.csv",
        b"pupilonrolltableid,category\nx,FIXD\n",
        status="unused",
        messages=["no table"],
    )

    case, t = b.census_case(
        "census-empty-optional-file",
        [2, 8],
        "empty",
        "the SEN file is empty (0 bytes): not used, saying so; the return loads",
    )
    b.put_census(case, t)
    case.put(SEN, b"", status="unused", messages=["empty"])

    case, t = b.census_case(
        "census-empty-pupil-file",
        [2, 5, 8],
        "empty",
        "the pupil file is empty (0 bytes): not used; the required table is missing, the partition blocks",
        outcome="blocked",
        message=["pupilonroll"],
    )
    b.put_census(case, t)
    case.put(P, b"", status="unused", messages=["empty"])
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-header-only-optional",
        [3],
        "empty",
        "the FSM file holds its header and no rows: read, 0 rows",
    )
    t["fsmperiod"].rows = []
    b.put_census(case, t)

    case, t = b.census_case(
        "census-header-only-pupils",
        [5, 8],
        "empty",
        "the pupil file holds only its header: an empty return is refused",
        outcome="blocked",
    )
    t["pupilonroll"].rows = []
    b.put_census(case, t)
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-empty-return-folder",
        [2, 5, 8],
        "empty",
        "a second LA folder (LA204) with nothing in it: its required table is missing, the partition blocks",
        outcome="blocked",
        message=["LA204"],
    )
    b.put_census(case, t)
    case.specials.append(
        {
            "path": P.replace(f"LA{CENSUS_LA}/2025_spring_pupilonroll.csv", "LA204"),
            "kind": "dir",
            "target": None,
        }
    )

    case, t = b.census_case(
        "census-file-beside-returns",
        [2],
        "extra-files",
        "a CSV dropped in the term folder beside the LA folders: not used, saying so",
    )
    b.put_census(case, t)
    loose = P.replace(f"LA{CENSUS_LA}/", "")
    case.put(loose, case.files[P], status="unused")

    case, t = b.census_case(
        "census-nested-folder",
        [2],
        "extra-files",
        "an 'old' folder inside the LA folder holding last term's files: none of it read",
    )
    b.put_census(case, t)
    folder = P.rsplit("/", 1)[0]
    case.put(f"{folder}/old/2025_spring_pupilonroll.csv", case.files[P], status="unused")

    case, t = b.census_case(
        "census-wrong-feed-file",
        [6, 8],
        "wrong-feed",
        "the KS2 results file dropped in as the census pupil file: refused (its columns are not the census's)",
        outcome="blocked",
    )
    b.put_census(case, t, skip=["pupilonroll"])
    case.put_csv(P, b.base.key_stage("ks2"), status="rejected")
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-handful-of-bad-rows",
        [4, 5],
        "threshold",
        "three bad rows of different kinds in 400 pupils: quarantined, the partition still loads",
    )
    pupils = t["pupilonroll"]
    pupils.set(100, "ethnicity", "QQQQ")
    pupils.set(150, "dob", "2016-Feb-31 00:00:00")
    pupils.set(200, "upn", "Z12")
    b.put_census(case, t)
    for i, f in ((100, "ethnicity"), (150, "dob"), (200, "upn")):
        case.q(P, i, f)
        b.census_dependants(case, t, i)

    before, t0 = b.census_case("unused-before", [], "", "")
    b.put_census(before, t0)
    b.cases.remove(before)
    case, t = b.census_case(
        "census-rerun-blocked-keeps-load",
        [8],
        "rerun",
        "a loaded spring return is sent again without its dob column: the rerun is blocked and what was loaded stays",
        outcome="blocked",
        message=["dob"],
    )
    t["pupilonroll"].drop_column("dob")
    b.put_census(case, t)
    case.before = dict(before.files)
    case.file(P, status="rejected")
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-formula-in-school-urn",
        [9],
        "formula",
        "the school file's urns start like formulas: they load, and an extract of them is neutralised",
    )
    school = t["school"]
    school.set(0, "urn", "=1+2")
    school.set(1, "urn", "@SUM(A1)")
    b.put_census(case, t)
    case.may_w(SCHOOL, [2, 3])
    case.extract = {
        "columns": ["research.census_pupil.urn"],
        "purpose": "research",
        "tier": 4,
        "planted": ["=1+2", "@SUM(A1)"],
    }
    case.quarantine_csv = True


def _census_blocking(b: Builder) -> None:
    case, t = b.census_case(
        "census-every-sex-invalid",
        [5],
        "threshold",
        "every pupil's sex is X: the partition blocks, its message opening with the root cause",
        outcome="blocked",
        root_cause=["pupilonroll", "sex"],
    )
    pupils = t["pupilonroll"]
    for i in range(len(pupils.rows)):
        pupils.set(i, "sex", "X")
    b.put_census(case, t)
    _all_q(case, P, pupils, "sex")
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = b.census_case(
        "census-half-ethnicity-invalid",
        [5],
        "threshold",
        "half the pupils have an ethnicity not in the code list: above any threshold, the partition blocks",
        outcome="blocked",
        root_cause=["ethnicity"],
    )
    pupils = t["pupilonroll"]
    for i in range(0, len(pupils.rows), 2):
        pupils.set(i, "ethnicity", "ZZZZ")
    b.put_census(case, t)
    for i in range(0, len(pupils.rows), 2):
        case.q(P, i, "ethnicity")
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")


# == key stages ===================================================================================


def key_stage_family(b: Builder) -> None:
    for feed in ("phonics", "ks1", "ks2", "ks4", "ks5"):
        _ks_common(b, feed)
    _ks_specific(b)


def _ks_row(
    b: Builder,
    feed: str,
    name: str,
    kind: str,
    description: str,
    i: int,
    column: str,
    value: str,
    *,
    warn: bool = False,
    items: tuple[int, ...] = (4, 5),
    fields: tuple[str, ...] = (),
) -> Case:
    case, t = b.ks_case(feed, name, list(items), kind, description)
    t.set(i, column, value)
    case.put_csv(ks_path(feed), t)
    (case.w if warn else case.q)(ks_path(feed), i, *(fields or (column,)))
    return b.add(case)


def _ks_common(b: Builder, feed: str) -> None:
    k = KS[feed]
    path = ks_path(feed)
    case, t = b.ks_case(
        feed, f"{feed}-valid", [2, 3], "valid", f"an unchanged national {feed} file"
    )
    case.put_csv(path, t)
    b.add(case)
    base = b.base.key_stage(feed)
    _ks_row(b, feed, f"{feed}-code-sex", "code", f"{k.sex} is X", 3, k.sex, "X")
    _ks_row(
        b, feed, f"{feed}-date-dob-impossible", "date", f"{k.dob} 30 February", 5, k.dob, "20150230"
    )
    _ks_row(
        b, feed, f"{feed}-date-dob-before-1900", "date", f"{k.dob} in 1899", 7, k.dob, "18991231"
    )
    _ks_row(
        b,
        feed,
        f"{feed}-date-dob-future",
        "date",
        f"{k.dob} in 2031, after the results year",
        9,
        k.dob,
        "20310101",
    )
    _ks_row(
        b,
        feed,
        f"{feed}-upn-malformed",
        "identifier",
        f"{k.upn} of 6 characters",
        11,
        k.upn,
        "A12345",
    )
    _ks_row(
        b,
        feed,
        f"{feed}-upn-check-letter",
        "identifier-warning",
        f"{k.upn} with a wrong check letter: loaded with a warning",
        13,
        k.upn,
        bad_check_upn(base.get(13, k.upn)),
        warn=True,
    )
    if k.candidate:
        _ks_row(
            b,
            feed,
            f"{feed}-required-candidate",
            "required",
            f"{k.candidate} blank",
            15,
            k.candidate,
            "",
        )
    else:
        _ks_row(b, feed, f"{feed}-required-la", "required", "KS4_LA blank", 15, "KS4_LA", "")

    case, t = b.ks_case(
        feed,
        f"{feed}-duplicate-upn",
        [4, 8],
        "duplicate",
        f"two rows share a {k.upn}: the later copy quarantined",
    )
    t.set(40, k.upn, t.get(4, k.upn))
    case.put_csv(path, t)
    case.q(path, 40, k.upn, "upn", contains=[str(case.lines[path][4])])
    case.may_w(path, [case.lines[path][4]])
    b.add(case)

    case, t = b.ks_case(
        feed,
        f"{feed}-exact-duplicate-row",
        [4],
        "duplicate",
        "a row repeated word for word: first warned, later quarantined",
    )
    t.rows.insert(50, list(t.rows[8]))
    case.put_csv(path, t)
    case.w(path, 8)
    case.q(path, 50, contains=[str(case.lines[path][8])])
    b.add(case)

    case, t = b.ks_case(
        feed,
        f"{feed}-unterminated-quote",
        [3, 5, 6],
        "structure",
        "a quote opened and never closed: the file refused whole, the partition blocks",
        outcome="blocked",
        message=[path.rsplit("/", 1)[1]],
    )
    case.put_csv(path, t)
    case.files[path] = _unterminated(case.files[path], 20)
    case.file(path, status="rejected", rows_read=physical_data_lines(case.files[path]))
    b.add(case)

    case, t = b.ks_case(
        feed,
        f"{feed}-empty-file",
        [2, 5, 8],
        "empty",
        "the national file is empty (0 bytes): not used; nothing to load, the partition blocks",
        outcome="blocked",
    )
    case.put(path, b"", status="unused", messages=["empty"])
    b.add(case)


def _ks_specific(b: Builder) -> None:
    # code lists beyond sex
    for feed, column, value in (
        ("phonics", "PHONICS_OUTCOME", "ZZ"),
        ("phonics", "NCYEARACTUAL", "Q9"),
        ("phonics", "TOE_CODE", "99"),
        ("ks1", "READ_OUTCOME", "XYZ"),
        ("ks1", "SCI_OUTCOME", "GDS"),
        ("ks2", "READOUTCOME", "ZZ"),
        ("ks2", "EALGRP", "7"),
        ("ks2", "SENF", "Q"),
    ):
        _ks_row(
            b,
            feed,
            f"{feed}-code-{column.lower()}",
            "code",
            f"{column} holds {value!r}, not in its code list",
            21,
            column,
            value,
        )

    # values
    _ks_row(
        b,
        "ks4",
        "ks4-length-surname",
        "length",
        "KS4_SURNAME of 400 letters",
        23,
        "KS4_SURNAME",
        "B" * 400,
    )
    _ks_row(
        b,
        "ks2",
        "ks2-length-laestab",
        "length",
        "LAESTAB of 600 characters",
        23,
        "LAESTAB",
        "7" * 600,
    )
    _ks_row(
        b,
        "phonics",
        "phonics-control-nul",
        "control",
        "a NUL byte in SURNAME",
        25,
        "SURNAME",
        "Ok\x00afor",
        items=(4, 7),
    )
    _ks_row(
        b,
        "ks5",
        "ks5-control-escape",
        "control",
        "an ANSI escape in KS5_FORENAMES",
        25,
        "KS5_FORENAMES",
        "\x1b]0;pwned\x07",
    )
    _ks_row(
        b,
        "ks1",
        "ks1-formula-surname",
        "formula",
        "SURNAME =1+1: loaded with a warning",
        27,
        "SURNAME",
        "=1+1",
        warn=True,
        items=(4, 9),
    )
    _ks_row(
        b,
        "ks5",
        "ks5-formula-forename",
        "formula",
        "KS5_FORENAMES @SUM(1): loaded with a warning",
        27,
        "KS5_FORENAMES",
        "@SUM(1)",
        warn=True,
        items=(4, 9),
    )
    _ks_row(
        b,
        "ks2",
        "ks2-padded-surname",
        "padded",
        "SURNAME with spaces around it: trimmed, with a warning",
        29,
        "SURNAME",
        "  Dale  ",
        warn=True,
    )
    _ks_row(
        b,
        "ks4",
        "ks4-padded-sex",
        "padded",
        "KS4_SEX ' M': trimmed, with a warning",
        29,
        "KS4_SEX",
        " M",
        warn=True,
    )
    _ks_row(
        b,
        "ks2",
        "ks2-int-not-a-number",
        "type",
        "READSCORE '1O8' (a letter O)",
        31,
        "READSCORE",
        "1O8",
    )

    # duplicate candidate numbers
    for feed in ("phonics", "ks2", "ks5"):
        k = KS[feed]
        case, t = b.ks_case(
            feed,
            f"{feed}-duplicate-candidate",
            [4],
            "duplicate",
            f"two rows share a {k.candidate}: the later copy quarantined",
        )
        t.set(60, k.candidate, t.get(10, k.candidate))
        prefix = "KS5_" if feed == "ks5" else ""
        for column in ("LA", "ESTAB", "LAESTAB", "URN"):  # the same school: a candidate
            if prefix + column in t.header:  # number is unique within one
                t.set(60, prefix + column, t.get(10, prefix + column))
        case.put_csv(ks_path(feed), t)
        case.q(
            ks_path(feed),
            60,
            k.candidate,
            "candidate_number",
            contains=[str(case.lines[ks_path(feed)][10])],
        )
        case.may_w(ks_path(feed), [case.lines[ks_path(feed)][10]])
        b.add(case)

    # files: years, feeds, encodings, structure
    for feed in ("phonics", "ks1", "ks4", "ks5"):
        k = KS[feed]
        case, t = b.ks_case(
            feed,
            f"{feed}-acadyr-last-year",
            [6, 8],
            "wrong-period",
            f"last year's {feed} file ({k.acadyr} 2023/24) in the 2024/25 folder: refused, naming both years",
            outcome="blocked",
        )
        for i in range(len(t.rows)):
            t.set(i, k.acadyr, OTHER_YEAR.label)
        case.put_csv(ks_path(feed), t, status="rejected", messages=["2023/24", "2024/25"])
        b.add(case)

    case, t = b.ks_case(
        "ks2",
        "ks2-file-named-last-year",
        [6, 8],
        "wrong-period",
        "ks2_2023-24.csv in the 2024/25 folder: refused, naming both years",
        outcome="blocked",
    )
    wrong = rel(annual_file_path(ROOT, "ks2", YEAR).parent / "ks2_2023-24.csv")
    case.put_csv(wrong, t, status="rejected", messages=["2023", "2024"])
    b.add(case)

    case, t = b.ks_case(
        "ks4",
        "ks4-wrong-feed-file",
        [6, 8],
        "wrong-feed",
        "the KS2 file delivered as ks4_2024-25.csv: refused",
        outcome="blocked",
    )
    case.put_csv(ks_path("ks4"), b.base.key_stage("ks2"), status="rejected")
    b.add(case)

    case, t = b.ks_case(
        "ks2",
        "ks2-two-files",
        [8],
        "two-files",
        "ks2.csv beside ks2_2024-25.csv with other rows: both refused, each naming the other",
        outcome="blocked",
    )
    other = t.copy()
    other.rows = other.rows[100:]
    plain = rel(Path(ks_path("ks2")).parent / "ks2.csv")
    case.put_csv(ks_path("ks2"), t, status="rejected", messages=[_tail(plain)])
    case.put_csv(plain, other, status="rejected", messages=[_tail(ks_path("ks2"))])
    b.add(case)

    case, t = b.ks_case(
        "phonics",
        "phonics-duplicate-delivery",
        [2, 8],
        "duplicate-delivery",
        "the phonics file sent twice byte for byte (phonics.csv too): one read, the other not used",
    )
    path = ks_path("phonics")
    plain = rel(Path(path).parent / "phonics.csv")
    case.put_csv(path, t)
    case.put(plain, case.files[path])
    _duplicates(case, [(path, plain, len(t.rows))], "blocked")
    b.add(case)

    for feed, column in (("phonics", "SURNAME"), ("ks1", "DOB")):
        case, t = b.ks_case(
            feed,
            f"{feed}-duplicated-header-column",
            [6],
            "structure",
            f"{column} twice in the header: refused",
            outcome="blocked",
        )
        t.header.append(column)
        for row in t.rows:
            row.append(row[t.col(column)])
        case.put_csv(ks_path(feed), t, status="rejected", messages=[column])
        b.add(case)

    for feed, column in (("ks4", "KS4_DOB"), ("ks1", "SEX"), ("ks2", "CANDNO")):
        case, t = b.ks_case(
            feed,
            f"{feed}-missing-column-{column.lower()}",
            [6],
            "structure",
            f"no {column} column: refused, every row counted and quarantined",
            outcome="blocked",
            message=[column],
        )
        t.drop_column(column)
        case.put_csv(ks_path(feed), t, status="rejected", messages=[column])
        b.add(case)

    for feed, name, enc, bom, words in (
        ("ks2", "utf16-le-bom", "utf-16-le", True, ["UTF-16"]),
        ("phonics", "utf16-le-no-bom", "utf-16-le", False, ["UTF-16"]),
        ("ks5", "utf16-be-no-bom", "utf-16-be", False, ["UTF-16"]),
        ("ks5", "utf8-bom", "utf-8", True, []),
    ):
        case, t = b.ks_case(
            feed,
            f"{feed}-encoding-{name}",
            [6],
            "encoding",
            f"the file in {enc.upper()}{' with a BOM' if bom else ''}",
        )
        case.put_csv(ks_path(feed), t, encoding=enc, bom=bom, messages=words)
        b.add(case)
    case, t = b.ks_case(
        "ks1", "ks1-encoding-cp1252", [6], "encoding", "undeclared Windows-1252 with accented names"
    )
    _cp1252_safe(t)
    t.set(2, "SURNAME", "Brontë")
    t.set(3, "FORENAMES", "Zoé")
    case.put_csv(ks_path("ks1"), t, encoding="cp1252", messages=["Windows-1252"])
    b.add(case)
    case, t = b.ks_case(
        "ks2",
        "ks2-encoding-undecodable",
        [6],
        "encoding",
        "bytes of no known encoding: refused whole",
        outcome="blocked",
    )
    case.put_csv(ks_path("ks2"), t)
    data = case.files[ks_path("ks2")].replace(b"Dale", b"D\x90\x9de", 1)
    if data == case.files[ks_path("ks2")]:
        data = case.files[ks_path("ks2")].replace(b",F,", b",F\x90\x9d,", 1)
    case.put(ks_path("ks2"), data, status="rejected", rows_read=physical_data_lines(data))
    b.add(case)
    for feed, name, newline in (("ks4", "cr-only", "\r"), ("phonics", "crlf", "\r\n")):
        case, t = b.ks_case(
            feed, f"{feed}-newlines-{name}", [3, 7], "line-endings", f"{name} line endings"
        )
        case.put_csv(
            ks_path(feed), t, newline=newline, messages=["line ending"] if newline == "\r" else []
        )
        b.add(case)
    case, t = b.ks_case(
        "ks2", "ks2-newlines-mixed", [3, 7], "line-endings", "CRLF, LF and CR line endings mixed"
    )
    text, _ = t.render()
    lines = text.split("\n")[:-1]
    ends = ("\r\n", "\n", "\r")
    data = "".join(line + ends[k % 3] for k, line in enumerate(lines)).encode()
    case.put(ks_path("ks2"), data, rows_read=len(t.rows), messages=["line ending"])
    b.add(case)

    case, t = b.ks_case(
        "ks5",
        "ks5-header-only",
        [5, 8],
        "empty",
        "the KS5 file holds only its header: an empty return is refused",
        outcome="blocked",
    )
    t.rows = []
    case.put_csv(ks_path("ks5"), t)
    b.add(case)

    case, t = b.ks_case(
        "ks2",
        "ks2-extra-files",
        [2],
        "extra-files",
        "a readme and a backup copy beside the KS2 file",
    )
    case.put_csv(ks_path("ks2"), t)
    folder = Path(ks_path("ks2")).parent
    case.put(rel(folder / "README.txt"), b"KS2 results 2024/25\n", status="unused")
    case.put(rel(folder / "ks2_2024-25.csv.bak"), case.files[ks_path("ks2")], status="unused")
    b.add(case)

    case = Case(
        "ks1-no-landing-folder",
        "ks1",
        LABEL,
        None,
        [8],
        "empty",
        "no KS1 file was delivered at all: refused with our own message, naming the folder",
        outcome="refused",
        message=["ks1"],
    )
    b.add(case)

    case, t = b.ks_case(
        "ks2",
        "ks2-every-sex-invalid",
        [5],
        "threshold",
        "every SEX is X: the partition blocks, opening with the root cause",
        outcome="blocked",
        root_cause=["SEX"],
    )
    for i in range(len(t.rows)):
        t.set(i, "SEX", "X")
    case.put_csv(ks_path("ks2"), t)
    _all_q(case, ks_path("ks2"), t, "SEX")
    b.add(case)

    case, t = b.ks_case(
        "ks2",
        "ks2-rerun-blocked-keeps-load",
        [8],
        "rerun",
        "a loaded KS2 file resent with an unterminated quote: the rerun blocks, what was loaded stays",
        outcome="blocked",
    )
    first = t.copy()
    case.put_csv(ks_path("ks2"), t)
    case.files[ks_path("ks2")] = _unterminated(case.files[ks_path("ks2")], 30)
    case.file(
        ks_path("ks2"), status="rejected", rows_read=physical_data_lines(case.files[ks_path("ks2")])
    )
    case.before = {ks_path("ks2"): first.encode()}
    b.add(case)

    for feed, column, values in (
        ("ks2", "URN", ["@SUM(A1:A9)", "-1+1"]),
        ("phonics", "URN", ["=cmd|' /C calc'!A0", "+1"]),
        ("ks4", "KS4_URN", ['=HYPERLINK("x")', "-5"]),
    ):
        case, t = b.ks_case(
            feed,
            f"{feed}-formula-in-urn",
            [9],
            "formula",
            f"{column} values start like formulas: loaded, and an extract of them is neutralised",
        )
        for i, v in enumerate(values):
            t.set(i, column, v)
        case.put_csv(ks_path(feed), t)
        case.may_w(ks_path(feed), [2, 3])
        table = {"ks2": "ks2_result", "phonics": "phonics_result", "ks4": "ks4_result"}[feed]
        case.extract = {
            "columns": [f"research.{table}.urn"],
            "purpose": "research",
            "tier": 4,
            "planted": values,
        }
        case.quarantine_csv = True
        b.add(case)


# == SSDA903 as CSV tables =========================================================================


def cla_csv_family(b: Builder) -> None:
    case, t = b.cla_case(
        "ssda903-csv-valid", [2, 3], "valid", "an unchanged LA return of eleven CSV tables"
    )
    b.put_cla(case, t)
    header = b.base.cla_tables()["header"]

    def row_case(
        name, kind, description, table, i, column, value, *, warn=False, fields=(), items=(4, 5)
    ):
        case, t = b.cla_case(name, list(items), kind, description)
        t[table].set(i, column, value)
        b.put_cla(case, t)
        (case.w if warn else case.q)(cla_path(table), i, *(fields or (column,)))
        if table == "header" and not warn:
            b.cla_dependants(case, t, t["header"].get(i, "CHILD"))
        return case, t

    row_case("ssda903-csv-code-sex", "code", "header SEX X", "header", 2, "SEX", "X")
    row_case(  # the spec's legacy coding: read as F, warned (docs/bad-input.md)
        "ssda903-csv-code-sex-old-scheme",
        "code",
        "header SEX 2 (the code before 2024/25)",
        "header",
        4,
        "SEX",
        "2",
        warn=True,
    )
    row_case("ssda903-csv-code-ethnic", "code", "header ETHNIC ZZZZ", "header", 6, "ETHNIC", "ZZZZ")
    row_case("ssda903-csv-code-ls", "code", "episodes LS ZZ", "episodes", 3, "LS", "ZZ")
    row_case(
        "ssda903-csv-code-need",
        "code",
        "episodes CIN (category of need) N99",
        "episodes",
        5,
        "CIN",
        "N99",
    )
    row_case(
        "ssda903-csv-code-reason-ceased", "code", "episodes REC E99", "episodes", 17, "REC", "E99"
    )
    row_case("ssda903-csv-code-rne", "code", "episodes RNE Q", "episodes", 7, "RNE", "Q")
    row_case(
        "ssda903-csv-code-review",
        "code",
        "reviews REVIEW_CODE PN9",
        "reviews",
        3,
        "REVIEW_CODE",
        "PN9",
    )
    row_case(
        "ssda903-csv-code-sw-reason",
        "code",
        "sw_episodes SW_REASON ZZZ",
        "sw_episodes",
        1,
        "SW_REASON",
        "ZZZ",
    )
    row_case(
        "ssda903-csv-date-dob-impossible",
        "date",
        "header DOB 31/02/2015",
        "header",
        8,
        "DOB",
        "31/02/2015",
    )
    row_case(
        "ssda903-csv-date-dob-before-1900",
        "date",
        "header DOB in 1890",
        "header",
        10,
        "DOB",
        "01/01/1890",
    )
    row_case(
        "ssda903-csv-date-dob-future",
        "date",
        "header DOB in 2031",
        "header",
        12,
        "DOB",
        "01/01/2031",
    )
    row_case(
        "ssda903-csv-date-decom-impossible",
        "date",
        "episodes DECOM 32/01/2024",
        "episodes",
        9,
        "DECOM",
        "32/01/2024",
    )
    row_case(
        "ssda903-csv-required-decom",
        "required",
        "episodes DECOM blank",
        "episodes",
        11,
        "DECOM",
        "",
    )
    row_case(
        "ssda903-csv-required-review",
        "required",
        "reviews REVIEW blank",
        "reviews",
        5,
        "REVIEW",
        "",
    )
    row_case(
        "ssda903-csv-upn-malformed", "identifier", "header UPN A12", "header", 14, "UPN", "A12"
    )
    upn_row = next(i for i, r in enumerate(header.rows) if len(r[header.col("UPN")]) == 13)
    row_case(
        "ssda903-csv-upn-check-letter",
        "identifier-warning",
        "header UPN with a wrong check letter: loaded with a warning",
        "header",
        upn_row,
        "UPN",
        bad_check_upn(header.get(upn_row, "UPN")),
        warn=True,
    )
    row_case(
        "ssda903-csv-padded-ethnic",
        "padded",
        "header ETHNIC ' WBRI'",
        "header",
        16,
        "ETHNIC",
        " WBRI",
        warn=True,
    )
    row_case(
        "ssda903-csv-control-postcode",
        "control",
        "a NUL byte in HOME_POST",
        "episodes",
        13,
        "HOME_POST",
        "N1\x001AA",
        items=(4, 7),
    )
    row_case(
        "ssda903-csv-length-urn",
        "length",
        "episodes URN of 300 characters",
        "episodes",
        15,
        "URN",
        "SC" + "9" * 298,
    )

    case, t = b.cla_case(
        "ssda903-csv-date-end-before-start",
        [4, 5],
        "date",
        "an episode ceasing (DEC) before it started (DECOM)",
    )
    ep = t["episodes"]
    i = next(k for k, r in enumerate(ep.rows) if r[ep.col("DEC")])
    ep.set(i, "DEC", "01/01/2001")
    b.put_cla(case, t)
    case.q(cla_path("episodes"), i, "DEC", "DECOM")

    case, t = b.cla_case(
        "ssda903-csv-orphan-episode", [4], "orphan", "an episode whose CHILD is not in header"
    )
    t["episodes"].set(0, "CHILD", "C9999999999999")
    b.put_cla(case, t)
    case.q(cla_path("episodes"), 0, "CHILD", "child_id")

    case, t = b.cla_case(
        "ssda903-csv-orphan-review", [4], "orphan", "a review whose CHILD is not in header"
    )
    t["reviews"].set(0, "CHILD", "C8888888888888")
    b.put_cla(case, t)
    case.q(cla_path("reviews"), 0, "CHILD", "child_id")

    case, t = b.cla_case(
        "ssda903-csv-duplicate-child",
        [4, 8],
        "duplicate",
        "two header rows share a CHILD: the later copy quarantined",
    )
    h = t["header"]
    lost = h.get(20, "CHILD")
    h.set(20, "CHILD", h.get(1, "CHILD"))
    b.put_cla(case, t)
    b.cla_dependants(case, t, lost, orphans=True)  # no header row has this CHILD any more
    case.q(
        cla_path("header"),
        20,
        "CHILD",
        "child_id",
        contains=[str(case.lines[cla_path("header")][1])],
    )
    case.may_w(cla_path("header"), [case.lines[cla_path("header")][1]])
    b.cla_dependants(case, t, h.get(1, "CHILD"))

    case, t = b.cla_case(
        "ssda903-csv-exact-duplicate-episode", [4], "duplicate", "an episode repeated word for word"
    )
    ep = t["episodes"]
    ep.rows.append(list(ep.rows[2]))
    b.put_cla(case, t)
    case.w(cla_path("episodes"), 2)
    case.q(
        cla_path("episodes"), len(ep.rows) - 1, contains=[str(case.lines[cla_path("episodes")][2])]
    )

    def file_case(name, items, kind, description, mutate, outcome="loaded", **kw):
        case, t = b.cla_case(name, items, kind, description, outcome=outcome, **kw)
        b.put_cla(case, t)
        mutate(case, t)
        if outcome == "blocked":
            for table in t:
                if table != "header":
                    case.may_q(cla_path(table), "any")
        return case

    def unterminated(table):
        def go(case, t):
            path = cla_path(table)
            case.files[path] = _unterminated(case.files[path], 3)
            case.file(path, status="rejected", rows_read=physical_data_lines(case.files[path]))

        return go

    file_case(
        "ssda903-csv-unterminated-header",
        [3, 6],
        "structure",
        "an unterminated quote in header.csv",
        unterminated("header"),
        "blocked",
    )
    file_case(
        "ssda903-csv-unterminated-reviews",
        [3, 6],
        "structure",
        "an unterminated quote in reviews.csv (optional)",
        unterminated("reviews"),
    )

    def dup_column(case, t):
        h = t["header"].copy()
        h.header.append("SEX")
        for row in h.rows:
            row.append(row[h.col("SEX")])
        case.put_csv(cla_path("header"), h, status="rejected", messages=["SEX"])

    file_case(
        "ssda903-csv-duplicated-header-column",
        [6],
        "structure",
        "SEX twice in header.csv",
        dup_column,
        "blocked",
    )

    def drop_decom(case, t):
        ep = t["episodes"].copy()
        ep.drop_column("DECOM")
        case.put_csv(cla_path("episodes"), ep, status="rejected", messages=["DECOM"])

    file_case(
        "ssda903-csv-missing-column",
        [6],
        "structure",
        "episodes.csv without DECOM",
        drop_decom,
        "blocked",
        message=["DECOM"],
    )

    def missing_header(case, t):
        case.remove(cla_path("header"))

    file_case(
        "ssda903-csv-missing-header",
        [2, 5, 8],
        "missing",
        "no header.csv in the return: the required table is missing, the partition blocks",
        missing_header,
        "blocked",
        message=["header"],
    )

    def empty_uasc(case, t):
        case.put(cla_path("uasc"), b"", status="unused", messages=["empty"])

    file_case(
        "ssda903-csv-empty-uasc",
        [2],
        "empty",
        "uasc.csv is empty (0 bytes): not used, saying so",
        empty_uasc,
    )

    def extra(case, t):
        folder = Path(cla_path("header")).parent
        case.put(rel(folder / "notes.txt"), b"sent late\n", status="unused")
        case.put(
            rel(folder / "placements.csv"),
            b"CHILD,PLACE\n1,K2\n",
            status="unused",
            messages=["no table"],
        )

    file_case(
        "ssda903-csv-extra-files",
        [2],
        "extra-files",
        "a note and a CSV of no known table in the return",
        extra,
    )

    def two_files(case, t):
        other = t["header"].copy()
        other.rows = other.rows[10:]
        upper = rel(Path(cla_path("header")).parent / "HEADER.csv")
        case.put_csv(upper, other, status="rejected", messages=[_tail(cla_path("header"))])
        case.file(cla_path("header"), status="rejected", messages=[_tail(upper)])

    file_case(
        "ssda903-csv-two-header-files",
        [8],
        "two-files",
        "header.csv and HEADER.csv with other children: both refused",
        two_files,
        "blocked",
    )

    def utf16(case, t):
        case.put_csv(
            cla_path("header"), t["header"], encoding="utf-16-be", bom=True, messages=["UTF-16"]
        )

    file_case(
        "ssda903-csv-encoding-utf16-be",
        [6],
        "encoding",
        "header.csv in UTF-16 big-endian with a BOM",
        utf16,
    )

    def cp1252(case, t):
        ep = t["episodes"].copy()
        ep.set(1, "URN", "SC4é1")
        case.put_csv(cla_path("episodes"), ep, encoding="cp1252", messages=["Windows-1252"])

    file_case(
        "ssda903-csv-encoding-cp1252",
        [6],
        "encoding",
        "episodes.csv in undeclared Windows-1252",
        cp1252,
    )

    def cr_only(case, t):
        case.put_csv(cla_path("reviews"), t["reviews"], newline="\r", messages=["line ending"])

    file_case(
        "ssda903-csv-newlines-cr",
        [3, 7],
        "line-endings",
        "reviews.csv with CR-only line endings",
        cr_only,
    )

    def xml_too(case, t):
        case.put(
            cla_xml_path(CLA_CSV_LA), b.base.cla_xml().encode(), status=["ok", "rejected", "unused"]
        )
        for name in list(case.files):
            case.file(name, status=["ok", "rejected", "unused"], rows_read=None)
            case.may_q(name, "any")
            case.may_w(name, "any")

    file_case(
        "ssda903-csv-and-xml-in-one-return",
        [2, 8],
        "two-files",
        "an LA folder holding both the CSV tables and an XML return: no crash, every file accounted for",
        xml_too,
        "any",
    )

    case, t = b.cla_case(
        "ssda903-csv-old-sex-scheme",
        [5, 8],
        "wrong-period",
        "a 2024/25 return still coding SEX 1/2 (last year's scheme): every header row quarantined, the partition blocks on the root cause",
        outcome="blocked",
        root_cause=["SEX"],
    )
    h = t["header"]
    for i in range(len(h.rows)):
        h.set(i, "SEX", {"M": "1", "F": "2"}.get(h.get(i, "SEX"), "1"))
    b.put_cla(case, t)
    _all_q(case, cla_path("header"), h, "SEX")
    for table in t:
        if table != "header":
            case.may_q(cla_path(table), "any")


# == SSDA903 as XML ================================================================================


def cla_xml_family(b: Builder) -> None:
    path = cla_xml_path()

    def xml_case(name, items, kind, description, **kw):
        return b.xml_case("ssda903", name, items, kind, description, **kw), b.base.cla_xml()

    case, doc = xml_case(
        "ssda903-xml-valid", [2, 3], "valid", "an unchanged LA return as one XML file"
    )
    case.put_xml(path, doc, tables=_cla_xml_counts(doc))
    b.add(case)

    def header_case(name, kind, description, i, tag, value, *, fields=(), warn=False, items=(4, 5)):
        case, doc = xml_case(name, list(items), kind, description)
        doc.set(i, tag, value)
        case.put_xml(path, doc, tables=_cla_xml_counts(doc))
        if warn:
            case.w(path, None, *(fields or (tag,)), row=i + 1, table="header")
        else:
            case.q(path, None, *(fields or (tag,)), row=i + 1, table="header")
            _followers(case, path, doc, i, CLA_XML_TABLES)
            _cla_when_followers(case, path, doc, i)
        return b.add(case)

    header_case("ssda903-xml-code-sex", "code", "SEX X", 2, "SEX", "X")
    header_case("ssda903-xml-code-ethnic", "code", "ETHNIC ZZZZ", 4, "ETHNIC", "ZZZZ")
    header_case("ssda903-xml-date-dob", "date", "DOB 31/02/2015", 6, "DOB", "31/02/2015")
    header_case("ssda903-xml-date-dob-future", "date", "DOB in 2031", 8, "DOB", "01/01/2031")
    doc0 = b.base.cla_xml()
    i = doc0.find(lambda r: "<UPN>" in r and len(doc0.get(doc0.records.index(r), "UPN")) == 13)
    header_case("ssda903-xml-upn-malformed", "identifier", "UPN A12", i, "UPN", "A12")
    header_case(
        "ssda903-xml-upn-check-letter",
        "identifier-warning",
        "UPN with a wrong check letter: loaded with a warning",
        i,
        "UPN",
        bad_check_upn(doc0.get(i, "UPN")),
        warn=True,
    )

    case, doc = xml_case(
        "ssda903-xml-code-legal-status", [4, 5], "code", "an episode's LS Z9, not in its code list"
    )
    j = doc.find(lambda r: "<LS>" in r, 3)
    doc.set(j, "LS", "Z9")
    case.put_xml(path, doc, tables=_cla_xml_counts(doc))
    case.q(path, None, "LS", row=doc.ordinal(j, "EPISODE"), table="episodes")
    b.add(case)

    case, doc = xml_case(
        "ssda903-xml-required-decom", [4, 5], "required", "an episode without its DECOM element"
    )
    j = doc.find(lambda r: "<DECOM>" in r, 5)
    doc.remove(j, "DECOM")
    case.put_xml(path, doc, tables=_cla_xml_counts(doc))
    case.q(path, None, "DECOM", row=doc.ordinal(j, "EPISODE"), table="episodes")
    b.add(case)

    case, doc = xml_case(
        "ssda903-xml-duplicate-child",
        [4, 8],
        "duplicate",
        "two CHILDs share a CHILDID: the later copy quarantined",
    )
    doc.set(20, "CHILDID", doc.get(1, "CHILDID"))
    case.put_xml(path, doc, tables=_cla_xml_counts(doc))
    case.q(path, None, "CHILDID", "CHILD", "child_id", row=21, table="header", contains=["2"])
    case.may_w(path, [2], table="header")
    _followers(case, path, doc, 20, CLA_XML_TABLES)
    _followers(case, path, doc, 1, CLA_XML_TABLES)
    _cla_when_followers(case, path, doc, 20)
    b.add(case)

    case, doc = xml_case(
        "ssda903-xml-unknown-element",
        [4],
        "unknown-element",
        "a HEADER holds <FAVOURITE_COLOUR>, not in the spec: loaded with a warning",
    )
    doc.insert_after(3, "ETHNIC", "<FAVOURITE_COLOUR>blue</FAVOURITE_COLOUR>")
    case.put_xml(path, doc, tables=_cla_xml_counts(doc))
    case.w(path, None, "FAVOURITE_COLOUR", row=4, table="header")
    b.add(case)

    _xml_structural(b, "ssda903", path, b.base.cla_xml(), "EXPSSDA903", "ETHNIC", _cla_xml_counts)


# == CIN census ===================================================================================


def cin_family(b: Builder) -> None:
    path = cin_path()

    def xml_case(name, items, kind, description, **kw):
        return b.xml_case("cin_census", name, items, kind, description, **kw), b.base.cin()

    case, doc = xml_case("cin-valid", [2, 3], "valid", "an unchanged LA return")
    case.put_xml(path, doc, tables=_cin_counts(doc))
    b.add(case)

    def child_case(
        name, kind, description, i, tag, value, *, fields=(), warn=False, items=(4, 5), contains=()
    ):
        case, doc = xml_case(name, list(items), kind, description)
        doc.set(i, tag, value)
        case.put_xml(path, doc, tables=_cin_counts(doc))
        if warn:
            case.w(path, None, *(fields or (tag,)), row=i + 1, table="child", contains=contains)
        else:
            case.q(path, None, *(fields or (tag,)), row=i + 1, table="child", contains=contains)
            _followers(case, path, doc, i, CIN_TABLES)
        return b.add(case)

    base = b.base.cin()
    child_case("cin-code-sex", "code", "Sex X", 2, "Sex", "X")
    child_case(  # the spec's legacy coding: read as M, warned (docs/bad-input.md)
        "cin-code-sex-old-scheme",
        "code",
        "Sex 1 (GenderCurrent's code before 2024/25)",
        3,
        "Sex",
        "1",
        warn=True,
        contains=("read in a legacy coding",),
    )
    child_case("cin-code-ethnicity", "code", "Ethnicity ZZZZ", 4, "Ethnicity", "ZZZZ")
    child_case(
        "cin-date-dob-impossible",
        "date",
        "PersonBirthDate 2015-02-30",
        5,
        "PersonBirthDate",
        "2015-02-30",
    )
    child_case(
        "cin-date-dob-before-1900",
        "date",
        "PersonBirthDate 1850-01-01",
        6,
        "PersonBirthDate",
        "1850-01-01",
    )
    child_case(
        "cin-date-dob-future",
        "date",
        "PersonBirthDate after the reference date",
        7,
        "PersonBirthDate",
        "2031-01-01",
    )
    child_case("cin-required-lachildid", "required", "LAchildID empty", 8, "LAchildID", "")
    child_case(
        "cin-length-lachildid", "length", "LAchildID of 300 characters", 9, "LAchildID", "C" * 300
    )
    k = base.find(lambda r: "<UPN>" in r, 10)
    child_case("cin-upn-malformed", "identifier", "UPN A123", k, "UPN", "A123")
    child_case(
        "cin-upn-check-letter",
        "identifier-warning",
        "UPN with a wrong check letter: loaded with a warning",
        k,
        "UPN",
        bad_check_upn(base.get(k, "UPN")),
        warn=True,
    )
    child_case(
        "cin-padded-sex", "padded", "Sex ' M ': trimmed with a warning", 11, "Sex", " M ", warn=True
    )

    def nested_case(
        name, kind, description, table, tag, value, *, fields=(), start=12, element=None
    ):
        case, doc = xml_case(name, [4, 5], kind, description)
        element = element or CIN_TABLES[table]
        j = doc.find(lambda r: f"<{tag}>" in r, start)
        doc.set(j, tag, value)
        case.put_xml(path, doc, tables=_cin_counts(doc))
        case.q(path, None, *(fields or (tag,)), row=doc.ordinal(j, element), table=table)
        _followers(case, path, doc, j, CIN_TABLES)  # rows nested in it follow it
        return b.add(case), doc, j

    nested_case(
        "cin-code-disability", "code", "Disability XXXX", "disabilities", "Disability", "XXXX"
    )
    nested_case(
        "cin-code-referral-source",
        "code",
        "ReferralSource 99",
        "cin_details",
        "ReferralSource",
        "99",
    )
    nested_case(
        "cin-code-primary-need",
        "code",
        "PrimaryNeedCode N99",
        "cin_details",
        "PrimaryNeedCode",
        "N99",
    )
    nested_case(
        "cin-code-closure-reason",
        "code",
        "ReasonForClosure RC99",
        "cin_details",
        "ReasonForClosure",
        "RC99",
    )
    nested_case(
        "cin-code-assessment-factor",
        "code",
        "AssessmentFactors 99Z",
        "assessment_factors",
        "AssessmentFactors",
        "99Z",
    )
    nested_case(
        "cin-date-referral-impossible",
        "date",
        "CINreferralDate 2024-13-01",
        "cin_details",
        "CINreferralDate",
        "2024-13-01",
    )

    case, doc = xml_case(
        "cin-date-closure-before-referral",
        [4, 5],
        "date",
        "a CIN episode closed years before its referral",
    )
    j = doc.find(lambda r: "<CINclosureDate>" in r, 12)
    doc.set(j, "CINclosureDate", "2001-01-01")
    case.put_xml(path, doc, tables=_cin_counts(doc))
    case.q(
        path,
        None,
        "CINclosureDate",
        "CINreferralDate",
        row=doc.ordinal(j, "CINdetails"),
        table="cin_details",
    )
    _followers(case, path, doc, j, CIN_TABLES)  # rows nested in it follow it
    b.add(case)

    case, doc = xml_case(
        "cin-required-referral-date", [4, 5], "required", "a CINdetails without CINreferralDate"
    )
    j = doc.find(lambda r: "<CINreferralDate>" in r, 14)
    doc.remove(j, "CINreferralDate")
    case.put_xml(path, doc, tables=_cin_counts(doc))
    case.q(path, None, "CINreferralDate", row=doc.ordinal(j, "CINdetails"), table="cin_details")
    _followers(
        case,
        path,
        doc,
        j,
        {
            t: CIN_TABLES[t]
            for t in (
                "assessments",
                "assessment_factors",
                "cin_plans",
                "section47",
                "cp_plans",
                "cpp_reviews",
            )
        },
    )
    b.add(case)

    case, doc = xml_case(
        "cin-duplicate-lachildid",
        [4, 8],
        "duplicate",
        "two children share a LAchildID: the later copy quarantined",
    )
    doc.set(30, "LAchildID", doc.get(2, "LAchildID"))
    case.put_xml(path, doc, tables=_cin_counts(doc))
    case.q(path, None, "LAchildID", "la_child_id", row=31, table="child", contains=["3"])
    case.may_w(path, [3], table="child")
    _followers(case, path, doc, 30, CIN_TABLES)
    _followers(case, path, doc, 2, CIN_TABLES)
    b.add(case)

    case, doc = xml_case(
        "cin-exact-duplicate-child",
        [4],
        "duplicate",
        "a Child repeated word for word at the end: first warned, later quarantined",
    )
    doc.records.append(doc.records[5])
    case.put_xml(path, doc, tables=_cin_counts(doc))
    last = len(doc.records) - 1
    case.w(path, None, row=6, table="child")
    case.q(path, None, row=last + 1, table="child", contains=["6"])
    _followers(case, path, doc, last, CIN_TABLES)
    for table, tag in CIN_TABLES.items():
        n = doc.records[5].count(f"<{tag}>")
        if n:
            first = doc.ordinal(5, tag)
            case.may_w(path, range(first, first + n), table=table)
    b.add(case)

    case, doc = xml_case(
        "cin-unknown-element",
        [4],
        "unknown-element",
        "a Child's identifiers hold <Hobby>, not in the spec: loaded with a warning",
    )
    doc.insert_after(4, "LAchildID", "<Hobby>chess</Hobby>")
    case.put_xml(path, doc, tables=_cin_counts(doc))
    case.w(path, None, "Hobby", row=5, table="child")
    b.add(case)

    case, doc = xml_case(
        "cin-reference-date-last-year",
        [6, 8],
        "wrong-period",
        "last year's return (ReferenceDate 2024-03-31, Year 2024) in the 2024/25 folder: refused, naming both",
        outcome="blocked",
    )
    doc.prolog = doc.prolog.replace(
        "<ReferenceDate>2025-03-31<", "<ReferenceDate>2024-03-31<"
    ).replace("<Year>2025<", "<Year>2024<")
    case.put_xml(path, doc, status="rejected", messages=["2024", "2025"])
    case.may_q(path, "any")
    b.add(case)

    case, doc = xml_case(
        "cin-year-disagrees",
        [6, 8],
        "wrong-period",
        "the Header's Year says 2023 while ReferenceDate is 2025-03-31: refused",
        outcome="blocked",
    )
    doc.prolog = doc.prolog.replace("<Year>2025<", "<Year>2023<")
    case.put_xml(path, doc, status="rejected", messages=["2023"])
    case.may_q(path, "any")
    b.add(case)

    case, doc = xml_case(
        "cin-two-files-one-return",
        [8],
        "two-files",
        "a second, different XML file in the LA folder: both refused, each naming the other",
        outcome="blocked",
    )
    other = doc.copy()
    other.records = other.records[: len(other.records) // 2]
    second = rel(Path(path).parent / "cin_census_2024-25_LA330_resubmission.xml")
    case.put_xml(path, doc, status="rejected", messages=[_tail(second)])
    case.put_xml(second, other, status="rejected", messages=[_tail(path)])
    case.may_q(path, "any")
    case.may_q(second, "any")
    b.add(case)

    case, doc = xml_case(
        "cin-extra-files",
        [2],
        "extra-files",
        "a readme and a CSV in an XML return: not used, saying so",
    )
    case.put_xml(path, doc, tables=_cin_counts(doc))
    case.put(rel(Path(path).parent / "readme.txt"), b"CIN census 2025\n", status="unused")
    b.add(case)

    case, doc = xml_case(
        "cin-encoding-cp1252",
        [6],
        "encoding",
        "an undeclared Windows-1252 byte (an accented LAchildID) in a UTF-8 file",
    )
    doc.set(3, "LAchildID", "CÉ" + doc.get(3, "LAchildID")[2:])
    data = doc.text().encode("cp1252")
    case.put_xml(path, data, messages=["Windows-1252"], tables=_cin_counts(doc))
    b.add(case)

    case, doc = xml_case(
        "cin-encoding-utf16", [6], "encoding", "the return in UTF-16 with a BOM, declared as such"
    )
    text = doc.text().replace('encoding="utf-8"', 'encoding="utf-16"')
    case.put_xml(path, text.encode("utf-16"), tables=_cin_counts(doc))
    b.add(case)

    _xml_structural(b, "cin_census", path, b.base.cin(), "Message", "LAchildID", _cin_counts)


# == ILR ===========================================================================================


def ilr_family(b: Builder) -> None:
    path, base = b.base.ilr()

    def xml_case(name, items, kind, description, **kw):
        return b.xml_case("ilr", name, items, kind, description, **kw), b.base.ilr()[1]

    case, doc = xml_case("ilr-valid", [2, 3], "valid", "an unchanged provider return")
    case.put_xml(path, doc, tables=_ilr_counts(doc))
    b.add(case)

    def learner_case(
        name, kind, description, i, tag, value, *, fields=(), warn=False, items=(4, 5)
    ):
        case, doc = xml_case(name, list(items), kind, description)
        doc.set(i, tag, value)
        case.put_xml(path, doc, tables=_ilr_counts(doc))
        if warn:
            case.w(path, None, *(fields or (tag,)), row=i + 1, table="learner")
        else:
            case.q(path, None, *(fields or (tag,)), row=i + 1, table="learner")
            _followers(case, path, doc, i, ILR_TABLES)
        return b.add(case)

    learner_case("ilr-code-sex", "code", "Sex U (M or F only)", 2, "Sex", "U")
    learner_case("ilr-code-ethnicity", "code", "Ethnicity 77", 3, "Ethnicity", "77")
    learner_case("ilr-code-lldd", "code", "LLDDHealthProb 7", 4, "LLDDHealthProb", "7")
    learner_case(
        "ilr-date-dob-impossible", "date", "DateOfBirth 2001-02-30", 5, "DateOfBirth", "2001-02-30"
    )
    learner_case(
        "ilr-date-dob-before-1900", "date", "DateOfBirth 1850-06-01", 6, "DateOfBirth", "1850-06-01"
    )
    learner_case(
        "ilr-date-dob-future", "date", "DateOfBirth in 2031", 7, "DateOfBirth", "2031-01-01"
    )
    learner_case(
        "ilr-required-learnrefnumber", "required", "LearnRefNumber empty", 8, "LearnRefNumber", ""
    )
    learner_case("ilr-uln-malformed", "identifier", "ULN of 5 digits", 9, "ULN", "12345")
    learner_case(
        "ilr-uln-check-digit",
        "identifier-warning",
        "ULN with a wrong check digit: loaded with a warning",
        10,
        "ULN",
        bad_check_uln(base.get(10, "ULN")),
        warn=True,
    )
    learner_case(
        "ilr-formula-familyname",
        "formula",
        "FamilyName =HYPERLINK(...): loaded with a warning",
        11,
        "FamilyName",
        '=HYPERLINK("x")',
        warn=True,
        items=(4, 9),
    )
    learner_case(
        "ilr-padded-givennames",
        "padded",
        "GivenNames with spaces around: trimmed with a warning",
        12,
        "GivenNames",
        "  Jude ",
        warn=True,
    )
    learner_case(
        "ilr-length-familyname", "length", "FamilyName of 400 letters", 13, "FamilyName", "E" * 400
    )
    learner_case(
        "ilr-length-postcode",
        "length",
        "Postcode of 30 characters",
        14,
        "Postcode",
        "NW6 3YY" * 4 + "AA",
    )
    learner_case(
        "ilr-length-learnrefnumber",
        "length",
        "LearnRefNumber of 40 characters (12 at most)",
        15,
        "LearnRefNumber",
        "L" * 40,
    )

    def delivery_case(name, kind, description, tag, value, *, fields=(), start=16, remove=False):
        case, doc = xml_case(name, [4, 5], kind, description)
        j = doc.find(lambda r: f"<{tag}>" in r, start)
        if remove:
            doc.remove(j, tag)
        else:
            doc.set(j, tag, value)
        case.put_xml(path, doc, tables=_ilr_counts(doc))
        case.q(
            path,
            None,
            *(fields or (tag,)),
            row=doc.ordinal(j, "LearningDelivery"),
            table="learning_delivery",
        )
        return b.add(case)

    delivery_case("ilr-code-aim-type", "code", "AimType 9", "AimType", "9")
    delivery_case("ilr-code-fund-model", "code", "FundModel 77", "FundModel", "77")
    delivery_case("ilr-code-comp-status", "code", "CompStatus 9", "CompStatus", "9")
    delivery_case("ilr-code-outcome", "code", "Outcome 9", "Outcome", "9")
    delivery_case(
        "ilr-required-learnaimref",
        "required",
        "a LearningDelivery without LearnAimRef",
        "LearnAimRef",
        "",
        remove=True,
    )
    delivery_case(
        "ilr-date-start-impossible",
        "date",
        "LearnStartDate 2024-02-30",
        "LearnStartDate",
        "2024-02-30",
    )

    case, doc = xml_case(
        "ilr-date-end-before-start",
        [4, 5],
        "date",
        "a delivery ending (LearnActEndDate) before it started",
    )
    j = doc.find(lambda r: "<LearnActEndDate>" in r, 16)
    doc.set(j, "LearnActEndDate", "2001-01-01")
    case.put_xml(path, doc, tables=_ilr_counts(doc))
    n = next(
        k
        for k, m in enumerate(
            __import__("re").finditer(r"<LearningDelivery>.*?</LearningDelivery>", doc.records[j])
        )
        if "<LearnActEndDate>2001-01-01<" in m.group(0)
    )
    case.q(
        path,
        None,
        "LearnActEndDate",
        "LearnStartDate",
        row=doc.ordinal(j, "LearningDelivery", n),
        table="learning_delivery",
    )
    b.add(case)

    case, doc = xml_case(
        "ilr-duplicate-learnrefnumber",
        [4, 8],
        "duplicate",
        "two learners share a LearnRefNumber: the later copy quarantined",
    )
    doc.set(40, "LearnRefNumber", doc.get(3, "LearnRefNumber"))
    case.put_xml(path, doc, tables=_ilr_counts(doc))
    case.q(path, None, "LearnRefNumber", "learn_ref", row=41, table="learner", contains=["4"])
    case.may_w(path, [4], table="learner")
    _followers(case, path, doc, 40, ILR_TABLES)
    _followers(case, path, doc, 3, ILR_TABLES)
    b.add(case)

    case, doc = xml_case(
        "ilr-unknown-element",
        [4],
        "unknown-element",
        "a Learner holds <ShoeSize>, not in the spec: loaded with a warning",
    )
    doc.insert_after(5, "Sex", "<ShoeSize>9</ShoeSize>")
    case.put_xml(path, doc, tables=_ilr_counts(doc))
    case.w(path, None, "ShoeSize", row=6, table="learner")
    b.add(case)

    case, doc = xml_case(
        "ilr-namespace-last-year",
        [6, 8],
        "wrong-period",
        "last year's namespace ESFA/ILR/2023-24 in the 2024/25 folder: refused, naming both",
        outcome="blocked",
    )
    doc.prolog = doc.prolog.replace('xmlns="ESFA/ILR/2024-25"', 'xmlns="ESFA/ILR/2023-24"')
    case.put_xml(path, doc, status="rejected", messages=["2023-24", "2024-25"])
    case.may_q(path, "any")
    b.add(case)

    case, doc = xml_case(
        "ilr-header-year-last-year",
        [6, 8],
        "wrong-period",
        "the Header's Year says 2324 in a 2024/25 (2425) file: refused, naming both",
        outcome="blocked",
    )
    doc.prolog = doc.prolog.replace("<Year>2425</Year>", "<Year>2324</Year>")
    case.put_xml(path, doc, status="rejected", messages=["2324"])
    case.may_q(path, "any")
    b.add(case)

    case, doc = xml_case(
        "ilr-two-files-one-provider",
        [8],
        "two-files",
        "two different returns (serial 01 and 02) in one provider folder: both refused, each naming the other",
        outcome="blocked",
    )
    other = doc.copy()
    other.records = other.records[:30]
    second = path.replace("-01.xml", "-02.xml")
    case.put_xml(path, doc, status="rejected", messages=[_tail(second)])
    case.put_xml(second, other, status="rejected", messages=[_tail(path)])
    case.may_q(path, "any")
    case.may_q(second, "any")
    b.add(case)

    case, doc = xml_case(
        "ilr-rerun-blocked-keeps-load",
        [8],
        "rerun",
        "a loaded ILR return resent truncated: the rerun blocks, what was loaded stays",
        outcome="blocked",
    )
    case.before = {path: doc.encode()}
    data = doc.encode()
    case.put_xml(path, data[: len(data) // 2], status="rejected")
    case.may_q(path, "any")
    b.add(case)

    _xml_structural(b, "ilr", path, base, "Message", "FamilyName", _ilr_counts)


# == XML: structure and hostile documents, for every XML form ========================================


def _xml_structural(
    b: Builder,
    feed: str,
    path: str,
    doc: XmlDoc,
    root: str,
    text_tag: str,
    counts: Callable[[XmlDoc], dict],
) -> None:
    prefix = {"ssda903": "ssda903-xml", "cin_census": "cin", "ilr": "ilr"}[feed]

    def case(name, items, kind, description, **kw):
        return b.xml_case(feed, f"{prefix}-{name}", items, kind, description, **kw)

    c = case(
        "truncated",
        [3, 6],
        "structure",
        "the file cut off half way, inside a record: refused",
        outcome="blocked",
    )
    data = doc.encode()
    cut = data.index(f"<{doc.record}>".encode(), len(data) // 2) + 40
    c.put_xml(path, data[:cut], status="rejected")
    c.may_q(path, "any")
    b.add(c)

    c = case(
        "malformed", [6], "structure", "a record's closing tag misspelt: refused", outcome="blocked"
    )
    d = doc.copy()
    d.records[3] = d.records[3].replace(f"</{text_tag}>", f"</{text_tag}X>", 1)
    c.put_xml(path, d, status="rejected")
    c.may_q(path, "any")
    b.add(c)

    c = case(
        "not-xml",
        [6],
        "structure",
        "a CSV file saved with the .xml name: refused",
        outcome="blocked",
    )
    c.put_xml(path, b"CHILD,SEX,DOB\n1,M,01/01/2015\n", status="rejected")
    c.may_q(path, "any")
    b.add(c)

    c = case(
        "empty-file",
        [2, 8],
        "empty",
        "the XML file is empty (0 bytes): not used; the partition blocks",
        outcome="blocked",
    )
    c.put(path, b"", status="unused", messages=["empty"])
    b.add(c)

    c = case(
        "wrong-root",
        [6],
        "structure",
        f"the root element is not <{root}>: refused",
        outcome="blocked",
    )
    d = doc.copy()
    d.prolog = d.prolog.replace(f"<{root}", f"<{root}Export", 1)
    d.epilog = d.epilog.replace(f"</{root}>", f"</{root}Export>")
    c.put_xml(path, d, status="rejected", messages=[root])
    c.may_q(path, "any")
    b.add(c)

    c = case(
        "xxe-entity",
        [6, 7],
        "xxe",
        "a DOCTYPE declares an external entity reading a file outside the landing folder: refused, nothing read",
        outcome="blocked",
    )
    d = doc.copy()
    _prolog_with(d, XXE)
    d.set(2, text_tag, "&xxe;")
    c.put_xml(path, d, status="rejected")
    c.templated.append(path)
    c.outside["secret.txt"] = SECRET
    c.may_q(path, "any")
    b.add(c)

    c = case(
        "external-dtd",
        [6, 7],
        "xxe",
        "a DOCTYPE names an external DTD outside the landing folder: refused",
        outcome="blocked",
    )
    d = doc.copy()
    _prolog_with(d, EXTERNAL_DTD)
    d.set(2, text_tag, "&leak;")
    c.put_xml(path, d, status="rejected")
    c.templated.append(path)
    c.outside["evil.dtd"] = EVIL_DTD
    c.may_q(path, "any")
    b.add(c)

    c = case(
        "billion-laughs",
        [6, 7],
        "entity-bomb",
        "an entity expansion bomb (a billion 'lol's): refused, memory bounded",
        outcome="blocked",
        hostile=True,
    )
    d = doc.copy()
    _prolog_with(d, BILLION_LAUGHS)
    d.set(2, text_tag, "&lol9;")
    c.put_xml(path, d, status="rejected")
    c.may_q(path, "any")
    b.add(c)

    if feed == "ilr":
        c = case(
            "parameter-entity",
            [6, 7],
            "xxe",
            "an external parameter entity in the internal subset: refused",
            outcome="blocked",
        )
        d = doc.copy()
        _prolog_with(d, PARAMETER_ENTITY)
        c.put_xml(path, d, status="rejected")
        c.templated.append(path)
        c.outside["evil.dtd"] = EVIL_DTD
        c.may_q(path, "any")
        b.add(c)

        c = case(
            "network-dtd",
            [6, 7],
            "xxe",
            "a DOCTYPE naming a DTD on the network: refused, nothing fetched",
            outcome="blocked",
        )
        d = doc.copy()
        _prolog_with(d, NETWORK_DTD)
        c.put_xml(path, d, status="rejected")
        c.may_q(path, "any")
        b.add(c)

        c = case(
            "quadratic-blowup",
            [6, 7],
            "entity-bomb",
            "one 50 kB internal entity referenced 20,000 times (a 1 GB expansion): refused",
            outcome="blocked",
            hostile=True,
        )
        d = doc.copy()
        _prolog_with(d, '<!DOCTYPE {root} [<!ENTITY a "' + "a" * 50_000 + '">]>\n')
        d.set(2, text_tag, "&a;" * 20_000)
        c.put_xml(path, d, status="rejected")
        c.may_q(path, "any")
        b.add(c)

        c = case(
            "xinclude",
            [7],
            "xxe",
            "an XInclude of a file outside the landing folder: never resolved (an unknown element at most)",
            outcome="any",
        )
        d = doc.copy()
        d.insert_after(
            3,
            "Sex",
            '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://@@OUTSIDE@@/secret.txt" parse="text"/>',
        )
        c.put_xml(path, d, status=["ok", "rejected"])
        c.templated.append(path)
        c.outside["secret.txt"] = SECRET
        c.may_q(path, "any")
        c.may_w(path, "any")
        b.add(c)

        c = case(
            "huge-text-node",
            [4, 7],
            "hostile",
            "a FamilyName of 20 MB in one learner: no crash, memory bounded",
            outcome="any",
            hostile=True,
        )
        d = doc.copy()
        c.put_lazy(
            path,
            lambda d=d: _with_text(d, 2, text_tag, "Z" * (20 << 20)),
            status=["ok", "rejected"],
        )
        c.may_q(path, "any")
        b.add(c)

        c = case(
            "deep-nesting",
            [7],
            "hostile",
            "100,000 nested elements inside a learner: no crash, memory bounded",
            outcome="any",
            hostile=True,
        )
        d = doc.copy()
        d.insert_after(2, "Sex", "<Deep>" * 100_000 + "x" + "</Deep>" * 100_000)
        c.put_xml(path, d, status=["ok", "rejected"])
        c.may_q(path, "any")
        c.may_w(path, "any")
        b.add(c)

        c = case(
            "single-line-large",
            [3, 7],
            "hostile",
            "20,000 learners on one line of about 15 MB: every learner read, memory bounded",
            hostile=True,
        )
        template = doc.records[0]
        ref = doc.get(0, "LearnRefNumber")
        uln = doc.get(0, "ULN")
        ulns = [u for u in make_ulns(np.arange(200_000_000, 200_030_000)) if u][:20_000]
        records = [
            template.replace(ref, f"B{n:011d}", 1).replace(
                f"<ULN>{uln}</ULN>", f"<ULN>{u}</ULN>", 1
            )
            for n, u in enumerate(ulns)
        ]
        text = doc.prolog.rstrip("\n") + "".join(records) + doc.epilog.lstrip("\n")
        big = XmlDoc(doc.text(), doc.record)
        big.records = records
        c.put_lazy(
            path,
            lambda: text.replace("\n", "").encode(),
            tables={
                "learner": {"rows_read": 20_000},
                "learning_delivery": {"rows_read": big.count("LearningDelivery")},
            },
        )
        b.add(c)

    c = case(
        "control-byte",
        [4, 7],
        "control",
        f"a NUL character reference in {text_tag}: the record quarantined, or the document refused (not XML 1.0)",
        outcome="any",
    )
    d = doc.copy()
    d.set(3, text_tag, "A&#0;B")
    c.put_xml(path, d, status=["ok", "rejected"])
    c.may_q(path, "any")
    b.add(c)

    c = case(
        "cdata-value",
        [3],
        "structure",
        f"a {text_tag} written as CDATA: read like any text",
        outcome="loaded",
    )
    d = doc.copy()
    d.set(4, text_tag, f"<![CDATA[{d.get(4, text_tag)}]]>")
    c.put_xml(path, d, tables=counts(d))
    b.add(c)

    c = case(
        "comments-and-pis",
        [3],
        "structure",
        "comments and processing instructions between records: ignored",
    )
    d = doc.copy()
    d.records[1] = "<!-- exported by hand -->" + d.records[1] + "<?npd ignore?>"
    c.put_xml(path, d, tables=counts(d))
    b.add(c)

    c = case(
        "symlinked-file",
        [2, 7],
        "symlink",
        "the return is a symbolic link to a file outside the landing folder holding a secret: never opened",
        outcome="blocked",
    )
    d = doc.copy()
    d.set(1, text_tag, SECRET)
    c.outside["return.xml"] = d.text()
    c.special(path, "symlink", f"{OUTSIDE}/return.xml", messages=["symbolic link"])
    b.add(c)


# == hostile file system entries and large files ===================================================


def hostile_family(b: Builder) -> None:
    def census(name, items, kind, description, **kw):
        return b.census_case(f"census-{name}", items, kind, description, **kw)

    pupils = b.base.census()["pupilonroll"]
    secret_pupils = _secret_csv(pupils, ["surname", "forename", "pupilonrolltableid"])

    case, t = census(
        "symlink-pupil-file",
        [2, 7],
        "symlink",
        "the pupil file is a symbolic link to a file outside the landing folder holding a secret: never opened",
        outcome="blocked",
        message=["pupilonroll"],
    )
    b.put_census(case, t, skip=["pupilonroll"])
    case.outside["secret.csv"] = secret_pupils
    case.special(P, "symlink", f"{OUTSIDE}/secret.csv", messages=["symbolic link"])
    for name in ("senneeds", "fsmperiod", "addressesonroll"):
        case.may_q(census_path(name), "any")

    case, t = census(
        "symlink-relative",
        [2, 7],
        "symlink",
        "the SEN file is a relative symbolic link climbing out of the landing folder: never opened, the return loads",
    )
    b.put_census(case, t, skip=["senneeds"])
    case.outside["secret.csv"] = _secret_csv(t["senneeds"], ["pupilonrolltableid", "sentype"])
    case.special(SEN, "symlink", "relative:secret.csv", messages=["symbolic link"])

    case, t = census(
        "symlink-la-folder",
        [2, 7],
        "symlink",
        "an LA folder (LA204) that is a symbolic link to a folder outside holding a whole return: never followed",
    )
    b.put_census(case, t)
    case.outside["LA204/2025_spring_pupilonroll.csv"] = secret_pupils
    case.special(
        P.replace(f"LA{CENSUS_LA}/2025_spring_pupilonroll.csv", "LA204"),
        "symlink",
        f"{OUTSIDE}/LA204",
        messages=["symbolic link"],
    )

    for name, kind, target, table in (
        ("fifo", "fifo", None, "fsmperiod"),
        ("socket", "socket", None, "addressesonroll"),
        ("symlink-dev-zero", "symlink", "/dev/zero", "senneeds"),
        ("symlink-dev-urandom", "symlink", "/dev/urandom", "fsmperiod"),
        ("symlink-dangling", "symlink", f"{OUTSIDE}/no-such-file.csv", "senneeds"),
        ("symlink-etc-passwd", "symlink", "/etc/passwd", "addressesonroll"),
    ):
        word = {"fifo": "FIFO", "socket": "socket"}.get(kind, "symbolic link")
        case, t = census(
            name,
            [2, 7],
            kind,
            f"the {table} file is a {word} ({target or 'made in the landing folder'}): never opened, the return loads",
        )
        b.put_census(case, t, skip=[table])
        case.special(census_path(table), kind, target, messages=[word])

    case, t = census(
        "symlink-loop",
        [2, 7],
        "symlink",
        "two symbolic links pointing at each other: not used, no hang",
    )
    b.put_census(case, t, skip=["senneeds", "fsmperiod"])
    case.special(
        SEN, "symlink", "relative-sibling:" + FSM.rsplit("/", 1)[1], messages=["symbolic link"]
    )
    case.special(
        FSM, "symlink", "relative-sibling:" + SEN.rsplit("/", 1)[1], messages=["symbolic link"]
    )

    case, t = census(
        "file-name-not-utf8",
        [1, 2, 7],
        "file-name",
        "a file whose name is not valid UTF-8: not used, named safely",
    )
    b.put_census(case, t)
    folder = P.rsplit("/", 1)[0]
    case.put(f"{folder}/2025_spring_\udcff\udcfe.csv", b"a,b\n1,2\n", status="unused")

    case, t = census(
        "file-name-line-break",
        [1, 2, 7],
        "file-name",
        "a file whose name holds a line break: not used",
    )
    b.put_census(case, t)
    case.put(f"{folder}/notes\nfor the DfE.csv", b"a,b\n1,2\n", status="unused")

    case, t = census(
        "file-name-formula",
        [2, 9],
        "file-name",
        "a file named =HYPERLINK(...).csv: not used; no output hands it to a spreadsheet",
    )
    b.put_census(case, t)
    case.put(f"{folder}/=HYPERLINK(1).csv", b"a,b\n1,2\n", status="unused")
    case.quarantine_csv = True

    case, t = census(
        "large-file",
        [3, 7],
        "large",
        f"a pupil file of about {b.large_mb} MB (valid pupils): every row read, memory bounded",
        hostile=True,
    )
    pupils_table, mb = t["pupilonroll"], b.large_mb
    b.put_census(case, t, skip=["pupilonroll", "senneeds", "fsmperiod", "addressesonroll"])
    case.put_lazy(
        P, lambda: _large_pupils(pupils_table, mb)[0], rows_read=_large_rows(pupils_table, mb)
    )

    case, t = census(
        "single-line-many-mb",
        [3, 7],
        "hostile",
        f"a data line of {SINGLE_LINE_MB} MB with no comma in the SEN file: that row quarantined, memory bounded",
        hostile=True,
    )
    b.put_census(case, t)
    data = case.files[SEN] + b"A" * (SINGLE_LINE_MB << 20) + b"\n"
    case.put(SEN, data, rows_read=len(t["senneeds"].rows) + 1)
    case.q(SEN, None, row=len(t["senneeds"].rows) + 2)

    case, t = census(
        "one-line-file",
        [6, 7],
        "hostile",
        f"an address file that is a single {SINGLE_LINE_MB} MB line with no line break: refused, memory bounded",
        hostile=True,
    )
    b.put_census(case, t, skip=["addressesonroll"])
    case.put(
        ADDR, b"pupilonrolltableid," + b"x" * (SINGLE_LINE_MB << 20), status="rejected", rows_read=0
    )

    case, t = census(
        "field-over-csv-limit",
        [4, 7],
        "hostile",
        "a forename of 5 MB (larger than the csv module's field limit): that row quarantined",
        hostile=True,
    )
    t["pupilonroll"].set(30, "forename", "Q" * (5 << 20))
    b.put_census(case, t)
    case.q(P, 30, "forename", "line")  # the field named, or the documented "line too long"
    b.census_dependants(case, t, 30)

    case, t = census(
        "thousands-of-columns",
        [6, 7],
        "hostile",
        "an SEN file with 20,000 undeclared columns: no crash, memory bounded",
        hostile=True,
    )
    sen = t["senneeds"]
    sen.header += [f"x{n}" for n in range(20_000)]
    for row in sen.rows:
        row += ["1"] * 20_000
    b.put_census(case, t)
    case.file(SEN, status=["ok", "rejected"])

    case, t = census(
        "gzip-bomb",
        [6, 7],
        "hostile",
        "the SEN file is gzip data that inflates to 1 GB, under a .csv name: refused, never inflated",
        hostile=True,
    )
    b.put_census(case, t, skip=["senneeds"])
    case.put_lazy(SEN, _gzip_bomb, status="rejected")
    case.may_q(SEN, "any")

    for feed in ("ks2",):
        c, t = b.ks_case(
            feed,
            f"{feed}-symlinked-file",
            [2, 7],
            "symlink",
            "the national file is a symbolic link to a file outside the landing folder: never opened, the partition blocks",
            outcome="blocked",
        )
        c.outside["ks2.csv"] = _secret_csv(t, ["SURNAME", "FORENAMES", "CANDNO"])
        c.special(ks_path(feed), "symlink", f"{OUTSIDE}/ks2.csv", messages=["symbolic link"])
        b.add(c)

    c, t = b.cla_case(
        "ssda903-csv-symlinked-header",
        [2, 7],
        "symlink",
        "header.csv is a symbolic link to a file outside holding a secret: never opened, the partition blocks",
        outcome="blocked",
    )
    b.put_cla(c, t, skip=["header"])
    c.outside["header.csv"] = _secret_csv(t["header"], ["CHILD"])
    c.special(cla_path("header"), "symlink", f"{OUTSIDE}/header.csv", messages=["symbolic link"])
    for table in t:
        if table != "header":
            c.may_q(cla_path(table), "any")

    path, doc = b.base.ilr()
    c = b.xml_case(
        "ilr",
        "ilr-symlinked-provider-folder",
        [2, 7],
        "symlink",
        "a provider folder that is a symbolic link to a folder outside holding a return: never followed",
    )
    c.put_xml(path, doc, tables=_ilr_counts(doc))
    secret_doc = doc.copy()
    secret_doc.set(0, "FamilyName", SECRET)
    c.outside["10099999/ILR-10099999-2425-20251016-120000-01.xml"] = secret_doc.text()
    folder = rel(Path(path).parent.parent / "10099999")
    c.special(folder, "symlink", f"{OUTSIDE}/10099999", messages=["symbolic link"])
    b.add(c)


def _gzip_bomb() -> bytes:
    """gzip data that inflates to 1 GiB of zero bytes (about 1 MB as it is)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        block = b"\0" * (1 << 20)
        for _ in range(1024):
            gz.write(block)
    return buffer.getvalue()


def _large_rows(pupils: Csv, megabytes: int) -> int:
    text, _ = pupils.render()
    per_row = max(len(line) for line in text.split("\n")[1:-1]) + 1
    return (megabytes << 20) // per_row


def _large_pupils(pupils: Csv, megabytes: int) -> tuple[bytes, int]:
    """Valid, distinct pupils until the file is about `megabytes` MB: (bytes, rows)."""
    n = _large_rows(pupils, megabytes)
    estab = np.full(n, 2001)
    serial = np.arange(n)
    upns = make_upns(np.full(n, 202), estab + serial // 1000 % 7000, np.full(n, 19), serial % 1000)
    pid, upn = pupils.col("pupilonrolltableid"), pupils.col("upn")
    out = io.StringIO()
    writer = __import__("csv").writer(out, lineterminator="\n")
    writer.writerow(pupils.header)
    template = pupils.rows
    for k in range(n):
        row = list(template[k % len(template)])
        row[pid] = f"big-{k:09d}"
        row[upn] = str(upns[k])
        writer.writerow(row)
    return out.getvalue().encode(), n


# == shared fixtures ===============================================================================


_READ: dict[Path, Csv] = {}


def _read(path: Path) -> Csv:
    """A fixture table, read once per process (each case changes its own copy)."""
    if path not in _READ:
        _READ[path] = Csv.read(path)
    return _READ[path].copy()


def fixture_family(b: Builder) -> None:
    root = b.fixtures
    census_files = sorted((root / "school_census").glob("2025_spring_*.csv"))
    if census_files:

        def fixture_census(name, items, kind, description, **kw):
            case = Case(
                name,
                "school_census",
                LABEL,
                "spring",
                items,
                kind,
                description,
                strict=False,
                source="fixture",
                **kw,
            )
            return case, {f.stem.removeprefix("2025_spring_"): _read(f) for f in census_files}

        case, t = fixture_census(
            "fixture-census-as-published",
            [2, 3],
            "valid",
            "the published spring census sample (fake identifiers): every file accounted for, counts balance",
            outcome="any",
        )
        for table, csv_ in t.items():
            case.put_csv(census_path(table), csv_, status=["ok", "rejected"])
            case.may_q(census_path(table), "any")
            case.may_w(census_path(table), "any")
        b.add(case)

        case, t = fixture_census(
            "fixture-census-bad-ethnicity",
            [4],
            "code",
            "the published sample with one ethnicity ZZZZ: that row quarantined naming the field",
            outcome="any",
        )
        t["pupilonroll"].set(3, "ethnicity", "ZZZZ")
        for table, csv_ in t.items():
            case.put_csv(census_path(table), csv_)
            case.may_q(census_path(table), "any")
            case.may_w(census_path(table), "any")
        case.q(P, 3, "ethnicity")
        b.add(case)

        case, t = fixture_census(
            "fixture-census-symlinked-sen",
            [2, 7],
            "symlink",
            "the published sample whose SEN file is a symbolic link to a file outside holding a secret",
            outcome="any",
        )
        for table, csv_ in t.items():
            if table != "senneeds":
                case.put_csv(census_path(table), csv_)
                case.may_q(census_path(table), "any")
                case.may_w(census_path(table), "any")
        case.outside["sen.csv"] = _secret_csv(t["senneeds"], ["pupilonrolltableid", "sentype"])
        case.special(SEN, "symlink", f"{OUTSIDE}/sen.csv", messages=["symbolic link"])
        b.add(case)

    cla_files = sorted((root / "ssda903").glob("*.csv"))
    if cla_files:
        year = "2017/18"
        slug = AcademicYear.parse(year)

        def fixture_cla(name, items, kind, description, year_=year, **kw):
            case = Case(
                name,
                "ssda903",
                year_,
                None,
                items,
                kind,
                description,
                strict=False,
                source="fixture",
                **kw,
            )
            return case, {f.stem: _read(f) for f in cla_files}

        def put(case, tables, year_=slug):
            for table, csv_ in tables.items():
                p = rel(period_dir(ROOT, "ssda903", year_) / "LA202" / f"{table}.csv")
                case.put_csv(p, csv_, status=["ok", "rejected"])
                case.may_q(p, "any")
                case.may_w(p, "any")

        case, t = fixture_cla(
            "fixture-ssda903-as-published",
            [2, 3],
            "valid",
            "the published SSDA903 sample (2017/18, SEX 1/2): every file accounted for",
            outcome="any",
        )
        put(case, t)
        b.add(case)

        case, t = fixture_cla(
            "fixture-ssda903-bad-sex",
            [4],
            "code",
            "the published sample with one header SEX 7",
            outcome="any",
        )
        t["header"].set(0, "SEX", "7")
        put(case, t)
        hp = rel(period_dir(ROOT, "ssda903", slug) / "LA202" / "header.csv")
        case.file(hp, status=["ok"])
        case.q(hp, 0, "SEX")
        b.add(case)

        case, t = fixture_cla(
            "fixture-ssda903-orphan-episodes",
            [4],
            "orphan",
            "the published sample without one child's header row: its episodes are orphans, quarantined",
            outcome="any",
        )
        h = t["header"]
        child = h.get(0, "CHILD")
        h.rows = h.rows[1:]
        put(case, t)
        ep = t["episodes"]
        epp = rel(period_dir(ROOT, "ssda903", slug) / "LA202" / "episodes.csv")
        case.file(epp, status=["ok"])
        for i, r in enumerate(ep.rows):
            if r[ep.col("CHILD")] == child:
                case.q(epp, i, "CHILD", "child_id")
        b.add(case)

        case, t = fixture_cla(
            "fixture-ssda903-last-years-return",
            [5, 8],
            "wrong-period",
            "the 2017/18 sample (SEX 1/2) in the 2024/25 folder: every header row quarantined for SEX, the partition blocks",
            year_=LABEL,
            outcome="blocked",
            root_cause=["SEX"],
        )
        put(case, t, YEAR)
        b.add(case)

    cin_file = root / "cin_census" / "fake_CIN_data.xml"
    if cin_file.exists():
        year = AcademicYear(2021)
        text = cin_file.read_text(encoding="utf-8")
        text = text.replace(
            "<ReferenceDate>2022-07-21</ReferenceDate>", "<ReferenceDate>2022-03-31</ReferenceDate>"
        )
        cp = rel(period_dir(ROOT, "cin_census", year) / "LA201" / "fake_CIN_data.xml")

        def fixture_cin(name, items, kind, description, **kw):
            return Case(
                name,
                "cin_census",
                year.label,
                None,
                items,
                kind,
                description,
                strict=False,
                source="fixture",
                **kw,
            )

        case = fixture_cin(
            "fixture-cin-as-published",
            [2, 3],
            "valid",
            "the published CIN sample (2021/22, reference date set to 31 March)",
            outcome="any",
        )
        case.put(cp, text.encode(), status=["ok", "rejected"])
        case.may_q(cp, "any")
        case.may_w(cp, "any")
        b.add(case)

        case = fixture_cin(
            "fixture-cin-truncated",
            [3, 6],
            "structure",
            "the published CIN sample cut off inside a child: refused",
            outcome="blocked",
        )
        data = text.encode()
        cut = data.index(b"<Child>", len(data) // 2) + 40
        case.put(cp, data[:cut], status="rejected")
        case.may_q(cp, "any")
        case.may_w(cp, "any")
        b.add(case)

        case = fixture_cin(
            "fixture-cin-xxe",
            [6, 7],
            "xxe",
            "the published CIN sample with an external entity in a LAchildID: refused, nothing read",
            outcome="blocked",
        )
        head, sep, rest = text.partition("<Message>")
        doctype = XXE.format(root="Message")
        body = rest.replace(
            "<LAchildID>RND000215205141</LAchildID>", "<LAchildID>&xxe;</LAchildID>", 1
        )
        case.put(cp, (head + doctype + sep + body).encode(), status="rejected")
        case.templated.append(cp)
        case.outside["secret.txt"] = SECRET
        case.may_q(cp, "any")
        case.may_w(cp, "any")
        b.add(case)

        case = fixture_cin(
            "fixture-cin-bad-gender",
            [4],
            "code",
            "the published CIN sample with GenderCurrent 5 in its first child",
            outcome="any",
        )
        data = text.replace(
            "<GenderCurrent>1</GenderCurrent>", "<GenderCurrent>5</GenderCurrent>", 1
        )
        case.put(cp, data.encode(), status=["ok"])
        case.q(cp, None, "GenderCurrent", row=1, table="child")
        case.may_q(cp, "any")
        case.may_w(cp, "any")
        b.add(case)


FAMILIES: tuple[Callable[[Builder], None], ...] = (
    census_family,
    key_stage_family,
    cla_csv_family,
    cla_xml_family,
    cin_family,
    ilr_family,
    hostile_family,
    fixture_family,
)
