"""The stored fields of a segment, compressed in blocks of documents with zstd.

Whoosh compresses each paragraph's stored fields on its own (zlib), so the fields every
paragraph repeats from its article (title, url, tags, source, date) are paid for again and
again, and a short paragraph hardly compresses: 115 MB for the whole corpus. Here
``BLOCK_DOCS`` consecutive documents (mostly paragraphs of one article) are compressed
together, with a dictionary trained on the segment's first documents: 34 MB, and reading
one document decompresses ~4 KB (about 6 µs, less than zlib's per-document inflate).

Layout of the column (within Whoosh's column file, from ``basepos``)::

    [dictionary][block 0][block 1]...[block offsets: uint64 LE x (blocks + 1)]
    [dictionary length: uint32 LE][blocks: uint32 LE][block docs: uint32 LE][MAGIC]

A block decompresses to the byte lengths of its documents (uint32 LE each) followed by
their values; each frame carries a checksum. Whoosh's own layout never ends in ``MAGIC``
(its last byte is an array type code), so columns written before are read by Whoosh's
reader, unchanged. A column that cannot be read (truncated, overwritten) is
``StoredFieldsDamaged``, of either layout, rather than whatever error the bytes cause.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import numpy as np
import zstandard
from whoosh import columns

MAGIC = b"SSZBLK\x01\x00"
BLOCK_DOCS = 8
LEVEL = 3
DICTIONARY_BYTES = 112 * 1024
TRAIN_DOCS = 8192  # documents the dictionary is trained on (the segment's first)
TRAIN_MIN_DOCS = 512  # below this a segment's blocks are compressed without a dictionary
_TRAILER = struct.Struct("<III")
# What reading damaged bytes raises here or in Whoosh's reader (struct, array, zlib, zstd).
_DAMAGE = (ValueError, struct.error, IndexError, EOFError, OverflowError, MemoryError,
           zstandard.ZstdError, zlib.error, OSError)


class StoredFieldsDamaged(Exception):
    """A segment's stored fields cannot be read: the version must be rebuilt."""

    def __init__(self, detail: object):
        super().__init__(
            f"the stored fields of a segment are damaged ({detail}): rebuild with "
            "`searchsvc build` (or go back with `searchsvc rollback`)"
        )


class BlockZstdColumn(columns.Column):
    """Variable-length byte values, ``BLOCK_DOCS`` documents per zstd frame; reads the
    per-document zlib layout of ``fallback`` too (segments written before)."""

    _default = b""

    def __init__(self, fallback: columns.Column | None = None) -> None:
        self.fallback = fallback or columns.CompressedBytesColumn()

    def writer(self, dbfile: Any) -> BlockZstdColumn.Writer:
        return self.Writer(dbfile)

    def reader(self, dbfile: Any, basepos: int, length: int, doccount: int) -> Any:
        try:
            if length >= len(MAGIC) and dbfile.get(basepos + length - len(MAGIC),
                                                   len(MAGIC)) == MAGIC:
                return self.Reader(dbfile, basepos, length, doccount)
            return _Guarded(self.fallback.reader(dbfile, basepos, length, doccount))
        except _DAMAGE as err:
            raise StoredFieldsDamaged(err) from err

    class Writer(columns.ColumnWriter):
        def __init__(self, dbfile: Any) -> None:
            self._dbfile = dbfile
            self._start = dbfile.tell()
            self._count = 0
            self._held: list[bytes] = []  # until the dictionary is trained, then one block
            self._compressor: zstandard.ZstdCompressor | None = None
            self._dictionary = b""
            self._offsets: list[int] = []

        def add(self, docnum: int, value: bytes) -> None:
            while self._count < docnum:  # documents without a value
                self._hold(b"")
            self._hold(value)

        def _hold(self, value: bytes) -> None:
            self._held.append(value)
            self._count += 1
            if self._compressor is None:
                if len(self._held) >= TRAIN_DOCS:
                    self._begin()
            elif len(self._held) == BLOCK_DOCS:
                self._write_block(self._held)
                self._held = []

        def _begin(self) -> None:
            """Train the dictionary on the documents held so far, write it, then their
            blocks."""
            held, self._held = self._held, []
            params: dict[str, Any] = {"level": LEVEL}
            if len(held) >= TRAIN_MIN_DOCS:
                samples = [b"".join(held[i:i + BLOCK_DOCS])
                           for i in range(0, len(held), BLOCK_DOCS)]
                try:
                    trained = zstandard.train_dictionary(DICTIONARY_BYTES, samples)
                except zstandard.ZstdError:  # too little or too uniform to learn from
                    trained = None
                if trained is not None:
                    self._dictionary = trained.as_bytes()
                    params["dict_data"] = trained
            self._compressor = zstandard.ZstdCompressor(write_checksum=True, **params)
            self._dbfile.write(self._dictionary)
            for i in range(0, len(held), BLOCK_DOCS):
                self._write_block(held[i:i + BLOCK_DOCS])

        def _write_block(self, values: list[bytes]) -> None:
            assert self._compressor is not None
            lengths = struct.pack(f"<{len(values)}I", *map(len, values))
            frame = self._compressor.compress(lengths + b"".join(values))
            self._offsets.append(self._dbfile.tell() - self._start)
            self._dbfile.write(frame)

        def finish(self, doccount: int) -> None:
            while self._count < doccount:
                self._hold(b"")
            if self._compressor is None:
                self._begin()
            elif self._held:
                self._write_block(self._held)
                self._held = []
            ends = [*self._offsets, self._dbfile.tell() - self._start]
            self._dbfile.write(np.asarray(ends, dtype="<u8").tobytes())
            blocks = len(self._offsets)
            self._dbfile.write(_TRAILER.pack(len(self._dictionary), blocks, BLOCK_DOCS))
            self._dbfile.write(MAGIC)

    class Reader(columns.ColumnReader):
        """One thread's reader (Whoosh readers are): it keeps the last block it read, so
        the paragraphs of one article, or a walk in document order, decompress it once."""

        def __init__(self, dbfile: Any, basepos: int, length: int, doccount: int) -> None:
            self._dbfile = dbfile
            self._frames = _mapped(dbfile)
            self._basepos = basepos
            self._doccount = doccount
            end = basepos + length - len(MAGIC)
            dict_len, blocks, self._block_docs = _TRAILER.unpack(
                dbfile.get(end - _TRAILER.size, _TRAILER.size))
            table = end - _TRAILER.size - 8 * (blocks + 1)
            self._ends = np.frombuffer(dbfile.get(table, 8 * (blocks + 1)), dtype="<u8")
            params: dict[str, Any] = {}
            if dict_len:
                params["dict_data"] = zstandard.ZstdCompressionDict(
                    dbfile.get(basepos, dict_len))
            self._decompressor = zstandard.ZstdDecompressor(**params)
            self._cached_block = -1
            self._cached: tuple[bytes, list[int]] = (b"", [])

        def __len__(self) -> int:
            return self._doccount

        def _block(self, number: int) -> tuple[bytes, list[int]]:
            """Block ``number`` decompressed, and where each of its documents starts (one
            more entry: where the last ends)."""
            if number != self._cached_block:
                start, end = int(self._ends[number]), int(self._ends[number + 1])
                count = min(self._block_docs, self._doccount - number * self._block_docs)
                try:
                    first, last = self._basepos + start, self._basepos + end
                    frame = (self._dbfile.get(first, last - first) if self._frames is None
                             else self._frames[first:last])
                    raw = self._decompressor.decompress(frame)
                    starts = [4 * count]
                    for size in struct.unpack_from(f"<{count}I", raw):
                        starts.append(starts[-1] + size)
                except _DAMAGE as err:
                    raise StoredFieldsDamaged(err) from err
                if starts[-1] != len(raw):
                    raise StoredFieldsDamaged(f"block {number} holds {len(raw)} bytes, "
                                              f"its documents {starts[-1]}")
                self._cached_block, self._cached = number, (raw, starts)
            return self._cached

        def __getitem__(self, docnum: int) -> bytes:
            if not 0 <= docnum < self._doccount:
                raise IndexError(f"document {docnum} of {self._doccount}")
            raw, starts = self._block(docnum // self._block_docs)
            i = docnum % self._block_docs
            return raw[starts[i]:starts[i + 1]]

        def __iter__(self) -> Iterator[bytes]:
            for number in range(len(self._ends) - 1):
                raw, starts = self._block(number)
                yield from (raw[a:b] for a, b in pairwise(starts))


def _mapped(dbfile: Any) -> memoryview | None:
    """The whole file behind ``dbfile``, mapped (a block is then a slice, not a seek and a
    read: ~4 µs less per hit), or None when it is not a plain file."""
    fileno = getattr(dbfile, "fileno", None)
    if fileno is None:
        return None
    try:
        return memoryview(mmap.mmap(fileno(), 0, access=mmap.ACCESS_READ))
    except (OSError, ValueError):  # not mappable (a pipe, an empty file): read it instead
        return None


class _Guarded:
    """Whoosh's reader of the older layout, with its errors on damaged bytes named."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def __len__(self) -> int:
        return len(self._reader)

    def __getitem__(self, docnum: int) -> bytes:
        if not 0 <= docnum < len(self._reader):
            raise IndexError(f"document {docnum} of {len(self._reader)}")
        try:
            return self._reader[docnum]
        except _DAMAGE as err:
            raise StoredFieldsDamaged(err) from err

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._reader
        except _DAMAGE as err:
            raise StoredFieldsDamaged(err) from err


def stored_fields_column() -> columns.Column:
    """The column Whoosh keeps each document's stored fields in (pickled, as before)."""
    return columns.PickleColumn(BlockZstdColumn())
