"""Line cleanup: one line as typeset in, clean text out.

``clean_text`` drops zero-width and control characters, reads every kind of space
(U+3000, NBSP, tab...) as a plain one and keeps a space only where it means something:
between Latin words and between two CJK phrases; letter-spacing inside CJK text goes.
Text is not NFKC-normalised here (the analysis layer does that). Also the character
classes the page and bounds code share (CJK, ASCII word characters, closing quotes).
"""

from __future__ import annotations

import re

# Zero-width characters and stray BOMs are invisible: drop them.
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Every other kind of space (ideographic, NBSP, thin, tab...) counts as a plain space.
_SPACE_RE = re.compile("[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_CTRL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


def is_cjk(ch: str) -> bool:
    """True for a Han character (or kana): a character CJK text is written in."""
    o = ord(ch)
    return (
        0x3400 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3FFFF
        or 0x3040 <= o <= 0x30FF  # kana: Japanese names in Chinese text
    )


# Quotes may sit on either side of the space between the two phrases of a headline.
PHRASE_EDGE_PUNCT = frozenset("“”‘’「」『』")
_ASCII_LEFT = frozenset(",.;:!?)]}%'\"")
_ASCII_RIGHT = frozenset("([{'\"$#@")
# Closing quotes/brackets may follow the sentence-final mark: "…表示。”" still ends.
CLOSERS = "”’」』）)》〉】\"'"


def ascii_word(ch: str) -> bool:
    """True for a character of a Latin word (an ASCII letter or digit)."""
    return ch.isascii() and ch.isalnum()


def _keep_space(left: str, right: str) -> bool:
    """Decide whether the space between two whitespace-separated tokens is meaningful."""
    a, b = left[-1], right[0]
    # Latin words ("Hello world", "COVID 19", "Hello, world") keep their separator.
    if (ascii_word(a) or a in _ASCII_LEFT) and (ascii_word(b) or b in _ASCII_RIGHT):
        return ascii_word(a) or ascii_word(b)
    # Two multi-character CJK phrases: the deliberate gap of a headline or a list of names
    # ("党建统领 绘就…", "贺娜 柳建国"). Single-character tokens are letter-spacing.
    if len(left) >= 2 and len(right) >= 2:
        cjk_a = is_cjk(a) or a in PHRASE_EDGE_PUNCT
        cjk_b = is_cjk(b) or b in PHRASE_EDGE_PUNCT
        return cjk_a and cjk_b
    return False


def clean_text(text: str) -> str:
    """Strip invisible characters and typesetting spaces from one line of text."""
    text = _ZERO_WIDTH_RE.sub("", text)
    text = _CTRL_RE.sub("", text)
    tokens = _SPACE_RE.sub(" ", text).split()
    if not tokens:
        return ""
    out = [tokens[0]]
    for prev, tok in zip(tokens, tokens[1:], strict=False):
        if _keep_space(prev, tok):
            out.append(" ")
        out.append(tok)
    return "".join(out)
