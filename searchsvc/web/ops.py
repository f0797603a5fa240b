"""Operations endpoints: ``/healthz`` (alive, index version), ``/readyz`` (index answering),
``/metrics`` (Prometheus). Never rate-limited: monitoring must not be locked out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from ..indexing import IndexMissingError
from ..search import search
from . import ApiError, current_engine
from .observe import metrics

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process answers; reports the index version in use."""
    try:
        engine = current_engine()
    except IndexMissingError:
        # Alive but not ready (see /readyz): restarting would not build the index.
        return jsonify({"status": "ok", "index": "missing", "version": None, "built_at": None,
                        "documents": 0, "articles": 0})
    meta = engine.meta()
    return jsonify(
        {
            "status": "ok",
            "version": engine.version,
            "built_at": meta.built_at if meta else None,
            "documents": engine.documents,
            "articles": meta.articles if meta else None,
        }
    )


@bp.get("/readyz")
def readyz() -> Any:
    """Ready when the index is open and answers a search (503 otherwise)."""
    try:
        engine = current_engine()
        search(engine, "的", size=1, time_budget=0.05)
    except IndexMissingError:
        raise ApiError(503, "index_missing", "the index is not built yet") from None
    return jsonify({"status": "ready", "version": engine.version, "documents": engine.documents})


@bp.get("/metrics")
def prometheus_metrics() -> Any:
    """Prometheus text format: requests by method, route and status, latency histogram,
    requests in progress, index version and size (all worker processes under ``serve``)."""
    return metrics(current_app).exposition()
