"""The HTML pages: the search page (``/``) and the article page; rendered on the server."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template

from ..search import QueryError, SearchResult, filter_choices, get_article, search
from . import live_index
from .observe import note_hits
from .params import filters_param, group_param, paging, query_param, time_budget

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> Any:
    query = query_param()
    result: SearchResult | None = None
    sources: list[str] = []
    has_dates = False  # the date filter is offered only when articles carry dates
    error: QueryError | None = None
    status = 200
    try:
        page, size = paging(current_app.config["PAGE_SIZE"])
        if query.strip():
            with live_index(current_app).searcher() as (_version, searcher):
                result = search(
                    searcher, query, page=page, size=size, time_budget=time_budget(),
                    group=group_param("article"),  # the page groups by article by default
                    synonyms=live_index(current_app).synonyms(),
                    filters=filters_param(),
                )
                sources, has_dates = filter_choices(searcher)
            note_hits(result.total, result.partial)
    except QueryError as err:
        error, status = err, 400
    return render_template(
        "search.html", query=query, result=result, error=error, sources=sources,
        has_dates=has_dates,
    ), status


@bp.get("/articles/<article_id>")
def article(article_id: str) -> Any:
    query = query_param()
    with live_index(current_app).searcher() as (_version, searcher):
        view = get_article(searcher, article_id, query, live_index(current_app).synonyms())
    if view is None:
        abort(404, description="找不到这篇文章（article not found）")
    return render_template("article.html", query=query, article=view)
