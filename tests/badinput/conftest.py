"""The synthetic base both bad-input test modules damage: generated once per session."""

from __future__ import annotations

import pytest

from tests.badinput.corpus import Base


@pytest.fixture(scope="session")
def corpus_base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return Base(tmp_path_factory.mktemp("badinput-base") / "base")
