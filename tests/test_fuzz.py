"""Property-based tests of the JSON API: whatever a client sends, never a 5xx.

Random and adversarial queries, paging values, extra parameters and article ids. Every
answer is JSON; a 4xx has the one error shape and the code the documented rules predict;
a 200 matches the OpenAPI document, its highlights hold no markup but ``<mark>`` and give
back the escaped text, and its counts add up.

Bounded to run in well under a minute on two cores; ``SEARCHSVC_FUZZ_EXAMPLES=3000`` digs
deeper locally. Hypothesis keeps no example database (nothing written into the project);
a failure prints the falsifying example and a ``@reproduce_failure`` blob.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from conftest import assert_api_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from test_openapi import OpenAPI

from searchsvc.query import MAX_PAGE_SIZE, MAX_QUERY_CHARS, MAX_RESULT_WINDOW
from searchsvc.web import create_app

# Even without an example database, hypothesis caches the constants it finds in the code
# under test in ``./.hypothesis/`` (while pytest collects): keep that out of the project.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "searchsvc-hypothesis")

EXAMPLES = int(os.environ.get("SEARCHSVC_FUZZ_EXAMPLES", "200"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a search's time varies with the machine's load; no per-example limit
    database=None,  # no .hypothesis/ example database in the project
    print_blob=True,
    # The client fixture is module-scoped (built once); long strings are the point here.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DEFAULT_SIZE = 10


@pytest.fixture(scope="module")
def api(seed_index):
    """A test client over the seed index, shared by all examples (hypothesis re-runs the
    test body many times within one call, so a function-scoped fixture would be shared
    anyway, and hypothesis refuses those)."""
    return create_app({"INDEX_DIR": str(seed_index), "TESTING": True}).test_client()


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.load()


@pytest.fixture(scope="module")
def article_ids(seed_articles) -> list[str]:
    return [article.id for article in seed_articles]


# --- strategies -----------------------------------------------------------------------

# Any text but lone surrogates (which cannot be sent as UTF-8): controls, NUL, format
# characters, CJK, emoji, combining marks...
ANY_CHAR = st.characters(exclude_categories=("Cs",))
ANY_TEXT = st.text(ANY_CHAR, max_size=60)

OPERATOR_PIECES = ['"', "-", "OR", "|", "*", "?", "(", ")", ":", " ", "  ", "\u3000", "\t",
                   "AND", "NOT", "+", "~", "^", "\\", "<", ">", "&", "医院", "ECMO", "中医",
                   "保健", "的", "a", "1", "ｅｃｍｏ", "<mark>", "</mark>", "&amp;", "\x00"]
OPERATOR_SOUP = st.lists(st.sampled_from(OPERATOR_PIECES), max_size=80).map("".join)

# Around the 200-character limit, with whitespace padding (which does not count).
NEAR_LIMIT = st.tuples(
    st.sampled_from(["医", "a", "医 ", '"', "-", "🙂", "ｅ"]),
    st.integers(MAX_QUERY_CHARS - 8, MAX_QUERY_CHARS + 8),
    st.sampled_from(["", " ", "   ", "\t\n"]),
).map(lambda t: t[2] + (t[0] * t[1])[: t[1]] + t[2])

LONG_TEXT = st.text(ANY_CHAR, min_size=150, max_size=2000)

QUERIES = st.one_of(ANY_TEXT, OPERATOR_SOUP, NEAR_LIMIT, LONG_TEXT,
                    st.sampled_from(["医院", "ECMO", "妇幼 保健", "的", "中医 -江津"]))

NUMBERS = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.integers(0, 120).map(str),
    st.integers(1, 10_001).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.from_regex(r"\s{0,2}[0-9]{1,12}\s{0,2}", fullmatch=True),
    st.sampled_from(["", " ", "1e3", "0x10", "+1", "01", "007", "1_0", "١٢", "²", "∞", "NaN",
                     "1 2", "1,000", "0000000001", "\u00a05\u00a0", "5\x00", "\x1f5"]),
    ANY_TEXT,
)
PAGING = st.one_of(st.none(), NUMBERS)  # None: parameter absent

# Parameters the API does not know (it ignores them); the documented ones have rules of
# their own, tested with them (an extra "group=0" is refused, rightly, as invalid_group).
DOCUMENTED = frozenset(("q", "page", "size", "group", "source", "from", "to", "sort"))
EXTRA_PARAMS = st.lists(
    st.tuples(ANY_TEXT.filter(lambda name: name not in DOCUMENTED), ANY_TEXT), max_size=4
)


# --- what the documented rules predict -------------------------------------------------


def paging_outcomes(raw: str | None, default: int, high: int) -> set[int | None]:
    """The values a paging parameter may be read as; None stands for a refusal. A very long
    string of digits (leading zeros) may be read or refused: the README does not say."""
    if raw is None or raw == "":
        return {default}
    stripped = raw.strip()
    if not re.fullmatch(r"[0-9]+", stripped) or not 1 <= int(stripped) <= high:
        return {None}
    return {int(stripped)} if len(stripped) <= 9 else {int(stripped), None}


def allowed_codes(q: str | None, page: str | None, size: str | None) -> set[str]:
    """The error codes the README's rules allow for these parameters ("" for success).

    Checks happen in the order of the operation's description: size, page, the query
    (empty, too long), page × size, the number of keywords."""
    codes: set[str] = set()
    query = (q or "").strip()
    for size_v in paging_outcomes(size, DEFAULT_SIZE, MAX_PAGE_SIZE):
        for page_v in paging_outcomes(page, 1, MAX_RESULT_WINDOW):
            if size_v is None:
                codes.add("invalid_size")
            elif page_v is None:
                codes.add("invalid_page")
            elif not query:
                codes.add("empty_query")
            elif len(query) > MAX_QUERY_CHARS:
                codes.add("query_too_long")
            elif page_v * size_v > MAX_RESULT_WINDOW:
                codes.add("page_too_deep")
            else:  # counting keywords follows the query syntax: more than 32 are refused
                codes |= {"", "too_many_keywords"}
    return codes


# --- checks on answers ---------------------------------------------------------------

MARK = re.compile(r"</?mark>")


def check_highlight(highlight: str, plain: str, snippet: bool = False) -> None:
    """Only <mark> markup, balanced and not nested, around escaped text that is ``plain``
    (or, for a snippet, a part of it with "…" where text was left out)."""
    tags = MARK.findall(highlight)
    assert tags == ["<mark>", "</mark>"] * (len(tags) // 2), highlight
    assert "<mark></mark>" not in highlight, highlight
    bare = MARK.sub("", highlight)
    assert "<" not in bare and ">" not in bare, highlight
    assert html.escape(html.unescape(bare), quote=False) == bare, highlight
    text = html.unescape(bare)
    if snippet:
        cut = text.removeprefix("…")
        cuts = {text, cut, text.removesuffix("…"), cut.removesuffix("…")}
        assert any(c in plain for c in cuts), (highlight, plain)
    else:
        assert text == plain, (highlight, plain)


def check_search_body(body: dict, requested_size: int | None = None) -> None:
    hits = body["hits"]
    assert body["total"] >= len(hits)
    assert len(hits) <= body["size"]
    if requested_size is not None:
        assert body["size"] == requested_size
    if not body["partial"]:
        skipped = (body["page"] - 1) * body["size"]
        assert len(hits) == max(0, min(body["size"], body["total"] - skipped)), body
    assert len({h["id"] for h in hits}) == len(hits)
    assert bool(body["words"]) == (not body["matched_all"]), body
    if not body["matched_all"]:
        assert body["total"] > 0, body  # the fallback is used only when it finds something
    for hit in hits:
        assert hit["id"] == f"{hit['article_id']}-p{hit['paragraph']}"
        assert 0 <= hit["matched_words"] <= hit["query_words"], hit
        check_highlight(hit["highlight"], hit["text"], snippet=True)
        check_highlight(hit["title_highlight"], hit["title"])
        if hit["heading"] is None:
            assert hit["heading_highlight"] is None
        else:
            check_highlight(hit["heading_highlight"], hit["heading"])
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True), scores


def search_url(pairs: list[tuple[str, str]]) -> str:
    return "/api/search?" + urlencode(pairs)


# --- /api/search ---------------------------------------------------------------------


@FUZZ
@given(q=QUERIES)
def test_any_query_is_answered_in_the_contract(api, spec, q):
    r = api.get(search_url([("q", q)]))
    assert r.status_code in (200, 400), (r.status_code, r.data[:300])
    body = spec.validate("/api/search", "get", r)
    if r.status_code == 400:
        assert_api_error(r, 400)
        assert body["error"]["code"] in allowed_codes(q, None, None), body
        return
    assert "" in allowed_codes(q, None, None)
    assert body["query"] == q.strip()
    assert (body["page"], body["size"]) == (1, DEFAULT_SIZE)
    check_search_body(body)


@FUZZ
@given(q=st.one_of(QUERIES, st.none()), page=PAGING, size=PAGING, extra=EXTRA_PARAMS)
def test_any_parameters_are_answered_in_the_contract(api, spec, q, page, size, extra):
    pairs = list(extra)
    for name, value in (("q", q), ("page", page), ("size", size)):
        if value is not None:
            pairs.append((name, value))
    r = api.get(search_url(pairs))
    assert r.status_code in (200, 400), (r.status_code, r.data[:300])
    body = spec.validate("/api/search", "get", r)
    allowed = allowed_codes(q, page, size)
    if r.status_code == 400:
        assert_api_error(r, 400)
        assert body["error"]["code"] in allowed, (body, allowed)
        return
    assert "" in allowed, (body, allowed)
    assert body["page"] in paging_outcomes(page, 1, MAX_RESULT_WINDOW)
    assert body["size"] in paging_outcomes(size, DEFAULT_SIZE, MAX_PAGE_SIZE)
    check_search_body(body)


@FUZZ
@given(
    first=st.sampled_from(["医院", "ECMO", "的", "中医"]),
    second=QUERIES,
    page=st.integers(1, 30).map(str),
    size=st.integers(1, MAX_PAGE_SIZE).map(str),
)
def test_repeated_parameters_take_the_first_value(api, spec, first, second, page, size):
    pairs = [("q", first), ("page", page), ("size", size), ("q", second), ("page", "x"),
             ("size", "-1")]
    r = api.get(search_url(pairs))
    assert r.status_code == 200, r.data[:300]
    body = spec.validate("/api/search", "get", r)
    assert body["query"] == first and body["page"] == int(page) and body["size"] == int(size)
    check_search_body(body, int(size))


@FUZZ
@given(raw=st.text(st.sampled_from("%0123456789abcdefABCDEFzZ&=+;#?/\\q.-_~ \u00e9医"),
                   max_size=60))
def test_raw_query_strings_never_5xx(api, spec, raw):
    """Broken percent-encoding, stray separators and the like in the raw query string."""
    r = api.get("/api/search?q=" + raw.replace("#", "%23"))
    assert r.status_code in (200, 400), (r.status_code, r.data[:300])
    body = spec.validate("/api/search", "get", r)
    if r.status_code == 200:
        check_search_body(body)
    else:
        assert_api_error(r, 400)


@FUZZ
@given(method=st.sampled_from(["POST", "PUT", "DELETE", "PATCH"]), q=ANY_TEXT)
def test_other_methods_are_405_in_the_error_shape(api, spec, method, q):
    r = api.open(search_url([("q", q)]), method=method, data=q.encode())
    assert_api_error(r, 405, "method_not_allowed")
    spec.validate("/api/search", "get", r)


# --- /api/articles/<id> ----------------------------------------------------------------

ID_SEGMENTS = st.one_of(
    st.text(ANY_CHAR, min_size=1, max_size=100).map(lambda s: quote(s, safe="")),
    st.text(st.sampled_from("abcXYZ019._-~!$'()*,;=@:"), min_size=1, max_size=100),
    st.sampled_from(["..", ".", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "%00", "%FF%FE", "%E5%8C",
                     "%", "%zz", "a%2Fb", "a/b", "a//b", "%20", "+", "a+b", "CON", "nul",
                     "-", "_", "a" * 80, "a" * 81, "1e309", "null", "%0d%0aX-Injected:%201"]),
)


@FUZZ
@given(segment=ID_SEGMENTS, q=st.one_of(st.none(), QUERIES))
def test_any_article_id_is_answered_in_the_contract(api, spec, segment, q):
    url = "/api/articles/" + segment + ("" if q is None else "?" + urlencode({"q": q}))
    r = api.get(url)
    assert r.status_code in (200, 404), (url, r.status_code, r.data[:300])
    if r.status_code == 404:
        assert_api_error(r, 404)
        assert r.get_json()["error"]["code"] in ("article_not_found", "not_found")
        spec.validator("/components/schemas/Error").validate(r.get_json())
        return
    body = spec.validate("/api/articles/{article_id}", "get", r)
    check_article(body)


@FUZZ
@given(index=st.integers(0, 1000), q=st.one_of(st.none(), QUERIES))
def test_real_articles_with_any_query_are_in_the_contract(api, spec, article_ids, index, q):
    article_id = article_ids[index % len(article_ids)]
    query = "" if q is None else "?" + urlencode({"q": q})
    r = api.get(f"/api/articles/{article_id}{query}")
    assert r.status_code == 200, r.data[:300]
    body = spec.validate("/api/articles/{article_id}", "get", r)
    assert body["id"] == article_id
    check_article(body)
    if q is None or not q.strip() or len(q) > MAX_QUERY_CHARS:
        assert body["matched_paragraphs"] == []


def check_article(body: dict) -> None:
    numbers = [p["number"] for p in body["paragraphs"]]
    assert numbers == sorted(set(numbers))
    assert body["matched_paragraphs"] == [p["number"] for p in body["paragraphs"] if p["matched"]]
    for p in body["paragraphs"]:
        check_highlight(p["highlight"], p["text"])
        assert p["matched"] == ("<mark>" in p["highlight"])


@pytest.mark.parametrize(
    "url", ["/api//search?q=ECMO", "/api/articles/%2F0", "/api/articles//x", "/api//healthz"]
)
def test_doubled_slashes_are_json_404s_not_redirects(api, url):
    """Werkzeug would merge the slashes with a 308 whose body is HTML."""
    assert_api_error(api.get(url), 404, "not_found")
