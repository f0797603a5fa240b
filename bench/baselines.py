"""Reference implementations that ``bench/run.py`` measures beside the product.

Not a runnable benchmark on its own: ``python bench/run.py`` builds and queries these on
the same paragraphs as the product. Each reference indexes one document per paragraph,
whose searchable text is the article title plus the paragraph (the product also matches
titles), and answers a query with its 10 best paragraphs.

* ``tokenise_floor``: jieba ``cut_for_search`` over every paragraph in one process, the
  least time any jieba-based index can spend (divide by the cores for a parallel one).
* ``WhooshTutorial``: the Whoosh + ``jieba.analyse.ChineseAnalyzer`` set-up of jieba's own
  example: one default ``ix.writer()``, the default ``QueryParser`` (AND of terms) and the
  default highlighter on the 10 hits.
* ``TantivyJieba``: tantivy (Rust) over jieba ``cut_for_search`` tokens joined by spaces
  (whitespace tokenizer): tokenised in a ``multiprocessing.Pool`` (one process per core),
  then indexed; a query is the AND of its tokens; the 10 hits' stored text is read back.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import jieba

# jieba logs its dictionary loading at INFO in every process; the bench prints a table.
jieba.setLogLevel(logging.WARNING)

Doc = tuple[str, list[str]]  # (article title, its paragraphs)


@dataclass
class BuildFigures:
    """What building a reference index took."""

    seconds: float  # the whole build
    tokenise_seconds: float = 0.0  # the part spent in jieba, when it is a separate step
    index_seconds: float = 0.0  # the part spent indexing pre-computed tokens
    documents: int = 0
    processes: int = 1


def dir_mb(path: Path) -> float:
    """Size of the files under ``path`` in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _warm_jieba() -> None:
    if not jieba.dt.initialized:
        jieba.dt.initialize()


# --- tokenisation floor -----------------------------------------------------------------


def tokenise_floor(docs: Sequence[Doc]) -> tuple[float, int]:
    """Seconds and token count of ``cut_for_search`` over every paragraph, one process.

    The dictionary is loaded before the clock starts: this is a floor, not a build.
    """
    _warm_jieba()
    started = time.perf_counter()
    tokens = 0
    for _title, paragraphs in docs:
        for text in paragraphs:
            for _ in jieba.cut_for_search(text):
                tokens += 1
    return time.perf_counter() - started, tokens


# --- Whoosh tutorial --------------------------------------------------------------------


class WhooshTutorial:
    """Whoosh with jieba's ChineseAnalyzer, as the tutorials set it up."""

    def __init__(self, index_dir: Path):
        self.index_dir = index_dir
        self._ix: Any = None
        self._searcher: Any = None
        self._parser: Any = None

    def build(self, docs: Sequence[Doc]) -> BuildFigures:
        """Index every paragraph (title + text in ``content``) with one default writer."""
        from jieba.analyse import ChineseAnalyzer
        from whoosh import index
        from whoosh.fields import ID, TEXT, Schema

        started = time.perf_counter()
        schema = Schema(
            id=ID(stored=True, unique=True),
            content=TEXT(stored=True, analyzer=ChineseAnalyzer()),
        )
        self.index_dir.mkdir(parents=True, exist_ok=True)
        ix = index.create_in(str(self.index_dir), schema)
        writer = ix.writer()
        n = 0
        for a, (title, paragraphs) in enumerate(docs):
            for p, text in enumerate(paragraphs):
                writer.add_document(id=f"{a}-{p}", content=f"{title}\n{text}")
                n += 1
        writer.commit()
        ix.close()
        return BuildFigures(time.perf_counter() - started, documents=n)

    def open(self) -> None:
        """Open the index and a searcher for ``query`` (kept open, like a server)."""
        from whoosh import index
        from whoosh.qparser import QueryParser

        self._ix = index.open_dir(str(self.index_dir))
        self._searcher = self._ix.searcher()
        self._parser = QueryParser("content", self._ix.schema)

    def query(self, text: str) -> int:
        """Search (10 hits) and highlight each hit; the number of hits returned."""
        assert self._searcher is not None and self._parser is not None
        results = self._searcher.search(self._parser.parse(text), limit=10)
        for hit in results:
            hit.highlights("content")
        return results.scored_length()

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        if self._ix is not None:
            self._ix.close()


# --- tantivy over jieba tokens ----------------------------------------------------------


def jieba_tokens(text: str) -> list[str]:
    """``cut_for_search`` tokens that carry a letter, digit or CJK character, lower-cased."""
    return [t.lower() for t in jieba.cut_for_search(text) if any(c.isalnum() for c in t)]


def _tokenise_doc(doc: Doc) -> tuple[str, list[str]]:
    """One article's title tokens and per-paragraph tokens, each joined by spaces."""
    _warm_jieba()
    title, paragraphs = doc
    return " ".join(jieba_tokens(title)), [" ".join(jieba_tokens(p)) for p in paragraphs]


class TantivyJieba:
    """tantivy with a whitespace-tokenised field of pre-computed jieba tokens."""

    def __init__(self, index_dir: Path):
        self.index_dir = index_dir
        self._index: Any = None
        self._searcher: Any = None

    @staticmethod
    def _schema() -> Any:
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("content", tokenizer_name="whitespace")  # positions: default
        builder.add_bytes_field("text", stored=True)  # the paragraph, for the hits
        return builder.build()

    def build(self, docs: Sequence[Doc], processes: int | None = None) -> BuildFigures:
        """Tokenise with a Pool of ``processes`` (default: the cores), then index."""
        import tantivy

        processes = processes or os.cpu_count() or 1
        started = time.perf_counter()
        # Loaded once before the fork: the workers share the dictionary instead of each
        # loading their own (what any parallel jieba indexer on Linux would do).
        _warm_jieba()
        if processes > 1:
            with Pool(processes) as pool:
                tokenised = pool.map(_tokenise_doc, docs, chunksize=64)
        else:
            tokenised = [_tokenise_doc(d) for d in docs]
        tokenised_at = time.perf_counter()

        self.index_dir.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(self._schema(), path=str(self.index_dir), reuse=False)
        writer = index.writer(heap_size=256_000_000)
        n = 0
        for (_title, paragraphs), (title_tokens, para_tokens) in zip(docs, tokenised, strict=True):
            for text, tokens in zip(paragraphs, para_tokens, strict=True):
                writer.add_document(
                    tantivy.Document(content=f"{title_tokens} {tokens}", text=text.encode())
                )
                n += 1
        writer.commit()
        writer.wait_merging_threads()
        ended = time.perf_counter()
        return BuildFigures(
            ended - started, tokenised_at - started, ended - tokenised_at, n, processes
        )

    def open(self) -> None:
        """Open the index and a searcher for ``query``."""
        import tantivy

        _warm_jieba()
        self._index = tantivy.Index.open(str(self.index_dir))
        self._searcher = self._index.searcher()

    def query(self, text: str) -> int:
        """AND of the query's jieba tokens (quotes dropped); read the 10 hits' text back."""
        import tantivy

        assert self._index is not None and self._searcher is not None
        tokens = list(dict.fromkeys(jieba_tokens(text.replace('"', " "))))
        if not tokens:
            return 0
        schema = self._index.schema
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, tantivy.Query.term_query(schema, "content", t)) for t in tokens]
        )
        result = self._searcher.search(query, limit=10, count=True)
        for _score, address in result.hits:
            self._searcher.doc(address)
        return len(result.hits)

    def close(self) -> None:
        self._searcher = None
        self._index = None

