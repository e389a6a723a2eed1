"""Property-based bad input (issue 13): valid returns of every format, mutated at random
(truncated, spliced, re-encoded, bytes inserted, lines duplicated or reordered, line endings
changed), then staged in-process. Whatever the bytes, the stage step raises nothing but our own
InputError or PartitionBlocked, accounts for every file of the return, and for every file
rows read = rows staged + rows quarantined (a file refused whole stages nothing).

A bounded number of examples per format keeps this well under a minute on two busy cores
(NPD_MUTATION_EXAMPLES raises it, e.g. to 200 for a soak).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Settings
from core.partition import Partition
from ingest.accounting import STATUSES
from ingest.errors import InputError, PartitionBlocked
from ingest.stage import stage
from tests.badinput.corpus import (
    YEAR,
    Base,
    census_path,
    cin_path,
    cla_path,
    cla_xml_path,
    ks_path,
)

EXAMPLES = int(os.environ.get("NPD_MUTATION_EXAMPLES", "20"))
ROWS = 12  # rows (or records) kept in each valid return: small, so a stage takes little time

# Bytes that matter to a reader: quotes, separators, line ends, NUL and control bytes, XML
# markup and entities, byte order marks, bytes that are not UTF-8.
SPECIAL = (
    b'"',
    b",",
    b"\n",
    b"\r",
    b"\r\n",
    b"\x00",
    b"\x1b",
    b"\t",
    b"<",
    b">",
    b"&",
    b"&#0;",
    b"&amp;",
    b"]]>",
    b"<![CDATA[",
    b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
    b"<!-- -->",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\x81\x8d",
    b"\xe9",
    b"\xc3",
    b"=HYPERLINK(1)",
    b" ",
)
ENCODINGS = ("utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1", "utf-8-sig", "utf-32")


@dataclass(frozen=True)
class Return:
    """A small valid return of one format: its partition and files (landing path -> bytes)."""

    name: str
    partition: Partition
    files: dict[str, bytes]

    def __repr__(self) -> str:
        return f"Return({self.name})"


@dataclass(frozen=True)
class Mutated:
    """A return's files after some mutations; shown by what was done, not by its bytes."""

    files: dict[str, bytes]
    done: tuple[str, ...]

    def __repr__(self) -> str:
        return "; ".join(self.done)


def _returns(base: Base) -> dict[str, Return]:
    out: dict[str, Return] = {}
    census = base.census()
    pupils = census["pupilonroll"]
    pupils.rows = pupils.rows[:ROWS]
    ids = set(pupils.column("pupilonrolltableid"))
    files = {
        census_path("pupilonroll"): pupils.encode(),
        census_path("school"): census["school"].encode(),
    }
    sen = census["senneeds"]
    sen.keep(lambda r: r[sen.col("pupilonrolltableid")] in ids)
    files[census_path("senneeds")] = sen.encode()
    out["census"] = Return("census", Partition.of("school_census", YEAR, "spring"), files)
    ks2 = base.key_stage("ks2")
    ks2.rows = ks2.rows[:ROWS]
    out["key stage"] = Return(
        "key stage", Partition.of("ks2", YEAR), {ks_path("ks2"): ks2.encode()}
    )
    cla = base.cla_tables()
    header = cla["header"]
    header.rows = header.rows[:ROWS]
    children = set(header.column("CHILD"))
    episodes = cla["episodes"]
    episodes.keep(lambda r: r[0] in children)
    out["ssda903 csv"] = Return(
        "ssda903 csv",
        Partition.of("ssda903", YEAR),
        {cla_path("header"): header.encode(), cla_path("episodes"): episodes.encode()},
    )
    for name, feed, path, doc in (
        ("ssda903 xml", "ssda903", cla_xml_path(), base.cla_xml()),
        ("cin", "cin_census", cin_path(), base.cin()),
        ("ilr", "ilr", base.ilr()[0], base.ilr()[1]),
    ):
        doc.records = doc.records[:ROWS]
        out[name] = Return(name, Partition.of(feed, YEAR), {path: doc.encode()})
    return out


@pytest.fixture(scope="module")
def returns(corpus_base: Base) -> dict[str, Return]:
    return _returns(corpus_base)


@pytest.fixture(scope="module", autouse=True)
def _no_landing_override() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("NPD_LANDING_DIR", "NPD_WAREHOUSE_URL", "NPD_IDENTITY_URL"):
            mp.delenv(name, raising=False)
        yield


# -- mutations -------------------------------------------------------------------------------


@st.composite
def mutation(draw: st.DrawFn, data: bytes, other: bytes) -> tuple[str, bytes]:
    """One change to a file's bytes, and its name (for the failure report)."""
    kind = draw(
        st.sampled_from(
            ("truncate", "cut", "splice", "insert", "reencode", "duplicate", "reorder", "newlines")
        )
    )
    n = len(data)
    at = draw(st.integers(0, n))
    if kind == "truncate":
        return f"truncate at {at}", data[:at]
    if kind == "cut":
        end = draw(st.integers(at, n))
        return f"cut {at}:{end}", data[:at] + data[end:]
    if kind == "splice":  # a piece of another file (or this one) put in
        source = draw(st.sampled_from((data, other)))
        a = draw(st.integers(0, len(source)))
        b = draw(st.integers(a, min(len(source), a + 400)))
        return f"splice {b - a} bytes at {at}", data[:at] + source[a:b] + data[at:]
    if kind == "insert":
        piece = draw(st.one_of(st.sampled_from(SPECIAL), st.binary(min_size=1, max_size=12)))
        return f"insert {piece!r} at {at}", data[:at] + piece + data[at:]
    if kind == "reencode":
        encoding = draw(st.sampled_from(ENCODINGS))
        return f"re-encode as {encoding}", data.decode("utf-8", "replace").encode(
            encoding, "replace"
        )
    lines = data.split(b"\n")
    if kind == "duplicate":
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines)))
        lines.insert(j, lines[i])
        return f"duplicate line {i + 1} at {j + 1}", b"\n".join(lines)
    if kind == "reorder":
        order = draw(st.permutations(range(len(lines))))
        return "reorder lines", b"\n".join(lines[k] for k in order)
    ending = draw(st.sampled_from((b"\r\n", b"\r")))
    k = draw(st.integers(1, 3))  # every line, or every k-th (mixed endings)
    out = b"".join(line + (ending if i % k == 0 else b"\n") for i, line in enumerate(lines))
    return f"line endings {ending!r} every {k}", out


@st.composite
def mutated_return(draw: st.DrawFn, ret: Return) -> Mutated:
    files = dict(ret.files)
    paths = sorted(files)
    done = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        other = files[draw(st.sampled_from(paths))]
        what, files[path] = draw(mutation(files[path], other))
        done.append(f"{path.rsplit('/', 1)[-1]}: {what}")
    return Mutated(files, tuple(done))


# -- the property ------------------------------------------------------------------------------


def _stage_and_check(ret: Return, files: dict[str, bytes]) -> None:
    home = Path(tempfile.mkdtemp(prefix="npd-mutation-"))
    try:
        config = Settings.from_env(home)
        config.ensure_dirs()
        for path, data in files.items():
            target = config.landing_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        try:
            report = stage(config, ret.partition)
        except (InputError, PartitionBlocked):
            return  # our own refusal, with our own message
        accounted = {a.source_file for a in report.files}
        missing = sorted(set(files) - accounted)
        assert not missing, f"not in the stage report: {missing}"
        for a in report.files:
            assert a.status in STATUSES, a
            assert a.balanced, a
            assert min(a.rows_read, a.rows_staged, a.rows_quarantined) >= 0, a
            if a.status == "rejected" and not any(" kept" in m for m in a.messages):
                assert a.rows_staged == 0, a  # refused whole, unless it says what was kept
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _property(name: str):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def test(returns: dict[str, Return], data: st.DataObject) -> None:
        ret = returns[name]
        mutated = data.draw(mutated_return(ret), label="mutations")
        try:
            _stage_and_check(ret, mutated.files)
        except AssertionError as exc:
            raise AssertionError(f"{name} after {mutated!r}: {exc}") from exc

    return test


test_census_csv_mutations = _property("census")
test_key_stage_csv_mutations = _property("key stage")
test_ssda903_csv_mutations = _property("ssda903 csv")
test_ssda903_xml_mutations = _property("ssda903 xml")
test_cin_xml_mutations = _property("cin")
test_ilr_xml_mutations = _property("ilr")


def test_the_unmutated_returns_stage_clean(returns: dict[str, Return]) -> None:
    """The property starts from valid returns: each stages with nothing refused or lost."""
    for ret in returns.values():
        home = Path(tempfile.mkdtemp(prefix="npd-mutation-"))
        try:
            config = Settings.from_env(home)
            config.ensure_dirs()
            for path, data in ret.files.items():
                target = config.landing_dir / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            report = stage(config, ret.partition)
            assert report.blocking == [], (ret.name, report.blocking)
            assert {a.status for a in report.files if a.source_file in ret.files} == {"ok"}
            assert report.rows_quarantined == 0, (ret.name, report.quarantine_reasons)
        finally:
            shutil.rmtree(home, ignore_errors=True)
