"""Request ids, access logs, /readyz and /metrics."""

from __future__ import annotations

import json
import logging

from conftest import assert_api_error

from searchsvc.web import create_app


def test_request_id_is_echoed_or_made(client):
    r = client.get("/api/search?q=ECMO", headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"
    made = client.get("/api/search?q=ECMO", headers={"X-Request-Id": "bad id <script>"})
    assert made.headers["X-Request-Id"] != "bad id <script>"
    assert len(made.headers["X-Request-Id"]) == 32


def test_one_structured_access_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="searchsvc.access"):
        client.get("/api/search?q=ECMO", headers={"X-Request-Id": "req-1"})
        client.get("/api/search?q=")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "searchsvc.access"]
    assert len(lines) == 2
    first, second = lines
    assert first["request_id"] == "req-1" and first["method"] == "GET"
    assert first["path"] == "/api/search" and first["status"] == 200
    assert first["hits"] >= 1 and first["duration_ms"] >= 0
    assert second["status"] == 400 and "hits" not in second


def test_readyz(client, tmp_path):
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready" and body["documents"] > 0
    empty = create_app({"INDEX_DIR": str(tmp_path / "none"), "TESTING": True}).test_client()
    assert_api_error(empty.get("/readyz"), 503, "index_missing")
    alive = empty.get("/healthz")
    assert alive.status_code == 200 and alive.get_json()["index"] == "missing"


def test_metrics_in_prometheus_format(client):
    client.get("/api/search?q=ECMO")
    client.get("/api/search?q=")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    assert 'searchsvc_requests_total{method="GET",route="/api/search",status="200"} 1.0' in text
    assert 'searchsvc_requests_total{method="GET",route="/api/search",status="400"} 1.0' in text
    assert 'searchsvc_request_seconds_bucket{le="0.005",route="/api/search"}' in text
    assert "searchsvc_index_documents 216.0" in text
    assert 'searchsvc_index_info{version="v-' in text


def test_rate_limit_is_off_by_default_and_answers_429_when_on(seed_index):
    off = create_app({"INDEX_DIR": str(seed_index), "TESTING": True}).test_client()
    assert all(off.get("/api/search?q=ECMO").status_code == 200 for _ in range(30))
    on = create_app(
        {"INDEX_DIR": str(seed_index), "TESTING": True, "RATE_LIMIT": "5/minute"}
    ).test_client()
    codes = [on.get("/api/search?q=ECMO").status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    r = on.get("/api/search?q=ECMO")
    assert_api_error(r, 429)
    assert int(r.headers["Retry-After"]) > 0
    assert on.get("/").status_code == 200  # the page is not limited
