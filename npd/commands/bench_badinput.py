"""`npd bench badinput`: the bad-input corpus through `npd run`, case by case in fresh homes.

Prints the pass count per feed and per contract item of issue 13, the seconds and peak
resident memory of each hostile case (none may pass 1 GB), and why each failing case failed;
the figures go to var/reports/bench/badinput.json. The corpus and the checker are in
tests/badinput/ (run from a source checkout).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from npd.commands import group


def register(app: typer.Typer) -> None:
    bench = group(app, "bench", "Benchmarks that print measured figures (never timed tests).")

    @bench.command("badinput")
    def badinput(
        only: Annotated[
            list[str] | None, typer.Option("--only", help="Run only this case (repeatable)")
        ] = None,
        jobs: Annotated[int, typer.Option(help="Cases run side by side")] = 1,
        large_mb: Annotated[
            int | None, typer.Option(help="Size of the large census file in MB (default 96)")
        ] = None,
        work: Annotated[
            Path | None,
            typer.Option(help="Work folder: corpus and one home per case (default: a temp folder)"),
        ] = None,
        keep: Annotated[
            str, typer.Option(help="Keep each case's home: all, failed or none")
        ] = "failed",
        timeout: Annotated[float, typer.Option(help="Seconds before a run counts as hung")] = 900,
        results: Annotated[
            Path | None,
            typer.Option(help="Folder for the JSON figures (default: var/reports/bench)"),
        ] = None,
    ) -> None:
        """Run every bad-input case through `npd run` and print pass counts per feed and per
        contract item, with the time and peak memory of the hostile cases."""
        from core.config import Settings
        from npd.bench import run_badinput

        if keep not in ("all", "failed", "none"):
            raise typer.BadParameter("choose all, failed or none", param_hint="--keep")
        settings = Settings.from_env()
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        folder = work or Path(tempfile.mkdtemp(prefix="npd-bench-badinput-", dir=settings.tmp_dir))

        def progress(result) -> None:
            mark = "pass" if result.passed else "FAIL"
            typer.echo(
                f"{mark} {result.name} ({result.seconds:.1f} s, "
                f"{result.peak_rss / 2**20:,.0f} MB peak RSS)"
            )

        typer.echo(f"bad-input corpus in {folder}")
        summary = run_badinput(
            folder,
            only=only,
            jobs=jobs,
            large_mb=large_mb,
            keep=keep,
            timeout=timeout,
            progress=progress,
        )
        from tests.badinput.checker import render  # importable once run_badinput has run

        typer.echo("")
        render(summary, typer.echo)
        out = results or settings.reports_dir / "bench"
        out.mkdir(parents=True, exist_ok=True)
        path = out / "badinput.json"
        path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        typer.echo(f"figures written to {path}")
        if work is None and keep == "none":
            shutil.rmtree(folder, ignore_errors=True)
