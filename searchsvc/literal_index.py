"""The literal index: where each literal occurs, from suffix arrays beside every Whoosh segment.

In: a Whoosh segment's stored paragraphs (text, title, subtitle, heading, article, date,
source). Out: numpy arrays saved beside the segment's own files
(``<segment>.sub_<name>.npy``, named so that Whoosh deletes them with the segment), and for
a searcher a ``VersionSubstrings`` view: for any literal, the paragraphs whose squeezed text
(or title/heading) contains it and how often, from a binary search and one array slice.

Why: the literal match decides whether a paragraph matches at all, and common words match
100,000 paragraphs. Whoosh evaluates matchers one document at a time in Python
(5–10 µs each); here a whole posting list is one numpy slice, so a query costs
milliseconds whatever it matches, and totals stay exact.

Layout of one segment (``n`` documents, Whoosh's local document numbers):

* ``text``: the squeezed paragraph texts as UTF-16 code units (big-endian, so that byte
  order is code order), each followed by a 0 separator; ``sa`` its suffix array;
  ``sa_doc`` the document of each suffix; ``doc_len`` the squeezed length of each document.
* ``ctx_*``: the same for the distinct contexts (title + subtitle + heading, squeezed);
  ``doc_ctx`` the context of each document.
* ``doc_article``, ``doc_source``, ``doc_date`` (YYYYMMDD, 0 when unknown): grouping,
  filters and date order; the article and source names are in ``sub_meta.json``.

The four suffix arrays (``sa``, ``sa_doc``, ``ctx_sa``, ``ctx_sa_ctx``) are saved in
three bytes per entry when their values fit (below 2**24: a segment of up to 16 M
characters; larger ones stay int32), and ``Packed24`` reads both forms. ``sa`` and
``ctx_sa`` are only probed by the binary searches; slices of the other two are decoded
(about 0.6 ms per million entries), and a count needs no slice at all (``text_count``):
on the full corpus, queries were no slower than with int32 files, 17 MB smaller.

One module (over 400 lines): the arrays on disk and the view that reads them change
together, and splitting them would put the layout and its only reader in two places.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import threading
import weakref
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

# libdivsufsort sorts with OpenMP threads, and GNU OpenMP's threads do not survive fork():
# a process forked after a sort ran here (a writer process, a literal-index process of the
# next build in a long-lived process) would wait forever on them at its first sort. One
# thread each, then; big builds sort their segments in parallel processes instead. Read
# by libgomp when pydivsufsort loads it: set before the import.
os.environ["OMP_NUM_THREADS"] = "1"
from pydivsufsort import divsufsort  # noqa: E402

from . import whoosh_compat
from .analysis import squeeze_text

_CODE = np.dtype(">u2")
_ARRAYS = (
    "text", "sa", "sa_doc", "doc_len",
    "ctx_text", "ctx_sa", "ctx_sa_ctx", "doc_ctx",
    "doc_article", "doc_source", "doc_date",
)
META = "sub_meta.json"
log = logging.getLogger(__name__)


class LiteralIndexMissing(Exception):
    """A segment of the version in use has no usable literal index (missing or damaged
    files): the version cannot answer until it is rebuilt."""

    def __init__(self, folder: Path, segment_id: str):
        super().__init__(
            f"the literal index of segment {segment_id} in {folder} is missing or damaged: "
            "rebuild with `searchsvc build` (or go back with `searchsvc rollback`)"
        )


def _file(folder: Path, segment_id: str, name: str) -> Path:
    return folder / f"{segment_id}.{'sub_' + name + '.npy' if name != META else META}"


def encode(literal: str) -> bytes:
    """A squeezed literal as the index stores text (UTF-16 big-endian code units)."""
    return literal.encode("utf-16-be")


def _suffix_array(strings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated code units (0 after each string), suffix array, owner of each suffix,
    and each string's length in code units."""
    encoded = [encode(s) for s in strings]
    lengths = np.fromiter((len(b) // 2 for b in encoded), dtype=np.int32, count=len(encoded))
    text = np.frombuffer(b"\0\0".join([*encoded, b""]), dtype=_CODE)
    if len(text) == 0:
        empty = np.zeros(0, dtype=np.int32)
        return text.copy(), empty, empty, lengths
    sa = divsufsort(text.astype(np.uint16)).astype(np.int32)
    owner = np.repeat(np.arange(len(strings), dtype=np.int32), lengths + 1)
    return text, sa, owner[sa], lengths


_PACKED_LIMIT = 1 << 24
_PACKED = ("sa", "ctx_sa", "sa_doc", "ctx_sa_ctx")


def pack24(values: np.ndarray) -> np.ndarray:
    """Non-negative ints below 2**24 as 3 little-endian bytes each, plus one pad byte (so
    that every entry can be read as a 4-byte word); ``values`` unchanged if any is larger."""
    if len(values) and int(values.max()) >= _PACKED_LIMIT:
        return values
    words = values.astype("<u4").view(np.uint8).reshape(-1, 4)
    return np.concatenate([words[:, :3].ravel(), np.zeros(1, dtype=np.uint8)])


class Packed24:
    """An int array saved by ``pack24`` (or a plain int32 one), read as int32 values."""

    __slots__ = ("raw", "packed", "size", "_words")

    def __init__(self, raw: np.ndarray):
        self.raw = raw
        self.packed = raw.dtype == np.uint8
        self.size = (len(raw) - 1) // 3 if self.packed else len(raw)
        # Entry i's 4-byte little-endian word starts at byte 3 * i (the pad byte makes
        # the last one whole): one strided, unaligned view reads them all; the byte of the
        # next entry on top is masked off.
        self._words = (
            np.ndarray((self.size,), dtype="<u4", buffer=raw, strides=(3,))
            if self.packed else raw
        )

    def __len__(self) -> int:
        return self.size

    def at(self, i: int) -> int:
        return int(self._words[i]) & 0xFFFFFF if self.packed else int(self.raw[i])

    def slice(self, lo: int, hi: int) -> np.ndarray:
        """Values ``lo:hi`` as int32 (a view of the int32 file, a new array when packed)."""
        if not self.packed:
            return self.raw[lo:hi]
        return (self._words[lo:hi] & 0xFFFFFF).view(np.int32)

    def all(self) -> np.ndarray:
        return self.slice(0, self.size)

    def every(self, step: int) -> np.ndarray:
        """Values 0, ``step``, 2 × ``step``… as int64."""
        if not self.packed:
            return self.raw[::step].astype(np.int64)
        return (self._words[::step] & 0xFFFFFF).astype(np.int64)


# Up to this many values, Python's own counting and sorting beats numpy's per-call costs
# (~4 µs instead of ~10 for ten values).
_FEW_VALUES = 16
# From this many integers on, spread over less than _DENSE_SPREAD times their number,
# counting them in an array (one pass over the values and one over the range) beats
# sorting them (20,000 contexts: ~85 µs instead of ~400).
_DENSE_FROM = 2048
_DENSE_SPREAD = 16


def distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, ascending, and how often each occurs: ``np.unique(values,
    return_counts=True)`` by the cheapest way for the size (numpy's own takes 2-6 × longer
    on the small arrays of a query; without counts it hashes, slower still)."""
    if len(values) <= _FEW_VALUES:
        counted = sorted(Counter(values.tolist()).items())
        return (np.array([v for v, _ in counted], dtype=values.dtype),
                np.array([n for _, n in counted], dtype=np.int64))
    dense = len(values) >= _DENSE_FROM and values.dtype.kind in "iu"
    if dense and int(values.min()) >= 0:
        if int(values.max()) < _DENSE_SPREAD * len(values):
            counts = np.bincount(values)
            found = np.flatnonzero(counts)
            return found.astype(values.dtype), counts[found]
    ordered = np.sort(values)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, len(ordered)))
    return ordered[starts], counts


def distinct_values(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (``np.unique``; see ``distinct_counts``)."""
    return distinct_counts(values)[0]


def date_number(value: object) -> int:
    """A "YYYY-MM-DD" date (stored, or a filter bound) as YYYYMMDD; 0 when there is none
    (the arrays' "no date")."""
    text = str(value or "")
    digits = text[:4] + text[5:7] + text[8:10]
    return int(digits) if len(text) >= 10 and digits.isdigit() else 0


def _ordinals(values: list[str]) -> tuple[np.ndarray, list[str]]:
    names: dict[str, int] = {}
    ordinals = np.fromiter(
        (names.setdefault(v, len(names)) for v in values), dtype=np.int32, count=len(values)
    )
    return ordinals, list(names)


def build_arrays(docs: Iterable[Mapping[str, object]]) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and names of one segment, from its documents' stored fields in order."""
    texts: list[str] = []
    contexts: list[str] = []
    articles: list[str] = []
    sources: list[str] = []
    dates: list[int] = []
    for fields in docs:
        texts.append(squeeze_text(str(fields.get("text") or "")))
        parts = (fields.get("title"), fields.get("subtitle"), fields.get("heading"))
        contexts.append("\n".join(str(p) for p in parts if p))
        articles.append(str(fields.get("article_id") or ""))
        sources.append(str(fields.get("source") or ""))
        dates.append(date_number(fields.get("date")))
    doc_ctx, distinct_contexts = _ordinals(contexts)
    text, sa, sa_doc, doc_len = _suffix_array(texts)
    ctx_text, ctx_sa, ctx_sa_ctx, _ = _suffix_array([squeeze_text(c) for c in distinct_contexts])
    doc_article, article_names = _ordinals(articles)
    doc_source, source_names = _ordinals(sources)
    arrays = {
        "text": text, "sa": sa, "sa_doc": sa_doc, "doc_len": doc_len,
        "ctx_text": ctx_text, "ctx_sa": ctx_sa, "ctx_sa_ctx": ctx_sa_ctx, "doc_ctx": doc_ctx,
        "doc_article": doc_article, "doc_source": doc_source,
        "doc_date": np.asarray(dates, dtype=np.int32),
    }
    return arrays, {"articles": article_names, "sources": source_names}


@dataclass(frozen=True)
class SegmentSubstrings:
    """The arrays of one segment (memory-mapped when read from disk)."""

    text: np.ndarray
    sa: np.ndarray
    sa_doc: np.ndarray
    doc_len: np.ndarray
    ctx_text: np.ndarray
    ctx_sa: np.ndarray
    ctx_sa_ctx: np.ndarray
    doc_ctx: np.ndarray
    doc_article: np.ndarray
    doc_source: np.ndarray
    doc_date: np.ndarray
    articles: list[str]
    sources: list[str]
    _ranges: dict[tuple[str, bytes], tuple[int, int]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def size(self) -> int:
        return len(self.doc_len)

    @cached_property  # asked for every literal looked up: computed once
    def contexts(self) -> int:
        return int(self.doc_ctx.max()) + 1 if len(self.doc_ctx) else 0

    @cached_property
    def suffixes(self) -> Packed24:
        return Packed24(self.sa)

    @cached_property
    def ctx_suffixes(self) -> Packed24:
        return Packed24(self.ctx_sa)

    @cached_property
    def suffix_documents(self) -> Packed24:
        return Packed24(self.sa_doc)

    @cached_property
    def suffix_contexts(self) -> Packed24:
        return Packed24(self.ctx_sa_ctx)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: Mapping) -> SegmentSubstrings:
        return cls(**{k: arrays[k] for k in _ARRAYS}, articles=list(meta["articles"]),
                   sources=list(meta["sources"]))

    @classmethod
    def from_reader(cls, leaf) -> SegmentSubstrings:  # type: ignore[no-untyped-def]
        """Built from a Whoosh segment reader's stored fields (deleted documents included:
        arrays are indexed by the segment's document numbers)."""
        docs = (leaf.stored_fields(n) for n in range(leaf.doc_count_all()))
        return cls.from_arrays(*build_arrays(docs))

    def save(self, folder: Path, segment_id: str) -> None:
        """Write the arrays; the meta file, written last, marks them complete. Each file is
        written beside and renamed into place: the name may be a hard link shared with an
        older version, which must keep its own contents."""
        for name in (*_ARRAYS, META):
            path = _file(folder, segment_id, name)
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb") as fh:
                if name == META:
                    meta = {"articles": self.articles, "sources": self.sources}
                    fh.write(json.dumps(meta, ensure_ascii=False).encode("utf-8"))
                else:
                    values = getattr(self, name)
                    if name in _PACKED and values.dtype != np.uint8:
                        values = pack24(values)
                    np.save(fh, values, allow_pickle=False)
            os.replace(tmp, path)

    @classmethod
    def load(cls, folder: Path, segment_id: str) -> SegmentSubstrings | None:
        """The saved arrays (memory-mapped), or None when the segment has none."""
        meta_file = _file(folder, segment_id, META)
        if not meta_file.is_file():
            return None
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        # Plain views of the mapped files: np.memmap's Python-level slicing hooks cost
        # more than the slices themselves.
        arrays = {
            n: np.load(_file(folder, segment_id, n), mmap_mode="r").view(np.ndarray)
            for n in _ARRAYS
        }
        return cls.from_arrays(arrays, meta)

    # --- lookups ---------------------------------------------------------------------

    def text_count(self, code: bytes) -> int:
        """How many times the encoded literal occurs in paragraph texts."""
        lo, hi = self._range("text", code)
        return hi - lo

    def text_occurrences(self, code: bytes) -> np.ndarray:
        """Document of each occurrence of the encoded literal in paragraph texts."""
        lo, hi = self._range("text", code)
        return self.suffix_documents.slice(lo, hi)

    def context_occurrences(self, code: bytes) -> np.ndarray:
        """Context of each occurrence of the encoded literal in titles/headings."""
        lo, hi = self._range("ctx", code)
        return self.suffix_contexts.slice(lo, hi)

    def context_members(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The documents of the contexts ``ids`` (distinct), context by context in order,
        and how many each context has."""
        order, starts = self._documents_by_context
        firsts = starts[ids]
        lengths = starts[ids + 1] - firsts
        return _runs(order, firsts, lengths), lengths

    def context_mask(self, contexts: np.ndarray) -> np.ndarray:
        """Which documents have one of ``contexts`` (ordinals, repeats allowed: a repeat
        marks the same documents again, cheaper than finding the distinct ones first)."""
        order, starts = self._documents_by_context
        firsts = starts[contexts]
        lengths = starts[contexts + 1] - firsts
        if int(lengths.sum()) * 8 > self.size:
            hit = np.zeros(self.contexts, dtype=bool)  # many documents: one pass over all
            hit[contexts] = True
            return hit[self.doc_ctx]
        # Few (the usual case): the documents of those contexts only, gathered at once.
        mask = np.zeros(self.size, dtype=bool)
        mask[_runs(order, firsts, lengths)] = True
        return mask

    @cached_property
    def _text_search(self) -> SuffixSearch:
        return SuffixSearch(self.text, self.suffixes)

    @cached_property
    def _ctx_search(self) -> SuffixSearch:
        return SuffixSearch(self.ctx_text, self.ctx_suffixes)

    def texts_of(self, docs: list[int]) -> list[str]:
        """The squeezed texts of documents ``docs``."""
        return _decode(self._text_buffer, self._text_starts, self.doc_len, docs)

    def contexts_of(self, ids: list[int]) -> list[str]:
        """The squeezed titles/headings of contexts ``ids``."""
        return _decode(self._ctx_buffer, self._ctx_starts, self.context_lengths, ids)

    @cached_property
    def context_lengths(self) -> np.ndarray:
        """The length of each context, in code units."""
        return np.diff(np.flatnonzero(self.ctx_text == 0), prepend=-1) - 1

    @cached_property
    def _text_starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.doc_len + 1)[:-1]))

    @cached_property
    def _ctx_starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.context_lengths + 1)[:-1]))

    @cached_property
    def _text_buffer(self) -> tuple[bytes | mmap.mmap, int]:
        return _byte_buffer(self.text)

    @cached_property
    def _ctx_buffer(self) -> tuple[bytes | mmap.mmap, int]:
        return _byte_buffer(self.ctx_text)

    @cached_property
    def _documents_by_context(self) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers ordered by context, and where each context's run starts."""
        order = np.argsort(self.doc_ctx, kind="stable")
        return order, np.searchsorted(self.doc_ctx[order], np.arange(self.contexts + 1))

    def _range(self, which: str, code: bytes) -> tuple[int, int]:
        # A query looks the same words up several times (matching, IDF, BM25), and
        # popular words recur across queries: remember recent ranges.
        key = (which, code)
        found = self._ranges.get(key)
        if found is None:
            if which == "text":
                found = self._text_search.find(code)
            else:
                found = self._ctx_search.find(code)
            if len(self._ranges) >= 8192:
                self._ranges.clear()
            self._ranges[key] = found
        return found


def _byte_buffer(codes: np.ndarray) -> tuple[bytes | mmap.mmap, int]:
    """Something slicing to the bytes of ``codes``, and where they start in it: the mapped
    file when ``codes`` is a view of one (slicing an mmap costs a quarter of slicing the
    array and copying the slice), else a copy."""
    base = codes.base
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if isinstance(base, mmap.mmap) and codes.flags.c_contiguous:
        start = codes.ctypes.data - np.frombuffer(base, dtype=np.uint8).ctypes.data
        return base, start
    return codes.tobytes(), 0


# Up to this many runs, slicing each and joining them costs less than numpy's gather.
_FEW_RUNS = 8


def _runs(values: np.ndarray, firsts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``values[firsts[i] : firsts[i] + lengths[i]]`` for every i, one after another."""
    if len(firsts) <= _FEW_RUNS:
        if not len(firsts):
            return values[:0]
        return np.concatenate([values[first : first + length] for first, length
                               in zip(firsts.tolist(), lengths.tolist(), strict=True)])
    offsets = np.repeat(firsts - np.cumsum(lengths) + lengths, lengths)
    return values[offsets + np.arange(int(lengths.sum()))]


def _decode(
    buffer: tuple[bytes | mmap.mmap, int], starts: np.ndarray, lengths: np.ndarray,
    which: list[int],
) -> list[str]:
    """Strings ``which`` of a UTF-16-BE buffer, given their starts and lengths (in code
    units)."""
    data, offset = buffer
    begins = (starts[which] * 2 + offset).tolist()
    ends = (lengths[which] * 2).tolist()
    return [data[b : b + n].decode("utf-16-be") for b, n in zip(begins, ends, strict=True)]


_SAMPLE_STEP = 64  # every this many suffixes, the first four code units are kept in memory
_KEY_UNITS = 4


class SuffixSearch:
    """The range of a suffix array whose suffixes start with a literal.

    Two binary searches, narrowed first: the first ``_KEY_UNITS`` code units of every
    ``_SAMPLE_STEP``-th suffix, packed in one uint64 (in order, like the suffixes), place a
    literal between two samples (bisected); the exact searches then look at ~64 suffixes
    (7 steps) at each end of its range instead of millions (25 steps each), reading entries
    and text straight from the mapped bytes. A literal looked up for the first time costs
    ~9 µs instead of ~46 (queries a server has not seen before pay that for each of their
    words).
    The samples take 8 bytes per 64 suffixes (3.4 MB for a 27-million-character segment),
    built when the segment is first searched.
    """

    def __init__(self, text: np.ndarray, sa: Packed24):
        self.size = len(sa)
        self._text, self._text_at = _byte_buffer(text)
        self._sa, self._sa_at = _byte_buffer(sa.raw)
        self._entry = 3 if sa.packed else 4
        self._mask = 0xFFFFFF if sa.packed else 0xFFFFFFFF
        starts = sa.every(_SAMPLE_STEP)
        keys = np.zeros(len(starts), dtype=np.uint64)
        for unit in range(_KEY_UNITS):
            at = starts + unit
            inside = at < len(text)
            values = np.zeros(len(starts), dtype=np.uint64)
            values[inside] = text[at[inside]]
            keys = (keys << np.uint64(16)) | values
        # Searched one key at a time: bisect over an array of machine integers costs a
        # quarter of np.searchsorted's call with a numpy scalar.
        self._keys = array("Q", keys.tobytes())

    def find(self, code: bytes) -> tuple[int, int]:
        width = len(code)  # bytes: two per code unit
        if width == 0 or self.size == 0:
            return 0, 0
        units = [int.from_bytes(code[i : i + 2], "big") for i in range(0, min(width, 8), 2)]
        pad = _KEY_UNITS - len(units)
        low = high = 0
        for unit in units + [0] * pad:
            low = (low << 16) | unit
        for unit in units + [0xFFFF] * pad:
            high = (high << 16) | unit
        # Samples before ``first`` start below the literal, from ``after`` on above it.
        first = bisect_left(self._keys, low)
        after = bisect_right(self._keys, high)
        lo = max(0, (first - 1) * _SAMPLE_STEP)
        end = min(self.size, after * _SAMPLE_STEP) if after < len(self._keys) else self.size
        # A literal of at most four units compares whole within a key: sample ``first``
        # then starts at or above it, and sample ``after - 1`` at or below it, so each end
        # of the range lies within one step of samples (for a frequent word, a few
        # halvings less than searching the whole range twice).
        short = width <= 2 * _KEY_UNITS
        hi = min(end, first * _SAMPLE_STEP) if short else end
        # Inlined (hot): suffix ``mid`` starts at the entry's value, which is read from
        # its bytes; its first ``width`` bytes of text are compared with ``code``.
        text, base = self._text, self._text_at
        sa, sa_base, entry, mask = self._sa, self._sa_at, self._entry, self._mask
        from_bytes = int.from_bytes
        while lo < hi:  # first suffix >= code
            mid = (lo + hi) // 2
            at = sa_base + mid * entry
            at = base + 2 * (from_bytes(sa[at : at + entry], "little") & mask)
            if text[at : at + width] < code:
                lo = mid + 1
            else:
                hi = mid
        first_match, hi = lo, end
        if short and after > 0:
            lo = max(lo, (after - 1) * _SAMPLE_STEP)
        while lo < hi:  # first suffix whose prefix > code
            mid = (lo + hi) // 2
            at = sa_base + mid * entry
            at = base + 2 * (from_bytes(sa[at : at + entry], "little") & mask)
            if text[at : at + width] <= code:
                lo = mid + 1
            else:
                hi = mid
        return first_match, lo


def has_saved(folder: Path, segment_id: str) -> bool:
    """Whether the segment's arrays are saved and readable."""
    try:
        return SegmentSubstrings.load(folder, segment_id) is not None
    except (OSError, ValueError, KeyError):
        return False


def save_segment(folder: Path, segment_id: str) -> None:
    """Build and save the arrays of one segment of the index version in ``folder`` (what a
    process of a parallel build runs: it opens the version itself)."""
    from whoosh import index as whoosh_index  # the version on disk, read as any reader would

    ix = whoosh_index.open_dir(str(folder))
    try:
        with ix.reader() as reader:
            for leaf, _offset in reader.leaf_readers():
                if leaf.segment().segment_id() == segment_id:
                    SegmentSubstrings.from_reader(leaf).save(folder, segment_id)
                    return
    finally:
        ix.close()
    raise KeyError(f"no segment {segment_id} in {folder}")


def ensure_saved(folder: Path, leaves: Iterable) -> int:  # type: ignore[type-arg]
    """Build and save the arrays of every segment that has none (or unreadable ones); how
    many were built."""
    built = 0
    for leaf in leaves:
        segment_id = leaf.segment().segment_id()
        if not has_saved(folder, segment_id):  # none, or damaged: written again
            SegmentSubstrings.from_reader(leaf).save(folder, segment_id)
            built += 1
    return built


# --- a searcher's view --------------------------------------------------------------


@dataclass(frozen=True)
class SegmentView:
    """One segment as a searcher sees it: its arrays, first global document number, and
    which documents are live (None: all)."""

    data: SegmentSubstrings
    offset: int
    live: np.ndarray | None
    article: np.ndarray  # the segment's article ordinals → the version's
    source: np.ndarray  # the segment's source ordinals → the version's


@dataclass(frozen=True)
class VersionSubstrings:
    """Every segment of a searcher's reader, with names shared across segments."""

    segments: tuple[SegmentView, ...]
    articles: tuple[str, ...]
    sources: dict[str, int]
    documents: int  # live documents
    avg_len: float
    avg_ctx_len: float

    @classmethod
    def from_searcher(cls, searcher) -> VersionSubstrings:  # type: ignore[no-untyped-def]
        """The view of ``searcher``'s segments: cached per reader, and shared by the readers
        of one index version (each thread has its own; a version never changes)."""
        reader = searcher.reader()
        with _lock:
            view = _views.get(reader)
        if view is not None:
            return view
        version = whoosh_compat.reader_version_key(reader)
        with _build_lock:  # threads starting together build one view, not one each
            with _lock:
                view = _shared_views.get(version) if version else None
            if view is None:
                view = cls._build(reader)
            with _lock:
                _views[reader] = view
                if version:
                    _shared_views[version] = view
        return view

    @classmethod
    def _build(cls, reader) -> VersionSubstrings:  # type: ignore[no-untyped-def]
        articles: dict[str, int] = {}
        sources: dict[str, int] = {}
        views: list[SegmentView] = []
        lengths: list[float] = [0.0, 0.0]
        documents = 0
        for leaf, offset in reader.leaf_readers():
            data = _segment_data(leaf)
            live = None
            if leaf.has_deletions():
                live = np.ones(data.size, dtype=bool)
                deleted = [n for n in range(data.size) if leaf.is_deleted(n)]
                live[deleted] = False
            article = np.fromiter(
                (articles.setdefault(a, len(articles)) for a in data.articles), dtype=np.int32
            )
            source = np.fromiter(
                (sources.setdefault(s, len(sources)) for s in data.sources), dtype=np.int32
            )
            ctx_len = data.context_lengths
            views.append(SegmentView(data, offset, live, article, source))
            documents += data.size if live is None else int(live.sum())
            lengths[0] += float(data.doc_len.sum())
            if len(ctx_len):
                lengths[1] += float(ctx_len[data.doc_ctx].sum())
        total = max(1, sum(v.data.size for v in views))
        return cls(tuple(views), tuple(articles), sources, documents,
                   max(1.0, lengths[0] / total), max(1.0, lengths[1] / total))

    def occurrences(self, literal: str) -> int:
        """How often ``literal`` occurs in paragraph texts (deleted documents included)."""
        code = encode(literal)
        return sum(v.data.text_count(code) for v in self.segments)

    def squeezed_texts(self, docnums: list[int]) -> list[str]:
        """The squeezed texts of documents (global numbers), as the index holds them."""
        if not docnums:
            return []
        offsets = [v.offset for v in self.segments]
        which = np.searchsorted(offsets, docnums, side="right") - 1
        if which.min() < 0:
            raise IndexError(docnums)
        texts: list[str] = [""] * len(docnums)
        for number in distinct_values(which).tolist():
            view = self.segments[number]
            at = np.flatnonzero(which == number).tolist()
            local = [docnums[i] - view.offset for i in at]
            if max(local) >= view.data.size:
                raise IndexError(docnums)
            for i, text in zip(at, view.data.texts_of(local), strict=True):
                texts[i] = text
        return texts

    def documents_with(self, literal: str) -> set[int]:
        """Global numbers of the live documents whose text contains ``literal``."""
        code = encode(literal)
        found: set[int] = set()
        for v in self.segments:
            docs = distinct_values(v.data.text_occurrences(code))
            if v.live is not None:
                docs = docs[v.live[docs]]
            found.update((docs + v.offset).tolist())
        return found

    def occurs(self, literal: str) -> bool:
        """Whether some live paragraph's text, title or heading contains ``literal``."""
        code = encode(literal)
        for v in self.segments:
            if v.live is None:
                if v.data.text_count(code):
                    return True
            elif v.live[v.data.text_occurrences(code)].any():
                return True
            ctx = v.data.context_occurrences(code)
            if len(ctx):
                mask = v.data.context_mask(ctx)
                if v.live is not None:
                    mask &= v.live
                if mask.any():
                    return True
        return False


_lock = threading.Lock()
_build_lock = threading.Lock()
_shared_views: weakref.WeakValueDictionary[tuple[object, ...], VersionSubstrings] = (
    weakref.WeakValueDictionary()
)
_views: weakref.WeakKeyDictionary[object, VersionSubstrings] = weakref.WeakKeyDictionary()
# Weak: a segment's arrays (and the mapped files of a pruned version) go with the last
# reader that uses them.
_segments: weakref.WeakValueDictionary[tuple[object, ...], SegmentSubstrings] = (
    weakref.WeakValueDictionary()
)
_load_lock = threading.Lock()


def _segment_data(leaf) -> SegmentSubstrings:  # type: ignore[no-untyped-def]
    """A segment's arrays, from disk, mapped once per process whichever version (hard link)
    and thread asks. LiteralIndexMissing when they are missing or unreadable: every version
    is written with them and verified, so that is damage, and a rebuild repairs it."""
    folder = Path(whoosh_compat.segment_folder(leaf))
    segment_id = leaf.segment().segment_id()
    try:
        stat = _file(folder, segment_id, META).stat()
        key: tuple[object, ...] = (stat.st_dev, stat.st_ino)  # versions share hard links
    except FileNotFoundError:
        key = (str(folder), segment_id)
    with _load_lock:  # one mapping per segment, however many threads start at once
        data = _segments.get(key)
        if data is None:
            try:
                data = SegmentSubstrings.load(folder, segment_id)
            except (OSError, ValueError, KeyError) as err:
                log.error("segment %s of %s: literal index unreadable: %s", segment_id, folder, err)
            if data is None:
                raise LiteralIndexMissing(folder, segment_id)
            _segments[key] = data
    return data
