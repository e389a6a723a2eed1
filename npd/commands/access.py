"""Safe access commands: the PostgreSQL schema and roles, extracts, the release register,
subject access and objections."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

db_app = typer.Typer(
    help="The PostgreSQL stores: migrations, roles and grants.", no_args_is_help=True
)
releases_app = typer.Typer(
    help="The release register: list it, verify its chain, record destruction.",
    invoke_without_command=True,
)
objection_app = typer.Typer(help="The objection register: a family's say.", no_args_is_help=True)

StoreOpt = Annotated[str, typer.Option(help="warehouse, identity or both")]
UpnOpt = Annotated[str | None, typer.Option(help="The child's UPN")]
SurnameOpt = Annotated[str | None, typer.Option(help="Surname (with --forename and --dob)")]
ForenameOpt = Annotated[str | None, typer.Option(help="Forename")]
DobOpt = Annotated[str | None, typer.Option(help="Date of birth, YYYY-MM-DD")]


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _stores(store: str) -> list[str]:
    from warehouse_schema.catalogue import STORES

    if store == "both":
        return list(STORES)
    if store not in STORES:
        _fail(f"--store must be warehouse, identity or both, not {store!r}", 2)
    return [store]


def _url(settings, store: str) -> str:
    return settings.warehouse_url if store == "warehouse" else settings.identity_url


# ---- npd db ---------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    store: StoreOpt = "both",
    grants: Annotated[bool, typer.Option(help="Create the roles and apply the grants")] = True,
) -> None:
    """Bring the stores' schemas to the catalogue through migrations, then apply the grants."""
    from core.config import Settings
    from governance import roles
    from warehouse.engine import dialect_of, ensure_schema, open_engine
    from warehouse_schema import migrations

    settings = Settings.from_env()
    for name in _stores(store):
        url = _url(settings, name)
        with open_engine(url) as engine, engine.begin() as conn:
            if dialect_of(url) != "postgresql":
                ensure_schema(conn, name)
                typer.echo(
                    f"{name}: embedded {dialect_of(url)} store created from the catalogue "
                    "(migrations, roles and grants are for PostgreSQL)"
                )
                continue
            before = migrations.current(conn, name)
            migrations.upgrade(conn, name)
            after = migrations.current(conn, name)
            line = f"{name}: schema at {after}" + (
                f" (was {before or 'empty'})" if before != after else ""
            )
            if grants:
                n = roles.apply(conn, name)
                line += f"; {n} role and grant statements applied (prefix {roles.role_prefix()})"
            typer.echo(line)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the change is")],
    store: StoreOpt = "both",
    server: Annotated[
        str | None,
        typer.Option(
            help="A PostgreSQL server URL: compare against a throwaway database there "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres) instead of the "
            "configured stores"
        ),
    ] = None,
) -> None:
    """Generate the next migration from the catalogue: what changed since the latest revision."""
    from contextlib import nullcontext

    from core.config import Settings
    from warehouse_schema import migrations

    settings = Settings.from_env()
    with migrations.scratch_database(server) if server else nullcontext() as scratch:
        for name in _stores(store):
            try:
                path = migrations.revision(scratch or _url(settings, name), name, message)
            except migrations.MigrationError as exc:
                _fail(str(exc))
            typer.echo(f"{name}: " + (f"wrote {path}" if path else "already matches the catalogue"))


@db_app.command("check")
def db_check(store: StoreOpt = "both") -> None:
    """Is each PostgreSQL store at the latest migration and equal to the catalogue?"""
    from core.config import Settings
    from warehouse.engine import dialect_of, open_engine
    from warehouse_schema import migrations

    settings = Settings.from_env()
    bad = False
    for name in _stores(store):
        url = _url(settings, name)
        if dialect_of(url) != "postgresql":
            typer.echo(f"{name}: embedded {dialect_of(url)} store (no migrations)")
            continue
        with open_engine(url) as engine, engine.connect() as conn:
            at, head = migrations.current(conn, name), migrations.head(name)
            differences = migrations.drift(conn, name)
        ok = at == head and not differences
        bad |= not ok
        detail = "" if not differences else f"; differs: {migrations.describe(differences)}"
        typer.echo(
            f"{name}: at {at or 'none'}, latest {head}{detail}"
            + ("" if ok else "  <- run npd db upgrade")
        )
    if bad:
        raise typer.Exit(1)


@db_app.command("grants")
def db_grants(store: StoreOpt = "both") -> None:
    """Print the roles and grants the catalogue implies, as SQL (nothing is run)."""
    from governance import roles

    names = roles.Roles(roles.role_prefix())
    for name in _stores(store):
        typer.echo(f"-- {name} store")
        for statement in roles.role_statements(names) + roles.grant_statements(name, names):
            typer.echo(statement + ";")


# ---- npd extract ------------------------------------------------------------------------


def extract(
    recipient: Annotated[str, typer.Option(help="Organisation receiving the data")],
    purpose: Annotated[str, typer.Option(help="Lawful purpose (warehouse_schema/vocabulary.yml)")],
    tier: Annotated[int, typer.Option(help="NPD tier the recipient is approved for (1-4)")],
    destroy_by: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="Date the recipient must destroy it")
    ],
    column: Annotated[
        list[str] | None, typer.Option(help="A column, as table.column (repeatable)")
    ] = None,
    standard: Annotated[str | None, typer.Option(help="A named standard extract")] = None,
    by: Annotated[
        list[str] | None,
        typer.Option(help="Aggregate: count children by these columns (repeatable)"),
    ] = None,
    year: Annotated[list[str] | None, typer.Option(help="Academic year(s) to include")] = None,
    threshold: Annotated[int, typer.Option(help="Aggregates: hide counts below this")] = 10,
    round_to: Annotated[
        int | None, typer.Option("--round", help="Aggregates: round counts to this base")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for releases (default var/releases)")
    ] = None,
) -> None:
    """Release data to a recipient: checked column by column, then written and registered."""
    from governance.disclosure import DisclosurePolicy
    from governance.extract import ExtractRefused, ExtractRequest
    from governance.extract import extract as run_extract
    from governance.keys import KeyMissingError

    try:
        policy = DisclosurePolicy(threshold=threshold, rounding_base=round_to)
    except ValueError as exc:
        _fail(str(exc), 2)
    request = ExtractRequest(
        recipient=recipient,
        purpose=purpose,
        tier=tier,
        destroy_by=destroy_by.date(),
        columns=tuple(column or ()),
        standard=standard,
        aggregate_by=tuple(by or ()),
        years=tuple(year or ()),
        policy=policy,
    )
    try:
        result = run_extract(request, out_dir=out)
    except ExtractRefused as exc:
        _fail(str(exc), 2)
    except KeyMissingError as exc:
        _fail(str(exc))
    typer.echo(f"release {result.release_id} for {recipient} ({purpose}, tier {tier})")
    for name, rows, sha in result.files:
        typer.echo(f"  {result.folder / name}: {rows:,} rows, sha256 {sha}")
    typer.echo(
        f"  children left out because their families objected to {purpose}: "
        f"{result.children_left_out:,}"
    )
    if result.unlinked_left_out:
        typer.echo(
            f"  records left out because they are not yet linked to a child (objections "
            f"cannot be checked): {result.unlinked_left_out:,}"
        )
    typer.echo(
        f"  registered as entry {result.entry['seq']} (hash {result.entry['entry_hash'][:16]}...); "
        f"to be destroyed by {request.destroy_by:%d %B %Y}"
    )


# ---- npd releases -----------------------------------------------------------------------


@releases_app.callback()
def releases_list(ctx: typer.Context) -> None:
    """List the register, verify its chain and show releases past their destruction date."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from core.config import Settings
    from governance import releases
    from governance.tables import present
    from warehouse.engine import open_engine

    settings = Settings.from_env()
    with open_engine(settings.warehouse_url) as engine:
        if releases.REGISTER not in present(engine, [releases.REGISTER]):
            typer.echo("No releases have been made.")
            return
        with engine.connect() as conn:
            entries = releases.entries(conn)
            destroyed = releases.destructions(conn)
            digests = releases.member_digests(conn, settings.tmp_dir)
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 140)
    if not entries:
        console.print("No releases have been made.")
        return
    today = dt.date.today()
    table = Table(title="Release register", title_justify="left", header_style="bold")
    for col in (
        "#",
        "Release",
        "Date",
        "Recipient",
        "Purpose",
        "Tier",
        "Kind",
        "Rows",
        "Left out",
        "Destroy by",
        "Status",
    ):
        table.add_column(
            col,
            justify="right" if col in ("#", "Tier", "Rows", "Left out") else "left",
            no_wrap=col in ("Release", "Date", "Destroy by"),
        )
    for e in entries:
        if e["release_id"] in destroyed:
            status = (
                f"[green]destroyed {destroyed[e['release_id']]['confirmed_at']:%Y-%m-%d}[/green]"
            )
        elif e["destroy_by"] < today:
            status = "[red bold]OVERDUE[/red bold]"
        else:
            status = "held"
        table.add_row(
            str(e["seq"]),
            e["release_id"],
            f"{e['released_at']:%Y-%m-%d}",
            e["recipient"],
            e["purpose"],
            str(e["tier"]),
            e["kind"],
            f"{e['row_count']:,}",
            f"{e['children_left_out']:,}",
            f"{e['destroy_by']:%Y-%m-%d}",
            status,
        )
    console.print(table)
    problems = releases.verify(entries, digests)
    late = releases.overdue(entries, destroyed, today)
    if problems:
        console.print("[red bold]The chain is broken: the register has been changed.[/red bold]")
        for problem in problems:
            console.print(f"[red]  {problem}[/red]")
    else:
        console.print(
            f"[green]Chain verified: {len(entries)} entries, each as it was written.[/green] "
            f"Head hash {entries[-1]['entry_hash']} (keep it elsewhere to detect removal of "
            "the newest entries)."
        )
    if late:
        console.print(
            f"[red]{len(late)} release(s) past their destruction date with no confirmation:[/red]"
        )
        for e in late:
            console.print(
                f"[red]  {e['release_id']} to {e['recipient']}: due {e['destroy_by']:%d %B %Y} "
                f"({(today - e['destroy_by']).days} days ago)[/red]"
            )
    else:
        console.print("No release is past its destruction date without confirmation.")
    if problems or late:
        raise typer.Exit(1)


@releases_app.command("destroyed")
def releases_destroyed(
    release_id: Annotated[str, typer.Argument(help="Release id")],
    evidence: Annotated[str, typer.Option(help="What was seen, e.g. a signed certificate")],
) -> None:
    """Record that a recipient destroyed a release (appended; nothing is changed)."""
    import getpass

    from core.config import Settings
    from governance import releases
    from warehouse import audit

    try:
        with audit.warehouse(Settings.from_env()) as conn:
            releases.confirm_destroyed(conn, release_id, evidence, getpass.getuser())
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"recorded: {release_id} destroyed")


# ---- npd sar ----------------------------------------------------------------------------


def sar(
    upn: UpnOpt = None, surname: SurnameOpt = None, forename: ForenameOpt = None, dob: DobOpt = None
) -> None:
    """Answer a subject access request: a report a child and parent can read and print."""
    from governance.sar import subject_access
    from governance.subjects import Lookup, SubjectError

    try:
        lookup = Lookup.of(upn=upn, surname=surname, forename=forename, dob=dob)
        result = subject_access(lookup)
    except SubjectError as exc:
        _fail(str(exc), 2)
    report = result.report
    if report.outcome == "found":
        typer.echo(
            f"{report.sar_id}: {report.records_found} records in {len(report.held)} collections, "
            f"{len(report.received)} releases; report written to {result.path}"
        )
    else:
        typer.echo(
            f"{report.sar_id}: nothing is held for those details; letter written to {result.path}"
        )
    typer.echo("The report holds the child's personal data: give it only to the child or parent.")


# ---- npd objection ----------------------------------------------------------------------


def _record_objection(
    action: str, upn, surname, forename, dob, purpose: list[str], channel
) -> None:
    from core.config import Settings
    from governance import objections
    from governance.subjects import Lookup, SubjectError, find_one
    from warehouse import audit
    from warehouse.engine import ensure_schema, open_engine

    settings = Settings.from_env()
    try:
        lookup = Lookup.of(upn=upn, surname=surname, forename=forename, dob=dob)
        for p in purpose:
            objections.check_purpose(p)
        with (
            audit.store_lock(settings),
            open_engine(settings.identity_url) as engine,
            engine.begin() as conn,
        ):
            ensure_schema(conn, "identity")
            person = find_one(conn, lookup)
            for p in purpose:
                objections.record(conn, person, p, action, channel)
    except (SubjectError, objections.ObjectionError) as exc:
        _fail(str(exc), 2)
    typer.echo(f"recorded: {action} for {', '.join(purpose)}")


PurposeOpt = Annotated[list[str], typer.Option(help="Class of use (a purpose; repeatable)")]
ChannelOpt = Annotated[str | None, typer.Option(help="How it arrived: school, letter, online")]


@objection_app.command("add")
def objection_add(
    purpose: PurposeOpt,
    upn: UpnOpt = None,
    surname: SurnameOpt = None,
    forename: ForenameOpt = None,
    dob: DobOpt = None,
    channel: ChannelOpt = None,
) -> None:
    """Record a family's objection to a class of use."""
    _record_objection("objected", upn, surname, forename, dob, purpose, channel)


@objection_app.command("withdraw")
def objection_withdraw(
    purpose: PurposeOpt,
    upn: UpnOpt = None,
    surname: SurnameOpt = None,
    forename: ForenameOpt = None,
    dob: DobOpt = None,
    channel: ChannelOpt = None,
) -> None:
    """Record that a family withdrew an objection."""
    _record_objection("withdrawn", upn, surname, forename, dob, purpose, channel)


@objection_app.command("counts")
def objection_counts() -> None:
    """How many children have an objection in force, per class of use (no one is named)."""
    from core.config import Settings
    from governance import objections
    from governance.tables import present
    from warehouse.engine import open_engine

    settings = Settings.from_env()
    with open_engine(settings.identity_url) as engine:
        counts = {}
        if objections.TABLE in present(engine, [objections.TABLE]):
            with engine.connect() as conn:
                counts = objections.counts(conn)
    for purpose in objections.objectable():
        typer.echo(f"{purpose:26} {counts.get(purpose, 0):,}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("extract")(extract)
    app.add_typer(releases_app, name="releases")
    app.command("sar")(sar)
    app.add_typer(objection_app, name="objection")
