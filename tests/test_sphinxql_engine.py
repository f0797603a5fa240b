"""The SphinxQL backend against the embedded engine, on the same articles.

A real 2-shard searchd cluster (plus its coordinator) is started for the session and
stopped at the end; the embedded side is a real index built with ``lifecycle``. Both hold
the seed articles and a few hundred synthetic ones (dates, several sources, ASCII inside
CJK, full-width letters, Traditional characters, repeated characters, a character outside
the BMP). The contract: identical hit sets and totals for every kind of query, the same
scores, and the same top 10 after the re-rank.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from searchsvc.analysis import squeeze_text
from searchsvc.corpus import Article, Paragraph
from searchsvc.indexing import LiveIndex, chunk_id
from searchsvc.lifecycle import build_from_articles
from searchsvc.literal_index import VersionSubstrings
from searchsvc.query import Filters, Keyword, loose_keywords, parse_query
from searchsvc.ranking import (
    MatchSpec,
    back_off,
    fallback_spec,
    match_spec,
    rank,
    rerank_by_proximity,
)
from searchsvc.sphinxql import cluster
from searchsvc.sphinxql.documents import row_id
from searchsvc.sphinxql.engine import SphinxEngine

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    cluster.searchd_binary() is None,
    reason="searchd not installed (apt-get install sphinxsearch): the SphinxQL backend "
    "tests need a real server",
)]

EXTRAS = [
    "5G网络覆盖全县", "引进ECMO设备", "ＥＣＭＯ团队", "醫院門診大樓", "哈哈哈哈大笑",
    "通过ISO15189认可", "COVID-19疫苗", "新冠病毒检测", "𠀀字测试", "2024年g点",
    "乡镇卫生院", "中医院院长",
]


def synthetic_articles(seed_articles: list[Article], count: int = 300) -> list[Article]:
    """Articles made of the seeds' sentences, with dates, sources, headings and EXTRAS."""
    rnd = random.Random(20261204)
    sentences = [
        s for a in seed_articles for p in a.paragraphs
        for s in re.split(r"(?<=[。！？])", p.text) if len(s) > 4
    ]
    articles = []
    for i in range(count):
        paragraphs = []
        heading = None
        for number in range(1, rnd.randint(1, 8) + 1):
            if rnd.random() < 0.2:
                heading = rnd.choice(sentences)[:12]
            parts = rnd.sample(sentences, rnd.randint(1, 3))
            if rnd.random() < 0.3:
                parts.insert(rnd.randint(0, len(parts)), rnd.choice(EXTRAS))
            kind = "caption" if rnd.random() < 0.05 else "body"
            paragraphs.append(Paragraph(number, "".join(parts), heading, kind))
        dated = i % 5 != 0
        articles.append(Article(
            id=f"syn-{i:04d}",
            source=f"synthetic/feed-{i % 7}.jsonl",
            title=rnd.choice(sentences)[:20] + ("ECMO" if i % 50 == 0 else ""),
            paragraphs=tuple(paragraphs),
            subtitle=rnd.choice(sentences)[:10] if i % 4 == 0 else None,
            date=f"20{19 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}" if dated else None,
            url=f"https://example.org/{i}" if i % 3 == 0 else None,
            tags=("卫生", "健康") if i % 6 == 0 else (),
        ))
    return articles


@pytest.fixture(scope="session")
def articles(seed_articles) -> list[Article]:
    return [*seed_articles, *synthetic_articles(seed_articles)]


@pytest.fixture(scope="session")
def sphinx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real 2-shard cluster for the session, stopped at the end."""
    directory = tmp_path_factory.mktemp("sphinx")
    url = cluster.start(directory, shards=2)
    try:
        yield url
    finally:
        cluster.stop(directory)


@pytest.fixture(scope="session")
def engine(sphinx_url: str, articles: list[Article]) -> SphinxEngine:
    engine = SphinxEngine(sphinx_url)
    engine.clear("blue")
    summary = engine.replace_articles("blue", articles)
    assert summary.rows == sum(len(a.paragraphs) for a in articles)
    return engine


@pytest.fixture(scope="session")
def sphinx(engine: SphinxEngine):
    return engine.reader("blue")


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory, articles) -> Iterator[tuple]:
    """(VersionSubstrings, searcher, paragraph id of each document number)."""
    index_dir = tmp_path_factory.mktemp("embedded")
    build_from_articles(articles, index_dir)
    live = LiveIndex(index_dir)
    searcher = live.snapshot().searcher
    ids = [searcher.stored_fields(n)["id"] for n in range(searcher.doc_count_all())]
    yield VersionSubstrings.from_searcher(searcher), searcher, ids
    live.close()


@pytest.fixture(scope="session")
def names(articles) -> dict[int, str]:
    """Row id → paragraph id."""
    return {
        row_id(chunk_id(a.id, p.number)): chunk_id(a.id, p.number)
        for a in articles for p in a.paragraphs
    }


def both(embedded, sphinx, names, spec: MatchSpec, limit: int = 10_000, **kwargs):
    """(embedded hits, sphinx hits, embedded Ranked, sphinx Ranked), hits as
    [(paragraph id, score)]."""
    subs, _searcher, ids = embedded
    mine = rank(subs, spec, limit, None, **kwargs)
    theirs = sphinx.rank(spec, limit, None, **kwargs)
    return (
        [(ids[d], s) for d, s in mine.hits],
        [(names[d], s) for d, s in theirs.hits],
        mine,
        theirs,
    )


def literal_spec(literal: str) -> MatchSpec:
    return match_spec(parse_query(f'"{literal}"'))


def random_literals(articles: list[Article], count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    texts = [t for a in articles[:8] for p in a.paragraphs if (t := squeeze_text(p.text))]
    out = []
    for _ in range(count):
        text = rnd.choice(texts)
        size = rnd.randint(1, min(30, len(text)))
        start = rnd.randrange(len(text) - size + 1)
        out.append(text[start : start + size])
    return out


# --- matching ---------------------------------------------------------------------


def test_collection_statistics_are_the_embedded_ones(embedded, sphinx):
    subs = embedded[0]
    assert sphinx.documents == subs.documents
    assert sphinx.avg_len == subs.avg_len
    assert sphinx.avg_ctx_len == subs.avg_ctx_len


def test_random_seed_literals_same_hits_totals_and_scores(embedded, sphinx, names, articles):
    literals = random_literals(articles, 300, seed=1)
    found_source = 0
    for literal in literals:
        mine, theirs, a, b = both(embedded, sphinx, names, literal_spec(literal))
        assert b.total == a.total, literal
        assert dict(theirs) == dict(mine), literal
        found_source += bool(a.total)
    assert found_source == len(literals)  # every literal finds the paragraph it came from


def test_occurrences_and_occurs_match_the_suffix_arrays(embedded, sphinx, articles):
    subs = embedded[0]
    literals = random_literals(articles, 150, seed=2)
    literals += ["哈哈", "哈哈哈", "院院", "ecmo", "5g", "g", "𠀀", "医院", "没有这个词语"]
    for literal in literals:
        assert sphinx.occurrences(literal) == subs.occurrences(literal), literal
        assert sphinx.occurs(literal) == subs.occurs(literal), literal


def test_single_characters(embedded, sphinx, names, articles):
    chars = sorted({ch for a in articles[:8] for p in a.paragraphs for ch in squeeze_text(p.text)})
    for ch in random.Random(3).sample(chars, 120) + ["𠀀", "g", "5"]:
        mine, theirs, a, b = both(embedded, sphinx, names, literal_spec(ch))
        assert (b.total, dict(theirs)) == (a.total, dict(mine)), ch


def test_literals_across_punctuation(embedded, sphinx, names, articles):
    rnd = random.Random(4)
    checked = 0
    for article in articles[:8]:
        for p in article.paragraphs:
            for m in re.finditer(r"[，。、；：“”（）]", p.text):
                if rnd.random() > 0.1:
                    continue
                raw = p.text[max(0, m.start() - rnd.randint(1, 6)) : m.end() + rnd.randint(1, 6)]
                literal = squeeze_text(raw)
                mine, theirs, a, b = both(embedded, sphinx, names, literal_spec(literal))
                assert a.total >= 1 and (b.total, dict(theirs)) == (a.total, dict(mine)), raw
                checked += 1
    assert checked > 30


@pytest.mark.parametrize(
    "query", ["5g", "g", "ECMO", "ＥＣＭＯ", "ecmo设备", "iso15189", "covid19", "醫院",
              "医院门诊", "2024年g", "哈哈哈", "𠀀字", "19疫苗"],
)
def test_ascii_inside_cjk_full_width_and_traditional(embedded, sphinx, names, query):
    mine, theirs, a, b = both(embedded, sphinx, names, match_spec(parse_query(query)))
    assert a.total > 0
    assert (b.total, dict(theirs)) == (a.total, dict(mine))


BOOLEAN = [
    "医院 党建", "妇幼 保健", "ECMO OR MDT", "中医 -江津", '"急危重症 救治"', "医院 -医院",
    "党建 OR 中医 -垫江", "两癌筛查 | 新冠", "5g OR 哈哈 -网络", "卫生 健康 服务 -党建",
    "南川医院", "新冠", "DRG",
]


@pytest.mark.parametrize("query", BOOLEAN)
def test_and_or_not_phrase_and_synonyms(embedded, sphinx, names, query):
    synonyms = {"新冠": ("新冠", "新型冠状病毒"), "drg": ("DRG", "疾病诊断相关分组"),
                "南川医院": ("南川医院", "重庆医科大学附属南川医院")}
    spec = match_spec(parse_query(query, synonyms))
    mine, theirs, a, b = both(embedded, sphinx, names, spec)
    assert (b.total, dict(theirs)) == (a.total, dict(mine))


FILTERS = [
    Filters(source="synthetic/feed-3.jsonl"),
    Filters(source="004_ae8107586a0ecb83.txt"),
    Filters(source="no-such-source.txt"),
    Filters(date_from="2021-01-01"),
    Filters(date_to="2020-06-30"),
    Filters(date_from="2020-01-01", date_to="2022-12-31", source="synthetic/feed-1.jsonl"),
    Filters(sort="date"),
    Filters(sort="date", date_from="2022-01-01"),
]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("query", ["医院", "党建 健康", "ECMO OR 5g"])
def test_filters_and_date_order(embedded, sphinx, names, query, filters):
    spec = match_spec(parse_query(query))
    mine, theirs, a, b = both(embedded, sphinx, names, spec, filters=filters)
    assert (b.total, dict(theirs)) == (a.total, dict(mine))
    if filters.sort == "date":  # date order is exact, ties in insertion order
        assert theirs == mine


@pytest.mark.parametrize(
    "filters", [Filters(), Filters(sort="date"), Filters(date_from="2020-01-01")]
)
@pytest.mark.parametrize("query", ["医院", "党建 健康", "中医 -江津", "ECMO"])
def test_grouping_totals_collapsed_and_order(embedded, sphinx, names, query, filters):
    spec = match_spec(parse_query(query))
    for limit in (10, 50):
        mine, theirs, a, b = both(embedded, sphinx, names, spec, limit, group=True,
                                  filters=filters)
        assert b.total == a.total
        subs = embedded[0]
        assert b.collapsed == a.collapsed
        assert theirs == mine
        assert subs  # the embedded side was used


EVERYDAY = [
    "杜志斌 不孕不育", "两癌筛查", "ECMO 呼吸衰竭", "千县工程", "DRG 医保", "书记夜校",
    "尘肺病", "彩色多普勒超声", "糖尿病足", "胡子成", "新生儿复苏", "中药奶茶",
    "心血管内科 冠状动脉", "綦江区中医院 脑病科", "新冠疫苗 接种", "王大爷 腹腔大出血",
    "家庭医生", "近视防控", "ISO15189", "社会心理服务体系 试点", "医院 党建 健康",
    "卫生 服务", "中医 医院", "妇幼保健院 孕产妇", "高质量发展",
]


@pytest.mark.parametrize("query", EVERYDAY)
def test_top_ten_equal_after_the_rerank(embedded, sphinx, names, query):
    subs, _searcher, ids = embedded
    parsed = parse_query(query)
    spec = match_spec(parsed)
    a = rank(subs, spec, 50)
    b = sphinx.rank(spec, 50)
    assert b.total == a.total
    keywords = parsed.positive

    def reranked(hits: list[tuple[int, float]], engine: Any) -> list[tuple[int, float]]:
        texts = engine.squeezed_texts([n for n, _score in hits])
        return rerank_by_proximity(hits, texts, keywords) if len(keywords) > 1 else hits

    head_a, head_b = reranked(a.hits, subs), reranked(b.hits, sphinx)
    assert [(names[d], s) for d, s in head_b[:10]] == [(ids[d], s) for d, s in head_a[:10]]


@pytest.mark.parametrize(
    "question",
    ["垫江县人民医院是哪一年引进ECMO设备的？", "魏舒史称医院发展", "哪家医院开展了两癌筛查"],
)
def test_fallback_ranking_by_words_matched(embedded, sphinx, names, question):
    subs, _searcher, ids = embedded
    parsed = parse_query(question)
    words_a = back_off(subs, loose_keywords(parsed))
    words_b = back_off(sphinx, loose_keywords(parsed))  # type: ignore[arg-type]
    assert [k.literal for k in words_b] == [k.literal for k in words_a]
    spec_a = fallback_spec(words_a, subs)
    spec_b = fallback_spec(words_b, sphinx)  # type: ignore[arg-type]
    assert spec_b == spec_a
    a = rank(subs, spec_a, 50)
    b = sphinx.rank(spec_b, 50)
    assert b.total == a.total
    assert [(names[d], s) for d, s in b.hits[:10]] == [(ids[d], s) for d, s in a.hits[:10]]


def test_long_queries_and_many_literals(embedded, sphinx, names, articles):
    text = squeeze_text(articles[0].paragraphs[2].text)
    long_literal = text[:60]  # longer than a user query's 30-character literals
    many = [Keyword(lit, lit) for lit in random_literals(articles, 32, seed=9)]
    for spec in (literal_spec(long_literal),
                 MatchSpec(tuple(((k.literal, 100.0, 1.0),) for k in many[:3])),
                 MatchSpec((tuple((k.literal, 4.0, 0.8) for k in many),))):
        mine, theirs, a, b = both(embedded, sphinx, names, spec)
        assert (b.total, dict(theirs)) == (a.total, dict(mine))


# --- stored paragraphs ----------------------------------------------------------


def test_stored_fields_articles_and_filter_choices(embedded, sphinx, articles):
    _subs, searcher, ids = embedded
    for docnum, paragraph_id in enumerate(ids):
        if docnum % 7:
            continue
        assert sphinx.stored_fields(row_id(paragraph_id)) == searcher.stored_fields(docnum)
    for article in (articles[0], articles[9], articles[50]):
        expected = [searcher.stored_fields(n) for n, pid in enumerate(ids)
                    if searcher.stored_fields(n)["article_id"] == article.id]
        assert sphinx.article_paragraphs(article.id) == expected
    assert sphinx.article_paragraphs("no-such-article") == []
    subs = embedded[0]
    has_dates = any(bool(v.data.doc_date.any()) for v in subs.segments)
    assert sphinx.filter_choices() == (sorted(subs.sources), has_dates)
    first = row_id(ids[0])
    assert sphinx.squeezed_texts([first]) == embedded[0].squeezed_texts([0])
