"""The smaller, faster-to-write index (issue 14): the compact posting pool writes what
Whoosh's own pool writes, and versions of the previous format keep working.

Previous format: the jieba text field with frequencies and a length column, an
``article_hash`` stored on every paragraph, the paragraph id indexed, each paragraph's
stored fields compressed on their own, and int32 suffix arrays. Now: the text field holds
words and document frequencies only (Existence, not scorable), the hash lives in the
manifest only, the paragraph id is stored only, stored fields are compressed in blocks of
paragraphs (zstd), and the suffix arrays take three bytes per entry."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import whoosh.writing
from click.testing import CliRunner
from conftest import SEEDS, engine_of
from test_data_safety_lifecycle import _three_sources, article, articles, cli, hits, write
from whoosh import columns
from whoosh import index as whoosh_index
from whoosh.codec import whoosh3
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage

from searchsvc import indexing, writing
from searchsvc.analysis import JiebaWordSet, jieba_analyzer, search_words
from searchsvc.indexing import current_version
from searchsvc.lifecycle import build_from_articles
from searchsvc.literal_index import Packed24
from searchsvc.search import search
from searchsvc.stored_column import MAGIC
from searchsvc.whoosh_compat import CompactPostingPool

WHOOSH_POOL = CompactPostingPool.__mro__[1]  # whoosh.writing.PostingPool, as Whoosh has it
WHOOSH_STORED_COLUMN = columns.PickleColumn(columns.CompressedBytesColumn())  # Whoosh's own


def _index_contents(index_dir: Path) -> dict[str, object]:
    """Every field's terms with their documents, and every stored document, by paragraph id."""
    ix = whoosh_index.open_dir(str(index_dir / current_version(index_dir)))
    try:
        with ix.reader() as reader:
            ids = {n: f["id"] for n, f in enumerate(reader.all_stored_fields())}
            postings = {
                (field, term): sorted(ids[d] for d in reader.postings(field, term).all_ids())
                for field, term in reader.all_terms()
            }
            frequencies = {key: reader.doc_frequency(*key) for key in postings}
            stored = sorted(reader.all_stored_fields(), key=lambda f: f["id"])
    finally:
        ix.close()
    return {"postings": postings, "doc_frequency": frequencies, "stored": stored}


@pytest.mark.parametrize("processes", [False, True], ids=["one process", "writer processes"])
def test_the_compact_pool_writes_what_whooshs_pool_writes(
    tmp_path: Path, seed_articles, monkeypatch, processes: bool
):
    if processes:
        monkeypatch.setattr(writing, "MULTIPROCESS_MIN_PARAGRAPHS", 10)
    build_from_articles(seed_articles, tmp_path / "compact")
    monkeypatch.setattr(whoosh.writing, "PostingPool", WHOOSH_POOL)
    build_from_articles(seed_articles, tmp_path / "whoosh")
    compact, reference = _index_contents(tmp_path / "compact"), _index_contents(tmp_path / "whoosh")
    assert len(reference["postings"]) > 1000
    assert compact == reference


_SORT_THEN_BUILD = """
import sys
from pathlib import Path
import numpy as np
from searchsvc import literal_index, writing
from searchsvc.corpus import iter_articles
from searchsvc.lifecycle import build_from_articles
literal_index.divsufsort((np.arange(100_000, 0, -1) % 5000).astype(np.uint16))
writing.MULTIPROCESS_MIN_PARAGRAPHS = 10
build_from_articles(list(iter_articles(Path(sys.argv[1]))), Path(sys.argv[2]))
print("built")
"""


@pytest.mark.slow
def test_a_parallel_build_after_a_suffix_sort_in_the_same_process_finishes(tmp_path: Path):
    """Regression: libdivsufsort's OpenMP threads do not survive fork(); the processes of
    a build forked after a sort in the same process (tests, long-lived callers) waited
    forever at their first sort."""
    proc = subprocess.run(
        [sys.executable, "-c", _SORT_THEN_BUILD, str(SEEDS), str(tmp_path / "index")],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert proc.returncode == 0 and "built" in proc.stdout, proc.stderr[-2000:]


_BUILD_STARTING_PROCESSES_BY = """
import multiprocessing, sys
multiprocessing.set_start_method(sys.argv[3], force=True)
from pathlib import Path
from searchsvc import writing
from searchsvc.corpus import iter_articles
from searchsvc.lifecycle import build_from_articles
writing.MULTIPROCESS_MIN_PARAGRAPHS = 10
build_from_articles(list(iter_articles(Path(sys.argv[1]))), Path(sys.argv[2]))
print("built")
"""


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_a_parallel_build_forks_its_writers_whatever_the_default_start_method(
    tmp_path: Path, start_method: str
):
    """Regression: with another default start method (``forkserver`` is Python 3.14's
    on Linux) Whoosh's writer processes could not be started (their task cannot be
    pickled): every big build failed. Forked, they also write what this process's patches
    say (stored fields in blocks)."""
    index = tmp_path / "index"
    proc = subprocess.run(
        [sys.executable, "-c", _BUILD_STARTING_PROCESSES_BY, str(SEEDS), str(index),
         start_method],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert proc.returncode == 0 and "built" in proc.stdout, proc.stderr[-2000:]
    blocks = _stored_in_blocks(index / current_version(index))
    assert len(blocks) >= 2 and all(blocks)  # one segment per writer process


def test_the_compact_pool_keeps_whooshs_order_with_weights_and_runs(tmp_path: Path):
    """Plain postings (arrays) and weighted ones (Whoosh's tuples) come out merged in
    Whoosh's order, before and after spilling to runs (the multi-process writer's path),
    docnums that arrive out of order included."""
    rng = random.Random(14)
    items = set()
    for _ in range(3000):
        field = rng.choice(["article_id", "id", "text", "title"])
        term = rng.choice(["医院", "中心", "ecmo", "的", "x"]).encode() + bytes([rng.randrange(5)])
        docnum = rng.randrange(400)
        if rng.random() < 0.2:
            items.add((field, term, docnum, float(rng.randint(2, 5)), b"\x00\x01"))
        else:
            items.add((field, term, docnum, 1.0, b""))
    expected = sorted(items)
    shuffled = list(items)
    rng.shuffle(shuffled)
    for spill_after in (None, 1000):
        pool = CompactPostingPool(FileStorage(str(tmp_path)), None)
        for i, item in enumerate(shuffled):
            pool.add(item)
            if spill_after and i % spill_after == 0:
                pool.save()
        assert list(pool.iter_postings()) == expected, spill_after
        assert pool.fieldnames == {item[0] for item in items}
        pool.cleanup()


def _previous_schema() -> Schema:
    """The schema versions were written with before this change."""
    return Schema(
        id=ID(stored=True, unique=True), article_id=ID(stored=True), source=STORED(),
        paragraph=STORED(), kind=STORED(), title=STORED(), subtitle=STORED(),
        heading=STORED(), text=TEXT(analyzer=jieba_analyzer(), stored=True, phrase=False),
        date=STORED(), url=STORED(), tags=STORED(), article_hash=STORED(),
    )


def _with_hash(documents):  # type: ignore[no-untyped-def]
    def previous(article):  # type: ignore[no-untyped-def]
        for doc in documents(article):
            yield {**doc, "article_hash": article.content_hash}

    return previous


def _stored_in_blocks(version_dir: Path) -> list[bool]:
    """For each segment of the version: are its stored fields in zstd blocks?"""
    return [path.read_bytes().endswith(MAGIC) for path in version_dir.glob("*._stored.col")]


def _unpack_arrays(version_dir: Path) -> int:
    """Rewrite the version's suffix arrays as int32, as the previous format saved them."""
    rewritten = 0
    for path in version_dir.glob("*.sub_*sa*.npy"):
        values = np.load(path)
        if values.dtype == np.uint8:
            np.save(path, Packed24(values).all().copy())
            rewritten += 1
    return rewritten


def test_a_version_of_the_previous_format_answers_updates_and_rebuilds(
    tmp_path: Path, monkeypatch
):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    seeds.mkdir()
    runner = CliRunner()
    _three_sources(seeds)
    with monkeypatch.context() as old:
        old.setattr(writing, "make_schema", _previous_schema)
        old.setattr(writing, "article_documents", _with_hash(indexing.article_documents))
        old.setattr(whoosh3, "STORED_COLUMN", WHOOSH_STORED_COLUMN)
        assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    v1 = index / current_version(index)
    assert "article_hash" in whoosh_index.open_dir(str(v1)).schema.names()
    assert _stored_in_blocks(v1) == [False]
    assert _unpack_arrays(v1) >= 2
    assert hits(index, "甲乙号") == [("a2-p1", "a.jsonl"), ("a2-p2", "a.jsonl")]
    # An update writes a new segment on the old schema (with the new array format).
    write(seeds / "b.jsonl", article("b1", "乙方号"), article("b2", "丙方号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    assert hits(index, "丙方号") == [("b2-p1", "b.jsonl"), ("b2-p2", "b.jsonl")]
    assert hits(index, "甲乙号") == [("a2-p1", "a.jsonl"), ("a2-p2", "a.jsonl")]
    assert sorted(_stored_in_blocks(index / current_version(index))) == [False, True]
    # A dictionary change rebuilds on the new schema, carrying the articles of a source
    # unreadable right now from the old version (their stored article_hash is dropped).
    (seeds / "a.jsonl").write_bytes(b"\xff\xfe\x00\x00binary\x00" * 20)
    (seeds / "userdict.txt").write_text("乙方号 100 n\n", encoding="utf-8")
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 3, result.output
    rebuilt = index / current_version(index)
    schema = whoosh_index.open_dir(str(rebuilt)).schema
    assert "article_hash" not in schema.names() and not schema["id"].indexed
    assert _stored_in_blocks(rebuilt) == [True]
    assert set(articles(index)) == {"a1", "a2", "b1", "b2", "page-1"}
    assert hits(index, "甲乙号") == [("a2-p1", "a.jsonl"), ("a2-p2", "a.jsonl")]
    with engine_of(index) as engine:
        assert search(engine, "乙方号").total == 2


# --- the jieba words: a lexicon without postings -----------------------------------------


def _lexicon(ix) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with ix.reader() as reader:
        return {t.decode(): reader.doc_frequency("text", t) for t in reader.lexicon("text")}


def _words_of_stored_text(ix) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """What the lexicon must hold: each live paragraph's distinct words, counted."""
    counts: Counter[str] = Counter()
    with ix.reader() as reader:
        for fields in reader.all_stored_fields():
            counts.update(set(search_words(fields["text"])))
    return dict(counts)


def _write_segments(index_dir: Path, batches) -> whoosh_index.Index:  # type: ignore[no-untyped-def]
    index_dir.mkdir()
    ix = whoosh_index.create_in(str(index_dir), indexing.make_schema())
    for batch in batches:
        with ix.writer(compound=False, mergetype=whoosh.writing.NO_MERGE) as writer:
            for article_ in batch:
                for doc in indexing.article_documents(article_):
                    writer.add_document(**doc)
    return ix


def test_the_jieba_words_keep_words_and_frequencies_without_postings(
    tmp_path: Path, seed_articles, monkeypatch
):
    ix = _write_segments(tmp_path / "words", [seed_articles])
    lexicon = _lexicon(ix)
    assert len(lexicon) > 1000 and lexicon == _words_of_stored_text(ix)
    with ix.reader() as reader:
        assert not any(reader.postings("text", w.encode()).is_active() for w in lexicon)
        article_id = seed_articles[0].id
        assert len(list(reader.postings("article_id", article_id.encode()).all_ids())) == len(
            seed_articles[0].paragraphs)  # the article ids keep theirs
    with monkeypatch.context() as with_postings:
        with_postings.setattr(JiebaWordSet, "postings", True)
        reference = _write_segments(tmp_path / "postings", [seed_articles])
        assert _lexicon(reference) == lexicon
    [words_only], [postings] = ([p.stat().st_size for p in Path(i.storage.folder).glob("*.pst")]
                                for i in (ix, reference))
    assert words_only < 0.1 * postings
    ix.close()
    reference.close()


@pytest.mark.parametrize("first_with_postings", [False, True])
def test_merged_segments_find_their_words_again(
    tmp_path: Path, seed_articles, monkeypatch, first_with_postings: bool
):
    """A merge reads no postings for the jieba words: it analyses the stored text again,
    leaving out deleted paragraphs; a segment written with postings (before) merges too."""
    batches = [seed_articles[:3], seed_articles[3:6], seed_articles[6:]]
    with monkeypatch.context() as before:
        if first_with_postings:
            before.setattr(JiebaWordSet, "postings", True)
        ix = _write_segments(tmp_path / "ix", batches[:1])
    with ix.writer(compound=False, mergetype=whoosh.writing.NO_MERGE) as writer:
        for article_ in batches[1] + batches[2]:
            for doc in indexing.article_documents(article_):
                writer.add_document(**doc)
    with ix.writer(compound=False, mergetype=whoosh.writing.NO_MERGE) as writer:
        writer.delete_by_term("article_id", seed_articles[1].id)
    unmerged = _lexicon(ix)
    ix.writer(compound=False).commit(optimize=True)
    with ix.reader() as reader:
        assert len(reader.leaf_readers()) == 1
    merged = _lexicon(ix)
    assert merged == _words_of_stored_text(ix)
    with ix.reader() as reader:  # the article ids keep their postings through the merge
        for article_ in seed_articles[:1] + seed_articles[2:]:
            found = list(reader.postings("article_id", article_.id.encode()).all_ids())
            assert len(found) == len(article_.paragraphs), article_.id
    gone = set(search_words("".join(p.text for p in seed_articles[1].paragraphs)))
    assert merged != unmerged and any(w not in merged for w in gone)
    ix.close()
