"""``Literal``: a Whoosh query for "this paragraph contains this literal substring".

In: a field indexed with ``analysis.GramTokenizer`` (every unigram and bigram at position
i) and a squeezed literal. Out: a matcher over the documents that contain the literal,
each with a constant score.

Why not ``whoosh.query.Phrase``: its generic span machinery costs ~10 µs per candidate
document, the largest part of a query's time. A literal needs much less: intersect the
posting lists of a few bigrams that *cover* it (non-overlapping where possible, rarest
first) and check that their positions line up at the right offsets.
"""

from __future__ import annotations

from whoosh import matching
from whoosh.query import Query, Term


def covering_bigrams(literal: str) -> list[tuple[int, str]]:
    """(offset, bigram) pairs whose union is ``literal``: offsets 0, 2, 4, … and the last."""
    if len(literal) < 2:
        return []
    offsets = list(range(0, len(literal) - 1, 2))
    if offsets[-1] != len(literal) - 2:
        offsets.append(len(literal) - 2)
    return [(i, literal[i : i + 2]) for i in offsets]


class Literal(Query):
    """Documents whose ``fieldname`` contains the squeezed ``literal``; constant ``score``."""

    def __init__(self, fieldname: str, literal: str, score: float = 1.0):
        self.fieldname = fieldname
        self.literal = literal
        self.score = score
        self.boost = 1.0

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self.fieldname == other.fieldname  # type: ignore[attr-defined]
            and self.literal == other.literal  # type: ignore[attr-defined]
            and self.score == other.score  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.fieldname, self.literal, self.score))

    def __repr__(self) -> str:
        return f"Literal({self.fieldname!r}, {self.literal!r}, score={self.score})"

    def is_leaf(self) -> bool:
        return True

    def has_terms(self) -> bool:
        return True

    def terms(self, phrases: bool = False):  # type: ignore[no-untyped-def]
        if len(self.literal) == 1:
            yield (self.fieldname, self.literal)
        else:
            for _offset, bigram in covering_bigrams(self.literal):
                yield (self.fieldname, bigram)

    def estimate_size(self, ixreader) -> int:  # type: ignore[no-untyped-def]
        return min(
            (ixreader.doc_frequency(f, t) for f, t in self.terms()),
            default=0,
        )

    def matcher(self, searcher, context=None):  # type: ignore[no-untyped-def]
        if len(self.literal) == 1:
            m = Term(self.fieldname, self.literal).matcher(searcher, context)
            return matching.NullMatcher() if not m.is_active() else _ConstantMatcher(m, self.score)
        parts = []
        for offset, bigram in covering_bigrams(self.literal):
            m = Term(self.fieldname, bigram).matcher(searcher, context)
            if not m.is_active():
                return matching.NullMatcher()
            parts.append((searcher.doc_frequency(self.fieldname, bigram), offset, m))
        parts.sort(key=lambda p: p[0])  # the rarest bigram leads the intersection
        return LiteralMatcher([m for _f, _o, m in parts], [o for _f, o, _m in parts], self.score)


class _ConstantMatcher(matching.WrappingMatcher):
    """A single-term literal: the term's documents, each with the constant score."""

    def __init__(self, child, score: float):  # type: ignore[no-untyped-def]
        super().__init__(child)
        self._score = score

    def _replacement(self, newchild):  # type: ignore[no-untyped-def]
        return _ConstantMatcher(newchild, self._score)

    def supports_block_quality(self) -> bool:
        return False

    def score(self) -> float:
        return self._score

    def max_quality(self) -> float:
        return self._score


class LiteralMatcher(matching.Matcher):
    """Intersects bigram postings and keeps documents where they sit at their offsets."""

    def __init__(self, matchers, offsets: list[int], score: float):  # type: ignore[no-untyped-def]
        self._matchers = matchers
        self._offsets = offsets
        self._score = score
        self._id: int | None = None
        self._find()

    def _aligned(self) -> bool:
        """Move every matcher to the same document; False when one runs out."""
        lead = self._matchers[0]
        while lead.is_active():
            target = lead.id()
            for m in self._matchers[1:]:
                if m.id() < target:
                    m.skip_to(target)
                    if not m.is_active():
                        return False
                if m.id() > target:
                    lead.skip_to(m.id())
                    break
            else:
                return True
        return False

    def _positions_line_up(self) -> bool:
        starts: set[int] | None = None
        for m, offset in zip(self._matchers, self._offsets, strict=True):
            here = {p - offset for p in m.value_as("positions")}
            starts = here if starts is None else starts & here
            if not starts:
                return False
        return True

    def _find(self) -> None:
        while self._aligned():
            if self._positions_line_up():
                self._id = self._matchers[0].id()
                return
            self._matchers[0].next()
        self._id = None

    def is_active(self) -> bool:
        return self._id is not None

    def id(self) -> int:
        return self._id  # type: ignore[return-value]

    def next(self) -> None:
        self._matchers[0].next()
        self._find()

    def skip_to(self, id: int) -> None:  # noqa: A002 - Whoosh's signature
        if self._id is not None and id > self._id:
            self._matchers[0].skip_to(id)
            self._find()

    def reset(self) -> None:
        for m in self._matchers:
            m.reset()
        self._find()

    def copy(self) -> LiteralMatcher:
        return LiteralMatcher([m.copy() for m in self._matchers], self._offsets, self._score)

    def supports_block_quality(self) -> bool:
        return False

    def supports(self, astype: str) -> bool:
        return False

    def weight(self) -> float:
        return self._score

    def score(self) -> float:
        return self._score

    def max_quality(self) -> float:
        return self._score
