"""Ground truth: every pupil row and KS2 row is covered once and joins by file and row."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
from synth_fixtures import YEARS, Generated, read_csv

from ingest.landing import annual_file_path
from synth.annual import annual_writers
from synth.defects import LABELS


def _all_truth(generated: Generated) -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_parquet(p)
            for p in sorted(generated.truth.rglob("*.parquet"))
            if p.name != "plants.parquet"
        ]
    )


def test_truth_files_are_one_per_feed_and_period(generated: Generated) -> None:
    names = {p.relative_to(generated.truth).as_posix() for p in generated.truth.rglob("*.parquet")}
    expected = {
        f"{y.slug}/school_census/{t}.parquet" for y in YEARS for t in ("autumn", "spring", "summer")
    }
    expected |= {f"{y.slug}/{w.FEED}/annual.parquet" for y in YEARS for w in annual_writers()}
    expected |= {"plants.parquet"}
    assert names == expected
    schema = pq.read_schema(generated.truth / YEARS[0].slug / "ks2" / "annual.parquet")
    assert schema.names == ["source_file", "source_row", "person_id", "defect"]
    assert str(schema.field("person_id").type) == "int64"
    assert str(schema.field("source_row").type) == "int64"


def _per_return(writer) -> bool:
    return hasattr(writer, "landing_files") or hasattr(writer, "file_count")


def test_truth_covers_every_pupil_and_ks2_row_exactly_once(generated: Generated) -> None:
    truth = _all_truth(generated)
    assert not truth.duplicated(["source_file", "source_row"]).any()
    assert set(truth["defect"]) <= set(LABELS)
    covered = truth.groupby("source_file")["source_row"].agg(["min", "max", "count"])
    # Per-LA and per-provider returns (CIN, SSDA903, ILR) key truth by record, not CSV line:
    # tests/feeds/children and tests/feeds/ilr.
    per_la = [f"/{w.FEED}/" for w in annual_writers() if _per_return(w)]
    covered = covered[[not any(feed in f"/{i}" for feed in per_la) for i in covered.index]]
    files = [
        *generated.landing.rglob("*_pupilonroll.csv"),
        *generated.landing.rglob("*_pupilnolongeronroll.csv"),
    ]
    files += [
        annual_file_path(generated.landing, w.FEED, y)
        for y in YEARS
        for w in annual_writers()
        if not _per_return(w)
    ]
    for path in files:
        rel = path.relative_to(generated.landing).as_posix()
        rows = len(read_csv(path))
        if rows == 0:
            assert rel not in covered.index
            continue
        assert tuple(covered.loc[rel]) == (2, rows + 1, rows), rel
    assert set(covered.index) == {
        p.relative_to(generated.landing).as_posix() for p in files if len(read_csv(p))
    }


def test_truth_joins_rows_to_the_same_person(census_records: pd.DataFrame) -> None:
    assert census_records["person_id"].notna().all()
    clean = census_records[census_records["defect"].isin(["none", "typo", "name_change"])]
    # A person keeps one DOB and sex; a valid UPN belongs to one person.
    sex = clean["gender"].fillna(clean["sex"])
    assert sex.isin(["M", "F"]).all()
    assert clean.groupby("person_id")["dob"].nunique().max() == 1
    assert sex.groupby(clean["person_id"]).nunique().max() == 1
    assert clean.groupby("upn")["person_id"].nunique().max() == 1
    # Within one return a person appears at most once per school.
    assert not census_records.duplicated(["source_file", "NativeId", "person_id"]).any()


def test_ks2_truth_joins_to_census_people(
    generated: Generated, census_records: pd.DataFrame
) -> None:
    year = YEARS[0]
    ks2 = read_csv(annual_file_path(generated.landing, "ks2", year))
    truth = generated.truth_table(year, "ks2", "annual").sort_values("source_row")
    assert len(truth) == len(ks2)
    ks2["person_id"] = truth["person_id"].to_numpy()
    ks2["defect"] = truth["defect"].to_numpy()
    summer = census_records[
        (census_records["year"] == year.start) & (census_records["term"] == "summer")
    ]
    y6 = summer[(summer["ncyearactual"] == "6") & (summer["enrolstatus"] != "S")]
    assert set(ks2["person_id"]) == set(y6["person_id"])
    clean = ks2[ks2["defect"] == "none"].merge(
        y6[y6["defect"] == "none"][["person_id", "upn", "surname", "forename"]],
        on="person_id",
        suffixes=("", "_c"),
    )
    assert len(clean) > 0.9 * len(ks2)
    assert (clean["UPN"] == clean["upn"]).all()
    assert (clean["SURNAME"] == clean["surname"]).all()
