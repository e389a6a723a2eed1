"""Bad ILR input: each case names file, element and field; what can be kept is kept, the
rest is quarantined with its raw text, nothing is lost, and no value is quoted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.config import Settings
from core.partition import Partition
from core.periods import AcademicYear
from ingest.errors import InputError
from ingest.stage import stage
from pipeline import steps
from tests.feeds.ilr.conftest import YEARS, IlrRun, land_ilr
from tests.feeds.xml_helpers import balanced_account, quarantine_rows

YEAR = YEARS[-1]


def _biggest(run: IlrRun, year: AcademicYear = YEAR) -> tuple[Path, bytes]:
    path = max(run.files(year), key=lambda p: p.stat().st_size)
    return path, path.read_bytes()


def _stage(settings: Settings, path: Path, data: bytes, year: AcademicYear = YEAR):
    land_ilr(settings, year, path, data)
    partition = Partition("ilr", year)
    return partition, stage(settings, partition)


def test_truncated_xml_keeps_every_complete_learner_and_blocks(
    ilr_run: IlrRun, settings: Settings
) -> None:
    path, data = _biggest(ilr_run)
    cut = data.index(b"<Learner>", len(data) // 2) + 60  # inside a learner, half way through
    complete = data[:cut].count(b"</Learner>")
    partition, report = _stage(settings, path, data[:cut])
    learner = balanced_account(report, "learner")
    assert (learner.rows_read, learner.rows_staged, learner.rows_quarantined) == (
        complete + 1,
        complete,
        1,
    )
    assert learner.status == "rejected"
    (message,) = report.blocking
    assert f"{path.parent.name}/{path.name}: truncated or malformed XML at line" in message
    assert "inside <Learner> starting at line" in message
    (row,) = [r for r in quarantine_rows(settings, partition) if r[0] == "learner"]
    assert row[3].lstrip().startswith("<Learner>")  # the broken tail, kept raw


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            b'xmlns="ESFA/ILR/2024-25"',
            b'xmlns="ESFA/ILR/2023-24"',
            "has namespace 'ESFA/ILR/2023-24', expected 'ESFA/ILR/2024-25' for a 2024/25 ilr return",
        ),
        (b"<Message ", b"<ILRMessage ", "root element is <ILRMessage>, expected <Message>"),
    ],
    ids=["last year's namespace", "wrong root element"],
)
def test_a_wrong_namespace_or_root_rejects_the_file_naming_it(
    ilr_run: IlrRun, settings: Settings, old: bytes, new: bytes, problem: str
) -> None:
    path, data = _biggest(ilr_run)
    data = data.replace(old, new, 1)
    if new.startswith(b"<ILRMessage"):
        data = data.replace(b"</Message>", b"</ILRMessage>")
    _, report = _stage(settings, path, data)
    learner = balanced_account(report, "learner")
    assert learner.status == "rejected" and learner.rows_read == 0
    assert any(problem in m and path.name in m for m in report.blocking), report.blocking


def test_each_year_reads_its_own_namespace(ilr_run: IlrRun, settings: Settings) -> None:
    """The schema year's namespace changes every year; each partition expects its own."""
    first = YEARS[0]
    path, data = _biggest(ilr_run, first)
    assert f'xmlns="ESFA/ILR/{first.slug}"'.encode() in data
    _, report = _stage(settings, path, data, first)
    assert report.blocking == [] and report.records == data.count(b"</Learner>")


def test_an_unknown_schema_year_names_the_spec(ilr_run: IlrRun, settings: Settings) -> None:
    path, data = _biggest(ilr_run)
    land_ilr(settings, "2026/27", path, data)
    with pytest.raises(InputError, match=r"ingest/specs/ilr.yml: unknown schema year 2026/27"):
        stage(settings, Partition.of("ilr", "2026/27"))


def test_mixed_encodings_quarantine_only_the_learner_holding_bad_bytes(
    ilr_run: IlrRun, settings: Settings
) -> None:
    path, data = _biggest(ilr_run)
    learners = data.count(b"</Learner>")
    first = data.index(b"<FamilyName>") + len(b"<FamilyName>")
    first_learner = data[: data.index(b"</Learner>")]
    aims = first_learner.count(b"<LearningDelivery>")
    data = data[:first] + "Zoë".encode("latin-1") + data[first + 3 :]  # one Latin-1 byte
    # and UTF-8 text in the last learner: the file mixes encodings (a lone Latin-1 byte in a
    # file with no UTF-8 text is read whole as Windows-1252, docs/bad-input.md)
    last = data.rindex(b"<FamilyName>") + len(b"<FamilyName>")
    data = data[:last] + "Zoë".encode() + data[last + 3 :]
    partition, report = _stage(settings, path, data)
    learner = balanced_account(report, "learner")
    assert (learner.rows_read, learner.rows_staged, learner.rows_quarantined) == (
        learners,
        learners - 1,
        1,
    )
    notes = [m for f in report.files for m in f.messages]
    assert any(f"{path.name}: 1 byte sequence(s) are not valid UTF-8" in m for m in notes)
    rows = quarantine_rows(settings, partition)
    reasons = [(r[0], r[2]) for r in rows]
    assert (
        "learner",
        "FamilyName: not valid UTF-8 (the file mixes encodings; bytes replaced)",
    ) in (reasons)
    # The learner's deliveries follow it into quarantine: none staged as orphans, none lost.
    followed = [r for r in reasons if r[0] == "learning_delivery"]
    assert len(followed) == aims
    assert all(
        r[1] == "<LearningDelivery> inside <Learner> 1, which was quarantined" for r in followed
    )
    assert all("Zo" not in r[2] for r in rows)  # no reason quotes the value
    assert report.records == learners - 1 and report.blocking == []


def test_a_delivery_missing_a_required_field_is_quarantined_naming_it(
    ilr_run: IlrRun, settings: Settings
) -> None:
    path, data = _biggest(ilr_run)
    deliveries = data.count(b"<LearningDelivery>")
    learners = data.count(b"</Learner>")
    data = re.sub(rb"<LearnAimRef>[^<]*</LearnAimRef>", b"", data, count=1)
    partition, report = _stage(settings, path, data)
    delivery = balanced_account(report, "learning_delivery")
    assert (delivery.rows_read, delivery.rows_staged, delivery.rows_quarantined) == (
        deliveries,
        deliveries - 1,
        1,
    )
    (row,) = [r for r in quarantine_rows(settings, partition) if r[0] == "learning_delivery"]
    assert row[1] == 1 and row[2] == "LearnAimRef: required value missing"
    assert '"_element":"Learner[1]/LearningDelivery[1]"' in row[3]  # where it was
    assert report.records == learners and report.blocking == []  # the learner stays
    assert steps.validate(partition, settings)["success"]


def test_a_sex_outside_m_and_f_quarantines_the_learner_and_its_deliveries(
    ilr_run: IlrRun, settings: Settings
) -> None:
    path, data = _biggest(ilr_run)
    learners = data.count(b"</Learner>")
    data = re.sub(rb"<Sex>[MF]</Sex>", b"<Sex>U</Sex>", data, count=1)  # Sex_01: M or F only
    partition, report = _stage(settings, path, data)
    learner = balanced_account(report, "learner")
    assert (learner.rows_staged, learner.rows_quarantined) == (learners - 1, 1)
    rows = quarantine_rows(settings, partition)
    assert ("learner", 1, "Sex: not a known code (value U)") in [r[:3] for r in rows]
    assert any(r[0] == "learning_delivery" for r in rows)


def test_a_repeated_learn_ref_number_quarantines_the_later_copy(
    ilr_run: IlrRun, settings: Settings
) -> None:
    path, data = _biggest(ilr_run)
    refs = re.findall(rb"<LearnRefNumber>([^<]*)</LearnRefNumber>", data)
    data = data.replace(refs[1], refs[0], 1)
    partition, _report = _stage(settings, path, data)
    reasons = [r[2] for r in quarantine_rows(settings, partition) if r[0] == "learner"]
    duplicate = "LearnRefNumber: duplicate within the file of row"
    assert sum(duplicate in r for r in reasons) == 1
    assert all(refs[0].decode() not in r for r in reasons)
