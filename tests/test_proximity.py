"""The proximity re-rank's measure (searchsvc/ranking.py ``_span_of_all``): the length of
the shortest stretch of a squeezed text holding an occurrence of every keyword (any of its
literals), against every stretch tried by brute force."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.query import Keyword
from searchsvc.ranking import _span_of_all

ALPHABET = "ab中国x"


def _brute(text: str, keywords: list[Keyword]) -> int | None:
    occurrences = [
        [(i, i + len(lit)) for lit in k.literals for i in range(len(text))
         if text.startswith(lit, i)]
        for k in keywords
    ]
    best = None
    for lo in range(len(text)):
        for hi in range(lo + 1, len(text) + 1):
            if all(any(lo <= s and e <= hi for s, e in occ) for occ in occurrences):
                best = hi - lo if best is None else min(best, hi - lo)
                break  # longer stretches from lo are no shorter
    return best


_literal = st.text(ALPHABET, min_size=1, max_size=3)
_keyword = st.builds(
    lambda literal, synonyms: Keyword(literal, literal, synonyms=tuple(synonyms)),
    _literal, st.lists(_literal, max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(text=st.text(ALPHABET, max_size=24), keywords=st.lists(_keyword, min_size=1, max_size=4))
def test_shortest_stretch_holding_every_keyword(text: str, keywords: list[Keyword]):
    assert _span_of_all(text, keywords) == _brute(text, keywords)


def test_examples():
    words = [Keyword("中国", "中国"), Keyword("ab", "ab")]
    assert _span_of_all("中国xxab中国", words) == 4  # "ab中国", not "中国xxab"
    assert _span_of_all("中国xxx", words) is None
    assert _span_of_all("abab", [Keyword("ab", "ab"), Keyword("ba", "ba")]) == 3  # overlapping
