"""The benchmark's load generator (bench/common.py ``KeepAliveClient``): what it reads is
what an HTTP/1.1 server sent, one answer per request, over one kept-alive connection."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

_COMMON = Path(__file__).resolve().parent.parent / "bench" / "common.py"
_spec = importlib.util.spec_from_file_location("bench_common", _COMMON)
assert _spec is not None and _spec.loader is not None
bench_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_common)
KeepAliveClient = bench_common.KeepAliveClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[tuple[str, int]] = set()  # the clients' addresses

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Handler.connections.add(self.client_address)
        body = ("路径 " + self.path).encode() * (5000 if "big" in self.path else 1)
        self.send_response(404 if "missing" in self.path else 200)
        if "nolength" in self.path:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        if "close" in self.path:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.connections.clear()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_answers_come_back_whole_and_in_order_on_one_connection(server: ThreadingHTTPServer):
    client = KeepAliveClient("127.0.0.1", server.server_address[1])
    try:
        assert client.get("/a?q=1") == (200, "路径 /a?q=1".encode())
        big = client.get("/big")
        assert big == (200, "路径 /big".encode() * 5000)  # read over many recv calls
        assert client.get("/missing") == (404, "路径 /missing".encode())
        assert len(_Handler.connections) == 1  # kept alive throughout
    finally:
        client.close()


def test_a_closed_connection_is_opened_again_and_a_bad_answer_refused(
    server: ThreadingHTTPServer,
):
    client = KeepAliveClient("127.0.0.1", server.server_address[1])
    try:
        assert client.get("/close") == (200, "路径 /close".encode())
        assert client.get("/after") == (200, "路径 /after".encode())
        assert len(_Handler.connections) == 2  # the server closed the first one
        with pytest.raises(ValueError, match="Content-Length"):
            client.get("/nolength")
        assert client.get("/again") == (200, "路径 /again".encode())
    finally:
        client.close()
