"""Minting identifiers: UPNs (permanent and temporary), ULNs and the returns' table ids.

UPNs are built with linkage.identifiers (one definition of the check letter). Serial
numbers run per admitting school and allocation year, as a school's MIS allocates
them, so every UPN minted in a run is unique.
"""

from __future__ import annotations

import numpy as np

from linkage.identifiers import CHECK_TABLE, make_temporary_upns, make_ulns, make_upns

_TEMP_LETTERS = len(CHECK_TABLE)


class _Counters:
    """Next free number per integer key, updated for many keys at once."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.next = np.zeros(0, dtype=np.int64)

    def take(self, keys: np.ndarray) -> np.ndarray:
        """For each key occurrence, the next number for that key (in order of appearance)."""
        if len(keys) == 0:
            return np.zeros(0, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        uniq, start, counts = np.unique(sorted_keys, return_index=True, return_counts=True)
        rank = np.arange(len(keys)) - np.repeat(start, counts)
        base = np.zeros(len(uniq), dtype=np.int64)
        if len(self.keys):
            pos = np.minimum(np.searchsorted(self.keys, uniq), len(self.keys) - 1)
            found = self.keys[pos] == uniq
            base[found] = self.next[pos[found]]
        out = np.empty(len(keys), dtype=np.int64)
        out[order] = np.repeat(base, counts) + rank
        merged = dict(zip(self.keys.tolist(), self.next.tolist(), strict=True))  # thousands of keys
        merged.update(zip(uniq.tolist(), (base + counts).tolist(), strict=True))
        self.keys = np.array(sorted(merged), dtype=np.int64)
        self.next = np.array([merged[k] for k in self.keys.tolist()], dtype=np.int64)
        return out


class UpnMinter:
    """Allocates UPNs as admitting schools do: LA + estab + 2-digit year + serial."""

    def __init__(self) -> None:
        self._permanent = _Counters()
        self._temporary = _Counters()

    @staticmethod
    def _key(la: np.ndarray, estab: np.ndarray, year2: np.ndarray) -> np.ndarray:
        return (la.astype(np.int64) * 10000 + estab) * 100 + year2

    def permanent(self, la: np.ndarray, estab: np.ndarray, year: np.ndarray) -> np.ndarray:
        if len(la) == 0:
            return np.zeros(0, dtype="U13")
        year2 = np.asarray(year, dtype=np.int64) % 100
        serial = 1 + self._permanent.take(self._key(la, estab, year2))
        if serial.size and serial.max() > 999:
            raise ValueError("more than 999 UPNs allocated by one school in one year")
        return make_upns(la, estab, year2, serial).astype("U13")

    def temporary(self, la: np.ndarray, estab: np.ndarray, year: np.ndarray) -> np.ndarray:
        if len(la) == 0:
            return np.zeros(0, dtype="U13")
        year2 = np.asarray(year, dtype=np.int64) % 100
        k = self._temporary.take(self._key(la, estab, year2))
        if k.size and k.max() >= 100 * _TEMP_LETTERS:
            raise ValueError("more temporary UPNs allocated by one school in one year than exist")
        return make_temporary_upns(la, estab, year2, k // _TEMP_LETTERS, k % _TEMP_LETTERS).astype(
            "U13"
        )


def draw_ulns(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct valid ULNs (10 digits, first non-zero, check digit per FEEDS.md §1.2)."""
    out = np.zeros(0, dtype="U10")
    while len(out) < n:
        need = n - len(out)
        candidate = make_ulns(rng.integers(100_000_000, 1_000_000_000, size=need + need // 8 + 16))
        candidate = candidate[candidate != ""]
        pool = np.concatenate([out, candidate])
        _, first = np.unique(pool, return_index=True)
        out = pool[np.sort(first)][:n]
    return out.astype("U10")


def scramble(counter: np.ndarray, bits: int, salt: int) -> np.ndarray:
    """A bijection of [0, 2**bits): ids that look random but never collide."""
    mask = np.uint64((1 << bits) - 1)
    multiplier = np.uint64(((salt * 0x9E3779B97F4A7C15) | 1) & ((1 << bits) - 1))
    offset = np.uint64((salt * 0xBF58476D1CE4E5B9) & ((1 << bits) - 1))
    with np.errstate(over="ignore"):
        return (counter.astype(np.uint64) * multiplier + offset) & mask


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Two hex characters for every byte value, so a byte becomes two characters in one lookup.
_HEX_PAIRS = np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 15]], axis=1).astype(
    np.uint8
)


def hex_ids(values: np.ndarray, digits: int, dash_after: int | None = None) -> np.ndarray:
    """Lower-case hex strings of fixed width as bytes ('S'), optionally with a dash inside."""
    n = len(values)
    nbytes = (digits + 1) // 2
    raw = np.ascontiguousarray(values, dtype=">u8").view(np.uint8).reshape(n, 8)[:, 8 - nbytes :]
    chars = _HEX_PAIRS[raw].reshape(n, 2 * nbytes)[:, 2 * nbytes - digits :]
    if dash_after is not None:
        chars = np.concatenate(
            [chars[:, :dash_after], np.full((n, 1), ord("-"), np.uint8), chars[:, dash_after:]],
            axis=1,
        )
    return np.ascontiguousarray(chars).view(f"S{chars.shape[1]}").ravel()
