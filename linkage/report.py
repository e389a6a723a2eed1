"""The linkage report: link rates by feed and method, the match weight distribution, the
review queue and the model, as one self-contained HTML page (var/reports/linkage/index.html).

Built only from aggregates of the identity store (counts by feed, period, method; weights
binned), so it holds no identifier and may sit beside the other reports. The charts are
Splink's own chart definitions, drawn by the vega libraries Splink ships (inlined once, so
the page works offline). Rebuilt after every link step and by `npd linkage report`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from linkage import model as fs
from linkage.decision import Thresholds
from linkage.probabilistic import LinkageConfig
from linkage.review import counts as review_counts

METHODS = ("upn", "former_upn", "uln", "la_child_id", "probabilistic", "clerical", "unlinked")
BIN = 1.0  # match weight bin width (bits)


@dataclass
class LinkageFigures:
    """Everything the page shows: counts only."""

    partitions: list[dict[str, Any]] = field(
        default_factory=list
    )  # feed, year, term, method, new, n
    weights: list[dict[str, Any]] = field(default_factory=list)  # outcome, bin_low, n
    no_candidate: int = 0
    queue: dict[str, int] = field(default_factory=dict)
    queue_reasons: dict[str, int] = field(default_factory=dict)
    persons: int = 0


def figures(conn: sa.Connection) -> LinkageFigures:
    """Aggregate the identity store (portable SQL: DuckDB or PostgreSQL)."""
    out = LinkageFigures()
    rows = conn.execute(
        sa.text(
            "SELECT feed, academic_year, term, link_method, new_person, count(*) "
            "FROM identity.record_identity GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
        )
    ).fetchall()
    out.partitions = [
        {
            "feed": r[0],
            "year": r[1],
            "term": r[2],
            "method": r[3],
            "new": bool(r[4]),
            "n": int(r[5]),
        }
        for r in rows
    ]
    decided = conn.execute(
        sa.text(
            "SELECT CASE outcome WHEN 'link' THEN 'linked' WHEN 'new' THEN 'new person' "
            "ELSE 'sent to review' END, weight_bin, sum(records) "
            "FROM identity.link_weights GROUP BY 1, 2"
        )
    ).fetchall()
    out.weights = [{"outcome": r[0], "bin_low": float(r[1]), "n": int(r[2])} for r in decided]
    out.no_candidate = int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM identity.record_identity "
                "WHERE link_method = 'probabilistic' AND new_person AND match_probability = 0"
            )
        ).scalar_one()
    )
    out.queue = review_counts(conn)
    out.persons = int(conn.execute(sa.text("SELECT count(*) FROM identity.person")).scalar_one())
    out.queue_reasons = {
        r[0]: int(r[1])
        for r in conn.execute(
            sa.text(
                "SELECT reason, count(*) FROM identity.clerical_review "
                "WHERE status = 'pending' GROUP BY reason"
            )
        ).fetchall()
    }
    return out


def _by_feed(
    parts: list[dict[str, Any]], keys: tuple[str, ...]
) -> list[tuple[tuple, dict[str, int]]]:
    table: dict[tuple, dict[str, int]] = {}
    for p in parts:
        row = table.setdefault(tuple(p[k] for k in keys), {"records": 0, "new": 0})
        row["records"] += p["n"]
        row[p["method"]] = row.get(p["method"], 0) + p["n"]
        row["new"] += p["n"] if p["new"] else 0
    return sorted(table.items(), key=lambda kv: tuple(str(v or "") for v in kv[0]))


def _rate_table(rows: list[tuple[tuple, dict[str, int]]], heads: tuple[str, ...]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in (*heads, "records", *METHODS, "new persons"))
    body = []
    for key, row in rows:
        n = row["records"] or 1
        cells = "".join(f"<td>{html.escape(str(k or ''))}</td>" for k in key)
        cells += f"<td class=n>{row['records']:,}</td>"
        for m in METHODS:
            v = row.get(m, 0)
            cells += (
                f"<td class=n>{v:,}<span>{100 * v / n:.2f}%</span></td>"
                if v
                else "<td class=n>-</td>"
            )
        cells += f"<td class=n>{row['new']:,}</td>"
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def _histogram_spec(weights: list[dict[str, Any]]) -> dict[str, Any]:
    from splink.internals.charts import MatchWeightsHistogramChart

    records = [
        {
            "splink_score_bin_low": w["bin_low"],
            "splink_score_bin_high": w["bin_low"] + BIN,
            "count_rows": w["n"],
            "outcome": w["outcome"],
        }
        for w in weights
    ]
    chart = MatchWeightsHistogramChart(records)
    chart.set_width_height(width=640, height=260)
    spec = chart.chart_dict
    spec["title"] = {
        "text": "Match weights of the fallback's decisions",
        "subtitle": "each record's best candidate: log2 of its posterior odds, as linked afresh",
    }
    spec["encoding"]["color"] = {"field": "outcome", "type": "nominal"}
    spec["encoding"]["tooltip"].insert(0, {"field": "outcome", "type": "nominal"})
    spec["encoding"]["y"]["axis"]["title"] = "Records"
    return spec


def _model_spec(model: fs.LinkageModel, persons: int) -> dict[str, Any]:
    """Splink's partial match weights chart; the prior bar is the one an index of today's
    size gives (at the trained match share)."""
    from splink import SettingsCreator

    prior = model.prior(persons, model.match_share)
    settings = SettingsCreator.from_path_or_dict(model.settings_for("duckdb", prior))
    return settings.get_settings("duckdb").match_weights_chart().chart_dict


def render(figures_: LinkageFigures, model: fs.LinkageModel | None, thresholds: Thresholds) -> str:
    from splink.internals.html_utils import json_for_html, load_chart_libraries

    libs = load_chart_libraries()
    specs = {"histogram": _histogram_spec(figures_.weights)}
    if model is not None:
        specs["model"] = _model_spec(model, figures_.persons)
    feeds = _rate_table(_by_feed(figures_.partitions, ("feed",)), ("feed",))
    periods = _rate_table(
        _by_feed(figures_.partitions, ("feed", "year", "term")), ("feed", "year", "term")
    )
    queue = ", ".join(f"{k} {v:,}" for k, v in sorted(figures_.queue.items())) or "empty"
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(figures_.queue_reasons.items()))
    model_line = (
        f"model <b>{html.escape(model.version)}</b>, trained {html.escape(str(model.meta.get('trained_at')))} "
        f"on {model.meta.get('labelled_pairs', 0):,} labelled pairs ({html.escape(str(model.meta.get('source', '')))})"
        if model
        else "no model trained yet"
    )
    scripts = "".join(f"<script>{src}</script>" for src in libs.values())
    embeds = "".join(
        f"vegaEmbed('#{name}', {json_for_html(spec)}, {{actions: false}});"
        for name, spec in specs.items()
    )
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Linkage report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; }}
th {{ background: #f2f2f2; }} td.n {{ text-align: right; }}
td span {{ display: block; color: #777; font-size: 0.8em; }}
.note {{ color: #555; max-width: 60em; }}
</style>{scripts}</head><body>
<h1>Linkage report</h1>
<p class=note>Generated {generated} from the identity store (counts only: no identifier appears here).
Every record is linked by UPN, former UPN or ULN where one is usable, otherwise by the
probabilistic (Fellegi-Sunter) fallback, or by a reviewer (clerical); unlinked records are
waiting for a review, or carry too little to link (no usable identifier, no name). {model_line}. Thresholds: link at or above
{thresholds.upper}, new person below {thresholds.lower}, review between
(and when the runner-up is within {thresholds.margin}).</p>
<h2>Link rates by feed</h2>{feeds}
<h2>Match weights</h2><div id=histogram></div>
<p class=note>{figures_.no_candidate:,} fallback record(s) became new persons without any candidate
sharing a blocking key (not shown). Review queue: {queue}{f" (pending by reason: {reasons})" if reasons else ""}.</p>
<h2>The model</h2>{"<div id=model></div>" if model else "<p>No model yet.</p>"}
<h2>Link rates by feed and period</h2>{periods}
<script>{embeds}</script>
</body></html>
"""


def write_report(settings: Any, conn: sa.Connection | None = None) -> Path:
    """Rebuild var/reports/linkage/index.html from the identity store."""
    from warehouse.engine import ensure_schema, open_engine

    config = LinkageConfig.from_env(settings.home)
    if conn is None:
        with open_engine(settings.identity_url) as engine, engine.begin() as c:
            ensure_schema(c, "identity")
            data = figures(c)
    else:
        data = figures(conn)
    try:
        model = fs.load(config.models_dir, config.model_pin)
    except FileNotFoundError:
        model = None
    out = settings.reports_dir / "linkage" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(render(data, model, config.thresholds), encoding="utf-8")
    os.replace(tmp, out)
    (out.parent / "figures.json").write_text(
        json.dumps(
            {
                "partitions": data.partitions,
                "weights": data.weights,
                "no_candidate": data.no_candidate,
                "queue": data.queue,
                "model": model.version if model else None,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return out
