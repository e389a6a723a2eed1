"""docs/synthetic-data.md shows the same defect and rate tables as the code."""

from __future__ import annotations

from pathlib import Path

from synth import defects, rates

DOC = Path(__file__).resolve().parents[2] / "docs" / "synthetic-data.md"


def test_the_documented_defect_table_is_the_one_in_the_code() -> None:
    assert defects.markdown() in DOC.read_text(encoding="utf-8")


def test_the_documented_rates_table_is_the_one_in_the_code() -> None:
    assert rates.markdown() in DOC.read_text(encoding="utf-8")
