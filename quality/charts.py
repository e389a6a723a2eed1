"""The dashboard's charts as Vega-Lite specs, built with Altair from published figures only.

Each function takes a small frame (one row per feed, LA and period at most) and returns a
JSON-ready spec; the page embeds it with the vendored vega-embed. Rates are shares (0..1)
rounded to 0.1 percentage point; a suppressed figure has no value and shows `c`.

Charts name their data, and the values join the spec after Altair has built and validated
it: validating every value would cost more than the rest of the build, and a chart shape
(same encodings, different data, e.g. on every LA page) is built by Altair only once.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import altair as alt
import pandas as pd

Spec = dict[str, Any]

WIDTH = 520
PANEL_WIDTH = 420
TREND_HEIGHT = 180
DATASET = "figures"
NAMED = alt.NamedData(name=DATASET)
SCALES = {
    # Red below the flag threshold (99%), amber near it, green at 100%.
    "rate": alt.Scale(domain=[0.9, 0.99, 1.0], range=["#b91c1c", "#f2c14e", "#2e8540"], clamp=True),
    # Shares with no good or bad direction (e.g. completeness of optional fields).
    "share": alt.Scale(scheme="blues", domain=[0.0, 1.0]),
    # Green at none quarantined, red from 1% (the flag threshold).
    "quarantine": alt.Scale(
        domain=[0.0, 0.005, 0.01], range=["#2e8540", "#f2c14e", "#b91c1c"], clamp=True
    ),
}


def _with_values(template: Spec, frame: pd.DataFrame, columns: list[str]) -> Spec:
    """The template with the frame's records as its data (NaN and NA as null)."""
    values = json.loads(frame[columns].to_json(orient="records"))
    return {**template, "datasets": {DATASET: values}}


def _finish(chart: alt.TopLevelMixin) -> Spec:
    """The spec, unvalidated: Altair's JSON-schema pass costs seconds per build; the browser
    test renders every chart kind in Vega instead, which is the check that matters."""
    return chart.configure_view(stroke=None).to_dict(validate=False)


def _x_period(periods: tuple[str, ...]) -> alt.X:
    return alt.X("period:O", sort=list(periods), title=None, axis=alt.Axis(labelAngle=-40))


@lru_cache(maxsize=256)
def _trend(
    value: str, title: str, periods: tuple[str, ...], rate: bool, colour: str, display: str | None
) -> Spec:
    # Shares where more is better run up to 100%, so a 0.1 point wobble looks like one;
    # shares of trouble (quarantine) start at zero.
    if rate and value != "quarantine_rate":
        y_scale = alt.Scale(zero=False, domainMax=1)
    else:
        y_scale = alt.Scale(zero=True)
    y_axis = alt.Axis(format=".3~%", tickCount=5) if rate else alt.Axis(format=",d")
    shown = (
        alt.Tooltip(f"{display}:N", title=title)
        if display
        else alt.Tooltip(f"{value}:Q", title=title, format=".1%" if rate else ",d")
    )
    x = _x_period(periods)
    colour_enc = alt.Color(f"{colour}:N", title=None, legend=alt.Legend(orient="bottom"))
    lines = (
        alt.Chart()
        .mark_line(point=alt.OverlayMarkDef(size=50), invalid="break-paths-filter-domains")
        .encode(
            x=x,
            y=alt.Y(f"{value}:Q", title=None, axis=y_axis, scale=y_scale),
            color=colour_enc,
            tooltip=[alt.Tooltip(f"{colour}:N", title="feed"), alt.Tooltip("period:O"), shown],
        )
    )
    # A suppressed figure has no point: mark its period with a `c` on the axis instead.
    hidden = (
        alt.Chart()
        .transform_filter(f"!isValid(datum['{value}'])")
        .mark_text(text="c", fontWeight="bold", dy=-6)
        .encode(
            x=x,
            y=alt.value(TREND_HEIGHT),
            color=colour_enc,
            tooltip=[alt.Tooltip(f"{colour}:N", title="feed"), alt.Tooltip("period:O")],
        )
    )
    chart = alt.layer(lines, hidden, data=NAMED, title=title).properties(
        width=WIDTH, height=TREND_HEIGHT
    )
    return _finish(chart)


def trend_lines(
    frame: pd.DataFrame,
    value: str,
    title: str,
    periods: list[str],
    *,
    rate: bool = True,
    colour: str = "feed_label",
    display: str | None = None,
) -> Spec:
    """A value per period, one line per feed; rates as percentages, gaps where suppressed."""
    columns = list(dict.fromkeys([colour, "period", value, *([display] if display else [])]))
    template = _trend(value, title, tuple(periods), rate, colour, display)
    return _with_values(template, frame, columns)


@lru_cache(maxsize=256)
def _bars(title: str, periods: tuple[str, ...], panels: tuple[str, ...] | None) -> Spec:
    def bars(panel: str | None) -> alt.Chart:
        chart = alt.Chart(NAMED, title=panel or alt.Undefined)
        if panel is not None:
            chart = chart.transform_filter(alt.datum.feed_label == panel)
        return (
            chart.mark_bar(color="#2b6cb0")
            .encode(
                x=_x_period(periods),
                y=alt.Y("records:Q", title=None, axis=alt.Axis(format=",d")),
                tooltip=[
                    alt.Tooltip("feed_label:N", title="feed"),
                    alt.Tooltip("period:O"),
                    alt.Tooltip("records_display:N", title="records"),
                ],
            )
            .properties(width=PANEL_WIDTH if panels else WIDTH, height=90 if panels else 110)
        )

    if panels:
        chart = alt.concat(*(bars(p) for p in panels), columns=2, title=title)
    else:
        chart = bars(None).properties(title=title)
    return _finish(chart)


def count_bars(frame: pd.DataFrame, title: str, periods: list[str], per_feed: bool) -> Spec:
    """Records per period (published counts); per_feed: one panel (and scale) per feed."""
    columns = ["feed_label", "period", "records", "records_display"]
    panels = tuple(dict.fromkeys(frame["feed_label"])) if per_feed else None
    return _with_values(_bars(title, tuple(periods), panels), frame, columns)


@lru_cache(maxsize=256)
def _heatmap(
    x: str,
    y: str,
    value: str,
    label: str,
    title: str,
    x_sort: tuple[str, ...],
    y_sort: tuple[str, ...] | None,
    facet: str | None,
    panels: tuple[str, ...] | None,
    panel_columns: int,
    tooltip: tuple[tuple[str, str | None], ...],
    cell_width: int,
    scale: str,
) -> Spec:
    x_enc = alt.X(
        f"{x}:O", sort=list(x_sort), title=None, axis=alt.Axis(labelAngle=-40, orient="top")
    )
    y_enc = alt.Y(f"{y}:N", sort=list(y_sort) if y_sort else "ascending", title=None)
    tips = [alt.Tooltip(f"{y}:N"), alt.Tooltip(f"{x}:O"), alt.Tooltip(f"{label}:N", title=title)]
    tips += [alt.Tooltip(f"{c}:N", title=t) if t else alt.Tooltip(f"{c}:N") for c, t in tooltip]
    rect = (
        alt.Chart()
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=x_enc,
            y=y_enc,
            color=alt.condition(
                f"isValid(datum['{value}'])",
                alt.Color(
                    f"{value}:Q", scale=SCALES[scale], title=None, legend=alt.Legend(format=".1%")
                ),
                alt.value("#d9d9d9"),
            ),
            tooltip=tips,
        )
    )
    ink = (
        alt.condition(f"datum['{value}'] > 0.6", alt.value("white"), alt.value("#111"))
        if scale == "share"
        else alt.value("#111")
    )
    text = (
        alt.Chart()
        .mark_text(fontSize=9)
        .encode(x=x_enc, y=y_enc, text=alt.Text(f"{label}:N"), color=ink)
    )

    def panel(name: str | None) -> alt.LayerChart:
        layered = alt.layer(rect, text, data=NAMED)
        if name is not None:
            layered = layered.transform_filter(alt.datum[facet] == name).properties(title=name)
        return layered.properties(width=cell_width * max(len(x_sort), 1), height=alt.Step(16))

    if panels:
        chart = alt.concat(
            *(panel(p) for p in panels), columns=panel_columns, title=title
        ).resolve_scale(color="shared")
    else:
        chart = panel(None).properties(title=title)
    return _finish(chart)


def heatmap(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    value: str,
    label: str,
    title: str,
    x_sort: list[str],
    y_sort: list[str] | None = None,
    facet: str | None = None,
    tooltip: list[str | tuple[str, str]] | None = None,
    cell_width: int = 34,
    scale: str = "rate",
    panel_columns: int = 1,
) -> Spec:
    """Rates in cells (by default red below 99%, green at 100%), each cell labelled; grey
    where suppressed (`c`) or not measured. With facet, one panel per value of that column
    (in the frame's order), `panel_columns` to a row. Tooltip items: a column, or a column
    and its title."""
    extra = tuple((t, None) if isinstance(t, str) else (t[0], t[1]) for t in tooltip or ())
    fields = [c for c, _ in extra]
    columns = list(dict.fromkeys([x, y, value, label, *fields, *([facet] if facet else [])]))
    template = _heatmap(
        x,
        y,
        value,
        label,
        title,
        tuple(x_sort),
        tuple(y_sort) if y_sort else None,
        facet,
        tuple(dict.fromkeys(frame[facet])) if facet else None,
        panel_columns,
        extra,
        cell_width,
        scale,
    )
    return _with_values(template, frame, columns)
