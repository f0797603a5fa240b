"""The HTML pages, rendered on the server (no JavaScript needed)."""

from __future__ import annotations

import re


def test_home_page_is_a_chinese_search_page(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert '<form class="search" action="/" method="get"' in html
    assert 'name="q"' in html and "<label" in html
    assert "试试" in html  # the empty state suggests queries
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="/static/search.js" defer>']  # no inline script (CSP)


def test_results_page(client):
    html = client.get("/?q=ECMO").get_data(as_text=True)
    assert re.search(r"找到 \d+ 个段落，用时 [\d.]+ 毫秒", html)
    assert 'value="ECMO"' in html  # the query stays in the box
    assert "<mark>ECMO</mark>" in html
    link = re.search(r'href="(/articles/[^"?]+\?q=ECMO#p\d+)"', html)
    assert link, "each hit links to its article at the paragraph"


def test_pagination_links(client):
    html = client.get("/?q=医院&page=2&group=none").get_data(as_text=True)
    assert 'aria-current="page">2<' in html
    assert 'href="/?q=%E5%8C%BB%E9%99%A2&amp;page=1&amp;group=none"' in html
    assert 'rel="next"' in html


def test_no_results_page_suggests_what_to_try(client):
    html = client.get("/?q=魑魅魍魉 zzqxj").get_data(as_text=True)
    assert "没有找到" in html and "减少关键词" in html


def test_error_is_shown_in_the_page(client):
    r = client.get("/?q=" + "医" * 300)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "搜索词过长" in html and "Traceback" not in html
    r = client.get("/?q=医院&page=abc")
    assert r.status_code == 400 and "page" in r.get_data(as_text=True)


def test_article_page_highlights_and_anchors(client):
    hit = client.get("/api/search?q=ECMO").get_json()["hits"][0]
    r = client.get(f"/articles/{hit['article_id']}?q=ECMO")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f'id="p{hit["paragraph"]}"' in html
    assert "<mark>ECMO</mark>" in html
    assert hit["title"] in html


def test_unknown_article_page_is_a_404_page(client):
    r = client.get("/articles/nope")
    assert r.status_code == 404
    assert "找不到这篇文章" in r.get_data(as_text=True)
    assert r.mimetype == "text/html"


def test_security_headers(client):
    for path in ("/", "/api/search?q=医院", "/nope"):
        r = client.get(path)
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"]


def test_static_stylesheet_is_served(client):
    with client.get("/static/style.css") as r:
        assert r.status_code == 200 and b"prefers-color-scheme: dark" in r.data


def test_page_groups_by_article_by_default(client):
    html = client.get("/?q=医院").get_data(as_text=True)
    assert "本文还有" in html and "段匹配" in html
    flat = client.get("/?q=医院&group=none").get_data(as_text=True)
    assert "本文还有" not in flat
    assert client.get("/?q=医院&group=bogus").status_code == 400


def test_filter_form_and_links_keep_every_choice(client):
    html = client.get("/?q=医院&group=none&source=004_ae8107586a0ecb83.txt").get_data(as_text=True)
    assert '<form class="filters"' in html
    assert '<option value="004_ae8107586a0ecb83.txt" selected>' in html
    assert all(s == "004_ae8107586a0ecb83.txt" for s in re.findall(r"([0-9a-f_]+\.txt) · 第", html))
    pager = html.split('class="pager"', 1)[1]  # 004 has more than one page of 医院
    assert "source=004_ae8107586a0ecb83.txt" in pager and "group=none" in pager
    assert client.get("/?q=医院&from=yesterday").status_code == 400
    assert client.get("/api/search?q=医院&sort=random").status_code == 400


def test_article_page_links_previous_and_next_match(client):
    hit = client.get("/api/search?q=医院&group=none").get_json()["hits"][0]
    html = client.get(f"/articles/{hit['article_id']}?q=医院").get_data(as_text=True)
    numbers = [int(n) for n in re.findall(r'<p id="p(\d+)" class="para [a-z]+ matched"', html)]
    assert len(numbers) >= 3
    assert f'<a href="#p{numbers[0]}">第 {numbers[0]} 段</a>' in html
    assert f'class="next-match" href="#p{numbers[1]}"' in html
    assert f'class="prev-match" href="#p{numbers[0]}"' in html
    assert html.count('class="next-match"') == len(numbers) - 1


def test_date_filter_is_offered_when_articles_carry_dates(tmp_path):
    from searchsvc.corpus import Article, Paragraph
    from searchsvc.lifecycle import build_from_articles
    from searchsvc.web import create_app

    dated = Article("d1", "d.jsonl", "标题", (Paragraph(1, "医院的新闻。", None),),
                    date="2019-05-01")
    build_from_articles([dated], tmp_path)
    client = create_app({"INDEX_DIR": str(tmp_path), "TESTING": True}).test_client()
    html = client.get("/?q=医院&from=2019-01-01").get_data(as_text=True)
    assert 'type="date" name="from" value="2019-01-01"' in html and "2019-05-01" in html
    assert "没有找到" in client.get("/?q=医院&to=2018-12-31").get_data(as_text=True)
