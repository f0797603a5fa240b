"""The manifest of a version, and planning: what changed in the sources since it was made.

In: a seeds directory (``corpus`` sources) and the previous version's manifest. Out: a
``Plan`` (``plan_changes``): the manifest of the next version, the articles to (re)index,
the ids whose documents go, counts and problems. Nothing here writes an index.

A manifest (``manifest.json`` in each version) records for every source file its size,
mtime and article ids, for every article its content hash, source, paragraph count and
title, and the hashes of the dictionaries the version was made with. Unchanged files are
not even parsed and unchanged articles are not re-tokenised; a file that had any problem
is never taken as unchanged (the next run reads it again). Which file provides an article
is decided after every file is known, so renames and ids moving between files update
articles in place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .analysis import SYNONYMS, USER_DICTIONARY
from .corpus import Article, Problem, read_source, source_name
from .indexing import write_atomically

MANIFEST_FILE = "manifest.json"


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
    """The manifest of a version, or None when it is missing or unreadable."""
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


def dictionary_hashes(seeds: Path) -> dict[str, str]:
    """sha256 of the seeds' user dictionary and synonym file ("" when absent)."""
    hashes = {}
    for name in (USER_DICTIONARY, SYNONYMS):
        try:
            hashes[name] = hashlib.sha256((seeds / name).read_bytes()).hexdigest()
        except OSError:
            hashes[name] = ""
    return hashes


# --- planning ---------------------------------------------------------------------------


@dataclass
class Plan:
    """What one run does: the next manifest, what to index and what to delete."""

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
    plan: Plan,
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


def plan_changes(
    seeds: Path,
    previous: Manifest,
    paths: list[Path],
    full_scan: bool,
    rebuild: bool = False,
    unreachable: Collection[str] = (),
    follow_symlinks: bool = False,
) -> Plan:
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
    plan = Plan(Manifest(), [], set())
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


def plan_articles(articles: Iterable[Article]) -> Plan:
    """A plan that indexes exactly ``articles`` (a full build from records in memory)."""
    items = list(articles)
    manifest = Manifest()
    for a in items:
        manifest.articles[a.id] = ArticleState(
            a.content_hash, a.source, len(a.paragraphs), a.title
        )
        manifest.sources.setdefault(a.source, SourceState(0, 0, [])).articles.append(a.id)
    return Plan(manifest, items, set(), added=len(items))
