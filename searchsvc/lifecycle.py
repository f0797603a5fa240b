"""Keeping the index in line with its sources: full builds, incremental updates, rollback.

In: a seeds directory (``corpus`` sources) and an index directory (``indexing`` versions).
Out: a new verified index version switched in atomically, and a ``SyncSummary``.

Every run writes a *new* version: an update hard-links the current version's files
(Whoosh never rewrites a segment file, it only adds new ones), deletes and adds the
changed articles, verifies the result and switches ``CURRENT``. A run killed at any
moment leaves only an abandoned ``.building`` directory, removed by the next run; the
served version is never touched. One run at a time holds ``index/.lock`` (an OS lock,
released by the kernel when its holder dies, so a killed run never blocks the next).

Each version records a manifest: for every source file its size, mtime and article ids,
for every article its content hash and source. Unchanged files are not even parsed, and
unchanged articles are not re-tokenised; a file that had any problem is never taken as
unchanged (the next run reads it again). Which file provides an article is decided after
every file is known, so renames and ids moving between files update articles in place.
Each version's ``meta.json`` names its parent (the version live when it was written):
rollback and pruning follow that line. Whoosh's writer processes die with the run.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import queue
import shutil
import signal
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import filelock
from whoosh import index as whoosh_index

from . import whoosh_compat
from .analysis import SYNONYMS, USER_DICTIONARY, load_user_dictionary
from .corpus import CANNOT_LIST, Article, Problem, list_sources, read_source, source_name
from .indexing import (
    BUILDING_SUFFIX,
    IndexMeta,
    IndexVerificationError,
    article_documents,
    current_version,
    fsync_dir,
    make_schema,
    new_version_name,
    now_iso,
    prune_versions,
    read_meta,
    switch_to,
    verify_version,
    write_atomically,
    write_meta,
)
from .suggest import SUGGEST_FILE, add_articles, collect_entries, read_entries, write_entries

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
LOCK_OWNER_FILE = ".lock.owner"
MULTIPROCESS_MIN_PARAGRAPHS = 20_000
SUGGEST_FULL_ABOVE = 2_000  # articles added: above this, rebuild autocomplete from the lexicon


class IndexBusyError(Exception):
    """Another build or update holds the lock."""


class Progress(Protocol):
    """Told how many articles will be indexed, then of each one handed to the writer, then
    of the steps after (with several writer processes, indexing goes on in those steps)."""

    def start(self, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def stage(self, what: str) -> None: ...


@dataclass
class SourceState:
    size: int
    mtime_ns: int
    articles: list[str]  # the ids this source provides
    # False when reading it reported a problem (unreadable, a skipped line, an id another
    # source provides): size and mtime prove nothing then, the next update reads it again.
    complete: bool = True
    duplicates: list[str] = field(default_factory=list)  # ids it holds that another provides


@dataclass
class ArticleState:
    hash: str
    source: str
    paragraphs: int
    title: str = ""  # for autocomplete


@dataclass
class Manifest:
    sources: dict[str, SourceState] = field(default_factory=dict)
    articles: dict[str, ArticleState] = field(default_factory=dict)
    # sha256 of the seeds' userdict.txt / synonyms.txt the version was made with ("" if none)
    dictionaries: dict[str, str] = field(default_factory=dict)

    @property
    def paragraphs(self) -> int:
        return sum(a.paragraphs for a in self.articles.values())


def read_manifest(version_dir: Path) -> Manifest | None:
    try:
        data = json.loads((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        return Manifest(
            {k: SourceState(**v) for k, v in data["sources"].items()},
            {k: ArticleState(**v) for k, v in data["articles"].items()},
            data.get("dictionaries", {}),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_manifest(version_dir: Path, manifest: Manifest) -> None:
    write_atomically(
        version_dir / MANIFEST_FILE,
        json.dumps(asdict(manifest), ensure_ascii=False, separators=(",", ":")),
    )


@dataclass
class SyncSummary:
    """What one build/update did."""

    version: str | None  # the version in use afterwards (None: nothing built)
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    articles: int = 0
    paragraphs: int = 0
    sources: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    switched: bool = False  # a new version was written and switched in

    def line(self) -> str:
        """The one summary line a command prints."""
        return (
            f"{self.added} added, {self.updated} updated, {self.deleted} deleted, "
            f"{self.unchanged} unchanged, {len(self.problems)} skipped with problems; "
            f"{self.articles} articles, {self.paragraphs} paragraphs in "
            f"{self.version or 'no version'}; {self.seconds:.1f} s"
        )


# --- the lock ---------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        if stale and stale != os.getpid() and not _pid_alive(stale):
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


# --- planning ---------------------------------------------------------------------------


@dataclass
class _Plan:
    manifest: Manifest  # the state after this run
    add: list[Article]  # new or changed articles to (re)index
    delete: set[str]  # article ids whose old documents go
    carry: list[str] = field(default_factory=list)  # rebuild: ids re-indexed from the old version
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Found:
    """One source as this run found it."""

    state: SourceState  # as recorded before this run, or its size and mtime now
    parsed: dict[str, Article] | None  # None: not read, it provides what it provided
    problems: bool = False

    def holds(self, rel: str, previous: Manifest) -> list[str]:
        """The ids this source holds, in its order."""
        if self.parsed is not None:
            return list(self.parsed)
        known = previous.articles
        return [a for a in self.state.articles if a in known and known[a].source == rel]


def _scan(
    path: Path,
    rel: str,
    old: SourceState | None,
    seeds: Path,
    plan: _Plan,
    reread: bool,
    follow_symlinks: bool = False,
) -> _Found | None:
    """Read one source unless size and mtime say it is as recorded (and it was complete)."""
    try:
        stat = path.stat()
    except OSError as err:
        plan.problems.append(Problem(rel, None, f"cannot read: {err.strerror or err}"))
        return _Found(replace(old, complete=False), None, True) if old else None
    if (
        old is not None
        and old.complete
        and not reread
        and (old.size, old.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    ):
        return _Found(old, None)
    articles, problems = read_source(path, seeds, follow_symlinks)
    plan.problems.extend(problems)
    state = SourceState(stat.st_size, stat.st_mtime_ns, [])
    if not articles and problems and old and old.articles:
        # An unreadable file keeps what it had: losing articles to a bad write is worse
        # than serving them a little longer. The next update tries it again.
        return _Found(replace(state, articles=list(old.articles)), None, True)
    return _Found(state, {a.id: a for a in articles}, bool(problems))


def _owners(found: dict[str, _Found], previous: Manifest) -> dict[str, str]:
    """Which source provides each id: the one that provided it if it still holds it, else
    the first by name (deterministic)."""
    owner: dict[str, str] = {}
    for rel in sorted(found):
        for aid in found[rel].holds(rel, previous):
            before = previous.articles.get(aid)
            if aid not in owner or (before is not None and before.source == rel):
                owner[aid] = rel
    return owner


def _plan(
    seeds: Path,
    previous: Manifest,
    paths: list[Path],
    full_scan: bool,
    rebuild: bool = False,
    unreachable: Collection[str] = (),
    follow_symlinks: bool = False,
) -> _Plan:
    """Compare sources on disk with ``previous`` and decide what to delete and (re)index.

    Who provides an article is decided once every source is known, so a renamed file or an
    id moved to another file is updated in place: a source gone from disk (``full_scan``)
    provides nothing, an unchanged or unread one what it provided, a re-read one what it
    holds now; with ``paths`` only (``add``) the other sources keep what they provide. An
    id two sources hold is reported; the source that lost it is read again on every update,
    and takes the id over when the other drops it. ``rebuild``: every source is read and
    every article indexed anew (those of unreadable sources from the old version).
    ``unreachable``: directories the listing could not read; the sources recorded under
    them keep what they provide and are read again.
    """
    plan = _Plan(Manifest(), [], set())
    found: dict[str, _Found] = {}
    for path in paths:
        rel = source_name(path, seeds)
        scanned = _scan(
            path, rel, previous.sources.get(rel), seeds, plan, rebuild, follow_symlinks
        )
        if scanned is not None:
            found[rel] = scanned
    for rel, old in previous.sources.items():
        if not full_scan:
            found.setdefault(rel, _Found(old, None, not old.complete))
        elif any(rel == name or rel.startswith(name + "/") for name in unreachable):
            # A directory that could not be listed is not a removal: losing its articles to
            # a permission slip is worse than serving them a little longer.
            found.setdefault(rel, _Found(replace(old, complete=False), None, True))
    owner = _owners(found, previous)
    # With ``add``, a source not read that lost an id to a source that dropped it now must
    # provide it: read it (only those, and only then).
    reread: set[str] = set()
    while True:
        orphans = set(previous.articles) - set(owner)
        waiting = [
            rel for rel, f in found.items()
            if f.parsed is None and rel not in reread and orphans & set(f.state.duplicates)
        ]
        if not waiting:
            break
        for rel in waiting:
            reread.add(rel)
            found[rel] = (
                _scan(seeds / rel, rel, found[rel].state, seeds, plan, True, follow_symlinks)
                or found[rel]
            )
        owner = _owners(found, previous)

    manifest = plan.manifest
    for rel in sorted(found):
        source = found[rel]
        holds = source.holds(rel, previous)
        provides = [aid for aid in holds if owner[aid] == rel]
        lost = [aid for aid in holds if owner[aid] != rel]
        for aid in lost:
            where = owner[aid]
            gone = "" if (seeds / where).exists() else (
                " (no longer on disk: `searchsvc update` moves the id here)"
            )
            plan.problems.append(
                Problem(rel, None, f"article id {aid!r} already comes from {where}{gone}; skipped")
            )
        duplicates = lost if source.parsed is not None else list(source.state.duplicates)
        manifest.sources[rel] = replace(
            source.state,
            articles=provides,
            complete=not (source.problems or duplicates),
            duplicates=duplicates,
        )
        for aid in provides:
            before = previous.articles.get(aid)
            if source.parsed is None:
                manifest.articles[aid] = previous.articles[aid]
                plan.unchanged += 1
                if rebuild:
                    plan.carry.append(aid)
                continue
            article = source.parsed[aid]
            state = ArticleState(article.content_hash, rel, len(article.paragraphs), article.title)
            manifest.articles[aid] = state
            if before is not None and before == state and not rebuild:
                plan.unchanged += 1  # same text from the same file: keep its documents
                continue
            if before is not None and not rebuild:
                plan.delete.add(aid)  # its text, or the file it comes from (stored), changed
                plan.updated += 1
            else:
                plan.added += 1
            plan.add.append(article)
    gone = set(previous.articles) - set(manifest.articles)
    plan.delete |= gone
    plan.deleted = len(gone)
    return plan


# --- dictionaries -----------------------------------------------------------------------


def dictionary_hashes(seeds: Path) -> dict[str, str]:
    """sha256 of the seeds' user dictionary and synonym file ("" when absent)."""
    hashes = {}
    for name in (USER_DICTIONARY, SYNONYMS):
        try:
            hashes[name] = hashlib.sha256((seeds / name).read_bytes()).hexdigest()
        except OSError:
            hashes[name] = ""
    return hashes


def _copy_dictionaries(seeds: Path, target: Path) -> None:
    """Each version keeps the dictionaries it was made with (servers load them from it)."""
    for name in (USER_DICTIONARY, SYNONYMS):
        if (seeds / name).is_file():
            shutil.copy2(seeds / name, target / name)


# --- writing a version ------------------------------------------------------------------


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



def _link_version(source: Path, target: Path) -> None:
    """Give ``target`` the index files of ``source`` (hard links; copies across filesystems)."""
    for item in source.iterdir():
        if item.name in (MANIFEST_FILE, "meta.json", USER_DICTIONARY, SYNONYMS, SUGGEST_FILE):
            continue
        if not item.is_file():
            continue
        try:
            os.link(item, target / item.name)
        except OSError:
            shutil.copy2(item, target / item.name)


def _write_version(
    index_dir: Path,
    base: str | None,
    plan: _Plan,
    seeds: Path | None,
    progress: Progress | None,
    carry_from: str | None = None,
) -> str:
    """Write a new version (from ``base`` or empty, plus ``plan.carry`` re-indexed from
    ``carry_from``), verify it, switch to it; its name. Its parent is the live version."""
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
            _copy_dictionaries(seeds, building)
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


def _fill(writer, plan: _Plan, carry_from: Path | None, progress: Progress | None) -> None:  # type: ignore[no-untyped-def]
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
            with whoosh_index.open_dir(str(carry_from)).searcher() as old:
                for article_id in plan.carry:
                    for docnum in old.document_numbers(article_id=article_id):
                        writer.add_document(**old.stored_fields(docnum))
                    if progress:
                        progress.advance()
    except BaseException:
        writer.cancel()
        raise


def _write_suggestions(ix, building: Path, base: Path | None, plan: _Plan) -> None:  # type: ignore[no-untyped-def]
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


def sync(
    seeds: Path,
    index_dir: Path,
    *,
    full: bool = False,
    only: list[Path] | None = None,
    progress: Progress | None = None,
    wait: float = 0.0,
    keep: int = 2,
    follow_symlinks: bool = False,
) -> SyncSummary:
    """Bring the index in line with ``seeds``: a full rebuild (``full``), an update, or
    (``only``) just the given source files. Returns what was done. Symbolic links out of
    ``seeds`` are reported and left alone unless ``follow_symlinks``."""
    started = time.perf_counter()
    with index_lock(index_dir, wait):
        remove_abandoned_builds(index_dir)
        base = current_version(index_dir)
        previous = read_manifest(index_dir / base) if base else None
        dictionaries = dictionary_hashes(seeds)
        load_user_dictionary(seeds / USER_DICTIONARY)
        carry_from: str | None = None  # a rebuild re-indexes unreadable sources' articles from it
        if full or previous is None:
            previous = Manifest()  # from scratch (or nothing known to build on)
            full = True
        elif previous.dictionaries.get(USER_DICTIONARY, "") != dictionaries[USER_DICTIONARY]:
            log.info("the user dictionary changed: rebuilding every article with it")
            full, carry_from = True, base
        # Any rebuild reads every source, whatever ``only`` names: a version is never made
        # of the named files alone.
        listing: list[Problem] = []
        if only is None or full:
            paths = list_sources(seeds, listing, follow_symlinks)
        else:
            paths = only
        if only is not None and full:
            listed = {source_name(p, seeds) for p in paths}
            paths += [p for p in only if source_name(p, seeds) not in listed]
        plan = _plan(
            seeds, previous, paths, full_scan=only is None or full, rebuild=full,
            unreachable={p.source for p in listing if p.message.startswith(CANNOT_LIST)},
            follow_symlinks=follow_symlinks,
        )
        plan.problems[:0] = listing
        plan.manifest.dictionaries = dictionaries
        summary = SyncSummary(
            version=base,
            added=plan.added,
            updated=plan.updated,
            deleted=plan.deleted,
            unchanged=plan.unchanged,
            problems=plan.problems,
            sources=len(plan.manifest.sources),
        )
        changed = (
            plan.add
            or plan.delete
            or plan.manifest.sources != previous.sources
            or plan.manifest.dictionaries != previous.dictionaries
        )
        if full or changed:
            summary.version = _write_version(
                index_dir, None if full else base, plan, seeds, progress, carry_from
            )
            summary.switched = True
            prune_versions(index_dir, keep=keep)
        summary.articles = len(plan.manifest.articles)
        summary.paragraphs = plan.manifest.paragraphs
    summary.seconds = time.perf_counter() - started
    return summary


def build_from_articles(articles: Iterable[Article], index_dir: Path) -> SyncSummary:
    """A full build from records already in memory (tests and benchmarks)."""
    started = time.perf_counter()
    items = list(articles)
    manifest = Manifest()
    for a in items:
        manifest.articles[a.id] = ArticleState(
            a.content_hash, a.source, len(a.paragraphs), a.title
        )
        manifest.sources.setdefault(a.source, SourceState(0, 0, [])).articles.append(a.id)
    plan = _Plan(manifest, items, set(), added=len(items))
    with index_lock(index_dir):
        remove_abandoned_builds(index_dir)
        name = _write_version(index_dir, None, plan, None, None)  # records its parent
        prune_versions(index_dir)
    return SyncSummary(
        name, added=len(items), articles=len(items), paragraphs=manifest.paragraphs,
        sources=len(manifest.sources), seconds=time.perf_counter() - started, switched=True,
    )


def rollback(index_dir: Path, wait: float = 0.0) -> tuple[str, str]:
    """Switch back to the current version's parent (the version it was built on or
    replaced, whatever the names); (from, to). Nothing changes when that is impossible."""
    with index_lock(index_dir, wait):
        current = current_version(index_dir)
        meta = read_meta(index_dir / current) if current else None
        if meta is None or meta.parent is None:
            raise IndexVerificationError("no previous version to roll back to")
        parent = meta.parent
        if not (index_dir / parent).is_dir():
            raise IndexVerificationError(
                f"the previous version {parent} no longer exists (pruned); nothing changed"
            )
        if read_meta(index_dir / parent) is None or not whoosh_index.exists_in(
            str(index_dir / parent)
        ):
            raise IndexVerificationError(
                f"the previous version {parent} is incomplete; nothing changed"
            )
        switch_to(index_dir, parent)
    return current, parent
