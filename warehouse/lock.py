"""One writer at a time: an exclusive lock around every write to the embedded stores.

Embedded DuckDB allows a single writing process. A second run waits for the lock
up to a timeout, then refuses with a clear message; it never interleaves.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockTimeout(RuntimeError):
    pass


@contextmanager
def exclusive(path: Path, timeout: float | None = None, poll: float = 0.2) -> Iterator[None]:
    timeout = float(os.environ.get("NPD_LOCK_TIMEOUT", 600)) if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    raise LockTimeout(
                        f"the warehouse is busy: {holder} holds {path.name}; gave up after {timeout:.0f}s"
                    ) from None
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
