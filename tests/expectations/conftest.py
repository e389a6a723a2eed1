"""Fixtures for the expectations tests: one GX context per test module, small frames."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh GX project per test module: opening and registering once keeps tests fast."""
    return tmp_path_factory.mktemp("gx") / "gx"
