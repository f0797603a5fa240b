"""Observability: request ids, one structured access-log line per request, Prometheus metrics.

In: every request. Out: an ``X-Request-Id`` header (the caller's, if it sent a sane one),
a JSON line on the ``searchsvc.access`` logger (method, path, status, duration, hits,
request id), and counters/histograms served at ``/metrics`` in Prometheus text format.

Label values come from short fixed lists, so made-up requests cannot grow the series:
a method outside ``METHODS`` is ``other``, a path no route matches is ``unmatched``.
Under ``searchsvc serve`` (``PROMETHEUS_MULTIPROC_DIR`` set) the counters of every worker
process are added up; the index gauges are read from the index at each scrape.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..engine import Engine
from ..indexing import IndexMissingError

access_log = logging.getLogger("searchsvc.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"))
UNMATCHED = "unmatched"


class IndexCollector(Collector):
    """``searchsvc_index_documents`` and ``searchsvc_index_info{version}``, read from the
    index at scrape time (not stored per process: nothing stale, one version label)."""

    def __init__(self, engine: Callable[[], Engine]):
        self.engine = engine  # the engine of the request being answered (the scrape)

    def collect(self) -> Any:
        documents = GaugeMetricFamily(
            "searchsvc_index_documents", "Paragraphs in the index version in use"
        )
        info = GaugeMetricFamily(
            "searchsvc_index_info", "The index version in use (label)", labels=["version"]
        )
        try:
            engine = self.engine()
            documents.add_metric([], engine.documents)
            info.add_metric([engine.version], 1)
        except IndexMissingError:
            pass
        yield documents
        yield info


class Metrics:
    """The app's metrics, in a registry of its own (several apps may live in one process)."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "searchsvc_requests", "HTTP requests by method, route and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "searchsvc_request_seconds", "Request latency by route",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.partial = Counter(
            "searchsvc_partial_results", "Searches cut short by the time budget",
            registry=self.registry,
        )
        # livesum: the workers alive now, added up (a dead worker's requests are not).
        self.in_progress = Gauge(
            "searchsvc_requests_in_progress", "Requests being answered",
            registry=self.registry, multiprocess_mode="livesum",
        )
        self.exposed = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Every worker's files, added up; this process's own registry is not read.
            self.exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposed)
        self.exposed.register(IndexCollector(engine))

    def exposition(self) -> Response:
        return Response(generate_latest(self.exposed), mimetype=CONTENT_TYPE_LATEST)


def request_id() -> str:
    """This request's id (also sent back as ``X-Request-Id``)."""
    return g.get("request_id", "-")


def note_hits(hits: int, partial: bool = False) -> None:
    """Record a search's hit count for the access log (and partial results for metrics)."""
    g.hits = hits
    if partial:
        metrics(None).partial.inc()


def metrics(app: Flask | None) -> Metrics:
    from flask import current_app

    return (app or current_app).extensions["searchsvc.metrics"]


def install(app: Flask) -> None:
    """Hook request ids, access logging and metrics into ``app``."""
    from . import current_engine

    app.extensions["searchsvc.metrics"] = Metrics(current_engine)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        metrics(app).in_progress.inc()
        g.in_progress = True

    @app.teardown_request
    def _done(_error: BaseException | None) -> None:
        if g.pop("in_progress", False):
            metrics(app).in_progress.dec()

    @app.after_request
    def _finish(response: Response) -> Response:
        duration = time.perf_counter() - g.get("started", time.perf_counter())
        response.headers["X-Request-Id"] = request_id()
        route = request.url_rule.rule if request.url_rule else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        m = metrics(app)
        m.requests.labels(method, route, str(response.status_code)).inc()
        m.latency.labels(route).observe(duration)
        record: dict[str, Any] = {
            "request_id": request_id(),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(duration * 1000, 2),
            "remote": request.remote_addr,
            "pid": os.getpid(),  # which worker process answered
        }
        if "hits" in g:
            record["hits"] = g.hits
        access_log.info(json.dumps(record, ensure_ascii=False))
        return response
