"""The JSON API contract, its one error shape, and hostile input (never a 5xx)."""

from __future__ import annotations

import json

import pytest
from conftest import assert_api_error

HIT_FIELDS = {"id", "score", "article_id", "title", "heading", "source", "paragraph", "text",
              "highlight"}


def test_search_contract(client):
    r = client.get("/api/search", query_string={"q": "ECMO", "page": 1, "size": 5})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    body = r.get_json()
    assert {"query", "total", "page", "size", "took_ms", "hits"} <= set(body)
    assert body["query"] == "ECMO" and body["page"] == 1 and body["size"] == 5
    assert isinstance(body["took_ms"], float | int) and body["total"] >= len(body["hits"]) > 0
    for hit in body["hits"]:
        assert HIT_FIELDS <= set(hit)
        assert isinstance(hit["score"], float | int) and isinstance(hit["paragraph"], int)
        assert hit["heading"] is None or isinstance(hit["heading"], str)
        assert hit["source"].endswith(".txt")
    top = body["hits"][0]
    assert "<mark>ECMO</mark>" in top["highlight"]
    assert "ECMO" in top["text"] and "<mark>" not in top["text"]


def test_json_is_utf8_not_escaped(client):
    r = client.get("/api/search?q=医院")
    assert "医院".encode() in r.data


@pytest.mark.parametrize("path", [
    "/api/search?q=医院&size=10", "/api/search?q=ECMO 急救&group=article", "/api/search?q=(",
    "/api/articles/none", "/api/suggest?q=医", "/healthz",
])
def test_json_answers_are_the_json_module_would_write(client, path):
    """orjson encodes the answers: the same text ``json`` wrote (compact, UTF-8, fields
    in order), one newline after it."""
    r = client.get(path)
    data = json.loads(r.data)
    assert r.data.decode("utf-8") == json.dumps(data, ensure_ascii=False,
                                               separators=(",", ":")) + "\n"


def test_article_endpoint(client):
    hit = client.get("/api/search?q=ECMO").get_json()["hits"][0]
    r = client.get(f"/api/articles/{hit['article_id']}?q=ECMO")
    assert r.status_code == 200
    art = r.get_json()
    assert art["id"] == hit["article_id"] and art["title"] == hit["title"]
    assert art["source"] == hit["source"]
    numbers = [p["number"] for p in art["paragraphs"]]
    assert numbers == sorted(numbers) and hit["paragraph"] in numbers
    assert hit["paragraph"] in art["matched_paragraphs"]


def test_healthz(client, seed_articles):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["articles"] == len(seed_articles)
    assert body["documents"] == sum(len(a.paragraphs) for a in seed_articles)
    assert body["version"].startswith("v-")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "empty_query"),
        ({"q": ""}, "empty_query"),
        ({"q": "   "}, "empty_query"),
        ({"q": "医" * 201}, "query_too_long"),
        ({"q": "医院", "page": "0"}, "invalid_page"),
        ({"q": "医院", "page": "-1"}, "invalid_page"),
        ({"q": "医院", "page": "abc"}, "invalid_page"),
        ({"q": "医院", "page": "1.5"}, "invalid_page"),
        ({"q": "医院", "page": "99999999999999999999"}, "invalid_page"),
        ({"q": "医院", "size": "0"}, "invalid_size"),
        ({"q": "医院", "size": "101"}, "invalid_size"),
        ({"q": "医院", "size": "ten"}, "invalid_size"),
        ({"q": "医院", "size": "-5"}, "invalid_size"),
        ({"q": "医院", "page": "5000", "size": "100"}, "page_too_deep"),
    ],
)
def test_bad_parameters_get_the_error_shape(client, params, code):
    assert_api_error(client.get("/api/search", query_string=params), 400, code)


def test_unknown_article_and_route(client):
    assert_api_error(client.get("/api/articles/nope"), 404, "article_not_found")
    assert_api_error(client.get("/api/articles/..%2F..%2Fetc%2Fpasswd"), 404)
    assert_api_error(client.get("/api/nothing-here"), 404)
    assert_api_error(client.post("/api/search?q=x"), 405)


HOSTILE_QUERIES = [
    '"', '""', '"""', '"医院', '医院"', '"医院" "', "'", "''", "(", ")", "((医院", "医院))",
    "*", "**", "?", "医*", "*院", "医?", "~", "医院~2", "^", "医院^10", "[", "]", "{", "}",
    "[a TO z]", "{a TO z}", "title:医院", "text:", ":", "::", "a:b:c", "\\", "\\\\", "/", "//",
    "AND", "OR", "NOT", "AND OR NOT", "医院 AND", "OR 医院", "医院 OR", "医院 OR OR 中医",
    "-", "--", "---医院", "-医院", "- 医院", "+医院", "+", "&&", "||", "!", "!医院", "%", "%%",
    "%s%s%s", "{0}", "${jndi:ldap://x}", "<script>alert(1)</script>", "<b>医院</b>",
    "<img src=x onerror=alert(1)>", "</mark>", "<mark>", "&lt;", "&amp;", "javascript:alert(1)",
    "' OR 1=1 --", "'; DROP TABLE x; --", "\x00", "医\x00院", "\x01\x02\x03", "\t", "\n", "\r\n",
    "\u200b", "\u200b医院\u200b", "\ufeff", "\ufffd", "\ud7ff", "\u3000", "　医院　", "ＥＣＭＯ",
    "ｅｃｍｏ", "Ecmo", "①②③", "…", "……", "——", "《》", "“”", "「」", "【】", "、", "。",
    "🙂", "医院🙂", "\U0001f600" * 50, "ß", "ǅ", "İ", "ﬁ", "a" * 200, "医" * 200, "医 " * 100,
    "医院 " * 40, '"' * 200, "-" * 200, "OR " * 60, "a" * 199 + "医", "\u0301", "e\u0301",
    "\u202e医院", "%E5%8C%BB", "%FF", "../../etc/passwd", "..\\..\\windows", "file:///etc/passwd",
    "null", "None", "undefined", "NaN", "0", "-1", "1e309", "[]", "{}", "true",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_never_5xx_and_stay_inert(client, query):
    r = client.get("/api/search", query_string={"q": query})
    assert r.status_code in (200, 400), r.data[:200]
    assert r.mimetype == "application/json"
    body = r.get_json()
    if r.status_code == 400:
        assert_api_error(r, 400)
        return
    for hit in body["hits"]:
        without_marks = hit["highlight"].replace("<mark>", "").replace("</mark>", "")
        assert "<" not in without_marks and ">" not in without_marks
    page = client.get("/", query_string={"q": query})
    assert page.status_code in (200, 400)
    assert b"<script>alert" not in page.data and b"<img src=x" not in page.data


@pytest.mark.parametrize(
    "raw",
    ["/api/search?q=%FF%FE", "/api/search?q=%E5%8C", "/api/search?q=%", "/api/search?q=%zz",
     "/api/search?q=%C0%AF", "/api/search?q=a&page=%FF", "/api/search?q=a&size=%00",
     "/api/search?q=%00", "/api/search?q=a&q=b", "/api/search?page=1&size=1"],
)
def test_invalid_percent_encoding_never_5xx(client, raw):
    r = client.get(raw)
    assert r.status_code in (200, 400)
    assert r.mimetype == "application/json"
    if r.status_code == 400:
        assert_api_error(r, 400)


def test_fallback_is_reported(client):
    body = client.get("/api/search", query_string={"q": "哪家医院引进了ECMO设备？"}).get_json()
    assert body["matched_all"] is False and body["total"] > 0
    assert body["words"] and body["hits"][0]["matched_words"] <= body["hits"][0]["query_words"]
    strict = client.get("/api/search?q=ECMO").get_json()
    assert strict["matched_all"] is True and strict["words"] == []
    page = client.get("/", query_string={"q": "哪家医院引进了ECMO设备？"}).get_data(as_text=True)
    assert "没有同时包含全部搜索词的段落" in page and "个词" in page


def test_suggest_completes_words_and_titles(client):
    body = client.get("/api/suggest", query_string={"q": "垫江"}).get_json()
    assert body["query"] == "垫江" and 1 <= len(body["suggestions"]) <= 10
    assert all(s.startswith("垫江") for s in body["suggestions"])
    titles = client.get("/api/suggest", query_string={"q": "党建领航"}).get_json()
    assert "党建领航聚合力 精医强能惠民生" in titles["suggestions"]
    assert client.get("/api/suggest?q=ecm").get_json()["suggestions"][:1] == ["ecmo"]
    trad = client.get("/api/suggest", query_string={"q": "醫院"}).get_json()
    assert trad["suggestions"] and all(s.startswith("医院") for s in trad["suggestions"])
    assert client.get("/api/suggest?q=").get_json()["suggestions"] == []
    assert client.get("/api/suggest?q=zzzz").get_json()["suggestions"] == []
    assert_api_error(client.get("/api/suggest", query_string={"q": "医" * 201}), 400)


def test_did_you_mean(client):
    typo = client.get("/api/search", query_string={"q": "ECNO"}).get_json()
    assert typo["total"] == 0 and typo["did_you_mean"] == "ecmo"
    fixed = client.get("/api/search", query_string={"q": typo["did_you_mean"]}).get_json()
    assert fixed["total"] >= 1 and fixed["matched_all"]
    assert client.get("/api/search?q=ECMO").get_json()["did_you_mean"] is None
    page = client.get("/?q=ECNO").get_data(as_text=True)
    assert "您是不是要找" in page and 'href="/?q=ecmo"' in page
