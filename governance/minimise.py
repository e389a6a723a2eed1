"""Build a research table from linked records as the catalogue says: minimised, pseudonymised.

Each research column's `derive` rule in warehouse_schema/catalogue/ becomes one SQL expression.
Nothing here names a column: the catalogue is the only place that does.
"""

from __future__ import annotations

from core.duck import quote_ident
from governance.pseudonymise import sql_pseudonym
from warehouse_schema.catalogue import Table

POSTCODE = r"^[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}$"


def column_expr(rule: str | None, source: str, records: str = "r", key: str = "k") -> str:
    col = f"{records}.{quote_ident(source)}"
    if rule is None or rule == "from":
        return col
    if rule == "pseudonym":
        return sql_pseudonym(col, key)
    if rule == "year_of":
        return f"year({col})"
    if rule == "month_of":
        return f"month({col})"
    if rule == "postcode_district":
        return (
            f"(CASE WHEN regexp_full_match({col}, '{POSTCODE}') THEN split_part({col}, ' ', 1) END)"
        )
    raise ValueError(f"unknown derive rule {rule!r}")


def research_select(table: Table, records: str = "r", key: str = "k") -> str:
    """The SELECT list turning linked records into the research table's rows."""
    parts = []
    for col in table.columns:
        rule, source = col.derive if col.derive else (None, col.name)
        parts.append(f"{column_expr(rule, source, records, key)} AS {quote_ident(col.name)}")
    return ",\n       ".join(parts)
