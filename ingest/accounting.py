"""Row accounting: for every file, rows read = rows staged + rows quarantined."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FileAccount:
    source_file: str  # relative to the landing folder
    table: str
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    status: str = "ok"  # ok | rejected | missing
    messages: list[str] = field(default_factory=list)

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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            rows_read=self.rows_read,
            rows_staged=self.rows_staged,
            rows_quarantined=self.rows_quarantined,
        )
        return out

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> StageReport:
        raw = json.loads(path.read_text(encoding="utf-8"))
        files = [FileAccount(**f) for f in raw.pop("files")]
        for key in ("rows_read", "rows_staged", "rows_quarantined"):
            raw.pop(key, None)
        return cls(files=files, **raw)
