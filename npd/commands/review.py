"""`npd review`: the clerical review queue of probabilistic linkage.

A reviewer lists the pairs the model could not decide, sees the two records side by side
(names, date of birth, sex, postcode, LA: what deciding needs, and nothing else), and
accepts or rejects them. Decisions are kept in the identity store and applied the next
time the partition is linked; `npd review apply` relinks and reloads the partitions that
hold decisions not yet applied.
"""

from __future__ import annotations

from typing import Annotated

import typer

review_app = typer.Typer(
    help="The clerical review queue: record pairs probabilistic linkage could not decide.",
    no_args_is_help=True,
)
IdsArg = Annotated[list[str], typer.Argument(help="Review ids, as `npd review list` shows them")]
ReviewerOpt = Annotated[str | None, typer.Option(help="Who decides (default: your login name)")]


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")


def _identity():
    """A transaction on the identity store, under the stores' writer lock."""
    from contextlib import contextmanager

    from core.config import Settings
    from warehouse.audit import store_lock
    from warehouse.engine import ensure_schema, open_engine

    @contextmanager
    def session():
        settings = Settings.from_env()
        with (
            store_lock(settings),
            open_engine(settings.identity_url) as engine,
            engine.begin() as conn,
        ):
            ensure_schema(conn, "identity")
            yield conn

    return session()


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@review_app.command("list")
def list_pending(
    feed: Annotated[str | None, typer.Option(help="Only this feed")] = None,
    year: Annotated[
        str | None, typer.Option("--year", "-y", help="Only this academic year")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many pairs")] = 20,
) -> None:
    """Pending pairs, most likely matches first, each record beside its candidate."""
    from linkage.review import SHOWN, pending

    with _identity() as conn:
        pairs, total = pending(conn, feed, year, limit)
    if not pairs:
        typer.echo("No pairs are waiting for review.")
        return
    typer.echo(
        f"{total:,} pair(s) pending, {len(pairs)} shown. Decide with "
        "`npd review accept ID` or `npd review reject ID`, then `npd review apply`."
    )
    labels = {"la_code": "LA", "dob": "date of birth"}
    for pair in pairs:
        typer.echo("")
        typer.secho(
            f"[{pair.review_id}] {pair.partition}: match probability {pair.match_probability:.3f}, "
            f"{pair.reason.replace('_', ' ')}; candidate seen in {pair.candidate_seen}",
            bold=True,
        )
        typer.echo(f"    {'':14} {'record':24} candidate")
        for col in SHOWN:
            mine, theirs = pair.record.get(col), pair.candidate.get(col)
            differs = str(mine or "").strip().upper() != str(theirs or "").strip().upper()
            typer.echo(
                f"    {labels.get(col, col):14} {mine if mine is not None else '-'!s:24} "
                f"{theirs if theirs is not None else '-'}{'   <- differs' if differs else ''}"
            )


def _decide(ids: list[str], status: str, reviewer: str | None) -> None:
    from linkage.review import ReviewError, decide

    try:
        with _identity() as conn:
            touched = decide(conn, ids, status, reviewer)
    except ReviewError as exc:
        _fail(str(exc))
    verb = "accepted" if status == "accepted" else "rejected"
    typer.echo(
        f"{len(set(ids))} pair(s) {verb}. They take effect when these partitions are next linked:"
    )
    for feed, year, term in touched:
        typer.echo(f"  {feed} {year}{' ' + term if term else ''}")
    typer.echo("Run `npd review apply` to relink and reload them now.")


@review_app.command("accept")
def accept(ids: IdsArg, reviewer: ReviewerOpt = None) -> None:
    """The record is this candidate (the record's other candidates are rejected)."""
    _decide(ids, "accepted", reviewer)


@review_app.command("reject")
def reject(ids: IdsArg, reviewer: ReviewerOpt = None) -> None:
    """The record is not this candidate (rejected on all, it becomes a new person)."""
    _decide(ids, "rejected", reviewer)


@review_app.command("apply")
def apply() -> None:
    """Relink and reload every partition holding decisions its links do not yet reflect."""
    from core.config import Settings
    from core.partition import Partition
    from linkage.review import decided_not_applied
    from pipeline.steps import link, load

    with _identity() as conn:
        partitions = decided_not_applied(conn)
    if not partitions:
        typer.echo("Every decision is already applied.")
        return
    settings = Settings.from_env()
    for feed, year, term in partitions:
        partition = Partition.of(feed, year, term)
        linked = link(partition, settings)
        load(partition, settings)
        typer.echo(
            f"{partition.label}: relinked ({linked.get('clerical', 0)} record(s) changed by "
            "decisions) and reloaded"
        )
