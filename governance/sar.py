"""Subject access: what is held about one child, who received it, and when it goes.

The report is driven by the catalogue: every research table with a pseudonym column is
searched, each item is shown with its catalogue description and the purposes it may be
used for, so feeds added later appear without changes here. It is written as one HTML
page a child and parent can read and print, into a restricted folder; the request is
recorded in audit.sar_log without saying who asked about whom.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import html
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from core.config import Settings
from core.duck import quote_ident
from governance import objections, releases
from governance.extract import pseudonym_column
from governance.keys import load_key
from governance.pseudonymise import pseudonym
from governance.subjects import Lookup, SubjectError, find_persons
from governance.tables import present
from warehouse import audit
from warehouse.engine import open_engine
from warehouse.load import append
from warehouse_schema.catalogue import Column, Table, load_catalogue

LOG = "audit.sar_log"
PERIOD_COLUMNS = ("academic_year", "census_term", "term")
IDENTITY_ITEMS = ("upn", "former_upn", "uln", "forename", "surname", "dob", "sex", "postcode")


@dataclass
class HeldYear:
    """One year of a feed: a column per record (e.g. per census term), a row per item."""

    year: str
    columns: list[str]
    items: list[tuple[str, list[str]]]  # what, the value in words in each record


@dataclass
class HeldFeed:
    feed: str
    label: str
    description: str
    purposes: list[str]
    years: list[HeldYear]
    records: int


@dataclass
class SarReport:
    sar_id: str
    created_at: dt.datetime
    outcome: str  # found | not_found
    tables_searched: int
    held: list[HeldFeed] = field(default_factory=list)
    identity: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    objections: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def records_found(self) -> int:
        return sum(f.records for f in self.held)


@dataclass
class SarResult:
    report: SarReport
    path: Path
    checksum: str


def _feed_labels() -> dict[str, str]:
    from core.feeds import FEEDS

    return {name: feed.label for name, feed in FEEDS.items()}


def _feed_label(table: Table) -> str:
    return _feed_labels().get(table.feed or "", table.description)


def _meanings(table: Table, col: Column) -> dict[str, str]:
    """Code meanings for a column, from the code lists its feed's spec names (or its own name)."""
    from core.codes import codelist, la_names

    if col.name == "la_code":
        return la_names()
    names = []
    if table.feed:
        try:
            from ingest.spec import load_spec

            spec = load_spec(table.feed)
            names += [
                f.codelist
                for t in spec.tables.values()
                for f in t.fields
                if f.name == col.name and f.codelist
            ]
        except Exception:  # a feed without a spec still gets a report, with raw codes
            pass
    names += [col.name, col.name.removesuffix("_main")]
    names += [n for n in ("sen_type", "ethnicity", "language") if col.name.endswith(n)]
    for name in names:
        try:
            return codelist(name).codes
        except KeyError:
            continue
    return {}


def _words(value: Any, meanings: dict[str, str]) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.strftime("%-d %B %Y")
    if isinstance(value, dt.date):
        return value.strftime("%-d %B %Y")
    text = str(value)
    return f"{text} ({meanings[text]})" if text in meanings else text


def _purpose_labels(cols: list[Column]) -> list[str]:
    vocab = load_catalogue().vocabulary["purposes"]
    seen = dict.fromkeys(p for c in cols for p in c.purposes)
    return [vocab[p]["label"] for p in seen if p in vocab]


def _research_tables() -> list[Table]:
    return [t for t in load_catalogue().tables.values() if t.schema == "research"]


def _held(conn: sa.Connection, pseudo: str, have: set[str]) -> tuple[int, list[HeldFeed]]:
    """Every research record about the child, table by table, in the catalogue's words."""
    searched, held = 0, []
    for table in _research_tables():
        pcol = pseudonym_column(table)
        if pcol is None or table.key not in have:
            continue
        searched += 1
        shown = [c for c in table.columns if c is not pcol]
        period = [c for c in PERIOD_COLUMNS if c in table.column_names]
        order = ", ".join(quote_ident(c) for c in period) or "1"
        rows = conn.execute(
            sa.text(
                f"SELECT {', '.join(quote_ident(c.name) for c in shown)} "
                f"FROM {quote_ident(table.schema)}.{quote_ident(table.name)} "
                f"WHERE {quote_ident(pcol.name)} = :p ORDER BY {order}"
            ),
            {"p": pseudo},
        ).fetchall()
        if not rows:
            continue
        meanings = {c.name: _meanings(table, c) for c in shown}
        by_year: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            values = dict(zip([c.name for c in shown], row, strict=True))
            by_year.setdefault(str(values.get("academic_year") or "all years"), []).append(values)
        years = []
        for year, records in by_year.items():
            heads = [
                ", ".join(str(r[c]) for c in period if c != "academic_year" and r[c] is not None)
                or ("What we hold" if len(records) == 1 else f"record {i}")
                for i, r in enumerate(records, start=1)
            ]
            columns = [h if heads.count(h) == 1 else f"{h} ({i})" for i, h in enumerate(heads, 1)]
            items = [
                (c.description, [_words(r[c.name], meanings[c.name]) for r in records])
                for c in shown
            ]
            years.append(HeldYear(year=year, columns=columns, items=items))
        held.append(
            HeldFeed(
                feed=table.feed or table.key,
                label=_feed_label(table),
                description=table.description,
                purposes=_purpose_labels(shown),
                years=years,
                records=len(rows),
            )
        )
    return searched, held


def _received(conn: sa.Connection, pseudo: str, have: set[str]) -> list[dict[str, Any]]:
    """Releases that covered the child, with their destruction dates and confirmations."""
    if releases.MEMBERS not in have:
        return []
    rows = conn.execute(
        sa.text(
            f"SELECT r.release_id, r.released_at, r.recipient, r.purpose, r.tier, r.kind, "
            f"r.destroy_by FROM {releases.REGISTER} r WHERE r.release_id IN ("
            f"SELECT release_id FROM {releases.MEMBERS} WHERE pupil_pseudonym = :p) ORDER BY r.seq"
        ),
        {"p": pseudo},
    ).fetchall()
    destroyed = releases.destructions(conn)
    keys = ("release_id", "released_at", "recipient", "purpose", "tier", "kind", "destroy_by")
    return [{**dict(zip(keys, r, strict=True)), "destroyed": destroyed.get(r[0])} for r in rows]


def _identity(conn: sa.Connection, person_id: int) -> list[dict[str, Any]]:
    table = load_catalogue().table("identity.record_identity")
    items = [c for c in IDENTITY_ITEMS if c in table.column_names]
    rows = conn.execute(
        sa.text(
            f"SELECT DISTINCT feed, academic_year, term, {', '.join(items)} "
            "FROM identity.record_identity WHERE person_id = :p ORDER BY 1, 2, 3"
        ),
        {"p": person_id},
    ).fetchall()
    return [dict(zip(["feed", "academic_year", "term", *items], r, strict=True)) for r in rows]


def subject_access(lookup: Lookup, settings: Settings | None = None) -> SarResult:
    """Answer a subject access request: the report file, and the request logged."""
    settings = settings or Settings.from_env()
    sar_id = f"SAR{audit.now():%Y%m%d}-{uuid.uuid4().hex[:8]}"
    report = SarReport(
        sar_id=sar_id, created_at=audit.now(), outcome="not_found", tables_searched=0
    )
    with open_engine(settings.identity_url) as engine:
        have = present(engine, ["identity.person_identifier", objections.TABLE])
        with engine.connect() as conn:
            found = find_persons(conn, lookup) if "identity.person_identifier" in have else []
            if len(found) > 1:
                _log(settings, report, lookup, "ambiguous", None)
                raise SubjectError(
                    f"{len(found)} children match those details: give the child's UPN to say which"
                )
            if found:
                report.outcome = "found"
                report.identity = _identity(conn, found[0])
                if objections.TABLE in have:
                    report.objections = objections.for_person(conn, found[0])
    with open_engine(settings.warehouse_url) as engine:
        have = present(engine, [*(t.key for t in _research_tables()), releases.MEMBERS])
        report.tables_searched = sum(1 for t in _research_tables() if t.key in have)
        if found:
            pseudo = pseudonym(load_key(settings), found[0])
            with engine.connect() as conn:
                report.tables_searched, report.held = _held(conn, pseudo, have)
                report.received = _received(conn, pseudo, have)
    page = render(report)
    folder = settings.home / "sar"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{sar_id}.html"
    path.touch(mode=0o600)
    path.write_text(page, encoding="utf-8")
    checksum = hashlib.sha256(page.encode()).hexdigest()
    _log(settings, report, lookup, report.outcome, checksum)
    return SarResult(report=report, path=path, checksum=checksum)


def _log(
    settings: Settings, report: SarReport, lookup: Lookup, outcome: str, checksum: str | None
) -> None:
    table = load_catalogue().table(LOG)
    row = {
        "sar_id": report.sar_id,
        "requested_at": report.created_at,
        "lookup": lookup.kind,
        "outcome": outcome,
        "tables_searched": report.tables_searched,
        "records_found": report.records_found,
        "releases_found": len(report.received),
        "report_checksum": checksum,
        "answered_by": _user(),
    }
    with audit.warehouse(settings) as conn:
        append(conn, table, pa.Table.from_pylist([row], schema=table.arrow_schema()))


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


# ---- the page ---------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1b1b1b; }
h1 { font-size: 1.7rem; } h2 { margin-top: 2.2rem; border-bottom: 2px solid #1d70b8; }
h3 { margin-bottom: .3rem; } table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid #ccc; }
th { background: #f3f2f1; } .note { background: #f3f2f1; padding: .6rem .9rem; }
.overdue { color: #b10e1e; font-weight: bold; } .small { font-size: .9rem; color: #505a5f; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
               table, .record { break-inside: avoid; } a { color: inherit; } }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _date(value: Any) -> str:
    return _words(value, {}) if value is not None else "not recorded"


def render(report: SarReport, today: dt.date | None = None) -> str:
    today = today or dt.date.today()
    purposes = load_catalogue().vocabulary["purposes"]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>What the pupil database holds about you</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>What the pupil database holds about you</h1>",
        f"<p class='small'>Reference {_e(report.sar_id)}, made on {_date(report.created_at)}.</p>",
    ]
    if report.outcome != "found":
        out += [
            "<p>We looked in every part of the database for a child with the details you gave. "
            "<strong>We hold no information about a child with those details.</strong></p>",
            "<p>If you think we should, ask your school for the child's unique pupil number "
            "(UPN) and ask again with it.</p></body></html>",
        ]
        return "\n".join(out)
    out += [
        "<p>You asked to see what we hold about you. This page lists everything: what each "
        "part of the database holds, for which years, what it may be used for, which "
        "organisations have been given information about you, and when they must destroy it.</p>",
        "<p class='note'>Your records are kept under a code instead of your name. Your name, "
        "date of birth, postcode and pupil numbers are kept apart, in a restricted store, "
        "only so that your records from different years and schools can be put together. "
        "They are shown at the end of this page.</p>",
        "<h2>What we hold</h2>",
        f"<p>We searched {report.tables_searched} collections and found "
        f"{report.records_found} records about you.</p>",
    ]
    for feed in report.held:
        out += [
            f"<h3>{_e(feed.label)}</h3>",
            f"<p>{_e(feed.description)} It may be used for: "
            f"{_e('; '.join(p.lower() for p in feed.purposes))}.</p>",
        ]
        for year in feed.years:
            out.append(f"<div class='record'><p><strong>{_e(year.year)}</strong></p><table>")
            heads = "".join(f"<th>{_e(c)}</th>" for c in year.columns)
            out.append(f"<tr><th>What</th>{heads}</tr>")
            for what, values in year.items:
                cells = "".join(f"<td>{_e(v)}</td>" for v in values)
                out.append(f"<tr><td>{_e(what)}</td>{cells}</tr>")
            out.append("</table></div>")
    out.append("<h2>Who has been given information about you</h2>")
    if not report.received:
        out.append("<p>No organisation has been given any information about you.</p>")
    else:
        out.append(
            "<table><tr><th>Organisation</th><th>When</th><th>Why</th><th>What</th>"
            "<th>Must be destroyed by</th></tr>"
        )
        for r in report.received:
            what = (
                "your records, under a code only they hold (not your name)"
                if r["kind"] == "rows"
                else "counted in statistics (small numbers hidden)"
            )
            if r["destroyed"]:
                gone = f"{_date(r['destroy_by'])}: destroyed (confirmed {_date(r['destroyed']['confirmed_at'])})"
            elif r["destroy_by"] < today:
                gone = f"<span class='overdue'>{_date(r['destroy_by'])}: overdue, we are chasing it</span>"
            else:
                gone = _date(r["destroy_by"])
            why = purposes.get(r["purpose"], {}).get("label", r["purpose"])
            out.append(
                f"<tr><td>{_e(r['recipient'])}</td><td>{_date(r['released_at'])}</td>"
                f"<td>{_e(why)}</td><td>{_e(what)}</td><td>{gone}</td></tr>"
            )
        out.append("</table>")
    out.append("<h2>Your choices</h2>")
    if report.objections:
        listed = "; ".join(
            f"{purposes.get(p, {}).get('label', p).lower()} (since {_date(at)})"
            for p, at in report.objections
        )
        out.append(f"<p>Your family has said no to: {_e(listed)}. We leave you out of those.</p>")
    else:
        out.append("<p>Your family has not objected to any use of your information.</p>")
    out.append(
        "<p>You can say no to your information being used for research, for statistics or "
        "any other use listed above, or change your mind, at any time: tell your school or "
        "write to us quoting the reference at the top of this page. It is never given for "
        "immigration enforcement, policing or commercial use.</p>"
    )
    record = load_catalogue().table("identity.record_identity")
    items = [record.column(i) for i in IDENTITY_ITEMS if i in record.column_names]
    out += [
        "<h2>Kept apart: what identifies you</h2>",
        "<p>These are kept in a restricted store, used only to link your records, and never "
        "given to anyone.</p><table><tr><th>What</th><th>What we hold</th>"
        "<th>Recorded in</th></tr>",
    ]
    labels = _feed_labels()
    where = [
        f"{labels.get(r['feed'], r['feed'])} {r['academic_year']} {r['term'] or ''}".strip()
        for r in report.identity
    ]
    for col in items:
        seen: dict[str, list[str]] = {}
        for row, label in zip(report.identity, where, strict=True):
            seen.setdefault(_words(row.get(col.name), {}), []).append(label)
        for value, places in seen.items():
            recorded = f"all {len(places)} records" if len(seen) == 1 else "; ".join(places)
            out.append(
                f"<tr><td>{_e(col.description)}</td><td>{_e(value)}</td><td>{_e(recorded)}</td></tr>"
            )
    out += [
        "</table>",
        "<p>If anything here is wrong, tell your school or write to us quoting the reference "
        "at the top of this page, and we will correct it.</p></body></html>",
    ]
    return "\n".join(out)
