"""Where searchsvc reaches inside Whoosh: every private attribute and patch, in one place.

Written against whoosh-reloaded 2.7.5 (``WHOOSH_VERSION``); ``tests/test_whoosh_compat.py``
fails if the installed Whoosh is another version or if any internal used here changed, so
an upgrade is a deliberate step, not a surprise at run time.

* ``patch_length_column_cache``: remember that a segment has no length column for a field
  (Whoosh stats the disk again for every posting of an unscored field otherwise).
* ``segment_folder``, ``reader_version_key``: where a segment reader's files are, and what
  identifies the version a reader reads (the literal index maps its arrays by them).
* ``writer_processes``, ``watch_job_queue``: the worker processes of a multi-process
  writer (``MpWriter.tasks``) and its bounded job queue (``MpWriter.jobqueue``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import whoosh
from whoosh.codec import whoosh3

WHOOSH_VERSION = (2, 7, 5)


def patch_length_column_cache() -> None:
    """Whoosh 2.7's per-document reader remembers a field's length column, but not its
    absence: for every posting of an unscored field it stats the disk again (millions of
    stat calls per build). A segment's columns never change, so remember "none" too."""
    reader_class = whoosh3.W3PerDocReader
    if getattr(reader_class, "_searchsvc_patched", False):
        return

    def _cached_reader(self, fieldname, column):  # type: ignore[no-untyped-def]
        if fieldname not in self._readers:
            has = self.has_column(fieldname)
            self._readers[fieldname] = self.column_reader(fieldname, column) if has else None
        return self._readers[fieldname]

    reader_class._cached_reader = _cached_reader
    reader_class._searchsvc_patched = True


def segment_folder(leaf: Any) -> str:
    """The directory of a segment reader's files. Whoosh keeps it only on the reader's
    storage (the second of an overlay, for a segment in a compound file)."""
    storage = leaf._storage
    return str(getattr(storage, "b", storage).folder)


def reader_version_key(reader: Any) -> tuple[object, ...] | None:
    """What identifies the version a reader reads: its folder, its TOC generation and its
    segments with their deletion counts (None when the reader does not say)."""
    try:
        leaves = [leaf for leaf, _offset in reader.leaf_readers()]
        folder = segment_folder(leaves[0]) if leaves else None
        generation = getattr(reader, "_gen", None) or getattr(leaves[0], "_gen", None)
        segments = tuple(
            (leaf.segment().segment_id(), leaf.segment().deleted_count()) for leaf in leaves
        )
    except (AttributeError, IndexError):
        return None
    return (folder, generation, segments) if folder and segments else None


def writer_processes(writer: Any) -> list[Any]:
    """The worker processes of a multi-process writer ([] for a single-process one)."""
    return list(getattr(writer, "tasks", ()))


def watch_job_queue(writer: Any, wrap: Callable[[Any, list[Any]], Any]) -> None:
    """Replace a multi-process writer's job queue by ``wrap(queue, processes)`` (nothing
    for a single-process writer)."""
    if hasattr(writer, "jobqueue"):
        writer.jobqueue = wrap(writer.jobqueue, writer.tasks)


def job_queue(writer: Any) -> Any:
    """A multi-process writer's job queue (as wrapped, if it was)."""
    return writer.jobqueue


def installed_version() -> tuple[int, ...]:
    return tuple(whoosh.__version__)
