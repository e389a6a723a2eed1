"""What a partition's landing folder holds, entry by entry, before anything is opened.

Every entry is looked at with lstat (never following a link): regular files in a return
folder are candidates to read; everything else (symbolic links, FIFOs, sockets, devices,
folders nested in a return, files beside the return folders) is accounted as not used,
with the reason, and never opened. Paths are named lexically under the landing folder, so
nothing outside it, not even a link's target, reaches a message.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings
from core.partition import Partition
from ingest.accounting import UNUSED_TABLE, FileAccount
from ingest.errors import InputError
from ingest.landing import census_file_prefix, period_dir
from ingest.sniff import FileFacts
from ingest.spec import FeedSpec

_KINDS = (
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)
_CENSUS_PREFIX = re.compile(r"^(\d{4})_(autumn|spring|summer)_(.+)$", re.IGNORECASE)


@dataclass
class Return:
    """One return folder (an LA's, a provider's, or the period folder itself)."""

    path: Path
    name: str
    files: list[Path] = field(default_factory=list)  # regular files, sorted by name
    sizes: dict[Path, int] = field(default_factory=dict)  # bytes of each file, from lstat
    unused: list[FileAccount] = field(default_factory=list)  # entries in it never opened

    def reads_as_xml(self, spec: FeedSpec) -> bool:
        """Is this return read as XML? Always for an xml feed; for a csv_tables feed with an
        xml: section, when the folder holds an XML file with something in it."""
        if spec.format == "xml":
            return True
        return bool(spec.raw.get("xml")) and any(
            f.suffix.lower() == ".xml" and self.sizes[f] > 0 for f in self.files
        )


@dataclass
class Inventory:
    folder: str  # the period's landing folder, named under the landing folder
    returns: list[Return]
    loose: list[FileAccount]  # entries beside the return folders, never opened

    @property
    def unused(self) -> list[FileAccount]:
        """Every entry never opened, with the reason."""
        return self.loose + [u for r in self.returns for u in r.unused]

    @property
    def files(self) -> list[Path]:
        """Every regular file of every return: what stage hashes and may read."""
        return [f for r in self.returns for f in r.files]

    def select(self, only: list[str] | None) -> Inventory:
        """The returns named in `only` (one shard's), with the entries beside the return
        folders going to the shard that holds the first return; all of them if None."""
        if only is None:
            return self
        unknown = sorted(set(only) - {r.name for r in self.returns})
        if unknown:
            raise InputError(self.folder, f"no such return(s) to stage: {', '.join(unknown)}")
        chosen = [r for r in self.returns if r.name in set(only)]
        first = bool(chosen) and chosen[0] is self.returns[0]
        return Inventory(self.folder, chosen, self.loose if first else [])


def source_name(path: Path, landing: Path) -> str:
    """The path under the landing folder, lexically (a link is named, never resolved); bytes
    of a name that are not UTF-8 are shown as U+FFFD."""
    try:
        name = path.relative_to(landing).as_posix()
    except ValueError:
        name = path.name
    return os.fsencode(name).decode("utf-8", errors="replace")


def take_inventory(settings: Settings, partition: Partition) -> Inventory:
    """The partition's returns and every entry that will not be read (raises InputError if
    the period has no landing folder)."""
    landing = settings.landing_dir
    folder = period_dir(landing, partition.feed, partition.year, partition.term)
    where = source_name(folder, landing)
    if not _is_dir(folder):
        raise InputError(where, "no landing folder for this period")
    entries = _entries(folder)
    subdirs = [p for p, mode, _ in entries if stat.S_ISDIR(mode)]
    if not subdirs:
        inventory = Inventory(where, [Return(folder, folder.name)], loose=[])
        inside = {folder: entries}
    else:
        inventory = Inventory(
            where,
            returns=[Return(p, p.name) for p in subdirs],
            loose=[
                _unused(p, landing, _kind(mode) or "a file beside the return folders")
                for p, mode, _ in entries
                if not stat.S_ISDIR(mode)
            ],
        )
        inside = {p: _entries(p) for p in subdirs}
    for ret in inventory.returns:
        for path, mode, size in inside[ret.path]:
            if stat.S_ISREG(mode) and not readable_name(path):
                ret.unused.append(_unused(path, landing, "its name is not valid UTF-8"))
            elif stat.S_ISREG(mode):
                ret.files.append(path)
                ret.sizes[path] = size
            elif stat.S_ISDIR(mode):
                ret.unused.extend(_nested(path, landing))
            else:
                ret.unused.append(_unused(path, landing, f"not a regular file ({_kind(mode)})"))
    return inventory


def _entries(folder: Path) -> list[tuple[Path, int, int]]:
    """(path, mode, size) of each entry, by name, from lstat: a link is never followed."""
    with os.scandir(folder) as it:
        found = []
        for e in it:
            st = e.stat(follow_symlinks=False)
            found.append((Path(e.path), st.st_mode, st.st_size))
    return sorted(found, key=lambda item: item[0].name)


def readable_name(path: Path) -> bool:
    """Is the file's name valid UTF-8? Such a name cannot be written to a report or a table
    as it is (os.scandir hands its bad bytes over as surrogates)."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _kind(mode: int) -> str | None:
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


def _nested(folder: Path, landing: Path) -> list[FileAccount]:
    """A folder inside a return is not read; each entry in it is named (never followed)."""
    found = [_unused(folder, landing, "a folder inside a return folder: not read")]
    for path, mode, _ in _entries(folder):
        if stat.S_ISDIR(mode):
            found.extend(_nested(path, landing))
        else:
            found.append(_unused(path, landing, "inside a folder nested in a return: not read"))
    return found


def _unused(path: Path, landing: Path, why: str, table: str = UNUSED_TABLE) -> FileAccount:
    source = source_name(path, landing)
    return FileAccount(
        source_file=source, table=table, status="unused", messages=[f"{source}: not used: {why}"]
    )


# -- matching files to tables ---------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    table: str | None
    # With a table: a reason to refuse the file whole (e.g. another period's name); without
    # one: why the file is not used, when there is more to say than "no table of that name".
    problem: str | None = None


def match_table(name: str, spec: FeedSpec, partition: Partition, suffix: str = "csv") -> Match:
    """Which table a file is, by its name: <name>.csv, a census export's
    <yyyy>_<term>_<name>.csv, or an annual file's <name>_<yyyy-yy>.csv (case-insensitive),
    where <name> is one the spec says the table arrives under in the partition's term
    (`names:`; by default the table's own name).

    A census prefix naming another period matches its table but is a problem: last year's
    file in this year's folder must be refused, not read. A name the table takes only in
    another term matches nothing, and says so (its columns are that term's)."""
    lowered = name.lower()
    if not lowered.endswith(f".{suffix}"):
        return Match(None)
    stem = lowered[: -len(suffix) - 1]
    tables = {n.lower(): t for t, ts in spec.tables.items() for n in ts.file_names(partition.term)}
    found = _name_in(stem, tables)
    if found is None:
        return _other_terms_name(stem, spec, partition)
    table, base, census = found
    if census is not None:
        if partition.term is None:
            return Match(table)
        expected = census_file_prefix(partition.year, partition.term)
        named = f"{census.group(1)}_{census.group(2).lower()}"
        if named != expected:
            return Match(
                table,
                f"named for {named.replace('_', ' ')}, but the partition is "
                f"{partition.label} (its files are named {expected}_*)",
            )
        return Match(table)
    annual = re.fullmatch(r"(.+)_(\d{4})-(\d{2})", stem)
    if annual and annual.group(1) == base:
        named = f"{annual.group(2)}-{annual.group(3)}"
        if named != partition.year.slug:
            return Match(table, f"named for {named}, but the partition is {partition.year.label}")
    return Match(table)


def _name_in(stem: str, tables: dict[str, str]) -> tuple[str, str, re.Match | None] | None:
    """(table, the name it arrived under, the census prefix if any) of a file's stem."""
    if stem in tables:
        return tables[stem], stem, None
    annual = re.fullmatch(r"(.+)_(\d{4})-(\d{2})", stem)
    if annual and annual.group(1) in tables:
        return tables[annual.group(1)], annual.group(1), None
    census = _CENSUS_PREFIX.match(stem)
    if census and census.group(3) in tables:
        return tables[census.group(3)], census.group(3), census
    return None


def _other_terms_name(stem: str, spec: FeedSpec, partition: Partition) -> Match:
    """No match; if the name is one a table takes in another term, a reason saying so."""
    if partition.term is None:
        return Match(None)
    elsewhere = {
        n: t
        for t, ts in spec.tables.items()
        for n in set(ts.file_names()) - set(ts.file_names(partition.term))
    }  # declared names are lower case (ingest.spec)
    found = _name_in(stem, elsewhere)
    if found is None:
        return Match(None)
    table, base, _ = found
    terms = [t for t, names in spec.tables[table].names if base in names]
    expected = ", ".join(spec.tables[table].file_names(partition.term))
    return Match(
        None,
        f"{base} is the {'/'.join(terms)} name of table {table}; in {partition.term} it "
        f"arrives as {expected}",
    )


# -- what each return supplies ---------------------------------------------------------------


@dataclass
class ReadPlan:
    """Which files stage reads, and as what; what it will not read; what it must refuse."""

    xml_returns: list[tuple[Path, list[Path]]] = field(default_factory=list)  # folder, files
    csv_files: dict[str, list[tuple[Path, str]]] = field(default_factory=dict)  # table -> files
    present: list[tuple[str, str]] = field(default_factory=list)  # (return, table) as CSV
    missing: list[tuple[Path, str]] = field(default_factory=list)  # (return folder, table)
    unused: list[FileAccount] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # source -> why, refused once read
    return_of: dict[str, str] = field(default_factory=dict)  # source of a CSV file -> return


def plan_returns(
    landing: Path,
    spec: FeedSpec,
    partition: Partition,
    returns: list[Return],
    facts: dict[Path, FileFacts],
) -> ReadPlan:
    """Match every regular file of every return to a table of the spec, or say why not.

    Two files for one table in a return (the same data under two names, or two different
    files) are both read, so their rows are counted, and both refused: neither is picked
    silently. A file whose name matches no table is not used; if its content is a file
    that is read, it is named as a duplicate delivery of it."""
    plan = ReadPlan()
    read: dict[str, Path] = {}  # sha256 -> a file that is read
    spare: list[Path] = []
    not_matched: dict[Path, str] = {}  # a file no table takes in this term, and why
    for ret in returns:
        if ret.reads_as_xml(spec):
            xml_files = [f for f in ret.files if f.suffix.lower() == ".xml" and facts[f].size]
            plan.xml_returns.append((ret.path, xml_files))
            for f in ret.files:
                if facts[f].size == 0:
                    plan.unused.append(_unused(f, landing, "empty file (0 bytes)"))
                elif f.suffix.lower() == ".xml":
                    read.setdefault(facts[f].sha256, f)
                elif spec.format == "xml":
                    spare.append(f)
                else:
                    why = f"the return {ret.name} is sent as XML: its other files are not read"
                    plan.unused.append(_unused(f, landing, why))
            if len(xml_files) > 1:
                _refuse_together(plan, xml_files, landing, facts, f"return {ret.name}")
            continue
        by_table: dict[str, list[Path]] = {}
        for f in ret.files:
            if facts[f].size == 0:
                plan.unused.append(_unused(f, landing, "empty file (0 bytes)"))
                continue
            match = match_table(f.name, spec, partition)
            if match.table is None:
                spare.append(f)
                if match.problem:
                    not_matched[f] = match.problem
                continue
            by_table.setdefault(match.table, []).append(f)
            if match.problem:
                plan.refuse[source_name(f, landing)] = match.problem
        for table in spec.tables:
            files = by_table.get(table, [])
            if not files:
                plan.missing.append((ret.path, table))
                continue
            plan.csv_files.setdefault(table, []).extend((f, ret.name) for f in files)
            plan.return_of.update((source_name(f, landing), ret.name) for f in files)
            plan.present.append((ret.name, table))
            for f in files:
                read.setdefault(facts[f].sha256, f)
            if len(files) > 1:
                _refuse_together(plan, files, landing, facts, f"table {table} of {ret.name}")
    _refuse_copies_across_returns(plan, landing, facts)
    for f in spare:
        twin = read.get(facts[f].sha256)
        why = (
            f"duplicate delivery of {source_name(twin, landing)} (the same bytes)"
            if twin is not None
            else not_matched.get(f, f"no table of that name in the {spec.feed} spec")
        )
        plan.unused.append(_unused(f, landing, why))
    return plan


def _refuse_together(
    plan: ReadPlan, files: list[Path], landing: Path, facts: dict[Path, FileFacts], what: str
) -> None:
    names = [source_name(f, landing) for f in files]
    same = len({facts[f].sha256 for f in files}) == 1
    for name in names:
        others = ", ".join(n for n in names if n != name)
        why = (
            f"the same data delivered twice for {what} (also as {others}); neither is read"
            if same
            else f"more than one file for {what} (also {others}); neither is read"
        )
        plan.refuse[name] = why


def _refuse_copies_across_returns(
    plan: ReadPlan, landing: Path, facts: dict[Path, FileFacts]
) -> None:
    """The same file (with rows) in two returns: one return's data sent as another's."""
    by_sha: dict[str, list[Path]] = {}
    for files in plan.csv_files.values():
        for f, _ in files:
            if facts[f].newlines > 1:
                by_sha.setdefault(facts[f].sha256, []).append(f)
    for copies in by_sha.values():
        if len({f.parent for f in copies}) > 1:
            names = [source_name(f, landing) for f in copies]
            for name in names:
                others = ", ".join(n for n in names if n != name)
                plan.refuse.setdefault(
                    name,
                    f"the same data delivered in another return too ({others}); neither is read",
                )
