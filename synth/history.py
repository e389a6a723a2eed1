"""Per-person values that change at known census periods (UPN, surname, address).

Stored as sparse change events rather than a value per person per term: most people
never change, and the value at any period is one searchsorted away.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class History:
    """Change events sorted by (person, period); the value holds from its period on."""

    person: np.ndarray  # int64
    period: np.ndarray  # int16: first census period the value applies to
    value: np.ndarray
    kind: np.ndarray  # int8: why the value changed (meaning set by the owner)

    @classmethod
    def from_events(
        cls,
        person: list[np.ndarray],
        period: list[np.ndarray],
        value: list[np.ndarray],
        kind: list[np.ndarray],
    ) -> History:
        p = np.concatenate(person).astype(np.int64)
        t = np.concatenate(period).astype(np.int16)
        order = np.lexsort((t, p))
        return cls(
            person=p[order],
            period=t[order],
            value=np.concatenate(value)[order],
            kind=np.concatenate(kind).astype(np.int8)[order],
        )

    @cached_property
    def _offsets(self) -> np.ndarray:
        """Start of each person's events: events of person p are [offsets[p], offsets[p + 1])."""
        size = int(self.person.max()) + 2 if len(self.person) else 1
        return np.searchsorted(self.person, np.arange(size), side="left")

    @cached_property
    def _most(self) -> int:
        return int(np.diff(self._offsets).max()) if len(self.person) else 0

    def index_at(self, person: np.ndarray, period: np.ndarray | int) -> np.ndarray:
        """Index of the event in force for each person at a period, -1 if none yet."""
        person = np.asarray(person, dtype=np.int64)
        period = np.broadcast_to(np.asarray(period, dtype=np.int64), person.shape)
        offsets = self._offsets
        known = person < len(offsets) - 1
        safe = np.where(known, person, len(offsets) - 1)
        start, end = offsets[safe], offsets[np.minimum(safe + 1, len(offsets) - 1)]
        out = np.full(person.shape, -1, dtype=np.int64)
        for k in range(self._most):  # a person has a handful of events at most
            event = start + k
            ok = known & (event < end)
            ok[ok] &= self.period[event[ok]] <= period[ok]
            out[ok] = event[ok]
        return out

    def previous(self, index: np.ndarray) -> np.ndarray:
        """Index of the event before each given event for the same person, -1 if none."""
        prev = index - 1
        ok = (index > 0) & (self.person[np.maximum(prev, 0)] == self.person[np.maximum(index, 0)])
        return np.where(ok, prev, -1)

    def value_at(self, person: np.ndarray, period: np.ndarray | int, missing: object) -> np.ndarray:
        idx = self.index_at(person, period)
        return np.where(idx >= 0, self.value[np.maximum(idx, 0)], missing)
