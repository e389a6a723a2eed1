"""Finding one child in the identity store, by UPN or by name and date of birth.

Used by subject access and by the objection register. Values are passed as bound
parameters and never appear in SQL text, logs or messages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from linkage.identifiers import classify_upn, normalise


class SubjectError(ValueError):
    """The request does not identify a child well enough (never quotes what was given)."""


@dataclass(frozen=True)
class Lookup:
    """How a family identifies the child: a UPN, or surname, forename and date of birth."""

    upn: str | None = None
    surname: str | None = None
    forename: str | None = None
    dob: dt.date | None = None

    @property
    def kind(self) -> str:
        return "upn" if self.upn else "name_dob"

    @classmethod
    def of(
        cls,
        upn: str | None = None,
        surname: str | None = None,
        forename: str | None = None,
        dob: str | dt.date | None = None,
    ) -> Lookup:
        if upn:
            status = classify_upn(upn)
            if not status.usable:
                raise SubjectError(
                    f"the UPN given is not a usable UPN ({status.value}): check it with the school"
                )
            return cls(upn=normalise(upn))
        if not (surname and forename and dob):
            raise SubjectError("give the child's UPN, or their surname, forename and date of birth")
        if isinstance(dob, str):
            try:
                dob = dt.date.fromisoformat(dob)
            except ValueError:
                raise SubjectError("the date of birth must be written YYYY-MM-DD") from None
        return cls(surname=surname.strip(), forename=forename.strip(), dob=dob)


def find_persons(conn: sa.Connection, lookup: Lookup) -> list[int]:
    """Person ids in the master index matching the lookup (none, one, or several)."""
    if lookup.upn:
        rows = conn.execute(
            sa.text(
                "SELECT DISTINCT person_id FROM identity.person_identifier "
                "WHERE id_type = 'UPN' AND id_value = :upn ORDER BY person_id"
            ),
            {"upn": lookup.upn},
        ).fetchall()
    else:
        rows = conn.execute(
            sa.text(
                "SELECT DISTINCT person_id FROM identity.record_identity "
                "WHERE person_id IS NOT NULL AND lower(surname) = lower(:surname) "
                "AND lower(forename) = lower(:forename) AND dob = :dob ORDER BY person_id"
            ),
            {"surname": lookup.surname, "forename": lookup.forename, "dob": lookup.dob},
        ).fetchall()
    return [int(r[0]) for r in rows]


def find_one(conn: sa.Connection, lookup: Lookup) -> int:
    """The one child the lookup names, or a SubjectError saying why not."""
    found = find_persons(conn, lookup)
    if not found:
        raise SubjectError("no child matching those details is held")
    if len(found) > 1:
        raise SubjectError(
            f"{len(found)} children match those details: give the child's UPN to say which"
        )
    return found[0]
