"""The query language: what a user types, parsed and validated; paging and filter limits.

In: the query string as typed and the request's paging and filter parameters.
Out: a ``ParsedQuery`` (a conjunction of disjunctions of ``Keyword``s, minus excluded
keywords) or a ``QueryError`` whose ``code`` the API reports.

Syntax: space-separated keywords must all match; ``a OR b`` (or ``a | b``) matches either;
``-word`` excludes; ``"exact phrase"`` is one literal (spaces and punctuation inside are
ignored for matching). Each keyword is compared "squeezed" (``analysis.squeeze_text``:
NFKC, case folding, Traditional → Simplified, only letters, digits and CJK kept).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from .analysis import content_words, squeeze_text

MAX_QUERY_CHARS = 200
MAX_KEYWORDS = 32
MAX_PAGE_SIZE = 100
MAX_RESULT_WINDOW = 10_000  # page * size: deeper paging costs more than it helps anyone


class QueryError(ValueError):
    """A query or parameter the caller must fix; ``code`` is stable for the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Keyword:
    raw: str  # as typed (without quotes or minus)
    literal: str  # squeezed: what must appear in the paragraph
    quoted: bool = False  # typed as "a phrase": never split into words
    synonyms: tuple[str, ...] = ()  # other words of its synonym group, as written

    @cached_property  # read for every candidate and hit
    def literals(self) -> tuple[str, ...]:
        """Every literal that counts as this keyword: itself and its synonyms."""
        return tuple(dict.fromkeys([self.literal, *map(squeeze_text, self.synonyms)]))

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.raw, *self.synonyms)

    def with_synonyms(self, groups: Mapping[str, tuple[str, ...]]) -> Keyword:
        group = groups.get(self.literal, ())
        others = tuple(w for w in group if squeeze_text(w) != self.literal)
        return replace(self, synonyms=others) if others else self

    @property
    def is_empty(self) -> bool:
        return not self.literal


@dataclass(frozen=True)
class ParsedQuery:
    """Conjunction of disjunctions of keywords, minus excluded keywords."""

    groups: tuple[tuple[Keyword, ...], ...]
    excluded: tuple[Keyword, ...]

    @property
    def positive(self) -> list[Keyword]:
        return [k for group in self.groups for k in group]

    @property
    def is_empty(self) -> bool:
        return not self.groups


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_query(text: str, synonyms: Mapping[str, tuple[str, ...]] | None = None) -> ParsedQuery:
    """Parse the user's query syntax; what carries no letters, digits or CJK is dropped.
    Each unquoted keyword carries the other words of its synonym group, if any."""
    pieces: list[tuple[str, bool, bool, bool]] = []  # (raw, excluded, is_or, quoted)
    for m in _TOKEN.finditer(text):
        if m.group(3) is not None:
            word = m.group(3)
            if word in ("OR", "|"):
                pieces.append(("", False, True, False))
                continue
            excluded = word.startswith("-") and len(word) > 1
            pieces.append((word[1:] if excluded else word, excluded, False, False))
        else:
            pieces.append((m.group(2), m.group(1) == "-", False, True))

    groups: list[list[Keyword]] = []
    excluded: list[Keyword] = []
    join_next = False
    for raw, is_excluded, is_or, quoted in pieces:
        if is_or:
            join_next = bool(groups)
            continue
        keyword = Keyword(raw, squeeze_text(raw), quoted)
        if synonyms and not quoted:
            keyword = keyword.with_synonyms(synonyms)
        if keyword.is_empty:
            continue
        if is_excluded:
            excluded.append(keyword)
        elif join_next:
            groups[-1].append(keyword)
        else:
            groups.append([keyword])
        join_next = False
    return ParsedQuery(tuple(tuple(g) for g in groups), tuple(excluded))



def loose_keywords(parsed: ParsedQuery) -> list[Keyword]:
    """The words to rank by when not every keyword matches: each unquoted keyword split into
    jieba words, stop words and punctuation dropped (a whole question → its content words)."""
    words: dict[str, Keyword] = {}
    for keyword in parsed.positive:
        split = [] if keyword.quoted else content_words(keyword.raw)
        pieces = [Keyword(w, squeeze_text(w)) for w in split]
        for piece in pieces or [keyword]:
            if piece.literal:
                words.setdefault(piece.literal, piece)
    return list(words.values())[:MAX_KEYWORDS]




def validate_query(query: str) -> str:
    """The query, stripped; QueryError when it is empty or too long."""
    query = query.strip()
    if not query:
        raise QueryError("empty_query", "请输入搜索词（query is empty）")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            "query_too_long",
            f"搜索词过长：最多 {MAX_QUERY_CHARS} 个字符（query longer than {MAX_QUERY_CHARS})",
        )
    return query


def validate_paging(page: int, size: int) -> None:
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise QueryError("invalid_size", f"size must be between 1 and {MAX_PAGE_SIZE}")
    if page < 1:
        raise QueryError("invalid_page", "page must be 1 or more")
    if page * size > MAX_RESULT_WINDOW:
        raise QueryError(
            "page_too_deep", f"page × size must not exceed {MAX_RESULT_WINDOW}"
        )




@dataclass(frozen=True)
class Filters:
    """Restrictions and order chosen beside the query (all optional)."""

    source: str | None = None  # one source file, as in Hit.source
    date_from: str | None = None  # "YYYY-MM-DD", inclusive
    date_to: str | None = None
    sort: str = "relevance"  # or "date" (newest first)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")



def validate_filters(filters: Filters) -> None:
    for name, value in (("from", filters.date_from), ("to", filters.date_to)):
        if value is not None and not _DATE.fullmatch(value):
            raise QueryError(f"invalid_{name}", f"{name} must be a date like 2019-05-01")
    if filters.sort not in ("relevance", "date"):
        raise QueryError("invalid_sort", "sort must be 'relevance' or 'date'")
    if filters.source is not None and (not filters.source or len(filters.source) > 300):
        raise QueryError("invalid_source", "source must name a source file")
