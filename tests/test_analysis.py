"""Analysis: normalisation, jieba tokens (text, positions, offsets) and the gram stream."""

from __future__ import annotations

import json
import marshal
import os
import stat
import subprocess
import sys
from pathlib import Path

import jieba
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from searchsvc.analysis import (
    JIEBA_CACHE_ENV,
    JiebaTokenizer,
    jieba_words,
    normalize,
    squeeze,
    squeeze_known,
    squeeze_text,
)


def test_normalize_folds_width_and_case():
    assert normalize("ＥＣＭＯ，２０２４年").text == "ecmo,2024年"
    assert normalize("ECMO").origin is None  # same length: identity map


def test_normalize_keeps_a_map_when_length_changes():
    text = "医院……ECMO"
    norm = normalize(text)
    assert norm.text == "医院......ecmo"
    start = norm.text.index("ecmo")
    assert norm.original_span(start, start + 4) == (4, 8)
    assert text[4:8] == "ECMO"


def test_squeeze_keeps_only_word_characters_with_their_origin():
    sq = squeeze("“十四五”时期，ＥＣＭＯ 设备")
    assert sq.text == "十四五时期ecmo设备"
    assert sq.original_span(0, 5) == (1, 7)  # 十 … 期 in the original, quotes inside
    assert squeeze_text("77.7万、50%") == "777万50"


# Characters where squeezing is not plain filtering: case, full width, NFKC expansions
# and compositions (…, ①, ß, ㈠, combining accents), Traditional forms and OpenCC's
# phrases (乾隆, 著名), characters outside the BMP, "_" (a regex word character, not ours).
TRICKY = "aAzZ09_ＥＣＭＯ１２ß½𝐀①Ⅻ㈠™…，。「」 \u3000e\u0301\u0345ͺİ醫院乾隆著名干𠀀𪚥﨑的中国"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(TRICKY) | st.characters(exclude_categories=("Cs",)),
               max_size=40))
@example("GDP增长６．５％，乾隆年间醫院……")
@example("ß①㈠e\u0301")
def test_squeeze_with_its_known_squeezed_string_equals_squeeze(text: str):
    """Hits take their squeezed text from the index and skip normalising again when case
    folding alone explains it: the map to the original must be squeeze's own."""
    assert squeeze_known(text, squeeze_text(text)) == squeeze(text)


def test_jieba_words_are_cut_for_search_without_punctuation():
    text = "2024年医院在全县率先引进ECMO设备，中华人民共和国"
    expected = [w.lower() for w in jieba.cut_for_search(text) if w.strip("，")]
    assert list(jieba_words(text)) == expected
    assert list(jieba_words("中华人民共和国成立")) == [
        "中华", "华人", "人民", "共和", "共和国", "中华人民共和国", "成立"
    ]


def test_jieba_drops_punctuation_and_spaces():
    assert list(jieba_words("“医院”，  ！")) == ["医院"]


def test_the_tokenizer_indexes_the_search_words(seed_articles):
    """The text field's tokens are exactly ``jieba_words``, on every seed paragraph and on
    texts whose normalisation changes their length."""
    texts = [p.text for a in seed_articles for p in a.paragraphs]
    texts += ["……潼南区妇幼保健院", "醫院發展ＥＣＭＯ", "ﬁle № 3½", "“十四五”时期，  "]
    for text in texts:
        assert [t.text for t in JiebaTokenizer()(text)] == list(jieba_words(text)), text


def test_the_tokenizer_refuses_positions():
    with pytest.raises(ValueError, match="no positions"):
        list(JiebaTokenizer()("医院", positions=True))


def test_jieba_words_of_empty_text():
    assert list(jieba_words("")) == []


def test_traditional_folds_to_simplified_with_a_one_to_one_map():
    assert normalize("醫院發展").text == "医院发展"
    assert normalize("醫院").origin is None
    sq = squeeze("「醫院」引進ＥＣＭＯ")
    assert sq.text == "医院引进ecmo"
    assert sq.original_span(0, 2) == (1, 3)


def _freq_after_warm_up(env: dict[str, str]) -> dict:
    """Start a fresh process with ``env``, load jieba through searchsvc, report what it got."""
    code = (
        "import json, jieba, searchsvc.analysis as a; a.warm_up(); "
        "print(json.dumps({'planted': jieba.dt.FREQ.get('植入的词'), "
        "'tmp_dir': jieba.dt.tmp_dir}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", JIEBA_CACHE_ENV)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
        timeout=120, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_jieba_never_loads_a_cache_planted_in_the_shared_temp_dir(tmp_path: Path):
    """Issue 11.20: jieba's marshal cache lived in world-writable /tmp; anybody could plant
    one. It now lives in a private per-user directory (0700)."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    with open(shared / "jieba.cache", "wb") as fh:
        marshal.dump(({"植入的词": 5, "中": 1}, 6), fh)
    home = tmp_path / "home"
    home.mkdir()
    got = _freq_after_warm_up({"TMPDIR": str(shared), "HOME": str(home)})
    assert got["planted"] is None
    private = home / ".cache" / "searchsvc"
    assert Path(got["tmp_dir"]) == private
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert (private / "jieba.cache").is_file()  # the next start loads it from there


@pytest.mark.slow
def test_a_shared_cache_dir_is_refused(tmp_path: Path):
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    with open(shared / "jieba.cache", "wb") as fh:
        marshal.dump(({"植入的词": 5, "中": 1}, 6), fh)
    got = _freq_after_warm_up({JIEBA_CACHE_ENV: str(shared), "HOME": str(tmp_path)})
    assert got["planted"] is None and Path(got["tmp_dir"]) != shared


# jieba 0.42.1 and jieba-rs differ on these (HMM runs without Chinese, characters outside
# jieba's CJK range); ``analysis.cut`` must give jieba's words.
_SEGMENTATION_CASES = [
    "今年1-5月份,山东潍柴集团实现出口创汇3.88亿美元,同比增长75%",
    "我国主导的td-lte技术建设4g网络,s-400和f-35,2016-2020年",
    "黄嘴白鹭、凤头䴙䴘、苍鹭等数十种",
    "登录www.gfbzb.gov.cn或www.12388.gov.cn,3.0t磁共振,0.050mg,12_3",
    "  全角　空格\r\n换行\t制表 c++ c# a&b 50%",
    "",
]

_COMPARE_SEGMENTERS = """
import json, sys, jieba
from pathlib import Path
from searchsvc import analysis
texts = json.load(open(sys.argv[1], encoding="utf-8"))
dictionary_first = sys.argv[4] == "dictionary first"
def differing():
    return [t for t in texts if list(analysis.cut(t)) != list(jieba.dt.cut(t))]
report = {"before": analysis._rust.active}
if dictionary_first:  # as a build: the version's dictionary is loaded, then jieba-rs
    analysis.load_user_dictionary(Path(sys.argv[2]))
    analysis.use_jieba_rs()
    report["plain"] = []
else:  # as a long-lived process: jieba-rs in use, then a new dictionary
    analysis.use_jieba_rs()
    report["plain"] = differing()
    analysis.load_user_dictionary(Path(sys.argv[2]))
report["active"] = analysis._rust.active
report["user_dictionary"] = differing()
report["words"] = list(analysis.cut("千县工程推动医共体，凤头䴙䴘回来了"))
analysis.load_user_dictionary(Path(sys.argv[3]))
report["after_zero"] = differing()
report["fell_back"] = not analysis._rust.active
print(json.dumps(report, ensure_ascii=False))
"""


@pytest.mark.slow
@pytest.mark.parametrize("order", ["jieba-rs first", "dictionary first"])
def test_the_segmenter_gives_jiebas_words(tmp_path: Path, seed_articles, order: str):
    """``analysis.cut`` (jieba-rs behind jieba's rules) equals ``jieba.dt.cut`` on every
    seed title and paragraph and on the cases where jieba-rs alone differs, before and after
    a user dictionary that adds words (with and without frequency, tagged) and gives
    dictionary words new frequencies; a zero frequency, which jieba-rs cannot mirror, falls
    back to jieba. A fresh process: the dictionary is process-wide.
    (bench/jieba_equality.py does the same over a whole corpus.)"""
    texts = [
        normalize(t).text for a in seed_articles for t in [a.title, *(p.text for p in a.paragraphs)]
    ]
    texts += _SEGMENTATION_CASES
    (tmp_path / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), "utf-8")
    (tmp_path / "userdict.txt").write_text(
        "千县工程 20 n\n医共体\n凤头䴙䴘 50\n潍柴集团 300 nt\n"  # new words
        "我们 5\n医院 200000\n中国\n发展 3 v\n"  # dictionary words, new frequencies
        # jieba keeps a replaced frequency in its total, jieba-rs does not: the total
        # weighs every route, so a large one must be matched (the "ballast").
        "甲乙丙丁戊己庚 60000000\n甲乙丙丁戊己庚 1\n",
        "utf-8",
    )
    (tmp_path / "zero.txt").write_text("医共体 0\n", "utf-8")
    env = {**os.environ, JIEBA_CACHE_ENV: str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", _COMPARE_SEGMENTERS, str(tmp_path / "texts.json"),
         str(tmp_path / "userdict.txt"), str(tmp_path / "zero.txt"), order],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(texts) > 100
    assert report["before"] is False  # jieba itself until a process asks for jieba-rs
    assert report["plain"] == []
    assert report["user_dictionary"] == []
    assert report["active"] is True
    assert report["words"][:3] == ["千县工程", "推动", "医共体"]
    assert report["after_zero"] == [] and report["fell_back"] is True


_QUERY_WORDS_AROUND_A_DICTIONARY = """
import json, sys
from pathlib import Path
from searchsvc import analysis
from searchsvc.query import parse_query
from searchsvc.ranking import match_spec
before = match_spec(parse_query("千县工程 医共体")).words
analysis.load_user_dictionary(Path(sys.argv[1]))
after = match_spec(parse_query("千县工程 医共体")).words
print(json.dumps([before, after], ensure_ascii=False))
"""


def test_a_querys_bm25_words_follow_a_dictionary_loaded_after_it(tmp_path: Path):
    """The BM25 words of a query are memoised (queries recur); a user dictionary loaded
    later must still change them, as it changes the index's words. A fresh process: the
    dictionary is process-wide."""
    (tmp_path / "userdict.txt").write_text("千县工程 20 n\n医共体\n", "utf-8")
    env = {**os.environ, JIEBA_CACHE_ENV: str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", _QUERY_WORDS_AROUND_A_DICTIONARY, str(tmp_path / "userdict.txt")],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    before, after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before == ["千县", "工程", "医共体"]
    assert after == ["工程", "千县工程", "医共体"]


def test_the_word_set_format_indexes_the_tokenizers_words(seed_articles):
    """The text field's format reads ``search_words`` directly; it must index exactly the
    distinct words the field's analyzer yields (Whoosh's Existence path)."""
    from whoosh.formats import Existence

    from searchsvc.analysis import JiebaWordSet

    texts = [p.text for a in seed_articles for p in a.paragraphs]
    texts += ["……潼南区妇幼保健院", "醫院發展ＥＣＭＯ", "ﬁle № 3½", "“十四五”时期，  ", ""]
    for text in texts:
        ours = sorted(JiebaWordSet().word_values(text, JiebaTokenizer()))
        whooshs = sorted(Existence().word_values(text, JiebaTokenizer()))
        assert ours == whooshs, text
