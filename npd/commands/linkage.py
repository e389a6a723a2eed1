"""`npd linkage`: train the probabilistic linkage model, and rebuild the linkage report."""

from __future__ import annotations

from typing import Annotated

import typer

linkage_app = typer.Typer(
    help="Probabilistic linkage: the model and the linkage report.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(linkage_app, name="linkage")


@linkage_app.command("train")
def train(
    records: Annotated[
        int, typer.Option(help="Identifier-linked records to learn from (a sample)")
    ] = 50_000,
    u_pairs: Annotated[float, typer.Option(help="Random pairs for u")] = 1.2e6,
    current: Annotated[
        bool, typer.Option(help="Make the new model the one the pipeline uses")
    ] = True,
) -> None:
    """Train a model from the identity store's identifier links and save it under var/models.

    Records linked by UPN or ULN, paired with the same person's records from other periods
    and feeds, estimate m; random pairs estimate u. Links made before keep the version
    that made them; relink a partition to apply the new model to it.
    """
    from dataclasses import replace

    from core.config import Settings
    from core.duck import local_duckdb
    from linkage import model as fs
    from linkage.probabilistic import LinkageConfig
    from linkage.training import train_from_store
    from warehouse.audit import store_lock
    from warehouse.engine import ensure_schema, open_engine

    settings = Settings.from_env()
    config = replace(
        LinkageConfig.from_env(settings.home), u_pairs=u_pairs, max_training_records=records
    )
    try:
        with (
            store_lock(settings),
            open_engine(settings.identity_url) as engine,
            engine.begin() as conn,
            local_duckdb(settings.tmp_dir) as con,
        ):
            ensure_schema(conn, "identity")
            model = train_from_store(conn, con, config)
    except fs.TrainingError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    path = fs.save(model, config.models_dir, make_current=current)
    meta = model.meta
    typer.echo(
        f"model {model.version}: {meta['labelled_pairs']:,} labelled pairs, {meta['u_pairs']:,} "
        f"random pairs, match share {meta['match_share']:.3f}; saved to {path}"
        + (" and made current" if current else "")
    )


@linkage_app.command("report")
def report() -> None:
    """Rebuild the linkage report (var/reports/linkage/index.html) and print where it is."""
    from core.config import Settings
    from linkage.report import write_report
    from warehouse.audit import store_lock

    settings = Settings.from_env()
    settings.ensure_dirs()
    with store_lock(settings):
        path = write_report(settings)
    typer.echo(path)
