"""Files not used and rows loaded with a warning are visible (issue 13, item 2): in the
audit schema, in `npd summary` and on the data-quality dashboard.

The unit tests record hand-built stage reports (ingest.accounting) into a fresh embedded
warehouse, so they do not depend on how staging finds the files; the last test runs the
real stage on a generated census term with a stray file and a formula-like name.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from core.config import Settings
from core.partition import Partition
from governance.disclosure import DisclosurePolicy
from ingest.accounting import UNUSED_TABLE, FileAccount, StageReport
from quality.dashboard import build_dashboard
from quality.pages import Links, feed_file, la_file, la_page
from quality.read import la_of_path, read_quality
from quality.summary import file_notes, period_lines, render
from quality.view import DashboardView
from warehouse import audit

AUTUMN = Partition.of("school_census", "2024/25", "autumn")
SPRING = Partition.of("school_census", "2024/25", "spring")
KS2 = Partition.of("ks2", "2024/25")
RETURN = "2024-25/school_census/autumn/LA330"
STRAY = f"{RETURN}/notes <b>&amp; [bold]x[/bold].txt"  # markup must stay text everywhere
COPY = f"{RETURN}/2024_autumn_school (1).csv"
BAD = "2024-25/ks2/ks2_2024-25_v2.csv"
# As a person reads them under a period's heading: within the period's landing folder
SHORT = {
    COPY: "LA330/2024_autumn_school (1).csv",
    STRAY: STRAY.removeprefix("2024-25/school_census/autumn/"),
    BAD: "ks2_2024-25_v2.csv",
}
WARNINGS = {
    "pupilonroll: forename looks like a formula": 12,
    "pupilonroll: upn check letter failed": 3,
}


def _account(source: str, table: str, status: str = "ok", **kw) -> FileAccount:
    return FileAccount(source_file=source, table=table, status=status, **kw)


def _report(partition: Partition, files: list[FileAccount], **kw) -> StageReport:
    return StageReport(
        feed=partition.feed,
        academic_year=partition.year.label,
        term=partition.term_value,
        load_id=f"{partition.feed}-{partition.term_slug}-L1",
        files=files,
        **kw,
    )


def _run(settings: Settings, partition: Partition, step: str, status: str, message=None) -> None:
    audit.record_run(
        settings,
        partition,
        run_id=f"run-{partition.key}-{step}",
        step=step,
        status=status,
        message=message,
        load_id=None,
        started_at=audit.now() - dt.timedelta(seconds=1),
    )


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Three partitions recorded as staging reports them: the autumn census loaded with a
    stray file, a second copy of a table and row warnings; the spring census loaded clean;
    KS2 blocked with a file rejected whole."""
    monkeypatch.setenv("NPD_HOME", str(tmp_path / "var"))
    for var in ("NPD_LANDING_DIR", "NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings.from_env()
    settings.ensure_dirs()
    autumn = _report(
        AUTUMN,
        [
            _account(
                f"{RETURN}/2024_autumn_pupilonroll.csv",
                "pupilonroll",
                rows_read=400,
                rows_staged=398,
                rows_quarantined=2,
                rows_warned=14,
            ),
            _account(f"{RETURN}/2024_autumn_school.csv", "school", rows_read=1, rows_staged=1),
            _account(COPY, "school", "unused", messages=["a second file for table school"]),
            # staging's own wording names the file (ingest/inventory.py)
            _account(
                STRAY,
                UNUSED_TABLE,
                "unused",
                messages=[f"{STRAY}: not used: no table of that name"],
            ),
        ],
        quarantine_reasons={"pupilonroll: sex not a known code": 2},
        warning_reasons=WARNINGS,
    )
    spring = _report(
        SPRING,
        [
            _account(
                "2024-25/school_census/spring/LA330/2024_spring_pupilonroll.csv",
                "pupilonroll",
                rows_read=390,
                rows_staged=390,
            )
        ],
    )
    ks2 = _report(
        KS2,
        [
            _account("2024-25/ks2/ks2_2024-25.csv", "ks2", rows_read=30, rows_staged=30),
            _account(
                BAD,
                "ks2",
                "rejected",
                rows_read=31,
                rows_quarantined=31,
                messages=["not UTF-8 and no encoding could be established"],
            ),
        ],
        blocking=["two different files for table ks2"],
    )
    for partition, report in ((AUTUMN, autumn), (SPRING, spring), (KS2, ks2)):
        audit.record_stage(settings, partition, report)
        _run(settings, partition, "stage", "succeeded")
    for partition in (AUTUMN, SPRING):
        _run(settings, partition, "load", "succeeded")
    _run(settings, KS2, "validate", "blocked", "two different files for table ks2")
    return settings


def _warehouse(settings: Settings) -> str:
    return settings.warehouse_url.removeprefix("duckdb:///")


# ---- the audit schema ----------------------------------------------------------------------


def test_every_file_status_rows_warned_and_warnings_are_in_the_audit_schema(
    recorded: Settings,
) -> None:
    with duckdb.connect(_warehouse(recorded), read_only=True) as con:
        files = con.execute(
            "SELECT source_file, source_table, status, message, rows_warned "
            "FROM audit.file_account WHERE term = 'autumn' ORDER BY source_file"
        ).fetchall()
        warnings = con.execute(
            "SELECT feed, academic_year, term, load_id, warning, rows FROM audit.warning_summary "
            "ORDER BY warning"
        ).fetchall()
    assert files == [
        (f"{RETURN}/2024_autumn_pupilonroll.csv", "pupilonroll", "ok", None, 14),
        (COPY, "school", "unused", "a second file for table school", 0),
        (f"{RETURN}/2024_autumn_school.csv", "school", "ok", None, 0),
        (STRAY, UNUSED_TABLE, "unused", f"{STRAY}: not used: no table of that name", 0),
    ]
    assert warnings == [
        ("school_census", "2024/25", "autumn", "school_census-autumn-L1", w, n)
        for w, n in sorted(WARNINGS.items())
    ]


def test_a_restage_replaces_the_partitions_files_and_warnings(recorded: Settings) -> None:
    clean = _report(
        AUTUMN,
        [_account(f"{RETURN}/2024_autumn_pupilonroll.csv", "pupilonroll", rows_read=1)],
    )
    audit.record_stage(recorded, AUTUMN, clean)
    with duckdb.connect(_warehouse(recorded), read_only=True) as con:
        assert con.execute(
            "SELECT count(*) FROM audit.warning_summary WHERE term = 'autumn'"
        ).fetchone() == (0,)
        assert con.execute(
            "SELECT count(*) FROM audit.file_account WHERE term = 'autumn'"
        ).fetchone() == (1,)
    assert [n.source_file for n in file_notes(recorded)] == [BAD]


# ---- npd summary ---------------------------------------------------------------------------


def test_the_summary_counts_files_not_used_and_rows_warned_per_partition(
    recorded: Settings,
) -> None:
    lines = {ln.period if ln.feed != "ks2" else "ks2": ln for ln in period_lines(recorded)}
    autumn, spring, ks2 = lines["2024/25 autumn"], lines["2024/25 spring"], lines["ks2"]
    assert (autumn.files_unused, autumn.rows_warned) == (2, 14)
    assert (autumn.rows_read, autumn.rows_staged, autumn.rows_quarantined) == (400, 398, 2)
    assert (spring.files_unused, spring.rows_warned) == (0, 0)
    assert (ks2.files_unused, ks2.status) == (0, "blocked")
    assert ks2.rows_read == 61 and ks2.rows_quarantined == 31  # the rejected file's rows count
    notes = file_notes(recorded)
    assert [(n.feed, n.period, n.source_file, n.status) for n in notes] == [
        ("school_census", "2024/25 autumn", COPY, "unused"),
        ("school_census", "2024/25 autumn", STRAY, "unused"),
        ("ks2", "2024/25", BAD, "rejected"),
    ]


def test_the_printed_summary_lists_each_file_not_used_with_its_reason(recorded: Settings) -> None:
    console = Console(record=True, width=220, force_terminal=False)
    render(period_lines(recorded), recorded, console)  # as the demo calls it
    text = console.export_text()
    assert re.search(r"Warned.*Unused", text)
    autumn = next(line for line in text.splitlines() if "2024/25 autumn" in line)
    cells = [c.strip() for c in autumn.strip().strip("│┃").split("│")]
    assert cells[6] == "14" and cells[-1] == "2"  # warned, files not used
    assert "Files not used or rejected whole" in text
    assert f"{COPY}: not used: a second file for table school" in text
    # a file name holding rich markup or HTML is printed as it is, never interpreted
    assert f"{STRAY}: not used: no table of that name" in text
    assert f"{BAD}: rejected whole: not UTF-8 and no encoding could be established" in text
    assert "(31 rows quarantined)" in text
    assert "2024-25/school_census/spring" not in text  # a clean period lists nothing


def test_the_summary_shows_control_characters_in_a_file_name_as_escapes(
    recorded: Settings,
) -> None:
    hostile = _report(
        SPRING,
        [_account(f"{RETURN}/x\x1b[2J\r.csv", UNUSED_TABLE, "unused", messages=["not a file"])],
    )
    audit.record_stage(recorded, SPRING, hostile)
    console = Console(record=True, width=220, force_terminal=False)
    render(period_lines(recorded), recorded, console, files=file_notes(recorded))
    text = console.export_text()
    assert "x\\x1b[2J\\r.csv: not used: not a file" in text
    assert "\x1b" not in text and "\r" not in text


# ---- the dashboard -------------------------------------------------------------------------


def test_statuses_name_the_files_not_loaded(recorded: Settings) -> None:
    view = DashboardView.build(read_quality(recorded))
    status = {(s.feed, s.period): s for s in view.statuses}
    autumn = status[("school_census", "2024/25 autumn")]
    assert autumn.status == "warning"
    assert autumn.reasons == [
        f"{SHORT[COPY]}: not used: a second file for table school",
        f"{SHORT[STRAY]}: not used: no table of that name",
    ]
    assert status[("school_census", "2024/25 spring")].status == "pass"
    ks2 = status[("ks2", "2024/25")]
    assert ks2.status == "blocked"
    assert ks2.reasons == [
        "two different files for table ks2",
        f"{SHORT[BAD]}: rejected whole: not UTF-8 and no encoding could be established",
    ]  # the root cause first


def test_warnings_by_kind_are_published_under_disclosure_control(recorded: Settings) -> None:
    view = DashboardView.build(read_quality(recorded), DisclosurePolicy(threshold=10))
    shown = {
        (w.warning, w.period): w.display
        for w in view.warnings.itertuples()
        if w.feed == "school_census"
    }
    assert shown[("pupilonroll: forename looks like a formula", "2024/25 autumn")] == "c"
    assert shown[("pupilonroll: upn check letter failed", "2024/25 autumn")] == "c"
    assert shown[("Total", "2024/25 autumn")] == "15"  # the 3 cannot be worked out: 12 is hidden
    view = DashboardView.build(read_quality(recorded), DisclosurePolicy(threshold=3))
    shown = {(w.warning, w.period): w.display for w in view.warnings.itertuples()}
    assert shown[("pupilonroll: forename looks like a formula", "2024/25 autumn")] == "12"
    assert shown[("pupilonroll: upn check letter failed", "2024/25 autumn")] == "3"


def test_the_feed_and_la_pages_list_files_not_used_and_warnings(recorded: Settings) -> None:
    result = build_dashboard(recorded, DisclosurePolicy(threshold=3))
    folder = result.index.parent
    census = (folder / feed_file("school_census")).read_text(encoding="utf-8")
    assert "<h2>Files not used or rejected</h2>" in census
    table = census[census.index('class="files-table"') :]
    table = table[: table.index("</table>")]
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)]
    assert cells == [
        "2024/25 autumn",
        SHORT[COPY],
        "school",
        "not used",
        "a second file for table school",
        "2024/25 autumn",
        SHORT[STRAY],
        UNUSED_TABLE,
        "not used",
        "no table of that name",
    ]
    assert "<b>" not in census  # the file name's markup is escaped, not rendered
    assert "Rows loaded with a warning, by kind" in census
    warned = census[census.index("Rows loaded with a warning, by kind") :]
    warned = warned[: warned.index("</table>")]
    assert re.search(r"forename looks like a formula</td><td class=\"num\">12</td>", warned)
    assert re.search(r"upn check letter failed</td><td class=\"num\">3</td>", warned)
    assert re.search(r"All warnings</td><td class=\"num\">15</td>", warned)
    overview = (folder / "index.html").read_text(encoding="utf-8")
    assert html.escape(f"{SHORT[STRAY]}: not used: no table of that name") in overview
    ks2 = (folder / feed_file("ks2")).read_text(encoding="utf-8")
    assert "rejected" in ks2 and html.escape(SHORT[BAD]) in ks2
    # an LA's page lists the files of its own returns only
    view = DashboardView.build(read_quality(recorded))
    links = Links(data_docs=None, linkage=None)
    la330 = la_page(view, "school_census", "330", links, "now").render()
    assert html.escape(SHORT[COPY]) in la330 and "Files not used or rejected" in la330
    la202 = la_page(view, "school_census", "202", links, "now").render()
    assert "Every file in this LA&#x27;s returns was read" in la202
    assert "No staged row carried a warning." in ks2


def test_a_file_belongs_to_the_la_of_its_return_folder() -> None:
    assert la_of_path(COPY) == "330"
    assert la_of_path("2024-25/ks2/ks2_2024-25.csv") is None
    assert la_of_path("2024-25/cin_census/LA204/x.xml") == "204"
    assert la_of_path("2024-25/cin_census/LA2040/x.xml") is None
    assert la_file("school_census", "330") == "la-school-census-330.html"


# ---- end to end, with the real stage -------------------------------------------------------


@pytest.mark.slow
def test_a_stray_file_and_a_formula_like_name_reach_the_summary_and_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.periods import AcademicYear, Term
    from ingest.landing import census_return_dir
    from pipeline.steps import run_period
    from synth.generate import generate

    monkeypatch.setenv("NPD_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("NPD_PSEUDONYM_KEY", "4d" * 32)
    for var in ("NPD_LANDING_DIR", "NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings.from_env()
    settings.ensure_dirs()
    year = AcademicYear(2024)
    generate(
        landing_dir=settings.landing_dir,
        truth_dir=settings.truth_dir,
        pupils=300,
        seed=13,
        years=[year],
    )
    folder = census_return_dir(settings.landing_dir, year, Term.AUTUMN, 330)
    stray = folder / "notes from the LA.txt"
    stray.write_text("Sorry this is late. Call me on 0123.\n", encoding="utf-8")
    pupils = next(folder.glob("*_pupilonroll.csv"))
    lines = pupils.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    first = lines[1].rstrip("\r\n").split(",")
    first[header.index("forename")] = "=HYPERLINK(1)"
    lines[1] = ",".join(first) + "\n"
    pupils.write_text("".join(lines), encoding="utf-8")

    result = run_period(AUTUMN, settings)
    assert result.status == "loaded", result
    stray_rel = stray.relative_to(settings.landing_dir).as_posix()
    notes = file_notes(settings)
    assert [(n.source_file, n.status) for n in notes] == [(stray_rel, "unused")]
    assert notes[0].message  # why it was not used
    (line,) = period_lines(settings)
    assert line.files_unused == 1 and line.rows_warned >= 1
    console = Console(record=True, width=220, force_terminal=False)
    render([line], settings, console)
    text = console.export_text()
    assert f"{stray_rel}: not used" in text
    assert "0123" not in text and "Sorry" not in text  # nothing from inside the file
    site = build_dashboard(settings).index.parent
    page = (site / feed_file("school_census")).read_text(encoding="utf-8")
    assert html.escape("LA330/notes from the LA.txt") in page and "0123" not in page
    assert "No staged row carried a warning." not in page
    with duckdb.connect(_warehouse(settings), read_only=True) as con:
        warned = con.execute("SELECT sum(rows) FROM audit.warning_summary").fetchone()[0]
    assert warned >= 1
