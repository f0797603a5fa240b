"""The real server under hostile connections: idle sockets, half-sent requests, oversized
requests, made-up methods and paths, and the rate limit shared by worker processes
(issue 11.12-15)."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import access_log_pids, serve_process

from searchsvc.web import SECURITY_HEADERS

pytestmark = pytest.mark.slow  # real server processes

SEARCH = "/api/search?q=" + urllib.parse.quote("医院")


def _get(port: int, path: str, method: str = "GET", timeout: float = 10,
         headers: dict[str, str] | None = None, body: bytes | None = None,
         ) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` as it is; the answer's head (read until it is complete or the server
    closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before reading it all: the answer is still there
        received = b""
        while b"\r\n\r\n" not in received:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return received


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _searches_answered_at_once(port: int) -> None:
    """Searches on new connections are answered within 2 s: no thread is held."""
    for _ in range(3):
        started = time.monotonic()
        assert _get(port, SEARCH, timeout=5)[0] == 200
        assert time.monotonic() - started < 2


def test_idle_connections_do_not_lock_anyone_out(seed_index, tmp_path: Path):
    """500 sockets that connect and send nothing: /healthz and searches still answer at
    once, and the server closes the idle sockets after the idle timeout (waitress held
    100 per worker and everybody else waited ~60 s)."""
    env = {"SEARCHSVC_IDLE_TIMEOUT": "4"}
    args = ("--workers", "2", "--threads", "4")
    with serve_process(seed_index, tmp_path / "server.log", *args, env=env) as (_proc, port):
        idle = []
        try:
            for _ in range(500):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            opened = time.monotonic()
            time.sleep(0.5)  # the server has taken them in
            for path in ("/healthz", SEARCH, "/?q=ECMO"):
                started = time.monotonic()
                status, _headers, _body = _get(port, path, timeout=5)
                took = time.monotonic() - started
                assert status == 200 and took < 2, (path, status, took)
            # the idle timeout (4 s) closes them: every one, by the server
            time.sleep(max(0.0, opened + 4 - time.monotonic()))
            assert all(_closed_by_server(s, within=3) for s in idle)
        finally:
            for s in idle:
                s.close()


def test_half_sent_requests_hold_no_thread_and_are_closed(seed_index, tmp_path: Path):
    """A slow client that sends part of a request head and stops: its connection waits in
    the event loop (no thread), the others are answered, and it is closed at the idle
    timeout counted from when it connected (sending a byte now and then does not help)."""
    env = {"SEARCHSVC_IDLE_TIMEOUT": "3"}
    args = ("--workers", "1", "--threads", "2")
    with serve_process(seed_index, tmp_path / "server.log", *args, env=env) as (_proc, port):
        slow = []
        try:
            for n in range(20):  # ten times the threads
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                if n % 2:  # half a head
                    s.sendall(f"GET /api/search?q=a{n} HTTP/1.1\r\nHost: x\r\n".encode())
                else:  # a whole head, half the body it announces
                    s.sendall(b"POST /api/admin/update HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 1000\r\n\r\n" + b"b" * 500)
                slow.append(s)
            opened = time.monotonic()
            _searches_answered_at_once(port)
            time.sleep(1.5)
            for s in slow:  # a trickle of bytes does not extend the deadline
                s.sendall(b"X-Slow: 1\r\n")
            time.sleep(max(0.0, opened + 3 - time.monotonic()))
            assert all(_closed_by_server(s, within=3) for s in slow)
        finally:
            for s in slow:
                s.close()


def _assert_security_headers(headers: dict[str, str], what: str) -> None:
    lower = {k.lower() for k in headers}
    missing = [h for h in SECURITY_HEADERS if h.lower() not in lower]
    assert not missing, f"{what}: missing {missing}"


def _status_and_headers(raw: bytes) -> tuple[int, dict[str, str]]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    return status, headers


def test_the_servers_own_error_answers_carry_the_security_headers(seed_index, tmp_path: Path):
    with serve_process(seed_index, tmp_path / "server.log", "--workers", "1") as (_proc, port):
        cases = {
            "URL over the request-line limit": (
                b"GET /api/search?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
            "headers over 16 KB": (
                b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
                    b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(20)) + b"\r\n", 431),
            "one header over the field limit": (
                b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n", 431),
            "a malformed request line": (b"GET\r\n\r\n", 400),
            "a body over 64 KB": (
                b"POST /api/search?q=x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                + b"z" * 1000, 413),
            "a chunked body": (
                b"POST /api/search?q=x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n", 411),
        }
        for what, (request, expected) in cases.items():
            status, headers = _status_and_headers(_raw(port, request))
            assert status == expected, (what, status)
            _assert_security_headers(headers, what)
        # a 405 names the methods that are allowed
        status, headers, _ = _get(port, SEARCH, method="POST")
        assert status == 405 and set(headers["Allow"].split(", ")) >= {"GET", "HEAD"}
        _assert_security_headers(headers, "405")
        # a small body is fine (read before a thread takes the request), and the server
        # names the service, not its software
        status, headers, _ = _get(port, SEARCH, method="GET", headers={"Content-Length": "3"},
                                  body=b"abc")
        assert status == 200 and headers["Server"] == "searchsvc"


def test_metrics_stay_bounded_and_cover_every_worker(seed_index, tmp_path: Path):
    """Made-up methods and paths add no series; the counts add up every worker's."""
    log = tmp_path / "server.log"
    with serve_process(seed_index, log, "--workers", "2", "--threads", "2") as (_proc, port):
        for n in range(40):
            method = "X" + "".join(chr(65 + int(d)) for d in f"{n:03d}")  # XAAA, XAAB, …
            assert _get(port, SEARCH, method=method)[0] == 405
            assert _get(port, f"/made/up/{n}")[0] == 404
        searches = 0
        while searches < 100 and (searches < 20 or len(access_log_pids(log, "/api/search")) < 2):
            assert _get(port, SEARCH)[0] == 200
            searches += 1
        assert len(access_log_pids(log, "/api/search")) == 2, "both workers answered"
        _status, _headers, body = _get(port, "/metrics")
    text = body.decode()
    requests = [line for line in text.splitlines() if line.startswith("searchsvc_requests_total")]
    assert len(requests) <= 10, requests
    assert not re.search(r'method="X[A-Z]{3}"', text)
    assert 'searchsvc_requests_total{method="other",route="unmatched",status="405"} 40.0' in text
    assert 'searchsvc_requests_total{method="GET",route="unmatched",status="404"} 40.0' in text
    assert (f'searchsvc_requests_total{{method="GET",route="/api/search",status="200"}} '
            f"{searches}.0") in text
    assert "searchsvc_index_documents 216.0" in text
    assert text.count("searchsvc_index_info{") == 1


def test_one_rate_limit_for_every_worker_covering_page_and_api(seed_index, tmp_path: Path):
    """5/minute means 5 searches per client, whichever worker answers and whether they come
    from the page or the API; monitoring is never limited."""
    log = tmp_path / "server.log"
    env = {"SEARCHSVC_RATE_LIMIT": "5/minute"}
    args = ("--workers", "2", "--threads", "2")
    with serve_process(seed_index, log, *args, env=env) as (_proc, port):
        statuses: list[int] = []
        paths = [SEARCH, "/?q=ECMO", "/api/articles/000_eacc438995d2ea0a-1", "/?q=%E5%8C%BB"]
        while len(statuses) < 60:
            statuses.append(_get(port, paths[len(statuses) % len(paths)])[0])
            if len(statuses) >= 12 and len(_limited_pids(log)) >= 2:
                break
        assert len(_limited_pids(log)) >= 2, "both workers answered limited requests"
        assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}, statuses
        for path in ("/healthz", "/readyz", "/metrics", "/api/suggest?q=%E5%8C%BB",
                     "/api/openapi.json"):
            assert _get(port, path)[0] == 200, path
        status, headers, _ = _get(port, SEARCH)
        assert status == 429 and int(headers["Retry-After"]) > 0
        _assert_security_headers(headers, "429")


def _limited_pids(log: Path) -> set[int]:
    return (access_log_pids(log, "/api/search") | access_log_pids(log, "/")
            | access_log_pids(log, "/api/articles/000_eacc438995d2ea0a-1"))


class _Answers:
    """Answers read one by one off a kept-alive connection (Content-Length bodies)."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buffer = sock, b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"closed by the server; unanswered: {self.buffer[:200]!r}"
        self.buffer += chunk

    def next(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, headers = _status_and_headers(head + b"\r\n\r\n")
        length = int(headers.get("Content-Length", "0"))
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body


SEARCH_REQUEST = f"GET {SEARCH} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def _hits(body: bytes) -> list[str]:
    return [hit["id"] for hit in json.loads(body)["hits"]]


def test_a_kept_alive_connections_next_request_may_come_in_pieces_or_pipelined(
    seed_index, tmp_path: Path
):
    """Right after an answer, a thread waits a moment for the connection's next request
    (KEEPALIVE_LINGER): whatever shape it arrives in, it is answered as it would be by the
    event loop (issue 14)."""
    args = ("--workers", "1", "--threads", "4")
    with serve_process(seed_index, tmp_path / "server.log", *args) as (_proc, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            answers = _Answers(sock)
            sock.sendall(SEARCH_REQUEST)
            status, _headers, body = answers.next()
            assert status == 200 and _hits(body)
            expected = _hits(body)
            for _ in range(3):  # back to back: taken by the thread that answered
                sock.sendall(SEARCH_REQUEST)
                status, _headers, body = answers.next()
                assert status == 200 and _hits(body) == expected
            # the first half at once (read by the lingering thread), the rest later
            sock.sendall(SEARCH_REQUEST[:25])
            time.sleep(0.3)
            sock.sendall(SEARCH_REQUEST[25:])
            status, _headers, body = answers.next()
            assert status == 200 and _hits(body) == expected
            # two requests in one packet
            sock.sendall(SEARCH_REQUEST * 2)
            assert [answers.next()[0] for _ in range(2)] == [200, 200]
            # a head too large, right after an answer: refused as on a new connection
            sock.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n")
            status, headers, _body = answers.next()
            assert status == 431
            _assert_security_headers(headers, "431 after an answer")


def test_next_requests_cut_short_hold_no_thread_and_closed_connections_hold_no_stop(
    seed_index, tmp_path: Path
):
    """Connections that send half of their next request right after an answer wait in the
    event loop and are closed at the idle timeout counted from that answer; connections the
    client closes right after an answer are forgotten (a stop does not wait for them)."""
    env = {"SEARCHSVC_IDLE_TIMEOUT": "3", "SEARCHSVC_GRACEFUL_TIMEOUT": "30"}
    args = ("--workers", "1", "--threads", "2")
    with serve_process(seed_index, tmp_path / "server.log", *args, env=env) as (server, port):
        for _ in range(10):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(SEARCH_REQUEST)
                assert _Answers(sock).next()[0] == 200
        slow = []
        try:
            for _ in range(10):  # five times the threads
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(SEARCH_REQUEST)
                assert _Answers(sock).next()[0] == 200
                sock.sendall(SEARCH_REQUEST[:25])
                slow.append(sock)
            answered = time.monotonic()
            _searches_answered_at_once(port)
            assert not any(_closed_by_server(s, within=0.1) for s in slow)  # not yet
            time.sleep(max(0.0, answered + 3 - time.monotonic()))
            assert all(_closed_by_server(s, within=3) for s in slow)
        finally:
            for s in slow:
                s.close()
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        assert time.monotonic() - started < 5
