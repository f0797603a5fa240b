"""Autocomplete and "did you mean" from what the index holds.

In: a freshly written index version (its jieba-word lexicon and its article titles).
Out: ``suggest.json`` in the version (words and titles with weights), and a ``Suggester``
that completes a typed prefix in well under a millisecond: entries are kept sorted by
their normalised form, a prefix is a contiguous range found by bisection, and the top
entries for every one-character prefix (the only ranges too large to scan) are
precomputed when the file is loaded.
"""

from __future__ import annotations

import bisect
import heapq
import json
from collections.abc import Iterable
from pathlib import Path

from whoosh.searching import Searcher

from .analysis import normalize, stop_words, words_of

SUGGEST_FILE = "suggest.json"
MAX_SUGGESTIONS = 10
_SCAN_LIMIT = 3000  # prefix ranges larger than this use the precomputed top lists
_MIN_WORD_DF = 2  # a word seen in one paragraph only is more likely noise than a topic


def _key(text: str) -> str:
    return normalize(text).text if not text.isascii() or not text.islower() else text


def collect_entries(searcher: Searcher, titles: Iterable[str]) -> list[tuple[str, int]]:
    """(display text, weight) for indexed words (weight: paragraphs containing them) and
    article titles (weight: a title outranks all but the commonest words)."""
    stop = stop_words()
    frequencies: dict[str, int] = {}
    # Segment by segment, summed here: the multi-segment reader merges the lexicons term
    # by term in Python (8 × slower on the full corpus).
    for leaf, _offset in searcher.reader().leaf_readers():
        for bword, info in leaf.iter_field("text"):
            word = bword.decode("utf-8") if isinstance(bword, bytes) else bword
            frequencies[word] = frequencies.get(word, 0) + info.doc_frequency()
    weights = {
        word: df for word, df in frequencies.items()
        if df >= _MIN_WORD_DF and len(word) >= 2 and word not in stop and not word.isdigit()
    }
    return with_titles(sorted(weights.items()), titles)


def with_titles(entries: list[tuple[str, int]], titles: Iterable[str]) -> list[tuple[str, int]]:
    """``entries`` plus article titles (weighted to outrank all but the commonest words),
    sorted by normalised form. Index words are already normalised; titles are not."""
    weights = dict(entries)
    title_weight = max(weights.values(), default=1) // 10 + 1
    for title in titles:
        title = title.strip()
        if title:
            weights[title] = max(weights.get(title, 0), title_weight)
    return sorted(weights.items(), key=lambda item: (_key(item[0]), -item[1]))


def read_entries(version_dir: Path) -> list[tuple[str, int]]:
    try:
        data = json.loads((version_dir / SUGGEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [(str(text), int(weight)) for text, weight in data]


def add_articles(
    entries: list[tuple[str, int]], texts: Iterable[str], titles: Iterable[str]
) -> list[tuple[str, int]]:
    """``entries`` updated with newly indexed paragraphs and titles, without reading the
    whole lexicon again (a small update's words count once per paragraph; deleted
    articles' words stay until the next full build)."""
    stop = stop_words()
    weights = dict(entries)
    for text in texts:
        for word in set(words_of(text)):
            if len(word) >= 2 and word not in stop and not word.isdigit():
                weights[word] = weights.get(word, 0) + 1
    return with_titles(list(weights.items()), titles)


def write_entries(version_dir: Path, entries: list[tuple[str, int]]) -> None:
    (version_dir / SUGGEST_FILE).write_text(
        json.dumps(entries, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )


class Suggester:
    """Completions of a prefix from one version's ``suggest.json``."""

    def __init__(self, entries: list[tuple[str, int]]):
        self.entries = entries
        self.keys = [_key(text) for text, _ in entries]
        self.top_by_first: dict[str, list[tuple[str, int]]] = {}
        buckets: dict[str, list[tuple[str, int]]] = {}
        for key, entry in zip(self.keys, entries, strict=True):
            if key:
                buckets.setdefault(key[0], []).append(entry)
        for first, bucket in buckets.items():
            if len(bucket) > _SCAN_LIMIT:
                self.top_by_first[first] = heapq.nlargest(
                    MAX_SUGGESTIONS, bucket, key=lambda e: e[1]
                )

    @classmethod
    def load(cls, version_dir: Path) -> Suggester:
        return cls(read_entries(version_dir))

    def near_words(self, word: str) -> list[str]:
        """Entries one edit (insertion, deletion or substitution) from ``word`` that share
        its first character and are at least as long as ``word`` less one, commonest first:
        the lexicon walk of did-you-mean for a backend with no lexicon of its own."""
        if not word:
            return []
        lo = bisect.bisect_left(self.keys, word[0])
        hi = bisect.bisect_left(self.keys, word[0] + "\U0010ffff")
        minimum = max(2, len(word) - 1)
        near = [
            (self.entries[i][1], self.keys[i])
            for i in range(lo, hi)
            if self.keys[i] != word
            and minimum <= len(self.keys[i]) <= len(word) + 1
            and _one_edit(self.keys[i], word)
        ]
        return [key for _weight, key in sorted(near, key=lambda e: -e[0])]

    def complete(self, prefix: str, limit: int = MAX_SUGGESTIONS) -> list[str]:
        """Up to ``limit`` entries starting with ``prefix``, most weighty first."""
        key = _key(prefix.strip())
        if not key:
            return []
        lo = bisect.bisect_left(self.keys, key)
        hi = bisect.bisect_left(self.keys, key + "\U0010ffff")
        if hi - lo > _SCAN_LIMIT and len(key) == 1 and key in self.top_by_first:
            best = self.top_by_first[key]
        else:
            window = self.entries[lo : min(hi, lo + _SCAN_LIMIT * 4)]
            best = heapq.nlargest(limit, window, key=lambda e: e[1])
        return [text for text, _ in best[:limit]]


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are at most one insertion, deletion or substitution apart."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]
