"""Writing one index version: the base version plus a ``Plan``, verified, switched in.

In: the index directory (with its lock held: ``locking``), the base version to build on
(None: from empty), a ``manifest.Plan`` and the seeds (for their dictionaries). Out: a
new complete version, switched in with ``CURRENT``; its name (``write_version``).

A version is written as ``<name>.building`` beside the live one: an update hard-links the
base version's files (Whoosh never rewrites a segment file, it only adds new ones), deletes
and adds the changed articles, then the version is verified (``indexing.verify_version``,
which saves the literal index of new segments), gets its autocomplete data, manifest and
``meta.json`` (naming its parent, the version live when it was written), and is renamed
and switched in. Any failure removes the ``.building`` directory; a run killed at any
moment leaves one behind, which the next run removes (``remove_abandoned_builds``); the
served version is never touched. Big batches use Whoosh's writer processes, which die
with the run (a fork hook sets PR_SET_PDEATHSIG on Linux) and whose death fails the run
instead of stalling it.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from whoosh import index as whoosh_index

from . import whoosh_compat
from .analysis import SYNONYMS, USER_DICTIONARY, use_jieba_rs
from .indexing import (
    BUILDING_SUFFIX,
    META_FILE,
    IndexMeta,
    article_documents,
    current_version,
    fsync_dir,
    make_schema,
    new_version_name,
    now_iso,
    switch_to,
    verify_version,
    write_meta,
)
from .literal_index import has_saved, save_segment
from .manifest import MANIFEST_FILE, Plan, write_manifest
from .suggest import SUGGEST_FILE, add_articles, collect_entries, read_entries, write_entries

MULTIPROCESS_MIN_PARAGRAPHS = 20_000
SUGGEST_FULL_ABOVE = 2_000  # articles added: above this, rebuild autocomplete from the lexicon


class Progress(Protocol):
    """Told how many articles will be indexed, then of each one handed to the writer, then
    of the steps after (with several writer processes, indexing goes on in those steps)."""

    def start(self, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def stage(self, what: str) -> None: ...


# --- writer processes -------------------------------------------------------------------


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# While a multi-process writer runs: (its pid, libc's prctl). Read by forked children only.
_writer_parent: tuple[int, Callable[..., int]] | None = None


def _die_with_writer() -> None:
    """In a child forked while a writer runs (Whoosh's writer processes): have the kernel
    kill it when the writer's process dies, even by SIGKILL. Otherwise it waits forever for
    work, with its memory, files of a deleted directory and the inherited index lock."""
    global _writer_parent
    if _writer_parent is None:
        return
    parent, prctl = _writer_parent
    _writer_parent = None  # forks of this child are not writer processes
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


if hasattr(os, "register_at_fork"):  # every fork calls it; it acts only during a write
    os.register_at_fork(after_in_child=_die_with_writer)


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


@contextmanager
def _writer_processes_die_with_us() -> Iterator[None]:
    """Processes forked meanwhile die with this process (Linux; elsewhere nothing). Only
    forks made inside are affected: the server's workers never are."""
    global _writer_parent
    prctl = _libc_prctl()
    _writer_parent = (os.getpid(), prctl) if prctl else None
    try:
        yield
    finally:
        _writer_parent = None


class _WatchedJobs:
    """Whoosh's job queue for its writer processes, but a put() that notices when one of
    them died (killed for memory, a write error): the queue is bounded, so the update
    would otherwise wait forever, holding the lock."""

    def __init__(self, jobs, tasks: list) -> None:  # type: ignore[no-untyped-def, type-arg]
        self.jobs, self.tasks = jobs, tasks

    def put(self, item: object) -> None:
        while True:
            try:
                self.jobs.put(item, timeout=0.5)
                return
            except queue.Full:
                for task in self.tasks:
                    if task.exitcode:  # any end before the last job is a failure
                        message = f"a writer process died (exit code {task.exitcode})"
                        raise OSError(message) from None

    def get(self, *args: object, **kwargs: object) -> object:
        return self.jobs.get(*args, **kwargs)

    def cancel_join_thread(self) -> None:
        self.jobs.cancel_join_thread()


def _end_writer_processes(writer) -> None:  # type: ignore[no-untyped-def]
    """Stop writer processes still running (a failed write): Whoosh's cancel() does not
    reach them, and the interpreter would wait for them forever at exit."""
    for task in whoosh_compat.writer_processes(writer):
        if task.is_alive():
            task.kill()
            # Nobody will read what is still queued for it: do not wait on that at exit.
            whoosh_compat.job_queue(writer).cancel_join_thread()
        task.join()


# --- writing a version ------------------------------------------------------------------


def copy_dictionaries(seeds: Path, target: Path) -> None:
    """Each version keeps the dictionaries it was made with (servers load them from it)."""
    for name in (USER_DICTIONARY, SYNONYMS):
        if (seeds / name).is_file():
            shutil.copy2(seeds / name, target / name)


def _link_version(source: Path, target: Path) -> None:
    """Give ``target`` the index files of ``source`` (hard links; copies across filesystems)."""
    for item in source.iterdir():
        if item.name in (MANIFEST_FILE, META_FILE, USER_DICTIONARY, SYNONYMS, SUGGEST_FILE):
            continue
        if not item.is_file():
            continue
        try:
            os.link(item, target / item.name)
        except OSError:
            shutil.copy2(item, target / item.name)


def write_version(
    index_dir: Path,
    base: str | None,
    plan: Plan,
    seeds: Path | None,
    progress: Progress | None,
    carry_from: str | None = None,
) -> str:
    """Write a new version (from ``base`` or empty, plus ``plan.carry`` re-indexed from
    ``carry_from``), verify it, switch to it; its name. Its parent is the live version."""
    use_jieba_rs()  # bulk segmentation: jieba's words, by jieba-rs (analysis.cut)
    name = new_version_name()
    live = current_version(index_dir)
    parent = live if live and (index_dir / live).is_dir() else None
    building = index_dir / f"{name}{BUILDING_SUFFIX}"
    building.mkdir()
    try:
        if base is None:
            ix = whoosh_index.create_in(str(building), make_schema())
        else:
            _link_version(index_dir / base, building)
            ix = whoosh_index.open_dir(str(building))
        if seeds is not None:
            copy_dictionaries(seeds, building)
        paragraphs = sum(len(a.paragraphs) for a in plan.add)
        # A large pool keeps postings in memory: no pickled temporary runs to write and re-read.
        # No compound segment file: Whoosh reads a compound file's parts into a private
        # in-memory copy per searcher (hundreds of MB per thread); plain files are shared
        # through the page cache.
        options: dict[str, object] = {"limitmb": 2048, "compound": False}
        if paragraphs >= MULTIPROCESS_MIN_PARAGRAPHS and (os.cpu_count() or 1) > 1:
            # Each process pays for loading jieba's dictionary; worth it only for big batches.
            options.update(procs=min(os.cpu_count() or 1, 4), multisegment=True)
        with _writer_processes_die_with_us():
            writer = ix.writer(**options)
            # Several processes: no stall if one of them dies.
            whoosh_compat.watch_job_queue(writer, _WatchedJobs)
            try:
                _fill(writer, plan, index_dir / carry_from if carry_from else None, progress)
                if progress:
                    progress.stage("finishing the segments")
                writer.commit()
            finally:
                _end_writer_processes(writer)
        probe = plan.add[0] if plan.add else None
        if progress:
            progress.stage("literal index and checks")
        _save_literal_indexes(ix)
        verify_version(ix, plan.manifest.paragraphs, probe)
        if progress:
            progress.stage("autocomplete data")
        _write_suggestions(ix, building, None if base is None else index_dir / base, plan)
        ix.close()
        write_manifest(building, plan.manifest)
        counts = (len(plan.manifest.articles), plan.manifest.paragraphs)
        write_meta(building, IndexMeta(name, now_iso(), *counts, str(seeds or ""), parent))
        fsync_dir(building)
        os.rename(building, index_dir / name)
        switch_to(index_dir, name)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return name


def _save_literal_indexes(ix) -> None:  # type: ignore[no-untyped-def]
    """The literal index of the version's new segments, one process per segment when there
    are several (the segments of the writer processes, each ~5 s on the full corpus) and
    cores to spare; ``verify_version`` saves what is left (and checks all of it)."""
    processes = os.cpu_count() or 1
    version_dir = Path(ix.storage.folder)
    with ix.reader() as reader:
        segments = [leaf.segment().segment_id() for leaf, _offset in reader.leaf_readers()]
    missing = [s for s in segments if not has_saved(version_dir, s)]
    if len(missing) < 2 or processes < 2:
        return
    # Forked, so the children share what this process loaded; they die with it.
    context = multiprocessing.get_context("fork")
    with _writer_processes_die_with_us():
        with context.Pool(min(processes, len(missing))) as pool:
            pool.starmap(save_segment, [(version_dir, s) for s in missing], chunksize=1)


def _fill(writer, plan: Plan, carry_from: Path | None, progress: Progress | None) -> None:  # type: ignore[no-untyped-def]
    """Hand the writer its deletions and documents (cancelled if anything fails)."""
    if progress:
        progress.start(len(plan.add) + len(plan.carry))
    try:
        for article_id in plan.delete:
            writer.delete_by_term("article_id", article_id)
        for article in plan.add:
            for doc in article_documents(article):
                writer.add_document(**doc)
            if progress:
                progress.advance()
        if plan.carry and carry_from is not None:
            # Every field is stored: the old documents, analysed again with today's dictionary.
            # Only the fields of this version's schema (older ones stored article_hash too).
            names = frozenset(writer.schema.names())
            with whoosh_index.open_dir(str(carry_from)).searcher() as old:
                for article_id in plan.carry:
                    for docnum in old.document_numbers(article_id=article_id):
                        fields = old.stored_fields(docnum)
                        writer.add_document(**{k: v for k, v in fields.items() if k in names})
                    if progress:
                        progress.advance()
    except BaseException:
        writer.cancel()
        raise


def _write_suggestions(ix, building: Path, base: Path | None, plan: Plan) -> None:  # type: ignore[no-untyped-def]
    """Autocomplete data: from the whole lexicon on a build or a big update; from the
    previous version plus what was added on a small one (keeps updates fast)."""
    if base is None or len(plan.add) > SUGGEST_FULL_ABOVE:
        with ix.searcher() as searcher:
            titles = (a.title for a in plan.manifest.articles.values())
            write_entries(building, collect_entries(searcher, titles))
        return
    texts = (p.text for a in plan.add for p in a.paragraphs)
    write_entries(building, add_articles(read_entries(base), texts, (a.title for a in plan.add)))


def remove_abandoned_builds(index_dir: Path) -> None:
    """Delete ``.building`` directories left by runs that died (call with the lock held)."""
    for p in index_dir.iterdir():
        if p.is_dir() and p.name.endswith(BUILDING_SUFFIX):
            shutil.rmtree(p, ignore_errors=True)
