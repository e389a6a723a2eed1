"""Backfill and reruns: three years from one command, a repeat that does nothing, a manifest
that says what was loaded from what, a corrupt file that blocks only its own partition, and a
corrected file that replaces exactly its partition with person ids kept."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from core.partition import Partition
from core.periods import AcademicYear
from linkage.master_index import MODEL_VERSION
from npd.backfill import backfill, dependents_of, rerun
from pipeline.manifest import held_load_id, latest
from tests.ops.conftest import FEEDS, YEARS, Reference, backfill_cmd, ops_env
from tests.ops.tables import checksums, partition_digest, scalar
from warehouse import audit

PARTITIONS = len(YEARS) * 4  # three census terms and KS2 a year
pytestmark = pytest.mark.slow  # each builds or changes a warehouse of three years


def test_three_years_backfill_from_one_command_with_progress_and_summary(
    reference: Reference,
) -> None:
    out = reference.output
    assert f"{PARTITIONS} partitions: {PARTITIONS} loaded, 0 skipped" in out
    assert "Backfill done" in out  # the progress bar's last state
    for label in ("2022/23 autumn", "2023/24 spring", "2024/25 summer"):
        assert label in out
    statuses = scalar(
        _settings(reference),
        "SELECT count(*) FROM audit.load_manifest WHERE outcome = 'loaded' AND run_by = 'backfill'",
    )
    assert statuses == PARTITIONS


def _settings(reference: Reference):
    from core.config import Settings

    return Settings.from_env(reference.home)


def test_a_second_backfill_does_nothing(loaded, npd_home) -> None:
    before = checksums(loaded)
    runs = scalar(loaded, "SELECT count(*) FROM audit.load_run")
    again = subprocess.run(
        backfill_cmd(), env=ops_env(npd_home), capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{PARTITIONS} partitions: 0 loaded, {PARTITIONS} skipped" in again.stdout
    assert checksums(loaded) == before
    assert scalar(loaded, "SELECT count(*) FROM audit.load_run") == runs  # not one step ran


def test_the_manifest_records_files_checksums_versions_and_outcome(loaded) -> None:
    rows = {(r["feed"], r["academic_year"], r["term"]): r for r in latest(loaded)}
    assert len(rows) == PARTITIONS
    census = rows[("school_census", "2023/24", "spring")]
    assert census["outcome"] == "loaded" and census["held"]
    assert census["code_version"] == scalar(
        loaded,
        "SELECT max(code_version) FROM audit.load_run WHERE feed = 'school_census' "
        "AND academic_year = '2023/24' AND term = 'spring'",
    )
    assert census["code_version"].startswith(audit.code_version().split("+")[0] + "+")
    assert MODEL_VERSION in census["model_version"].split(",")
    folder = loaded.landing_dir / "2023-24" / "school_census" / "spring"
    on_disk = {
        p.relative_to(loaded.landing_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }
    assert census["input_files"] == len(on_disk) > 8
    where = "feed = 'school_census' AND academic_year = '2023/24' AND term = 'spring'"
    recorded = scalar(
        loaded,
        f"SELECT map(list(source_file), list(sha256)) FROM audit.load_manifest_file WHERE {where}",
    )
    assert dict(recorded) == on_disk
    assert census["input_bytes"] == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_force_reloads_unchanged_inputs_to_the_same_warehouse(loaded) -> None:
    before = checksums(loaded)
    report = backfill(loaded, AcademicYear(2024), AcademicYear(2024), ["ks2"], force=True)
    assert [r.status for r in report.results] == ["loaded"]
    assert checksums(loaded) == before


def _corrupt(path) -> bytes:
    original = path.read_bytes()
    path.write_bytes(b"\xff\xfe\x00garbage\x00" + original[7:])  # header no longer text
    return original


def test_a_corrupt_file_blocks_only_its_own_partition(fresh, reference: Reference) -> None:
    first = YEARS[0]
    folder = fresh.landing_dir / first.slug / "school_census" / "spring"
    target = sorted(folder.rglob("*_pupilonroll.csv"))[0]
    original = _corrupt(target)
    report = backfill(fresh, first, first, FEEDS)
    outcome = {r.partition.label: r for r in report.results}
    blocked = outcome[f"school_census {first.label} spring"]
    assert blocked.status == "blocked" and not report.ok
    # A UTF-16 byte order mark over UTF-8 bytes: read as UTF-16, its header is no header
    assert target.name in blocked.message and "required column(s) missing" in blocked.message
    assert [r.status for r in report.results].count("loaded") == 3  # the others all loaded
    census, ref = "research.census_pupil", _settings(reference)
    assert partition_digest(fresh, census, first.label, "spring")[0] == 0
    assert partition_digest(fresh, census, first.label, "autumn") == partition_digest(
        ref, census, first.label, "autumn"
    )
    for table, term in ((census, "summer"), ("research.ks2_result", None)):
        rows = partition_digest(fresh, table, first.label, term)[0]
        assert rows == partition_digest(ref, table, first.label, term)[0] > 0
    (row,) = [
        r for r in latest(fresh) if (r["academic_year"], r["term"]) == (first.label, "spring")
    ]
    assert (row["outcome"], row["failed_step"], row["held"]) == ("blocked", "stage", False)

    target.write_bytes(original)  # the LA sends the file again
    again = backfill(fresh, first, first, FEEDS)
    assert [(r.partition.label, r.status) for r in again.results if r.status != "skipped"] == [
        (f"school_census {first.label} spring", "loaded")
    ]


def _mark_one_match_probabilistic(settings, load_id: str, year: str, term: str) -> None:
    """As the probabilistic linker would have: one record of a later partition matched (not by
    identifier) to a person the given load created."""
    import duckdb

    with duckdb.connect(settings.identity_url.removeprefix("duckdb:///")) as con:
        con.execute(
            "UPDATE identity.record_identity SET link_method = 'probabilistic' WHERE record_key = ("
            "  SELECT min(record_key) FROM identity.record_identity r"
            "  JOIN identity.person p ON p.person_id = r.person_id AND p.first_load_id = ?"
            "  WHERE r.academic_year = ? AND r.term = ?)",
            [load_id, year, term],
        )


def test_rerun_after_a_correction_replaces_that_partition_and_keeps_person_ids(loaded) -> None:
    partition = Partition.of("school_census", "2024/25", "autumn")
    census = "research.census_pupil"
    periods = [
        (y, t) for y in ("2022/23", "2023/24", "2024/25") for t in ("autumn", "spring", "summer")
    ]
    old = held_load_id(loaded, partition)
    assert dependents_of(loaded, partition, old) == []  # identifier links need no second look
    _mark_one_match_probabilistic(loaded, old, "2024/25", "summer")
    assert dependents_of(loaded, partition, old) == [
        Partition.of("school_census", "2024/25", "summer")
    ]
    before = checksums(loaded)
    parts = {p: partition_digest(loaded, census, *p) for p in periods}
    people = {p: _pseudonyms(loaded, *p) for p in periods}
    pupils = sorted(
        (loaded.landing_dir / "2024-25" / "school_census" / "autumn").rglob("*_pupilonroll.csv")
    )[0]
    lines = pupils.read_text(encoding="utf-8").splitlines(keepends=True)
    pupils.write_text("".join(lines[:-1]), encoding="utf-8")  # the corrected file drops a row

    report = rerun(loaded, partition)
    assert report.result.status == "loaded" and report.replaced_load_id == old
    assert held_load_id(loaded, partition) not in (None, old)
    assert [(d.partition.label, d.status) for d in report.dependents] == [
        ("school_census 2024/25 summer", "loaded")
    ]

    after = {p: partition_digest(loaded, census, *p) for p in periods}
    changed = {p for p in periods if after[p] != parts[p]}
    assert changed <= {("2024/25", "autumn"), ("2024/25", "summer")}  # the corrected and re-linked
    assert after[("2024/25", "autumn")][0] == parts[("2024/25", "autumn")][0] - 1
    # Every record of every other partition keeps its person, and so its pseudonym
    assert {p: _pseudonyms(loaded, *p) for p in periods if p != ("2024/25", "autumn")} == {
        p: people[p] for p in periods if p != ("2024/25", "autumn")
    }
    now = checksums(loaded)
    assert now["research.ks2_result"] == before["research.ks2_result"]
    assert now["identity.person"] == before["identity.person"]  # none renumbered, none added
    relinked = scalar(
        loaded,
        "SELECT run_by FROM audit.load_manifest WHERE academic_year = '2024/25' "
        "AND term = 'summer' ORDER BY finished_at DESC LIMIT 1",
    )
    assert relinked == "relink"


def _pseudonyms(settings, year: str, term: str) -> str:
    return scalar(
        settings,
        "SELECT md5(string_agg(pupil_pseudonym, ',' ORDER BY pupil_pseudonym)) "
        f"FROM research.census_pupil WHERE academic_year = '{year}' AND census_term = '{term}'",
    )
