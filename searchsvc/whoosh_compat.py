"""Where searchsvc reaches inside Whoosh: every private attribute and patch, in one place.

Written against whoosh-reloaded 2.7.5 (``WHOOSH_VERSION``); ``tests/test_whoosh_compat.py``
fails if the installed Whoosh is another version or if any internal used here changed, so
an upgrade is a deliberate step, not a surprise at run time.

* ``patch_length_column_cache``: remember that a segment has no length column for a field
  (Whoosh stats the disk again for every posting of an unscored field otherwise).
* ``segment_folder``, ``reader_version_key``: where a segment reader's files are, and what
  identifies the version a reader reads (the literal index maps its arrays by them).
* ``writer_processes``, ``watch_job_queue``: the worker processes of a multi-process
  writer (``MpWriter.tasks``) and its bounded job queue (``MpWriter.jobqueue``).
* ``use_compact_posting_pool``: writers collect postings in ``CompactPostingPool``
  (``whoosh.writing.PostingPool`` replaced), which holds the plain posting of an
  unscored field as 4 bytes in a per-term array instead of a ~180-byte tuple.
* ``use_lexicon_only_fields``: a field whose format has ``postings = False`` (the jieba
  words) keeps words and document frequencies in the term table and no postings
  (``W3FieldWriter`` patched); merges analyse its stored value again
  (``SegmentWriter.add_postings_to_pool`` patched).
* ``fork_writer_processes``: the multi-process writer's ``SubWriterTask`` is started by
  fork whatever the default start method.
* ``stored_fields_of``: stored fields read from each segment's per-document reader
  (``SegmentReader._perdoc``), without Whoosh's copy filtered by the schema (our schema
  never loses a field; the copy is a quarter of reading a hit's fields).
* ``use_block_stored_fields``: segments keep their stored fields in
  ``stored_column.BlockZstdColumn`` (``whoosh3.STORED_COLUMN`` replaced; the codec looks
  it up on every write and read), which still reads the columns Whoosh wrote.
"""

from __future__ import annotations

import heapq
import multiprocessing
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from itertools import chain, pairwise
from typing import Any

import whoosh
import whoosh.multiproc
import whoosh.writing
from whoosh.codec import whoosh3
from whoosh.reading import ReaderClosed
from whoosh.system import pack_ushort

from .stored_column import stored_fields_column

WHOOSH_VERSION = (2, 7, 5)


def patch_length_column_cache() -> None:
    """Whoosh 2.7's per-document reader remembers a field's length column, but not its
    absence: for every posting of an unscored field it stats the disk again (millions of
    stat calls per build). A segment's columns never change, so remember "none" too."""
    reader_class = whoosh3.W3PerDocReader
    if getattr(reader_class, "_searchsvc_patched", False):
        return

    def _cached_reader(self, fieldname, column):  # type: ignore[no-untyped-def]
        if fieldname not in self._readers:
            has = self.has_column(fieldname)
            self._readers[fieldname] = self.column_reader(fieldname, column) if has else None
        return self._readers[fieldname]

    reader_class._cached_reader = _cached_reader
    reader_class._searchsvc_patched = True


class CompactPostingPool(whoosh.writing.PostingPool):
    """Whoosh's posting pool, holding the plain posting (weight 1.0, empty value: every
    posting of an Existence-format field, which is all of ours) as a document number in
    an array per (field, term).

    Whoosh keeps one ``(field, term, docnum, weight, value)`` tuple per posting until the
    segment is written (~180 bytes each: 1.1 GB per writer process on the full corpus),
    then sorts them all. Here a term's documents arrive in order (a writer numbers its
    documents as they come), so only the terms are sorted at the end. Other postings
    (weights, values: older schemas, merged segments) go through Whoosh's own pool, and
    the two streams are merged in Whoosh's order. Spilling to disk (``save``) writes both
    as Whoosh's runs, so the multi-process writer's run-merging path still works."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain: dict[tuple[str, bytes], array] = {}

    def add(self, item: tuple) -> None:  # type: ignore[type-arg]
        fieldname, tbytes, docnum, weight, value = item
        if value == b"" and weight == 1.0 and type(weight) is float and docnum >= 0:
            docs = self._plain.get((fieldname, tbytes))
            if docs is None:
                self.fieldnames.add(fieldname)
                self._plain[(fieldname, tbytes)] = array("i", (docnum,))
            else:
                docs.append(docnum)
            return
        super().add(item)

    def _plain_items(self) -> Iterator[tuple]:  # type: ignore[type-arg]
        plain, self._plain = self._plain, {}
        for key in sorted(plain):
            fieldname, tbytes = key
            docs = plain.pop(key)
            ordered = all(a < b for a, b in pairwise(docs))
            for docnum in docs if ordered else sorted(docs):
                yield (fieldname, tbytes, docnum, 1.0, b"")

    def items(self, maxfiles: int = 128) -> Iterator[tuple]:  # type: ignore[type-arg]
        if not self.current and not self.runs:
            return self._plain_items()
        return heapq.merge(self._plain_items(), super().items(maxfiles))

    def iter_postings(self) -> Iterator[tuple]:  # type: ignore[type-arg]
        return self.items()

    def save(self) -> None:
        if self._plain:
            self.current.extend(self._plain_items())
        super().save()


def use_compact_posting_pool() -> None:
    """Every Whoosh writer made from now on (in this process and the writer processes it
    forks) collects its postings in ``CompactPostingPool``."""
    whoosh.writing.PostingPool = CompactPostingPool  # SegmentWriter looks it up per writer


def keeps_postings(fieldobj: Any) -> bool:
    """False for a field whose format says ``postings = False``: its segments keep its
    words and their document frequencies, and no postings."""
    return getattr(fieldobj.format, "postings", True) if fieldobj.format else True


def use_lexicon_only_fields() -> None:
    """Segments written from now on keep no postings for fields that do not want them
    (``keeps_postings``): each word's term-table entry holds its document frequency and
    an empty inline posting list (Whoosh reads it as a term with no documents), instead of
    a block in the postings file. Merging such segments finds their words again by
    analysing the stored value anew (the postings Whoosh would read are not there)."""
    field_writer = whoosh3.W3FieldWriter
    if getattr(field_writer, "_searchsvc_lexicon_only", False):
        return
    start_field, start_term = field_writer.start_field, field_writer.start_term
    add, finish_term = field_writer.add, field_writer.finish_term

    def _start_field(self, fieldname, fieldobj):  # type: ignore[no-untyped-def]
        start_field(self, fieldname, fieldobj)
        self._words_only = not keeps_postings(fieldobj)

    def _start_term(self, btext):  # type: ignore[no-untyped-def]
        if not self._words_only:
            return start_term(self, btext)
        self._btext = btext
        self._word_docs = [0, None, None]  # document frequency, first and last document
        return None

    def _add(self, docnum, weight, vbytes, length):  # type: ignore[no-untyped-def]
        if not self._words_only:
            return add(self, docnum, weight, vbytes, length)
        docs = self._word_docs
        docs[0] += 1
        if docs[1] is None:
            docs[1] = docnum
        docs[2] = docnum
        return None

    def _finish_term(self):  # type: ignore[no-untyped-def]
        if not self._words_only:
            return finish_term(self)
        df, first, last = self._word_docs
        info = whoosh3.W3TermInfo(weight=float(df), df=df, maxweight=1.0, minid=first,
                                  maxid=last)
        info.set_inlined((), (), ())
        self._tindex.add(pack_ushort(self._fieldid) + self._btext, info.to_bytes())
        return None

    field_writer.start_field = _start_field
    field_writer.start_term = _start_term
    field_writer.add = _add
    field_writer.finish_term = _finish_term

    def add_postings_to_pool(self, reader, startdoc, docmap):  # type: ignore[no-untyped-def]
        words_only = {name for name, field in self.schema.items() if not keeps_postings(field)}
        items = chain(_postings(reader, words_only), _analysed(self.schema, reader, words_only))
        add_post = self.pool.add
        for item in self._process_posts(items, startdoc, docmap):
            add_post(item)

    whoosh.writing.SegmentWriter.add_postings_to_pool = add_postings_to_pool
    field_writer._searchsvc_lexicon_only = True


def _postings(reader: Any, skip: set[str]) -> Iterator[tuple]:  # type: ignore[type-arg]
    """``reader.iter_postings()`` without the fields in ``skip`` (their words not walked)."""
    for fieldname in reader.indexed_field_names():
        if fieldname in skip:
            continue
        for btext in reader.lexicon(fieldname):
            m = reader.postings(fieldname, btext)
            while m.is_active():
                yield (fieldname, btext, m.id(), m.weight(), m.value())
                m.next()


def _analysed(schema: Any, reader: Any, fieldnames: set[str]) -> Iterator[tuple]:  # type: ignore[type-arg]
    """The postings of ``fieldnames`` from their stored values, analysed again."""
    for docnum, stored in reader.iter_docs():
        for fieldname in fieldnames:
            value = stored.get(fieldname)
            if value is None:
                continue
            for btext, _freq, weight, vbytes in schema[fieldname].index(value):
                yield (fieldname, btext, docnum, weight, vbytes)


def use_block_stored_fields() -> None:
    """Segments written from now on keep their stored fields in blocks of documents
    compressed with zstd; segments of either kind are read."""
    whoosh3.STORED_COLUMN = stored_fields_column()


def fork_writer_processes() -> None:
    """Whoosh's writer processes are forked, whatever the default start method (Python 3.14
    makes it ``forkserver`` on Linux): Whoosh hands each one its task by inheritance (a
    task holding the writer cannot be pickled: the build failed at once), and they must
    inherit this process's patches, its loaded dictionary and the die-with-the-parent hook
    of ``writing``."""
    fork = multiprocessing.get_context("fork")
    whoosh.multiproc.SubWriterTask._Popen = staticmethod(fork.Process._Popen)


def segment_folder(leaf: Any) -> str:
    """The directory of a segment reader's files. Whoosh keeps it only on the reader's
    storage (the second of an overlay, for a segment in a compound file)."""
    storage = leaf._storage
    return str(getattr(storage, "b", storage).folder)


def reader_version_key(reader: Any) -> tuple[object, ...] | None:
    """What identifies the version a reader reads: its folder, its TOC generation and its
    segments with their deletion counts (None when the reader does not say)."""
    try:
        leaves = [leaf for leaf, _offset in reader.leaf_readers()]
        folder = segment_folder(leaves[0]) if leaves else None
        generation = getattr(reader, "_gen", None) or getattr(leaves[0], "_gen", None)
        segments = tuple(
            (leaf.segment().segment_id(), leaf.segment().deleted_count()) for leaf in leaves
        )
    except (AttributeError, IndexError):
        return None
    return (folder, generation, segments) if folder and segments else None


def writer_processes(writer: Any) -> list[Any]:
    """The worker processes of a multi-process writer ([] for a single-process one)."""
    return list(getattr(writer, "tasks", ()))


def watch_job_queue(writer: Any, wrap: Callable[[Any, list[Any]], Any]) -> None:
    """Replace a multi-process writer's job queue by ``wrap(queue, processes)`` (nothing
    for a single-process writer)."""
    if hasattr(writer, "jobqueue"):
        writer.jobqueue = wrap(writer.jobqueue, writer.tasks)


def job_queue(writer: Any) -> Any:
    """A multi-process writer's job queue (as wrapped, if it was)."""
    return writer.jobqueue


def stored_fields_of(reader: Any, docnums: list[int]) -> list[dict[str, Any]]:
    """The stored fields of documents ``docnums`` (global numbers) of a Whoosh reader, in
    this order: ``reader.stored_fields(n)`` for each, read from its segment's per-document
    reader directly (ReaderClosed once the reader is closed, as Whoosh's)."""
    leaves = reader.leaf_readers()
    offsets = [offset for _leaf, offset in leaves]
    out = []
    for docnum in docnums:
        leaf, offset = leaves[bisect_right(offsets, docnum) - 1]
        if leaf.is_closed:
            raise ReaderClosed
        if not 0 <= docnum - offset < leaf.doc_count_all():
            raise IndexError(f"document {docnum} is not in the index")
        out.append(leaf._perdoc.stored_fields(docnum - offset))
    return out


def installed_version() -> tuple[int, ...]:
    return tuple(whoosh.__version__)
