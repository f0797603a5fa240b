"""Corpus reading: source files in, clean article records out.

In: a seeds root directory holding newspaper pages (``.txt``/``.md``: several articles per
file, lines broken by the page layout, letter-spaced typesetting, optional Markdown headings)
and JSONL feeds (``.jsonl``: one article object per line), in UTF-8 (with or without a BOM)
or GB18030/GBK.

Out: ``Article`` records (title, subtitle, date, url, tags and numbered ``Paragraph``s that
carry their section heading and their kind: body text, photo caption or by-line) with ids
that are URL-safe and stable from run to run, plus ``Problem`` records for whatever could
not be read (undecodable files, malformed feed lines, duplicate ids). Reading never raises
for bad content: problems are reported and the rest still loads.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
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
        return hashlib.sha256(data.encode("utf-8")).hexdigest()


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


def _join(left: str, right: str) -> str:
    """Join two pieces of one paragraph that the layout broke apart."""
    if left and right and _ascii_word(left[-1]) and _ascii_word(right[0]):
        return f"{left} {right}"
    return left + right


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


def _decode(data: bytes) -> str | None:
    """Decode UTF-8 (BOM stripped) or GB18030; None when neither gives sane text."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # Binary or UTF-16 data can slip through GB18030; NULs and controls give it away.
        if "\x00" in text or "\ufffd" in text:
            return None
        controls = sum(1 for ch in text if ch < " " and ch not in "\n\r\t\f\v")
        if controls > max(2, len(text) // 1000):
            return None
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return None


# --------------------------------------------------------------------------- page parsing

_MD_RE = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")


@dataclass
class _Unit:
    """One logical piece of a page: a joined paragraph or a single short line."""

    kind: str  # "md1" | "md2" | "md3" | "short" | "body" | "byline"
    text: str
    line: int
    blank_before: int = 0
    in_block_next: bool = False  # the next non-blank line follows without a blank line
    caption: bool = False  # a short line isolated by 2+ blank lines


@dataclass
class _Line:
    number: int
    text: str
    blank_before: int
    md: tuple[int, str] | None


def _page_lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    blanks = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        md = _MD_RE.match(raw)
        cleaned = clean_text(md.group(2) if md else raw)
        if not cleaned:
            blanks += 1
            continue
        # Blank lines at the top of the file separate nothing.
        out.append(
            _Line(
                number,
                cleaned,
                blanks if out else 0,
                (min(len(md.group(1)), 3), cleaned) if md else None,
            )
        )
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
    deferred: list[_Unit] = []  # captions met inside an unfinished paragraph

    def close() -> None:
        nonlocal pending
        if pending is not None:
            units.append(pending)
            pending = None
        units.extend(deferred)
        deferred.clear()

    for i, ln in enumerate(lines):
        in_block_next = i + 1 < len(lines) and lines[i + 1].blank_before == 0
        if ln.md is not None:
            close()
            units.append(_Unit(f"md{ln.md[0]}", ln.text, ln.number, ln.blank_before))
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
        else:
            pending.text = _join(pending.text, ln.text)
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
        return bool(self.header or self.md_title or self.paras or self.pair)

    def set_heading(self, text: str) -> None:
        if self.heading is not None and not self.heading_used:
            # Two headings in a row: keep both visible rather than lose the first.
            text = f"{self.heading} {text}"
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
            text = paras[0][0]
            title = text if len(text) <= 40 else text[:40] + "…"
        else:
            return None
    subtitle = " ".join(_strip_dashes(s) for s in extra + draft.subtitles) or None
    return title, subtitle, paras


def _parse_page(text: str) -> list[tuple[str, str | None, list[tuple[str, str | None, str]]]]:
    units = _units(_page_lines(text))
    drafts: list[_Draft] = []
    draft = _Draft()

    def body_ahead(i: int) -> bool:
        # A new article needs body text before the next by-line; otherwise the short
        # lines after a by-line are trailing captions.
        for u in units[i + 1 :]:
            if u.kind == "body":
                return True
            if u.kind in ("byline", "md1"):
                return False
        return False

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
            elif body_ahead(i):
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


# --------------------------------------------------------------------------- readers


def source_name(path: Path, root: Path) -> str:
    """The name a source file goes by: its path relative to the seeds root, POSIX style."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, root)).as_posix()


def _read_page(text: str, source: str) -> tuple[list[Article], list[Problem]]:
    slug = _slug(source)
    articles = []
    for k, (title, subtitle, paras) in enumerate(_parse_page(text), start=1):
        paragraphs = tuple(
            Paragraph(n, t, h, kind) for n, (t, h, kind) in enumerate(paras, start=1)
        )
        articles.append(Article(f"{slug}-{k}", source, title, paragraphs, subtitle))
    if not articles:
        return [], [Problem(source, None, "no text found")]
    return articles, []


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


def _feed_article(
    obj: object, source: str, line: int, problems: list[Problem]
) -> tuple[str, Article] | None:
    """Build one article from a decoded JSONL object, or report why not."""
    if not isinstance(obj, dict):
        problems.append(Problem(source, line, "not a JSON object; line skipped"))
        return None
    raw_id, title, text = obj.get("id"), obj.get("title"), obj.get("text")
    for name, value in (("id", raw_id), ("title", title), ("text", text)):
        if not isinstance(value, str) or not clean_text(value):
            if value is None:
                what = "missing"
            else:
                what = "empty" if isinstance(value, str) else "not a string"
            problems.append(Problem(source, line, f"{name!r} is {what}; line skipped"))
            return None
    assert isinstance(raw_id, str) and isinstance(title, str) and isinstance(text, str)
    url, tags_raw, date_raw = obj.get("url"), obj.get("tags"), obj.get("date")
    if url is not None and not isinstance(url, str):
        problems.append(Problem(source, line, "'url' is not a string; line skipped"))
        return None
    if isinstance(tags_raw, str):
        tags_list = re.split("[,，]", tags_raw)
    elif isinstance(tags_raw, list) and all(isinstance(t, str) for t in tags_raw):
        tags_list = tags_raw
    elif tags_raw is None:
        tags_list = []
    else:
        problems.append(Problem(source, line, "'tags' is not a string or list; line skipped"))
        return None
    date: str | None = None
    if date_raw is not None and date_raw != "":
        date = _parse_date(date_raw) if isinstance(date_raw, str) else None
        if date is None:
            problems.append(Problem(source, line, f"invalid date {date_raw!r}; date dropped"))
    cleaned = [c for c in (clean_text(p) for p in text.split("\n")) if c]
    paragraphs = tuple(Paragraph(n, t, None) for n, t in enumerate(cleaned, start=1))
    if not paragraphs:
        problems.append(Problem(source, line, "'text' has no visible paragraph; line skipped"))
        return None
    tags = tuple(t for t in (clean_text(t) for t in tags_list) if t)
    article = Article(
        _feed_id(raw_id.strip()),
        source,
        clean_text(title),
        paragraphs,
        None,
        date,
        url.strip() or None if url else None,
        tags,
    )
    return raw_id, article


def _read_feed(text: str, source: str) -> tuple[list[Article], list[Problem]]:
    articles: list[Article] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(source, number, f"bad JSON ({exc.msg}); line skipped"))
            continue
        built = _feed_article(obj, source, number, problems)
        if built is None:
            continue
        raw_id, article = built
        if article.id in seen:
            problems.append(
                Problem(
                    source,
                    number,
                    f"duplicate id {raw_id!r} (first on line {seen[article.id]}); line skipped",
                )
            )
            continue
        seen[article.id] = number
        articles.append(article)
    return articles, problems


def list_sources(root: Path) -> list[Path]:
    """List the article source files under root, sorted, hidden files and dictionaries skipped."""
    root = Path(root)
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() not in SOURCE_SUFFIXES or not path.is_file():
            continue
        if len(rel.parts) == 1 and rel.name in _ROOT_SKIP:
            continue
        found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_source(path: Path, root: Path) -> tuple[list[Article], list[Problem]]:
    """Parse one page or feed file into articles; report problems instead of raising."""
    source = source_name(Path(path), Path(root))
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return [], [Problem(source, None, f"cannot read file: {exc.strerror or exc}")]
    text = _decode(data)
    if text is None:
        return [], [Problem(source, None, "not UTF-8 or GB18030 text; file skipped")]
    if Path(path).suffix.lower() == ".jsonl":
        return _read_feed(text, source)
    return _read_page(text, source)


def iter_articles(root: Path, problems: list[Problem] | None = None) -> Iterator[Article]:
    """Yield every article under root in a stable order, skipping duplicate ids."""
    root = Path(root)
    seen: dict[str, str] = {}
    for path in list_sources(root):
        articles, found = read_source(path, root)
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
