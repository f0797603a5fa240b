"""Serving from a SphinxQL backend: the ``engine.Engine`` of the version in use.

In: the backend URL and the index directory (its ``CURRENT`` names the version in use; the
version's directory holds its table set, dictionaries and autocomplete data).
Out: ``SphinxqlBackend.engine()``, one version as one request sees it: matching, ranking
and stored paragraphs from the server (``SphinxReader``), synonyms, did-you-mean words and
autocomplete from the version's directory. The query language, scores and highlighting are
the embedded engine's own code (``search``), so the answers are the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis import SYNONYMS, USER_DICTIONARY, load_user_dictionary, read_synonyms
from ..indexing import IndexMeta, IndexMissingError, current_version, read_meta
from ..query import Filters
from ..ranking import MatchSpec, Ranked
from ..suggest import Suggester
from .engine import SphinxEngine
from .reader import SphinxReader


@dataclass(frozen=True)
class _Version:
    """What a version keeps beside its paragraphs (read once per version)."""

    meta: IndexMeta
    synonyms: dict[str, tuple[str, ...]]
    suggester: Suggester


class SphinxqlEngine:
    """One version on a SphinxQL backend (the ``engine.Engine`` methods)."""

    def __init__(self, reader: SphinxReader, version: _Version, time_budget: float):
        self.reader = reader
        self._version = version
        self.version = version.meta.version
        self.synonyms: Mapping[str, tuple[str, ...]] = version.synonyms
        self.time_budget = time_budget

    @property
    def documents(self) -> int:
        return self.reader.documents

    def occurs(self, literal: str) -> bool:
        return self.reader.occurs(literal)

    def occurrences(self, literal: str) -> int:
        return self.reader.occurrences(literal)

    def squeezed_texts(self, docs: list[int]) -> list[str]:
        return self.reader.squeezed_texts(docs)

    def rank(
        self, spec: MatchSpec, limit: int, budget: float | None = None, group: bool = False,
        filters: Filters | None = None,
    ) -> Ranked:
        return self.reader.rank(spec, limit, budget, group, filters)

    def stored_fields_many(self, docs: list[int]) -> list[dict[str, Any]]:
        return self.reader.stored_fields_many(docs)

    def article_paragraphs(self, article_id: str) -> list[dict[str, Any]]:
        return self.reader.article_paragraphs(article_id)

    def near_words(self, word: str) -> list[str]:
        # The server keeps no word lexicon: the autocomplete entries (jieba words of every
        # paragraph, seen in two paragraphs or more) stand in for it.
        return self._version.suggester.near_words(word)

    def filter_choices(self) -> tuple[list[str], bool]:
        return self.reader.filter_choices()

    def suggestions(self, prefix: str) -> list[str]:
        return self._version.suggester.complete(prefix)

    def meta(self) -> IndexMeta | None:
        return self._version.meta


class SphinxqlBackend:
    """The versions under ``index_dir`` whose paragraphs live on the backend at ``url``;
    follows ``CURRENT`` (checked at most every ``check_interval`` seconds)."""

    def __init__(
        self, url: str, index_dir: Path, check_interval: float = 1.0, time_budget: float = 0.25
    ):
        self.url = url
        self.index_dir = Path(index_dir)
        self.check_interval = check_interval
        self.time_budget = time_budget
        self.sphinx = SphinxEngine(url)
        self._lock = threading.Lock()
        self._current: tuple[float, _Version] | None = None

    def _version(self) -> _Version:
        now = time.monotonic()
        with self._lock:
            cached = self._current
            if cached is not None and now - cached[0] < self.check_interval:
                return cached[1]
            name = current_version(self.index_dir)
            if cached is not None and cached[1].meta.version == name:
                self._current = (now, cached[1])
                return cached[1]
            meta = read_meta(self.index_dir / name) if name else None
            if meta is None or meta.backend != self.url:
                raise IndexMissingError(self.index_dir, meta.backend if meta else "")
            directory = self.index_dir / meta.version
            # jieba has one dictionary per process: a version's words are added to it.
            load_user_dictionary(directory / USER_DICTIONARY)
            version = _Version(
                meta, read_synonyms(directory / SYNONYMS), Suggester.load(directory)
            )
            self._current = (now, version)
            return version

    def engine(self) -> SphinxqlEngine:
        version = self._version()
        return SphinxqlEngine(
            self.sphinx.reader(version.meta.table_set), version, self.time_budget
        )

    def close(self) -> None:
        """Nothing to close: connections are per thread and end with it."""
