"""Index versions on a SphinxQL backend: written, verified, switched and rolled back.

In: a ``SphinxEngine``, the index directory and a ``manifest.Plan`` (what changed, planned
exactly as for the embedded index). Out: a new version directory, switched in by
``CURRENT``, whose paragraphs live in one of the backend's two table sets.

A version directory holds what the embedded one holds except the Whoosh files: meta.json
(with the backend URL and its table set), manifest.json, the dictionaries and the
autocomplete data. The paragraphs are on the server:

* A rebuild (``full``) writes the table set the live version does not use (blue/green),
  verifies it (paragraph count, a test literal) and only then switches ``CURRENT``: the live
  set answers throughout, and a killed rebuild changes nothing that is served.
* An update writes the live version's table set in place (REPLACE/DELETE by article id,
  as the plan says). The set is marked dirty first; a run killed meanwhile leaves the live
  set answering (partly updated), and the next run, finding the mark, rebuilds into the
  other set rather than trust what the killed run left.
* ``SETS_FILE`` records the version each set last received: rollback goes back to the
  nearest ancestor held by the other set, and only while that set still holds it (updates
  are applied in place, so they are not rolled back one by one).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..analysis import squeeze_text
from ..corpus import Article, Paragraph
from ..indexing import (
    BUILDING_SUFFIX,
    IndexMeta,
    IndexVerificationError,
    current_version,
    fsync_dir,
    new_version_name,
    now_iso,
    read_meta,
    switch_to,
    write_atomically,
    write_meta,
)
from ..manifest import Plan, write_manifest
from ..suggest import add_articles, read_entries, write_entries
from ..writing import Progress, copy_dictionaries
from .engine import TABLE_SETS, SphinxEngine

SETS_FILE = "sphinx-sets.json"  # table set → the version last written to it
DIRTY_PREFIX = ".sphinx-dirty-"  # a table set being written in place


def read_sets(index_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((index_dir / SETS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _record_set(index_dir: Path, table_set: str, version: str) -> None:
    sets = read_sets(index_dir)
    sets[table_set] = version
    write_atomically(index_dir / SETS_FILE, json.dumps(sets))


def _dirty(index_dir: Path, table_set: str) -> Path:
    return index_dir / f"{DIRTY_PREFIX}{table_set}"


def live_table_set(index_dir: Path, url: str) -> str | None:
    """The table set of the version in use, if it is on this backend."""
    name = current_version(index_dir)
    meta = read_meta(index_dir / name) if name else None
    if meta is None or meta.backend != url or meta.table_set not in TABLE_SETS:
        return None
    return meta.table_set


def must_rebuild(index_dir: Path, url: str) -> bool:
    """Whether the next run must be a rebuild: no version on this backend yet, or the live
    set was left half-written by a run that died."""
    live = live_table_set(index_dir, url)
    return live is None or _dirty(index_dir, live).exists()


def write_version(
    engine: SphinxEngine,
    index_dir: Path,
    plan: Plan,
    seeds: Path | None,
    progress: Progress | None,
    *,
    full: bool,
    carry_from: str | None = None,
) -> str:
    """Write a new version from ``plan`` (a rebuild into the other table set, or an update
    in place), verify it, switch to it; its name."""
    name = new_version_name()
    live = current_version(index_dir)
    parent = live if live and (index_dir / live).is_dir() else None
    live_set = live_table_set(index_dir, engine.url)
    if full:
        table_set = next(s for s in TABLE_SETS if s != live_set) if live_set else TABLE_SETS[0]
    else:
        assert live_set is not None, "an update needs a live version on this backend"
        table_set = live_set
    building = index_dir / f"{name}{BUILDING_SUFFIX}"
    building.mkdir()
    dirty = _dirty(index_dir, table_set)
    try:
        if seeds is not None:
            copy_dictionaries(seeds, building)
        carried = list(_carried(engine, live_set, plan.carry)) if carry_from else []
        if progress:
            progress.start(len(plan.add) + len(carried))
        write_atomically(dirty, name)
        if full:
            _record_set(index_dir, table_set, "")  # what it held is about to go
            engine.clear(table_set)
        else:
            engine.delete_articles(table_set, plan.delete)
        engine.replace_articles(table_set, _advancing([*plan.add, *carried], progress))
        if progress:
            progress.stage("checks and autocomplete data")
        _verify(engine, table_set, plan.manifest.paragraphs, plan.add[0] if plan.add else None)
        texts = (p.text for a in [*plan.add, *carried] for p in a.paragraphs)
        entries = [] if full or parent is None else read_entries(index_dir / parent)
        titles = (a.title for a in plan.manifest.articles.values()) if full else (
            a.title for a in plan.add
        )
        write_entries(building, add_articles(entries, texts, titles))
        write_manifest(building, plan.manifest)
        counts = (len(plan.manifest.articles), plan.manifest.paragraphs)
        write_meta(building, IndexMeta(
            name, now_iso(), *counts, str(seeds or ""), parent,
            backend=engine.url, table_set=table_set,
        ))
        fsync_dir(building)
        os.rename(building, index_dir / name)
        _record_set(index_dir, table_set, name)
        switch_to(index_dir, name)
        dirty.unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        if full:  # the other set was never served (and is recorded as holding nothing)
            dirty.unlink(missing_ok=True)
        raise
    return name


def _advancing(articles: list[Article], progress: Progress | None) -> Iterator[Article]:
    for article in articles:
        yield article
        if progress:
            progress.advance()


def _carried(engine: SphinxEngine, table_set: str | None, ids: Iterable[str]) -> Iterator[Article]:
    """Articles of sources unreadable during a rebuild, as the live set holds them."""
    if table_set is None:
        return
    reader = engine.reader(table_set)
    for article_id in ids:
        rows = reader.article_paragraphs(article_id)
        if not rows:
            continue
        first = rows[0]
        tags = str(first.get("tags") or "")
        yield Article(
            article_id, str(first["source"]), str(first.get("title") or ""),
            tuple(
                Paragraph(int(r["paragraph"]), str(r["text"]), r.get("heading") or None,
                          str(r.get("kind") or "body"))
                for r in rows
            ),
            first.get("subtitle") or None, first.get("date") or None, first.get("url") or None,
            tuple(t for t in tags.split(",") if t),
        )


def _verify(engine: SphinxEngine, table_set: str, paragraphs: int, probe: Article | None) -> None:
    """The set holds exactly the manifest's paragraphs, and a literal of a new paragraph is
    found: checked before the version is switched in."""
    held = engine.count(table_set)
    if held != paragraphs:
        raise IndexVerificationError(
            f"table set {table_set} holds {held} paragraphs, expected {paragraphs}"
        )
    if probe is None or not probe.paragraphs:
        return
    literal = squeeze_text(probe.paragraphs[0].text)[:6]
    if literal and not engine.reader(table_set).occurs(literal):
        raise IndexVerificationError(f"test search for {literal!r} found nothing")


def rollback_line(index_dir: Path, url: str, current: str) -> list[str]:
    """The current version and its ancestors back to the first one held by the other table
    set (what rollback walks, so what pruning keeps)."""
    meta = read_meta(index_dir / current)
    line = [current]
    name = meta.parent if meta else None
    while name and name not in line:
        older = read_meta(index_dir / name)
        if older is None:
            break
        line.append(name)
        if older.backend == url and meta is not None and older.table_set != meta.table_set:
            break
        name = older.parent
    return line


def rollback_target(index_dir: Path, url: str, current: str) -> str:
    """The version a rollback on this backend returns to: the nearest ancestor held by the
    other table set, while that set still holds it. IndexVerificationError otherwise."""
    meta = read_meta(index_dir / current)
    if meta is None or meta.backend != url:
        raise IndexVerificationError(
            f"the version in use ({current}) is not on the backend {url}; nothing changed"
        )
    line = rollback_line(index_dir, url, current)
    target = read_meta(index_dir / line[-1]) if len(line) > 1 else None
    if target is None or target.backend != url or target.table_set == meta.table_set:
        raise IndexVerificationError(
            "no previous version to roll back to (updates are applied in place: rollback "
            "returns to the version before the last rebuild); nothing changed"
        )
    if read_sets(index_dir).get(target.table_set) != target.version or _dirty(
        index_dir, target.table_set
    ).exists():
        raise IndexVerificationError(
            f"the previous version {target.version} is no longer held by table set "
            f"{target.table_set} (written since); nothing changed"
        )
    return target.version
