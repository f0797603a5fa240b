"""Matching and ranking over the literal index, in numpy.

In: the literal index of a version (``literal_index.VersionSubstrings``) and a ``MatchSpec``:
the squeezed literals a paragraph must (or must not) contain and what each is worth.
Out: ``Ranked``: the best paragraphs (global document numbers, scores) and the exact total.

A keyword matches a paragraph that contains it as a literal in its text (``TEXT_MATCH_SCORE``)
or in its article title/heading (``CONTEXT_MATCH_SCORE``); BM25 over the query's jieba
words, counted as literal occurrences, orders equals. Each segment is matched whole, with
array operations; grouping (at most ``GROUP_LIMIT`` paragraphs per article), filters and
date order are array operations too. The proximity re-rank orders the first results by how
close together the keywords stand.

One module (over 400 lines): the match scores, BM25 and the proximity bonus share one
score scale (the constants below make the order together), so they change together.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np

from .analysis import words_of
from .literal_index import (
    SegmentView,
    VersionSubstrings,
    date_number,
    distinct_counts,
    encode,
)
from .query import MAX_KEYWORDS, Filters, Keyword, ParsedQuery

GROUP_LIMIT = 2  # paragraphs shown per article when results are grouped

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
    # words_of: memoised, as queries recur (jieba cuts a keyword in ~15 µs).
    return tuple(
        dict.fromkeys(w for k in keywords for form in k.forms for w in words_of(form))
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



class LiteralStats(Protocol):
    """What the helpers below need of a version's literals (``VersionSubstrings``, or an
    ``engine.Engine`` of any backend)."""

    @property
    def documents(self) -> int: ...

    def occurs(self, literal: str) -> bool: ...

    def occurrences(self, literal: str) -> int: ...


def back_off(subs: LiteralStats, words: list[Keyword]) -> list[Keyword]:
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


def fallback_spec(words: list[Keyword], subs: LiteralStats) -> MatchSpec:
    """Paragraphs containing any of ``words``; rarer words and more of them rank higher
    (a coordination bonus weighted by IDF), then BM25 over their jieba words."""
    n = max(1, subs.documents)
    options: list[tuple[str, float, float]] = []
    for word in words:
        for literal in word.literals:
            weight = COORDINATION * math.log(1 + n / (1 + subs.occurrences(literal)))
            options.append((literal, weight, weight * CONTEXT_SHARE))
    return MatchSpec((tuple(options),), words=_bm25_words(words))



def _span_of_all(squeezed: str, keywords: list[Keyword]) -> int | None:
    """Length of the shortest stretch of ``squeezed`` text holding every keyword."""
    events: list[tuple[int, int, int]] = []  # (start, end, keyword index)
    for n, keyword in enumerate(keywords):
        before = len(events)
        for literal in keyword.literals:
            start = squeezed.find(literal)
            while start != -1:
                events.append((start, start + len(literal), n))
                start = squeezed.find(literal, start + 1)
        if len(events) == before:
            return None  # a keyword is not there: no stretch holds them all
    events.sort()
    # The latest occurrence of each keyword so far, as the events go by in text order.
    starts = [-1] * len(keywords)
    ends = [0] * len(keywords)
    missing = len(keywords)
    best: int | None = None
    for start, end, n in events:
        if starts[n] < 0:
            missing -= 1
        starts[n], ends[n] = start, end
        if not missing:
            span = max(ends) - min(starts)
            if best is None or span < best:
                best = span
    return best


def rerank_by_proximity(
    ranked: list[tuple[int, float]], texts: Sequence[str], keywords: list[Keyword]
) -> list[tuple[int, float]]:
    """Add a bonus for the keywords standing close together (all of them within a short
    stretch), then sort again. ``texts``: the squeezed text of each result, in order (the
    literal index holds them: no stored document is read); search looks only at the first
    RERANK_WINDOW results."""
    needed = sum(len(k.literal) for k in keywords)
    scored = []
    for (docnum, score), text in zip(ranked, texts, strict=True):
        span = _span_of_all(text, keywords)
        bonus = PROXIMITY_BONUS * needed / span if span else 0.0
        scored.append((docnum, round(score + bonus, 4)))
    scored.sort(key=lambda item: -item[1])  # stable: equal scores keep the first order
    return scored




# BM25 over literal occurrences of the query's jieba words: term frequency and length
# counted in characters of the squeezed text; a title/heading occurrence weighs less.
BM25_K1 = 1.2
BM25_B = 0.75
CONTEXT_BOOST = 0.6
# A word occurring more than once per DENSE_SHARE documents of a segment is counted over
# the whole segment at once (one bincount, shared by its match and its BM25).
DENSE_SHARE = 16
# Up to this many candidates in a segment, BM25 counts the words in their texts (a few µs
# a paragraph) rather than walking every occurrence of each word (~0.1 ms a common word).
COUNT_WORDS_UP_TO = 64
# Over this many candidates, when the contexts holding a word have few paragraphs, those
# paragraphs are looked up among the candidates rather than every candidate's context read.
LOOK_UP_MEMBERS_FROM = 8192


def count_overlapping(text: str, literal: str) -> int:
    """Occurrences of ``literal`` in ``text``, overlapping ones included, as a suffix
    array counts them ("哈哈" twice in "哈哈哈")."""
    if not literal:
        return 0
    if not _overlaps_itself(literal):
        return text.count(literal)
    count = 0
    start = text.find(literal)
    while start != -1:
        count += 1
        start = text.find(literal, start + 1)
    return count


def _counts_in(texts: list[str], word: str) -> np.ndarray:
    """``count_overlapping`` of ``word`` in each text."""
    if not word or _overlaps_itself(word):
        return np.array([count_overlapping(t, word) for t in texts], dtype=np.int64)
    return np.array([t.count(word) for t in texts], dtype=np.int64)


@lru_cache(maxsize=4096)
def _overlaps_itself(literal: str) -> bool:
    """Whether two occurrences of ``literal`` can overlap (a proper prefix is a suffix)."""
    return any(literal.startswith(literal[-i:]) for i in range(1, len(literal)))


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
        self._text_masks: dict[str, np.ndarray | None] = {}
        self._context_masks: dict[str, np.ndarray | None] = {}
        self._occurrences: dict[str, np.ndarray] = {}
        self._counts: dict[str, np.ndarray] = {}
        self._positions: tuple[np.ndarray, np.ndarray] | None = None  # (candidates, map)

    def _text_occurrences(self, literal: str) -> np.ndarray:
        """The document of each occurrence of ``literal`` in paragraph texts, read once
        per request (matching and BM25 of the same word both need them)."""
        found = self._occurrences.get(literal)
        if found is None:
            found = self._occurrences[literal] = self.data.text_occurrences(encode(literal))
        return found

    def _text_counts(self, literal: str) -> np.ndarray | None:
        """How often ``literal`` occurs in each document, when it occurs often enough for
        one count over the segment to be the cheap way (None otherwise); kept, so matching
        and BM25 of the same word count once."""
        occurrences = self._text_occurrences(literal)
        if len(occurrences) * DENSE_SHARE <= self.data.size:
            return None
        counts = self._counts.get(literal)
        if counts is None:
            counts = self._counts[literal] = np.bincount(occurrences, minlength=self.data.size)
        return counts

    def _positions_among(self, docs: np.ndarray) -> np.ndarray:
        """Where each document of the segment stands in ``docs`` (-1: not there); made
        once for the candidates every word's BM25 is added to."""
        if self._positions is None or self._positions[0] is not docs:
            positions = np.full(self.data.size, -1, dtype=np.int32)
            positions[docs] = np.arange(len(docs), dtype=np.int32)
            self._positions = (docs, positions)
        return self._positions[1]

    def masks(self, literal: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Documents whose text / whose context contains ``literal`` (None: none)."""
        return self.text_mask(literal), self.context_mask(literal)

    def text_mask(self, literal: str) -> np.ndarray | None:
        """Documents whose text contains ``literal`` (None: none)."""
        if literal not in self._text_masks:
            docs = self._text_occurrences(literal)
            mask = None
            if len(docs):
                counts = self._text_counts(literal)
                if counts is not None:
                    mask = counts > 0
                else:
                    mask = np.zeros(self.data.size, dtype=bool)
                    mask[docs] = True
            self._text_masks[literal] = mask
        return self._text_masks[literal]

    def context_mask(self, literal: str) -> np.ndarray | None:
        """Documents whose title/heading contains ``literal`` (None: none)."""
        if literal not in self._context_masks:
            contexts = self.data.context_occurrences(encode(literal))
            self._context_masks[literal] = (
                self.data.context_mask(contexts) if len(contexts) else None
            )
        return self._context_masks[literal]

    def allowed(self, filters: Filters, sources: Mapping[str, int]) -> np.ndarray | None:
        """Live documents passing the filters (None: every document)."""
        mask = None if self.view.live is None else self.view.live.copy()
        if filters.source:
            wanted = sources.get(filters.source, -1)
            mask = _and(mask, self.view.source[self.data.doc_source] == wanted)
        if filters.date_from:
            mask = _and(mask, self.data.doc_date >= date_number(filters.date_from))
        if filters.date_to:  # 0 is "no date": never within a range
            dates = self.data.doc_date
            mask = _and(mask, (dates <= date_number(filters.date_to)) & (dates > 0))
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
                        found = mask if found is None else found | mask  # never in place
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
            text = self.text_mask(literal)  # only a match in the text earns it
            if text is not None:
                scores += score * text[docs]
        return docs, scores

    def add_bm25(self, scores: np.ndarray, docs: np.ndarray, docs_ctx: np.ndarray, word: str,
                 idf: float, avg_len: float, avg_ctx_len: float) -> None:
        """Add ``word``'s BM25 to ``scores`` (one per document of ``docs``, ascending;
        ``docs_ctx`` their contexts), computed only where the word occurs."""
        occurrences = self._text_occurrences(word)
        if len(occurrences):
            counts = self._text_counts(word)
            if counts is not None:
                tf = counts[docs]
            else:  # each occurrence's place among the candidates, counted per place
                places = self._positions_among(docs)[occurrences]
                tf = np.bincount(places[places >= 0], minlength=len(docs))
            where = np.flatnonzero(tf)
            scores[where] += _bm25(tf[where], self.data.doc_len[docs[where]], avg_len, idf)
        contexts = self.data.context_occurrences(encode(word))
        if not len(contexts):
            return
        if len(docs) > LOOK_UP_MEMBERS_FROM:
            ids, per_id = distinct_counts(contexts)
            members, lengths = self.data.context_members(ids)
            if len(members) * 4 < len(docs):  # few paragraphs under those titles: look up
                where = np.searchsorted(docs, members)
                inside = where < len(docs)
                inside[inside] = docs[where[inside]] == members[inside]
                where, tf = where[inside], np.repeat(per_id, lengths)[inside]
                length = self.data.context_lengths[np.repeat(ids, lengths)[inside]]
                scores[where] += CONTEXT_BOOST * _bm25(tf, length, avg_ctx_len, idf)
                return
        # Counted per context and read at each candidate's context.
        tf = np.bincount(contexts, minlength=self.data.contexts)[docs_ctx]
        where = np.flatnonzero(tf)
        length = self.data.context_lengths[docs_ctx[where]]
        scores[where] += CONTEXT_BOOST * _bm25(tf[where], length, avg_ctx_len, idf)

    def add_bm25_counted(self, scores: np.ndarray, docs: np.ndarray, docs_ctx: np.ndarray,
                         idf: Mapping[str, float], avg_len: float, avg_ctx_len: float) -> None:
        """``add_bm25`` of every word for a few documents, to the same values: the words
        counted in their squeezed texts and contexts rather than found through each word's
        occurrences (tens of thousands for a common word)."""
        texts = self.data.texts_of(docs.tolist())
        distinct = list(set(docs_ctx.tolist()))
        names = dict(zip(distinct, self.data.contexts_of(distinct), strict=True))
        contexts = [names[c] for c in docs_ctx.tolist()]
        lengths = self.data.doc_len[docs]
        ctx_lengths = self.data.context_lengths[docs_ctx]
        for word, weight in idf.items():
            tf = _counts_in(texts, word)
            where = np.flatnonzero(tf)
            if len(where):
                scores[where] += _bm25(tf[where], lengths[where], avg_len, weight)
            tf = _counts_in(contexts, word)
            where = np.flatnonzero(tf)
            if len(where):
                length = ctx_lengths[where]
                scores[where] += CONTEXT_BOOST * _bm25(tf[where], length, avg_ctx_len, weight)


_NOTHING = np.zeros(0, dtype=np.int64)
_NO_SCORES = np.zeros(0)


def _and(mask: np.ndarray | None, other: np.ndarray) -> np.ndarray:
    return other if mask is None else mask & other


def _bm25(tf: np.ndarray, length: np.ndarray, avg_len: float, idf: float) -> np.ndarray:
    tf = tf.astype(np.float64)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg_len)
    return idf * tf * (BM25_K1 + 1) / (tf + norm)


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
    by_date = filters.sort == "date"
    prune = not group and not by_date
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
            kth = -_kth_smallest(-score, limit)
            keep = score >= kth - bm25_bound
            local, score = local[keep], score[keep]
        if not len(local):
            continue
        local_ctx = view.data.doc_ctx[local]
        if len(local) <= COUNT_WORDS_UP_TO:
            segment.add_bm25_counted(score, local, local_ctx, idf, subs.avg_len, subs.avg_ctx_len)
        else:
            for word, weight in idf.items():
                segment.add_bm25(
                    score, local, local_ctx, word, weight, subs.avg_len, subs.avg_ctx_len
                )
        docs.append(local + view.offset)
        scores.append(score)
        if group:
            articles.append(view.article[view.data.doc_article[local]])
        if by_date:
            dates.append(view.data.doc_date[local])
    if not docs:
        return Ranked([], total, partial)
    all_docs, all_scores = np.concatenate(docs), np.concatenate(scores)
    # Best first; equal scores in index order (deterministic, like Whoosh's collectors).
    primary = -np.concatenate(dates) if by_date else -all_scores
    if not group:
        order = _first(primary, all_docs, limit)
        hits = [(int(all_docs[i]), float(all_scores[i])) for i in order]
        return Ranked(hits, total, partial)
    all_articles = np.concatenate(articles)
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
        threshold = _kth_smallest(primary, k)
        candidates = np.flatnonzero(primary <= threshold)
    else:
        candidates = np.arange(len(primary))
    order = candidates[np.lexsort((docs[candidates], primary[candidates]))]
    return order[:k]


# How many values ``_kth_smallest`` samples to tell many repeats from few, and to guess
# a bound below which the k-th smallest lies.
_SAMPLE = 1024
_FEW_DISTINCT = 64
# From this many values on (and k at most a sixteenth of them), the selection first keeps
# the values below a bound read from the sample, where about _MARGIN × k values lie.
_NARROW_FROM = 4096
_NARROW_SHARE = 16
_MARGIN = 4


def _kth_smallest(values: np.ndarray, k: int) -> float:
    """The ``k``-th smallest of ``values`` (1 ≤ k ≤ len(values)).

    numpy's selection (introselect) slows down 10–20 × when the k-th value lies in a long
    run of equal values, and scores before BM25 (sums of a few constants) or dates are
    mostly such runs: 9 ms instead of 0.4 for 75,000 scores. Values with few distinct ones
    in a sample are sorted instead (fast on repeats); the others are selected. Many
    values are first narrowed to those below a bound the sample gives (one comparison
    instead of selecting among all: 150,000 BM25 scores in ~0.15 ms instead of ~1.2);
    when fewer than k lie below it, or half of them or more, all are looked at."""
    n = len(values)
    step = max(1, n // _SAMPLE)
    sample = np.sort(values[::step])
    if n >= _NARROW_FROM and k * _NARROW_SHARE <= n:
        bound = sample[min(len(sample) - 1, _MARGIN * k // step + 1)]
        below = values[values <= bound]
        if k <= len(below) < n // 2:
            return _kth_smallest(below, k)
    if 1 + np.count_nonzero(sample[1:] != sample[:-1]) < _FEW_DISTINCT:
        return float(np.sort(values)[k - 1])
    return float(np.partition(values, k - 1)[k - 1])
