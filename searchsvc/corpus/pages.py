"""Newspaper pages into articles: a decoded ``.txt``/``.md`` page in, ``Article``s out.

``read_page`` groups the page's units (see ``layout``) into articles, several per page:
each gets a title, a subtitle (kickers above the title, "——" lines, Markdown "##"),
numbered paragraphs that carry their section heading and kind (body, caption, by-line),
and the id ``<slug of the source>-<k>``. Every visible line ends up in a title, subtitle,
heading or paragraph. Problems: undecodable bytes (replaced by U+FFFD), text cut by the
bounds, a page without text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .decoding import Decoded
from .ids import page_slug
from .layout import DASH_RE, Unit, has_phrase_space, page_units
from .limits import MAX_TITLE_CHARS, bounded
from .records import Article, Paragraph, Problem


def _strip_dashes(text: str) -> str:
    return DASH_RE.sub("", text).strip() or text


# Kickers sit above a title: a leading dash ("—“十四五”…·卫生篇"), an institution name
# ("重庆大学附属江津医院") or a short slogan of parallel phrases ("以生命为尺 以健康为愿").
_INSTITUTION_RE = re.compile(
    r"^[\u3400-\u9fff（）()]{2,20}(?:医院|卫生院|保健院|中心|委员会|卫健委|局|大学|学院|集团|公司)$"
)


def _is_kicker(text: str) -> bool:
    if DASH_RE.match(text):
        return True
    if _INSTITUTION_RE.match(text):
        return True
    phrases = text.split(" ")
    return len(phrases) >= 2 and all(len(p) <= 5 for p in phrases)


@dataclass
class _Draft:
    """An article being assembled from units."""

    header: list[Unit] = field(default_factory=list)
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
            and has_phrase_space(last)
            and any(has_phrase_space(h) for h in draft.headings)
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
    units = page_units(text)
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
            DASH_RE.match(u.text)
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


def read_page(decoded: Decoded, source: str) -> tuple[list[Article], list[Problem]]:
    """Split a decoded page into bounded articles; report what was replaced or cut."""
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
    slug = page_slug(source)
    articles = []
    for k, (title, subtitle, paras) in enumerate(_parse_page(text), start=1):
        article_id = f"{slug}-{k}"
        title, subtitle, paragraphs, notes = bounded(article_id, title, subtitle, paras)
        problems += (Problem(source, None, note) for note in notes)
        if not paragraphs:
            # Only paragraphs are indexed: headlines with no text under them are the text.
            paragraphs = (Paragraph(1, " ".join(filter(None, (title, subtitle))), None),)
        articles.append(Article(article_id, source, title, paragraphs, subtitle))
    if not articles:
        problems.append(Problem(source, None, "no text found"))
    return articles, problems
