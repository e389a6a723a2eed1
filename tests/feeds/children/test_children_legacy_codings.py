"""Coding transitions (issue 14): a 2024/25 return still in the coding before the schema
change (SSDA903 SEX 1/2, CIN <GenderCurrent> 1/2/0/9) is read through the spec's `legacy:`
coding, each row warned and the file noted once; past the coding's years, or where a value
means something else in the two codings, the file is refused whole naming both schema years
(docs/bad-input.md, "legacy coding"). Built from the published fixtures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

import core.codes
import ingest.stage
from core.config import Settings
from core.partition import Partition
from ingest.spec import FeedSpec, load_spec
from ingest.stage import stage
from pipeline import steps
from tests.feeds.children.conftest import cin_stating, land

SSDA903_CHILDREN = 2675  # header.csv rows (tests/feeds/children/test_children_fixtures.py)
SSDA903_UASC = 132


def _land_903(settings: Settings, shared_fixtures: Path, year: str, *, sex=None) -> Partition:
    """The published SSDA903 return (SEX coded 1/2) landed as `year`'s; `sex` rewrites the
    header's SEX column by row index (for mixed files)."""
    folder = land(
        settings, "ssda903", year, 202, *sorted((shared_fixtures / "ssda903").glob("*.csv"))
    )
    if sex is not None:
        lines = (folder / "header.csv").read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines[1:], start=1):
            cells = line.split(",")
            cells[1] = sex(i, cells[1])
            lines[i] = ",".join(cells)
        (folder / "header.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Partition.of("ssda903", year)


def _account(report, name: str):
    (account,) = [f for f in report.files if f.source_file.endswith(name)]
    assert account.balanced, account
    return account


def _sexes(settings: Settings, partition: Partition, table: str = "header") -> dict[str, int]:
    path = partition.staging_dir(settings) / "tables" / f"{table}.parquet"
    return dict(duckdb.sql(f"SELECT sex, count(*) FROM '{path}' GROUP BY 1").fetchall())


def _warnings(settings: Settings, partition: Partition) -> list[tuple[str, str, int]]:
    path = partition.staging_dir(settings) / "warnings.parquet"
    return duckdb.sql(
        f"SELECT source_table, warning, count(DISTINCT _source_row) FROM '{path}' "
        "WHERE warning LIKE '%legacy coding%' GROUP BY ALL ORDER BY ALL"
    ).fetchall()


def test_an_ssda903_return_coding_sex_1_2_in_2024_25_is_read_warned_and_noted_once(
    settings: Settings, shared_fixtures: Path
) -> None:
    partition = _land_903(settings, shared_fixtures, "2024/25")
    expected = dict(
        duckdb.sql(
            "SELECT CASE SEX WHEN 1 THEN 'M' ELSE 'F' END, count(*) "
            f"FROM read_csv('{shared_fixtures / 'ssda903' / 'header.csv'}') GROUP BY 1"
        ).fetchall()
    )
    report = stage(settings, partition)
    assert _sexes(settings, partition) == expected
    assert sum(expected.values()) == SSDA903_CHILDREN
    header, uasc = _account(report, "header.csv"), _account(report, "uasc.csv")
    assert (header.rows_read, header.rows_staged, header.rows_quarantined) == (
        SSDA903_CHILDREN,
        SSDA903_CHILDREN,
        0,
    )
    assert min(header.rows_warned, uasc.rows_warned) > 0  # also the fake UPNs' warnings
    note = (
        f"{header.source_file}: SEX read in a legacy coding on {SSDA903_CHILDREN} row(s) "
        "(SEX coded 1/2, the coding before 2024/25; the 2024/25 schema codes it M/F/U): "
        "harmonised and each row warned; accepted until 2025/26"
    )
    assert [m for m in header.messages if "legacy coding" in m] == [note]
    assert len([m for m in uasc.messages if "legacy coding" in m]) == 1
    assert report.warning_reasons["header: SEX: read in a legacy coding"] == SSDA903_CHILDREN
    assert report.warning_reasons["uasc: SEX: read in a legacy coding"] == SSDA903_UASC
    warning = "SEX: read in a legacy coding (SEX coded 1/2, the coding before 2024/25)"
    assert _warnings(settings, partition) == [
        ("header", warning, SSDA903_CHILDREN),
        ("uasc", warning, SSDA903_UASC),
    ]
    assert not any("SEX" in r for r in report.quarantine_reasons)
    assert report.blocking == []


def test_a_mixed_ssda903_file_reads_each_row_by_its_own_coding(
    settings: Settings, shared_fixtures: Path
) -> None:
    """Some rows 1/2, some M/F (a system changed coding mid-year): the two codings share no
    value, so each row is read by its own; only the 1/2 rows are warned. A value in neither
    (7) is quarantined row by row, as before."""
    letters = {"1": "M", "2": "F"}
    partition = _land_903(
        settings,
        shared_fixtures,
        "2024/25",
        sex=lambda i, v: "7" if i == 5 else (letters[v] if i % 2 == 0 else v),
    )
    report = stage(settings, partition)
    header = _account(report, "header.csv")
    old_coded = (SSDA903_CHILDREN + 1) // 2 - 1  # odd rows, less row 5
    assert (header.rows_staged, header.rows_quarantined) == (SSDA903_CHILDREN - 1, 1)
    assert report.warning_reasons["header: SEX: read in a legacy coding"] == old_coded
    assert [m for m in header.messages if "legacy coding" in m] == [
        f"{header.source_file}: SEX read in a legacy coding on {old_coded} row(s) "
        "(SEX coded 1/2, the coding before 2024/25; the 2024/25 schema codes it M/F/U): "
        "harmonised and each row warned; accepted until 2025/26"
    ]
    assert report.quarantine_reasons["header: SEX: not a known code"] == 1
    assert set(_sexes(settings, partition)) == {"M", "F"}


def test_sex_1_2_past_the_accepted_years_refuses_the_file_whole_naming_both_years(
    settings: Settings, shared_fixtures: Path
) -> None:
    partition = _land_903(settings, shared_fixtures, "2026/27")
    report = stage(settings, partition)
    header = _account(report, "header.csv")
    why = (
        f"SEX in a legacy coding (SEX coded 1/2, the coding before 2024/25) on {SSDA903_CHILDREN} "
        "row(s): the file looks like the 2023/24 schema, but the 2026/27 schema codes SEX "
        "M/F/U, and that coding is accepted only until 2025/26; refused whole"
    )
    assert header.status == "rejected"
    assert header.reason == f"{header.source_file}: {why}"
    assert (header.rows_staged, header.rows_quarantined) == (0, SSDA903_CHILDREN)
    assert report.quarantine_reasons["header: file refused: SEX in a legacy coding"] == (
        SSDA903_CHILDREN
    )
    assert "header: SEX: not a known code" not in report.quarantine_reasons
    assert report.blocking[0] == header.reason
    assert _account(report, "uasc.csv").status == "rejected"


def _cin_2024(settings: Settings, shared_fixtures: Path, name: str, year: str) -> Partition:
    data = cin_stating((shared_fixtures / "cin_census" / name).read_bytes(), year)
    (land(settings, "cin_census", year, 201) / name).write_bytes(data)
    return Partition.of("cin_census", year)


def test_a_cin_return_sending_gendercurrent_in_2024_25_is_read_as_sex(
    settings: Settings, shared_fixtures: Path
) -> None:
    """The 332-child return (<GenderCurrent> 0/1/2/9) as a 2024/25 return: every child staged
    with Sex M/F/U, warned, the file noted once; GenderCurrent is not an undeclared element."""
    raw = (shared_fixtures / "cin_census" / "fake_CIN_data.xml").read_text(encoding="utf-8")
    counts = {c: raw.count(f"<GenderCurrent>{c}</GenderCurrent>") for c in "0129"}
    partition = _cin_2024(settings, shared_fixtures, "fake_CIN_data.xml", "2024/25")
    report = stage(settings, partition)
    (child,) = [f for f in report.files if f.table == "child"]
    assert (child.rows_read, child.rows_staged, child.rows_quarantined) == (332, 332, 0)
    assert _sexes(settings, partition, "child") == {
        "M": counts["1"],
        "F": counts["2"],
        "U": counts["0"] + counts["9"],
    }
    assert [m for m in child.messages if "legacy coding" in m] == [
        f"{child.source_file}: Sex read in a legacy coding on 332 row(s) (GenderCurrent coded "
        "1/2/0/9, the element and coding before 2024/25; the 2024/25 schema codes it M/F/U): "
        "harmonised and each row warned; accepted until 2025/26"
    ]
    assert not any("undeclared" in m for m in child.messages)
    assert not any(r.startswith("child: ") for r in report.quarantine_reasons)
    assert report.warning_reasons["child: Sex: read in a legacy coding"] == 332


def test_the_cin_fixture_mixing_sex_1_and_m_reads_both(
    settings: Settings, shared_fixtures: Path
) -> None:
    """CIN_Census_2024.xml, as published, codes its first child <Sex>1</Sex> (the old coding
    in the new element) and its second <Sex>M</Sex>: both are read, the first warned."""
    partition = _cin_2024(settings, shared_fixtures, "CIN_Census_2024.xml", "2024/25")
    report = stage(settings, partition)
    (child,) = [f for f in report.files if f.table == "child"]
    assert (child.rows_staged, child.rows_quarantined) == (2, 0)
    assert _sexes(settings, partition, "child") == {"M": 2}
    assert len([m for m in child.messages if "legacy coding" in m]) == 1
    assert report.warning_reasons["child: Sex: read in a legacy coding"] == 1


def _cin_accepted_until(until: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CIN spec with its GenderCurrent legacy coding accepted only until `until`."""
    spec = load_spec("cin_census")
    changes = []
    for change in spec.changes:
        update = {
            name: {**attrs, "legacy": [{**c, "until": until} for c in attrs.get("legacy", [])]}
            if "legacy" in attrs
            else attrs
            for name, attrs in change.update.items()
        }
        changes.append(dataclasses.replace(change, update=update))
    patched: FeedSpec = dataclasses.replace(spec, changes=tuple(changes))
    monkeypatch.setattr(ingest.stage, "load_spec", lambda feed: patched)


def test_gendercurrent_past_its_years_refuses_the_cin_file_whole(
    settings: Settings, shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cin_accepted_until("2024/25", monkeypatch)
    partition = _cin_2024(settings, shared_fixtures, "fake_CIN_data.xml", "2025/26")
    report = stage(settings, partition)
    why = (
        "Sex in a legacy coding (GenderCurrent coded 1/2/0/9, the element and coding before "
        "2024/25) on 332 row(s): the file looks like the 2023/24 schema, but the 2025/26 "
        "schema codes Sex M/F/U, and that coding is accepted only until 2024/25; refused whole"
    )
    assert {f.status for f in report.files} == {"rejected"}
    assert all(f.reason == f"{f.source_file}: {why}" for f in report.files)
    assert report.rows_staged == 0
    assert report.blocking == [f"{report.files[0].source_file}: {why}"]
    # (CIN details dated after the census were quarantined as they were read, before the
    # refusal; every other row goes with the file)
    child = {r: n for r, n in report.quarantine_reasons.items() if r.startswith("child: ")}
    assert child == {"child: file refused: Sex in a legacy coding": 332}


def test_a_file_mixing_codings_that_read_one_value_two_ways_is_refused_whole(
    settings: Settings, shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hypothetical earlier coding in which U meant female: with 1/2 rows beside it, a U
    cannot be read either way, so the file is refused whole, once, naming both years. A file
    with U but no 1/2 shows no sign of the old coding and is read in the current one."""
    raw = core.codes._raw()
    schemes = {**raw["sex_schemes"], "ssda903_numeric": {"1": "M", "2": "F", "U": "F"}}
    monkeypatch.setattr(core.codes, "_raw", lambda: {**raw, "sex_schemes": schemes})
    partition = _land_903(
        settings, shared_fixtures, "2024/25", sex=lambda i, v: "U" if i % 3 == 0 else v
    )
    report = stage(settings, partition)
    header = _account(report, "header.csv")
    assert header.status == "rejected"
    assert header.reason.startswith(f"{header.source_file}: SEX mixes codings: ")
    assert "as in the 2023/24 schema" in header.reason and "the 2024/25 schema" in header.reason
    assert report.quarantine_reasons == {
        "header: file refused: SEX mixes codings: a legacy coding": SSDA903_CHILDREN,
        **{k: v for k, v in report.quarantine_reasons.items() if not k.startswith("header:")},
    }

    letters = _land_903(
        settings, shared_fixtures, "2025/26", sex=lambda i, v: "U" if i % 3 == 0 else "M"
    )
    report = stage(settings, letters)
    header = _account(report, "header.csv")
    assert header.status == "ok"
    assert [w for w in _warnings(settings, letters) if w[0] == "header"] == []
    assert _sexes(settings, letters)["U"] == SSDA903_CHILDREN // 3


def test_a_legacy_coded_ssda903_return_runs_through_every_step(
    settings: Settings, shared_fixtures: Path
) -> None:
    """The return's placements as 2024/25 knows them (H5 and P2 were withdrawn), its SEX
    still 1/2: staged with warnings, validated, linked and loaded."""
    partition = _land_903(settings, shared_fixtures, "2024/25")
    episodes = settings.landing_dir / "2024-25/ssda903/LA202/episodes.csv"
    text = episodes.read_text(encoding="utf-8")
    episodes.write_text(text.replace(",H5,", ",K2,").replace(",P2,", ",P3,"), encoding="utf-8")
    result = steps.run_period(partition, settings)
    assert result.status == "loaded", result.message
    assert result.steps["load"]["tables"] == {"research.cla_child": SSDA903_CHILDREN}
    report = ingest.stage.read_report(settings, partition)
    assert report.warning_reasons["header: SEX: read in a legacy coding"] == SSDA903_CHILDREN
    sexes = duckdb.sql(
        f"SELECT DISTINCT sex FROM '{partition.staging_dir(settings)}/records.parquet'"
    ).fetchall()
    assert sorted(s for (s,) in sexes) == ["F", "M"]
