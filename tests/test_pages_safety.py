"""The pages under hostile input: request junk never reaches link building, only http(s)
feed URLs become links, and an untitled article still gets something to click (issue 11)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from searchsvc.corpus import Article, Paragraph
from searchsvc.lifecycle import build_from_articles
from searchsvc.web import create_app

# The search page's own parameters: the only ones its links may carry.
KNOWN = {"q", "page", "size", "group", "source", "from", "to", "sort"}

_LINK = re.compile(r'\s(?:href|action|src)="([^"]*)"')


def links(html: str) -> list[str]:
    """Every href/action/src in the page, HTML entities of the query string undone."""
    return [m.replace("&amp;", "&") for m in _LINK.findall(html)]


def assert_links_are_local_and_clean(html: str, junk: str = "") -> None:
    """No link is absolute (scheme or host), none carries a parameter we do not know, and
    none has an anchor but a paragraph's."""
    assert links(html), "the page has links"
    for link in links(html):
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc, link
        assert link.startswith(("/", "?", "#")), link
        names = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
        assert names <= KNOWN, link
        assert re.fullmatch(r"(p\d+)?", parts.fragment), link  # only paragraph anchors
        if junk:
            assert junk not in link, link


# --- 10: request arguments are not url_for arguments --------------------------------------

JUNK = [
    ("endpoint", "x"),            # url_for(endpoint=…) twice: TypeError → 500 before
    ("_method", "POST"),          # BuildError → 500 before
    ("_external", "1"),           # absolute links from the Host header
    ("_scheme", "javascript"),
    ("_anchor", "evil"),          # every pager link ended in #evil
    ("values", "1"),
    ("article_id", "zz"),         # the article route's own argument
    ("filename", "x"),            # the static route's
    ("q.x", "1"),
]


@pytest.mark.parametrize(("name", "value"), JUNK)
@pytest.mark.parametrize(
    "query",
    [
        "q=医院&group=none",          # pager (several pages), filters, article links
        "q=医院&group=none&page=2&size=5&source=004_ae8107586a0ecb83.txt&sort=date",
        "q=ECNO OR 心脏",             # did-you-mean above results
        "q=ECNO",                     # did-you-mean on the no-results page
        "",                           # the home page
    ],
)
def test_unknown_parameters_never_reach_the_links(client, query, name, value):
    r = client.get(f"/?{query}&{name}={value}", headers={"Host": "evil.example"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "evil.example" not in html
    assert_links_are_local_and_clean(html, junk=f"{name}=")


def test_links_keep_every_known_parameter(client):
    html = client.get(
        "/?q=医院&group=none&page=2&size=5&source=004_ae8107586a0ecb83.txt&sort=date&_anchor=x"
    ).get_data(as_text=True)
    pager = html.split('class="pager"', 1)[1]
    prev = dict(parse_qsl(urlsplit(links(pager)[0]).query))
    assert prev == {"q": "医院", "page": "1", "size": "5", "group": "none",
                    "source": "004_ae8107586a0ecb83.txt", "sort": "date"}
    form = html.split('<form class="filters"', 1)[1].split("</form>", 1)[0]
    assert 'type="hidden" name="size" value="5"' in form  # filtering keeps the page size


def test_did_you_mean_keeps_the_filters_and_starts_at_page_one(client):
    html = client.get("/?q=ECNO&group=none&size=5&sort=date&_external=1").get_data(as_text=True)
    link = re.search(r'class="did-you-mean">[^<]*<a href="([^"]+)"', html)
    assert link, html
    args = dict(parse_qsl(urlsplit(link.group(1).replace("&amp;", "&")).query))
    assert args == {"q": "ecmo", "size": "5", "group": "none", "sort": "date"}


@pytest.mark.parametrize(("name", "value"), JUNK)
def test_article_and_error_pages_ignore_unknown_parameters(client, name, value):
    hit = client.get("/api/search?q=ECMO").get_json()["hits"][0]
    r = client.get(f"/articles/{hit['article_id']}?q=ECMO&{name}={value}",
                   headers={"Host": "evil.example"})
    assert r.status_code == 200
    assert_links_are_local_and_clean(r.get_data(as_text=True), junk=f"{name}=")
    r = client.get(f"/nope?{name}={value}", headers={"Host": "evil.example"})
    assert r.status_code == 404
    assert_links_are_local_and_clean(r.get_data(as_text=True), junk=f"{name}=")


# --- 11: only http(s) URLs become links; 6: untitled articles -----------------------------

HOSTILE_URLS = {
    "js": "javascript:alert(1)",
    "upper": "JAVASCRIPT:alert(1)",
    "spaced": " javascript:alert(1)",
    "tabbed": "java\tscript:alert(1)",
    "newline": "\njavascript:alert(1)",
    "control": "\x01javascript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "vb": "vbscript:msgbox(1)",
    "relative": "/local/path",
    "protocol-relative": "//evil.example/x",
    "no-slashes": "https:evil.example",
    "no-host": "https:///path",
    "ftp": "ftp://example.com/file",
    "inner-space": "https://example.com/a b",
}
GOOD_URLS = {
    "https": "https://example.com/news/1?a=1&b=2",
    "http": "HTTP://example.org/x",
    "padded": "  https://example.net/y  ",
}


@pytest.fixture(scope="module")
def feed_client(tmp_path_factory: pytest.TempPathFactory):
    def article(key: str, url: str | None, title: str = "") -> Article:
        text = f"链接测试{key}的段落，说到医院壬癸。"
        return Article(f"url-{key}", "feed.jsonl", title or f"标题{key}",
                       (Paragraph(1, text, None),), url=url)

    articles = [article(k, u) for k, u in {**HOSTILE_URLS, **GOOD_URLS}.items()]
    articles.append(Article("untitled", "feed.jsonl", "",
                            (Paragraph(1, "一则没有标题的简讯，壬癸子丑。", None),
                             Paragraph(2, "简讯的第二段。", None))))
    articles.append(Article("blank", "feed.jsonl", "  ",
                            (Paragraph(1, "标题只有空格的简讯，甲乙丙丁。", None),)))
    index_dir: Path = tmp_path_factory.mktemp("feed-index")
    build_from_articles(articles, index_dir)
    return create_app({"INDEX_DIR": str(index_dir), "TESTING": True}).test_client()


@pytest.mark.parametrize("key", sorted(HOSTILE_URLS))
def test_a_feed_url_that_is_not_http_is_not_a_link(feed_client, key):
    r = feed_client.get(f"/articles/url-{key}?q=医院")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "原文" not in html
    assert_links_are_local_and_clean(html)
    assert not re.search(r"(java|vb)script:|data:text", html, re.I)


@pytest.mark.parametrize("key", sorted(GOOD_URLS))
def test_an_http_feed_url_is_the_original_link(feed_client, key):
    html = feed_client.get(f"/articles/url-{key}").get_data(as_text=True)
    want = GOOD_URLS[key].strip().replace("&", "&amp;")
    assert f'<a href="{want}" rel="noopener noreferrer">原文</a>' in html


def test_search_page_links_only_pages_of_this_site(feed_client):
    html = feed_client.get("/?q=医院壬癸&group=none&size=100").get_data(as_text=True)
    assert html.count('class="hit"') == len(HOSTILE_URLS) + len(GOOD_URLS)
    assert_links_are_local_and_clean(html)
    assert not re.search(r"(java|vb)script:|data:text", html, re.I)


def test_an_untitled_article_shows_a_placeholder_title(feed_client):
    html = feed_client.get("/?q=壬癸子丑").get_data(as_text=True)
    link = re.search(r'<h2><a href="(/articles/untitled\?[^"]+)">(.*?)</a></h2>', html)
    assert link and link.group(2) == '<span class="untitled">（无标题）</span>'
    page = feed_client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert '<h1><span class="untitled">（无标题）</span></h1>' in page
    assert "<title>（无标题） - 新闻搜索</title>" in page
    # the API keeps the empty title: the placeholder is the page's wording only
    assert feed_client.get("/api/search?q=壬癸子丑").get_json()["hits"][0]["title"] == ""
    assert feed_client.get("/api/articles/untitled").get_json()["title"] == ""


def test_a_titled_article_shows_its_title(feed_client):
    html = feed_client.get("/articles/url-https").get_data(as_text=True)
    assert "<h1>标题https</h1>" in html and "无标题" not in html


def test_a_title_of_spaces_counts_as_untitled(feed_client):
    html = feed_client.get("/?q=甲乙丙丁").get_data(as_text=True)
    assert '<span class="untitled">（无标题）</span></a></h2>' in html
    page = feed_client.get("/articles/blank").get_data(as_text=True)
    assert '<h1><span class="untitled">（无标题）</span></h1>' in page
