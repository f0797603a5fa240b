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
for every article its content hash. Unchanged files are not even parsed, and unchanged
articles are not re-tokenised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import filelock
from whoosh import index as whoosh_index

from .analysis import SYNONYMS, USER_DICTIONARY, load_user_dictionary
from .corpus import Article, Problem, list_sources, read_source, source_name
from .indexing import (
    BUILDING_SUFFIX,
    IndexMeta,
    IndexVerificationError,
    article_documents,
    current_version,
    fsync_dir,
    list_versions,
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
    articles: list[str]


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

    def copy(self) -> Manifest:
        return Manifest(
            {k: SourceState(v.size, v.mtime_ns, list(v.articles)) for k, v in self.sources.items()},
            {k: replace(v) for k, v in self.articles.items()},
            dict(self.dictionaries),
        )


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
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


def _plan(
    seeds: Path,
    previous: Manifest,
    paths: list[Path],
    full_scan: bool,
) -> _Plan:
    """Compare sources on disk with ``previous`` and decide what to delete and (re)index."""
    manifest = previous.copy()
    plan = _Plan(manifest, [], set())
    owner = {aid: state.source for aid, state in previous.articles.items()}
    seen: set[str] = set()
    for path in paths:
        rel = source_name(path, seeds)
        seen.add(rel)
        try:
            stat = path.stat()
        except OSError as err:
            plan.problems.append(Problem(rel, None, f"cannot read: {err.strerror or err}"))
            continue
        old = previous.sources.get(rel)
        if old and old.size == stat.st_size and old.mtime_ns == stat.st_mtime_ns:
            plan.unchanged += len(old.articles)
            continue
        articles, problems = read_source(path, seeds)
        plan.problems.extend(problems)
        if not articles and problems and old and old.articles:
            # An unreadable file keeps what it had: losing articles to a bad write is worse
            # than serving them a little longer. The next update tries it again.
            plan.unchanged += len(old.articles)
            continue
        old_ids = set(old.articles) if old else set()
        kept: list[str] = []
        for article in articles:
            holder = owner.get(article.id)
            if holder is not None and holder != rel and holder in manifest.sources:
                plan.problems.append(
                    Problem(rel, None, f"article id {article.id!r} already comes from {holder}")
                )
                continue
            kept.append(article.id)
            owner[article.id] = rel
            before = previous.articles.get(article.id)
            state = ArticleState(
                article.content_hash, rel, len(article.paragraphs), article.title
            )
            manifest.articles[article.id] = state
            if before is not None and before.hash == state.hash:
                plan.unchanged += 1  # same text (even if it moved between files): keep it
                continue
            if before is not None:
                plan.delete.add(article.id)
                plan.updated += 1
            else:
                plan.added += 1
            plan.add.append(article)
        for gone in old_ids - set(kept):
            if owner.get(gone) == rel:
                plan.delete.add(gone)
                manifest.articles.pop(gone, None)
                owner.pop(gone, None)
        manifest.sources[rel] = SourceState(stat.st_size, stat.st_mtime_ns, kept)
    if full_scan:
        for rel in set(previous.sources) - seen:
            for gone in previous.sources[rel].articles:
                if owner.get(gone) == rel:
                    plan.delete.add(gone)
                    manifest.articles.pop(gone, None)
            manifest.sources.pop(rel, None)
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
) -> str:
    """Write a new version (from ``base`` or empty), verify it, switch to it; its name."""
    name = new_version_name()
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
        writer = ix.writer(**options)
        if progress:
            progress.start(len(plan.add))
        try:
            for article_id in plan.delete:
                writer.delete_by_term("article_id", article_id)
            for article in plan.add:
                for doc in article_documents(article):
                    writer.add_document(**doc)
                if progress:
                    progress.advance()
        except BaseException:
            writer.cancel()
            raise
        if progress:
            progress.stage("finishing the segments")
        writer.commit()
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
        write_meta(building, IndexMeta(name, now_iso(), *counts, str(seeds or "")))
        fsync_dir(building)
        os.rename(building, index_dir / name)
        switch_to(index_dir, name)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return name


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
) -> SyncSummary:
    """Bring the index in line with ``seeds``: a full rebuild (``full``), an update, or
    (``only``) just the given source files. Returns what was done."""
    started = time.perf_counter()
    with index_lock(index_dir, wait):
        remove_abandoned_builds(index_dir)
        base = current_version(index_dir)
        previous = read_manifest(index_dir / base) if base else None
        dictionaries = dictionary_hashes(seeds)
        load_user_dictionary(seeds / USER_DICTIONARY)
        if previous is not None and previous.dictionaries.get(USER_DICTIONARY, "") != (
            dictionaries[USER_DICTIONARY]
        ):
            log.info("the user dictionary changed: rebuilding every article with it")
            full = True
        if full or previous is None or base is None:
            base, previous = None, Manifest()
        paths = list_sources(seeds) if only is None else only
        plan = _plan(seeds, previous, paths, full_scan=only is None)
        plan.manifest.dictionaries = dictionaries
        summary = SyncSummary(
            version=base,
            added=plan.added,
            updated=plan.updated,
            deleted=len(plan.delete) - plan.updated,
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
        if base is None or changed:
            summary.version = _write_version(index_dir, base, plan, seeds, progress)
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
        name = _write_version(index_dir, None, plan, None, None)
        prune_versions(index_dir)
    return SyncSummary(
        name, added=len(items), articles=len(items), paragraphs=manifest.paragraphs,
        sources=len(manifest.sources), seconds=time.perf_counter() - started, switched=True,
    )


def rollback(index_dir: Path, wait: float = 0.0) -> tuple[str, str]:
    """Switch back to the version before the current one; (from, to)."""
    with index_lock(index_dir, wait):
        current = current_version(index_dir)
        versions = list_versions(index_dir)
        if current is None or current not in versions or versions.index(current) == 0:
            raise IndexVerificationError("no previous version to roll back to")
        previous = versions[versions.index(current) - 1]
        if read_meta(index_dir / previous) is None:
            raise IndexVerificationError(f"previous version {previous} is incomplete")
        switch_to(index_dir, previous)
    return current, previous
