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

What one source can make is bounded (``MAX_*``), so one bad file cannot take the machine
down: long paragraphs are split at sentence ends, titles, subtitles and headings are cut, an
article's text beyond ``MAX_ARTICLE_CHARS`` is dropped (with a problem saying so), and a
file larger than ``MAX_SOURCE_BYTES`` is not read. Parsing is linear in the file size.

Every visible line of a page ends up in a title, subtitle, heading or paragraph. Text is
not NFKC-normalised here (the analysis layer does that); only layout artefacts are undone:
broken lines are joined, typesetting spaces inside CJK text are removed, zero-width
characters dropped and odd spaces (U+3000, NBSP) treated as spaces.

Modules, in the order a file goes through them: ``sources`` (listing and reading files
under the root, ``iter_articles``), ``decoding`` (bytes to text), ``layout`` and ``pages``
(page lines to units, units to articles) or ``feeds`` (JSONL lines to articles), with
``text`` (line cleanup), ``ids`` (stable ids), ``limits`` (the ``MAX_*`` bounds) and
``records`` (``Article``, ``Paragraph``, ``Problem``). Import from this package; the
modules' other names are the package's own.

Standard library only: no Whoosh, jieba or Flask.
"""

from __future__ import annotations

from .limits import (
    MAX_ARTICLE_CHARS,
    MAX_PARAGRAPH_CHARS,
    MAX_SOURCE_BYTES,
    MAX_TAGS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
)
from .records import Article, Paragraph, Problem
from .sources import (
    CANNOT_LIST,
    SOURCE_SUFFIXES,
    iter_articles,
    list_sources,
    read_source,
    source_name,
)
from .text import clean_text

__all__ = [
    "CANNOT_LIST",
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
    "source_name",
]
