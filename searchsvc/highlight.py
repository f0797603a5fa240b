"""Highlighting: where a query's literals occur in a text, marked up as escaped HTML.

In: original text (as stored) and the squeezed literals a query matched.
Out: spans in original offsets, HTML with each match in ``<mark>`` (everything else escaped
exactly once, here), and snippets of about ``SNIPPET_CHARS`` cut at sentence ends.
"""

from __future__ import annotations

import html
from bisect import bisect_left

from .analysis import Squeezed, squeeze, squeeze_known

SNIPPET_CHARS = 160
SENTENCE_END = "。！？；!?;"
# A text this much longer than a snippet is shown whole rather than cut.
WHOLE_TEXT_SLACK = 40
# How far before the best match a snippet may start looking for the beginning of its
# sentence (1/LEAD_SHARE of its length), and where it starts when none begins that close.
LEAD_SHARE = 3
LEAD_CHARS = 20
# When every match of the window would make the snippet this much too long, start closer.
OVERFLOW_CHARS = 20
CLOSE_LEAD_CHARS = 10
# How far past the snippet's length to look for the end of the sentence.
TAIL_CHARS = 30

def _squeezed(text: str, squeezed: str | None) -> Squeezed:
    return squeeze(text) if squeezed is None else squeeze_known(text, squeezed)


def match_spans(
    text: str, literals: list[str], squeezed: str | None = None
) -> list[tuple[int, int]]:
    """Spans of ``text`` (original offsets) where any literal occurs, merged and sorted
    (``squeezed``: the text's squeezed string, when the index holds it)."""
    return _spans(_squeezed(text, squeezed), literals)


def _spans(sq: Squeezed, literals: list[str]) -> list[tuple[int, int]]:
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
        out += (text[pos:s], "<mark>", text[s:e], "</mark>")
        pos = e
    out.append(text[pos:end])
    if "&" in text or "<" in text or ">" in text:  # rare in news text: escape only then
        out = [piece if i % 2 else html.escape(piece, quote=False)
               for i, piece in enumerate(out)]
    return "".join(out)


def _best_window_start(spans: list[tuple[int, int]], sq: Squeezed, literals: list[str]) -> int:
    """Start of the span from which a snippet-sized window shows the most distinct keywords."""
    if not spans:
        return 0
    best, best_count = spans[0][0], -1
    wanted = {lit for lit in literals if lit}
    for s, _ in spans:
        # The squeezed characters of text[s : s + SNIPPET_CHARS].
        window = sq.text[bisect_left(sq.origin, s) : bisect_left(sq.origin, s + SNIPPET_CHARS)]
        count = sum(1 for lit in wanted if lit in window)
        if count > best_count:
            best, best_count = s, count
    return best


def snippet(
    text: str, literals: list[str], max_chars: int = SNIPPET_CHARS, squeezed: str | None = None
) -> str:
    """A ~max_chars HTML snippet around the best match, cut at sentence ends when possible
    (``squeezed``: as for ``match_spans``)."""
    sq = _squeezed(text, squeezed)
    spans = _spans(sq, literals)
    if len(text) <= max_chars + WHOLE_TEXT_SLACK:
        return mark(text, spans)
    anchor = _best_window_start(spans, sq, literals)
    # Start at the beginning of the anchor's sentence when it is close enough.
    start = max(0, anchor - max_chars // LEAD_SHARE)
    for i in range(anchor - 1, start - 1, -1):
        if text[i] in SENTENCE_END:
            start = i + 1
            break
    else:
        if start > 0 and anchor - start > LEAD_CHARS:
            start = anchor - LEAD_CHARS
    # Keep every match of the chosen window; start later if that would make it too long.
    must_end = max((e for s, e in spans if anchor <= s < anchor + max_chars), default=anchor)
    if must_end - start > max_chars + OVERFLOW_CHARS:
        start = max(0, anchor - CLOSE_LEAD_CHARS)
    end = max(min(len(text), start + max_chars), must_end)
    # End at a sentence end: the next one if it is near, else the last one before.
    for i in range(end - 1, min(len(text), end + TAIL_CHARS)):
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
