"""`npd bench linkage`: probabilistic linkage quality and speed on generated data with known truth."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from npd.commands import group


def _figures(figures: dict[str, Any]) -> str:
    parts = []
    for key, value in figures.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k} {v:,}" for k, v in value.items())
            parts.append(f"{key.replace('_', ' ')} ({inner})")
        elif isinstance(value, bool):
            parts.append(f"{key.replace('_', ' ')}: {'yes' if value else 'no'}")
        elif isinstance(value, int):
            parts.append(f"{key.replace('_', ' ')} {value:,}")
        elif isinstance(value, float):
            parts.append(f"{key.replace('_', ' ')} {value:.6g}")
        else:
            parts.append(f"{key.replace('_', ' ')} {value}")
    return "; ".join(parts)


def register(app: typer.Typer) -> None:
    bench = group(app, "bench", "Benchmarks that print measured figures (never timed tests).")

    @bench.command("linkage")
    def linkage(
        index: Annotated[int, typer.Option(help="Persons in the index")] = 1_000_000,
        queries: Annotated[int, typer.Option(help="Records to link against it")] = 100_000,
        seed: Annotated[int, typer.Option(help="Random seed of the population")] = 2024,
        upper: Annotated[
            float | None, typer.Option(help="Upper threshold (default: NPD_LINKAGE_UPPER or 0.9)")
        ] = None,
        lower: Annotated[
            float | None, typer.Option(help="Lower threshold (default: NPD_LINKAGE_LOWER or 0.2)")
        ] = None,
        memory: Annotated[str, typer.Option(help="DuckDB memory limit")] = "6GB",
        cache: Annotated[
            Path | None, typer.Option(help="Where generated data is kept (default: var/bench)")
        ] = None,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Also write the figures as JSON here")
        ] = None,
    ) -> None:
        """Generate an index and queries with known truth, link them, and print per phase:
        candidate pairs, blocking recall, seconds, peak RSS, and precision, recall and F1."""
        from dataclasses import asdict, replace

        from core.config import Settings
        from core.duck import threads
        from linkage.bench_data import BenchSpec
        from linkage.benchmark import run
        from linkage.decision import Thresholds

        settings = Settings.from_env()
        thresholds = Thresholds.from_env()
        thresholds = replace(
            thresholds,
            upper=thresholds.upper if upper is None else upper,
            lower=thresholds.lower if lower is None else lower,
        )
        spec = BenchSpec(index=index, queries=queries, seed=seed)
        typer.echo(
            f"linkage benchmark: index {index:,}, queries {queries:,}, seed {seed}; thresholds "
            f"upper {thresholds.upper}, lower {thresholds.lower}, margin {thresholds.margin}; "
            f"{threads()} threads, DuckDB memory limit {memory}"
        )
        typer.echo(f"{'phase':7} {'seconds':>8} {'CPU s':>7} {'peak RSS':>9}  figures")

        def show(phase) -> None:
            typer.echo(
                f"{phase.name:7} {phase.seconds:8.1f} {phase.cpu_seconds:7.1f} "
                f"{phase.peak_rss_gb:7.2f}GB  {_figures(phase.figures)}"
            )

        result = run(
            spec,
            cache or settings.home / "bench",
            settings.tmp_dir / "bench-linkage",
            thresholds,
            memory=memory,
            report=show,
        )
        q = result.quality
        peak = max(p.peak_rss_gb for p in result.phases if p.name != "data")
        typer.echo(
            f"quality at upper {thresholds.upper}: precision {q['precision']:.5f}, recall "
            f"{q['recall']:.5f}, F1 {q['f1']:.5f} ({q['true_links']:,} right links, "
            f"{q['false_links']:,} wrong, {q['to_review']:,} to review, {q['wrongly_new']:,} "
            f"wrongly new, of {q['matchable']:,} queries with a match)"
        )
        typer.echo(
            f"end to end (load to decide, training included): {result.end_to_end:.1f} s "
            f"({result.end_to_end_cpu:.0f} CPU s; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores), "
            f"linking alone (block, score, decide): {result.seconds('block', 'score', 'decide'):.1f} s, "
            f"peak RSS {peak:.2f} GB"
        )
        typer.echo(
            "other upper thresholds: "
            + "; ".join(
                f"{s['upper']}: P {s['precision']:.5f} R {s['recall']:.5f} F1 {s['f1']:.5f} "
                f"review {int(s['to_review']):,}"
                for s in result.sweep
            )
        )
        if json_out:
            json_out.write_text(
                json.dumps(
                    {
                        "spec": asdict(spec),
                        "thresholds": asdict(thresholds),
                        "phases": [asdict(p) for p in result.phases],
                        "quality": q,
                        "sweep": result.sweep,
                        "end_to_end_seconds": result.end_to_end,
                    },
                    indent=2,
                ),
                encoding="utf-8",
            )
