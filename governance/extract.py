"""Extracts: the only way data leaves the warehouse.

A request names a recipient, a lawful purpose, the tier the recipient is approved for,
the columns (or a named standard extract) and the date the recipient must destroy the
data. Every column is checked against the catalogue before anything is read:

- a purpose marked `never` in the vocabulary (immigration or law enforcement, commercial
  use) is refused for every column, whatever the tier;
- a column whose lawful purposes do not include the stated purpose is refused;
- a column of a tier above the approval (tier 1 is the most restricted) is refused;
- only research tables may be extracted: identifiers never leave the identity store.

A refused request says which columns and why, and releases nothing. An allowed one:
leaves out children whose families object to the purpose (and records not yet linked to
a child, for whom an objection cannot be checked), gives the recipient its own pseudonyms
(an HMAC of the warehouse pseudonym under a key derived for that recipient, so two
recipients cannot join their files), applies disclosure control to aggregates
(governance.disclosure), writes the files and appends the release to the register.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import re
import shutil
import uuid
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from core.config import Settings
from core.duck import local_duckdb, quote_ident, scalar, sql_str
from governance import csv_safe, objections, releases
from governance.disclosure import DisclosurePolicy, protect
from governance.keys import load_key
from governance.pseudonymise import derived_key, register_key, sql_pseudonym
from governance.tables import present
from warehouse import audit
from warehouse.bulk import query_arrow
from warehouse.engine import open_engine
from warehouse_schema.catalogue import Column, Table, load_catalogue

RELEASABLE_SCHEMA = "research"
COUNT = "children"
_WAREHOUSE_KEY = "_warehouse_key"
_RECIPIENT_KEY = "_recipient_key"


class ExtractRefused(ValueError):
    """The request may not be met; `reasons` says which columns and why."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("extract refused:\n" + "\n".join(f"  - {r}" for r in reasons))


@dataclass(frozen=True)
class ExtractRequest:
    recipient: str
    purpose: str
    tier: int
    destroy_by: dt.date
    columns: tuple[str, ...] = ()  # table.column or schema.table.column
    standard: str | None = None  # a named standard extract (standard_extracts.yml)
    aggregate_by: tuple[str, ...] = ()  # an aggregate extract: counts by these columns
    years: tuple[str, ...] = ()  # academic years to include (all when empty)
    policy: DisclosurePolicy = field(default_factory=DisclosurePolicy)

    @property
    def kind(self) -> str:
        return "aggregate" if self.aggregate_by else "rows"


@dataclass
class ExtractResult:
    release_id: str
    folder: Path
    files: list[tuple[str, int, str]]
    row_count: int
    children_left_out: int
    unlinked_left_out: int
    entry: dict[str, Any]


@cache
def standard_extracts() -> dict[str, Any]:
    text = resources.files("governance").joinpath("standard_extracts.yml").read_text("utf-8")
    return yaml.safe_load(text)


def recipient_id(recipient: str) -> str:
    """The recipient's name as the key derivation sees it: case and spacing do not matter."""
    return re.sub(r"\s+", " ", recipient.strip().lower())


def pseudonym_column(table: Table) -> Column | None:
    for col in table.columns:
        if col.minimisation == "pseudonymise":
            return col
    return None


def _resolve(name: str) -> tuple[Table, Column] | str:
    """A catalogue column from `table.column` or `schema.table.column`, or why not."""
    catalogue = load_catalogue()
    parts = name.strip().split(".")
    if len(parts) == 2:
        parts = [RELEASABLE_SCHEMA, *parts]
    if len(parts) != 3:
        return f"{name}: name a column as table.column, e.g. ks2_result.read_score"
    key = f"{parts[0]}.{parts[1]}"
    if key not in catalogue.tables:
        return f"{name}: no such table in the catalogue"
    table = catalogue.tables[key]
    if table.schema != RELEASABLE_SCHEMA:
        if table.store == "identity":
            return f"{name}: direct identifiers never leave the identity store"
        return f"{name}: only research tables are released ({table.schema} is not one)"
    if parts[2] not in table.column_names:
        return f"{name}: {key} has no column {parts[2]!r}"
    return table, table.column(parts[2])


def requested_columns(request: ExtractRequest) -> list[str]:
    names = list(request.columns)
    if request.standard:
        known = standard_extracts()
        if request.standard not in known:
            raise ExtractRefused(
                [f"no standard extract {request.standard!r}: choose from {', '.join(known)}"]
            )
        for table, cols in known[request.standard]["tables"].items():
            names += [f"{table}.{c}" for c in cols]
    names += [c for c in request.aggregate_by if c not in names]
    return list(dict.fromkeys(names))


def check(request: ExtractRequest, today: dt.date | None = None) -> dict[str, list[Column]]:
    """The columns to release, by table; or ExtractRefused naming every column refused and why."""
    vocab = load_catalogue().vocabulary
    purposes = vocab["purposes"]
    reasons: list[str] = []
    if request.purpose not in purposes:
        raise ExtractRefused(
            [f"unknown purpose {request.purpose!r}: choose from {', '.join(purposes)}"]
        )
    purpose = purposes[request.purpose]
    if request.purpose == "subject_access":
        raise ExtractRefused(["subject access is answered by `npd sar`, never by an extract"])
    if request.tier not in vocab["tiers"]:
        reasons.append(f"the approved tier must be one of {', '.join(map(str, vocab['tiers']))}")
    if not request.recipient.strip():
        reasons.append("name the recipient")
    if request.destroy_by <= (today or dt.date.today()):
        reasons.append("the destruction date must be in the future")
    names = requested_columns(request)
    if not names:
        reasons.append("name the columns, or a standard extract")
    chosen: dict[str, list[Column]] = {}
    for name in names:
        found = _resolve(name)
        if isinstance(found, str):
            reasons.append(found)
            continue
        table, col = found
        key = f"{table.key}.{col.name}"
        if purpose.get("never"):
            reasons.append(
                f"{key}: never released for {purpose['label'].lower()}, whatever the tier"
            )
            continue
        if request.purpose not in col.purposes:
            lawful = ", ".join(col.purposes)
            reasons.append(f"{key}: its lawful purposes are {lawful}; {request.purpose} is not one")
        if isinstance(request.tier, int) and col.tier < request.tier:
            reasons.append(
                f"{key}: tier {col.tier}, above the tier {request.tier} approval "
                f"(a tier {request.tier} approval reaches {_reach(request.tier)})"
            )
        chosen.setdefault(table.key, []).append(col)
    if request.aggregate_by and not reasons:
        reasons += _check_aggregate(request, chosen)
    if reasons:
        raise ExtractRefused(reasons)
    return chosen


def _reach(tier: int) -> str:
    return f"tiers {tier}..4" if tier < 4 else "tier 4 only"


def _check_aggregate(request: ExtractRequest, chosen: dict[str, list[Column]]) -> list[str]:
    if len(chosen) != 1:
        return ["an aggregate extract counts the columns of one table: name one table's columns"]
    (table_key, cols), *_ = chosen.items()
    extra = [c.name for c in cols if f"{table_key}.{c.name}" not in _qualified(request)]
    if extra:
        return [f"an aggregate extract releases only its --by columns (also asked: {extra})"]
    return [
        f"{table_key}.{c.name}: a pseudonym cannot be a dimension of an aggregate"
        for c in cols
        if c.minimisation == "pseudonymise"
    ]


def _qualified(request: ExtractRequest) -> set[str]:
    out = set()
    for name in request.aggregate_by:
        found = _resolve(name)
        if not isinstance(found, str):
            out.add(f"{found[0].key}.{found[1].name}")
    return out


def _read(settings: Settings, chosen: dict[str, list[Column]], years: tuple[str, ...]):
    """The chosen columns (and each table's pseudonym) from the warehouse, as Arrow."""
    catalogue = load_catalogue()
    out: dict[str, pa.Table] = {}
    with open_engine(settings.warehouse_url) as engine:
        missing = [key for key in chosen if key not in present(engine, chosen)]
        if missing:
            raise ExtractRefused([f"{key} holds no data yet" for key in missing])
        with engine.connect() as conn:
            for key, cols in chosen.items():
                table = catalogue.table(key)
                wanted = list(dict.fromkeys([*cols, *filter(None, [pseudonym_column(table)])]))
                select = ", ".join(quote_ident(c.name) for c in wanted)
                where = ""
                if years and "academic_year" in table.column_names:
                    where = f" WHERE academic_year IN ({', '.join(sql_str(y) for y in years)})"
                schema = pa.schema([pa.field(c.name, c.arrow_type) for c in wanted])
                out[key] = query_arrow(
                    conn,
                    f"SELECT {select} FROM {quote_ident(table.schema)}.{quote_ident(table.name)}"
                    + where,
                    schema=schema,
                )
    return out


def _objectors(settings: Settings, purpose: str) -> pa.Table:
    with open_engine(settings.identity_url) as engine:
        if objections.TABLE not in present(engine, [objections.TABLE]):
            return pa.table({"person_id": pa.array([], pa.int64())})
        with engine.connect() as conn:
            return objections.objectors(conn, purpose)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(
    request: ExtractRequest, settings: Settings | None = None, out_dir: Path | None = None
) -> ExtractResult:
    """Check, filter, pseudonymise per recipient, protect, write and register one release."""
    settings = settings or Settings.from_env()
    chosen = check(request)
    catalogue = load_catalogue()
    key = load_key(settings)
    data = _read(settings, chosen, request.years)
    objecting = _objectors(settings, request.purpose)
    released_at = audit.now()
    release_id = f"R{released_at:%Y%m%d}-{uuid.uuid4().hex[:8]}"
    folder = (out_dir or settings.home / "releases") / release_id
    folder.mkdir(parents=True, exist_ok=False)
    try:
        with local_duckdb(settings.tmp_dir) as con:
            register_key(con, key, _WAREHOUSE_KEY)
            register_key(
                con,
                derived_key(key, f"recipient:{recipient_id(request.recipient)}"),
                _RECIPIENT_KEY,
            )
            con.register("objector_ids", objecting)
            con.execute(
                f"CREATE TABLE objecting AS SELECT DISTINCT {sql_pseudonym('o.person_id', 'k')} AS p "
                f"FROM objector_ids o CROSS JOIN {_WAREHOUSE_KEY} k"
            )
            con.execute("CREATE TABLE members (pupil_pseudonym VARCHAR)")
            con.execute("CREATE TABLE left_out (p VARCHAR)")
            unlinked = 0
            files: list[tuple[str, int, str]] = []
            for table_key, cols in chosen.items():
                table = catalogue.table(table_key)
                unlinked += _stage(con, table, data[table_key])
                if request.aggregate_by:
                    files.append(_write_aggregate(con, table, cols, request.policy, folder))
                else:
                    files.append(_write_rows(con, table, cols, folder))
            left_out = int(scalar(con, "SELECT count(DISTINCT p) FROM left_out"))
            members_checksum = releases.members_digest(con, "members", "pupil_pseudonym")
            members = con.sql(
                "SELECT DISTINCT pupil_pseudonym FROM members ORDER BY 1"
            ).to_arrow_table()
        files = [(name, rows, _sha256(folder / name)) for name, rows, _ in files]
        release = releases.Release(
            release_id=release_id,
            recipient=request.recipient.strip(),
            purpose=request.purpose,
            tier=request.tier,
            kind=request.kind,
            columns=[f"{t}.{c.name}" for t, cols in chosen.items() for c in cols],
            row_count=sum(rows for _, rows, _ in files),
            children_left_out=left_out,
            files=files,
            destroy_by=request.destroy_by,
            released_by=_user(),
            members_checksum=members_checksum,
            released_at=released_at,
        )
        with audit.warehouse(settings) as conn:
            entry = releases.register(conn, release, members)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # nothing leaves without its register entry
        raise
    return ExtractResult(
        release_id=release_id,
        folder=folder,
        files=files,
        row_count=release.row_count,
        children_left_out=left_out,
        unlinked_left_out=unlinked,
        entry=entry,
    )


def _stage(con, table: Table, data: pa.Table) -> int:
    """Load one table's rows as `src`, keeping only children who may be included.

    Returns the records left out because they are not linked to a child (so an objection
    cannot be checked); the children left out for objections are added to `left_out`.
    """
    con.register("src_view", data)
    pseudo = pseudonym_column(table)
    if pseudo is None:  # nothing about individual children: no objection can apply
        con.execute("CREATE OR REPLACE TABLE src AS SELECT * FROM src_view")
        con.unregister("src_view")
        return 0
    p = quote_ident(pseudo.name)
    con.execute(
        f"INSERT INTO left_out SELECT DISTINCT {p} FROM src_view WHERE {p} IN (SELECT p FROM objecting)"
    )
    unlinked = int(scalar(con, f"SELECT count(*) FROM src_view WHERE {p} IS NULL"))
    con.execute(
        f"CREATE OR REPLACE TABLE src AS SELECT * FROM src_view "
        f"WHERE {p} IS NOT NULL AND {p} NOT IN (SELECT p FROM objecting)"
    )
    con.execute(f"INSERT INTO members SELECT DISTINCT {p} FROM src")
    con.unregister("src_view")
    return unlinked


def _write_rows(con, table: Table, cols: list[Column], folder: Path) -> tuple[str, int, str]:
    """Pupil-level rows with the recipient's pseudonyms in place of the warehouse's."""
    parts = []
    for col in cols:
        name = quote_ident(col.name)
        if col.minimisation == "pseudonymise":
            parts.append(f"{sql_pseudonym(f's.{name}', 'r', prefix='recipient:')} AS {name}")
        else:
            parts.append(f"s.{name}")
    name = f"{table.name}.csv"
    rows = f"SELECT {', '.join(parts)} FROM src s CROSS JOIN {_RECIPIENT_KEY} r"
    # Text cells that a spreadsheet would run as a formula are neutralised (csv_safe).
    con.execute(
        f"COPY ({csv_safe.safe_select(con, rows)}) "
        f"TO {sql_str(folder / name)} (FORMAT csv, HEADER true)"
    )
    return name, int(scalar(con, "SELECT count(*) FROM src")), ""


def _write_aggregate(
    con, table: Table, cols: list[Column], policy: DisclosurePolicy, folder: Path
) -> tuple[str, int, str]:
    """Counts of children by the chosen columns, protected before they are written.

    A child in several cells (e.g. one who moved LA) counts once in each, so the totals
    are the sums of the cells, as disclosure control assumes.
    """
    dims = [c.name for c in cols]
    pseudo = pseudonym_column(table)
    count = f"count(DISTINCT {quote_ident(pseudo.name)})" if pseudo else "count(*)"
    by = ", ".join(quote_ident(d) for d in dims)
    cells = con.sql(f"SELECT {by}, {count} AS {COUNT} FROM src GROUP BY ALL ORDER BY ALL").to_df()
    for dim in dims:
        cells[dim] = cells[dim].astype("string").fillna("(not recorded)")
    protected = protect(cells, COUNT, dims, policy)
    out = protected[dims].copy()  # plain numbers for machines; the symbol where hidden
    out[COUNT] = protected[COUNT].astype("string").fillna(policy.symbol)
    name = f"{table.name}_counts.csv"
    # Numeric dimensions are numbers written as numbers; the rest, the counts column (digits
    # or the policy's symbol) and the header are text, neutralised (csv_safe).
    numbers = [c.name for c in cols if _numeric(c)]
    csv_safe.write_frame(out, folder / name, numeric=numbers)
    return name, len(out), ""


def _numeric(column: Column) -> bool:
    kind = column.arrow_type
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
