"""The catalogue: complete, consistent with its vocabulary, and the only way into the warehouse."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlalchemy as sa

from warehouse.engine import ensure_schema, open_engine
from warehouse_schema.catalogue import (
    UncataloguedColumnError,
    conform,
    load_catalogue,
)


def test_every_column_is_fully_described() -> None:
    cat = load_catalogue()
    vocab = cat.vocabulary
    assert len(cat.columns()) > 100
    for col in cat.columns():
        assert col.tier in (1, 2, 3, 4), col
        assert col.sensitivity in vocab["sensitivity"], col
        assert col.purposes and all(p in vocab["purposes"] for p in col.purposes), col
        assert col.description and col.source, col


def test_no_column_serves_a_purpose_that_is_never_lawful() -> None:
    cat = load_catalogue()
    never = {p for p, v in cat.vocabulary["purposes"].items() if v.get("never")}
    assert never == {"immigration_enforcement", "law_enforcement", "commercial"}
    assert not any(set(c.purposes) & never for c in cat.columns())


def test_research_tables_hold_no_direct_identifiers() -> None:
    for table in load_catalogue().tables.values():
        if table.schema == "research":
            assert all(c.sensitivity != "identifying" for c in table.columns), table.key
            assert "pupil_pseudonym" in table.column_names


def test_identity_items_of_dmap_annex_b_are_tier_1() -> None:
    record = load_catalogue().table("identity.record_identity")
    for name in ("upn", "former_upn", "uln", "surname", "forename", "dob", "postcode"):
        assert record.column(name).tier == 1
        assert record.column(name).sensitivity == "identifying"


def test_loading_an_uncatalogued_column_fails_naming_it() -> None:
    table = load_catalogue().table("research.ks2_result")
    data = pa.table({"academic_year": ["2023/24"], "shoe_size": [5]})
    with pytest.raises(
        UncataloguedColumnError, match=r"research.ks2_result: column\(s\) shoe_size"
    ):
        conform(table, data)


def test_conform_casts_to_catalogue_types_in_catalogue_order() -> None:
    table = load_catalogue().table("research.ks2_result")
    out = conform(
        table, pa.table({"read_score": pa.array([101], pa.int64()), "academic_year": ["2023/24"]})
    )
    assert out.column_names == table.column_names
    assert out.schema.field("read_score").type == pa.int16()


@pytest.mark.parametrize("store", ["warehouse", "identity"])
def test_ddl_derived_from_the_catalogue_covers_every_column(store: str, tmp_path) -> None:
    cat = load_catalogue()
    with open_engine(f"duckdb:///{tmp_path}/{store}_db.duckdb") as engine, engine.begin() as conn:
        ensure_schema(conn, store)
        rows = conn.execute(
            sa.text(
                "SELECT table_schema || '.' || table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema NOT IN ('main', 'information_schema', 'pg_catalog')"
            )
        ).fetchall()
    in_db = {(t, c) for t, c, _ in rows}
    in_catalogue = {(t.key, c.name) for t in cat.tables_in(store) for c in t.columns}
    assert in_db == in_catalogue


def test_a_description_split_by_an_unquoted_comma_is_refused(monkeypatch) -> None:
    import warehouse_schema.catalogue as catalogue

    broken = {
        "tables": {
            "research.x": {
                "store": "warehouse",
                "columns": {
                    "c": {
                        "type": "string",
                        "tier": 4,
                        "sensitivity": "none",
                        "purposes": ["research"],
                        "minimisation": "none",
                        "source": "s",
                        "description": "How (upn",
                        "former_upn": None,
                    }
                },
            }
        }
    }
    monkeypatch.setattr(catalogue, "_catalogue_files", lambda: [("x.yml", broken)])
    catalogue.load_catalogue.cache_clear()
    try:
        with pytest.raises(
            catalogue.CatalogueError, match=r"research.x.c: unknown field\(s\) \['former_upn'\]"
        ):
            catalogue.load_catalogue()
    finally:
        catalogue.load_catalogue.cache_clear()
