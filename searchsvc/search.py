"""User queries to results: syntax, matching, scoring, paging and highlighting.

In: a Whoosh searcher (from ``indexing.LiveIndex``; its segments' literal index from
``substrings``) and the query string as typed.
Out: plain records (``SearchResult``, ``Hit``, ``ArticleView``) with HTML-safe highlights.

Query syntax: space-separated keywords must all match; ``a OR b`` matches either;
``-word`` excludes; ``"exact phrase"`` is one literal (spaces and punctuation inside are
ignored for matching). A keyword matches a paragraph that contains it as a literal
substring (after NFKC, case folding, and ignoring punctuation/spaces), in its text or in
its article title/heading; BM25 over the query's jieba words orders the matches.
Matching and scoring run in numpy over whole occurrence arrays (``rank``); Whoosh supplies
the stored paragraphs and the jieba lexicon (did-you-mean).
"""

from __future__ import annotations

import html
import math
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from whoosh.query import Term
from whoosh.searching import Searcher

from .analysis import content_words, jieba_words, squeeze, squeeze_text
from .substrings import SegmentView, VersionSubstrings, encode

MAX_QUERY_CHARS = 200
MAX_KEYWORDS = 32
MAX_PAGE_SIZE = 100
MAX_RESULT_WINDOW = 10_000  # page * size: deeper paging costs more than it helps anyone
SNIPPET_CHARS = 160
GROUP_LIMIT = 2  # paragraphs shown per article when results are grouped
DEFAULT_TIME_BUDGET = 0.25  # seconds of matching per query

# Scores: the literal match decides *whether* a paragraph matches; BM25 decides
# the order among equals. The constants make the order, in effect: first by how many
# keywords the paragraph's own text contains (a title/heading match counts far less),
# then the keywords side by side as typed, then BM25 (which stays well below 50).
TEXT_MATCH_SCORE = 100.0
CONTEXT_MATCH_SCORE = 1.0
ADJACENT_BONUS = 50.0
# Fallback ranking (too little matches every word): per word found, COORDINATION × its IDF
# (a title/heading match earns CONTEXT_SHARE of that), plus BM25.
FALLBACK_BELOW = 1  # fall back only when nothing matches every word: AND stays AND
COORDINATION = 4.0
CONTEXT_SHARE = 0.2
# Proximity: up to PROXIMITY_BONUS when all keywords stand side by side, less as the
# stretch holding them grows; applied to the first RERANK_WINDOW results.
PROXIMITY_BONUS = 30.0
RERANK_WINDOW = 50

SENTENCE_END = "。！？；!?;"
MAX_CORRECTED_CHARS = 6  # did-you-mean corrects keywords up to this length


class QueryError(ValueError):
    """A query or parameter the caller must fix; ``code`` is stable for the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Keyword:
    raw: str  # as typed (without quotes or minus)
    literal: str  # squeezed: what must appear in the paragraph
    quoted: bool = False  # typed as "a phrase": never split into words
    synonyms: tuple[str, ...] = ()  # other words of its synonym group, as written

    @property
    def literals(self) -> tuple[str, ...]:
        """Every literal that counts as this keyword: itself and its synonyms."""
        return tuple(dict.fromkeys([self.literal, *map(squeeze_text, self.synonyms)]))

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.raw, *self.synonyms)

    def with_synonyms(self, groups: Mapping[str, tuple[str, ...]]) -> Keyword:
        group = groups.get(self.literal, ())
        others = tuple(w for w in group if squeeze_text(w) != self.literal)
        return replace(self, synonyms=others) if others else self

    @property
    def is_empty(self) -> bool:
        return not self.literal


@dataclass(frozen=True)
class ParsedQuery:
    """Conjunction of disjunctions of keywords, minus excluded keywords."""

    groups: tuple[tuple[Keyword, ...], ...]
    excluded: tuple[Keyword, ...]

    @property
    def positive(self) -> list[Keyword]:
        return [k for group in self.groups for k in group]

    @property
    def is_empty(self) -> bool:
        return not self.groups


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_query(text: str, synonyms: Mapping[str, tuple[str, ...]] | None = None) -> ParsedQuery:
    """Parse the user's query syntax; what carries no letters, digits or CJK is dropped.
    Each unquoted keyword carries the other words of its synonym group, if any."""
    pieces: list[tuple[str, bool, bool, bool]] = []  # (raw, excluded, is_or, quoted)
    for m in _TOKEN.finditer(text):
        if m.group(3) is not None:
            word = m.group(3)
            if word in ("OR", "|"):
                pieces.append(("", False, True, False))
                continue
            excluded = word.startswith("-") and len(word) > 1
            pieces.append((word[1:] if excluded else word, excluded, False, False))
        else:
            pieces.append((m.group(2), m.group(1) == "-", False, True))

    groups: list[list[Keyword]] = []
    excluded: list[Keyword] = []
    join_next = False
    for raw, is_excluded, is_or, quoted in pieces:
        if is_or:
            join_next = bool(groups)
            continue
        keyword = Keyword(raw, squeeze_text(raw), quoted)
        if synonyms and not quoted:
            keyword = keyword.with_synonyms(synonyms)
        if keyword.is_empty:
            continue
        if is_excluded:
            excluded.append(keyword)
        elif join_next:
            groups[-1].append(keyword)
        else:
            groups.append([keyword])
        join_next = False
    return ParsedQuery(tuple(tuple(g) for g in groups), tuple(excluded))


@dataclass(frozen=True)
class MatchSpec:
    """What a paragraph must contain and how it scores, in terms of squeezed literals.

    ``required``: every group must match; a group matches when one of its literals occurs
    in the paragraph's text (earning ``text_score``) or in its title/heading (earning
    ``context_score``); every literal found adds its score. ``bonus``: literals that add
    their score when found in the text. ``excluded``: literals that remove a paragraph.
    ``words``: the jieba words BM25 orders by."""

    required: tuple[tuple[tuple[str, float, float], ...], ...]
    bonus: tuple[tuple[str, float], ...] = ()
    excluded: tuple[str, ...] = ()
    words: tuple[str, ...] = ()


def _bm25_words(keywords: list[Keyword]) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(w.text for k in keywords for form in k.forms for w in jieba_words(form))
    )


def match_spec(parsed: ParsedQuery) -> MatchSpec:
    """The literal match of a parsed user query: every group, in the text (or, scoring far
    less, in the title/heading); the keywords side by side as typed earn a bonus."""
    required = tuple(
        tuple((lit, TEXT_MATCH_SCORE, CONTEXT_MATCH_SCORE) for k in group for lit in k.literals)
        for group in parsed.groups
    )
    bonus: tuple[tuple[str, float], ...] = ()
    positive = parsed.positive
    if len(positive) > 1 and all(len(g) == 1 for g in parsed.groups):
        bonus = (("".join(k.literal for k in positive), ADJACENT_BONUS),)
    excluded = tuple(lit for k in parsed.excluded for lit in k.literals)
    return MatchSpec(required, bonus, excluded, _bm25_words(positive))


def loose_keywords(parsed: ParsedQuery) -> list[Keyword]:
    """The words to rank by when not every keyword matches: each unquoted keyword split into
    jieba words, stop words and punctuation dropped (a whole question → its content words)."""
    words: dict[str, Keyword] = {}
    for keyword in parsed.positive:
        split = [] if keyword.quoted else content_words(keyword.raw)
        pieces = [Keyword(w, squeeze_text(w)) for w in split]
        for piece in pieces or [keyword]:
            if piece.literal:
                words.setdefault(piece.literal, piece)
    return list(words.values())[:MAX_KEYWORDS]


def _back_off(subs: VersionSubstrings, words: list[Keyword]) -> list[Keyword]:
    """Chinese words found nowhere, split into their two-character pieces: jieba sometimes
    glues a name to the next character ("魏舒史称" → 魏舒史, a word no passage contains)."""
    out: dict[str, Keyword] = {}
    for word in words:
        splittable = len(word.literal) >= 3 and not word.quoted
        splittable = splittable and all("\u4e00" <= ch <= "\u9fff" for ch in word.literal)
        if not splittable or any(subs.occurs(lit) for lit in word.literals):
            out.setdefault(word.literal, word)
            continue
        for i in range(len(word.literal) - 1):
            piece = word.literal[i : i + 2]
            out.setdefault(piece, Keyword(piece, piece))
    return list(out.values())[:MAX_KEYWORDS]


def fallback_spec(words: list[Keyword], subs: VersionSubstrings) -> MatchSpec:
    """Paragraphs containing any of ``words``; rarer words and more of them rank higher
    (a coordination bonus weighted by IDF), then BM25 over their jieba words."""
    n = max(1, subs.documents)
    options: list[tuple[str, float, float]] = []
    for word in words:
        for literal in word.literals:
            weight = COORDINATION * math.log(1 + n / (1 + subs.occurrences(literal)))
            options.append((literal, weight, weight * CONTEXT_SHARE))
    return MatchSpec((tuple(options),), words=_bm25_words(words))


def _near_words(searcher: Searcher, word: str) -> list[str]:
    """Indexed jieba words one edit from ``word`` sharing its first character (the cheap,
    common typo: the DFA walks only that part of the lexicon), commonest first."""
    reader = searcher.reader()
    found: set[str] = set()
    for leaf, _offset in reader.leaf_readers():
        found.update(leaf.terms_within("text", word, 1, prefix=1))
    found.discard(word)
    plausible = [w for w in found if len(w) >= max(2, len(word) - 1)]
    return sorted(plausible, key=lambda w: -reader.doc_frequency("text", w))


def did_you_mean(
    searcher: Searcher, parsed: ParsedQuery, synonyms: Mapping[str, tuple[str, ...]] | None
) -> str | None:
    """A close query that matches every word, when this one does not: each keyword found
    nowhere is replaced by the commonest indexed word one edit away. None if no such."""
    if parsed.excluded or any(len(group) > 1 for group in parsed.groups):
        return None
    subs = VersionSubstrings.from_searcher(searcher)
    parts: list[str] = []
    changed = False
    for (keyword,) in parsed.groups:
        if keyword.quoted or any(subs.occurs(lit) for lit in keyword.literals):
            parts.append(keyword.raw)
            continue
        # One edit away from a long string is no typo fix, and the lexicon walk grows
        # with the word's length.
        too_long = len(keyword.literal) > MAX_CORRECTED_CHARS
        near = [] if too_long else _near_words(searcher, keyword.literal)
        if not near:
            parts.append(keyword.raw)
            continue
        parts.append(near[0])
        changed = True
    if not changed:
        return None
    suggestion = " ".join(parts)
    spec = match_spec(parse_query(suggestion, synonyms))
    return suggestion if rank(subs, spec, 1).total else None


# --- highlighting -------------------------------------------------------------------


def match_spans(text: str, literals: list[str]) -> list[tuple[int, int]]:
    """Spans of ``text`` (original offsets) where any literal occurs, merged and sorted."""
    sq = squeeze(text)
    spans: list[tuple[int, int]] = []
    for literal in set(literals):
        if not literal:
            continue
        start = sq.text.find(literal)
        while start != -1:
            spans.append(sq.original_span(start, start + len(literal)))
            start = sq.text.find(literal, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def mark(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    """HTML of ``text[start:end]``, escaped, with ``spans`` wrapped in <mark>."""
    end = len(text) if end is None else end
    out: list[str] = []
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(html.escape(text[pos:s], quote=False))
        out.append(f"<mark>{html.escape(text[s:e], quote=False)}</mark>")
        pos = e
    out.append(html.escape(text[pos:end], quote=False))
    return "".join(out)


def _best_window_start(spans: list[tuple[int, int]], text: str, literals: list[str]) -> int:
    """Start of the span from which a snippet-sized window shows the most distinct keywords."""
    if not spans:
        return 0
    best, best_count = spans[0][0], -1
    for s, _ in spans:
        window = squeeze_text(text[s : s + SNIPPET_CHARS])
        count = sum(1 for lit in set(literals) if lit and lit in window)
        if count > best_count:
            best, best_count = s, count
    return best


def snippet(text: str, literals: list[str], max_chars: int = SNIPPET_CHARS) -> str:
    """A ~max_chars HTML snippet around the best match, cut at sentence ends when possible."""
    spans = match_spans(text, literals)
    if len(text) <= max_chars + 40:
        return mark(text, spans)
    anchor = _best_window_start(spans, text, literals)
    # Start at the beginning of the anchor's sentence when it is close enough.
    start = max(0, anchor - max_chars // 3)
    for i in range(anchor - 1, start - 1, -1):
        if text[i] in SENTENCE_END:
            start = i + 1
            break
    else:
        if start > 0 and anchor - start > 20:
            start = anchor - 20
    # Keep every match of the chosen window; start later if that would make it too long.
    must_end = max((e for s, e in spans if anchor <= s < anchor + max_chars), default=anchor)
    if must_end - start > max_chars + 20:
        start = max(0, anchor - 10)
    end = max(min(len(text), start + max_chars), must_end)
    # End at a sentence end: the next one if it is near, else the last one before.
    for i in range(end - 1, min(len(text), end + 30)):
        if text[i] in SENTENCE_END:
            end = i + 1
            break
    else:
        for i in range(end - 1, max(must_end, start + max_chars // 2) - 1, -1):
            if text[i] in SENTENCE_END:
                end = i + 1
                break
    for s, e in spans:
        if s < end < e:
            end = e
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return prefix + mark(text, spans, start, end) + suffix


# --- searching ----------------------------------------------------------------------


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


def validate_query(query: str) -> str:
    """The query, stripped; QueryError when it is empty or too long."""
    query = query.strip()
    if not query:
        raise QueryError("empty_query", "请输入搜索词（query is empty）")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            "query_too_long",
            f"搜索词过长：最多 {MAX_QUERY_CHARS} 个字符（query longer than {MAX_QUERY_CHARS})",
        )
    return query


def validate_paging(page: int, size: int) -> None:
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise QueryError("invalid_size", f"size must be between 1 and {MAX_PAGE_SIZE}")
    if page < 1:
        raise QueryError("invalid_page", "page must be 1 or more")
    if page * size > MAX_RESULT_WINDOW:
        raise QueryError(
            "page_too_deep", f"page × size must not exceed {MAX_RESULT_WINDOW}"
        )


def _hit(
    fields: dict[str, object], score: float, keywords: list[Keyword], collapsed: dict[str, int]
) -> Hit:
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
        highlight=snippet(text, literals),
        kind=str(fields.get("kind") or "body"),
        date=fields.get("date") or None,  # type: ignore[arg-type]
        url=fields.get("url") or None,  # type: ignore[arg-type]
        title_highlight=mark(title, match_spans(title, literals)),
        heading_highlight=mark(heading, match_spans(heading, literals)) if heading else None,
        matched_words=_words_in(squeeze(text).text, keywords),
        query_words=len(keywords),
        more_in_article=collapsed.get(str(fields["article_id"]), 0),
    )


def _words_in(squeezed: str, keywords: list[Keyword]) -> int:
    """How many of the query's words the text contains (a synonym counts for its word)."""
    return sum(1 for k in keywords if any(lit in squeezed for lit in k.literals))


def search(
    searcher: Searcher,
    query: str,
    page: int = 1,
    size: int = 10,
    time_budget: float | None = None,
    group: bool = False,
    synonyms: Mapping[str, tuple[str, ...]] | None = None,
    filters: Filters | None = None,
) -> SearchResult:
    """Run a user query; QueryError for input the caller must fix. With ``group``, at most
    GROUP_LIMIT paragraphs per article (each hit counts the others as ``more_in_article``).

    Matching stops after ``time_budget`` seconds (checked between index segments); the
    result is then ``partial`` (its hits and total cover the segments examined)."""
    started = time.perf_counter()
    if time_budget is None:
        time_budget = DEFAULT_TIME_BUDGET
    query = validate_query(query)
    validate_paging(page, size)
    filters = filters or Filters()
    validate_filters(filters)
    parsed = parse_query(query, synonyms)
    if len(parsed.positive) + len(parsed.excluded) > MAX_KEYWORDS:
        raise QueryError("too_many_keywords", f"at most {MAX_KEYWORDS} keywords")
    if parsed.is_empty:
        return SearchResult(query, 0, page, size, _ms(started), [])
    subs = VersionSubstrings.from_searcher(searcher)
    window = max(page * size, RERANK_WINDOW)
    spec = match_spec(parsed)
    ranked = rank(subs, spec, window, time_budget, group, filters)
    keywords = parsed.positive
    matched_all = True
    if ranked.total < FALLBACK_BELOW and not ranked.partial:
        words = [w.with_synonyms(synonyms or {}) for w in _back_off(subs, loose_keywords(parsed))]
        if [k.literal for k in words] != [k.literal for k in keywords] or len(words) > 1:
            # Too little matched every word: rank what matches some of them instead.
            # One budget for the whole search: the fallback gets what the first pass left.
            remaining = max(0.0, time_budget - (time.perf_counter() - started))
            loose_spec = replace(fallback_spec(words, subs), excluded=spec.excluded)
            loose = rank(subs, loose_spec, window, remaining, group, filters)
            if loose.total > ranked.total:
                ranked, keywords, matched_all = loose, words, False
    ordered = ranked.hits
    if len(keywords) > 1 and filters.sort == "relevance":
        # Always the same first RERANK_WINDOW results, whatever the page: the order of the
        # whole list then does not depend on which page is asked for, and page N + 1
        # continues page N exactly.
        head = _rerank_by_proximity(ordered[:RERANK_WINDOW], subs, keywords)
        ordered = head + ordered[RERANK_WINDOW:]
    page_hits = ordered[(page - 1) * size : page * size]
    shown = [(score, searcher.stored_fields(n)) for n, score in page_hits]
    hits = [_hit(fields, score, keywords, ranked.collapsed) for score, fields in shown]
    nothing_matched_all = not matched_all or ranked.total == 0
    in_time = time.perf_counter() - started < time_budget
    suggestion = (
        did_you_mean(searcher, parsed, synonyms) if nothing_matched_all and in_time else None
    )
    return SearchResult(
        query, ranked.total, page, size, _ms(started), hits, ranked.partial, matched_all,
        [] if matched_all else [k.raw for k in keywords], group, suggestion,
    )


def _span_of_all(squeezed: str, keywords: list[Keyword]) -> int | None:
    """Length of the shortest stretch of ``squeezed`` text holding every keyword."""
    events: list[tuple[int, int, int]] = []  # (start, end, keyword index)
    for n, keyword in enumerate(keywords):
        for literal in keyword.literals:
            start = squeezed.find(literal)
            while start != -1:
                events.append((start, start + len(literal), n))
                start = squeezed.find(literal, start + 1)
    events.sort()
    best: int | None = None
    last_end: dict[int, tuple[int, int]] = {}
    for start, end, n in events:
        last_end[n] = (start, end)
        if len(last_end) == len(keywords):
            lo = min(s for s, _ in last_end.values())
            hi = max(e for _, e in last_end.values())
            best = hi - lo if best is None else min(best, hi - lo)
    return best


def _rerank_by_proximity(
    ranked: list[tuple[int, float]], subs: VersionSubstrings, keywords: list[Keyword]
) -> list[tuple[int, float]]:
    """Add a bonus for the keywords standing close together (all of them within a short
    stretch), then sort again. Only the first RERANK_WINDOW results are looked at (their
    squeezed text comes from the literal index: no stored document is read)."""
    needed = sum(len(k.literal) for k in keywords)
    scored = []
    for docnum, score in ranked:
        span = _span_of_all(subs.squeezed_text(docnum), keywords)
        bonus = PROXIMITY_BONUS * needed / span if span else 0.0
        scored.append((docnum, round(score + bonus, 4)))
    scored.sort(key=lambda item: -item[1])  # stable: equal scores keep the first order
    return scored


@dataclass(frozen=True)
class Filters:
    """Restrictions and order chosen beside the query (all optional)."""

    source: str | None = None  # one source file, as in Hit.source
    date_from: str | None = None  # "YYYY-MM-DD", inclusive
    date_to: str | None = None
    sort: str = "relevance"  # or "date" (newest first)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def filter_choices(searcher: Searcher) -> tuple[list[str], bool]:
    """What the filters can offer: the source names, and whether any paragraph is dated."""
    subs = VersionSubstrings.from_searcher(searcher)
    has_dates = any(bool(v.data.doc_date.any()) for v in subs.segments)
    return sorted(subs.sources), has_dates


def validate_filters(filters: Filters) -> None:
    for name, value in (("from", filters.date_from), ("to", filters.date_to)):
        if value is not None and not _DATE.fullmatch(value):
            raise QueryError(f"invalid_{name}", f"{name} must be a date like 2019-05-01")
    if filters.sort not in ("relevance", "date"):
        raise QueryError("invalid_sort", "sort must be 'relevance' or 'date'")
    if filters.source is not None and (not filters.source or len(filters.source) > 300):
        raise QueryError("invalid_source", "source must name a source file")


# --- matching and ranking over the substring index ------------------------------------

# BM25 over literal occurrences of the query's jieba words: term frequency and length
# counted in characters of the squeezed text; a title/heading occurrence weighs less.
BM25_K1 = 1.2
BM25_B = 0.75
CONTEXT_BOOST = 0.6


@dataclass(frozen=True)
class Ranked:
    """The best matches (global document number, score), best first, and how many matched."""

    hits: list[tuple[int, float]]
    total: int
    partial: bool = False
    collapsed: dict[str, int] = field(default_factory=dict)  # article id → not shown


class _Segment:
    """One segment's part of one query: literal lookups, each done once."""

    def __init__(self, view: SegmentView):
        self.view = view
        self.data = view.data
        self._masks: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}

    def masks(self, literal: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Documents whose text / whose context contains ``literal`` (None: none)."""
        found = self._masks.get(literal)
        if found is None:
            code = encode(literal)
            text = ctx = None
            docs = self.data.text_occurrences(code)
            if len(docs):
                text = np.zeros(self.data.size, dtype=bool)
                text[docs] = True
            contexts = self.data.context_occurrences(code)
            if len(contexts):
                ctx = self.data.context_mask(contexts)
            found = self._masks[literal] = (text, ctx)
        return found

    def allowed(self, filters: Filters, sources: Mapping[str, int]) -> np.ndarray | None:
        """Live documents passing the filters (None: every document)."""
        mask = None if self.view.live is None else self.view.live.copy()
        if filters.source:
            wanted = sources.get(filters.source, -1)
            mask = _and(mask, self.view.source[self.data.doc_source] == wanted)
        if filters.date_from:
            mask = _and(mask, self.data.doc_date >= _date_number(filters.date_from))
        if filters.date_to:  # 0 is "no date": never within a range
            dates = self.data.doc_date
            mask = _and(mask, (dates <= _date_number(filters.date_to)) & (dates > 0))
        return mask

    def match(
        self, spec: MatchSpec, filters: Filters, sources: Mapping[str, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Matching documents (local numbers) and their scores."""
        match = self.allowed(filters, sources)
        parts: list[tuple[float, np.ndarray]] = []
        for group in spec.required:
            found: np.ndarray | None = None
            for literal, text_score, context_score in group:
                text, ctx = self.masks(literal)
                for mask, score in ((text, text_score), (ctx, context_score)):
                    if mask is not None:
                        found = mask.copy() if found is None else found | mask
                        parts.append((score, mask))
            if found is None:
                return _NOTHING, _NO_SCORES
            match = _and(match, found)
        for literal in spec.excluded:
            for mask in self.masks(literal):
                if mask is not None:
                    match = _and(match, ~mask)
        docs = np.flatnonzero(match) if match is not None else np.arange(self.data.size)
        scores = np.zeros(len(docs))
        if not len(docs):
            return docs, scores
        for score, mask in parts:
            scores += score * mask[docs]
        for literal, score in spec.bonus:
            text, _ctx = self.masks(literal)
            if text is not None:
                scores += score * text[docs]
        return docs, scores

    def add_bm25(self, scores: np.ndarray, docs: np.ndarray, docs_ctx: np.ndarray, word: str,
                 idf: float, avg_len: float, avg_ctx_len: float) -> None:
        """Add ``word``'s BM25 to ``scores`` (one per document of ``docs``, ascending;
        ``docs_ctx`` their contexts), computed only where the word occurs."""
        code = encode(word)
        occurrences = self.data.text_occurrences(code)
        if len(occurrences):
            where, tf = _counts_at(occurrences, docs, self.data.size)
            scores[where] += _bm25(tf, self.data.doc_len[docs[where]], avg_len, idf)
        contexts = self.data.context_occurrences(code)
        if not len(contexts):
            return
        ids, per_id = np.unique(contexts, return_counts=True)
        members, lengths = self.data.context_members(ids)
        if len(members) * 4 < len(docs):  # few paragraphs under those titles: look them up
            where = np.searchsorted(docs, members)
            inside = where < len(docs)
            inside[inside] = docs[where[inside]] == members[inside]
            where, tf = where[inside], np.repeat(per_id, lengths)[inside]
            ctx = np.repeat(ids, lengths)[inside]
        else:  # many: one pass over the candidates
            per_context = np.zeros(self.data.contexts, dtype=np.int64)
            per_context[ids] = per_id
            tf = per_context[docs_ctx]
            where = np.flatnonzero(tf)
            tf, ctx = tf[where], docs_ctx[where]
        length = self.view.ctx_len[ctx]
        scores[where] += CONTEXT_BOOST * _bm25(tf, length, avg_ctx_len, idf)


_NOTHING = np.zeros(0, dtype=np.int64)
_NO_SCORES = np.zeros(0)


def _and(mask: np.ndarray | None, other: np.ndarray) -> np.ndarray:
    return other if mask is None else mask & other


def _counts_at(
    occurrences: np.ndarray, docs: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where in ``docs`` (ascending document numbers) ``occurrences`` fall, and how many
    fall on each of those."""
    if len(occurrences) * 16 > size:  # common: count over the whole segment at once
        counts = np.bincount(occurrences, minlength=size)[docs]
        where = np.flatnonzero(counts)
        return where, counts[where]
    found, counts = np.unique(occurrences, return_counts=True)
    where = np.searchsorted(docs, found)
    inside = where < len(docs)
    inside[inside] = docs[where[inside]] == found[inside]
    return where[inside], counts[inside]


def _bm25(tf: np.ndarray, length: np.ndarray, avg_len: float, idf: float) -> np.ndarray:
    tf = tf.astype(np.float64)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg_len)
    return idf * tf * (BM25_K1 + 1) / (tf + norm)


def _date_number(value: str) -> int:
    return int(value.replace("-", "")) if value else 0


def rank(
    subs: VersionSubstrings,
    spec: MatchSpec,
    limit: int,
    budget: float | None = None,
    group: bool = False,
    filters: Filters | None = None,
) -> Ranked:
    """The ``limit`` best paragraphs matching ``spec`` and the exact total.

    Each segment is matched whole, in numpy; the budget is checked between segments, and a
    search out of time returns what the segments examined so far hold, flagged partial."""
    filters = filters or Filters()
    deadline = None if budget is None else time.perf_counter() + budget
    n = max(1, subs.documents)
    idf = {w: math.log(1 + n / (1 + subs.occurrences(w))) for w in spec.words}
    # Most BM25 can add to a paragraph: a paragraph whose match score is further than this
    # below the limit-th best cannot reach the top (ungrouped relevance order only: grouping
    # may need to look further down the list).
    prune = not group and filters.sort == "relevance"
    bm25_bound = sum(idf.values()) * (BM25_K1 + 1) * (1 + CONTEXT_BOOST)
    docs: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    articles: list[np.ndarray] = []
    dates: list[np.ndarray] = []
    total = 0
    partial = False
    for number, view in enumerate(subs.segments):
        if number and deadline is not None and time.perf_counter() > deadline:
            partial = True
            break
        segment = _Segment(view)
        local, score = segment.match(spec, filters, subs.sources)
        total += len(local)
        if prune and len(local) > limit:
            kth = np.partition(score, len(score) - limit)[len(score) - limit]
            keep = score >= kth - bm25_bound
            local, score = local[keep], score[keep]
        if not len(local):
            continue
        local_ctx = view.data.doc_ctx[local]
        for word, weight in idf.items():
            segment.add_bm25(
                score, local, local_ctx, word, weight, subs.avg_len, subs.avg_ctx_len
            )
        docs.append(local + view.offset)
        scores.append(score)
        articles.append(view.article[view.data.doc_article[local]])
        dates.append(view.data.doc_date[local])
    if not docs:
        return Ranked([], total, partial)
    all_docs, all_scores = np.concatenate(docs), np.concatenate(scores)
    all_articles = np.concatenate(articles)
    # Best first; equal scores in index order (deterministic, like Whoosh's collectors).
    primary = -np.concatenate(dates) if filters.sort == "date" else -all_scores
    if not group:
        order = _first(primary, all_docs, limit)
        hits = [(int(all_docs[i]), float(all_scores[i])) for i in order]
        return Ranked(hits, total, partial)
    per_article = np.bincount(all_articles)
    shown = np.minimum(per_article, GROUP_LIMIT)
    hits, seen = [], Counter()  # type: ignore[var-annotated]
    wanted = limit
    while True:
        order = _first(primary, all_docs, wanted)
        hits, seen = [], Counter()
        for i in order:
            article = int(all_articles[i])
            if seen[article] < GROUP_LIMIT:
                seen[article] += 1
                hits.append((int(all_docs[i]), float(all_scores[i])))
                if len(hits) == limit:
                    break
        if len(hits) == limit or len(order) == len(all_docs):
            break
        wanted *= 4
    collapsed = {
        subs.articles[a]: int(per_article[a] - shown[a]) for a in seen if per_article[a] > shown[a]
    }
    return Ranked(hits, int(shown.sum()), partial, collapsed)


def _first(primary: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the ``k`` smallest ``primary`` values, ties by document number, in order."""
    if len(primary) > k:
        threshold = np.partition(primary, k - 1)[k - 1]
        candidates = np.flatnonzero(primary <= threshold)
    else:
        candidates = np.arange(len(primary))
    order = candidates[np.lexsort((docs[candidates], primary[candidates]))]
    return order[:k]


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


def get_article(
    searcher: Searcher,
    article_id: str,
    query: str = "",
    synonyms: Mapping[str, tuple[str, ...]] | None = None,
) -> ArticleView | None:
    """The whole article, paragraphs in order, with ``query`` marked; None if unknown."""
    if not _ARTICLE_ID.fullmatch(article_id):
        return None
    docs = sorted(
        (hit.fields() for hit in searcher.search(Term("article_id", article_id), limit=None)),
        key=lambda f: f["paragraph"],
    )
    if not docs:
        return None
    literals: list[str] = []
    if query.strip() and len(query) <= MAX_QUERY_CHARS:
        literals = [lit for k in parse_query(query, synonyms).positive for lit in k.literals]
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
