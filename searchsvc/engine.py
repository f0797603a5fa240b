"""The engine a search runs on: one index version, with what the search layer asks of it.

In: an ``indexing.Snapshot`` (the embedded engine: Whoosh plus the literal index beside
it); another backend supplies its own object with the same methods.
Out: literal statistics, matching and ranking (``ranking.Ranked``), stored paragraphs, the
jieba lexicon (did-you-mean), filter choices and autocomplete, all of one version.

``search``, ``spelling`` and ``ranking``'s helpers only use ``Engine``: the query language,
the scores and the highlighting are the same whatever holds the index.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from whoosh.query import Term

from . import whoosh_compat
from .indexing import IndexMeta, LiveIndex, Snapshot
from .literal_index import VersionSubstrings
from .query import Filters
from .ranking import MatchSpec, Ranked, rank


class Engine(Protocol):
    """One index version, as one request sees it."""

    version: str
    synonyms: Mapping[str, tuple[str, ...]]
    time_budget: float  # seconds of matching per query unless the caller says otherwise

    @property
    def documents(self) -> int:
        """Paragraphs in the version."""
        ...

    def occurs(self, literal: str) -> bool:
        """Whether some paragraph's text, title or heading contains ``literal``."""
        ...

    def occurrences(self, literal: str) -> int:
        """How often ``literal`` occurs in paragraph texts (its rarity, for IDF)."""
        ...

    def squeezed_texts(self, docs: list[int]) -> list[str]:
        """Paragraphs' squeezed texts, as matching sees them, in this order."""
        ...

    def rank(
        self, spec: MatchSpec, limit: int, budget: float | None = None, group: bool = False,
        filters: Filters | None = None,
    ) -> Ranked:
        """The ``limit`` best paragraphs matching ``spec`` and the exact total."""
        ...

    def stored_fields_many(self, docs: list[int]) -> list[dict[str, Any]]:
        """The stored fields of these paragraphs (as ``indexing.article_documents`` wrote
        them), in this order: one round trip for a page of hits."""
        ...

    def article_paragraphs(self, article_id: str) -> list[dict[str, Any]]:
        """The stored fields of an article's paragraphs, in order ([] if unknown)."""
        ...

    def near_words(self, word: str) -> list[str]:
        """Indexed jieba words one edit from ``word`` sharing its first character,
        commonest first."""
        ...

    def filter_choices(self) -> tuple[list[str], bool]:
        """The source names, and whether any paragraph is dated."""
        ...

    def suggestions(self, prefix: str) -> list[str]:
        """Autocomplete: up to 10 indexed words and titles starting with ``prefix``."""
        ...

    def meta(self) -> IndexMeta | None:
        """What the version records about itself."""
        ...


class EmbeddedEngine:
    """The embedded engine: a Whoosh searcher and the literal index of its segments."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.version = snapshot.version
        self.synonyms = snapshot.synonyms
        self.time_budget = snapshot.time_budget
        self.searcher = snapshot.searcher
        self.literals = VersionSubstrings.from_searcher(snapshot.searcher)

    @property
    def documents(self) -> int:
        return self.literals.documents

    def occurs(self, literal: str) -> bool:
        return self.literals.occurs(literal)

    def occurrences(self, literal: str) -> int:
        return self.literals.occurrences(literal)

    def squeezed_texts(self, docs: list[int]) -> list[str]:
        return self.literals.squeezed_texts(docs)

    def rank(
        self, spec: MatchSpec, limit: int, budget: float | None = None, group: bool = False,
        filters: Filters | None = None,
    ) -> Ranked:
        return rank(self.literals, spec, limit, budget, group, filters)

    def stored_fields_many(self, docs: list[int]) -> list[dict[str, Any]]:
        return whoosh_compat.stored_fields_of(self.searcher.reader(), docs)

    def article_paragraphs(self, article_id: str) -> list[dict[str, Any]]:
        hits = self.searcher.search(Term("article_id", article_id), limit=None)
        return sorted((hit.fields() for hit in hits), key=lambda f: f["paragraph"])

    def near_words(self, word: str) -> list[str]:
        # Walk each segment's lexicon: Whoosh's own corrector (ReaderCorrector) walks the
        # merged multi-segment lexicon, several times slower. Only words sharing the first
        # character (the common typo) keep the DFA walk short.
        reader = self.searcher.reader()
        found: set[str] = set()
        for leaf, _offset in reader.leaf_readers():
            found.update(leaf.terms_within("text", word, 1, prefix=1))
        found.discard(word)
        plausible = [w for w in found if len(w) >= max(2, len(word) - 1)]
        return sorted(plausible, key=lambda w: -reader.doc_frequency("text", w))

    def filter_choices(self) -> tuple[list[str], bool]:
        has_dates = any(bool(v.data.doc_date.any()) for v in self.literals.segments)
        return sorted(self.literals.sources), has_dates

    def suggestions(self, prefix: str) -> list[str]:
        return self.snapshot.suggester().complete(prefix)

    def meta(self) -> IndexMeta | None:
        return self.snapshot.meta()


class Backend(Protocol):
    """Where the versions live: hands each request the engine of the version in use."""

    def engine(self) -> Engine:
        """The version in use, for one request (``IndexMissingError`` when there is none)."""
        ...

    def close(self) -> None: ...


class EmbeddedBackend:
    """The embedded index under ``index_dir``, following its switches to new versions."""

    def __init__(self, index_dir: Path, check_interval: float = 1.0, time_budget: float = 0.25):
        self.live = LiveIndex(index_dir, check_interval, time_budget)

    def engine(self) -> EmbeddedEngine:
        return EmbeddedEngine(self.live.snapshot())

    def close(self) -> None:
        self.live.close()
