"""The JSON API: ``/api/search``, ``/api/articles/<id>`` and ``/healthz``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, current_app, jsonify

from ..search import get_article, search
from . import ApiError, live_index
from .params import paging, query_param, time_budget

bp = Blueprint("api", __name__)


@bp.get("/api/search")
def api_search() -> Any:
    query = query_param()
    page, size = paging(current_app.config["PAGE_SIZE"])
    with live_index(current_app).searcher() as (_version, searcher):
        result = search(searcher, query, page=page, size=size, time_budget=time_budget())
    return jsonify(
        {
            "query": result.query,
            "total": result.total,
            "page": result.page,
            "size": result.size,
            "took_ms": result.took_ms,
            "partial": result.partial,
            "hits": [asdict(hit) for hit in result.hits],
        }
    )


@bp.get("/api/articles/<article_id>")
def api_article(article_id: str) -> Any:
    with live_index(current_app).searcher() as (_version, searcher):
        article = get_article(searcher, article_id, query_param())
    if article is None:
        raise ApiError(404, "article_not_found", f"no article with id {article_id!r}")
    data = asdict(article)
    data["matched_paragraphs"] = article.matched_paragraphs
    return jsonify(data)


@bp.get("/healthz")
def healthz() -> Any:
    index = live_index(current_app)
    with index.searcher() as (version, searcher):
        documents = searcher.doc_count()
    meta = index.meta()
    return jsonify(
        {
            "status": "ok",
            "version": version,
            "built_at": meta.built_at if meta else None,
            "documents": documents,
            "articles": meta.articles if meta else None,
        }
    )
