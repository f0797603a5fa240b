"""The embedded engine's score of one paragraph, computed from its squeezed strings.

In: a ``MatchSpec``, the IDF of its words, a paragraph's squeezed text and context, and the
collection's average lengths. Out: the score ``ranking.rank`` gives that paragraph, to the
last bit: the same terms, added in the same order, with the same float64 operations
(``ranking._Segment.match`` then ``add_bm25``: text match, context match, adjacency bonus,
then per word BM25 in the text and, times CONTEXT_BOOST, in the context). Term frequencies
count overlapping occurrences and lengths are in UTF-16 code units, as the suffix arrays do.

The engine uses it to re-rank the candidates the server returns (``engine``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..ranking import BM25_B, BM25_K1, CONTEXT_BOOST, MatchSpec, count_overlapping
from .documents import utf16_units


def bm25(tf: int, length: int, avg_len: float, idf: float) -> float:
    """``ranking._bm25`` for one document (the same operations in the same order)."""
    tf_ = float(tf)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg_len)
    return idf * tf_ * (BM25_K1 + 1) / (tf_ + norm)


def score(
    spec: MatchSpec,
    idf: Mapping[str, float],
    squeezed: str,
    context: str,
    avg_len: float,
    avg_ctx_len: float,
) -> float:
    """The paragraph's score under ``spec`` (it is assumed to match)."""
    total = 0.0
    for group in spec.required:
        for literal, text_score, context_score in group:
            if literal in squeezed:
                total += text_score
            if literal in context:
                total += context_score
    for literal, bonus in spec.bonus:
        if literal in squeezed:
            total += bonus
    length = utf16_units(squeezed)
    ctx_length = utf16_units(context)
    for word, weight in idf.items():
        tf = count_overlapping(squeezed, word)
        if tf:
            total += bm25(tf, length, avg_len, weight)
        tf = count_overlapping(context, word)
        if tf:
            total += CONTEXT_BOOST * bm25(tf, ctx_length, avg_ctx_len, weight)
    return total
