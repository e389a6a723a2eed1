"""The bad-input corpus (issue 13) through the real `npd run`.

Quick: the corpus covers every feed and contract item with well-formed manifests, and a
representative handful of cases meets the contract (about a minute). Slow: every case.
`npd bench badinput` runs the whole corpus too and prints pass counts per feed and item.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tests.badinput.checker import Checker, render, run_corpus, summarise
from tests.badinput.corpus import FEEDS, ITEMS, OUTSIDE, SECRET, Base, Case, all_cases

# One case of each format family: a link out of the landing folder (census CSV, blocked), a
# re-encoded national file (key stage CSV, read with a message), an external entity (XML,
# refused) and an orphan row (SSDA903 CSV, quarantined naming the field).
QUICK = (
    "census-symlink-pupil-file",
    "ks2-encoding-utf16-le-bom",
    "cin-xxe-entity",
    "ssda903-csv-orphan-episode",
)


@pytest.fixture(scope="session")
def cases(corpus_base: Base) -> list[Case]:
    return all_cases(corpus_base.folder)


@pytest.fixture(scope="session")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    return Checker(tmp_path_factory.mktemp("badinput-runs"))


def test_the_corpus_covers_every_feed_and_contract_item(cases: list[Case]) -> None:
    assert len(cases) >= 150
    names = Counter(c.name for c in cases)
    assert [n for n, k in names.items() if k > 1] == []
    per_feed = Counter(c.feed for c in cases)
    assert set(FEEDS) <= set(per_feed), per_feed
    for feed in FEEDS:
        covered = {i for c in cases if c.feed == feed for i in c.items}
        assert {2, 3, 4, 6} <= covered, (feed, covered)
    assert {i for c in cases for i in c.items} == set(ITEMS)
    # SSDA903 in both forms, and the fixtures as well as synth/ output
    assert any(c.feed == "ssda903" and any(p.endswith(".xml") for p in c.files) for c in cases)
    assert any(c.feed == "ssda903" and any(p.endswith(".csv") for p in c.files) for c in cases)
    assert {c.source for c in cases} == {"synth", "fixture"}
    assert sum(c.hostile for c in cases) >= 8


def test_every_manifest_names_what_the_case_writes(cases: list[Case]) -> None:
    for case in cases:
        written = set(case.files) | set(case.lazy) | {s["path"] for s in case.specials}
        assert set(case.expect) <= written, (case.name, set(case.expect) - written)
        assert case.outcome in ("loaded", "blocked", "refused", "any"), case.name
        assert case.description and case.kind, case.name
        manifest = case.manifest()
        for spec in manifest["files"].values():
            assert set(spec["status"]) <= {"ok", "rejected", "missing", "unused"}, case.name
            for row in spec["quarantine"] + spec["warn"]:
                assert row["row"] >= 1 and row["fields"], (case.name, row)
        for path, data in case.files.items():  # the secret only ever lives outside
            assert SECRET.encode() not in data or path in case.templated, (case.name, path)
        for special in case.specials:
            target = special.get("target") or ""
            if target.startswith(OUTSIDE + "/"):
                name = target[len(OUTSIDE) + 1 :]
                dangling = "no-such" in name
                assert dangling or any(o == name or o.startswith(name + "/") for o in case.outside)


def test_every_row_expectation_points_at_a_row_of_the_file(cases: list[Case]) -> None:
    """A CSV row named in a manifest is a data line of its file (not the header, not past
    the end), so a case cannot pass or fail for pointing at nothing."""
    for case in cases:
        for path, spec in case.expect.items():
            data = case.files.get(path)
            if data is None or not path.endswith(".csv") or spec["status"] != ["ok"]:
                continue
            lines = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") + 1
            for row in spec["quarantine"] + spec["warn"]:
                assert 2 <= row["row"] <= lines, (case.name, path, row)


@pytest.mark.parametrize("name", QUICK)
def test_a_representative_case_meets_the_contract(
    name: str, cases: list[Case], checker: Checker, tmp_path: Path
) -> None:
    (case,) = [c for c in cases if c.name == name]
    result = checker.run_case(case.write(tmp_path))
    assert result.passed, "\n".join(result.failures)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("NPD_BADINPUT_CORPUS") != "1",
    reason="the whole corpus (385 cases through npd run, about 45 minutes on 2 cores) runs "
    "in `npd bench badinput`, or here with NPD_BADINPUT_CORPUS=1",
)
def test_the_whole_corpus_meets_the_contract(cases: list[Case], tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    for case in cases:
        case.write(corpus)
    results = run_corpus(corpus, tmp_path / "runs", keep="none")
    summary = summarise(results)
    lines: list[str] = []
    render(summary, lines.append)
    assert summary["passed"] == summary["cases"], "\n".join(lines)
