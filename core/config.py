"""Settings from the environment, with embedded defaults under the project's var/ folder.

Every path and URL a step needs comes from here, so the CLI, the DAGs and the
tests run the same code against different homes by setting NPD_HOME.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _project_root() -> Path:
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def default_home() -> Path:
    return Path(os.environ.get("NPD_HOME") or (_project_root() / "var")).resolve()


def _duckdb_url(path: Path) -> str:
    return f"duckdb:///{path}"


@dataclass(frozen=True)
class Settings:
    """Where things live. Build with Settings.from_env(); override fields in tests."""

    home: Path
    landing_dir: Path
    warehouse_url: str
    identity_url: str
    staging_dir: Path = field(init=False)
    gx_dir: Path = field(init=False)
    reports_dir: Path = field(init=False)
    truth_dir: Path = field(init=False)
    secrets_dir: Path = field(init=False)
    tmp_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "staging_dir", self.home / "staging")
        object.__setattr__(self, "gx_dir", self.home / "gx")
        object.__setattr__(self, "reports_dir", self.home / "reports")
        object.__setattr__(self, "truth_dir", self.home / "truth")
        object.__setattr__(self, "secrets_dir", self.home / "secrets")
        object.__setattr__(self, "tmp_dir", self.home / "tmp")

    @classmethod
    def from_env(cls, home: Path | str | None = None) -> Settings:
        base = Path(home).resolve() if home else default_home()
        env = os.environ
        return cls(
            home=base,
            landing_dir=Path(env.get("NPD_LANDING_DIR") or base / "landing").resolve(),
            warehouse_url=env.get("NPD_WAREHOUSE_URL") or _duckdb_url(base / "warehouse.duckdb"),
            identity_url=env.get("NPD_IDENTITY_URL") or _duckdb_url(base / "identity_store.duckdb"),
        )

    def ensure_dirs(self) -> None:
        for path in (self.home, self.staging_dir, self.gx_dir, self.reports_dir, self.tmp_dir):
            path.mkdir(parents=True, exist_ok=True)
