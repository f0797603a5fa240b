"""The records corpus reading makes: ``Article``, its ``Paragraph``s, and ``Problem``.

In: nothing; plain frozen dataclasses. Out: what every reader returns and the index layer
stores. ``Article.content_hash`` covers everything that gets indexed, so an unchanged hash
means nothing to re-index.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


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
