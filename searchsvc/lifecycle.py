"""Keeping the index in line with its sources: full builds, incremental updates, rollback.

In: a seeds directory (``corpus`` sources) and an index directory (``indexing`` versions).
Out: a new verified index version switched in atomically, and a ``SyncSummary``.

What the CLI calls (the admin page runs the CLI); this module only orchestrates. Each
run holds the index lock (``locking``), removes builds abandoned by runs that died, plans
what changed since the live version's manifest (``manifest.plan_changes``: unchanged
files are not parsed, unchanged articles not re-tokenised), writes a new version from it
(``writing.write_version``: the live one is never touched) and prunes old versions along
the parent line (``indexing.prune_versions``). A changed user dictionary rebuilds every
article with it. Rollback switches back to the current version's parent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from whoosh import index as whoosh_index

from .analysis import USER_DICTIONARY, load_user_dictionary
from .corpus import CANNOT_LIST, Article, Problem, list_sources, source_name
from .indexing import (
    IndexVerificationError,
    current_version,
    index_exists,
    prune_versions,
    read_meta,
    switch_to,
)
from .locking import index_lock
from .manifest import Manifest, dictionary_hashes, plan_articles, plan_changes, read_manifest
from .sphinxql import versions as sphinx_versions
from .sphinxql.engine import SphinxEngine
from .writing import Progress, remove_abandoned_builds, write_version

log = logging.getLogger(__name__)


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
    backend: str = "",
) -> SyncSummary:
    """Bring the index in line with ``seeds``: a full rebuild (``full``), an update, or
    (``only``) just the given source files. Returns what was done. Symbolic links out of
    ``seeds`` are reported and left alone unless ``follow_symlinks``. ``backend``: the
    SphinxQL URL holding the paragraphs ("": the embedded index)."""
    started = time.perf_counter()
    engine = SphinxEngine(backend) if backend else None
    with index_lock(index_dir, wait):
        remove_abandoned_builds(index_dir)
        base = current_version(index_dir)
        previous = read_manifest(index_dir / base) if base else None
        if engine is not None and sphinx_versions.must_rebuild(index_dir, backend):
            previous = None  # nothing on this backend yet, or its live set half-written
        elif engine is None and base and not index_exists(index_dir):
            previous = None  # the version in use is on another backend
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
        plan = plan_changes(
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
            if engine is not None:
                summary.version = sphinx_versions.write_version(
                    engine, index_dir, plan, seeds, progress, full=full, carry_from=carry_from
                )
                # Rollback walks back to the version the other table set holds: keep that line.
                line = sphinx_versions.rollback_line(index_dir, backend, summary.version)
            else:
                summary.version = write_version(
                    index_dir, None if full else base, plan, seeds, progress, carry_from
                )
                line = []
            summary.switched = True
            prune_versions(index_dir, keep=keep, also_keep=line)
        summary.articles = len(plan.manifest.articles)
        summary.paragraphs = plan.manifest.paragraphs
    summary.seconds = time.perf_counter() - started
    return summary


def build_from_articles(articles: Iterable[Article], index_dir: Path) -> SyncSummary:
    """A full build from records already in memory (tests and benchmarks)."""
    started = time.perf_counter()
    plan = plan_articles(articles)
    manifest = plan.manifest
    with index_lock(index_dir):
        remove_abandoned_builds(index_dir)
        name = write_version(index_dir, None, plan, None, None)  # records its parent
        prune_versions(index_dir)
    return SyncSummary(
        name, added=plan.added, articles=len(plan.add), paragraphs=manifest.paragraphs,
        sources=len(manifest.sources), seconds=time.perf_counter() - started, switched=True,
    )


def rollback(index_dir: Path, wait: float = 0.0, backend: str = "") -> tuple[str, str]:
    """Switch back to the current version's parent (the version it was built on or
    replaced, whatever the names); (from, to). Nothing changes when that is impossible.
    On a SphinxQL ``backend``: back to the version the other table set holds
    (``sphinxql.versions.rollback_target``)."""
    with index_lock(index_dir, wait):
        current = current_version(index_dir)
        if backend:
            if current is None:
                raise IndexVerificationError("no previous version to roll back to")
            target = sphinx_versions.rollback_target(index_dir, backend, current)
            switch_to(index_dir, target)
            return current, target
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
