"""Request parameters, parsed once with types and bounds (a clear 400 otherwise), and the
one search both the page and the API run with them."""

from __future__ import annotations

import re

from flask import current_app, request

from ..query import MAX_PAGE_SIZE, MAX_RESULT_WINDOW, Filters, QueryError
from ..search import SearchResult, search
from . import current_engine
from .observe import note_hits

_DIGITS = re.compile(r"[0-9]{1,9}")


def int_param(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; QueryError otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    raw = raw.strip()
    if not _DIGITS.fullmatch(raw):
        raise QueryError(f"invalid_{name}", f"{name} must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise QueryError(f"invalid_{name}", f"{name} must be between {low} and {high}")
    return value


def paging(default_size: int) -> tuple[int, int]:
    """``page`` and ``size`` from the query string."""
    size = int_param("size", default_size, 1, MAX_PAGE_SIZE)
    page = int_param("page", 1, 1, MAX_RESULT_WINDOW)
    return page, size


def query_param() -> str:
    """The raw ``q`` parameter ("" when absent)."""
    return request.args.get("q", "")


def time_budget() -> float:
    """Seconds of matching allowed per query (config ``SEARCH_TIME_BUDGET_MS``)."""
    return current_app.config["SEARCH_TIME_BUDGET_MS"] / 1000


def group_param(default: str) -> bool:
    """``group=article`` (at most 2 paragraphs per article) or ``group=none``."""
    value = request.args.get("group", default) or default
    if value not in ("article", "none"):
        raise QueryError("invalid_group", "group must be 'article' or 'none'")
    return value == "article"


def filters_param() -> Filters:
    """``source``, ``from``, ``to`` (YYYY-MM-DD) and ``sort`` (relevance or date)."""
    args = request.args
    return Filters(
        source=args.get("source") or None,
        date_from=args.get("from") or None,
        date_to=args.get("to") or None,
        sort=args.get("sort") or "relevance",
    )


def run_search(default_group: str) -> SearchResult:
    """The request's search (``q``, ``page``, ``size``, ``group``, filters) on the version
    it reads; the page (grouped by default) and the API (not) differ only in that default
    and in how they render the result."""
    query = query_param()
    page, size = paging(current_app.config["PAGE_SIZE"])
    result = search(
        current_engine(), query, page=page, size=size, time_budget=time_budget(),
        group=group_param(default_group), filters=filters_param(),
    )
    note_hits(result.total, result.partial)
    return result
