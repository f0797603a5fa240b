"""Did you mean: a close query that matches every word, when the typed one does not.

In: a Whoosh searcher (its jieba lexicon) and the parsed query. Out: the corrected query
string, or None. Each keyword found nowhere is replaced by the commonest indexed jieba word
one edit away that shares its first character, and the suggestion is kept only if it
matches. (Whoosh's own ``ReaderCorrector`` walks the same DFA, but over the merged
multi-segment lexicon, which is several times slower than walking each segment here.)
"""

from __future__ import annotations

from collections.abc import Mapping

from whoosh.searching import Searcher

from .query import ParsedQuery, parse_query
from .ranking import match_spec, rank
from .substrings import VersionSubstrings

MAX_CORRECTED_CHARS = 6  # did-you-mean corrects keywords up to this length


def _near_words(searcher: Searcher, word: str) -> list[str]:
    """Indexed jieba words one edit from ``word`` sharing its first character (the cheap,
    common typo: the DFA walks only that part of the lexicon), commonest first."""
    reader = searcher.reader()
    found: set[str] = set()
    for leaf, _offset in reader.leaf_readers():
        found.update(leaf.terms_within("text", word, 1, prefix=1))
    found.discard(word)
    plausible = [w for w in found if len(w) >= max(2, len(word) - 1)]
    return sorted(plausible, key=lambda w: -reader.doc_frequency("text", w))


def did_you_mean(
    searcher: Searcher, parsed: ParsedQuery, synonyms: Mapping[str, tuple[str, ...]] | None
) -> str | None:
    """A close query that matches every word, when this one does not: each keyword found
    nowhere is replaced by the commonest indexed word one edit away. None if no such."""
    if parsed.excluded or any(len(group) > 1 for group in parsed.groups):
        return None
    subs = VersionSubstrings.from_searcher(searcher)
    parts: list[str] = []
    changed = False
    for (keyword,) in parsed.groups:
        if keyword.quoted or any(subs.occurs(lit) for lit in keyword.literals):
            parts.append(keyword.raw)
            continue
        # One edit away from a long string is no typo fix, and the lexicon walk grows
        # with the word's length.
        too_long = len(keyword.literal) > MAX_CORRECTED_CHARS
        near = [] if too_long else _near_words(searcher, keyword.literal)
        if not near:
            parts.append(keyword.raw)
            continue
        parts.append(near[0])
        changed = True
    if not changed:
        return None
    suggestion = " ".join(parts)
    spec = match_spec(parse_query(suggestion, synonyms))
    return suggestion if rank(subs, spec, 1).total else None
