"""Extracts from the PostgreSQL warehouse: refusals, recipient pseudonyms, objections and
disclosure control, on the generated population."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa

from governance import objections, releases
from governance.disclosure import TOTAL, DisclosurePolicy, recoverable, with_margins
from governance.extract import (
    ExtractRefused,
    ExtractRequest,
    check,
    extract,
    recipient_id,
    standard_extracts,
)
from governance.pseudonymise import derived_key, pseudonym
from tests.access.conftest import KEY, PgRun, connect
from warehouse_schema.catalogue import load_catalogue

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CAT = load_catalogue()
FUTURE = dt.date.today() + dt.timedelta(days=365)
KS2 = "research.ks2_result"


def request(**kw) -> ExtractRequest:
    base = {"recipient": "University of Somewhere", "purpose": "research", "tier": 4}
    return ExtractRequest(**{**base, "destroy_by": FUTURE, **kw})


def _pseudonyms(path: Path) -> set[str]:
    return set(pacsv.read_csv(path).column("pupil_pseudonym").to_pylist())


def _warehouse_pseudonyms(run: PgRun, table: str = KS2) -> set[str]:
    with connect(run.db.url).connect() as conn:
        return set(
            conn.execute(
                sa.text(f"SELECT pupil_pseudonym FROM {table} WHERE pupil_pseudonym IS NOT NULL")
            ).scalars()
        )


def _register_size(run: PgRun) -> int:
    with connect(run.db.url).connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {releases.REGISTER}")).scalar_one()


def _recipient_pseudonym(recipient: str, warehouse_pseudonym: str) -> str:
    key = derived_key(bytes.fromhex(KEY), f"recipient:{recipient_id(recipient)}")
    return hmac.new(key, f"recipient:{warehouse_pseudonym}".encode(), hashlib.sha256).hexdigest()


# ---- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["immigration_enforcement", "law_enforcement", "commercial"])
def test_never_purposes_are_refused_for_every_column_whatever_the_tier(purpose: str) -> None:
    columns = ("census_pupil.la_code", "census_pupil.ethnicity", "ks2_result.read_score")
    with pytest.raises(ExtractRefused) as refused:
        check(request(purpose=purpose, tier=1, columns=columns))
    label = CAT.vocabulary["purposes"][purpose]["label"].lower()
    assert refused.value.reasons == [
        f"research.{c}: never released for {label}, whatever the tier" for c in columns
    ]


def test_each_column_above_the_tier_or_outside_the_purpose_is_refused_by_name() -> None:
    """Every research column in the catalogue (feeds added later too) against one request."""
    columns = [
        f"{t.key}.{c.name}"
        for t in CAT.tables.values()
        if t.schema == "research"
        for c in t.columns
    ]
    with pytest.raises(ExtractRefused) as refused:
        check(request(purpose="funding", tier=2, columns=tuple(columns)))
    reasons = refused.value.reasons
    for table in (t for t in CAT.tables.values() if t.schema == "research"):
        for col in table.columns:
            key = f"{table.key}.{col.name}"
            mine = [r for r in reasons if r.startswith(f"{key}:")]
            expected = []
            if "funding" not in col.purposes:
                expected.append(
                    f"{key}: its lawful purposes are {', '.join(col.purposes)}; funding is not one"
                )
            if col.tier < 2:
                expected.append(
                    f"{key}: tier {col.tier}, above the tier 2 approval (a tier 2 approval reaches tiers 2..4)"
                )
            assert mine == expected, key
    assert any("ethnicity:" in r for r in reasons) and not any("read_score" in r for r in reasons)


def test_identifiers_audit_unknown_columns_and_past_dates_are_refused() -> None:
    with pytest.raises(ExtractRefused) as refused:
        check(
            request(
                tier=1,
                destroy_by=dt.date.today(),
                columns=(
                    "identity.record_identity.upn",
                    "audit.release_register.recipient",
                    "ks2_result.shoe_size",
                ),
            )
        )
    assert refused.value.reasons == [
        "the destruction date must be in the future",
        "identity.record_identity.upn: direct identifiers never leave the identity store",
        "audit.release_register.recipient: only research tables are released (audit is not one)",
        "ks2_result.shoe_size: research.ks2_result has no column 'shoe_size'",
    ]


def test_a_refused_extract_releases_nothing(pg_env: PgRun, tmp_path: Path) -> None:
    before = _register_size(pg_env)
    with pytest.raises(ExtractRefused, match=r"census_pupil\.ethnicity: tier 1"):
        extract(
            request(columns=("ks2_result.read_score", "census_pupil.ethnicity")), out_dir=tmp_path
        )
    assert list(tmp_path.iterdir()) == []
    assert _register_size(pg_env) == before


# ---- recipient pseudonyms ---------------------------------------------------------------


def test_each_recipient_gets_its_own_pseudonyms(pg_env: PgRun, tmp_path: Path) -> None:
    warehouse = _warehouse_pseudonyms(pg_env)
    a = extract(
        request(recipient="University A", standard="ks2_attainment_tier4"), out_dir=tmp_path
    )
    b = extract(
        request(recipient="Think Tank B", standard="ks2_attainment_tier4"), out_dir=tmp_path
    )
    seen_a = _pseudonyms(a.folder / "ks2_result.csv")
    seen_b = _pseudonyms(b.folder / "ks2_result.csv")
    assert len(seen_a) == len(seen_b) == len(warehouse) > 30
    assert seen_a.isdisjoint(seen_b)  # the two files cannot be joined
    assert seen_a.isdisjoint(warehouse) and seen_b.isdisjoint(warehouse)
    # a keyed transform of the warehouse pseudonym under a key derived for the recipient
    assert seen_a == {_recipient_pseudonym("University A", p) for p in warehouse}
    # the same recipient, however its name is typed, can link its own releases
    again = extract(
        request(recipient="  university   a ", standard="ks2_attainment_tier4"), out_dir=tmp_path
    )
    assert _pseudonyms(again.folder / "ks2_result.csv") == seen_a
    header = pacsv.read_csv(a.folder / "ks2_result.csv").column_names
    assert header == standard_extracts()["ks2_attainment_tier4"]["tables"][KS2]
    assert a.entry["columns"] == ",".join(f"{KS2}.{c}" for c in header)


# ---- objections -------------------------------------------------------------------------


def _ks2_children(run: PgRun, n: int) -> list[int]:
    with connect(run.db.url).connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT person_id FROM identity.record_identity "
                    "WHERE feed = 'ks2' AND person_id IS NOT NULL ORDER BY person_id LIMIT :n"
                ),
                {"n": n},
            ).scalars()
        )


def _object(run: PgRun, people: list[int], purpose: str, action: str) -> None:
    with connect(run.db.url).begin() as conn:
        for person in people:
            objections.record(conn, person, purpose, action, "test")


def test_children_whose_families_object_are_left_out_and_counted(
    pg_env: PgRun, tmp_path: Path
) -> None:
    people = _ks2_children(pg_env, 3)
    key = bytes.fromhex(KEY)
    objecting = {pseudonym(key, p) for p in people}
    warehouse = _warehouse_pseudonyms(pg_env)
    assert objecting <= warehouse
    wanted = request(
        recipient="Inspectorate", purpose="accountability", standard="ks2_attainment_tier4"
    )
    _object(pg_env, people, "accountability", "objected")
    try:
        out = extract(wanted, out_dir=tmp_path)
        assert out.children_left_out == 3 and out.entry["children_left_out"] == 3
        expected = {_recipient_pseudonym("Inspectorate", p) for p in warehouse - objecting}
        assert _pseudonyms(out.folder / "ks2_result.csv") == expected
        # an objection is to one class of use: research still sees them
        other = extract(
            request(recipient="Inspectorate", standard="ks2_attainment_tier4"), out_dir=tmp_path
        )
        assert other.children_left_out == 0
        assert len(_pseudonyms(other.folder / "ks2_result.csv")) == len(warehouse)
        with connect(pg_env.db.url).connect() as conn:
            assert objections.counts(conn)["accountability"] == 3
    finally:
        _object(pg_env, people, "accountability", "withdrawn")
    back = extract(wanted, out_dir=tmp_path)
    assert back.children_left_out == 0
    assert len(_pseudonyms(back.folder / "ks2_result.csv")) == len(warehouse)


# ---- disclosure control -----------------------------------------------------------------


def _truth(run: PgRun, dims: list[str]) -> pd.DataFrame:
    cols = ", ".join(dims)
    with connect(run.db.url).connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT {cols}, count(DISTINCT pupil_pseudonym) AS children FROM research.census_pupil "
                f"WHERE pupil_pseudonym IS NOT NULL GROUP BY {cols}"
            )
        ).fetchall()
    frame = pd.DataFrame(rows, columns=[*dims, "children"])
    for dim in dims:
        frame[dim] = frame[dim].astype(str)
    return frame


def _naive_threshold(truth: pd.DataFrame, dims: list[str]) -> int:
    """A threshold at which hiding only the small counts would let totals give them away."""
    table = with_margins(truth, "children", dims)
    for threshold in range(3, 40):
        counts = table["children"].to_numpy()
        primary = (counts > 0) & (counts < threshold)
        if primary.any() and recoverable(table, dims, primary):
            return threshold
    raise AssertionError("the generated population gave no case where naive suppression leaks")


def _published(path: Path, dims: list[str]) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)[[*dims, "children"]]


def test_aggregates_hide_small_counts_so_that_no_total_gives_them_away(
    pg_env: PgRun, tmp_path: Path
) -> None:
    dims = ["census_term", "la_code", "sex"]
    truth = _truth(pg_env, dims)
    threshold = _naive_threshold(truth, dims)
    out = extract(
        request(
            recipient="Local authority analysts",
            purpose="official_statistics",
            aggregate_by=tuple(f"census_pupil.{d}" for d in dims),
            policy=DisclosurePolicy(threshold=threshold),
        ),
        out_dir=tmp_path,
    )
    published = _published(out.folder / "census_pupil_counts.csv", dims)
    expected = with_margins(truth, "children", dims).astype({"children": int})
    merged = published.merge(expected, on=dims, suffixes=("", "_true"), validate="one_to_one")
    assert len(merged) == len(expected) == out.row_count
    hidden = (merged["children"] == "c").to_numpy()
    shown = merged[~hidden]
    assert (shown["children"].astype(int) == shown["children_true"]).all()  # nothing altered
    true = merged["children_true"].to_numpy()
    assert not ((true > 0) & (true < threshold) & ~hidden).any()  # every small count hidden
    assert hidden.sum() > ((true > 0) & (true < threshold)).sum()  # and more, to protect them
    assert recoverable(merged, dims, hidden) == []  # none recoverable from any total
    grand = merged[(merged[dims] == TOTAL).all(axis=1)]
    assert grand["children"].tolist() == [str(truth["children"].sum())]
    assert out.entry["kind"] == "aggregate"


def test_aggregates_round_where_configured(pg_env: PgRun, tmp_path: Path) -> None:
    out = extract(
        request(
            recipient="Statistics office",
            purpose="official_statistics",
            aggregate_by=("census_pupil.census_term", "census_pupil.sex"),
            policy=DisclosurePolicy(threshold=5, rounding_base=5),
        ),
        out_dir=tmp_path,
    )
    published = _published(out.folder / "census_pupil_counts.csv", ["census_term", "sex"])
    values = published.loc[published["children"] != "c", "children"].astype(int).to_numpy()
    assert len(values) and (np.mod(values, 5) == 0).all()


def test_an_aggregate_may_not_count_by_pseudonym_or_mix_tables() -> None:
    with pytest.raises(ExtractRefused, match="a pseudonym cannot be a dimension"):
        check(request(aggregate_by=("census_pupil.pupil_pseudonym", "census_pupil.sex")))
    with pytest.raises(ExtractRefused, match="one table"):
        check(request(aggregate_by=("census_pupil.sex", "ks2_result.sex")))


# ---- the register entry -----------------------------------------------------------------


def test_every_release_is_registered_with_its_files_checksum(pg_env: PgRun, tmp_path: Path) -> None:
    out = extract(
        request(
            recipient="Checksum Ltd",
            columns=("ks2_result.pupil_pseudonym", "ks2_result.read_score"),
        ),
        out_dir=tmp_path,
    )
    path = out.folder / "ks2_result.csv"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    rows = len(path.read_text().splitlines()) - 1
    entry = out.entry
    assert entry["files"] == f"ks2_result.csv:{rows}:{sha}"
    assert entry["row_count"] == rows and entry["tier"] == 4 and entry["purpose"] == "research"
    assert entry["columns"] == f"{KS2}.pupil_pseudonym,{KS2}.read_score"
    assert entry["destroy_by"] == FUTURE and entry["recipient"] == "Checksum Ltd"
    with connect(pg_env.db.url).connect() as conn:
        members = conn.execute(
            sa.text(f"SELECT count(*) FROM {releases.MEMBERS} WHERE release_id = :r"),
            {"r": out.release_id},
        ).scalar_one()
    assert members == rows
