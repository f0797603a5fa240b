"""Did you mean: a close query that matches every word, when the typed one does not.

In: an engine (its jieba lexicon) and the parsed query. Out: the corrected query
string, or None. Each keyword found nowhere is replaced by the commonest indexed jieba word
one edit away that shares its first character, and the suggestion is kept only if it
matches. The lexicon walk is the engine's (``Engine.near_words``).
"""

from __future__ import annotations

from .engine import Engine
from .query import ParsedQuery, parse_query
from .ranking import match_spec

MAX_CORRECTED_CHARS = 6  # did-you-mean corrects keywords up to this length


def did_you_mean(engine: Engine, parsed: ParsedQuery) -> str | None:
    """A close query that matches every word, when this one does not: each keyword found
    nowhere is replaced by the commonest indexed word one edit away. None if no such."""
    if parsed.excluded or any(len(group) > 1 for group in parsed.groups):
        return None
    parts: list[str] = []
    changed = False
    for (keyword,) in parsed.groups:
        if keyword.quoted or any(engine.occurs(lit) for lit in keyword.literals):
            parts.append(keyword.raw)
            continue
        # One edit away from a long string is no typo fix, and the lexicon walk grows
        # with the word's length.
        too_long = len(keyword.literal) > MAX_CORRECTED_CHARS
        near = [] if too_long else engine.near_words(keyword.literal)
        if not near:
            parts.append(keyword.raw)
            continue
        parts.append(near[0])
        changed = True
    if not changed:
        return None
    suggestion = " ".join(parts)
    spec = match_spec(parse_query(suggestion, engine.synonyms))
    return suggestion if engine.rank(spec, 1).total else None
