"""The landing layout, file headers, determinism, and keeping the truth out of landing."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from synth_fixtures import PUPILS, SEED, YEARS, Generated

from core.periods import TERMS, year_range
from ingest.landing import annual_file_path, census_table_path
from ingest.spec import load_spec
from synth.annual import annual_writers
from synth.census import TABLES
from synth.generate import generate
from synth.names import SURNAMES


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_and_arguments_give_identical_bytes(tmp_path: Path) -> None:
    years = year_range("2024/25", "2024/25")
    for run in ("a", "b"):
        generate(
            tmp_path / run / "landing", tmp_path / run / "truth", 900, 5, years, las=[202, 330, 908]
        )
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(first) > 20
    assert first == second


def test_a_different_seed_gives_different_files(tmp_path: Path) -> None:
    years = year_range("2024/25", "2024/25")
    generate(tmp_path / "a" / "landing", tmp_path / "a" / "truth", 600, 5, years, las=[202])
    generate(tmp_path / "b" / "landing", tmp_path / "b" / "truth", 600, 6, years, las=[202])
    assert _digests(tmp_path / "a" / "landing") != _digests(tmp_path / "b" / "landing")


def test_every_return_has_every_table_at_the_layout_path(generated: Generated) -> None:
    expected = {
        census_table_path(generated.landing, year, term, la, table)
        for year in YEARS
        for term in TERMS
        for la in generated.summary.las
        for table in TABLES
    } | {
        path
        for w in annual_writers()
        for year in YEARS
        for path in (  # per-LA returns (CIN, SSDA903) say which files they write
            w.landing_files(generated.landing, year, generated.summary.las)
            if hasattr(w, "landing_files")
            else _provider_returns(generated, w.FEED, year)
            if hasattr(w, "file_count")
            else [annual_file_path(generated.landing, w.FEED, year)]
        )
    }
    written = {p for p in generated.landing.rglob("*") if p.is_file()}
    assert written == expected


def _provider_returns(generated: Generated, feed: str, year) -> list[Path]:
    """Returns per provider (the ILR), whose number depends on the run: each written file
    of the feed and year must sit in its UKPRN's folder under the ESFA's file name."""
    files = sorted((generated.landing / year.slug / feed).rglob("*"))
    files = [p for p in files if p.is_file()]
    code = f"{year.start % 100:02d}{(year.start + 1) % 100:02d}"
    for p in files:
        assert re.fullmatch(rf"ILR-{p.parent.name}-{code}-\d{{8}}-\d{{6}}-\d{{2}}\.xml", p.name), p
        assert re.fullmatch(r"\d{8}", p.parent.name), p
    assert files
    return files


@pytest.mark.parametrize("year", YEARS, ids=lambda y: y.slug)
def test_census_headers_are_the_specs_source_names_for_the_year(generated: Generated, year) -> None:
    for term in TERMS:
        spec = load_spec("school_census").for_year(year, term)
        for la in generated.summary.las:
            for table in TABLES:
                path = census_table_path(generated.landing, year, term, la, table)
                header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
                assert header == [f.source for f in spec.tables[table].fields], path
    header = (
        census_table_path(generated.landing, year, "spring", 330, "pupilonroll")
        .read_text()
        .split("\n", 1)[0]
    )
    if year.start < 2024:
        assert ",gender," in header and ",sex," not in header
    else:
        assert ",sex," in header and ",gender," not in header


def test_the_fsm_table_is_written_under_each_terms_export_name(generated: Generated) -> None:
    """COLLECT's autumn export names the FSM table (and its row-id columns) fsmperiodsonroll,
    spring's and summer's fsmperiod; the generator follows the spec, so the demo reads both."""
    for term, name in (("autumn", "fsmperiodsonroll"), ("spring", "fsmperiod")):
        folder = generated.landing / YEARS[1].slug / "school_census" / term
        files = sorted(folder.glob("LA*/*fsm*.csv"))
        assert files and all(p.name.endswith(f"_{term}_{name}.csv") for p in files), files
        header = files[0].read_text(encoding="utf-8").split("\n", 1)[0].split(",")
        assert header[:4] == [
            "pupilonrolltableid",
            "NativeId",
            f"{name}tableid",
            f"{name}orderseqcolumn",
        ]


@pytest.mark.parametrize("year", YEARS, ids=lambda y: y.slug)
def test_ks2_header_is_the_specs_source_names(generated: Generated, year) -> None:
    spec = load_spec("ks2").for_year(year)
    header = (
        annual_file_path(generated.landing, "ks2", year).read_text().split("\n", 1)[0].split(",")
    )
    assert header == [f.source for f in spec.tables["ks2"].fields]


def test_values_look_like_the_real_exports(generated: Generated) -> None:
    df = generated.csv(f"{YEARS[0].slug}/school_census/spring/LA886/2024_spring_pupilonroll.csv")
    assert df["dob"].str.fullmatch(r"\d{4}-[A-Z][a-z]{2}-\d{2} 00:00:00").all()
    assert set(df["schoollunchtaken"]) <= {"True", "False"}
    assert df["termlysessionspossible"].str.fullmatch(r"\d+\.0").all()
    assert df["pupilonrolltableid"].str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{3}").all()
    assert df["pupilonrolltableid"].is_unique
    assert df["NativeId"].str.fullmatch(r"SCH\d{4}").all()
    school = generated.csv(f"{YEARS[0].slug}/school_census/spring/LA886/2024_spring_school.csv")
    assert school["laestab"].str.fullmatch(r"886\d{4}").all()
    assert school["urn"].str.fullmatch(r"\d{6}").all()
    assert set(school["NativeId"]) >= set(df["NativeId"])
    assert set(school["phase"]) == {"Primary", "Secondary", "Special"}


def test_child_tables_join_to_pupils_within_their_return(generated: Generated) -> None:
    base = f"{YEARS[1].slug}/school_census/spring/LA330/2025_spring_"
    pupils = generated.csv(base + "pupilonroll.csv")
    ids = set(pupils["pupilonrolltableid"])
    for table in ("senneeds", "fsmperiod", "addressesonroll"):
        child = generated.csv(base + f"{table}.csv")
        assert len(child) > 0
        assert set(child["pupilonrolltableid"]) <= ids, table
    addresses = generated.csv(base + "addressesonroll.csv")
    assert len(addresses) == len(pupils) and addresses["pupilonrolltableid"].is_unique


def test_no_landing_file_carries_a_person_id(generated: Generated) -> None:
    for path in generated.landing.rglob("*.csv"):
        text = path.read_text(encoding="utf-8")
        assert "person_id" not in text.lower(), path
    assert not generated.truth.is_relative_to(generated.landing)


def test_truth_inside_landing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="truth"):
        generate(tmp_path / "landing", tmp_path / "landing" / "truth", 100, 1, YEARS[:1], las=[202])


def test_progress_is_reported_for_every_file(generated: Generated) -> None:
    done = [d for _, d, _ in generated.progress]
    total = {t for _, _, t in generated.progress}
    assert done == list(range(1, len(done) + 1))
    assert total == {len(done)}
    assert len(done) == len(generated.summary.files) + len(generated.summary.truth_files)


def test_summary_counts_rows_and_shows_no_identifiers(generated: Generated) -> None:
    summary = generated.summary
    for rel, rows in list(summary.files.items())[:30]:
        lines = (generated.landing / rel).read_text().count("\n")
        assert rows == lines - 1
    text = summary.describe()
    assert f"{PUPILS:,}" in text and f"seed {SEED}" in text
    assert "pupilonroll" in text and "timings" in text
    assert re.search(r"\b[A-Z]\d{11}[0-9A-Z]\b", text) is None  # no UPN
    assert re.search(r"\b\d{10}\b", text) is None  # no ULN
    assert not set(re.findall(r"[A-Za-z']+", text)) & set(SURNAMES[:100])  # no names
