"""Text analysis: normalisation, squeezing, jieba words, and the Whoosh tokenizer built on them.

In: raw paragraph or query text (``str``). Out: normalised text with a map back to the
original characters (so highlights mark exactly what was written), the "squeezed" text
literal matching compares (only letters, digits and CJK), and jieba search-mode words.

Both sides (index and query) pass through ``normalize``: NFKC (full-width → half-width),
case folding, and Traditional → Simplified Chinese (OpenCC), so either script finds both.

``JiebaTokenizer`` indexes the text field with the words of ``jieba_words`` (the same words,
in the same order, as ``jieba.cut_for_search``, minus punctuation): the lexicon behind
did-you-mean and autocomplete.

Segmentation is jieba 0.42.1's, word for word. While a version is written
(``use_jieba_rs``), ``cut`` runs jieba's own block rules in Python and hands each block to
jieba-rs (``rjieba``, ~6× faster in all), correcting what jieba-rs does differently: its
HMM keeps non-Chinese runs such as "1-5" or "td-lte" whole, its blocks take in characters
jieba leaves out, and it keeps another dictionary total after re-added words. Elsewhere
(servers, queries: short texts) jieba itself segments, without a second dictionary in
memory. ``jieba`` is the reference: ``bench/jieba_equality.py`` compares the two over a
whole corpus with and without a user dictionary; a user dictionary jieba-rs cannot mirror
(a word with frequency 0) switches the process back to jieba.

One module (over 400 lines): the index and the queries must normalise, squeeze and
segment alike, so every step of that lives here, next to the others.

The text field keeps each paragraph's distinct words only (``JiebaWordSet``: no
frequencies, positions or offsets). Its format and tokenizer are pickled into the index's
table of contents: keep them top-level here, with this import path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, starmap
from pathlib import Path

import jieba
import jieba.finalseg
import rjieba
from whoosh.analysis import Token, Tokenizer
from whoosh.formats import Existence

# jieba logs its dictionary loading at INFO on every process start; keep that quiet.
jieba.setLogLevel(logging.WARNING)

JIEBA_CACHE_ENV = "SEARCHSVC_CACHE_DIR"


def _private_directory(path: Path) -> bool:
    """Whether ``path`` is a directory of ours that nobody else may write to."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def jieba_cache_dir() -> Path:
    """Where jieba keeps its dictionary cache: a directory only this user can write.

    jieba's default is the world-writable temp directory, and it loads the cache with
    ``marshal``: anybody who can write there could plant a file this process trusts.
    ``$SEARCHSVC_CACHE_DIR``, else ``$XDG_CACHE_HOME/searchsvc`` (``~/.cache/searchsvc``),
    created 0700; if that cannot be made private, a fresh private temporary directory
    (the cache is then rebuilt on each start, which costs about a second)."""
    base = os.environ.get(JIEBA_CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "searchsvc",
    )
    path = Path(base)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        pass
    if _private_directory(path):
        return path
    return Path(tempfile.mkdtemp(prefix="searchsvc-jieba-"))


jieba.dt.tmp_dir = str(jieba_cache_dir())


@dataclass(frozen=True)
class Normalized:
    """Normalised text and, for each of its characters, the index of the original one."""

    text: str
    origin: tuple[int, ...] | None  # None: identity (same length, char i came from char i)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised span [start, end) back to the original text."""
        if self.origin is None:
            return start, end
        return self.origin[start], self.origin[end - 1] + 1


@lru_cache(maxsize=1)
def _to_simplified():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


def _fold(text: str) -> str:
    """NFKC, case folding, Traditional → Simplified (OpenCC), one character per character
    whenever the input allows it (so offsets map back to the original)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    convert = _to_simplified().convert
    simplified = convert(folded)
    if len(simplified) != len(folded):
        # A phrase rule changed the length: convert character by character instead.
        simplified = "".join(convert(ch) for ch in folded)
    return simplified


def normalize(text: str) -> Normalized:
    """NFKC + case folding, keeping a map from each output character to its source."""
    folded = _fold(text)
    if len(folded) == len(text):
        # The common case: every character maps to exactly one (full-width → half-width,
        # upper → lower). Expansions like "…" → "..." change the length and take the slow path.
        return Normalized(folded, None)
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        piece = _fold(ch)
        out.append(piece)
        origin.extend([i] * len(piece))
    return Normalized("".join(out), tuple(origin))


is_word_char = str.isalnum
"""Letters, digits and CJK ideographs; not punctuation, symbols or spaces."""


@dataclass(frozen=True)
class Squeezed:
    """Normalised text with everything but word characters removed, mapped to the original."""

    text: str
    origin: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin[start], self.origin[end - 1] + 1


# Runs of word characters: ``\w`` is exactly ``str.isalnum`` plus "_" (sre's
# SRE_UNI_IS_WORD), so this is is_word_char, found by the regex engine in C.
_WORD_RUN = re.compile(r"[^\W_]+")


def _word_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of word characters of ``text``, in order."""
    return [m.span() for m in _WORD_RUN.finditer(text)]


def _positions(runs: list[tuple[int, int]]) -> tuple[int, ...]:
    """Every offset inside ``runs``, in order."""
    return tuple(chain.from_iterable(starmap(range, runs)))


@lru_cache(maxsize=2048)  # highlighting squeezes the same titles and hits again and again
def squeeze(text: str) -> Squeezed:
    """Normalise ``text`` and keep only word characters (the unit of literal matching)."""
    norm = normalize(text)
    kept = _positions(_word_runs(norm.text))
    origin = kept if norm.origin is None else tuple(norm.origin[i] for i in kept)
    return Squeezed("".join(filter(is_word_char, norm.text)), origin)


def squeeze_known(text: str, squeezed: str) -> Squeezed:
    """``squeeze(text)`` when its squeezed string is known (the literal index holds it
    for every paragraph): if case folding alone gives that string, the word characters
    map one to one and normalising again (NFKC and OpenCC: ~20 µs a paragraph) is
    skipped."""
    folded = text.casefold()
    if len(folded) == len(text):
        runs = _word_runs(folded)
        if "".join([folded[start:end] for start, end in runs]) == squeezed:
            return Squeezed(squeezed, _positions(runs))
    return squeeze(text)


def squeeze_text(text: str) -> str:
    """Only the squeezed string (no map): what literal matching compares."""
    return "".join(filter(is_word_char, _fold(text)))


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) rather than on the first query."""
    if not jieba.dt.initialized:
        jieba.dt.initialize()


# jieba 0.42.1's own rules (the same compiled patterns ``jieba.Tokenizer.cut`` uses): text
# is cut in blocks of CJK/ASCII word characters; anything else goes out one character at a
# time, whitespace runs whole; its HMM splits a non-Chinese run into these pieces.
_BLOCK = jieba.re_han_default
_SPACE = jieba.re_skip_default
_HMM_CHINESE = jieba.finalseg.re_han
_HMM_OTHER = jieba.finalseg.re_skip


class _RustSegmenter:
    """jieba-rs behind jieba's block rules, kept equal to ``jieba.dt`` word for word."""

    # A word no block can contain (private-use characters are outside ``_BLOCK``): its
    # frequency makes jieba-rs's dictionary total equal to jieba's. jieba adds a re-added
    # word's frequency to the total; jieba-rs replaces it. The total weighs every route.
    _BALLAST = "\ue000\ue001"

    def __init__(self) -> None:
        self._rust: rjieba.Jieba | None = None
        self.enabled = False  # see use_jieba_rs
        self.usable = True
        self.ballast = 0
        # Every word jieba was given (word, frequency as jieba settled it, its frequency
        # before): replayed into jieba-rs when it is loaded after them.
        self.added: list[tuple[str, int, str | None, int | None]] = []

    @property
    def active(self) -> bool:
        return self.enabled and self.usable

    @property
    def rust(self) -> rjieba.Jieba:
        # Loaded on first use (0.2 s, ~35 MB), with the words jieba was given meanwhile.
        if self._rust is None:
            self._rust = rjieba.Jieba()
            for entry in self.added:
                self._mirror(*entry)
        return self._rust

    def add_word(self, word: str, freq: int, tag: str | None, before: int | None) -> None:
        """Mirror ``jieba.add_word(word, freq, tag)``: ``freq`` as jieba settled it,
        ``before`` the word's frequency in jieba before the call."""
        if freq == 0:
            # jieba then forces its HMM to split the word (finalseg.Force_Split_Words):
            # nothing in jieba-rs does that. Segment with jieba itself from now on.
            self.usable = False
        self.added.append((word, freq, tag, before))
        if self._rust is not None:
            self._mirror(word, freq, tag, before)

    def _mirror(self, word: str, freq: int, tag: str | None, before: int | None) -> None:
        if freq == 0:
            return
        if before:
            self.ballast += before
            self._rust.add_word(self._BALLAST, self.ballast, None)  # type: ignore[union-attr]
        self._rust.add_word(word, freq, tag)  # type: ignore[union-attr]

    def cut(self, text: str) -> Iterator[str]:
        """``jieba.dt.cut(text)`` (HMM on), the same words in the same order."""
        freq = jieba.dt.FREQ
        rust_cut = self.rust.cut
        for block in _BLOCK.split(text):
            if not block:
                continue
            if _BLOCK.match(block):
                for word in rust_cut(block):
                    if len(word) > 1 and not freq.get(word) and not _HMM_CHINESE.search(word):
                        # An HMM run without Chinese: jieba splits it with its own pattern.
                        yield from filter(None, _HMM_OTHER.split(word))
                    else:
                        yield word
            else:
                for piece in _SPACE.split(block):
                    if _SPACE.match(piece):
                        yield piece
                    else:
                        yield from piece


_rust = _RustSegmenter()


def use_jieba_rs() -> None:
    """Segment with jieba-rs in this process (and the processes it forks from now on):
    for bulk work (writing an index version). Other processes (servers, queries) keep
    jieba itself: the same words, without a second dictionary in memory (~35 MB a
    worker)."""
    _rust.enabled = True


def cut(text: str) -> Iterator[str]:
    """jieba's words of ``text`` (``jieba.dt.cut`` with HMM): computed by jieba-rs after
    ``use_jieba_rs``, else by jieba."""
    warm_up()
    if _rust.active:
        return _rust.cut(text)
    return jieba.dt.cut(text)


def jieba_words(text: str) -> Iterator[str]:
    """Search-mode jieba words of ``text``, normalised: the words of
    ``jieba.cut_for_search``, in its order, minus punctuation and spaces."""
    return iter(search_words(text))


def search_words(text: str) -> list[str]:
    """``jieba_words`` as a list (what the build's tokenizing calls)."""
    warm_up()
    out: list[str] = []
    extend = out.extend
    known = _search_forms
    for word in cut(normalize(text).text):
        forms = known.get(word)
        extend(forms if forms is not None else _search_forms_of(word))
    return out


# word → what it adds to ``search_words``, while a version is written: words recur (Zipf),
# and their forms depend on jieba's dictionary only (cleared when a user dictionary
# changes it).
_search_forms: dict[str, tuple[str, ...]] = {}
_SEARCH_FORMS_KEPT = 500_000


def _search_forms_of(word: str) -> tuple[str, ...]:
    """The sub-words of ``cut_for_search`` (its 2- and 3-grams in the dictionary), then
    the word; nothing for punctuation and spaces."""
    if not any(map(is_word_char, word)):
        forms: tuple[str, ...] = ()
    else:
        freq = jieba.dt.FREQ  # only filled by initialize()
        width = len(word)
        subs = [
            word[i : i + n]
            for n in (2, 3) if width > n
            for i in range(width - n + 1)
            if freq.get(word[i : i + n])
        ]
        forms = (*subs, word)
    # Kept while writing a version only: a server would keep every word ever queried.
    if _rust.enabled and len(_search_forms) < _SEARCH_FORMS_KEPT:
        _search_forms[word] = forms
    return forms


@lru_cache(maxsize=8192)
def _short_text_words(text: str) -> tuple[str, ...]:
    return tuple(jieba_words(text))


def words_of(text: str) -> Iterable[str]:
    """``jieba_words``, memoised for short texts: every paragraph of an article repeats its
    title and heading, and queries repeat too."""
    return _short_text_words(text) if len(text) <= 200 else jieba_words(text)


USER_DICTIONARY = "userdict.txt"
SYNONYMS = "synonyms.txt"
_loaded_dictionaries: set[str] = set()


def load_user_dictionary(path: Path) -> bool:
    """Add a jieba-format user dictionary ("word [freq] [tag]" per line) to the segmenter.

    Domain words (hospital names, programmes such as 千县工程) then stay whole in both
    the index and queries. Loading the same content twice does nothing; False if absent.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return False
    digest = hashlib.sha256(data).hexdigest()
    if digest in _loaded_dictionaries:
        return True
    warm_up()
    for line in data.decode("utf-8-sig", errors="replace").splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        word = _fold(parts[0])
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        tag = parts[2] if len(parts) > 2 else None
        before = jieba.dt.FREQ.get(word)
        jieba.add_word(word, freq, tag)
        _rust.add_word(word, jieba.dt.FREQ[word], tag, before)
    _loaded_dictionaries.add(digest)
    _short_text_words.cache_clear()  # cached segmentations may have changed
    _search_forms.clear()
    return True


def read_synonyms(path: Path) -> dict[str, tuple[str, ...]]:
    """Synonym groups, one per line ("新冠 新型冠状病毒 新冠肺炎"): each word's squeezed
    form → every word of its group (as written). An absent file means no synonyms."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return {}
    groups: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        words = tuple(w for w in line.split() if squeeze_text(w))
        if line.lstrip().startswith("#") or len(words) < 2:
            continue
        for word in words:
            groups[squeeze_text(word)] = words
    return groups


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Chinese and English function words (stopwords-iso), folded like the text."""
    import stopwordsiso

    words = stopwordsiso.stopwords(["zh", "en"])
    return frozenset(_fold(w) for w in words)


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning: jieba words minus stop words and
    punctuation, normalised. "生命数耗完即算为什么？" → its content words."""
    warm_up()
    stop = stop_words()
    out: list[str] = []
    for word in cut(normalize(text).text):
        if any(is_word_char(c) for c in word) and word not in stop:
            out.append(word)
    return out


class JiebaTokenizer(Tokenizer):
    """Whoosh tokenizer of the text field: the words of ``jieba_words``, text only (the
    field stores no frequencies, positions or offsets)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self).__name__)

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        if positions or chars:
            raise ValueError("the text field keeps no positions or offsets")
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        token.boost = 1.0
        token.stopped = False
        for text in jieba_words(value):
            token.text = text
            yield token


def jieba_analyzer() -> JiebaTokenizer:
    """The analyser of the text field."""
    return JiebaTokenizer()


class JiebaWordSet(Existence):
    """The text field's format: each distinct jieba word of a paragraph once (no
    frequencies, positions or lengths: the lexicon needs words and how many paragraphs
    hold each). The words come straight from ``search_words``, the same words the
    field's analyzer yields, without a token stream (five generator steps per word in
    Whoosh's path). No postings either (``postings``, read by
    ``whoosh_compat.use_lexicon_only_fields``): nothing looks up which paragraphs hold a
    word, matching uses the literal index. Pickled into the index's table of contents,
    like the tokenizer."""

    postings = False

    def word_values(self, value, analyzer, **kwargs):  # type: ignore[no-untyped-def]
        if not isinstance(value, str):
            return super().word_values(value, analyzer, **kwargs)
        boost = self.field_boost
        return ((word, 1, boost, b"") for word in set(search_words(value)))

