"""Row accounting: for every file, rows read = rows staged + rows quarantined."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# ok: read; rejected: refused whole (its rows counted and all quarantined); missing: a required
# table the return lacks; unused: in the landing folder but not read (the message says why:
# no table of that name, a duplicate delivery, not a regular file, ...).
STATUSES = ("ok", "rejected", "missing", "unused")
UNUSED_TABLE = "-"  # the table of an unused file that matches no table


@dataclass
class FileAccount:
    source_file: str  # relative to the landing folder
    table: str
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    status: str = "ok"  # one of STATUSES
    messages: list[str] = field(default_factory=list)
    rows_warned: int = 0  # staged rows carrying at least one warning (still loaded)
    reason: str | None = None  # why the file was refused or is missing (the first such message)

    def refuse(self, message: str, status: str = "rejected") -> None:
        """Mark the file refused (or missing) for a reason, kept apart from mere notes."""
        self.status = status
        self.reason = self.reason or message
        self.messages.append(message)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_staged + self.rows_quarantined


@dataclass
class StageReport:
    feed: str
    academic_year: str
    term: str | None
    load_id: str
    files: list[FileAccount] = field(default_factory=list)
    records: int = 0  # feed-level unit records produced (e.g. pupils on roll)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    warning_reasons: dict[str, int] = field(default_factory=dict)  # "table: warning" -> rows
    blocking: list[str] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)  # source file -> sha256
    seconds: float = 0.0

    def table_totals(self, table: str) -> dict[str, int]:
        rows = [f for f in self.files if f.table == table]
        return {
            "read": sum(f.rows_read for f in rows),
            "staged": sum(f.rows_staged for f in rows),
            "quarantined": sum(f.rows_quarantined for f in rows),
        }

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_staged(self) -> int:
        return sum(f.rows_staged for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def rows_warned(self) -> int:
        return sum(f.rows_warned for f in self.files)

    @property
    def unused(self) -> list[FileAccount]:
        return [f for f in self.files if f.status == "unused"]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            rows_read=self.rows_read,
            rows_staged=self.rows_staged,
            rows_quarantined=self.rows_quarantined,
            rows_warned=self.rows_warned,
            files_unused=len(self.unused),
        )
        return out

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> StageReport:
        raw = json.loads(path.read_text(encoding="utf-8"))
        files = [FileAccount(**f) for f in raw.pop("files")]
        for key in ("rows_read", "rows_staged", "rows_quarantined", "rows_warned", "files_unused"):
            raw.pop(key, None)
        return cls(files=files, **raw)
