"""Data safety of reading sources (issue 11: items 4, 6, 8, 9, 11 on the ingest side).

One bad line, byte, field, link or giant article must cost only itself: it is reported as
a problem (``file:line: why``) and everything else is read. Real files in ``tmp_path``,
the real reader; the CLI where the case is about the command.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import unicodedata
from pathlib import Path

import pytest

from searchsvc.cli import main
from searchsvc.corpus import (
    MAX_ARTICLE_CHARS,
    MAX_PARAGRAPH_CHARS,
    MAX_SOURCE_BYTES,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    Article,
    Problem,
    iter_articles,
    list_sources,
    read_source,
)

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DATA = Path(__file__).parent / "data" / "corpus"


def row(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False)


def feed(tmp_path: Path, *lines: str | bytes, name: str = "a.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(
        b"\n".join(x if isinstance(x, bytes) else x.encode("utf-8") for x in lines) + b"\n"
    )
    return path


def read(path: Path) -> tuple[list[Article], list[str]]:
    articles, problems = read_source(path, path.parent)
    return articles, [str(p) for p in problems]


def assert_storable(articles: list[Article]) -> None:
    """What the index stores must encode: no lone surrogates anywhere."""
    for a in articles:
        assert re.fullmatch(r"[0-9a-f]{64}", a.content_hash)
        fields = [a.id, a.source, a.title, a.subtitle, a.date, a.url, *a.tags]
        fields += [x for p in a.paragraphs for x in (p.text, p.heading)]
        for value in fields:
            if value is not None:
                value.encode("utf-8")


GOOD_1 = row(id="g1", title="第一篇", text="第一段。")
GOOD_3 = row(id="g3", title="第三篇", text="第三段。")


# --------------------------------------------------------------------------- item 4


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ('{"id": "x\\ud800", "title": "t", "text": "正文"}', "id"),
        ('{"id": "x", "title": "\\ud800", "text": "正文"}', "title"),
        ('{"id": "x", "title": "t", "text": "正文\\udc00"}', "text"),
        ('{"id": "x", "title": "t", "text": "正文", "url": "https://a.cn/\\ud800"}', "url"),
        ('{"id": "x", "title": "t", "text": "正文", "date": "\\udbff"}', "date"),
        ('{"id": "x", "title": "t", "text": "正文", "tags": "a,\\ud800"}', "tags"),
        ('{"id": "x", "title": "t", "text": "正文", "tags": ["a", "\\udfff"]}', "tags"),
    ],
)
def test_lone_surrogate_costs_its_line_only(tmp_path: Path, bad: str, field: str) -> None:
    articles, problems = read(feed(tmp_path, GOOD_1, bad, GOOD_3))
    assert [a.id for a in articles] == ["g1", "g3"]
    assert problems == [
        f"a.jsonl:2: {field!r} holds an unpaired surrogate escape (\\ud800-\\udfff); line skipped"
    ]
    assert_storable(articles)


def test_escaped_surrogate_pair_is_a_character(tmp_path: Path) -> None:
    articles, problems = read(feed(tmp_path, '{"id": "e", "title": "\\ud83d\\ude00", "text": "x"}'))
    assert problems == [] and articles[0].title == "😀"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ('{"id": "d", "text": "t", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "JSON nested"),
        # Python refuses integers of more than 4300 digits with a ValueError, not a JSON error.
        ('{"id": "n", "text": "t", "n": ' + "9" * 5000 + "}", "cannot read (ValueError: "),
    ],
)
def test_any_line_failure_costs_that_line(tmp_path: Path, bad: str, why: str) -> None:
    articles, problems = read(feed(tmp_path, GOOD_1, bad, GOOD_3))
    assert [a.id for a in articles] == ["g1", "g3"]
    assert len(problems) == 1 and problems[0].startswith(f"a.jsonl:2: {why}")
    assert problems[0].endswith("; line skipped") and len(problems[0]) < 300


def test_invalid_byte_costs_its_line_not_the_feed(tmp_path: Path) -> None:
    # The whole file is valid GB18030 ("\x81a" is a GBK pair, and so are the UTF-8 bytes
    # of 中文): decoding it as GB18030 turned every title into mojibake.
    lines = [row(id="u1", title="中文", text="正文一。"), b'{"id": "u2", "title": "\x81a"}']
    lines.append(row(id="u3", title="标题", text="正文三。"))
    articles, problems = read(feed(tmp_path, *lines))
    assert [(a.id, a.title) for a in articles] == [("u1", "中文"), ("u3", "标题")]
    assert problems == ["a.jsonl:2: not UTF-8 (byte 0x81); line skipped"]


def test_invalid_byte_neither_encoding_decodes(tmp_path: Path) -> None:
    lines = [GOOD_1, b'{"id": "u2", "title": "\xff", "text": "x"}', GOOD_3]
    articles, problems = read(feed(tmp_path, *lines))
    assert [a.id for a in articles] == ["g1", "g3"]
    assert problems == ["a.jsonl:2: not UTF-8 (byte 0xFF); line skipped"]


def test_gb18030_feed_reads_and_one_bad_line_costs_that_line(tmp_path: Path) -> None:
    lines = [
        row(id=f"g{i}", title=f"标题{i}", text=f"第{i}段正文。").encode("gb18030") for i in (1, 3)
    ]
    articles, problems = read(
        feed(tmp_path, lines[0], b'{"id": "g2", "title": "\xff\xff"}', lines[1])
    )
    assert [(a.id, a.title, a.paragraphs[0].text) for a in articles] == [
        ("g1", "标题1", "第1段正文。"),
        ("g3", "标题3", "第3段正文。"),
    ]
    assert problems == ["a.jsonl:2: not GB18030 (byte 0xFF); line skipped"]


def test_nul_or_literal_replacement_character_does_not_drop_the_feed(tmp_path: Path) -> None:
    # Both used to mark the whole file as binary ("not UTF-8 or GB18030 text; file skipped").
    lines = [
        GOOD_1,
        b'{"id": "z", "text": "a\x00b"}',
        row(id="r", title="\ufffd", text="x"),
        GOOD_3,
    ]
    articles, problems = read(feed(tmp_path, *lines))
    assert [a.id for a in articles] == ["g1", "r", "g3"]
    assert len(problems) == 1 and problems[0].startswith("a.jsonl:2: bad JSON")


def test_concatenated_feeds_with_a_bom_in_the_middle(tmp_path: Path) -> None:
    articles, problems = read(
        feed(tmp_path, b"\xef\xbb\xbf" + GOOD_1.encode(), b"\xef\xbb\xbf" + GOOD_3.encode())
    )
    assert problems == [] and [a.id for a in articles] == ["g1", "g3"]


def test_page_with_a_stray_byte_stays_utf8(tmp_path: Path) -> None:
    page = "中文标题\n\n第一段正文，内容\n\n完整结束。\n\n第二段正文也在这里。\n"
    data = page.encode("utf-8").replace(
        "第二段".encode(), "第二".encode() + b"\xe6" + "段".encode()
    )
    (tmp_path / "p.txt").write_bytes(data)
    (article,), problems = read(tmp_path / "p.txt")
    assert article.title == "中文标题"
    assert [p.text for p in article.paragraphs] == [
        "第一段正文，内容完整结束。",
        "第二\ufffd段正文也在这里。",
    ]
    assert problems == ["p.txt:7: bytes that are not UTF-8 (0xE6…) replaced by U+FFFD"]


def test_binary_files_are_still_refused(tmp_path: Path) -> None:
    (tmp_path / "rnd.txt").write_bytes(random.Random(7).randbytes(50_000))
    (tmp_path / "u16.jsonl").write_bytes((GOOD_1 + "\n" + GOOD_3 + "\n").encode("utf-16"))
    for name in ("rnd.txt", "u16.jsonl"):
        assert read(tmp_path / name) == ([], [f"{name}: not UTF-8 or GB18030 text; file skipped"])


def test_mangled_feeds_never_raise_and_stay_storable(tmp_path: Path) -> None:
    """Random damage to a real feed: reading never raises, every article can be stored."""
    original = (DATA / "xwlb_2019.jsonl").read_bytes()
    rnd = random.Random(11)
    for k in range(60):
        data = bytearray(original)
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(data))
            choice = rnd.random()
            if choice < 0.4:
                data[i] = rnd.randrange(256)
            elif choice < 0.7:
                data[i:i] = rnd.choice([b"\\ud800", b"\\udfff", b"\x00", b"\xff", b"[" * 3000])
            else:
                del data[i : i + rnd.randint(1, 40)]
        path = tmp_path / f"m{k}.jsonl"
        path.write_bytes(bytes(data))
        articles, problems = read_source(path, tmp_path)
        assert_storable(articles)
        assert all(isinstance(p, Problem) for p in problems)
        str(problems).encode("utf-8")


def test_bad_feed_lines_through_the_cli(runner, tmp_path: Path) -> None:
    """The reported case: the update used to die with a traceback (exit 1) every time."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    lines = [GOOD_1, '{"id": "s", "title": "\\ud800", "text": "x"}', "[" * 50_000, GOOD_3]
    feed(seeds, *lines, b'{"id": "b", "title": "\xff", "text": "x"}')
    args = ["--seeds", str(seeds), "--index", str(tmp_path / "index")]
    for command in ("build", "update"):
        result = runner.invoke(main, [command, *args])
        assert result.exit_code in (0, 3), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    result = runner.invoke(main, ["build", *args])
    assert result.exit_code == 3, result.output
    for line in ("a.jsonl:2: 'title' holds", "a.jsonl:3: JSON nested", "a.jsonl:5: not UTF-8"):
        assert line in result.output
    assert "2 added" in result.output
    result = runner.invoke(main, ["search", "第三段", "--json", "--index", str(tmp_path / "index")])
    assert json.loads(result.output)["hits"][0]["article_id"] == "g3"


# --------------------------------------------------------------------------- item 6


@pytest.mark.parametrize(
    "title_json",
    ["", '"title": null, ', '"title": "", ', '"title": " \\u3000 ", ', '"title": "\\u200b", '],
)
def test_untitled_feed_article_is_indexed_with_an_empty_title(
    tmp_path: Path, title_json: str
) -> None:
    articles, problems = read(
        feed(tmp_path, '{"id": "b1", ' + title_json + '"text": "简讯一句。\\n第二句。"}')
    )
    assert problems == []
    (article,) = articles
    # Not the first sentence: a title is matched for every paragraph of its article.
    assert article.title == "" and [p.text for p in article.paragraphs] == [
        "简讯一句。",
        "第二句。",
    ]


def test_title_of_the_wrong_type_is_dropped_not_the_article(tmp_path: Path) -> None:
    articles, problems = read(feed(tmp_path, row(id="t", title=["x"], text="正文")))
    assert [(a.id, a.title) for a in articles] == [("t", "")]
    assert problems == ["a.jsonl:1: 'title' is not a string; title dropped"]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"title": "t", "text": "x"}, "'id' is missing"),
        ({"id": " ", "title": "t", "text": "x"}, "'id' is empty"),
        ({"id": "i", "title": "t"}, "'text' is missing"),
        ({"id": "i", "title": "t", "text": " \n "}, "'text' is empty"),
        ({"id": "i", "text": "\u200b"}, "'text' has no visible paragraph"),
    ],
)
def test_missing_id_or_text_still_skips_the_line(tmp_path: Path, fields: dict, why: str) -> None:
    assert read(feed(tmp_path, row(**fields))) == ([], [f"a.jsonl:1: {why}; line skipped"])


def test_untitled_page_gets_no_made_up_title(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text(
        "第一段正文，内容很长很长。\n\n第二段正文。\n", encoding="utf-8"
    )
    (article,), problems = read(tmp_path / "p.txt")
    assert problems == [] and article.title == ""
    assert [p.text for p in article.paragraphs] == ["第一段正文，内容很长很长。", "第二段正文。"]


def test_page_of_headlines_only_is_findable(tmp_path: Path) -> None:
    """Only paragraphs are indexed: an article without one could never be found."""
    (tmp_path / "t.txt").write_text("只有标题的一页\n\n副标题在这里\n", encoding="utf-8")
    (article,), problems = read(tmp_path / "t.txt")
    assert problems == [] and article.title
    assert [p.text for p in article.paragraphs] == ["只有标题的一页 副标题在这里"]


# --------------------------------------------------------------------------- item 8


def sentences(n: int, start: int = 0) -> str:
    return "".join(f"这是第{i}句话，内容说明了“一件事情”。" for i in range(start, start + n))


def test_long_paragraph_is_split_at_sentence_ends(tmp_path: Path) -> None:
    long = "他说：“" + sentences(700) + "”" + "结尾也是一句话！"
    articles, problems = read(
        feed(tmp_path, row(id="L", title="长", text=f"前一段。\n{long}\n后一段。"))
    )
    assert problems == []  # nothing lost, nothing to report
    texts = [p.text for p in articles[0].paragraphs]
    assert texts[0] == "前一段。" and texts[-1] == "后一段。"
    pieces = texts[1:-1]
    assert len(pieces) > 3 and "".join(pieces) == long
    assert all(MAX_PARAGRAPH_CHARS // 2 <= len(p) <= MAX_PARAGRAPH_CHARS for p in pieces[:-1])
    # At a sentence end, its closing quote kept with it.
    assert all(p.endswith("。") or p.endswith("。”") for p in pieces[:-1])
    assert [p.number for p in articles[0].paragraphs] == list(range(1, len(texts) + 1))


def test_split_falls_back_to_commas_then_a_hard_cut(tmp_path: Path) -> None:
    commas = "，".join(["没有句号的长长分句"] * 1000)
    marks = "e\u0301" * MAX_PARAGRAPH_CHARS  # a base character and its combining accent
    text = f"{commas}\n{marks}"
    articles, problems = read(feed(tmp_path, row(id="C", title="", text=text)))
    texts = [p.text for p in articles[0].paragraphs]
    assert all(len(t) <= MAX_PARAGRAPH_CHARS for t in texts)
    assert "".join(texts) == commas + marks
    comma_pieces = [t for t in texts if "分句" in t]
    assert all(t.endswith("，") for t in comma_pieces[:-1])
    assert not any(unicodedata.combining(t[0]) for t in texts)


def test_no_paragraph_of_the_seeds_or_test_data_is_split() -> None:
    """MAX_PARAGRAPH_CHARS leaves ids of normal articles alone (xwlb's longest: 2,893)."""
    lengths = [
        len(p.text) for root in (SEEDS, DATA) for a in iter_articles(root) for p in a.paragraphs
    ]
    assert lengths and max(lengths) * 4 < MAX_PARAGRAPH_CHARS


def test_article_text_beyond_the_limit_is_dropped_and_said(tmp_path: Path) -> None:
    text = sentences(MAX_ARTICLE_CHARS // 20 + 500)
    articles, problems = read(feed(tmp_path, row(id="big", title="大", text=text)))
    kept = "".join(p.text for p in articles[0].paragraphs)
    assert len(kept) == MAX_ARTICLE_CHARS and text.startswith(kept)
    assert problems == [
        f"a.jsonl:1: article big: text longer than {MAX_ARTICLE_CHARS:,} characters "
        f"({len(text):,}); the last {len(text) - MAX_ARTICLE_CHARS:,} dropped"
    ]
    (tmp_path / "big.txt").write_text("大标题\n\n" + text + "\n", encoding="utf-8")
    (page,), problems = read(tmp_path / "big.txt")
    assert sum(len(p.text) for p in page.paragraphs) == MAX_ARTICLE_CHARS
    assert problems == [
        f"big.txt: article big-1: text longer than {MAX_ARTICLE_CHARS:,} characters "
        f"({len(text):,}); the last {len(text) - MAX_ARTICLE_CHARS:,} dropped"
    ]


def test_titles_and_tags_are_bounded(tmp_path: Path) -> None:
    title = "很长的标题" * 100
    articles, problems = read(
        feed(tmp_path, row(id="T", title=title, text="正文", tags=["t" * 500]))
    )
    (article,) = articles
    assert len(article.title) == MAX_TITLE_CHARS and title.startswith(article.title[:-1])
    assert article.tags == ("t" * MAX_TITLE_CHARS,)
    assert problems == [
        f"a.jsonl:1: more than 100 tags, or tags longer than {MAX_TITLE_CHARS} characters; "
        "the rest dropped",
        f"a.jsonl:1: article T: title longer than {MAX_TITLE_CHARS} characters; cut",
    ]


def test_markdown_headings_stay_bounded_and_visible(tmp_path: Path) -> None:
    # Headings in a row were glued into one ever longer heading (quadratic memory: a
    # 0.6 MB file took 9 GB), and a page of headings only was "no text found".
    lines = [f"### 小标题{i}" for i in range(300)]
    (tmp_path / "h.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (article,), problems = read(tmp_path / "h.md")
    assert problems == []
    seen = " ".join([article.title] + [p.text for p in article.paragraphs])
    assert all(f"小标题{i} " in seen + " " for i in range(300))
    assert all(len(p.heading or "") <= MAX_TITLE_CHARS for p in article.paragraphs)
    # A "heading" longer than a title is text with a stray "#": a paragraph, kept whole.
    long = "这一行很长。" * 100
    (tmp_path / "l.md").write_text(f"# 标题\n\n## {long}\n\n正文。\n", encoding="utf-8")
    (article,), problems = read(tmp_path / "l.md")
    assert problems == [] and article.subtitle is None
    assert [p.text for p in article.paragraphs] == [long, "正文。"]


def by_line_captions(n: int) -> str:
    return "标题\n\n正文一段，结束。\n\n记者 张三\n\n" + "".join(f"图说{i}\n\n" for i in range(n))


def column_lines(n: int) -> str:
    return "".join(f"第{i}行文字内容，继续写下去\n" for i in range(n))


@pytest.mark.parametrize(
    "text",
    [
        by_line_captions(20_000),  # used to take ~13 s (a scan ahead per caption)
        column_lines(100_000),  # ~5 s (the joined paragraph copied per line)
        "# 标" + " " * 100_000 + "x\n",  # ~12 s (the heading regex backtracked)
    ],
    ids=["captions-after-byline", "column-lines", "heading-with-spaces"],
)
def test_page_parsing_is_linear(tmp_path: Path, text: str) -> None:
    (tmp_path / "p.md").write_text(text, encoding="utf-8")
    started = time.perf_counter()
    articles, _ = read(tmp_path / "p.md")
    # Generous for a loaded machine: these take well under a second now.
    assert time.perf_counter() - started < 3
    assert articles and all(len(p.text) <= MAX_PARAGRAPH_CHARS for p in articles[0].paragraphs)


def test_oversized_source_is_not_read(tmp_path: Path) -> None:
    with open(tmp_path / "huge.jsonl", "wb") as f:
        f.truncate(MAX_SOURCE_BYTES + 1)  # sparse: no disk used
    assert read(tmp_path / "huge.jsonl") == (
        [],
        [f"huge.jsonl: larger than {MAX_SOURCE_BYTES // 2**20} MiB; file skipped (split it)"],
    )


# --------------------------------------------------------------------------- item 9

PAGE = "外部标题\n\n外部正文，结束。\n"
OUTSIDE = (
    "symbolic link to outside the seeds directory; not followed (set follow_symlinks to index it)"
)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """seeds/ with a page, and outside/ with a secret file and a directory of pages."""
    seeds, outside = tmp_path / "seeds", tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    seeds.mkdir()
    (seeds / "own.txt").write_text(PAGE.replace("外部", "自己"), encoding="utf-8")
    (outside / "secret.txt").write_text(PAGE, encoding="utf-8")
    (outside / "dir" / "x.txt").write_text(PAGE, encoding="utf-8")
    return seeds, outside


def names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_links_out_of_the_seeds_are_not_followed(tree: tuple[Path, Path]) -> None:
    seeds, outside = tree
    (seeds / "passwd.txt").symlink_to(outside / "secret.txt")
    (seeds / "linked").symlink_to(outside / "dir")
    (seeds / "notes.png").symlink_to(outside / "secret.txt")  # not a source: not reported
    assert names(list_sources(seeds), seeds) == ["own.txt"]
    problems: list[Problem] = []
    assert names(list_sources(seeds, problems), seeds) == ["own.txt"]
    assert problems == [Problem("linked", None, OUTSIDE), Problem("passwd.txt", None, OUTSIDE)]
    problems = []
    assert [a.id for a in iter_articles(seeds, problems)] == ["own-1"]
    assert [str(p) for p in problems] == [f"linked: {OUTSIDE}", f"passwd.txt: {OUTSIDE}"]
    # Configured to follow them: read, under the link's name.
    followed = list_sources(seeds, follow_symlinks=True)
    assert names(followed, seeds) == ["linked/x.txt", "own.txt", "passwd.txt"]
    ids = [a.id for a in iter_articles(seeds, follow_symlinks=True)]
    assert ids == ["linked_x-1", "own-1", "passwd-1"]


def test_links_inside_the_seeds_name_each_file_once(tree: tuple[Path, Path]) -> None:
    seeds, _ = tree
    (seeds / "again.txt").symlink_to("own.txt")  # the same file under a second name
    (seeds / "sub").mkdir()
    (seeds / "sub" / "loop").symlink_to("..")  # a loop back to the root
    (seeds / ".drafts").mkdir()
    (seeds / ".drafts" / "d.txt").write_text(PAGE, encoding="utf-8")
    (seeds / "drafts").symlink_to(".drafts")  # hidden directory published under a name
    assert names(list_sources(seeds), seeds) == ["drafts/d.txt", "own.txt"]
    problems: list[Problem] = []
    assert names(list_sources(seeds, problems), seeds) == ["drafts/d.txt", "own.txt"]
    assert problems == []
    assert [a.id for a in iter_articles(seeds)] == ["drafts_d-1", "own-1"]


def test_read_checks_the_file_it_opens(tree: tuple[Path, Path]) -> None:
    seeds, outside = tree
    (seeds / "sub").mkdir()
    (seeds / "sub" / "late.txt").write_text(PAGE, encoding="utf-8")
    listed = list_sources(seeds)
    assert names(listed, seeds) == ["own.txt", "sub/late.txt"]
    # Swapped for links out of the seeds after the listing: the file, or a directory.
    (seeds / "own.txt").unlink()
    (seeds / "own.txt").symlink_to(outside / "secret.txt")
    (seeds / "sub").rename(seeds.parent / "moved")
    (seeds / "sub").symlink_to(outside / "dir")
    (outside / "dir" / "late.txt").write_text(PAGE, encoding="utf-8")
    for path in listed:
        articles, problems = read_source(path, seeds)
        assert articles == [] and [p.message for p in problems] == [OUTSIDE]
    assert read_source(listed[0], seeds, follow_symlinks=True)[0][0].title == "外部标题"
    # A file outside the seeds altogether is not read either (only through the option).
    articles, problems = read_source(outside / "secret.txt", seeds)
    assert articles == [] and problems[0].message == "not inside the seeds directory; not read"


def test_a_fifo_swapped_in_does_not_block_the_read(tree: tuple[Path, Path]) -> None:
    seeds, _ = tree
    (seeds / "own.txt").unlink()
    os.mkfifo(seeds / "own.txt")
    result: list[object] = []
    reader = threading.Thread(
        target=lambda: result.append(read_source(seeds / "own.txt", seeds)), daemon=True
    )
    reader.start()
    reader.join(timeout=10)
    assert result == [([], [Problem("own.txt", None, "cannot read file: not a regular file")])]


def test_undecodable_file_name_is_skipped_not_fatal(runner, tmp_path: Path) -> None:
    """A name that is not UTF-8 used to crash every build (the manifest could not be written)."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "ok.txt").write_text(PAGE, encoding="utf-8")
    bad = os.path.join(os.fsencode(seeds), b"bad\xff.txt")
    with open(bad, "wb") as f:
        f.write(PAGE.encode("utf-8"))
    result = runner.invoke(main, ["build", "--seeds", str(seeds), "--index", str(tmp_path / "i")])
    assert result.exit_code in (0, 3), result.output
    assert "1 added" in result.output
    problems: list[Problem] = []
    assert names(list_sources(seeds, problems), seeds) == ["ok.txt"]
    assert [str(p) for p in problems] == [
        "bad\ufffd.txt: name is not valid UTF-8; skipped (rename it)"
    ]


# --------------------------------------------------------------------------- item 11


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(document.cookie)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "/news/1.html",
        "//evil.example/x",
        "www.example.com/x",
        "http://",
        "https:///path",
        "http://[::1",
        "ftp://example.com/x",
        "https://a.cn/\njavascript:alert(1)",
        "https://exa mple.com/",
        "https://a.cn/" + "x" * MAX_URL_CHARS,
        5,
    ],
)
def test_only_http_urls_are_kept(tmp_path: Path, url: object) -> None:
    articles, problems = read(feed(tmp_path, row(id="u", title="t", text="正文", url=url)))
    assert [(a.id, a.url) for a in articles] == [("u", None)]  # the article stays
    if not isinstance(url, str):
        assert problems == ["a.jsonl:1: 'url' is not a string; url dropped"]
    elif len(url) > MAX_URL_CHARS:
        assert problems == [f"a.jsonl:1: url longer than {MAX_URL_CHARS} characters; url dropped"]
    else:
        assert problems == ["a.jsonl:1: url is not http(s); url dropped"]


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://tv.cctv.com/2019/01/01/V.shtml", "https://tv.cctv.com/2019/01/01/V.shtml"),
        ("HTTP://EXAMPLE.COM/A?b=1#c", "HTTP://EXAMPLE.COM/A?b=1#c"),
        ("  http://例子.中国/路径  ", "http://例子.中国/路径"),
        ("", None),
        (None, None),
    ],
)
def test_http_urls_are_kept(tmp_path: Path, url: str | None, kept: str | None) -> None:
    articles, problems = read(feed(tmp_path, row(id="u", title="t", text="正文", url=url)))
    assert problems == [] and articles[0].url == kept
