"""Undoing a page's layout: page text in, ``Unit``s out.

``page_units`` cleans each line, joins lines broken by the layout into paragraphs
(``body``) and classifies the rest: Markdown headings (``md1``-``md3``), by-lines and
photo credits (``byline``), and short lines without sentence punctuation (``short``:
titles, headings, kickers and captions, marked ``caption`` when blank lines isolate them).
Narrow-column pages, whose paragraphs have no blank line between them, are recognised and
read more strictly. Linear in the size of the text. ``pages`` turns the units into articles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .limits import MAX_TITLE_CHARS
from .text import CLOSERS, PHRASE_EDGE_PUNCT, ascii_word, clean_text, is_cjk

_END_PUNCT = frozenset("。！？；：…!?;:.")
# Punctuation that marks running text; headings, titles and captions do not contain it.
_SENTENCE_PUNCT_RE = re.compile("[，,。；;！!？?：:]")
DASH_RE = re.compile(r"^[—–\-－─]+")


def _ends_paragraph(text: str) -> bool:
    stripped = text.rstrip(CLOSERS)
    return bool(stripped) and stripped[-1] in _END_PUNCT


def has_phrase_space(text: str) -> bool:
    """True when a kept space separates two CJK phrases (headline shape)."""
    return any(
        (is_cjk(a) or a in PHRASE_EDGE_PUNCT) and (is_cjk(b) or b in PHRASE_EDGE_PUNCT)
        for a, b in re.findall(r"(\S) (\S)", text)
    )


def _heading_like(text: str) -> bool:
    """Short line without sentence punctuation: a title, heading, kicker or caption."""
    return (
        0 < len(text) <= 40
        and not _SENTENCE_PUNCT_RE.search(text)
        and not _ends_paragraph(text)
        and any(ch.isalnum() for ch in text)
    )


_CREDIT_RE = re.compile(
    r"(?:图片|图文|照片|摄影|供图|本版图文)由.{1,40}提供$"
    r"|(?:^|\s)(?:图|摄|文|摄影|制图)\s*[/／]\s*\S{1,12}$"
    r"|^(?:本报)?(?:记者|通讯员)\s+\S{2,4}(?:\s+\S{2,4})*$"
)
_NAME_RE = re.compile(r"[\u3400-\u9fff]{2,3}")


def _is_credit(text: str) -> bool:
    return len(text) <= 60 and "。" not in text and bool(_CREDIT_RE.search(text))


def _is_names(text: str) -> bool:
    """A line made only of 2-3 character names: the first half of a two-line by-line."""
    parts = text.split(" ")
    return len(parts) >= 1 and all(_NAME_RE.fullmatch(p) for p in parts)


# The opening of an ATX heading; its closing "###" is stripped in Python (a regex for
# both ends backtracks quadratically over long runs of spaces).
_MD_RE = re.compile(r" {0,3}(#{1,6})\s+")


def _markdown_heading(raw: str) -> tuple[int, str] | None:
    """Return (level, text) of a Markdown "# heading" line, else None."""
    m = _MD_RE.match(raw)
    if m is None:
        return None
    text = raw[m.end() :].rstrip()
    closed = text.rstrip("#")
    if closed != text and closed and closed[-1].isspace():
        text = closed.rstrip()
    return len(m.group(1)), text


@dataclass(slots=True)
class Unit:
    """One logical piece of a page: a joined paragraph or a single short line."""

    kind: str  # "md1" | "md2" | "md3" | "short" | "body" | "byline"
    text: str
    line: int
    blank_before: int = 0
    in_block_next: bool = False  # the next non-blank line follows without a blank line
    caption: bool = False  # a short line isolated by 2+ blank lines


@dataclass(slots=True)
class _Line:
    number: int
    text: str
    blank_before: int
    md: int | None  # the level of a Markdown heading (1-3; deeper ones count as 3)


def _page_lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    blanks = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        md = _markdown_heading(raw)
        cleaned = clean_text(md[1] if md else raw)
        if not cleaned:
            blanks += 1
            continue
        # A "heading" longer than any title is running text with a stray "#": keep it whole.
        level = min(md[0], 3) if md and len(cleaned) <= MAX_TITLE_CHARS else None
        # Blank lines at the top of the file separate nothing.
        out.append(_Line(number, cleaned, blanks if out else 0, level))
        blanks = 0
    return out


def _is_column_layout(lines: list[_Line]) -> bool:
    """Narrow-column pages break every paragraph into lines with no blank between them."""
    if len(lines) < 10:
        return False
    in_blocks = sum(
        1
        for i, ln in enumerate(lines)
        if (i > 0 and ln.blank_before == 0)
        or (i + 1 < len(lines) and lines[i + 1].blank_before == 0)
    )
    return in_blocks * 2 > len(lines)


def _units(lines: list[_Line]) -> list[Unit]:
    """Join layout-broken lines into paragraphs and classify the short lines."""
    column = _is_column_layout(lines)
    units: list[Unit] = []
    pending: Unit | None = None
    parts: list[str] = []  # the lines of ``pending``, joined once it closes (linear time)
    deferred: list[Unit] = []  # captions met inside an unfinished paragraph

    def close() -> None:
        nonlocal pending
        if pending is not None:
            pending.text = "".join(parts)
            parts.clear()
            units.append(pending)
            pending = None
        units.extend(deferred)
        deferred.clear()

    for i, ln in enumerate(lines):
        in_block_next = i + 1 < len(lines) and lines[i + 1].blank_before == 0
        if ln.md is not None:
            close()
            units.append(Unit(f"md{ln.md}", ln.text, ln.number, ln.blank_before))
            continue
        if _is_credit(ln.text):
            close()
            prev = units[-1] if units else None
            if (
                prev is not None
                and prev.kind == "short"
                and ln.blank_before == 0
                and _is_names(prev.text)
            ):
                # "贺娜 柳建国 罗逸凡" / "图片由…提供": one by-line over two lines.
                prev.kind, prev.text = "byline", f"{prev.text} {ln.text}"
            else:
                units.append(Unit("byline", ln.text, ln.number, ln.blank_before))
            continue
        short = _heading_like(ln.text)
        if short and column:
            # In a narrow column many body lines lack punctuation; only a headline-shaped
            # line (two phrases, or a "——" subtitle) is taken for a heading there.
            short = has_phrase_space(ln.text) or bool(DASH_RE.match(ln.text))
        if short:
            unit = Unit("short", ln.text, ln.number, ln.blank_before, in_block_next)
            if ln.blank_before >= 2:
                # Photo captions float between paragraphs, even inside a broken one.
                unit.caption = True
                (deferred if pending is not None else units).append(unit)
                continue
            if pending is None or column or ln.blank_before >= 1:
                close()
                units.append(unit)
                continue
        if pending is None:
            pending = Unit("body", ln.text, ln.number, ln.blank_before)
        elif ascii_word(parts[-1][-1]) and ascii_word(ln.text[0]):
            parts.append(" ")  # a Latin word broken across lines keeps its space
        parts.append(ln.text)
        if _ends_paragraph(ln.text):
            close()
    close()
    return units


def page_units(text: str) -> list[Unit]:
    """Split a page's text into units, in page order."""
    return _units(_page_lines(text))
