"""The index on disk: schema, documents, versions, the atomic switch, opening for search.

In: ``corpus.Article`` records. Out: Whoosh documents (one per paragraph) and the
versioned layout of the index directory::

    index/
      CURRENT            name of the version in use (replaced atomically)
      v-20261125T091500123456Z-3f2a/   one complete Whoosh index + meta.json + manifest.json
      v-....building/    a version being written (never served; see ``writing``)

Writers (``writing``, run by ``lifecycle``) create a complete new version beside the live
one, verify it, and only then switch ``CURRENT``; readers (``LiveIndex``) notice the switch
and reopen.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.searching import Searcher

from . import whoosh_compat
from .analysis import (
    SYNONYMS,
    USER_DICTIONARY,
    JiebaWordSet,
    jieba_analyzer,
    load_user_dictionary,
    read_synonyms,
    squeeze_text,
)
from .corpus import Article
from .literal_index import VersionSubstrings, ensure_saved
from .suggest import Suggester

CURRENT_FILE = "CURRENT"
META_FILE = "meta.json"
VERSION_PREFIX = "v-"
BUILDING_SUFFIX = ".building"


class IndexMissingError(Exception):
    """There is no built index in the index directory."""

    def __init__(self, index_dir: Path, elsewhere: str = ""):
        if elsewhere:  # the version in use keeps its paragraphs on another backend
            message = (
                f"the index version in use in {index_dir} is on the backend {elsewhere}: "
                f"pass --backend {elsewhere} (or set SEARCHSVC_BACKEND)"
            )
        else:
            message = (
                f"no index in {index_dir}: build one with `searchsvc build --index {index_dir}`"
            )
        super().__init__(message)
        self.index_dir = index_dir


class IndexVerificationError(Exception):
    """A freshly built index failed its checks; it was not switched in."""


whoosh_compat.patch_length_column_cache()
whoosh_compat.use_compact_posting_pool()
whoosh_compat.use_block_stored_fields()
whoosh_compat.use_lexicon_only_fields()
whoosh_compat.fork_writer_processes()


def make_schema() -> Schema:
    """One document per paragraph chunk: jieba-analysed text (the lexicon behind
    did-you-mean and autocomplete), stored fields for display, ids and columns. Literal
    matching and ranking live beside it, in ``literal_index``."""
    # The jieba words feed the lexicon only (did-you-mean, autocomplete): words and how many
    # paragraphs hold each. No frequencies (Existence) and no length column (not scorable):
    # Whoosh looked a length up for every posting it wrote, and nothing scores with Whoosh.
    words = TEXT(analyzer=jieba_analyzer(), stored=True, phrase=False)
    words.format = JiebaWordSet()
    words.scorable = False
    # Only what Whoosh itself must find is indexed: article ids (updates delete by article,
    # the article page looks its paragraphs up) and the jieba words. Matching, filters,
    # grouping and date order use ``literal_index``; everything else is stored for display
    # only (each indexed field costs postings written through Python at build time). The
    # paragraph id too: nothing looks one up, and indexed it was 42 % of the terms.
    return Schema(
        id=STORED(),
        article_id=ID(stored=True),
        source=STORED(),
        paragraph=STORED(),
        kind=STORED(),
        title=STORED(),
        subtitle=STORED(),
        heading=STORED(),
        text=words,
        date=STORED(),
        url=STORED(),
        tags=STORED(),
        # No article_hash: the manifest keeps each article's hash (what updates compare);
        # stored on every paragraph it was 12 % of the stored fields. Versions written
        # before keep it in their own schema.
    )


def chunk_id(article_id: str, paragraph: int) -> str:
    return f"{article_id}-p{paragraph}"


def article_documents(article: Article) -> Iterator[dict[str, object]]:
    """The Whoosh documents (one per paragraph) of an article."""
    for para in article.paragraphs:
        doc: dict[str, object] = {
            "id": chunk_id(article.id, para.number),
            "article_id": article.id,
            "source": article.source,
            "paragraph": para.number,
            "kind": para.kind,
            "title": article.title,
            "subtitle": article.subtitle,
            "heading": para.heading or "",
            "text": para.text,
            "url": article.url,
        }
        if article.date:
            doc["date"] = article.date
        if article.tags:
            doc["tags"] = ",".join(article.tags)
        yield doc


@dataclass(frozen=True)
class IndexMeta:
    """What a version records about itself (``meta.json``)."""

    version: str
    built_at: str
    articles: int
    documents: int
    seeds: str
    # The version that was live when this one was written (an update's base, the version a
    # build replaced); None for the first. Rollback and pruning follow it, never name order.
    parent: str | None = None
    # Where the paragraphs are: "" for the Whoosh index in this directory, else the SphinxQL
    # backend's URL and the table set holding them (``sphinxql.versions``).
    backend: str = ""
    table_set: str = ""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_version_name() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{VERSION_PREFIX}{stamp}-{secrets.token_hex(2)}"


def current_version(index_dir: Path) -> str | None:
    """The version named by CURRENT, or None when nothing was built yet."""
    try:
        name = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_meta(version_dir: Path) -> IndexMeta | None:
    try:
        data = json.loads((version_dir / META_FILE).read_text(encoding="utf-8"))
        return IndexMeta(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_meta(version_dir: Path, meta: IndexMeta) -> None:
    write_atomically(version_dir / META_FILE, json.dumps(asdict(meta), ensure_ascii=False))


def open_version(index_dir: Path) -> tuple[str, whoosh_index.Index]:
    """Open the version in use; raise IndexMissingError when there is none."""
    name = current_version(index_dir)
    if name is None or not whoosh_index.exists_in(str(index_dir / name)):
        meta = read_meta(index_dir / name) if name else None
        raise IndexMissingError(index_dir, meta.backend if meta else "")
    return name, whoosh_index.open_dir(str(index_dir / name))


def index_exists(index_dir: Path, backend: str = "") -> bool:
    """Whether a version is in use, with its paragraphs on ``backend`` ("": embedded)."""
    name = current_version(index_dir)
    if name is None:
        return False
    if backend:
        meta = read_meta(index_dir / name)
        return meta is not None and meta.backend == backend
    return whoosh_index.exists_in(str(index_dir / name))


def verify_version(ix: whoosh_index.Index, paragraphs: int, probe: Article | None) -> None:
    """Check a new version before it is switched in: document count and a test search.
    Saves the literal index of segments that lack one first (new or merged segments)."""
    with ix.reader() as reader:
        ensure_saved(Path(ix.storage.folder), (leaf for leaf, _offset in reader.leaf_readers()))
    with ix.searcher() as searcher:
        if searcher.doc_count() != paragraphs:
            raise IndexVerificationError(
                f"index holds {searcher.doc_count()} paragraphs, expected {paragraphs}"
            )
        if probe is None or not probe.paragraphs:
            return
        # A literal from the probe's first paragraph must find that paragraph.
        squeezed = squeeze_text(probe.paragraphs[0].text)[:6]
        if not squeezed:
            return
        expected = chunk_id(probe.id, probe.paragraphs[0].number)
        docnum = next((d for d in searcher.document_numbers(article_id=probe.id)
                       if searcher.stored_fields(d).get("id") == expected), None)
        found = VersionSubstrings.from_searcher(searcher).documents_with(squeezed)
        if docnum is None or docnum not in found:
            raise IndexVerificationError(f"test search for {squeezed!r} did not find {expected}")


def switch_to(index_dir: Path, name: str) -> None:
    """Make version ``name`` the one in use (atomic: readers see the old or the new)."""
    write_atomically(index_dir / CURRENT_FILE, name + "\n")


def list_versions(index_dir: Path) -> list[str]:
    """Complete versions, oldest first."""
    if not index_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in index_dir.iterdir()
        if p.is_dir() and p.name.startswith(VERSION_PREFIX) and not p.name.endswith(BUILDING_SUFFIX)
    )


def ancestry(index_dir: Path, name: str, limit: int) -> list[str]:
    """``name`` and its parents, newest first, at most ``limit`` long; stops at a version
    without a parent or whose metadata is missing (so never loops)."""
    line = [name]
    while len(line) < limit:
        meta = read_meta(index_dir / line[-1])
        if meta is None or meta.parent is None or meta.parent in line:
            break
        line.append(meta.parent)
    return line


def prune_versions(index_dir: Path, keep: int = 2, also_keep: Iterable[str] = ()) -> None:
    """Delete every version but the current one, its ``keep - 1`` nearest ancestors and
    ``also_keep`` (a version that was rolled back from is not an ancestor: it goes)."""
    current = current_version(index_dir)
    if current is None:
        return
    kept = set(ancestry(index_dir, current, max(1, keep))) | set(also_keep)
    for old in list_versions(index_dir):
        if old not in kept:
            shutil.rmtree(index_dir / old, ignore_errors=True)


@dataclass
class _Open:
    version: str
    index: whoosh_index.Index
    searcher: Searcher
    checked: float
    synonyms: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Snapshot:
    """One index version as one request sees it: everything a request reads comes from
    here, so it never mixes two versions, and nothing it reads is closed under it."""

    version: str
    directory: Path  # the version's directory
    searcher: Searcher
    synonyms: dict[str, tuple[str, ...]]
    time_budget: float  # seconds of matching per query, unless the caller says otherwise
    _live: LiveIndex

    def suggester(self) -> Suggester:
        """Autocomplete data of this version (loaded once per version, shared)."""
        return self._live.suggester_of(self.version)

    def meta(self) -> IndexMeta | None:
        return read_meta(self.directory)


class LiveIndex:
    """Serves snapshots of the version in use and follows switches to new versions.

    Each thread keeps its own searcher (a Whoosh searcher reads files through its own
    handles, which threads must not share) and checks at most every ``check_interval``
    seconds whether CURRENT names another version; versions never change once written,
    so that check is all it takes. A thread's previous searcher is closed when it takes its
    next snapshot on a new version, so a request takes exactly one ``snapshot()``.
    """

    def __init__(
        self, index_dir: Path, check_interval: float = 1.0, time_budget: float = 0.25
    ):
        self.index_dir = Path(index_dir)
        self.check_interval = check_interval
        self.time_budget = time_budget
        self._local = threading.local()
        self._lock = threading.Lock()
        self._states: dict[int, _Open] = {}
        self._suggester: tuple[str, Suggester] | None = None
        # Searchers hold open files: close them when this object goes, if nobody did.
        self._finalizer = weakref.finalize(self, _close_states, self._states)

    def _open(self) -> _Open:
        version, ix = open_version(self.index_dir)
        # jieba has one process-wide dictionary: a version's user dictionary adds its words
        # to it (a word removed from the file stays until the process restarts).
        load_user_dictionary(self.index_dir / version / USER_DICTIONARY)
        synonyms = read_synonyms(self.index_dir / version / SYNONYMS)
        state = _Open(version, ix, ix.searcher(), time.monotonic(), synonyms)
        with self._lock:
            self._states[id(state)] = state
        return state

    def _retire(self, state: _Open) -> None:
        with self._lock:
            self._states.pop(id(state), None)
        state.searcher.close()

    def _current(self) -> _Open:
        state: _Open | None = getattr(self._local, "state", None)
        now = time.monotonic()
        if state is None:
            state = self._open()
        elif now - state.checked >= self.check_interval:
            state.checked = now
            if current_version(self.index_dir) != state.version:
                fresh = self._open()
                self._retire(state)
                state = fresh
        self._local.state = state
        return state

    def snapshot(self) -> Snapshot:
        """The version in use, for one request (IndexMissingError when there is none)."""
        state = self._current()
        return Snapshot(
            state.version, self.index_dir / state.version, state.searcher, state.synonyms,
            self.time_budget, self,
        )

    def suggester_of(self, version: str) -> Suggester:
        """Autocomplete data of ``version`` (the latest one asked for is kept)."""
        with self._lock:
            if self._suggester is None or self._suggester[0] != version:
                self._suggester = (version, Suggester.load(self.index_dir / version))
            return self._suggester[1]

    def close(self) -> None:
        """Close every thread's searcher (their files); the object must not be used after."""
        with self._lock:
            self._finalizer()


def _close_states(states: dict[int, _Open]) -> None:
    for state in list(states.values()):
        state.searcher.close()
    states.clear()
