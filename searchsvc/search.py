"""Searching: a user query in, a page of results out; and one article with its matches.

In: a Whoosh searcher (from ``indexing.LiveIndex``; the literal index of its segments from
``literal_index``) and the query as typed, with paging, grouping and filter parameters.
Out: plain records (``SearchResult``, ``Hit``, ``ArticleView``) with HTML-safe highlights.

This module orchestrates: ``query`` parses and validates, ``ranking`` matches and ranks in
numpy (falling back to ranking by words matched when nothing matches every word),
``spelling`` suggests a correction, ``highlight`` marks the matches; Whoosh supplies the
stored paragraphs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

from .engine import Engine
from .highlight import mark, match_spans, snippet
from .query import (
    MAX_KEYWORDS,
    MAX_PAGE_SIZE,
    MAX_QUERY_CHARS,
    MAX_RESULT_WINDOW,
    Filters,
    Keyword,
    QueryError,
    loose_keywords,
    parse_query,
    validate_filters,
    validate_paging,
    validate_query,
)
from .ranking import (
    FALLBACK_BELOW,
    RERANK_WINDOW,
    back_off,
    fallback_spec,
    match_spec,
    rerank_by_proximity,
)
from .spelling import did_you_mean

__all__ = [  # what the web layer and the CLI use (the query names come from ``query``)
    "MAX_PAGE_SIZE",
    "MAX_QUERY_CHARS",
    "MAX_RESULT_WINDOW",
    "ArticleView",
    "Filters",
    "Hit",
    "QueryError",
    "SearchResult",
    "get_article",
    "search",
]

@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    article_id: str
    title: str
    heading: str | None
    source: str
    paragraph: int
    text: str
    highlight: str
    kind: str = "body"
    date: str | None = None
    url: str | None = None
    title_highlight: str = ""
    heading_highlight: str | None = None
    matched_words: int = 0  # how many of the query's words the paragraph contains
    query_words: int = 0
    more_in_article: int = 0  # grouped results: further matching paragraphs not shown


@dataclass(frozen=True)
class SearchResult:
    query: str
    total: int
    page: int
    size: int
    took_ms: float
    hits: list[Hit] = field(default_factory=list)
    partial: bool = False  # the time budget ran out: hits and total are a lower bound
    matched_all: bool = True  # False: too little matched every word; ranked by words matched
    words: list[str] = field(default_factory=list)  # the words a fallback ranked by
    grouped: bool = False  # at most GROUP_LIMIT paragraphs per article
    did_you_mean: str | None = None  # a close query that matches every word

    @property
    def pages(self) -> int:
        return max(1, -(-min(self.total, MAX_RESULT_WINDOW) // self.size))



def _hit(
    fields: dict[str, object], squeezed: str, score: float, keywords: list[Keyword],
    collapsed: dict[str, int],
) -> Hit:
    """A hit from a paragraph's stored fields and its squeezed text (from the index)."""
    literals = [lit for k in keywords for lit in k.literals]
    text = str(fields.get("text") or "")
    title = str(fields.get("title") or "")
    heading = str(fields.get("heading") or "") or None
    return Hit(
        id=str(fields["id"]),
        score=round(float(score), 4),
        article_id=str(fields["article_id"]),
        title=title,
        heading=heading,
        source=str(fields.get("source") or ""),
        paragraph=int(fields.get("paragraph") or 0),  # type: ignore[call-overload]
        text=text,
        highlight=snippet(text, literals, squeezed=squeezed),
        kind=str(fields.get("kind") or "body"),
        date=fields.get("date") or None,  # type: ignore[arg-type]
        url=fields.get("url") or None,  # type: ignore[arg-type]
        title_highlight=mark(title, match_spans(title, literals)),
        heading_highlight=mark(heading, match_spans(heading, literals)) if heading else None,
        matched_words=_words_in(squeezed, keywords),
        query_words=len(keywords),
        more_in_article=collapsed.get(str(fields["article_id"]), 0),
    )


def _words_in(squeezed: str, keywords: list[Keyword]) -> int:
    """How many of the query's words the text contains (a synonym counts for its word)."""
    return sum(1 for k in keywords if any(lit in squeezed for lit in k.literals))


def search(
    engine: Engine,
    query: str,
    page: int = 1,
    size: int = 10,
    time_budget: float | None = None,
    group: bool = False,
    filters: Filters | None = None,
) -> SearchResult:
    """Run a user query; QueryError for input the caller must fix. With ``group``, at most
    GROUP_LIMIT paragraphs per article (each hit counts the others as ``more_in_article``).

    Matching stops after ``time_budget`` seconds (checked between index segments); the
    result is then ``partial`` (its hits and total cover the segments examined); by default
    the engine's budget applies."""
    started = time.perf_counter()
    if time_budget is None:
        time_budget = engine.time_budget
    synonyms = engine.synonyms
    query = validate_query(query)
    validate_paging(page, size)
    filters = filters or Filters()
    validate_filters(filters)
    parsed = parse_query(query, synonyms)
    if len(parsed.positive) + len(parsed.excluded) > MAX_KEYWORDS:
        raise QueryError("too_many_keywords", f"at most {MAX_KEYWORDS} keywords")
    if parsed.is_empty:
        return SearchResult(query, 0, page, size, _ms(started), [])
    window = max(page * size, RERANK_WINDOW)
    spec = match_spec(parsed)
    ranked = engine.rank(spec, window, time_budget, group, filters)
    keywords = parsed.positive
    matched_all = True
    if ranked.total < FALLBACK_BELOW and not ranked.partial:
        words = [w.with_synonyms(synonyms) for w in back_off(engine, loose_keywords(parsed))]
        if [k.literal for k in words] != [k.literal for k in keywords] or len(words) > 1:
            # Too little matched every word: rank what matches some of them instead.
            # One budget for the whole search: the fallback gets what the first pass left.
            remaining = max(0.0, time_budget - (time.perf_counter() - started))
            loose_spec = replace(fallback_spec(words, engine), excluded=spec.excluded)
            loose = engine.rank(loose_spec, window, remaining, group, filters)
            if loose.total > ranked.total:
                ranked, keywords, matched_all = loose, words, False
    ordered = ranked.hits
    texts: dict[int, str] = {}  # squeezed texts read so far, by document
    if len(keywords) > 1 and filters.sort == "relevance":
        # Always the same first RERANK_WINDOW results, whatever the page: the order of the
        # whole list then does not depend on which page is asked for, and page N + 1
        # continues page N exactly.
        head = ordered[:RERANK_WINDOW]
        head_docs = [n for n, _score in head]
        head_texts = engine.squeezed_texts(head_docs)
        texts = dict(zip(head_docs, head_texts, strict=True))
        ordered = rerank_by_proximity(head, head_texts, keywords) + ordered[RERANK_WINDOW:]
    page_hits = ordered[(page - 1) * size : page * size]
    docs = [n for n, _score in page_hits]
    unread = [n for n in docs if n not in texts]
    texts.update(zip(unread, engine.squeezed_texts(unread), strict=True))
    stored = engine.stored_fields_many(docs)
    hits = [
        _hit(fields, texts[n], score, keywords, ranked.collapsed)
        for (n, score), fields in zip(page_hits, stored, strict=True)
    ]
    nothing_matched_all = not matched_all or ranked.total == 0
    in_time = time.perf_counter() - started < time_budget
    suggestion = did_you_mean(engine, parsed) if nothing_matched_all and in_time else None
    return SearchResult(
        query, ranked.total, page, size, _ms(started), hits, ranked.partial, matched_all,
        [] if matched_all else [k.raw for k in keywords], group, suggestion,
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# --- articles -----------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleParagraph:
    number: int
    text: str
    heading: str | None
    kind: str
    highlight: str  # the whole paragraph, escaped, with the query marked
    matched: bool


@dataclass(frozen=True)
class ArticleView:
    id: str
    title: str
    subtitle: str | None
    source: str
    date: str | None
    url: str | None
    paragraphs: list[ArticleParagraph]

    @property
    def matched_paragraphs(self) -> list[int]:
        return [p.number for p in self.paragraphs if p.matched]


_ARTICLE_ID = re.compile(r"[A-Za-z0-9._-]{1,80}")


def get_article(engine: Engine, article_id: str, query: str = "") -> ArticleView | None:
    """The whole article, paragraphs in order, with ``query`` marked; None if unknown."""
    if not _ARTICLE_ID.fullmatch(article_id):
        return None
    docs = engine.article_paragraphs(article_id)
    if not docs:
        return None
    literals: list[str] = []
    if query.strip() and len(query) <= MAX_QUERY_CHARS:
        parsed = parse_query(query, engine.synonyms)
        literals = [lit for k in parsed.positive for lit in k.literals]
    paragraphs = []
    for f in docs:
        spans = match_spans(f["text"], literals)
        paragraphs.append(
            ArticleParagraph(
                number=f["paragraph"],
                text=f["text"],
                heading=f.get("heading") or None,
                kind=f.get("kind") or "body",
                highlight=mark(f["text"], spans),
                matched=bool(spans),
            )
        )
    first = docs[0]
    return ArticleView(
        id=article_id,
        title=first["title"],
        subtitle=first.get("subtitle"),
        source=first["source"],
        date=first.get("date"),
        url=first.get("url"),
        paragraphs=paragraphs,
    )
