"""Literal matching over per-segment suffix arrays (searchsvc.literal_index), against brute force.

Every test builds a real Whoosh index (real jieba, real lifecycle) and compares what the
suffix arrays answer with a plain scan of the stored paragraphs: a literal occurs in a
paragraph iff its squeezed form is a substring of the squeezed stored text (or, for
``occurs`` and query matching, of the squeezed title + subtitle + heading).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_api_error, engine_of
from whoosh import index as whoosh_index

from searchsvc import ranking
from searchsvc.analysis import squeeze_text
from searchsvc.cli import main
from searchsvc.corpus import Article, Paragraph
from searchsvc.engine import EmbeddedEngine
from searchsvc.indexing import current_version
from searchsvc.lifecycle import build_from_articles, sync
from searchsvc.literal_index import (
    META,
    LiteralIndexMissing,
    Packed24,
    SegmentSubstrings,
    SuffixSearch,
    VersionSubstrings,
    _runs,
    _suffix_array,
    build_arrays,
    distinct_counts,
    distinct_values,
    ensure_saved,
    pack24,
)
from searchsvc.query import Filters, parse_query
from searchsvc.ranking import _kth_smallest, count_overlapping, match_spec, rank
from searchsvc.search import search
from searchsvc.web import create_app

PACKED_NAMES = ("sa", "ctx_sa", "sa_doc", "ctx_sa_ctx")
ARRAY_NAMES = (
    "text", "sa", "sa_doc", "doc_len",
    "ctx_text", "ctx_sa", "ctx_sa_ctx", "doc_ctx",
    "doc_article", "doc_source", "doc_date",
)

# A small vocabulary, so that literals repeat across paragraphs (many suffixes share long
# prefixes), mixing CJK, Traditional forms (醫 → 医), ASCII in both cases, full-width forms
# (ＥＣＭＯ, １２), characters outside the BMP (surrogate pairs in UTF-16: 𠀀 U+20000,
# 𪚥 U+2A6A5), a BMP ideograph above the surrogate range (﨑 U+FA11: code-unit order differs
# from code-point order), and characters NFKC expands (ß → ss, ½ → 12, 𝐀 → a).
WORDS = [
    "医院", "醫院", "急救", "中心", "救治", "患者", "的", "ECMO", "ＥＣＭＯ", "ecmo", "Ecmo",
    "Ab", "aB", "x", "X", "12", "１２", "2024年", "𠀀", "𪚥", "𠀀𪚥", "﨑", "﨑𠀀", "ß", "½", "𝐀",
]
PUNCT = ["，", "。", "！", "—", "（", "）", " ", "《", "》", "-", "…", "、", "\u3000"]

TITLE_ONLY = "题眼甲乙"
SUBTITLE_ONLY = "副题丙丁"
HEADING_ONLY = "章节戊己"


def _paragraph(rng: random.Random, low: int = 3, high: int = 12) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(low, high)):
        parts.append(rng.choice(WORDS))
        if rng.random() < 0.4:
            parts.append(rng.choice(PUNCT))
    return "".join(parts)


def _corpus() -> list[Article]:
    rng = random.Random(20240501)
    articles = []
    for i in range(30):
        heading = rng.choice([None, None, "分节" + rng.choice(WORDS)])
        texts = [_paragraph(rng) for _ in range(rng.randint(1, 4))]
        articles.append(Article(
            id=f"art{i}",
            source=f"src{i % 3}.txt",
            title=f"第{i}篇" + rng.choice(WORDS),
            paragraphs=tuple(Paragraph(n, t, heading) for n, t in enumerate(texts, start=1)),
            subtitle=rng.choice([None, "小标" + rng.choice(WORDS)]),
            date=rng.choice([None, "2023-12-31", "2024-01-05", "2024-06-30"]),
        ))
    # Title, subtitle and heading literals found in no paragraph text.
    articles.append(Article(
        id="ctx", source="src0.txt", title=f"{TITLE_ONLY} Title", subtitle=SUBTITLE_ONLY,
        paragraphs=(Paragraph(1, "医院ECMO", HEADING_ONLY), Paragraph(2, "患者x𪚥𠀀", None)),
    ))
    # A paragraph that squeezes to nothing, between two that do not.
    articles.append(Article(
        id="punct", source="src1.txt", title="标点",
        paragraphs=(Paragraph(1, "ab𠀀", None), Paragraph(2, "——。…", None),
                    Paragraph(3, "𪚥ab", None)),
    ))
    return articles


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("literal-index")
    build_from_articles(_corpus(), index_dir)
    return index_dir


@contextmanager
def opened(index_dir: Path) -> Iterator[EmbeddedEngine]:
    with engine_of(index_dir) as s:
        yield s


# --- brute force --------------------------------------------------------------------------


def _context(fields: dict) -> str:
    parts = (fields.get("title"), fields.get("subtitle"), fields.get("heading"))
    return squeeze_text("\n".join(str(p) for p in parts if p))


def live_fields(s) -> dict[int, dict]:
    """Stored fields of every live document, by global document number."""
    return {n: s.searcher.stored_fields(n) for n in s.searcher.reader().all_doc_ids()}


def squeezed(s) -> tuple[dict[int, str], dict[int, str]]:
    """Squeezed text and squeezed context of every live document."""
    fields = live_fields(s)
    texts = {n: squeeze_text(str(f.get("text") or "")) for n, f in fields.items()}
    return texts, {n: _context(f) for n, f in fields.items()}


def overlapping_brute(text: str, literal: str) -> int:
    count, start = 0, text.find(literal)
    while start != -1:
        count += 1
        start = text.find(literal, start + 1)
    return count


def substrings_of(text: str, lengths: range) -> set[str]:
    return {text[i : i + n] for n in lengths for i in range(len(text) - n + 1)}


def matching(texts: dict[int, str], contexts: dict[int, str], literal: str) -> set[int]:
    """Documents a keyword matches: literal in the text or in the title/heading."""
    return {n for n in texts if literal in texts[n] or literal in contexts[n]}


ABSENT = [
    "不存在的词", "zzzz", "𠀁", "𪚦", "𠀀𠀀𠀀𠀀𠀀𠀀𠀀", "医院医院医院医院医院医院",
    "ecmoecmoecmoecmoecmo", "﨑﨑﨑﨑﨑", "题眼甲乙丙", "q", "零q", "中心中心中心中心中心中心",
]


# --- 1. exactness ---------------------------------------------------------------------------


def test_documents_with_and_occurrences_equal_brute_force(corpus_index: Path):
    with opened(corpus_index) as s:
        subs = s.literals
        texts, _contexts = squeezed(s)
        assert subs.documents == len(texts) == s.searcher.doc_count()
        literals: set[str] = set(ABSENT) | set(WORDS)
        for text in texts.values():
            literals |= substrings_of(text, range(1, 7))
            literals.add(text)  # whole paragraphs, up to their separators
        order = sorted(texts)
        for a, b in zip(order, order[1:], strict=False):
            # Straddling the separator between consecutive documents: never a match
            # unless some paragraph really holds it.
            literals.add(texts[a][-2:] + texts[b][:2])
            literals.add(texts[a][-1:] + texts[b][:1])
        checked = multi = absent = 0
        for raw in sorted(literals):
            literal = squeeze_text(raw)
            if not literal:
                continue
            expected = {n for n, t in texts.items() if literal in t}
            assert subs.documents_with(literal) == expected, raw
            total = sum(overlapping_brute(t, literal) for t in texts.values())
            assert subs.occurrences(literal) == total, raw
            checked += 1
            multi += len(expected) > 1
            absent += not expected
        # The comparison covered plenty of shared and of absent literals.
        assert checked > 2000 and multi > 300 and absent >= 10


@pytest.mark.parametrize(
    "raw",
    ["𠀀", "𪚥", "𠀀𪚥", "𪚥𠀀", "﨑", "﨑𠀀", "ＥＣＭＯ", "ecmo", "ECMO", "醫院", "医院", "ß",
     "ss", "½", "１２", "𝐀", "ab", "2024年", "𠀀ab"],
)
def test_normalised_and_surrogate_literals(corpus_index: Path, raw: str):
    with opened(corpus_index) as s:
        subs = s.literals
        texts, _contexts = squeezed(s)
        literal = squeeze_text(raw)
        expected = {n for n, t in texts.items() if literal in t}
        assert expected, f"{raw!r} should occur in the corpus"
        assert subs.documents_with(literal) == expected
        assert subs.occurrences(literal) == sum(
            overlapping_brute(t, literal) for t in texts.values()
        )


def test_empty_literal_matches_nothing(corpus_index: Path):
    with opened(corpus_index) as s:
        subs = s.literals
        assert subs.documents_with("") == set()
        assert subs.occurrences("") == 0
        assert not subs.occurs("")


# --- 2. titles, subtitles, headings ---------------------------------------------------------


def test_occurs_in_title_subtitle_and_heading_only(corpus_index: Path):
    with opened(corpus_index) as s:
        subs = s.literals
        texts, contexts = squeezed(s)
        for raw in (TITLE_ONLY, SUBTITLE_ONLY, HEADING_ONLY, "题眼", "丙丁", "戊", "title"):
            literal = squeeze_text(raw)
            assert not any(literal in t for t in texts.values()), raw
            assert any(literal in c for c in contexts.values()), raw
            assert subs.occurs(literal), raw
            assert subs.documents_with(literal) == set(), raw  # text only
            assert subs.occurrences(literal) == 0, raw
        for raw in ABSENT:
            assert not subs.occurs(squeeze_text(raw)), raw
        assert subs.occurs("ecmo") and subs.occurs("𠀀𪚥")


def test_occurs_equals_brute_force_over_texts_and_contexts(corpus_index: Path):
    with opened(corpus_index) as s:
        subs = s.literals
        texts, contexts = squeezed(s)
        literals = set(ABSENT)
        for c in set(contexts.values()):
            literals |= substrings_of(c, range(1, 5))
        for t in list(texts.values())[:10]:
            literals |= substrings_of(t, range(2, 4))
        for literal in sorted(literals):
            expected = bool(matching(texts, contexts, literal))
            assert subs.occurs(literal) == expected, literal


def test_quoted_title_literal_finds_every_paragraph_of_its_article(corpus_index: Path):
    with opened(corpus_index) as s:
        for raw, count in ((TITLE_ONLY, 2), (SUBTITLE_ONLY, 2), (HEADING_ONLY, 1)):
            result = search(s, f'"{raw}"', size=100, time_budget=60)
            assert result.matched_all and result.total == count, raw
            assert {h.article_id for h in result.hits} == {"ctx"}


# --- 3. deletions -------------------------------------------------------------------------

STEMS = "甲乙丙丁戊己庚辛壬癸"
BRANCHES = "子丑寅卯辰巳午未申酉"


def _marker(i: int) -> str:
    return f"记号{STEMS[i % 10]}{BRANCHES[i // 10]}"


def _title_marker(i: int) -> str:
    return f"题{BRANCHES[i // 10]}{STEMS[i % 10]}号"


def _feed(ids: list[int], rng_seed: int, changed: dict[int, str] | None = None) -> str:
    """JSONL articles; article ``i`` holds its marker in paragraph 2 and in its title."""
    lines = []
    for i in ids:
        rng = random.Random(rng_seed * 1000 + i)
        paras = [_paragraph(rng) for _ in range(3)]
        paras[1] = (changed or {}).get(i, _marker(i)) + "，" + paras[1]
        lines.append(json.dumps(
            {"id": f"feed-{i}", "title": _title_marker(i), "text": "\n".join(paras),
             "date": "2024-05-01"},
            ensure_ascii=False,
        ))
    return "\n".join(lines) + "\n"


def _assert_view_matches_brute_force(s) -> None:
    subs = s.literals
    texts, contexts = squeezed(s)
    assert subs.documents == len(texts)
    literals = set(ABSENT) | {squeeze_text(w) for w in WORDS}
    literals |= {_marker(i) for i in range(30)} | {_title_marker(i) for i in range(30)}
    for t in texts.values():
        literals |= substrings_of(t, range(3, 5))
    for c in set(contexts.values()):
        literals |= substrings_of(c, range(1, 4))
    for literal in sorted(literals):
        in_text = {n for n, t in texts.items() if literal in t}
        assert subs.documents_with(literal) == in_text, literal
        expected = matching(texts, contexts, literal)
        assert subs.occurs(literal) == bool(expected), literal
        ranked = rank(subs, match_spec(parse_query(f'"{literal}"')), 10_000)
        assert ranked.total == len(expected), literal
        assert {n for n, _ in ranked.hits} == expected, literal
    for literal in {_marker(i) for i in range(30)} | {squeeze_text(w) for w in WORDS}:
        result = search(s, f'"{literal}"', size=100, time_budget=60)
        assert result.total == len(matching(texts, contexts, literal)), literal
    # Names shared across segments: sources (filter) and articles (grouping).
    fields = live_fields(s)
    for word in WORDS[:8]:
        expected = matching(texts, contexts, squeeze_text(word))
        per_article = Counter(fields[n]["article_id"] for n in expected)
        spec = match_spec(parse_query(word))
        grouped = rank(subs, spec, 10_000, group=True)
        assert grouped.total == sum(min(c, 2) for c in per_article.values()), word
        assert grouped.collapsed == {a: c - 2 for a, c in per_article.items() if c > 2}, word
        for source in {f["source"] for f in fields.values()}:
            wanted = {n for n in expected if fields[n]["source"] == source}
            ranked = rank(subs, spec, 10_000, filters=Filters(source=source))
            assert {n for n, _ in ranked.hits} == wanted and ranked.total == len(wanted), word


def test_deleted_articles_no_longer_match(tmp_path: Path):
    seeds, index_dir = tmp_path / "seeds", tmp_path / "index"
    (seeds / "feeds").mkdir(parents=True)
    feed_a, feed_b = seeds / "feeds" / "a.jsonl", seeds / "feeds" / "b.jsonl"
    feed_a.write_text(_feed(list(range(0, 14)), 1), encoding="utf-8")
    feed_b.write_text(_feed(list(range(20, 26)), 2), encoding="utf-8")
    assert sync(seeds, index_dir).switched
    with opened(index_dir) as s:
        assert search(s, f'"{_marker(3)}"', time_budget=60).total == 1
        _assert_view_matches_brute_force(s)

    # Remove articles 3 and 9, change article 5's marker, add article 14.
    kept = [i for i in range(0, 15) if i not in (3, 9)]
    feed_a.write_text(_feed(kept, 1, changed={5: "改后记号"}), encoding="utf-8")
    summary = sync(seeds, index_dir)
    assert (summary.added, summary.updated, summary.deleted) == (1, 1, 2)
    with opened(index_dir) as s:
        leaves = [leaf for leaf, _offset in s.searcher.reader().leaf_readers()]
        assert len(leaves) >= 2 and any(leaf.has_deletions() for leaf in leaves)
        subs = s.literals
        for gone in (_marker(3), _marker(9), _title_marker(3), _title_marker(9), _marker(5)):
            assert subs.documents_with(gone) == set(), gone
            assert not subs.occurs(gone), gone
            result = search(s, f'"{gone}"', size=100, time_budget=60)
            assert result.total == 0 and result.hits == [], gone
            assert search(s, f"{gone} 医院", time_budget=60).matched_all is False
        # Article 5's title is unchanged: its three paragraphs still match by title.
        assert {h.id for h in search(s, f'"{_title_marker(5)}"', time_budget=60).hits} == {
            "feed-5-p1", "feed-5-p2", "feed-5-p3"}
        assert [h.id for h in search(s, '"改后记号"', time_budget=60).hits] == ["feed-5-p2"]
        assert [h.id for h in search(s, f'"{_marker(14)}"', time_budget=60).hits] == [
            "feed-14-p2"]
        _assert_view_matches_brute_force(s)

    # A deletion-only update: a whole feed goes; no new segment is written.
    feed_b.unlink()
    summary = sync(seeds, index_dir)
    assert summary.deleted == 6 and summary.added == 0
    with opened(index_dir) as s:
        assert len(s.searcher.reader().leaf_readers()) == len(leaves)
        subs = s.literals
        assert not subs.occurs(_marker(22)) and not subs.occurs(_title_marker(22))
        assert search(s, f'"{_marker(22)}"', time_budget=60).total == 0
        assert subs.documents == s.searcher.doc_count() == 3 * 13
        _assert_view_matches_brute_force(s)


# --- 4. saved arrays ------------------------------------------------------------------------


def _assert_saved_arrays_complete(version_dir: Path) -> None:
    ix = whoosh_index.open_dir(str(version_dir))
    try:
        with ix.reader() as reader:
            leaves = [leaf for leaf, _offset in reader.leaf_readers()]
            segment_ids = {leaf.segment().segment_id() for leaf in leaves}
            for leaf in leaves:
                segment_id = leaf.segment().segment_id()
                assert (version_dir / f"{segment_id}.{META}").is_file()
                for name in ARRAY_NAMES:
                    assert (version_dir / f"{segment_id}.sub_{name}.npy").is_file(), name
                loaded = SegmentSubstrings.load(version_dir, segment_id)
                built = SegmentSubstrings.from_reader(leaf)
                assert loaded is not None
                assert loaded.size == built.size == leaf.doc_count_all()
                for name in ARRAY_NAMES:
                    saved, fresh = getattr(loaded, name), getattr(built, name)
                    assert isinstance(saved.base, np.memmap), name  # mapped, not read in
                    if name in PACKED_NAMES:  # small segments: three bytes per entry
                        assert saved.dtype == np.uint8 and fresh.dtype == np.int32, name
                        assert len(saved) == 3 * len(fresh) + 1, name
                        saved = Packed24(saved).all()
                    assert saved.dtype == fresh.dtype, name
                    assert np.array_equal(saved, fresh), name
                assert loaded.articles == built.articles
                assert loaded.sources == built.sources
    finally:
        ix.close()
    # No arrays left behind by segments Whoosh has merged away.
    for path in version_dir.glob("*.sub_*"):
        assert path.name.split(".", 1)[0] in segment_ids, path.name


def test_build_saves_arrays_equal_to_in_memory_ones(corpus_index: Path):
    version_dir = corpus_index / current_version(corpus_index)
    _assert_saved_arrays_complete(version_dir)
    with opened(corpus_index) as s:
        (leaf, _offset), = s.searcher.reader().leaf_readers()
        built = SegmentSubstrings.from_reader(leaf)
        # The arrays describe what the segment stores, document by document.
        assert built.size == s.searcher.doc_count_all() == sum(len(a.paragraphs) for a in _corpus())
        for n in range(built.size):
            fields = s.searcher.stored_fields(n)
            assert built.doc_len[n] == len(squeeze_text(fields["text"]).encode("utf-16-be")) // 2
            assert built.articles[built.doc_article[n]] == fields["article_id"]
            assert built.sources[built.doc_source[n]] == fields["source"]
            date = fields.get("date")
            assert built.doc_date[n] == (int(date.replace("-", "")) if date else 0)
        assert SegmentSubstrings.load(version_dir, "no-such-segment") is None


def test_updates_and_merges_keep_arrays_complete(tmp_path: Path):
    """Every update adds a segment; the sixth small one makes Whoosh merge the small ones.
    Each version must hold complete arrays for exactly its segments."""
    seeds, index_dir = tmp_path / "seeds", tmp_path / "index"
    (seeds / "feeds").mkdir(parents=True)
    counts = []
    for step in range(7):
        (seeds / "feeds" / f"f{step}.jsonl").write_text(_feed([step], 3), encoding="utf-8")
        if step == 3:
            (seeds / "feeds" / "f1.jsonl").unlink()  # a deletion in an older segment
        assert sync(seeds, index_dir).switched
        version_dir = index_dir / current_version(index_dir)
        _assert_saved_arrays_complete(version_dir)
        with opened(index_dir) as s:
            counts.append(len(s.searcher.reader().leaf_readers()))
            _assert_view_matches_brute_force(s)
            assert s.literals.occurs(_marker(1)) == (1 <= step < 3)
    assert max(counts) >= 5 and counts[-1] < max(counts), counts  # a merge happened


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_version_without_usable_arrays_is_a_clear_error_until_rewritten(
    corpus_index: Path, tmp_path: Path, damage: str
):
    """Every version is written with its arrays and verified: arrays missing or damaged
    later are an error that names the fix (no silent rebuild in memory, issue 13.2), for
    the API (503, the error shape) and the CLI (exit 1, no traceback); ``ensure_saved``
    (what every write runs) writes them again, and the answers are the same."""
    copy = tmp_path / "copy"
    shutil.copytree(corpus_index, copy)
    version_dir = copy / current_version(copy)
    saved = sorted(version_dir.glob("*.sub_*"))
    assert saved
    for path in saved:
        if damage == "missing":
            path.unlink()
        elif path.suffix == ".npy":
            path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(LiteralIndexMissing, match="searchsvc build"):
        with opened(copy):
            pass
    client = create_app({"INDEX_DIR": str(copy), "TESTING": True}).test_client()
    assert_api_error(client.get("/api/search?q=医院"), 503, "index_missing")
    assert client.get("/?q=医院").status_code == 503
    result = CliRunner().invoke(main, ["search", "医院", "--index", str(copy)])
    assert result.exit_code == 1 and "searchsvc build" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    ix = whoosh_index.open_dir(str(version_dir))
    try:
        with ix.reader() as reader:
            assert ensure_saved(version_dir, (leaf for leaf, _ in reader.leaf_readers())) == 1
            assert ensure_saved(version_dir, (leaf for leaf, _ in reader.leaf_readers())) == 0
    finally:
        ix.close()
    assert sorted(version_dir.glob("*.sub_*")) == saved
    _assert_saved_arrays_complete(version_dir)
    with opened(corpus_index) as s:
        reference = s.literals
    with opened(copy) as s:
        for raw in [*WORDS, *ABSENT, TITLE_ONLY]:
            literal = squeeze_text(raw)
            assert s.literals.documents_with(literal) == reference.documents_with(literal), raw


# --- 5. query totals ------------------------------------------------------------------------

QUERY_WORDS = [
    "医院", "醫院", "ECMO", "ＥＣＭＯ", "ecmo", "𠀀", "𪚥", "𠀀𪚥", "﨑", "12", "１２", "ab", "AB",
    "中心", "救治", "急救", "x", "ß", "ss", "𝐀", "2024年", "第1篇", "小标", "分节", "题眼",
    "患者x", "Ecmo医院", "医院ECMO", "不存在",
]


def _random_query(rng: random.Random) -> tuple[str, list[list[str]], list[str]]:
    groups = [rng.sample(QUERY_WORDS, rng.choice([1, 1, 2])) for _ in range(rng.randint(1, 3))]
    excluded = rng.sample(QUERY_WORDS, rng.choice([0, 0, 1, 2]))
    text = " ".join(
        [" OR ".join(g) for g in groups] + ["-" + w for w in excluded]
    )
    return text, groups, excluded


def _expected(texts, contexts, groups, excluded) -> set[int]:
    found = set(texts)
    for group in groups:
        found &= set().union(*(matching(texts, contexts, squeeze_text(w)) for w in group))
    for word in excluded:
        found -= matching(texts, contexts, squeeze_text(word))
    return found


def test_and_or_exclusion_totals_equal_brute_force(corpus_index: Path):
    rng = random.Random(7)
    queries = [_random_query(rng) for _ in range(150)]
    queries += [
        ("医院 ECMO", [["医院"], ["ECMO"]], []),
        ("醫院 OR 𠀀", [["醫院", "𠀀"]], []),
        ("ＥＣＭＯ -医院", [["ＥＣＭＯ"]], ["医院"]),
        ("𠀀 | 𪚥 -﨑", [["𠀀", "𪚥"]], ["﨑"]),
        ("题眼 医院", [["题眼"], ["医院"]], []),
        ("ecmo -题眼", [["ecmo"]], ["题眼"]),
        ('"医院 ECMO"', [["医院ECMO"]], []),
    ]
    nonzero = 0
    with opened(corpus_index) as s:
        subs = s.literals
        texts, contexts = squeezed(s)
        article_of = {n: f["article_id"] for n, f in live_fields(s).items()}
        id_of = {n: f["id"] for n, f in live_fields(s).items()}
        for query, groups, excluded in queries:
            expected = _expected(texts, contexts, groups, excluded)
            ranked = rank(subs, match_spec(parse_query(query)), 10_000)
            assert ranked.total == len(expected), query
            assert {n for n, _ in ranked.hits} == expected, query
            result = search(s, query, size=100, time_budget=60)
            if not expected:
                assert result.total == 0 or not result.matched_all, query
                continue
            nonzero += 1
            assert result.matched_all and not result.partial, query
            assert result.total == len(expected), query
            assert {h.id for h in result.hits} == {id_of[n] for n in expected}, query
            per_article = Counter(article_of[n] for n in expected)
            grouped = search(s, query, size=100, time_budget=60, group=True)
            assert grouped.total == sum(min(c, 2) for c in per_article.values()), query
            for hit in grouped.hits:
                assert hit.more_in_article == max(0, per_article[hit.article_id] - 2), query
        assert nonzero > 50


def _passes(fields: dict, filters: Filters) -> bool:
    """Source equal; an undated paragraph fails any date bound (as Whoosh's TermRange did)."""
    date = fields.get("date") or ""
    if filters.source is not None and fields["source"] != filters.source:
        return False
    if filters.date_from is not None and not date >= filters.date_from:
        return False
    return filters.date_to is None or "" < date <= filters.date_to


@pytest.mark.parametrize(
    "filters",
    [Filters(source="src1.txt"), Filters(date_from="2024-01-01"),
     Filters(date_to="2024-01-05"),
     Filters(source="src2.txt", date_from="2024-01-05", date_to="2024-06-30"),
     Filters(source="nowhere.txt"), Filters(sort="date")],
)
def test_filters_equal_brute_force(corpus_index: Path, filters: Filters):
    with opened(corpus_index) as s:
        subs = s.literals
        texts, contexts = squeezed(s)
        fields = live_fields(s)
        for word in ("医院", "ecmo", "𠀀", "ab"):
            expected = {
                n for n in matching(texts, contexts, squeeze_text(word))
                if _passes(fields[n], filters)
            }
            ranked = rank(subs, match_spec(parse_query(word)), 10_000, filters=filters)
            assert ranked.total == len(expected), word
            assert {n for n, _ in ranked.hits} == expected, word
            if filters.sort == "date":
                dates = [int((fields[n].get("date") or "0").replace("-", "")) for n, _ in
                         ranked.hits]
                assert dates == sorted(dates, reverse=True), word


def test_a_to_date_alone_excludes_undated_paragraphs(tmp_path: Path):
    articles = [
        Article("dated", "a.txt", "甲", (Paragraph(1, "医院新闻一。", None),), date="2019-01-05"),
        Article("undated", "b.txt", "乙", (Paragraph(1, "医院新闻二。", None),)),
    ]
    build_from_articles(articles, tmp_path)
    with opened(tmp_path) as s:
        hits = search(s, "医院", filters=Filters(date_to="2019-03-01"), time_budget=60).hits
        assert [h.article_id for h in hits] == ["dated"]


def test_squeezed_text_of_every_document_equals_its_stored_text_squeezed(corpus_index: Path):
    with opened(corpus_index) as s:
        subs = s.literals
        texts, contexts = squeezed(s)
        numbers = sorted(texts)
        assert texts and subs.squeezed_texts(numbers) == [texts[n] for n in numbers]
        shuffled = random.Random(2).sample(numbers, len(numbers))  # any order, any segment
        assert subs.squeezed_texts(shuffled) == [texts[n] for n in shuffled]
        with pytest.raises(IndexError):
            subs.squeezed_texts([max(numbers) + 10**6])
        # Read from the mapped files (one slice of the mmap each), in batches as ranking
        # reads them, contexts too.
        for view in subs.segments:
            data = view.data
            local = [n - view.offset for n in texts if 0 <= n - view.offset < data.size]
            assert data.texts_of(local) == [texts[n + view.offset] for n in local]
            ids = data.doc_ctx[local].tolist()
            assert data.contexts_of(ids) == [contexts[n + view.offset] for n in local]
            in_memory = SegmentSubstrings.from_arrays(
                {name: np.array(getattr(data, name)) for name in ARRAY_NAMES},
                {"articles": data.articles, "sources": data.sources},
            )
            assert in_memory.texts_of(local[::-1]) == data.texts_of(local[::-1])
            assert in_memory.contexts_of(ids) == data.contexts_of(ids)


def test_context_mask_equals_membership_for_few_and_many_contexts():
    rng = random.Random(5)
    docs = [
        {"text": f"第{n}段", "title": f"标题{n % 97}", "heading": f"小节{n % 7}" if n % 3 else "",
         "article_id": f"a{n % 97}", "source": "s.txt"}
        for n in range(2000)
    ]
    data = SegmentSubstrings.from_arrays(*build_arrays(docs))
    for size in (1, 2, 3, 5, 10, 40, 200, 400):  # few documents (gathered) to many (one pass)
        contexts = np.array([rng.randrange(data.contexts) for _ in range(size)], dtype=np.int32)
        expected = np.isin(data.doc_ctx, contexts)
        assert np.array_equal(data.context_mask(contexts), expected), size


def test_damaged_arrays_are_written_again_beside_their_hard_links(
    corpus_index: Path, tmp_path: Path
):
    copy = tmp_path / "copy"
    shutil.copytree(corpus_index, copy)
    version_dir = copy / current_version(copy)
    damaged = sorted(version_dir.glob("*.sub_sa.npy"))[0]
    shared = tmp_path / "older-version-link.npy"  # a hard link, as an older version holds
    os.link(damaged, shared)
    intact = shared.read_bytes()
    damaged.write_bytes(intact[: len(intact) // 2])  # truncated: the arrays cannot be mapped
    intact_after_damage = shared.read_bytes()
    with pytest.raises(LiteralIndexMissing):
        with opened(copy):
            pass
    ix = whoosh_index.open_dir(str(version_dir))
    try:
        with ix.reader() as reader:
            assert ensure_saved(version_dir, (leaf for leaf, _ in reader.leaf_readers())) == 1
    finally:
        ix.close()
    _assert_saved_arrays_complete(version_dir)
    # Written beside and renamed: the other link keeps the bytes it had.
    assert shared.read_bytes() == intact_after_damage
    with opened(corpus_index) as s:
        texts, _contexts = squeezed(s)
    with opened(copy) as s:
        for raw in [*WORDS, *ABSENT]:
            literal = squeeze_text(raw)
            found = s.literals.documents_with(literal)
            assert found == {n for n, t in texts.items() if literal in t}


def test_readers_of_one_version_share_one_view_and_a_new_version_gets_its_own(tmp_path: Path):
    articles = [
        Article(f"s{i}", "s.txt", f"标题{i}", (Paragraph(1, f"第{i}段医院。", None),))
        for i in range(5)
    ]
    build_from_articles(articles[:3], tmp_path)
    first = current_version(tmp_path)
    ix = whoosh_index.open_dir(str(tmp_path / first))
    try:
        with ix.searcher() as one, ix.searcher() as two:
            assert one.reader() is not two.reader()
            view = VersionSubstrings.from_searcher(one)
            assert VersionSubstrings.from_searcher(two) is view
            assert view.documents == 3
    finally:
        ix.close()
    build_from_articles(articles, tmp_path)
    with opened(tmp_path) as s:
        assert current_version(tmp_path) != first
        assert s.literals.documents == 5


def test_a_short_list_is_the_head_of_the_long_one(corpus_index: Path):
    """Paragraphs that cannot reach the first ``limit`` are not scored in full (their match
    score is too far below): the short list must still be the long list's head."""
    rng = random.Random(11)
    with opened(corpus_index) as s:
        subs = s.literals
        for _ in range(60):
            query, _groups, _excluded = _random_query(rng)
            spec = match_spec(parse_query(query))
            full = rank(subs, spec, 10_000)
            for limit in (1, 3, 10):
                short = rank(subs, spec, limit)
                assert short.total == full.total, query
                assert short.hits == full.hits[:limit], query


@pytest.mark.parametrize("size", [0, 1, 2, 7, 1000])
def test_packed_arrays_read_back_every_slice(size: int):
    """Three bytes per entry read back as the int32 values, whatever the slice (first and
    last entries included: the last word's fourth byte is the pad)."""
    rng = np.random.default_rng(size)
    values = rng.integers(0, 1 << 24, size, dtype=np.int64).astype(np.int32)
    if size:
        values[0], values[-1] = (1 << 24) - 1, 0
    raw = pack24(values)
    assert raw.dtype == np.uint8 and len(raw) == 3 * size + 1
    packed = Packed24(raw)
    assert len(packed) == size
    assert packed.all().dtype == np.int32
    assert np.array_equal(packed.all(), values)
    for lo in range(0, size + 1, max(1, size // 7)):
        for hi in (lo, min(size, lo + 1), min(size, lo + 5), size):
            assert np.array_equal(packed.slice(lo, hi), values[lo:hi]), (lo, hi)
    assert [packed.at(i) for i in range(size)] == values.tolist()


def test_values_too_large_to_pack_stay_int32():
    values = np.array([0, 5, 1 << 24], dtype=np.int32)
    assert pack24(values) is values
    plain = Packed24(values)
    assert plain.packed is False and np.array_equal(plain.slice(1, 3), values[1:3])
    assert plain.at(2) == 1 << 24


def test_bm25_counted_in_the_texts_equals_bm25_from_the_occurrences(
    corpus_index: Path, monkeypatch: pytest.MonkeyPatch
):
    """A few candidates have their words counted in their squeezed texts and contexts;
    that must give the scores of the occurrence lists to the last bit (overlapping
    occurrences, surrogate pairs, title/heading matches), whether the title/heading
    occurrences are counted per context or looked up through their contexts' members."""
    rng = random.Random(13)
    queries = [_random_query(rng)[0] for _ in range(80)]
    queries += ["xx", "XXX", "𠀀𠀀", "1212 医院", "ecmo x", TITLE_ONLY, "医院医院", "的的"]
    with opened(corpus_index) as s:
        texts, contexts = squeezed(s)
        # The corpus holds overlapping occurrences of some of those words.
        assert any(overlapping_brute(t, w) > t.count(w) for t in texts.values()
                   for w in ("xx", "xxx", "𠀀𠀀", "1212"))
        for query in queries:
            spec = match_spec(parse_query(query))
            monkeypatch.setattr(ranking, "COUNT_WORDS_UP_TO", 0)
            monkeypatch.setattr(ranking, "LOOK_UP_MEMBERS_FROM", 1_000_000)
            from_occurrences = rank(s.literals, spec, 10_000)
            monkeypatch.setattr(ranking, "LOOK_UP_MEMBERS_FROM", 0)
            through_members = rank(s.literals, spec, 10_000)
            monkeypatch.setattr(ranking, "DENSE_SHARE", 10**9)  # every word counted at once
            counted_at_once = rank(s.literals, spec, 10_000)
            monkeypatch.setattr(ranking, "DENSE_SHARE", 0)  # none
            monkeypatch.setattr(ranking, "COUNT_WORDS_UP_TO", 1_000_000)
            counted = rank(s.literals, spec, 10_000)
            assert counted == from_occurrences == through_members == counted_at_once, query
            assert counted.hits or not from_occurrences.total, query


@pytest.mark.parametrize("text, literal", [
    ("哈哈哈", "哈哈"), ("哈哈哈", "哈"), ("abab ab", "abab"), ("aaaa", "aa"), ("𠀀𠀀𠀀", "𠀀𠀀"),
    ("医院医院", "医院"), ("", "x"), ("x", ""), ("abcabca", "abca"),
])
def test_count_overlapping_counts_as_a_suffix_array_does(text: str, literal: str):
    assert count_overlapping(text, literal) == (
        overlapping_brute(text, literal) if literal else 0
    )


@pytest.mark.parametrize("kind", ["random", "two values", "one value", "runs at the top",
                                  "runs at the bottom", "dates", "short",
                                  "the sample holds the smallest", "ties at the bound"])
def test_kth_smallest_equals_sorting(kind: str):
    """Selection stays exact whichever way it goes (values with many repeats are sorted:
    numpy's selection slows down 10-20 x on them; many values are first narrowed to those
    below a bound read from a sample, which may hold too few or too many of them)."""
    rng = np.random.default_rng(3)
    n = 20_000
    sampled = np.zeros(n, dtype=bool)
    sampled[:: n // 1024] = True  # the values _kth_smallest samples
    values = {
        "the sample holds the smallest": np.where(sampled, rng.random(n) - 10, rng.random(n)),
        "ties at the bound": np.where(rng.random(n) < 0.3, 0.5, rng.random(n)),
        "random": rng.random(n),
        "two values": np.where(rng.random(n) < 0.9, -100.0, -101.0),
        "one value": np.full(n, 7.0),
        "runs at the top": np.concatenate([np.full(n - 10, -1.0), np.full(10, -200.0)]),
        "runs at the bottom": np.concatenate([np.full(10, -300.0), np.full(n - 10, -1.0)]),
        "dates": -rng.choice([20190101, 20190102, 20200505], n).astype(np.float64),
        "short": np.array([3.0, 1.0, 2.0]),
    }[kind]
    ordered = np.sort(values)
    for k in sorted({1, 2, 50, len(values) // 2, len(values)} - {0}):
        if k <= len(values):
            assert _kth_smallest(values, k) == ordered[k - 1], k


@pytest.mark.parametrize("size", [0, 1, 2, 3, 16, 17, 1000, 5000])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.float64])
def test_distinct_values_and_counts_equal_numpys_unique(size: int, dtype: type):
    rng = np.random.default_rng(size)
    for high in (1, 5, 10**6):
        values = rng.integers(0, high, size).astype(dtype)
        ids, counts = distinct_counts(values)
        expected_ids, expected_counts = np.unique(values, return_counts=True)
        assert np.array_equal(ids, expected_ids) and np.array_equal(counts, expected_counts)
        assert ids.dtype == values.dtype
        assert np.array_equal(distinct_values(values), expected_ids)


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_suffix_search_finds_the_range_a_sorted_list_of_suffixes_gives(seed: int, packed: bool):
    """The sampled keys only narrow the binary searches: every literal's range must be
    the one of a brute-force sorted list of suffixes (repeats, separators, surrogate pairs,
    U+FFFF, literals shorter and longer than the four sampled code units)."""
    rng = random.Random(seed)
    alphabet = ["a", "b", "医", "院", "𠀀", "\uffff", "中"]
    strings = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
               for _ in range(rng.choice([3, 40, 300]))]
    text, sa, _owner, _lengths = _suffix_array(strings)
    raw = pack24(sa) if packed else sa
    search = SuffixSearch(text, Packed24(raw))
    units = text.astype(np.int64).tolist()
    suffixes = sorted(range(len(units)), key=lambda i: units[i:])
    assert suffixes == sa.tolist()
    literals = {"".join(rng.choice(alphabet) for _ in range(n)) for n in range(1, 9)
                for _ in range(30)} | {"\uffff\uffff", "b" * 7, ""}
    for literal in literals:
        code = literal.encode("utf-16-be")
        want = [len(code) // 2 and units[i : i + len(code) // 2] == list(
            np.frombuffer(code, dtype=">u2").astype(np.int64)) for i in suffixes]
        first = want.index(True) if any(want) else None
        lo, hi = search.find(code)
        if first is None:
            assert lo == hi, literal
        else:
            assert (lo, hi) == (first, first + sum(want)), literal


@pytest.mark.parametrize("runs", [0, 1, 8, 9, 60])
def test_runs_join_the_slices_they_name(runs: int):
    """Both ways of gathering runs (slices joined for a few, one gather for more) give the
    slices one after another, empty runs and runs at either end included."""
    rng = np.random.default_rng(runs)
    values = rng.integers(0, 10**6, 500).astype(np.int64)
    firsts = rng.integers(0, 500, runs)
    firsts[: min(runs, 2)] = (0, 499)[: min(runs, 2)]
    lengths = np.minimum(rng.integers(0, 12, runs), 500 - firsts)
    pairs = zip(firsts, lengths, strict=True)
    expected = [v for f, n in pairs for v in values[f : f + n].tolist()]
    joined = _runs(values, firsts, lengths)
    assert joined.tolist() == expected and joined.dtype == values.dtype
