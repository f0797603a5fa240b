"""The HTML pages: the search page (``/``) and the article page; rendered on the server.

Links are built from the search page's own parameters only (``LINK_PARAMS``): the request's
other arguments never reach ``url_for``, whose keyword arguments include ``endpoint``,
``_external``, ``_scheme``, ``_anchor`` and ``_method``. A feed's URL becomes a link only
when it is an absolute http(s) URL (``http_url``).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, url_for

from ..query import QueryError
from ..search import SearchResult, get_article
from . import current_engine
from .params import paging, query_param, run_search

bp = Blueprint("pages", __name__)

LINK_PARAMS = ("q", "page", "size", "group", "source", "from", "to", "sort")
UNTITLED = "（无标题）"  # shown for an article whose title is empty; the API keeps ""

# Scheme, "//", a host, then no whitespace or control characters anywhere: browsers drop
# tabs and newlines inside a URL ("java\tscript:"), so such a value is never taken as a link.
_HTTP_URL = re.compile(r"https?://[^/?#\\\s\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*", re.IGNORECASE)


@bp.app_template_global()
def search_url(**changes: Any) -> str:
    """A link to the search page with the request's known parameters, ``changes`` applied
    (a value of None drops the parameter)."""
    args = {name: request.args[name] for name in LINK_PARAMS if request.args.get(name)}
    args.update(changes)
    return url_for("pages.index", **{k: v for k, v in args.items() if v not in (None, "")})


@bp.app_template_filter()
def http_url(url: str | None) -> str | None:
    """``url`` without surrounding spaces if it is an absolute http(s) URL, else None."""
    url = (url or "").strip()
    return url if _HTTP_URL.fullmatch(url) else None


@bp.app_context_processor
def _constants() -> dict[str, Any]:
    return {"UNTITLED": UNTITLED}


@bp.get("/")
def index() -> Any:
    query = query_param()
    result: SearchResult | None = None
    sources: list[str] = []
    has_dates = False  # the date filter is offered only when articles carry dates
    error: QueryError | None = None
    status = 200
    try:
        paging(current_app.config["PAGE_SIZE"])  # a bad page is an error even without q
        if query.strip():
            result = run_search("article")  # the page groups by article by default
            sources, has_dates = current_engine().filter_choices()
    except QueryError as err:
        error, status = err, 400
    return render_template(
        "search.html", query=query, result=result, error=error, sources=sources,
        has_dates=has_dates,
    ), status


@bp.get("/articles/<article_id>")
def article(article_id: str) -> Any:
    query = query_param()
    view = get_article(current_engine(), article_id, query)
    if view is None:
        abort(404, description="找不到这篇文章（article not found）")
    return render_template("article.html", query=query, article=view)
