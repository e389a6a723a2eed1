"""`npd bench ilr`: generate a national-size ILR file set and read it with the streaming reader.

Generation and reading each run in a fresh child process, so each one's peak RSS is its
own (and the reader's is not inflated by the generator's arrays). The figures are
printed and written as JSON under var/reports/bench/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from npd.commands import group


def generate(out: str, learners: int, year: str, seed: int) -> dict[str, Any]:
    """Child process: write the files; seconds, sizes and peak RSS."""
    import resource

    from core.periods import AcademicYear
    from synth.ilr_bench import write_bench_files

    started, cpu = time.perf_counter(), time.process_time()
    files = write_bench_files(Path(out), learners, AcademicYear.parse(year), seed)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "files": len(files.files),
        "learners": files.learners,
        "deliveries": files.deliveries,
        "bytes": files.bytes,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def read(out: str, year: str) -> dict[str, Any]:
    """Child process: read every file with XmlReader (the ilr spec's layout); rows per table."""
    import resource

    from ingest.spec import load_spec
    from ingest.xml_source import XmlReader, xml_layout

    layout = xml_layout(load_spec("ilr").for_year(year), year)
    rows: dict[str, int] = {}
    rejects = 0
    started, cpu = time.perf_counter(), time.process_time()
    for path in sorted(Path(out).rglob("*.xml")):
        reader = XmlReader(path, path.name, layout)
        for table, batch in reader.batches():
            rows[table] = rows.get(table, 0) + batch.num_rows
        rejects += sum(len(r) for r in reader.rejects.values())
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "rows": rows,
        "rejected": rejects,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "npd.commands.bench_ilr", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"bench child {args[0]} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(learners: int, year: str, seed: int, work: Path) -> dict[str, Any]:
    """Generate then read; the figures as one JSON-safe dict."""
    made = _child("generate", str(work), str(learners), year, str(seed))
    got = _child("read", str(work), year)
    total_rows = sum(got["rows"].values())
    seconds = max(got["seconds"], 1e-9)
    return {
        "benchmark": "ilr",
        "learners": learners,
        "academic_year": year,
        "seed": seed,
        "generate": made,
        "read": got,
        "throughput": {
            "learners_per_s": round(got["rows"].get("learner", 0) / seconds),
            "rows_per_s": round(total_rows / seconds),
            "mb_per_s": round(made["bytes"] / 1e6 / seconds, 2),
        },
        "machine": {"cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1)},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def register(app: typer.Typer) -> None:
    bench = group(app, "bench", "Benchmarks that print measured figures (never timed tests).")

    @bench.command("ilr")
    def ilr(
        learners: Annotated[int, typer.Option(help="Learners to generate")] = 1_500_000,
        year: Annotated[str, typer.Option(help="Academic year (schema and namespace)")] = "2024/25",
        seed: Annotated[int, typer.Option(help="Random seed")] = 2024,
        work: Annotated[
            Path | None, typer.Option(help="Where to write the files (default: a temp folder)")
        ] = None,
        keep: Annotated[bool, typer.Option(help="Keep the generated files")] = False,
        results: Annotated[
            Path | None,
            typer.Option(help="Folder for the JSON figures (default: var/reports/bench)"),
        ] = None,
    ) -> None:
        """Write LEARNERS learners as provider ILR files (streaming), read them with the
        streaming XML reader, and print learners/s, rows/s, MB/s and each step's peak RSS."""
        from core.config import Settings

        settings = Settings.from_env()
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        folder = work or Path(tempfile.mkdtemp(prefix="npd-bench-ilr-", dir=settings.tmp_dir))
        folder.mkdir(parents=True, exist_ok=True)
        try:
            typer.echo(f"ILR benchmark: {learners:,} learners, {year}, seed {seed}, in {folder}")
            figures = run(learners, year, seed, folder)
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
        g, r, t = figures["generate"], figures["read"], figures["throughput"]
        typer.echo(
            f"generate: {g['files']:,} files, {g['bytes'] / 1e6:,.0f} MB, {g['learners']:,} "
            f"learners, {g['deliveries']:,} deliveries in {g['seconds']:.1f} s "
            f"({g['cpu_seconds']:.0f} CPU s), peak RSS {g['peak_rss_mb']:,} MB"
        )
        rows = ", ".join(f"{k} {v:,}" for k, v in sorted(r["rows"].items()))
        typer.echo(
            f"read: {rows} ({r['rejected']} rejected) in {r['seconds']:.1f} s "
            f"({r['cpu_seconds']:.0f} CPU s), peak RSS {r['peak_rss_mb']:,} MB"
        )
        typer.echo(
            f"throughput: {t['learners_per_s']:,} learners/s, {t['rows_per_s']:,} rows/s, "
            f"{t['mb_per_s']:.1f} MB/s (load average {figures['machine']['load_average']} "
            f"on {figures['machine']['cores']} cores)"
        )
        out = results or settings.reports_dir / "bench"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"ilr-{learners}.json"
        path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"figures written to {path}")


if __name__ == "__main__":  # the child processes: generate | read
    step, *rest = sys.argv[1:]
    if step == "generate":
        result = generate(rest[0], int(rest[1]), rest[2], int(rest[3]))
    else:
        result = read(rest[0], rest[1])
    print(json.dumps(result))
