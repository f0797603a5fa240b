"""Corpus reading: source files in, clean article records out.

In: a seeds root directory holding newspaper pages (``.txt``/``.md``: several articles per
file, lines broken by the page layout, letter-spaced typesetting, optional Markdown headings)
and JSONL feeds (``.jsonl``: one article object per line), in UTF-8 (with or without a BOM)
or GB18030/GBK.

Out: ``Article`` records (title, subtitle, date, url, tags and numbered ``Paragraph``s that
carry their section heading and their kind: body text, photo caption or by-line) with ids
that are URL-safe and stable from run to run, plus ``Problem`` records for whatever could
not be read (undecodable files or lines, malformed feed lines, duplicate ids, symbolic links
out of the seeds directory, oversized sources). Reading never raises for bad content:
problems are reported and the rest still loads.

What one source can make is bounded (``MAX_*`` below), so one bad file cannot take the
machine down: long paragraphs are split at sentence ends, titles, subtitles and headings are
cut, an article's text beyond ``MAX_ARTICLE_CHARS`` is dropped (with a problem saying so), and
a file larger than ``MAX_SOURCE_BYTES`` is not read. Parsing is linear in the file size.

Every visible line of a page ends up in a title, subtitle, heading or paragraph. Text is
not NFKC-normalised here (the analysis layer does that); only layout artefacts are undone:
broken lines are joined, typesetting spaces inside CJK text are removed, zero-width
characters dropped and odd spaces (U+3000, NBSP) treated as spaces.

Standard library only: no Whoosh, jieba or Flask.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import stat
import unicodedata
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MAX_ARTICLE_CHARS",
    "MAX_PARAGRAPH_CHARS",
    "MAX_SOURCE_BYTES",
    "MAX_TAGS",
    "MAX_TITLE_CHARS",
    "MAX_URL_CHARS",
    "SOURCE_SUFFIXES",
    "Article",
    "Paragraph",
    "Problem",
    "clean_text",
    "iter_articles",
    "list_sources",
    "read_source",
]

SOURCE_SUFFIXES = (".txt", ".md", ".jsonl")
# Dictionaries for the analysis layer live next to the articles; they are not articles.
_ROOT_SKIP = frozenset({"userdict.txt", "synonyms.txt"})

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


@dataclass(frozen=True)
class Paragraph:
    number: int  # 1-based position in the article, stable for the same article text
    text: str  # clean text of the paragraph (joined lines, spaces cleaned)
    heading: str | None  # section heading this paragraph falls under, if any
    kind: str = "body"  # "body" | "caption" | "byline"


@dataclass(frozen=True)
class Article:
    id: str  # stable, URL-safe: only [A-Za-z0-9._-], at most 80 chars
    source: str  # path relative to the seeds root, POSIX style
    title: str
    paragraphs: tuple[Paragraph, ...]
    subtitle: str | None = None  # kicker/subtitle lines joined with " " if several
    date: str | None = None  # "YYYY-MM-DD"
    url: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """Return the sha256 hex digest of everything that gets indexed."""
        payload = [
            self.title,
            self.subtitle,
            [[p.number, p.text, p.heading, p.kind] for p in self.paragraphs],
            self.date,
            self.url,
            list(self.tags),
        ]
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        # Readers never produce lone surrogates, but a hash must not raise whatever it gets.
        return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Problem:
    source: str  # relative path
    line: int | None  # 1-based line number when known
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}: {self.message}"


# --------------------------------------------------------------------------- text cleanup

# Zero-width characters and stray BOMs are invisible: drop them.
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Every other kind of space (ideographic, NBSP, thin, tab...) counts as a plain space.
_SPACE_RE = re.compile("[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_CTRL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3400 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3FFFF
        or 0x3040 <= o <= 0x30FF  # kana: Japanese names in Chinese text
    )


# Quotes may sit on either side of the space between the two phrases of a headline.
_PHRASE_EDGE_PUNCT = frozenset("“”‘’「」『』")
_ASCII_LEFT = frozenset(",.;:!?)]}%'\"")
_ASCII_RIGHT = frozenset("([{'\"$#@")


def _ascii_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _keep_space(left: str, right: str) -> bool:
    """Decide whether the space between two whitespace-separated tokens is meaningful."""
    a, b = left[-1], right[0]
    # Latin words ("Hello world", "COVID 19", "Hello, world") keep their separator.
    if (_ascii_word(a) or a in _ASCII_LEFT) and (_ascii_word(b) or b in _ASCII_RIGHT):
        return _ascii_word(a) or _ascii_word(b)
    # Two multi-character CJK phrases: the deliberate gap of a headline or a list of names
    # ("党建统领 绘就…", "贺娜 柳建国"). Single-character tokens are letter-spacing.
    if len(left) >= 2 and len(right) >= 2:
        cjk_a = _is_cjk(a) or a in _PHRASE_EDGE_PUNCT
        cjk_b = _is_cjk(b) or b in _PHRASE_EDGE_PUNCT
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


# Closing quotes/brackets may follow the sentence-final mark: "…表示。”" still ends.
_CLOSERS = "”’」』）)》〉】\"'"
_END_PUNCT = frozenset("。！？；：…!?;:.")
# Punctuation that marks running text; headings, titles and captions do not contain it.
_SENTENCE_PUNCT_RE = re.compile("[，,。；;！!？?：:]")
_DASH_RE = re.compile(r"^[—–\-－─]+")


def _ends_paragraph(text: str) -> bool:
    stripped = text.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _END_PUNCT


def _strip_dashes(text: str) -> str:
    return _DASH_RE.sub("", text).strip() or text


def _has_phrase_space(text: str) -> bool:
    """True when a kept space separates two CJK phrases (headline shape)."""
    return any(
        (_is_cjk(a) or a in _PHRASE_EDGE_PUNCT) and (_is_cjk(b) or b in _PHRASE_EDGE_PUNCT)
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


# Kickers sit above a title: a leading dash ("—“十四五”…·卫生篇"), an institution name
# ("重庆大学附属江津医院") or a short slogan of parallel phrases ("以生命为尺 以健康为愿").
_INSTITUTION_RE = re.compile(
    r"^[\u3400-\u9fff（）()]{2,20}(?:医院|卫生院|保健院|中心|委员会|卫健委|局|大学|学院|集团|公司)$"
)


def _is_kicker(text: str) -> bool:
    if _DASH_RE.match(text):
        return True
    if _INSTITUTION_RE.match(text):
        return True
    phrases = text.split(" ")
    return len(phrases) >= 2 and all(len(p) <= 5 for p in phrases)


# --------------------------------------------------------------------------- decoding


# Undecodable bytes are kept as lone surrogates U+DC80-U+DCFF ("surrogateescape") so that
# one bad byte costs its line, not the file; NUL and other C0 controls mark binary data.
_UNDECODED_RE = re.compile("[\udc80-\udcff]")
_NOT_TEXT_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f\udc80-\udcff]")


@dataclass
class _Decoded:
    text: str  # lines separated by "\n"; undecodable bytes still escaped as U+DC80-U+DCFF
    encoding: str  # "UTF-8" or "GB18030"
    bad_lines: dict[int, int]  # 1-based line number -> its first undecodable byte


def _undecoded(text: str) -> int:
    return len(text) - len(_UNDECODED_RE.sub("", text))


def _decode(data: bytes) -> _Decoded | None:
    """Decode UTF-8 (BOM stripped) or GB18030 line by line; None for binary data.

    The encoding is chosen for the whole file: UTF-8 unless its undecodable bytes outnumber
    its well-formed non-ASCII characters and GB18030 decodes more. (GBK text is never
    mostly valid UTF-8, while UTF-8 text often decodes as GB18030 mojibake, so a UTF-8 file
    with a stray byte stays UTF-8.) Lines with bytes the chosen encoding cannot decode are
    reported in ``bad_lines``. Binary data (random bytes, UTF-16) is told apart by NULs,
    control characters and undecodable bytes: in most lines, and more than 1 in 20
    characters.
    """
    bom = data.startswith(b"\xef\xbb\xbf")
    if bom:
        data = data[3:]
    encoding = "UTF-8"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
        bad = _undecoded(text)
        well_formed = len(text) - len(text.encode("ascii", "ignore")) - bad
        if not bom and bad > well_formed:
            other = data.decode("gb18030", "surrogateescape")
            if _undecoded(other) < bad:
                text, encoding = other, "GB18030"
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.count("\n") + 1
    bad_lines: dict[int, int] = {}
    suspect, checked = 0, False
    number, pos, line_start = 1, 0, 0
    while (m := _NOT_TEXT_RE.search(text, pos)) is not None:
        number += text.count("\n", line_start, m.start())
        line_end = text.find("\n", m.start())
        line_end = len(text) if line_end < 0 else line_end
        suspect += 1
        if suspect * 2 > lines and not checked:
            checked = True
            if 20 * (len(text) - len(_NOT_TEXT_RE.sub("", text))) > len(text):
                return None
        escaped = _UNDECODED_RE.search(text, m.start(), line_end)
        if escaped is not None:
            bad_lines[number] = ord(escaped.group()) - 0xDC00
        # One look per line: the rest of a bad line cannot make it worse.
        pos = line_start = line_end
    return _Decoded(text, encoding, bad_lines)


# --------------------------------------------------------------------------- page parsing

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
class _Unit:
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


def _units(lines: list[_Line]) -> list[_Unit]:
    """Join layout-broken lines into paragraphs and classify the short lines."""
    column = _is_column_layout(lines)
    units: list[_Unit] = []
    pending: _Unit | None = None
    parts: list[str] = []  # the lines of ``pending``, joined once it closes (linear time)
    deferred: list[_Unit] = []  # captions met inside an unfinished paragraph

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
            units.append(_Unit(f"md{ln.md}", ln.text, ln.number, ln.blank_before))
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
                units.append(_Unit("byline", ln.text, ln.number, ln.blank_before))
            continue
        short = _heading_like(ln.text)
        if short and column:
            # In a narrow column many body lines lack punctuation; only a headline-shaped
            # line (two phrases, or a "——" subtitle) is taken for a heading there.
            short = _has_phrase_space(ln.text) or bool(_DASH_RE.match(ln.text))
        if short:
            unit = _Unit("short", ln.text, ln.number, ln.blank_before, in_block_next)
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
            pending = _Unit("body", ln.text, ln.number, ln.blank_before)
        elif _ascii_word(parts[-1][-1]) and _ascii_word(ln.text[0]):
            parts.append(" ")  # a Latin word broken across lines keeps its space
        parts.append(ln.text)
        if _ends_paragraph(ln.text):
            close()
    close()
    return units


@dataclass
class _Draft:
    """An article being assembled from units."""

    header: list[_Unit] = field(default_factory=list)
    md_title: str | None = None
    subtitles: list[str] = field(default_factory=list)
    paras: list[tuple[str, str | None, str]] = field(default_factory=list)  # text, heading, kind
    heading: str | None = None
    heading_used: bool = True  # the current heading already has a paragraph
    in_header: bool = True
    after_byline: bool = False
    pair: tuple[str, str] | None = None  # a "title" + "——subtitle" pair found in the body
    headings: list[str] = field(default_factory=list)

    def has_content(self) -> bool:
        return bool(self.header or self.md_title or self.paras or self.pair or self.heading)

    def set_heading(self, text: str) -> None:
        if self.heading is not None and not self.heading_used:
            # Two headings in a row: keep both visible rather than lose the first; past
            # the length of a heading, the first one becomes a paragraph of its own.
            if len(self.heading) + 1 + len(text) <= MAX_TITLE_CHARS:
                text = f"{self.heading} {text}"
            else:
                self.paras.append((self.heading, self.heading, "body"))
        self.heading, self.heading_used = text, False
        self.headings.append(text)
        self.in_header = False
        self.after_byline = False

    def add(self, text: str, kind: str) -> None:
        self.paras.append((text, self.heading, kind))
        self.heading_used = True
        self.in_header = False


def _resolve(draft: _Draft) -> tuple[str, str | None, list[tuple[str, str | None, str]]] | None:
    """Pick title and subtitle for a draft; return (title, subtitle, paragraphs)."""
    paras = list(draft.paras)
    header = [u.text for u in draft.header]
    extra: list[str] = []  # subtitle parts
    title: str | None = None
    if draft.md_title is not None:
        title = draft.md_title
        extra = header
    elif header:
        # A last header line shaped like the body's section headings is a heading too
        # ("党建统领 绘就红色引领的发展蓝图"), as long as a real title line remains.
        last = header[-1]
        rest_titles = [h for h in header[:-1] if not _is_kicker(h)]
        if (
            len(header) >= 2
            and rest_titles
            and not _is_kicker(last)
            and _has_phrase_space(last)
            and any(_has_phrase_space(h) for h in draft.headings)
        ):
            header = header[:-1]
            # It heads the paragraphs up to the first heading found in the body.
            lead = next((n for n, (_, h, _) in enumerate(paras) if h is not None), len(paras))
            paras = [(t, last, k) for t, _, k in paras[:lead]] + paras[lead:]
        candidates = [h for h in header if not _is_kicker(h)] or [header[-1]]
        # With several candidates the one before the last is the title: what precedes it
        # are banners, what follows it is the subtitle.
        title = candidates[-2] if len(candidates) >= 2 else candidates[0]
        idx = header.index(title)
        extra = header[:idx] + header[idx + 1 :]
    if draft.pair is not None:
        if title is None:
            title, sub = draft.pair
            extra.append(sub)
        else:
            paras.append((draft.pair[1], draft.pair[0], "body"))
    if draft.heading is not None and not draft.heading_used:
        # A heading with nothing under it still has to be visible.
        paras.append((draft.heading, draft.heading, "body"))
    if title is None:
        if draft.headings:
            title = draft.headings[0]
        elif paras:
            # Untitled. Not the first sentence: a title is matched for every paragraph.
            title = ""
        else:
            return None
    subtitle = " ".join(_strip_dashes(s) for s in extra + draft.subtitles) or None
    return title, subtitle, paras


def _parse_page(text: str) -> list[tuple[str, str | None, list[tuple[str, str | None, str]]]]:
    units = _units(_page_lines(text))
    drafts: list[_Draft] = []
    draft = _Draft()

    # A new article needs body text before the next by-line; otherwise the short lines
    # after a by-line are trailing captions. body_ahead[i]: is there, after unit i?
    # (Computed from the end in one pass: a scan per line was quadratic.)
    body_ahead = [False] * len(units)
    ahead = False
    for i in range(len(units) - 1, -1, -1):
        body_ahead[i] = ahead
        if units[i].kind == "body":
            ahead = True
        elif units[i].kind in ("byline", "md1"):
            ahead = False

    for i, u in enumerate(units):
        if u.kind == "md1":
            if draft.paras or draft.md_title is not None or draft.pair is not None:
                drafts.append(draft)
                draft = _Draft()
            draft.md_title = u.text
            continue
        if u.kind == "md2":
            draft.subtitles.append(u.text)
            continue
        if u.kind == "md3":
            draft.set_heading(u.text)
            continue
        if u.kind == "byline":
            draft.add(u.text, "byline")
            draft.after_byline = True
            continue
        if u.kind == "body":
            if draft.after_byline and draft.md_title is None:
                # Text that goes on after a page credit ("本版图文由…提供") starts afresh,
                # not inside the section the credit closed.
                draft.heading, draft.heading_used = None, True
            draft.add(u.text, "body")
            draft.after_byline = False
            continue
        # A short line.
        if draft.after_byline:
            if u.caption or draft.md_title is not None:
                pass  # trailing caption, or Markdown: only "#" starts an article
            elif body_ahead[i]:
                drafts.append(draft)
                draft = _Draft()
                draft.header.append(u)
                continue
            else:
                draft.add(u.text, "caption")
                continue
        if u.caption and (draft.header or not draft.in_header or draft.md_title is not None):
            draft.add(u.text, "caption")
            continue
        if (
            _DASH_RE.match(u.text)
            and not draft.in_header
            and draft.heading is not None
            and not draft.heading_used
            and draft.pair is None
        ):
            # "攀越三甲发展新高度 打造…" + "——江津区妇幼保健院…": a headline and its subtitle
            # (page 003 prints its headline at the very end).
            draft.pair = (draft.heading, u.text)
            draft.headings.pop()
            draft.heading, draft.heading_used = None, True
            for prev_para in reversed(draft.paras):
                draft.heading = prev_para[1]
                break
            continue
        if draft.in_header and draft.md_title is None and not u.in_block_next:
            draft.header.append(u)
            continue
        draft.set_heading(u.text)
    drafts.append(draft)
    out = []
    for d in drafts:
        if d.has_content():
            resolved = _resolve(d)
            if resolved is not None:
                out.append(resolved)
    return out


# --------------------------------------------------------------------------- ids

_SAFE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,80}")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_SLUG = 60  # leaves room for "-<k>" within the 80-character id limit


def _slug(rel_path: str) -> str:
    stem = rel_path.rsplit(".", 1)[0] if "." in rel_path.rsplit("/", 1)[-1] else rel_path
    slug = _UNSAFE_RE.sub("_", stem.replace("/", "_"))
    if len(slug) > _MAX_SLUG:
        digest = hashlib.sha1(rel_path.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug[: _MAX_SLUG - 9]}_{digest}"
    return slug


def _feed_id(raw: str) -> str:
    if _SAFE_ID_RE.fullmatch(raw):
        return raw
    return "j" + hashlib.sha1(raw.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- bounds

# Where a long paragraph is cut: after a sentence end (and the closing quotes after it),
# else after other punctuation or a space.
_SENTENCE_END_RE = re.compile(f"[。！？；!?;][{re.escape(_CLOSERS)}]*")
_SOFT_BREAK_RE = re.compile(f"[，,、：:…—\\s][{re.escape(_CLOSERS)}]*")


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


def _bounded(
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


# --------------------------------------------------------------------------- readers


def source_name(path: Path, root: Path) -> str:
    """The name a source file goes by: its path relative to the seeds root, POSIX style."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, root)).as_posix()


def _read_page(decoded: _Decoded, source: str) -> tuple[list[Article], list[Problem]]:
    problems = [
        Problem(
            source,
            line,
            f"bytes that are not {decoded.encoding} (0x{byte:02X}…) replaced by U+FFFD",
        )
        for line, byte in sorted(decoded.bad_lines.items())
    ]
    text = decoded.text
    if decoded.bad_lines:
        text = re.sub("[\udc80-\udcff]+", "\ufffd", text)
    slug = _slug(source)
    articles = []
    for k, (title, subtitle, paras) in enumerate(_parse_page(text), start=1):
        article_id = f"{slug}-{k}"
        title, subtitle, paragraphs, notes = _bounded(article_id, title, subtitle, paras)
        problems += (Problem(source, None, note) for note in notes)
        if not paragraphs:
            # Only paragraphs are indexed: headlines with no text under them are the text.
            paragraphs = (Paragraph(1, " ".join(filter(None, (title, subtitle))), None),)
        articles.append(Article(article_id, source, title, paragraphs, subtitle))
    if not articles:
        problems.append(Problem(source, None, "no text found"))
    return articles, problems


_DATE_RE = re.compile(r"(\d{4})(-?)(\d{2})\2(\d{2})")


def _parse_date(value: str) -> str | None:
    """Normalise "YYYYMMDD" or "YYYY-MM-DD" to "YYYY-MM-DD"; None if it is not a date."""
    m = _DATE_RE.fullmatch(value.strip())
    if not m:
        return None
    try:
        return _dt.date(int(m[1]), int(m[3]), int(m[4])).isoformat()
    except ValueError:
        return None


# JSON's "\ud800" escapes can make a lone surrogate, which no encoder accepts.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# A link is kept only when it cannot be anything but a web page: javascript:, data:,
# relative and malformed URLs are dropped; so are spaces and control characters.
_URL_BAD_CHAR_RE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def _clip(value: object) -> str:
    """Return repr(value), at most 60 characters (a message must stay readable)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _url_problem(url: str) -> str | None:
    """Say why url is not an absolute http(s) URL to link to, or None if it is."""
    if len(url) > MAX_URL_CHARS:
        return f"url longer than {MAX_URL_CHARS} characters; url dropped"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if host and parts.scheme.lower() in ("http", "https") and not _URL_BAD_CHAR_RE.search(url):
        return None
    return "url is not http(s); url dropped"


def _tags(value: object) -> list[str] | None:
    """Split tags given as "a,b" or ["a", "b"]; None when they are neither."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        return None
    # Commas separate tags (they are stored joined with one), inside a list item too.
    return [t for item in value for t in (clean_text(x) for x in re.split("[,，]", item)) if t]


def _feed_article(
    obj: object, source: str, line: int, problems: list[Problem]
) -> tuple[str, Article] | None:
    """Build one article from a decoded JSONL object, or report why not.

    ``id`` and ``text`` are required; ``title``, ``date``, ``url`` and ``tags`` are not, and
    an unusable one is dropped (with a problem) while the article is kept.
    """
    if not isinstance(obj, dict):
        problems.append(Problem(source, line, "not a JSON object; line skipped"))
        return None
    raw_id, text = obj.get("id"), obj.get("text")
    for name, value in (("id", raw_id), ("text", text)):
        # An invisible text is caught once cleaned, below (a long text is cleaned once).
        visible = clean_text if name == "id" else str.strip
        if not isinstance(value, str) or not visible(value):
            if value is None:
                what = "missing"
            else:
                what = "empty" if isinstance(value, str) else "not a string"
            problems.append(Problem(source, line, f"{name!r} is {what}; line skipped"))
            return None
    assert isinstance(raw_id, str) and isinstance(text, str)
    for name in ("id", "title", "text", "url", "date", "tags"):
        value = obj.get(name)
        if any(
            isinstance(v, str) and _SURROGATE_RE.search(v)
            for v in (value if isinstance(value, list) else [value])
        ):
            problems.append(
                Problem(
                    source,
                    line,
                    f"{name!r} holds an unpaired surrogate escape (\\ud800-\\udfff); line skipped",
                )
            )
            return None
    article_id = _feed_id(raw_id.strip())
    title_raw = obj.get("title")
    if title_raw is not None and not isinstance(title_raw, str):
        problems.append(Problem(source, line, "'title' is not a string; title dropped"))
        title_raw = None
    # No title is normal (a brief); it stays empty rather than borrowing the first
    # sentence, which as a title would match every paragraph of the article.
    title = clean_text(title_raw or "")
    url: str | None = None
    url_raw = obj.get("url")
    if isinstance(url_raw, str) and url_raw.strip():
        why = _url_problem(url_raw.strip())
        if why is None:
            url = url_raw.strip()
        else:
            problems.append(Problem(source, line, why))
    elif url_raw is not None and not isinstance(url_raw, str):
        problems.append(Problem(source, line, "'url' is not a string; url dropped"))
    tags = _tags(obj.get("tags", []))
    if tags is None:
        problems.append(
            Problem(source, line, "'tags' is not a string or a list of strings; tags dropped")
        )
        tags = []
    if len(tags) > MAX_TAGS or any(len(t) > MAX_TITLE_CHARS for t in tags):
        problems.append(
            Problem(
                source,
                line,
                f"more than {MAX_TAGS} tags, or tags longer than {MAX_TITLE_CHARS} "
                "characters; the rest dropped",
            )
        )
        tags = [t[:MAX_TITLE_CHARS] for t in tags[:MAX_TAGS]]
    date: str | None = None
    date_raw = obj.get("date")
    if date_raw is not None and date_raw != "":
        date = _parse_date(date_raw) if isinstance(date_raw, str) else None
        if date is None:
            problems.append(Problem(source, line, f"invalid date {_clip(date_raw)}; date dropped"))
    cleaned = [(c, None, "body") for c in (clean_text(p) for p in text.split("\n")) if c]
    if not cleaned:
        problems.append(Problem(source, line, "'text' has no visible paragraph; line skipped"))
        return None
    title, _, paragraphs, notes = _bounded(article_id, title, None, cleaned)
    problems += (Problem(source, line, note) for note in notes)
    return raw_id, Article(article_id, source, title, paragraphs, None, date, url, tuple(tags))


def _lines(text: str) -> Iterator[str]:
    """Yield the "\n"-separated lines of text without a list of them all (memory)."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def _read_feed(decoded: _Decoded, source: str) -> tuple[list[Article], list[Problem]]:
    articles: list[Article] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(_lines(decoded.text), start=1):
        if number in decoded.bad_lines:
            byte = decoded.bad_lines[number]
            problems.append(
                Problem(source, number, f"not {decoded.encoding} (byte 0x{byte:02X}); line skipped")
            )
            continue
        # A BOM inside the file: feeds concatenated with cat.
        line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        # Whatever one line holds, it costs that line only.
        try:
            built = _feed_article(json.loads(line), source, number, problems)
        except json.JSONDecodeError as exc:
            problems.append(Problem(source, number, f"bad JSON ({exc.msg}); line skipped"))
            continue
        except RecursionError:
            problems.append(Problem(source, number, "JSON nested too deeply; line skipped"))
            continue
        except Exception as exc:  # e.g. ValueError: an integer of more than 4300 digits
            detail = str(exc) if len(str(exc)) <= 80 else str(exc)[:79] + "…"
            why = f"cannot read ({type(exc).__name__}: {detail}); line skipped"
            problems.append(Problem(source, number, why))
            continue
        if built is None:
            continue
        raw_id, article = built
        if article.id in seen:
            problems.append(
                Problem(
                    source,
                    number,
                    f"duplicate id {_clip(raw_id)} (first on line {seen[article.id]}); "
                    "line skipped",
                )
            )
            continue
        seen[article.id] = number
        articles.append(article)
    return articles, problems


_OUTSIDE_LINK = (
    "symbolic link to outside the seeds directory; not followed (set follow_symlinks to index it)"
)


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _is_source_name(rel: str) -> bool:
    return Path(rel).suffix.lower() in SOURCE_SUFFIXES and rel not in _ROOT_SKIP


# The start of the problem a directory that cannot be listed gets (its sources are not gone).
CANNOT_LIST = "cannot list directory"


def list_sources(
    root: Path, problems: list[Problem] | None = None, follow_symlinks: bool = False
) -> list[Path]:
    """List the article source files under root, sorted by name.

    Hidden files and directories and the dictionaries are left out. A symbolic link is
    followed when it stays inside root, or anywhere with follow_symlinks; a link out of
    root is left out and reported in ``problems``, and so is a directory that cannot be
    listed, and a name that is not valid UTF-8. A file reached under two names (a link to a
    file listed under its own name) is listed once, under its real name.
    """
    root = Path(root)
    real_root = os.path.realpath(root)
    found: dict[str, tuple[str, Path]] = {}  # real path -> (name, path)
    walked: set[str] = set()  # real paths of the directories listed (links can loop)
    links: list[tuple[str, Path]] = []

    def report(rel: str, message: str) -> None:
        if problems is not None:
            problems.append(Problem(_printable(rel), None, message))

    def walk(top: Path, real_top: str, prefix: str) -> None:
        walked.add(real_top)
        stack = [(top, real_top, prefix)]
        while stack:
            directory, real_dir, prefix = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = list(it)
            except OSError as exc:
                if prefix:  # a missing root is the caller's to explain
                    report(prefix.rstrip("/"), f"{CANNOT_LIST}: {exc.strerror or exc}")
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel, real = prefix + entry.name, os.path.join(real_dir, entry.name)
                if _printable(rel) != rel:
                    # Undecodable bytes in a name would break every place it is stored.
                    if _is_source_name(rel) or entry.is_dir():
                        report(rel, "name is not valid UTF-8; skipped (rename it)")
                    continue
                if entry.is_symlink():
                    links.append((rel, Path(entry.path)))
                elif entry.is_dir(follow_symlinks=False):
                    if real not in walked:
                        walked.add(real)
                        stack.append((Path(entry.path), real, rel + "/"))
                elif entry.is_file(follow_symlinks=False) and _is_source_name(rel):
                    found.setdefault(real, (rel, Path(entry.path)))

    walk(root, real_root, "")
    # Links after the real tree, so a file linked to from inside keeps its own name.
    while links:
        links.sort(reverse=True)
        rel, path = links.pop()
        real = os.path.realpath(path)
        is_dir = os.path.isdir(real)
        if not follow_symlinks and not _inside(real, real_root):
            if is_dir or _is_source_name(rel):
                report(rel, _OUTSIDE_LINK)
        elif is_dir:
            if real not in walked:
                walk(path, real, rel + "/")
        elif _is_source_name(rel):
            found.setdefault(real, (rel, path))
    return [path for _, path in sorted(found.values(), key=lambda item: item[0])]


def _printable(name: str) -> str:
    """A file name as text that can be printed and stored (undecodable bytes as U+FFFD)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class _Unreadable(Exception):
    """Why a source file was not read: the message of its problem."""


def _read_bytes(path: Path, root: Path, follow_symlinks: bool) -> bytes:
    """Read a source file; raise _Unreadable for what list_sources would not list.

    The check is made on the file actually opened, so a symbolic link swapped in after
    listing is caught too; a FIFO or device never blocks the read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _Unreadable(f"cannot read file: {exc.strerror or exc}") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise _Unreadable("cannot read file: not a regular file")
        if not follow_symlinks:
            if not _inside(os.path.abspath(path), os.path.abspath(root)):
                raise _Unreadable("not inside the seeds directory; not read")
            real = os.path.realpath(path)
            if not _inside(real, os.path.realpath(root)):
                raise _Unreadable(_OUTSIDE_LINK)
            try:
                now = os.stat(real)
            except OSError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
                raise _Unreadable("replaced while being read; skipped (read again next time)")
        too_large = f"larger than {MAX_SOURCE_BYTES // 2**20} MiB; file skipped (split it)"
        if opened.st_size > MAX_SOURCE_BYTES:
            raise _Unreadable(too_large)
        with open(fd, "rb", closefd=False) as f:
            data = f.read()
        if len(data) > MAX_SOURCE_BYTES:
            raise _Unreadable(too_large)
        return data
    except OSError as exc:
        raise _Unreadable(f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_source(
    path: Path, root: Path, follow_symlinks: bool = False
) -> tuple[list[Article], list[Problem]]:
    """Parse one page or feed file into articles; report problems instead of raising.

    Without follow_symlinks a file whose real path is outside root is not read (as
    ``list_sources`` would not list it), checked when it is opened.
    """
    source = _printable(source_name(Path(path), Path(root)))
    try:
        data = _read_bytes(Path(path), Path(root), follow_symlinks)
    except _Unreadable as exc:
        return [], [Problem(source, None, str(exc))]
    decoded = _decode(data)
    del data  # parsing a large file needs the memory
    if decoded is None:
        return [], [Problem(source, None, "not UTF-8 or GB18030 text; file skipped")]
    try:
        if Path(path).suffix.lower() == ".jsonl":
            return _read_feed(decoded, source)
        return _read_page(decoded, source)
    except Exception as exc:  # a bug must cost this file, not the whole update
        return [], [Problem(source, None, f"cannot parse ({type(exc).__name__}); file skipped")]


def iter_articles(
    root: Path, problems: list[Problem] | None = None, follow_symlinks: bool = False
) -> Iterator[Article]:
    """Yield every article under root in a stable order, skipping duplicate ids."""
    root = Path(root)
    seen: dict[str, str] = {}
    for path in list_sources(root, problems, follow_symlinks):
        articles, found = read_source(path, root, follow_symlinks)
        if problems is not None:
            problems.extend(found)
        for article in articles:
            if article.id in seen:
                if problems is not None:
                    problems.append(
                        Problem(
                            article.source,
                            None,
                            f"duplicate article id {article.id!r} (first in {seen[article.id]});"
                            " skipped",
                        )
                    )
                continue
            seen[article.id] = article.source
            yield article
