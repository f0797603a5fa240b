"""The Flask application: ``create_app()`` wires config, the live index and the blueprints.

In: configuration (defaults, ``SEARCHSVC_*`` environment variables, test overrides).
Out: a WSGI app serving the search page (``/``), article pages, the JSON API (``/api``),
the admin trigger and the operations endpoints (``/healthz``, ``/readyz``, ``/metrics``).
Every API error has one shape: ``{"error": {"code", "message"}}``; every answer carries
``SECURITY_HEADERS`` (``searchsvc serve`` adds them to the server's own error answers too).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from ..analysis import warm_up
from ..backends import open_backend
from ..config import Settings, load_settings
from ..engine import Engine
from ..indexing import IndexMissingError
from ..literal_index import LiteralIndexMissing
from ..query import QueryError
from ..sphinxql.engine import EngineError
from ..stored_column import StoredFieldsDamaged
from .json_provider import FastJSONProvider

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


class ApiError(Exception):
    """An error answered with the API error shape (and a readable page for HTML routes)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


MAX_BODY_BYTES = 64 * 1024


def create_app(
    test_config: dict[str, Any] | None = None,
    settings: Settings | None = None,
    run_dir: Path | None = None,
) -> Flask:
    """Create the app from ``settings`` (loaded from the file and environment when not
    given: ``wsgi.py``), then ``test_config`` overrides. ``run_dir``: the server run's
    private directory (``searchsvc serve``), where state shared by its worker processes
    lives (the rate-limit counters)."""
    if settings is None:
        settings = load_settings()  # ConfigError (naming the setting) if something is wrong
    app = Flask(__name__)
    app.config.from_mapping(
        SETTINGS=settings,
        BACKEND=settings.backend,
        INDEX_DIR=str(settings.index_dir),
        SEEDS_DIR=str(settings.seeds_dir),
        ADMIN_TOKEN=settings.admin_token,
        RELOAD_INTERVAL=settings.reload_interval,
        PAGE_SIZE=settings.page_size,
        SEARCH_TIME_BUDGET_MS=settings.time_budget_ms,
        RATE_LIMIT=settings.rate_limit,
        PROXY_COUNT=settings.proxy_count,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    if test_config:
        app.config.update(test_config)
    # "/api/articles//x" would otherwise be redirected (308) with an HTML body.
    app.url_map.merge_slashes = False
    app.json = FastJSONProvider(app)
    warm_up()  # the first search should not pay for loading jieba's dictionary
    app.extensions["searchsvc.backend"] = open_backend(
        app.config["BACKEND"],
        Path(app.config["INDEX_DIR"]),
        check_interval=app.config["RELOAD_INTERVAL"],
        time_budget=app.config["SEARCH_TIME_BUDGET_MS"] / 1000,
    )

    from . import admin, api, observe, ops, pages, ratelimit

    observe.install(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(ops.bp)
    ratelimit.install(app, app.config["RATE_LIMIT"], run_dir)
    if app.config["PROXY_COUNT"]:
        # Behind N reverse proxies: take the client address from X-Forwarded-For.
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    _register_error_handlers(app)

    @app.before_request
    def _refuse_large_bodies() -> None:
        # Werkzeug only checks MAX_CONTENT_LENGTH when a view reads the body; no view
        # needs one this large, so say so before answering anything else.
        limit = app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and (request.content_length or 0) > limit:
            abort(413, description=f"request body over {limit} bytes")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.status_code == 401:
            response.headers.setdefault("WWW-Authenticate", 'Bearer realm="searchsvc"')
        return response

    return app


def current_engine() -> Engine:
    """The engine of the index version this request reads: taken once per request, so a
    version switch never changes (or closes) what a request is reading."""
    if "engine" not in g:
        g.engine = current_app.extensions["searchsvc.backend"].engine()
    return g.engine


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in (
        "/api", "/healthz", "/readyz", "/metrics"
    )


def error_response(status: int, code: str, message: str) -> tuple[Response, int] | Any:
    """The one place where errors become responses: JSON for the API, a page otherwise."""
    if _wants_json():
        return jsonify({"error": {"code": code, "message": message}}), status
    return render_template("error.html", status=status, code=code, message=message), status


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Any:
        return error_response(err.status, err.code, err.message)

    @app.errorhandler(QueryError)
    def _query_error(err: QueryError) -> Any:
        return error_response(400, err.code, err.message)

    @app.errorhandler(LiteralIndexMissing)
    @app.errorhandler(StoredFieldsDamaged)
    def _damaged_index(err: Exception) -> Any:
        log.error("the index in use cannot answer: %s", err)
        return error_response(
            503, "index_missing",
            "索引已损坏，需要重建（the index is damaged: it must be rebuilt）",
        )

    @app.errorhandler(EngineError)
    def _backend_down(err: EngineError) -> Any:
        log.error("the search backend does not answer: %s", err)
        return error_response(
            503, "backend_unavailable",
            "搜索后端暂时无法访问（the search backend does not answer）",
        )

    @app.errorhandler(IndexMissingError)
    def _no_index(err: IndexMissingError) -> Any:
        return error_response(503, "index_missing", "索引尚未建立（the index is not built yet）")

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Any:
        code = (err.name or "error").lower().replace(" ", "_")
        response, status = error_response(err.code or 500, code, err.description or err.name)
        response = app.make_response((response, status))
        # The exception's own headers: Allow on a 405, Retry-After on a 429 ...
        for name, value in err.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:
        from .observe import request_id

        log.exception(
            "unhandled error on %s %s (request %s)", request.method, request.path, request_id()
        )
        return error_response(500, "internal_error", "服务器内部错误（internal error）")
