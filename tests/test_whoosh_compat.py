"""The Whoosh internals searchsvc relies on (searchsvc/whoosh_compat.py) are still there.

These fail when Whoosh is upgraded or changes under us: then read whoosh_compat.py, check
each use against the new version, and update WHOOSH_VERSION."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from whoosh import fields
from whoosh import index as whoosh_index
from whoosh.codec import whoosh3
from whoosh.multiproc import MpWriter
from whoosh.reading import ReaderClosed
from whoosh.writing import NO_MERGE

from searchsvc import whoosh_compat
from searchsvc.indexing import current_version


def test_written_against_the_installed_whoosh():
    assert whoosh_compat.installed_version() == whoosh_compat.WHOOSH_VERSION


def test_the_length_column_cache_patch_replaces_the_method_it_was_written_for():
    whoosh_compat.patch_length_column_cache()
    assert whoosh3.W3PerDocReader._searchsvc_patched
    reader = whoosh3.W3PerDocReader.__init__
    assert "_readers" in inspect.getsource(reader)  # the cache the patch fills
    assert {"has_column", "column_reader"} <= set(dir(whoosh3.W3PerDocReader))


def test_segment_folder_and_version_key_read_a_real_index(seed_index: Path):
    version_dir = seed_index / current_version(seed_index)
    ix = whoosh_index.open_dir(str(version_dir))
    try:
        with ix.reader() as reader:
            leaves = [leaf for leaf, _offset in reader.leaf_readers()]
            assert Path(whoosh_compat.segment_folder(leaves[0])) == version_dir
            key = whoosh_compat.reader_version_key(reader)
            assert key is not None and key[0] == str(version_dir) and key[1] is not None
            assert key[2][0][0] == leaves[0].segment().segment_id()
    finally:
        ix.close()


def test_the_multi_process_writer_keeps_its_processes_and_job_queue():
    source = inspect.getsource(MpWriter.__init__)
    assert "self.tasks = []" in source and "self.jobqueue = Queue(" in source


def test_writers_collect_postings_in_the_compact_pool(tmp_path: Path):
    """use_compact_posting_pool replaces the class SegmentWriter looks up by name; the
    pool methods the writers call are the ones CompactPostingPool overrides."""
    import whoosh.writing
    from whoosh.fields import ID, Schema

    assert "PostingPool(" in inspect.getsource(whoosh.writing.SegmentWriter.__init__)
    import whoosh.multiproc

    used = inspect.getsource(whoosh.writing.SegmentWriter) + inspect.getsource(whoosh.multiproc)
    for call in ("pool.add", "pool.iter_postings", "pool.save", "pool.cleanup"):
        assert call in used, call
    whoosh_compat.use_compact_posting_pool()
    ix = whoosh_index.create_in(str(tmp_path), Schema(id=ID(stored=True)))
    writer = ix.writer()
    try:
        assert type(writer.pool) is whoosh_compat.CompactPostingPool
    finally:
        writer.cancel()


def test_the_codec_internals_the_lexicon_only_fields_and_stored_blocks_use():
    """use_lexicon_only_fields wraps the term writer's four steps and writes a term-table
    row itself; use_block_stored_fields replaces a module global the codec reads by name."""
    import whoosh.writing

    writer_source = inspect.getsource(whoosh3.W3FieldWriter)
    for name in ("def start_field", "def start_term", "def add(", "def finish_term",
                 "self._tindex.add(keybytes, valbytes)", "pack_ushort(self._fieldid)"):
        assert name in writer_source, name
    assert "def set_inlined" in inspect.getsource(whoosh3.W3TermInfo)
    assert "terminfo.is_inlined()" in inspect.getsource(whoosh3.W3Codec)
    merge = inspect.getsource(whoosh.writing.SegmentWriter.add_reader)
    assert "self.add_postings_to_pool(reader, basedoc, docmap)" in merge
    assert "def _process_posts" in inspect.getsource(whoosh.writing.SegmentWriter)
    for user in (whoosh3.W3PerDocWriter.__init__, whoosh3.W3PerDocWriter.finish_doc,
                 whoosh3.W3PerDocReader.stored_fields):
        assert "STORED_COLUMN" in inspect.getsource(user)


def test_the_writer_processes_are_multiprocessing_processes_started_by_fork():
    import multiprocessing

    import whoosh.multiproc

    whoosh_compat.fork_writer_processes()
    assert issubclass(whoosh.multiproc.SubWriterTask, multiprocessing.Process)
    assert "SubWriterTask(" in inspect.getsource(MpWriter)
    fork_popen = multiprocessing.get_context("fork").Process._Popen
    assert whoosh.multiproc.SubWriterTask._Popen is fork_popen


def test_stored_fields_of_reads_what_whoosh_reads_in_every_segment(tmp_path: Path):
    """Three segments (three commits, no merging): each document's fields as Whoosh's own
    ``stored_fields`` gives them, in the order asked; a closed reader and a number out of
    range are refused as Whoosh refuses them."""
    whoosh_compat.use_block_stored_fields()
    schema = fields.Schema(id=fields.ID(stored=True), text=fields.STORED)
    ix = whoosh_index.create_in(str(tmp_path), schema)
    for batch in range(3):
        with ix.writer() as writer:
            writer.mergetype = NO_MERGE
            for n in range(batch * 5 + 1):
                writer.add_document(id=f"{batch}-{n}", text=f"段落 {batch} {n}" * (n + 1))
    reader = ix.reader()
    try:
        assert len(reader.leaf_readers()) == 3
        order = [*range(reader.doc_count_all())][::-1] + [0, 7, 0]
        expected = [reader.stored_fields(n) for n in order]
        assert whoosh_compat.stored_fields_of(reader, order) == expected
        assert expected[0]["id"] == "2-10" and expected[-1]["id"] == "0-0"
        with pytest.raises(IndexError):
            whoosh_compat.stored_fields_of(reader, [reader.doc_count_all()])
    finally:
        reader.close()
    with pytest.raises(ReaderClosed):
        whoosh_compat.stored_fields_of(reader, [0])
    ix.close()
