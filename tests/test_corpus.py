"""Tests for searchsvc.corpus: page reconstruction, encodings, feeds, ids, problems."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from searchsvc.corpus import (
    SOURCE_SUFFIXES,
    Article,
    Paragraph,
    Problem,
    clean_text,
    iter_articles,
    list_sources,
    read_source,
)

DATA = Path(__file__).parent / "data" / "corpus"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"  # the project's copy of the seed pages
ID_RE = re.compile(r"[A-Za-z0-9._-]{1,80}")


def read(name: str) -> list[Article]:
    articles, problems = read_source(DATA / name, DATA)
    assert problems == []
    return articles


def texts(article: Article) -> list[str]:
    return [p.text for p in article.paragraphs]


# --------------------------------------------------------------------------- cleanup


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "革 型 组 织 ， 落 实 “ 四 下 基 层 ” 制",
            "革型组织，落实“四下基层”制",
        ),
        ("组织全院 100 余名党员干部，分 3", "组织全院100余名党员干部，分3"),
        ("批 AAA 级儿童保健标准化门诊，与西", "批AAA级儿童保健标准化门诊，与西"),
        ("党建统领 绘就红色引领的发展蓝图", "党建统领 绘就红色引领的发展蓝图"),
        ("以“新党建”为出发点 交上组织建设“高分卷”", "以“新党建”为出发点 交上组织建设“高分卷”"),
        ("保 健 ”服 务 理 念 为 妇 幼 托 起“ 健 康", "保健”服务理念为妇幼托起“健康"),
        ("光 明 行 动 工 作 方 案 （2021- 2025", "光明行动工作方案（2021-2025"),
        ("案，努力推进 《儿童青少年近视防控", "案，努力推进《儿童青少年近视防控"),
        ("the  MDT\u3000team works", "the MDT team works"),
        ("Hello, world", "Hello, world"),
        ("\u3000\u3000两\u200b癌\ufeff筛查 ", "两癌筛查"),
        ("贺娜 柳建国 罗逸凡", "贺娜 柳建国 罗逸凡"),
        ("   ", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


# --------------------------------------------------------------------------- pages


def test_page_articles_titles_and_ids() -> None:
    first, second = read("page_000.txt")
    assert first.id == "page_000-1" and second.id == "page_000-2"
    assert first.source == "page_000.txt"
    assert first.title == "党建领航聚合力 精医强能惠民生"
    assert first.subtitle == (
        "“十四五”高质量发展图景·卫生篇 垫江县人民医院以党建统领书写“十四五”高质量发展答卷"
    )
    assert second.title == "潼南区妇幼保健院 筑牢妇幼健康基石 书写“十四五”暖心答卷"
    assert second.subtitle == "以生命为尺 以健康为愿"


def test_page_paragraph_boundaries_kinds_and_headings() -> None:
    first, second = read("page_000.txt")
    assert [p.number for p in first.paragraphs] == list(range(1, 11))
    assert [p.kind for p in first.paragraphs] == [
        "body", "body", "body", "caption", "body", "body", "body", "body", "byline", "caption",
    ]  # fmt: skip
    p = first.paragraphs
    assert p[0].heading == "党建统领 绘就红色引领的发展蓝图"
    assert p[3].text == "垫江县人民医院外科楼全景"
    assert p[4].text == "院获评清廉重庆建设标杆单位。"
    assert p[5].heading == "精医强能 铺就县域诊疗的奋进之路"
    # A line broken by the layout ("…标志着县" / blank / "域急危重症…") is one paragraph.
    assert p[6].text.endswith("成功救治重度呼吸衰竭患者，标志着县域急危重症救治水平迈上新台阶。")
    assert p[6].text.startswith("聚焦急危重症救治，")
    assert p[8].text == "傅星辰 谭庄 图片由垫江县人民医院提供"
    # A caption after the by-line belongs to the article before the next title.
    assert p[9].text == "垫江县人民医院在澄溪镇卫生院开展义诊活动"

    q = second.paragraphs
    assert q[0].heading == "从强基固本到内外兼修 以党建引领激活发展动能"
    # An unfinished paragraph, a caption, then a heading: the text is closed, not glued on.
    assert q[4].text == "在筑牢内部战斗堡垒的同时，医院党委更将这份凝聚力向外延伸，倾力打造"
    assert (q[5].kind, q[5].text) == ("caption", "潼南区妇幼保健院全貌")
    assert q[6].heading == "从专科突破到技术精进 以专业技术托举母婴平安"
    assert q[9].text.startswith("值得一提的是，医院还将中医药深度融入妇幼保健体系，")
    assert [(x.kind, x.text) for x in q[-3:]] == [
        ("byline", "刘洋 图片由潼南区妇幼保健院提供"),
        ("caption", "开展健康义诊活动"),
        ("caption", "开展儿童中医保健健康宣讲"),
    ]


def test_column_layout_is_rejoined() -> None:
    (article,) = read("column_003.txt")
    # The headline printed at the very end, with its "——" subtitle.
    assert article.title == "攀越三甲发展新高度 打造妇幼诊疗新高地"
    assert article.subtitle == "江津区妇幼保健院2023年亮点工作回眸"
    t = texts(article)
    assert len(t) == 16
    assert t[0] == (
        "求木之长者，必固其根本。区妇幼保健院以高质量党建引领高质量发展，"
        "筑牢妇幼健康战线的“根”与“魂”。"
    )
    assert t[3] == "党旗高扬，引路定向。一系列党建活动随即高频次展开："
    assert t[5] == (
        "全力打造新时代“红岩先锋”变革型组织，落实“四下基层”制度，着力解民忧、纾民困、"
        "暖民心，增强职工幸福感、群众就医安全感获得感；"
    )
    assert t[6].startswith("组织全院100余名党员干部，分3批次赴湖南长沙开展")
    assert (article.paragraphs[7].kind, t[7]) == ("byline", "本版图文由金小琳、汪雨茹提供")
    # The page credit does not end the article: the text after it continues.
    assert t[8] == "悠悠民生，健康最大。"
    assert t[9].startswith("妇女儿童健康是全民健康的重要基石。2023年，区妇幼保健院")
    assert t[13] == (
        "持续加大医疗设备投入，购置彩色多普勒超声系统等设备82台/次，为临床医疗提供有力保障；"
    )
    headings = [p.heading for p in article.paragraphs]
    assert headings[0] == "以“新党建”为出发点 交上组织建设“高分卷”"
    assert headings[10] == "以“新三甲”为突破点 打造医院发展“新名片”"
    # The text after the page credit is the page's lead, outside the section it closed.
    assert headings[7] == headings[0] and headings[8:10] == [None, None]


def test_markdown_page() -> None:
    (article,) = read("markdown_004.md")
    assert article.title == "党建引领 办人民满意的卫生健康事业"
    assert article.subtitle == "百年伟业 精彩巴渝 党建品牌单位、党建品牌案例风采展示(二)"
    heading = "大足区人民医院 党建“六大工程”擘画医院发展蓝图"
    assert {p.heading for p in article.paragraphs} == {heading}
    assert [p.kind for p in article.paragraphs] == [
        "caption", "body", "body", "body", "body", "caption",
    ]  # fmt: skip
    # Broken around a photo caption, joined again; ASCII commas stay as they are.
    assert "围绕成渝地区双城经济圈建设,继续坚持以人民健康为中心," in article.paragraphs[4].text
    assert article.paragraphs[5].text == "党员先锋为贫困患者送医上门"
    assert "通过高频次、大剂量、全方位理论学习" in article.paragraphs[3].text


def test_two_line_byline_and_trailing_captions() -> None:
    (article,) = read("byline_001.txt")
    assert article.title == "以党建统领开启卫生健康事业高质量发展新征程"
    assert [(p.kind, p.text) for p in article.paragraphs[2:]] == [
        ("byline", "贺娜 柳建国 罗逸凡 图片由合川区卫生健康委提供"),
        ("caption", "合川区二郎镇卫生院开展新时代文明实践志愿服务"),
        ("caption", "合川区第二人民医院为尘肺病患者进行排痰治疗"),
        ("caption", "合川区精神卫生中心开展家长公益心理沙龙"),
    ]


def test_parsing_is_stable() -> None:
    once = [a for name in ("page_000.txt", "column_003.txt") for a in read(name)]
    twice = [a for name in ("page_000.txt", "column_003.txt") for a in read(name)]
    assert [a.id for a in once] == [a.id for a in twice]
    assert [a.content_hash for a in once] == [a.content_hash for a in twice]
    assert once == twice


# --------------------------------------------------------------------------- encodings

PAGE = "测试标题\n\n第一段正文，内容\n\n完整结束。\n\n张三 图片由某医院提供\n"


def test_gb18030_utf8_bom_and_crlf(tmp_path: Path) -> None:
    (tmp_path / "gbk.txt").write_bytes(PAGE.encode("gb18030"))
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + PAGE.replace("\n", "\r\n").encode())
    (tmp_path / "cr.txt").write_bytes(PAGE.replace("\n", "\r").encode())
    for name in ("gbk.txt", "bom.txt", "cr.txt"):
        (article,), problems = read_source(tmp_path / name, tmp_path)
        assert problems == []
        assert article.title == "测试标题"
        assert texts(article) == ["第一段正文，内容完整结束。", "张三 图片由某医院提供"]
        assert article.paragraphs[1].kind == "byline"


def test_undecodable_file_is_skipped_others_load(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(PAGE, encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\x00\xff\xfe\x81" * 50)
    (tmp_path / "utf16.txt").write_bytes(PAGE.encode("utf-16"))
    problems: list[Problem] = []
    articles = list(iter_articles(tmp_path, problems))
    assert [a.id for a in articles] == ["a-1"]
    assert sorted(p.source for p in problems) == ["bad.txt", "utf16.txt"]
    assert all("not UTF-8 or GB18030" in p.message for p in problems)
    assert str(problems[0]).startswith("bad.txt: ")


def test_empty_page_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n \u3000\n\u200b\n", encoding="utf-8")
    assert read_source(tmp_path / "empty.txt", tmp_path) == (
        [],
        [Problem("empty.txt", None, "no text found")],
    )


def test_unreadable_path_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "dir.txt").mkdir()
    articles, problems = read_source(tmp_path / "dir.txt", tmp_path)
    assert articles == [] and len(problems) == 1
    assert problems[0].source == "dir.txt" and "cannot read" in problems[0].message


# --------------------------------------------------------------------------- feeds


def test_real_feed_lines() -> None:
    articles = read("xwlb_2019.jsonl")
    assert [a.id for a in articles] == [
        "VIDEy1iFAjuyjZx5pHnxCzb4190101",
        "VIDEL6booxFPVWGfhNI6LUd0190101",
        "VIDEF40J7cAHdUv4UI9zG6l8190101",
    ]
    first = articles[0]
    assert first.title == "中美两国领导人互致贺信庆祝两国建交40周年"
    assert first.date == "2019-01-01"
    assert first.tags == ("中美", "领导人", "互致贺信", "建交40周年")
    assert first.url == "https://tv.cctv.com/2019/01/01/VIDEy1iFAjuyjZx5pHnxCzb4190101.shtml"
    assert [len(a.paragraphs) for a in articles] == [4, 4, 2]
    assert first.paragraphs[0] == Paragraph(
        1,
        "央视网消息（新闻联播）：1月1日，国家主席习近平与美国总统特朗普互致贺信，"
        "热烈祝贺两国建交40周年。",
        None,
        "body",
    )


def test_feed_problems_and_normalisation(tmp_path: Path) -> None:
    feed_dir = tmp_path / "feeds"
    feed_dir.mkdir()
    rows = [
        {"id": "ok-1", "title": "标题一", "text": "第一段\n\n 第 二 段 \n", "date": "2024-02-29"},
        "{not json",
        ["a", "list"],
        {"title": "无编号", "text": "正文"},
        {"id": "x2", "title": "  ", "text": "正文"},
        {"id": "x3", "title": "标题", "text": "正文", "tags": 5},
        {"id": "ok-1", "title": "重复", "text": "正文"},
        {"id": "新闻/7", "title": "标题七", "text": "正文", "tags": ["甲", " 乙 ", ""]},
        {"id": "ok-8", "title": "标题八", "text": "正文", "date": "20231301"},
        {"id": "ok-9", "title": "标题九", "text": "正文", "date": "20231231", "tags": "a, b,"},
    ]
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    lines.insert(1, "")  # blank lines are not problems, but still count for line numbers
    (feed_dir / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    articles, problems = read_source(feed_dir / "a.jsonl", tmp_path)
    # An untitled article is indexed (title ""); bad tags are dropped, the article kept.
    assert [p.line for p in problems] == [3, 4, 5, 7, 8, 10]
    assert all(p.source == "feeds/a.jsonl" for p in problems)
    assert "bad JSON" in problems[0].message
    assert "not a JSON object" in problems[1].message
    assert "'id' is missing" in problems[2].message
    assert problems[3].message == "'tags' is not a string or a list of strings; tags dropped"
    assert "duplicate id 'ok-1'" in problems[4].message
    assert "invalid date '20231301'" in problems[5].message
    assert str(problems[0]).startswith("feeds/a.jsonl:3: bad JSON")

    by_title = {a.title: a for a in articles}
    assert list(by_title) == ["标题一", "", "标题", "标题七", "标题八", "标题九"]
    assert (by_title[""].id, texts(by_title[""])) == ("x2", ["正文"])
    assert (by_title["标题"].id, by_title["标题"].tags) == ("x3", ())
    one = by_title["标题一"]
    assert (one.id, one.date, texts(one)) == ("ok-1", "2024-02-29", ["第一段", "第二段"])
    seven = by_title["标题七"]
    assert re.fullmatch(r"j[0-9a-f]{16}", seven.id)
    assert seven.tags == ("甲", "乙")
    assert by_title["标题八"].date is None
    assert by_title["标题九"].date == "2023-12-31"
    assert by_title["标题九"].tags == ("a", "b")


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    row = json.dumps({"id": "same", "title": "标题", "text": "正文"}, ensure_ascii=False)
    (tmp_path / "a.jsonl").write_text(row + "\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(row + "\n", encoding="utf-8")
    problems: list[Problem] = []
    articles = list(iter_articles(tmp_path, problems))
    assert [(a.id, a.source) for a in articles] == [("same", "a.jsonl")]
    assert len(problems) == 1 and problems[0].source == "b.jsonl"
    assert "duplicate article id 'same'" in problems[0].message


# --------------------------------------------------------------------------- sources, ids


def test_list_sources(tmp_path: Path) -> None:
    for rel in (
        "b.txt", "a.md", "c.jsonl", "skip.csv", "userdict.txt", "synonyms.txt",
        ".hidden.txt", ".git/x.txt", "sub/userdict.txt", "sub/z.TXT",
    ):  # fmt: skip
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PAGE, encoding="utf-8")
    found = [p.relative_to(tmp_path).as_posix() for p in list_sources(tmp_path)]
    assert found == ["a.md", "b.txt", "c.jsonl", "sub/userdict.txt", "sub/z.TXT"]
    assert SOURCE_SUFFIXES == (".txt", ".md", ".jsonl")


def test_page_ids_are_url_safe_and_bounded(tmp_path: Path) -> None:
    long_dir = tmp_path / ("报纸 版面" * 10) / ("x" * 70)
    long_dir.mkdir(parents=True)
    (long_dir / "第1版.txt").write_text(PAGE, encoding="utf-8")
    (tmp_path / "a b").mkdir()
    (tmp_path / "a b" / "c.d.txt").write_text(PAGE, encoding="utf-8")
    ids = [a.id for a in iter_articles(tmp_path)]
    assert ids[0] == "a_b_c.d-1"
    assert all(ID_RE.fullmatch(i) for i in ids)
    assert ids == [a.id for a in iter_articles(tmp_path)]
    assert len(ids[1]) <= 80 and re.search(r"_[0-9a-f]{8}-1$", ids[1])


def test_content_hash_tracks_content() -> None:
    (article,) = read("byline_001.txt")
    same = Article(**{f: getattr(article, f) for f in article.__dataclass_fields__})
    assert same.content_hash == article.content_hash
    changed = Article(**{**same.__dict__, "tags": ("x",)})
    assert changed.content_hash != article.content_hash
    assert re.fullmatch(r"[0-9a-f]{64}", article.content_hash)


def test_problem_str() -> None:
    assert str(Problem("feeds/a.jsonl", 3, "bad")) == "feeds/a.jsonl:3: bad"
    assert str(Problem("x.txt", None, "bad")) == "x.txt: bad"


# --------------------------------------------------------------------------- seeds


def _visible(article: Article) -> str:
    parts = [article.title, article.subtitle or ""]
    for p in article.paragraphs:
        parts += [p.heading or "", p.text]
    return "\n".join(re.sub(r"\s+", "", part) for part in parts)


def _assert_nothing_dropped(path: Path, articles: list[Article]) -> None:
    haystack = "\n".join(_visible(a) for a in articles)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        # Markup is not visible: Markdown heading marks and the dashes before a subtitle.
        visible = re.sub(r"\s+", "", re.sub(r"^\s*#+\s", "", line)).lstrip("—-")
        assert visible in haystack, f"{path.name}:{number} dropped: {line!r}"


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir() if p.suffix != ".jsonl"))
def test_nothing_dropped_in_test_data(name: str) -> None:
    _assert_nothing_dropped(DATA / name, read(name))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Article]]:
    if not SEEDS.is_dir():
        pytest.skip(f"seed pages not present at {SEEDS}")
    root = tmp_path_factory.mktemp("seeds")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, root / path.name)
    out: dict[str, list[Article]] = {}
    problems: list[Problem] = []
    for article in iter_articles(root, problems):
        out.setdefault(article.source, []).append(article)
    assert problems == []
    return out


SEED_TITLES = {
    "000_eacc438995d2ea0a.txt": [
        "党建领航聚合力 精医强能惠民生",
        "潼南区妇幼保健院 筑牢妇幼健康基石 书写“十四五”暖心答卷",
    ],
    "001_95448c8506d5377e.txt": ["以党建统领开启卫生健康事业高质量发展新征程"],
    "002_6529edb4bac6b58f.txt": [
        "党建统领铸医魂 中医为民谱新篇",
        "“支部+社区”推动健康服务“零距离”",
        "党建引领管理增效 服务升级惠泽民生",
    ],
    "003_0e7556534e4a60ae.txt": ["攀越三甲发展新高度 打造妇幼诊疗新高地"],
    "004_ae8107586a0ecb83.txt": ["党建引领 办人民满意的卫生健康事业"],
}


def test_seed_articles(seeds: dict[str, list[Article]]) -> None:
    assert {name: [a.title for a in arts] for name, arts in seeds.items()} == SEED_TITLES
    for name, arts in seeds.items():
        assert [a.id for a in arts] == [f"{name[:-4]}-{k}" for k in range(1, len(arts) + 1)]
        for article in arts:
            assert article.paragraphs and all(p.text for p in article.paragraphs)
            assert article.paragraphs[-1].kind in ("byline", "caption", "body")
    # Each hospital of page 004 is a section of one article, by-lines between them or not.
    headings = [p.heading for p in seeds["004_ae8107586a0ecb83.txt"][0].paragraphs]
    assert list(dict.fromkeys(headings)) == [
        "大足区人民医院 党建“六大工程”擘画医院发展蓝图",
        "綦江区中医院 以党建为核心 强堡垒促发展",
        "大足区邮亭中心卫生院 做百姓家门口的健康卫士",
        "大足区国梁镇卫生院 探索推广“互联网+党建”新模式",
        "垫江县中医院 党建组合拳为高质量发展赋能",
        "奉节县兴隆镇中心卫生院 甘当群众健康“守门人”",
        "巴南区南泉街道社区卫生服务中心 为群众筑牢健康防线",
        "秀山县龙池镇中心卫生院 党建引领医院高质量发展",
    ]
    counts = {name: [len(a.paragraphs) for a in arts] for name, arts in seeds.items()}
    assert counts == {
        "000_eacc438995d2ea0a.txt": [16, 22],
        "001_95448c8506d5377e.txt": [33],
        "002_6529edb4bac6b58f.txt": [22, 10, 11],
        "003_0e7556534e4a60ae.txt": [55],
        "004_ae8107586a0ecb83.txt": [47],
    }


@pytest.mark.parametrize("name", sorted(SEED_TITLES))
def test_nothing_dropped_in_seeds(seeds: dict[str, list[Article]], name: str) -> None:
    _assert_nothing_dropped(SEEDS / name, seeds[name])
