"""A small HTML page builder: escaped text, tables, and chart slots whose Vega-Lite specs
are embedded in the page, so every page opens from disk with no server and no network."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

VENDOR = ("vendor/vega.min.js", "vendor/vega-lite.min.js", "vendor/vega-embed.min.js")


@dataclass(frozen=True)
class Raw:
    """HTML that is already safe (built here from escaped parts)."""

    markup: str


def esc(value: Any) -> str:
    if isinstance(value, Raw):
        return value.markup
    if value is None:
        return ""
    return html.escape(str(value))


def link(href: str, text: Any, cls: str | None = None) -> Raw:
    klass = f' class="{esc(cls)}"' if cls else ""
    return Raw(f'<a href="{esc(href)}"{klass}>{esc(text)}</a>')


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Cell:
    value: Any
    cls: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    title: str
    subtitle: str
    nav: list[Raw]
    static: str = "static"  # path from the page to the static folder
    parts: list[str] = field(default_factory=list)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _open_charts: bool = False

    def heading(self, text: str, level: int = 2, id_: str | None = None) -> None:
        self._close_charts()
        ident = f' id="{esc(id_)}"' if id_ else ""
        self.parts.append(f"<h{level}{ident}>{esc(text)}</h{level}>")

    def note(self, text: Any) -> None:
        self._close_charts()
        self.parts.append(f'<p class="note">{esc(text)}</p>')

    def raw(self, markup: str) -> None:
        self._close_charts()
        self.parts.append(markup)

    def chart(self, name: str, spec: dict[str, Any]) -> None:
        """A chart slot; consecutive charts sit side by side."""
        if name in self.specs:
            raise ValueError(f"chart {name!r} twice on the page {self.title!r}")
        if not self._open_charts:
            self.parts.append('<div class="charts">')
            self._open_charts = True
        self.specs[name] = spec
        self.parts.append(f'<div class="chart" data-chart="{esc(name)}"></div>')

    def table(self, headers: list[str], rows: list[list[Any]], cls: str | None = None) -> None:
        self._close_charts()
        klass = f' class="{esc(cls)}"' if cls else ""
        head = "".join(f"<th>{esc(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows)
        self.parts.append(
            f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def list(self, items: list[Any], cls: str = "reasons") -> None:
        self._close_charts()
        self.parts.append(
            f'<ul class="{esc(cls)}">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"
        )

    def _close_charts(self) -> None:
        if self._open_charts:
            self.parts.append("</div>")
            self._open_charts = False

    def render(self) -> str:
        self._close_charts()
        # JSON inside <script>: "</" would end the element early.
        specs = json.dumps(self.specs, separators=(",", ":")).replace("</", "<\\/")
        scripts = "".join(f'<script src="{esc(self.static)}/{src}"></script>' for src in VENDOR)
        nav = " ".join(esc(n) for n in self.nav)
        return (
            "<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(self.title)}</title>"
            '<link rel="icon" href="data:,">'
            f'<link rel="stylesheet" href="{esc(self.static)}/dashboard.css">'
            f"{scripts}</head><body>"
            f"<header><h1>{esc(self.title)}</h1><p>{esc(self.subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{''.join(self.parts)}</main>"
            f'<script type="application/json" id="chart-specs">{specs}</script>'
            f'<script src="{esc(self.static)}/dashboard.js"></script>'
            "</body></html>\n"
        )


def _td(cell: Any) -> str:
    if not isinstance(cell, Cell):
        cell = Cell(cell, "num" if isinstance(cell, int | float) else None)
    klass = f' class="{esc(cell.cls)}"' if cell.cls else ""
    attrs = "".join(f' {esc(k)}="{esc(v)}"' for k, v in cell.attrs.items())
    return f"<td{klass}{attrs}>{esc(cell.value)}</td>"
