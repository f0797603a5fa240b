"""Rows and MATCH() expressions: how a paragraph is stored and a ``MatchSpec`` is asked.

In: ``corpus.Article`` records (their paragraphs' stored fields, as ``indexing`` gives them)
and ``ranking.MatchSpec``. Out: one row per paragraph (``Row``: the full-text fields as
ASCII token strings, the attributes) and the SphinxQL ``MATCH()`` expression of a spec.

Encoding (the decision, and why): the embedded engine compares **squeezed** text
(``analysis.squeeze_text``: NFKC, case folding, Traditional → Simplified, only letters,
digits and CJK) with a suffix array, so any literal substring matches, ASCII inside CJK
("5g", "ECMO") included. Here every character of the squeezed text is one token, written
as its code point in hex (``中`` → ``4e2d``, ``g`` → ``67``), so a literal is the phrase
of its characters and a paragraph matches exactly when its squeezed text contains the
literal: the hit set is the suffix array's by construction, for any script, and the
engine's charset is plain ``0..9, a..z`` (no ``ngram_chars``, no ``charset_table``
folding to keep in step with ours: all normalisation stays in Python). Phrases never cross
fields, and each field holds one paragraph, so a match never spans two paragraphs.

Fields: ``chars`` (the squeezed paragraph) and ``context`` (title + subtitle + heading,
squeezed together, as ``literal_index`` builds contexts: a literal may run from the title
into the heading there too). No field of jieba words: the only way to let such a field
order matches without restricting them is ``MAYBE``, and Sphinx 2.2.11's ``MAYBE`` acts as
AND (``A MAYBE B`` returned 51 of A's 121 matches): the server orders by the literals'
own phrase hits instead, and Python re-ranks with the embedded BM25 (``engine``).
Attributes: the stored display fields (string attributes; Sphinx 2.2 has no docstore), the
squeezed text and context (for the exact re-rank without re-normalising), their lengths in
UTF-16 code units (the embedded index's unit, for BM25's average lengths), the article key
(grouping), ``seq`` (insertion order: ties in index order, as the embedded engine breaks
them), ``date`` (YYYYMMDD, 0 = none) and ``present`` (which optional stored fields exist).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from ..analysis import squeeze_text
from ..corpus import Article
from ..indexing import article_documents
from ..literal_index import date_number
from ..ranking import MatchSpec

TEXT_FIELD = "chars"
CONTEXT_FIELD = "context"
FIELDS = (TEXT_FIELD, CONTEXT_FIELD)

# Stored fields (as ``indexing.article_documents`` makes them) → attribute names. ``id``
# is the row id in SphinxQL, so the paragraph id is ``para_id``.
STORED = {
    "id": "para_id",
    "article_id": "article_id",
    "source": "source",
    "paragraph": "paragraph",
    "kind": "kind",
    "title": "title",
    "subtitle": "subtitle",
    "heading": "heading",
    "text": "body",
    "date": "day",
    "url": "url",
    "tags": "tags",
}
# Stored fields a Whoosh document may lack (absent, or None, which Whoosh does not keep).
OPTIONAL = ("subtitle", "date", "url", "tags", "heading", "title")
STRING_ATTRS = (
    "para_id", "article_id", "source", "kind", "title", "subtitle", "heading", "body", "day",
    "url", "tags", "article_hash", "squeezed", "squeezed_context",
)
UINT_ATTRS = ("paragraph", "date", "text_units", "context_units", "present")
BIGINT_ATTRS = ("article_key", "seq")
COLUMNS = ("id", *FIELDS, *STRING_ATTRS, *UINT_ATTRS, *BIGINT_ATTRS)

MAX_ROW_ID = (1 << 63) - 1


class RowIdCollision(Exception):
    """Two different paragraph ids hash to the same row id (about one chance in 10^19 per
    pair: reported, never overwritten silently)."""


def _hash63(value: str) -> int:
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & MAX_ROW_ID or 1  # 0 is not a valid row id


def row_id(paragraph_id: str) -> int:
    """The stable 63-bit row id of a paragraph (blake2b of its id)."""
    return _hash63("p:" + paragraph_id)


def article_key(article_id: str) -> int:
    """The 63-bit grouping key of an article (blake2b of its id)."""
    return _hash63("a:" + article_id)


def shard_of(article_id: str, shards: int) -> int:
    """The shard holding every paragraph of an article (grouping stays on one shard)."""
    return article_key(article_id) % shards


def encode_chars(squeezed: str) -> str:
    """Squeezed text as tokens: one hex code point per character."""
    return " ".join(format(ord(ch), "x") for ch in squeezed)


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units (the embedded literal index's unit)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def context_of(fields: dict[str, object]) -> str:
    """The squeezed context of a paragraph: title, subtitle and heading (``literal_index``)."""
    parts = (fields.get("title"), fields.get("subtitle"), fields.get("heading"))
    return squeeze_text("\n".join(str(p) for p in parts if p))


@dataclass(frozen=True)
class Row:
    """One paragraph as a row: ``values`` in ``COLUMNS`` order."""

    id: int
    paragraph_id: str
    article_id: str
    values: tuple[object, ...]


def article_rows(article: Article, first_seq: int) -> list[Row]:
    """The rows of an article's paragraphs, ``seq`` numbered from ``first_seq``."""
    rows = []
    for offset, fields in enumerate(article_documents(article)):
        squeezed = squeeze_text(str(fields.get("text") or ""))
        context = context_of(fields)
        present = sum(1 << i for i, name in enumerate(OPTIONAL) if fields.get(name) is not None)
        attrs: dict[str, object] = {STORED[k]: v for k, v in fields.items()}
        attrs["article_hash"] = article.content_hash
        values: dict[str, object] = {
            "id": row_id(str(fields["id"])),
            TEXT_FIELD: encode_chars(squeezed),
            CONTEXT_FIELD: encode_chars(context),
            **{name: str(attrs.get(name) or "") for name in STRING_ATTRS},
            "squeezed": squeezed,
            "squeezed_context": context,
            "paragraph": int(fields.get("paragraph") or 0),  # type: ignore[call-overload]
            "date": date_number(fields.get("date")),
            "text_units": utf16_units(squeezed),
            "context_units": utf16_units(context),
            "present": present,
            "article_key": article_key(article.id),
            "seq": first_seq + offset,
        }
        rows.append(
            Row(int(values["id"]), str(fields["id"]), article.id,  # type: ignore[call-overload]
                tuple(values[c] for c in COLUMNS))
        )
    return rows


def stored_fields(row: dict[str, object]) -> dict[str, object]:
    """A row's stored fields with the keys and types of a Whoosh stored document."""
    present = int(row.get("present") or 0)  # type: ignore[call-overload]
    out: dict[str, object] = {}
    for key, attr in STORED.items():
        if key in OPTIONAL and not present & (1 << OPTIONAL.index(key)):
            continue
        value = row.get(attr)
        out[key] = int(value or 0) if key == "paragraph" else value  # type: ignore[call-overload]
    return out


# --- MATCH() ------------------------------------------------------------------------


def phrase(literal: str, fields: Iterable[str] = (TEXT_FIELD, CONTEXT_FIELD)) -> str:
    """The literal as a phrase of its characters, limited to ``fields``."""
    return f'(@({",".join(fields)}) "{encode_chars(literal)}")'


def _any_of(literals: Iterable[str]) -> str:
    return "(" + " | ".join(phrase(lit) for lit in literals) + ")"


def match_expression(spec: MatchSpec) -> str:
    """The MATCH() of a spec: every group (one of its literals in the text or the context),
    none of the excluded."""
    required = " ".join(_any_of(lit for lit, _t, _c in group) for group in spec.required)
    excluded = " ".join(f"-{_any_of([lit])}" for lit in spec.excluded)
    return f"({required})" + (f" {excluded}" if excluded else "")


def literal_expression(literal: str, fields: Iterable[str] = (TEXT_FIELD, CONTEXT_FIELD)) -> str:
    """The MATCH() of one literal in ``fields``."""
    return phrase(literal, fields)


def distinct_characters(literal: str) -> bool:
    """Whether no character repeats: such a literal cannot overlap itself, so its
    occurrences can be counted from the engine's phrase hits (``engine``)."""
    return len(set(literal)) == len(literal)
