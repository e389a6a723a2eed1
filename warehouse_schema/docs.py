"""The catalogue rendered for people: one Markdown table per warehouse table."""

from __future__ import annotations

from warehouse_schema.catalogue import Catalogue


def catalogue_markdown(cat: Catalogue) -> str:
    lines = [
        "# Column catalogue",
        "",
        "Generated from `warehouse_schema/catalogue/*.yml` by `npd catalogue --markdown`.",
        "",
    ]
    tiers = cat.vocabulary["tiers"]
    lines += ["## Tiers", ""] + [f"- **{t}**: {d}" for t, d in tiers.items()] + [""]
    lines += ["## Purposes", ""]
    for name, p in cat.vocabulary["purposes"].items():
        never = " (never served)" if p.get("never") else ""
        lines.append(
            f"- `{name}`{never}: {p['label']}" + (f" ({p['basis']})" if p.get("basis") else "")
        )
    lines.append("")
    for table in cat.tables.values():
        lines += [f"## `{table.key}` ({table.store})", "", table.description, ""]
        if table.partition_by:
            lines += [f"Partitioned by {', '.join(table.partition_by)}.", ""]
        lines += [
            "| column | type | tier | sensitivity | purposes | minimisation | source | description |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in table.columns:
            lines.append(
                f"| {c.name} | {c.type} | {c.tier} | {c.sensitivity} | {', '.join(c.purposes)} | "
                f"{c.minimisation} | {c.source} | {c.description} |"
            )
        lines.append("")
    return "\n".join(lines)
