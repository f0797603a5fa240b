"""The JSON API: ``/api/search``, ``/api/suggest``, ``/api/articles/<id>`` and
``/api/openapi.json`` (the operations endpoints are in ``ops.py``)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify

from ..query import MAX_QUERY_CHARS, QueryError
from ..search import get_article
from . import ApiError, current_engine
from .params import query_param, run_search

bp = Blueprint("api", __name__)
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


@bp.get("/api/search")
def api_search() -> Any:
    result = run_search("none")
    return jsonify(
        {
            "query": result.query,
            "total": result.total,
            "page": result.page,
            "size": result.size,
            "took_ms": result.took_ms,
            "partial": result.partial,
            "matched_all": result.matched_all,
            "words": result.words,
            "grouped": result.grouped,
            "did_you_mean": result.did_you_mean,
            # A hit holds only plain values: a shallow copy (asdict deep-copies every
            # field, ~50 µs a hit).
            "hits": [dict(vars(hit)) for hit in result.hits],
        }
    )


@bp.get("/api/suggest")
def api_suggest() -> Any:
    """Up to 10 completions of ``q`` from indexed words and article titles."""
    prefix = query_param()
    if len(prefix) > MAX_QUERY_CHARS:
        raise QueryError("query_too_long", f"q longer than {MAX_QUERY_CHARS} characters")
    suggestions = current_engine().suggestions(prefix)
    return jsonify({"query": prefix, "suggestions": suggestions})


@bp.get("/api/articles/<article_id>")
def api_article(article_id: str) -> Any:
    article = get_article(current_engine(), article_id, query_param())
    if article is None:
        raise ApiError(404, "article_not_found", f"no article with id {article_id!r}")
    data = asdict(article)
    data["matched_paragraphs"] = article.matched_paragraphs
    return jsonify(data)


@bp.get("/api/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3 document describing this API."""
    return current_app.response_class(
        OPENAPI_PATH.read_bytes(), mimetype="application/json; charset=utf-8"
    )
