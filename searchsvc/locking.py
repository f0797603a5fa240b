"""The index's writer lock: one build, update, add or rollback at a time.

In: an index directory. Out: ``index_lock(index_dir, wait)``, a context manager that holds
``index/.lock`` (an OS lock, released by the kernel when its holder dies, so a killed run
never blocks the next) and writes the holder's pid to ``index/.lock.owner`` (read by the
admin page and by the busy message); ``IndexBusyError`` when another run holds it past
``wait`` seconds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from .processes import pid_alive

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
LOCK_OWNER_FILE = ".lock.owner"


class IndexBusyError(Exception):
    """Another build or update holds the lock."""


@contextmanager
def index_lock(index_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the index's writer lock; IndexBusyError if another run holds it past ``wait`` s."""
    index_dir.mkdir(parents=True, exist_ok=True)
    owner_file = index_dir / LOCK_OWNER_FILE
    lock = filelock.FileLock(str(index_dir / LOCK_FILE))
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        owner = _read_owner(owner_file)
        raise IndexBusyError(
            f"another build or update is running on {index_dir}"
            + (f" (pid {owner})" if owner else "")
            + "; try again when it has finished, or pass --wait SECONDS"
        ) from None
    try:
        stale = _read_owner(owner_file)
        if stale and stale != os.getpid() and not pid_alive(stale):
            log.warning("recovered the lock of a run that died (pid %s)", stale)
        owner_file.write_text(str(os.getpid()), encoding="utf-8")
        yield
    finally:
        owner_file.unlink(missing_ok=True)
        lock.release()


def _read_owner(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
