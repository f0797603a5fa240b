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
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_one_rate_limit_covers_page_and_api_but_never_monitoring(seed_index):
    """Searches and articles, page or API, count against one limit per client; the
    operations endpoints, suggestions and static files never answer 429 (issue 11.13)."""
    on = create_app(
        {"INDEX_DIR": str(seed_index), "TESTING": True, "RATE_LIMIT": "4/minute"}
    ).test_client()
    article = "/api/articles/000_eacc438995d2ea0a-1"
    paths = ["/?q=ECMO", "/api/search?q=ECMO", article, "/articles/000_eacc438995d2ea0a-1",
             "/?q=ECMO", "/api/search?q=ECMO"]
    assert [on.get(p).status_code for p in paths] == [200] * 4 + [429] * 2
    for path in ["/healthz", "/readyz", "/metrics", "/api/suggest?q=ECMO",
                 "/api/openapi.json", "/static/style.css"] * 3:
        with on.get(path) as r:
            assert r.status_code == 200, path


def test_made_up_methods_and_paths_add_no_metric_series(client):
    """Label values come from fixed lists (issue 11.14): 200 made-up methods and paths
    leave the number of series as it was after the first few."""
    def series() -> list[str]:
        text = client.get("/metrics").get_data(as_text=True)
        return [line for line in text.splitlines() if line.startswith("searchsvc_")]

    for n in range(3):
        client.open("/api/search?q=ECMO", method=f"MADEUP{n}")
        client.get(f"/no/such/page/{n}")
        client.open(f"/no/such/page/{n}", method=f"VERB{n}")
    series()  # the scrape's own series
    first = len(series())
    for n in range(3, 200):
        client.open("/api/search?q=ECMO", method=f"MADEUP{n}")
        client.get(f"/no/such/page/{n}")
        client.open(f"/no/such/page/{n}", method=f"VERB{n}")
    final = series()
    assert len(final) == first
    text = "\n".join(final)
    assert "MADEUP" not in text and "/no/such" not in text
    assert 'searchsvc_requests_total{method="other",route="unmatched",status="405"} 200.0' in text
    assert 'searchsvc_requests_total{method="other",route="unmatched",status="404"} 200.0' in text


def test_405_names_the_allowed_methods(client):
    for path in ("/api/search?q=ECMO", "/", "/healthz"):
        r = client.post(path)
        assert r.status_code == 405
        assert {"GET", "HEAD"} <= set(r.headers["Allow"].split(", ")), path
        assert r.headers["X-Frame-Options"] == "DENY"
