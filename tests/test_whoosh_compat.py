"""The Whoosh internals searchsvc relies on (searchsvc/whoosh_compat.py) are still there.

These fail when Whoosh is upgraded or changes under us: then read whoosh_compat.py, check
each use against the new version, and update WHOOSH_VERSION."""

from __future__ import annotations

import inspect
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.codec import whoosh3
from whoosh.multiproc import MpWriter

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
