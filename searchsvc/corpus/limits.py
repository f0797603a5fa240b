"""Bounds on what one source may produce, and applying them to one article.

They keep one bad file from taking the machine down and touch no normal article. ``bounded``
takes an article's id, title, subtitle and (text, heading, kind) paragraphs and returns
the title, subtitle and headings cut to ``MAX_TITLE_CHARS``, numbered ``Paragraph``s
(paragraphs over ``MAX_PARAGRAPH_CHARS`` split at sentence ends, text beyond
``MAX_ARTICLE_CHARS`` dropped) and a note for each cut or drop. The feed reader checks
``MAX_TAGS`` and ``MAX_URL_CHARS``, ``sources`` checks ``MAX_SOURCE_BYTES``.
"""

from __future__ import annotations

import re
import unicodedata

from .records import Paragraph
from .text import CLOSERS

# Bounds on what one source may produce (measured on ../shared/corpora/xwlb, 212,968
# paragraphs: p50 76, p99 324, longest 2,893 characters; longest article 5,825; longest
# title 117; and on seeds/: longest paragraph 520). None of them touches a normal article,
# so its paragraph numbers (ids) never change.
MAX_PARAGRAPH_CHARS = 4_000  # longer paragraphs are split at sentence ends
MAX_TITLE_CHARS = 200  # a title, a subtitle or a section heading; longer ones are cut
MAX_ARTICLE_CHARS = 200_000  # text of one article; beyond it is dropped (with a problem)
MAX_TAGS = 100  # tags of one feed article (each at most MAX_TITLE_CHARS)
MAX_URL_CHARS = 2_048  # a longer feed url is dropped
# A larger file is not read at all: parsing takes up to ~30 times a file's size in memory
# (a page of millions of short lines; a real feed ~5 times). The whole xwlb corpus in one
# file is 65 MB.
MAX_SOURCE_BYTES = 64 * 1024 * 1024


# Where a long paragraph is cut: after a sentence end (and the closing quotes after it),
# else after other punctuation or a space.
_SENTENCE_END_RE = re.compile(f"[。！？；!?;][{re.escape(CLOSERS)}]*")
_SOFT_BREAK_RE = re.compile(f"[，,、：:…—\\s][{re.escape(CLOSERS)}]*")


def _last_break(pattern: re.Pattern[str], text: str, lo: int, hi: int) -> int:
    """Return the end of the last match of pattern inside text[lo:hi], or 0."""
    end = 0
    for m in pattern.finditer(text, lo, hi):
        end = m.end()
    return end


def _hard_cut(text: str, start: int, end: int) -> int:
    """Return a cut near end that does not part a combining mark from its base character."""
    cut = end
    while cut > start + 1 and unicodedata.category(text[cut]).startswith("M"):
        cut -= 1
    return cut if cut > start + 1 else end


def _split_paragraph(text: str, limit: int = MAX_PARAGRAPH_CHARS) -> list[str]:
    """Split text into pieces of at most limit characters.

    Each cut is at the last sentence end in the second half of the window, else the last
    other punctuation or space there, else the last of either anywhere in it, else at the
    limit itself.
    """
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        end, half = start + limit, start + limit // 2
        cut = (
            _last_break(_SENTENCE_END_RE, text, half, end)
            or _last_break(_SOFT_BREAK_RE, text, half, end)
            or _last_break(_SENTENCE_END_RE, text, start, end)
            or _last_break(_SOFT_BREAK_RE, text, start, end)
            or _hard_cut(text, start, end)
        )
        pieces.append(text[start:cut].strip())
        start = cut
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


def bounded(
    article_id: str,
    title: str,
    subtitle: str | None,
    paras: list[tuple[str, str | None, str]],
) -> tuple[str, str | None, tuple[Paragraph, ...], list[str]]:
    """Apply the MAX_* bounds to one article and number its paragraphs.

    Returns the title, subtitle and paragraphs, and a message for whatever was cut or
    dropped (splitting a paragraph loses nothing and is not reported).
    """
    notes: list[str] = []

    def cut(text: str, what: str) -> str:
        if len(text) <= MAX_TITLE_CHARS:
            return text
        note = f"article {article_id}: {what} longer than {MAX_TITLE_CHARS} characters; cut"
        if note not in notes:
            notes.append(note)
        return text[: MAX_TITLE_CHARS - 1].rstrip() + "…"

    title = cut(title, "title")
    subtitle = None if subtitle is None else cut(subtitle, "subtitle")
    total = sum(len(text) for text, _, _ in paras)
    budget = MAX_ARTICLE_CHARS
    out: list[Paragraph] = []
    for text, heading, kind in paras:
        if budget <= 0:
            break
        text = text[:budget]
        budget -= len(text)
        heading = None if heading is None else cut(heading, "section heading")
        for piece in _split_paragraph(text):
            out.append(Paragraph(len(out) + 1, piece, heading, kind))
    if total > MAX_ARTICLE_CHARS:
        notes.append(
            f"article {article_id}: text longer than {MAX_ARTICLE_CHARS:,} characters "
            f"({total:,}); the last {total - MAX_ARTICLE_CHARS:,} dropped"
        )
    return title, subtitle, tuple(out), notes
