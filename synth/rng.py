"""Named random streams, so each part of the generator draws from its own seeded stream.

Deriving a stream from (seed, labels) rather than sharing one generator means a change
in how many numbers one step draws does not shift every later step: files stay
byte-identical for the same seed and arguments, and parts can be regenerated alone.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, *labels: str | int) -> np.random.Generator:
    """A generator for one named purpose, e.g. stream(seed, "census", 4, "defects")."""
    key = [zlib.crc32(str(label).encode()) for label in labels]
    return np.random.default_rng(
        np.random.SeedSequence(seed & 0xFFFF_FFFF_FFFF_FFFF, spawn_key=key)
    )
