"""docs/five-safes.md keeps up with the vocabulary, the roles and the standard extracts."""

from __future__ import annotations

from pathlib import Path

from governance.extract import standard_extracts
from governance.roles import Roles
from warehouse_schema.catalogue import load_catalogue

DOC = (Path(__file__).resolve().parents[2] / "docs" / "five-safes.md").read_text(encoding="utf-8")


def _row(first_cell: str) -> str:
    return next(line for line in DOC.splitlines() if line.startswith(f"| {first_cell} |"))


def test_every_purpose_is_in_the_purpose_table_and_never_ones_say_so() -> None:
    for name, purpose in load_catalogue().vocabulary["purposes"].items():
        row = _row(f"`{name}`")
        assert ("**never**" in row) == bool(purpose.get("never")), name


def test_every_tier_role_and_standard_extract_is_described() -> None:
    for tier in load_catalogue().vocabulary["tiers"]:
        assert _row(str(tier))
    roles = Roles("npd")
    for role in (roles.owner, roles.linkage, roles.auditor, roles.tier(1), roles.tier(4)):
        assert f"`{role}`" in DOC, role
    for name in standard_extracts():
        assert f"`{name}`" in DOC, name
