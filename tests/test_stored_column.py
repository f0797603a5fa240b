"""Stored fields in blocks of documents compressed with zstd (searchsvc/stored_column.py):
what goes in comes out, by document number and in order, in segments of every size, next
to segments Whoosh wrote itself, and through merges."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SEEDS, assert_api_error
from whoosh import columns
from whoosh import index as whoosh_index
from whoosh.codec import whoosh3
from whoosh.fields import ID, STORED, Schema

from searchsvc import stored_column
from searchsvc.cli import main
from searchsvc.corpus import iter_articles
from searchsvc.indexing import article_documents, current_version, make_schema
from searchsvc.web import create_app

WHOOSH_STORED_COLUMN = columns.PickleColumn(columns.CompressedBytesColumn())


def _schema() -> Schema:
    return Schema(key=ID(stored=True), body=STORED(), extra=STORED(), hidden=ID())


def _documents(count: int, seed: int = 0) -> list[dict[str, object]]:
    rng = random.Random(seed)
    docs: list[dict[str, object]] = []
    for n in range(count):
        if n % 97 == 5:  # nothing stored at all
            docs.append({"hidden": f"h{n}"})
            continue
        doc: dict[str, object] = {"key": f"k{n}", "body": "新闻联播" * rng.randint(0, 40)}
        if n % 3 == 0:
            doc["extra"] = (n, rng.random(), ["标签", n % 7])
        docs.append(doc)
    return docs


def _stored_column_file(index_dir: Path) -> list[Path]:
    return sorted(index_dir.glob("*._stored.col"))


def _write(index_dir: Path, docs: list[dict[str, object]], schema: Schema | None = None):  # type: ignore[no-untyped-def]
    index_dir.mkdir(exist_ok=True)
    ix = whoosh_index.create_in(str(index_dir), schema or _schema())
    with ix.writer(compound=False) as writer:  # as searchsvc writes: a file per column
        for doc in docs:
            writer.add_document(**doc)
    return ix


def _canonical(docs) -> list[str]:  # type: ignore[no-untyped-def]
    """The documents, whatever the order of documents and of their fields."""
    return sorted(repr(sorted(doc.items())) for doc in docs)


def _expected(doc: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in doc.items() if k != "hidden"}


@pytest.mark.parametrize("count", [1, 7, 8, 9, 300, 600, 8192 + 13])
def test_every_document_reads_back_by_number_and_in_order(tmp_path: Path, count: int):
    """Sizes around a block, without a dictionary (< TRAIN_MIN_DOCS), with one trained at
    the end (< TRAIN_DOCS) and with one trained while writing (more documents)."""
    docs = _documents(count)
    ix = _write(tmp_path / "ix", docs)
    [column_file] = _stored_column_file(tmp_path / "ix")
    assert column_file.read_bytes().endswith(stored_column.MAGIC)
    with ix.reader() as reader:
        assert list(reader.all_stored_fields()) == [_expected(d) for d in docs]
        order = list(range(count))
        random.Random(1).shuffle(order)
        for n in order[:500]:
            assert reader.stored_fields(n) == _expected(docs[n])
        with pytest.raises(IndexError):
            reader.stored_fields(count)
    ix.close()


@pytest.mark.parametrize("compound", [False, True])
def test_blocks_read_from_the_mapped_file_or_through_whoosh_alike(tmp_path: Path, compound: bool):
    """A column in its own file is read through a mapping of the file; one inside a
    compound segment file (no file of its own) through Whoosh's reads: the same values."""
    docs = _documents(600)
    ix = whoosh_index.create_in(str(tmp_path), _schema())
    with ix.writer(compound=compound) as writer:
        for doc in docs:
            writer.add_document(**doc)
    with ix.reader() as reader:
        column = reader._perdoc._cached_reader("_stored", whoosh3.STORED_COLUMN)._child
        assert (column._frames is None) is compound
        order = list(range(len(docs)))
        random.Random(2).shuffle(order)
        assert [reader.stored_fields(n) for n in order] == [_expected(docs[n]) for n in order]
    ix.close()


def test_a_dictionary_is_trained_for_large_segments_only(tmp_path: Path):
    small = _write(tmp_path / "small", _documents(stored_column.TRAIN_MIN_DOCS - 1))
    large = _write(tmp_path / "large", _documents(stored_column.TRAIN_MIN_DOCS * 4))
    for ix, trained in ((small, False), (large, True)):
        [path] = _stored_column_file(Path(ix.storage.folder))
        data = path.read_bytes()
        trailer = data[-len(stored_column.MAGIC) - 12: -len(stored_column.MAGIC)]
        dictionary_bytes = int.from_bytes(trailer[:4], "little")
        assert (dictionary_bytes > 0) is trained
        ix.close()


def test_the_seed_paragraphs_take_less_than_half_of_whooshs_column(tmp_path: Path, monkeypatch):
    docs = [doc for article in iter_articles(SEEDS) for doc in article_documents(article)]
    assert len(docs) > 100
    ours = _write(tmp_path / "ours", docs, make_schema())
    with monkeypatch.context() as whoosh_own:
        whoosh_own.setattr(whoosh3, "STORED_COLUMN", WHOOSH_STORED_COLUMN)
        theirs = _write(tmp_path / "theirs", docs, make_schema())
    [ours_file], [theirs_file] = (_stored_column_file(Path(ix.storage.folder))
                                  for ix in (ours, theirs))
    assert not theirs_file.read_bytes().endswith(stored_column.MAGIC)
    assert ours_file.stat().st_size < 0.5 * theirs_file.stat().st_size
    with ours.reader() as a, theirs.reader() as b:
        assert list(a.all_stored_fields()) == list(b.all_stored_fields())
    ours.close()
    theirs.close()


def test_segments_whoosh_wrote_are_read_updated_and_merged(tmp_path: Path, monkeypatch):
    old_docs, new_docs = _documents(700, seed=1), _documents(900, seed=2)
    with monkeypatch.context() as whoosh_own:
        whoosh_own.setattr(whoosh3, "STORED_COLUMN", WHOOSH_STORED_COLUMN)
        _write(tmp_path / "ix", old_docs).close()
    ix = whoosh_index.open_dir(str(tmp_path / "ix"))
    with ix.writer(compound=False) as writer:  # a second segment, in blocks
        for doc in new_docs:
            writer.add_document(**doc)
    files = _stored_column_file(tmp_path / "ix")
    assert sorted(f.read_bytes().endswith(stored_column.MAGIC) for f in files) == [False, True]
    expected = [_expected(d) for d in old_docs + new_docs]
    with ix.reader() as reader:
        assert _canonical(reader.all_stored_fields()) == _canonical(expected)
    # One segment: every document read from both kinds and written in blocks.
    ix.writer(compound=False).commit(optimize=True)
    [merged] = _stored_column_file(tmp_path / "ix")
    assert merged.read_bytes().endswith(stored_column.MAGIC)
    with ix.reader() as reader:
        assert _canonical(reader.all_stored_fields()) == _canonical(expected)
    ix.close()


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[-100:]
    else:  # bytes overwritten inside the blocks (the dictionary is in front of them)
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
def test_damaged_stored_fields_are_a_clear_error(seed_index: Path, tmp_path: Path, how: str):
    """A version whose stored fields cannot be read answers like one whose literal index
    is damaged: 503 ``index_missing`` (page and API), the CLI exits 1 naming the fix; no
    500, no traceback."""
    copy = tmp_path / "copy"
    shutil.copytree(seed_index, copy)
    for path in (copy / current_version(copy)).glob("*._stored.col"):
        _damage(path, how)
    client = create_app({"INDEX_DIR": str(copy), "TESTING": True}).test_client()
    # Many hits: some of them sit in the damaged blocks.
    assert_api_error(client.get("/api/search?q=的&size=100"), 503, "index_missing")
    assert client.get("/?q=的&size=100").status_code == 503
    result = CliRunner().invoke(main, ["search", "的", "--index", str(copy), "--size", "100"])
    assert result.exit_code == 1, result.output
    assert "stored fields" in result.output and "searchsvc build" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
