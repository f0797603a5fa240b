"""Search semantics: literal recall, AND/OR/-/phrases, ranking, paging, highlighting."""

from __future__ import annotations

import html
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SEEDS, engine_of
from hypothesis import given
from hypothesis import strategies as st
from whoosh import index as whoosh_index

from searchsvc.analysis import squeeze_text
from searchsvc.corpus import Article, Paragraph
from searchsvc.engine import Engine
from searchsvc.highlight import mark, match_spans, snippet
from searchsvc.indexing import article_documents, chunk_id, current_version
from searchsvc.lifecycle import build_from_articles, sync
from searchsvc.literal_index import ensure_saved
from searchsvc.query import Filters, Keyword, QueryError, parse_query
from searchsvc.ranking import back_off
from searchsvc.search import get_article, search


def ids(engine, query: str) -> set[str]:
    """Every hit id of ``query`` (all pages)."""
    found: set[str] = set()
    page = 1
    while True:
        result = search(engine, query, page=page, size=100)
        found |= {h.id for h in result.hits}
        if page * 100 >= result.total:
            assert len(found) == result.total
            return found
        page += 1


def paragraphs(articles: list[Article]) -> list[tuple[str, Article, Paragraph]]:
    return [(chunk_id(a.id, p.number), a, p) for a in articles for p in a.paragraphs]


def containing(articles, literal: str) -> tuple[set[str], set[str]]:
    """Chunks whose text contains ``literal``; chunks whose title/heading does."""
    lit = squeeze_text(literal)
    in_text, in_context = set(), set()
    for cid, a, p in paragraphs(articles):
        if lit in squeeze_text(p.text):
            in_text.add(cid)
        if lit in squeeze_text("\n".join(x for x in (a.title, a.subtitle, p.heading) if x)):
            in_context.add(cid)
    return in_text, in_context


# --- literal recall ----------------------------------------------------------------


def test_every_literal_substring_finds_every_paragraph_containing_it(engine, seed_articles):
    rng = random.Random(20261125)
    chunks = paragraphs(seed_articles)
    for _ in range(150):
        _cid, _a, para = rng.choice(chunks)
        length = rng.choice([1, 2, 3, 4, 6, 9, 15, 30])
        start = rng.randrange(max(1, len(para.text) - length))
        literal = para.text[start : start + length]
        if not squeeze_text(literal) or len(literal.strip()) > 200:
            continue
        query = '"' + literal.replace('"', " ") + '"'
        in_text, in_context = containing(seed_articles, literal)
        found = ids(engine, query)
        assert in_text <= found, f"{literal!r}: missing {sorted(in_text - found)[:5]}"
        assert found <= in_text | in_context, literal


@pytest.mark.parametrize(
    "literal",
    ["保健院", "彩色多普勒", "标志着县域急危重症", "变革型组织", "ECMO", "ecmo", "ＥＣＭＯ",
     "MDT175例", "院", "2024年", "两癌"],
)
def test_literal_queries_across_jieba_boundaries(engine, seed_articles, literal):
    in_text, _ = containing(seed_articles, literal)
    assert in_text, f"{literal!r} should occur in the seeds"
    assert in_text <= ids(engine, literal)


# --- syntax ------------------------------------------------------------------------


def test_parse_query_syntax():
    parsed = parse_query('妇幼 保健 OR 医疗 -江津 "党建 统领" ！！ -')
    assert [[k.literal for k in g] for g in parsed.groups] == [
        ["妇幼"], ["保健", "医疗"], ["党建统领"]
    ]
    assert [k.literal for k in parsed.excluded] == ["江津"]


def test_unbalanced_quote_is_a_phrase_to_the_end():
    parsed = parse_query('"党建 统领')
    assert [[k.literal for k in g] for g in parsed.groups] == [["党建统领"]]


@pytest.mark.parametrize("query", ["！！！", "OR", "-", '""', "* ?", "OR OR -", "。，、"])
def test_punctuation_or_operators_only_give_an_empty_result(engine, query):
    result = search(engine, query)
    assert result.total == 0 and result.hits == []


def test_and_requires_every_keyword(engine, seed_articles):
    both = ids(engine, "ECMO 呼吸衰竭")
    ecmo, _ = containing(seed_articles, "ECMO")
    assert both and both <= ids(engine, "ECMO") and both <= ids(engine, "呼吸衰竭")
    assert len(both) < len(ecmo | ids(engine, "呼吸衰竭"))


def test_or_and_exclude(engine):
    ecmo, mdt = ids(engine, "ECMO"), ids(engine, "MDT")
    assert ids(engine, "ECMO OR MDT") == ecmo | mdt
    assert ids(engine, "ECMO -MDT") == ecmo - mdt
    assert ecmo & mdt, "the seeds have paragraphs with both"


def test_exact_phrase_is_contiguous(engine, seed_articles):
    phrase, _ = containing(seed_articles, "急危重症救治")
    assert ids(engine, '"急危重症 救治"') >= phrase
    assert ids(engine, '"急危重症救治"') <= ids(engine, "急危重症 救治")


# --- ranking -----------------------------------------------------------------------


def _article(aid: str, title: str, texts: list[str], heading: str | None = None) -> Article:
    return Article(
        id=aid,
        source=f"{aid}.txt",
        title=title,
        paragraphs=tuple(Paragraph(i + 1, t, heading) for i, t in enumerate(texts)),
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Iterator[tuple[Engine, list[Article]]]:
    articles = [
        _article("a", "社区新闻", [
            "医院在社区开展义诊活动，居民排队咨询。",
            "义诊之后，医院又组织了健康讲座，很多居民参加了活动。",
            "本文含有<script>alert(1)</script>这样的标记 & 符号。",
        ]),
        _article("b", "急救中心建成", ["中心引进设备，提高救治能力。"], heading="ECMO 救治"),
        _article("c", "其他", ["患者经 ECMO 救治转危为安。"]),
        _article("d", "长文", ["开头。" + "这是很长的一段填充文字，用来测试摘要。" * 20
                               + "关键的妇幼保健院在这里出现。" + "后面还有更多文字。" * 20]),
    ]
    index_dir = tmp_path_factory.mktemp("small")
    build_from_articles(articles, index_dir)
    with engine_of(Path(index_dir)) as engine:
        yield engine, articles


def test_exact_phrase_ranks_above_scattered_words(small):
    s, _ = small
    hits = search(s, "义诊 活动").hits
    assert [h.id for h in hits] == ["a-p1", "a-p2"] or hits[0].id == "a-p1"
    hits = search(s, "医院 义诊").hits
    # "…之后，医院又组织…" has both words apart; "医院在社区开展义诊" too, but neither adjacent:
    assert {h.id for h in hits} == {"a-p1", "a-p2"}


def test_text_match_ranks_above_heading_only_match(small):
    s, _ = small
    hits = search(s, "ECMO").hits
    assert [h.id for h in hits] == ["c-p1", "b-p1"]
    assert hits[0].highlight == "患者经 <mark>ECMO</mark> 救治转危为安。"
    assert hits[1].highlight == "中心引进设备，提高救治能力。"


def test_markup_in_articles_comes_back_escaped(small):
    s, _ = small
    hit = search(s, "script").hits[0]
    assert "<script>" not in hit.highlight
    assert hit.highlight == (
        "本文含有&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;"
        "这样的标记 &amp; 符号。"
    )
    assert hit.text == "本文含有<script>alert(1)</script>这样的标记 & 符号。"


def test_snippet_is_cut_around_the_match_at_sentence_ends(small):
    s, _ = small
    hit = search(s, "妇幼保健院").hits[0]
    assert hit.id == "d-p1"
    assert "<mark>妇幼保健院</mark>" in hit.highlight
    plain = hit.highlight.replace("<mark>", "").replace("</mark>", "")
    assert 60 <= len(plain) <= 210
    assert plain.startswith("…") and plain.endswith("…")
    assert plain[1:].startswith("这是很长的") or plain[1:].startswith("关键的")
    assert plain[-2] == "。"


def _marked_by_escaping_each_piece(text: str, spans: list[tuple[int, int]], start: int,
                                   end: int) -> str:
    """The plain definition of ``mark``: every piece escaped on its own."""
    out, pos = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out += [html.escape(text[pos:s], quote=False), "<mark>",
                html.escape(text[s:e], quote=False), "</mark>"]
        pos = e
    return "".join(out + [html.escape(text[pos:end], quote=False)])


@given(st.text(alphabet="ab<>&\"'中文。", max_size=30), st.data())
def test_mark_escapes_every_piece_whether_or_not_the_text_needs_it(text: str, data):
    """``mark`` skips escaping a text without ``&<>`` (most news text): its output must be
    the same as escaping every piece, with markup characters or without, spans at either
    end, across or outside the cut."""
    bounds = st.integers(0, len(text))
    cuts = sorted(set(data.draw(st.lists(bounds, max_size=8))))
    merged = list(zip(cuts[::2], cuts[1::2], strict=False))  # apart and in order, as merged
    start = data.draw(bounds)
    end = data.draw(st.integers(start, len(text)))
    assert mark(text, merged, start, end) == _marked_by_escaping_each_piece(
        text, merged, start, end)
    assert mark(text, merged) == _marked_by_escaping_each_piece(text, merged, 0, len(text))


def test_snippet_marks_whole_literals():
    assert snippet("垫江县人民医院引进ECMO。", ["人民医院", "ecmo"]) == (
        "垫江县<mark>人民医院</mark>引进<mark>ECMO</mark>。"
    )
    assert match_spans("“十四五”时期", ["十四五时期"]) == [(1, 7)]


# --- paging and validation -----------------------------------------------------------


def test_pagination_is_consistent(engine):
    full = search(engine, "医院", size=100)
    assert full.total > 25
    pages = [search(engine, "医院", page=p, size=10) for p in (1, 2, 3)]
    assert all(p.total == full.total for p in pages)
    assert [h.id for p in pages for h in p.hits] == [h.id for h in full.hits[:30]]
    beyond = search(engine, "医院", page=full.total // 10 + 2, size=10)
    assert beyond.hits == [] and beyond.total == full.total


@pytest.mark.parametrize("group", [False, True])
@pytest.mark.parametrize(
    "query", ["院 中", "医 人", "医院 健康", "医院 OR 患者 中", "院 不存在的词xyz 中"]
)
def test_multi_keyword_pages_continue_each_other(engine, query, group):
    """Issue 11.18: the proximity re-rank looked at max(page × size, 50) results, so the
    order changed with the page and hits repeated or went missing across pages."""
    full = search(engine, query, size=100, group=group)
    assert full.total > 3 or group
    expected = [h.id for h in full.hits]
    for size in (3, 7, 10, 25):
        seen: list[str] = []
        for page in range(1, 100 // size + 1):
            result = search(engine, query, page=page, size=size, group=group)
            assert result.total == full.total
            seen += [h.id for h in result.hits]
        assert len(seen) == len(set(seen)), f"size {size}: a hit repeated across pages"
        assert seen == expected[: len(seen)], f"size {size}: pages do not continue each other"


@pytest.mark.parametrize(
    ("query", "page", "size", "code"),
    [("", 1, 10, "empty_query"), ("   ", 1, 10, "empty_query"),
     ("医" * 201, 1, 10, "query_too_long"), ("医院", 0, 10, "invalid_page"),
     ("医院", 1, 0, "invalid_size"), ("医院", 1, 101, "invalid_size"),
     ("医院", 1001, 10, "page_too_deep")],
)
def test_invalid_input_raises_query_error(engine, query, page, size, code):
    with pytest.raises(QueryError) as err:
        search(engine, query, page=page, size=size)
    assert err.value.code == code


def test_get_article_in_order_with_highlights(engine, seed_articles):
    article = seed_articles[0]
    view = get_article(engine, article.id, "ECMO")
    assert view is not None and view.title == article.title
    assert [p.number for p in view.paragraphs] == [p.number for p in article.paragraphs]
    assert [p.text for p in view.paragraphs] == [p.text for p in article.paragraphs]
    assert view.matched_paragraphs
    assert all("<mark>ECMO</mark>" in view.paragraphs[n - 1].highlight
               for n in view.matched_paragraphs)
    assert get_article(engine, "../../etc/passwd") is None
    assert get_article(engine, "no-such-article") is None


def test_time_budget_returns_a_partial_result(tmp_path):
    articles = [_article(f"t{i}", "测试", [f"第{i}段提到医院。"]) for i in range(700)]
    build_from_articles(articles[:400], tmp_path)
    # A second segment (the budget is checked between segments), with its literal index.
    ix = whoosh_index.open_dir(str(tmp_path / current_version(tmp_path)))
    with ix.writer() as writer:
        writer.merge = False
        for article in articles[400:]:
            for doc in article_documents(article):
                writer.add_document(**doc)
    with ix.reader() as reader:  # what every version write does for its new segments
        ensure_saved(Path(ix.storage.folder), (leaf for leaf, _ in reader.leaf_readers()))
    ix.close()
    with engine_of(tmp_path) as s:
        assert len(s.searcher.reader().leaf_readers()) == 2
        full = search(s, "医院")
        cut = search(s, "医院", time_budget=0.0)
    assert (full.partial, full.total) == (False, 700)
    assert cut.partial and cut.total == 400 and len(cut.hits) == 10


def test_a_question_falls_back_to_ranking_by_words_matched(engine):
    result = search(engine, "垫江县人民医院是哪一年引进ECMO设备的？")
    assert not result.matched_all and result.total > 0
    top = result.hits[0]
    assert "2024年医院在全县率先引进ECMO设备" in top.text
    # jieba's words (the user dictionary may keep 垫江县人民医院 whole), minus stop words
    assert {"引进", "ecmo", "设备"} <= set(result.words) and "是" not in result.words
    assert top.query_words == len(result.words)
    assert top.matched_words == sum(squeeze_text(w) in squeeze_text(top.text) for w in result.words)
    assert "<mark>引进ECMO设备</mark>" in top.highlight  # adjacent matches merge into one mark


def test_matched_words_count_the_query_words_not_their_synonyms(tmp_path):
    """Issue 11.19: "新冠 不存在的词xyz" listed 4 words but said 匹配 2/7: the counts took
    every synonym literal as a word of its own."""
    sync(SEEDS, tmp_path, full=True)  # with the seeds' synonyms.txt
    with engine_of(tmp_path) as engine:
        assert "新型冠状病毒" in engine.synonyms["新冠"]
        for query in ("新冠 不存在的词xyz", "ECMO 不存在的词xyz", "ECMO 人工肺"):
            result = search(engine, query)
            assert result.hits, query
            words = result.words or query.split()
            for hit in result.hits:
                assert hit.query_words == len(words), (query, hit.query_words, words)
                assert 0 < hit.matched_words <= hit.query_words


def test_and_queries_do_not_fall_back_when_something_matches_all(engine):
    result = search(engine, "ECMO 呼吸衰竭")
    assert result.matched_all and result.words == []
    assert all(h.matched_words == h.query_words == 2 for h in result.hits)


def test_quoted_phrase_never_falls_back(engine):
    result = search(engine, '"ECMO呼吸衰竭设备"')
    assert result.total == 0 and result.matched_all


@pytest.mark.parametrize(
    ("query", "marked"),
    [("醫院 ECMO", ["醫院"]), ("兩癌篩查", ["兩癌篩查"])],
)
def test_traditional_and_simplified_find_each_other(tmp_path, query, marked):
    articles = [
        _article("s", "简体", ["医院引进了ECMO设备。"]),
        _article("t", "繁體", ["醫院引進了ECMO設備。", "感謝兩癌篩查，讓我及早治療。"]),
        _article("u", "简体二", ["感谢两癌筛查，让我及早得到治疗。"]),
    ]
    build_from_articles(articles, tmp_path)
    with engine_of(tmp_path) as s:
        hits = search(s, query).hits
        simplified = search(s, "两癌筛查").hits
    assert {h.article_id for h in hits} == {"s", "t"} or {h.article_id for h in hits} == {"t", "u"}
    trad = next(h for h in hits if h.article_id == "t")
    for word in marked:
        assert f"<mark>{word}</mark>" in trad.highlight  # the original characters are marked
    assert {h.article_id for h in simplified} == {"t", "u"}
    assert "<mark>兩癌篩查</mark>" in next(h for h in simplified if h.article_id == "t").highlight


def test_grouping_keeps_two_paragraphs_per_article(engine):
    flat = search(engine, "医院", size=100)
    grouped = search(engine, "医院", size=100, group=True)
    assert grouped.grouped and not flat.grouped
    per_article: dict[str, int] = {}
    for hit in grouped.hits:
        per_article[hit.article_id] = per_article.get(hit.article_id, 0) + 1
    assert max(per_article.values()) == 2
    shown_plus_more = {}
    for hit in grouped.hits:
        shown_plus_more[hit.article_id] = per_article[hit.article_id] + hit.more_in_article
    flat_counts: dict[str, int] = {}
    for cid in ids(engine, "医院"):  # every page
        aid = cid.rsplit("-p", 1)[0]
        flat_counts[aid] = flat_counts.get(aid, 0) + 1
    assert shown_plus_more == flat_counts  # nothing lost: shown + "more" = all matches
    assert grouped.total == len(grouped.hits) == sum(per_article.values())
    assert [h.id for h in grouped.hits][:1] == [h.id for h in flat.hits][:1]


def test_words_found_nowhere_back_off_to_two_character_pieces(small):
    s, _ = small
    words = [Keyword("医院", "医院"), Keyword("义诊活", "义诊活"), Keyword("ecno", "ecno")]
    assert [k.literal for k in back_off(s, words)] == ["医院", "义诊活", "ecno"]
    glued = [Keyword("义诊史", "义诊史")]  # not in any paragraph: split
    assert [k.literal for k in back_off(s, glued)] == ["义诊", "诊史"]


def test_keywords_close_together_rank_higher(tmp_path):
    filler = "这是一段与主题无关的填充文字。" * 6
    articles = [
        _article("far", "远", [f"医院购置设备。{filler}今年引进了新的人才。"]),
        _article("near", "近", [f"{filler}医院今年引进了新的设备。"]),
    ]
    build_from_articles(articles, tmp_path)
    with engine_of(tmp_path) as s:
        hits = search(s, "医院 引进").hits
    assert [h.article_id for h in hits] == ["near", "far"]


@pytest.mark.parametrize(
    ("query", "marked"),
    [("ISO15189", "ISO15189"), ("iso15189", "ISO15189"), ("138小时", "138小时"),
     ("DRG", "DRG"), ("drg医保", "DRG医保"), ("97.67%", "97.67"), ("ＭＤＴ", "MDT"),
     ("2024年", "2024年"), ("3.2万", "3.2万")],
)
def test_mixed_scripts_are_searchable_as_the_reader_sees_them(engine, query, marked):
    hits = search(engine, query).hits
    assert hits, query
    assert f"<mark>{marked}</mark>" in hits[0].highlight


def test_filters_by_source_and_date_and_sort_by_date(tmp_path):
    from dataclasses import replace as with_


    articles = [
        with_(_article("a", "甲", ["医院新闻一。"]), date="2019-01-05", source="feeds/a.jsonl"),
        with_(_article("b", "乙", ["医院新闻二，医院医院。"]), date="2019-06-01",
              source="feeds/b.jsonl"),
        with_(_article("c", "丙", ["医院新闻三。"]), date="2018-03-01", source="feeds/a.jsonl"),
    ]
    build_from_articles(articles, tmp_path)
    with engine_of(tmp_path) as s:
        def ids_for(**kw):
            return [h.article_id for h in search(s, "医院", filters=Filters(**kw)).hits]

        assert sorted(ids_for(source="feeds/a.jsonl")) == ["a", "c"]
        assert sorted(ids_for(date_from="2019-01-01")) == ["a", "b"]
        assert ids_for(date_from="2019-01-01", date_to="2019-03-01") == ["a"]
        assert ids_for(sort="date") == ["b", "a", "c"]
        with pytest.raises(QueryError) as err:
            search(s, "医院", filters=Filters(date_from="May 2019"))
        assert err.value.code == "invalid_from"


def test_grouping_with_a_filter_and_an_exclusion(engine):

    only = Filters(source="000_eacc438995d2ea0a.txt")
    result = search(engine, "医院 -ECMO", group=True, filters=only, size=100)
    assert result.total > 0 and result.total == len(result.hits)
    assert all(h.source == "000_eacc438995d2ea0a.txt" for h in result.hits)
    assert all("ECMO" not in h.text for h in result.hits)
    flat = search(engine, "医院 -ECMO", filters=only, size=100)
    per_article: dict[str, int] = {}
    for hit in flat.hits:
        per_article[hit.article_id] = per_article.get(hit.article_id, 0) + 1
    assert {h.article_id: h.more_in_article for h in result.hits} == {
        a: n - min(n, 2) for a, n in per_article.items()
    }
