"""The library internals ``searchsvc/compat.py`` relies on are still there and shaped as
they were when it was written. A failure here means: re-read the library's code, adjust
compat.py, then bump the version it names."""

from __future__ import annotations

import inspect
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import gunicorn
import pytest
from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.http.unreader import Unreader
from gunicorn.workers import base, gthread

from searchsvc import gunicorn_compat as compat


def test_gunicorn_is_the_version_compat_was_written_against():
    assert gunicorn.__version__ == compat.GUNICORN_VERSION
    assert compat.gunicorn_matches()


def test_the_gthread_internals_the_worker_uses():
    worker = gthread.ThreadWorker
    # methods we override or call, with the arguments we pass
    for name, params in {
        "accept": ["self", "listener"],
        "on_client_socket_readable": ["self", "conn", "client"],
        "on_pending_socket_readable": ["self", "conn", "client"],
        "finish_request": ["self", "conn", "fs"],
        "murder_pending": ["self"],
        "set_accept_enabled": ["self", "enabled"],
        "wait_for_and_dispatch_events": ["self", "timeout"],
        "enqueue_req": ["self", "conn"],
        "handle": ["self", "conn"],
    }.items():
        assert list(inspect.signature(getattr(worker, name)).parameters) == params, name
    assert list(inspect.signature(gthread.TConn).parameters) == ["cfg", "sock", "client", "server"]
    init = inspect.getsource(worker.__init__)
    for attribute in ("self.pending_conns", "self.keepalived_conns", "self.nr_conns",
                      "self._accepting", "self.worker_connections"):
        assert attribute in init, attribute
    tconn = inspect.getsource(gthread.TConn.__init__)
    for attribute in ("self.parser", "self.initialized", "self.data_ready", "self.timeout",
                      "self.is_http2"):
        assert attribute in tconn, attribute
    # handle() skips its own wait for data when data_ready is set, and the run loop calls
    # the two methods we hook into
    assert "not conn.initialized and not conn.data_ready" in inspect.getsource(worker.handle)
    run = inspect.getsource(worker.run)
    assert "self.set_accept_enabled(can_accept)" in run
    assert "self.wait_for_and_dispatch_events(" in run and "self.murder_pending()" in run
    # the data-wait we avoid is still what the module docstring says it is
    assert gthread.DEFAULT_WORKER_DATA_TIMEOUT == 5.0
    assert hasattr(Unreader, "take_buffered") and hasattr(Unreader, "unread")


def test_gunicorn_writes_its_own_errors_through_util_write_error():
    assert "util.write_error(client, status_int, reason, mesg)" in inspect.getsource(
        base.Worker.handle_error
    )
    assert list(inspect.signature(util.write_nonblock).parameters)[:2] == ["sock", "data"]
    assert list(inspect.signature(compat.write_error).parameters) == list(
        inspect.signature(_GUNICORN_WRITE_ERROR).parameters
    )


_GUNICORN_WRITE_ERROR = util.write_error  # before anything installed ours


def test_gunicorn_responses_take_the_server_name_from_the_module():
    assert "self.version = SERVER" in inspect.getsource(wsgi.Response.__init__)
    assert '"Server: %s\\r\\n" % self.version' in inspect.getsource(wsgi.Response.default_headers)


# --- the worker's linger on kept-alive connections, over a real socket pair -----------------


@pytest.fixture
def make_worker() -> Iterator[Callable[[int], compat.HeadFirstWorker]]:
    """Workers as the gunicorn master makes them (not started), keepalive 5 s."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    made: list[compat.HeadFirstWorker] = []

    def make(threads: int = 4) -> compat.HeadFirstWorker:
        cfg = Config()
        cfg.set("threads", threads)
        cfg.set("keepalive", 5)
        made.append(compat.HeadFirstWorker(0, os.getpid(), [], None, 30, cfg, Logger(cfg)))
        return made[-1]

    yield make
    for worker in made:
        worker.tmp.close()


@contextmanager
def _connection(worker: compat.HeadFirstWorker) -> Iterator[tuple[gthread.TConn, socket.socket]]:
    """A gthread connection on one end of a socket pair (its parser made, as after an
    answer), and the client's end."""
    server, client = socket.socketpair()
    conn = gthread.TConn(worker.cfg, server, ("127.0.0.1", 1), ("127.0.0.1", 2))
    conn.init()
    try:
        yield conn, client
    finally:
        server.close()
        client.close()


REQUEST = b"GET /api/search?q=x HTTP/1.1\r\nHost: x\r\n\r\n"


def test_at_most_half_the_threads_linger_and_none_while_a_request_waits(make_worker):
    worker = make_worker(4)
    assert worker._may_linger() and worker._may_linger()
    assert not worker._may_linger()  # two of four already
    assert worker._lingering == 2
    worker._lingering = 0
    worker._waiting = 1  # a request waits for a thread: it gets this one
    assert not worker._may_linger()
    worker._waiting = 0
    worker.alive = False  # stopping: the event loop finishes the connection
    assert not worker._may_linger()
    assert not make_worker(1)._may_linger()
    assert worker._lingering == 0


def test_the_next_request_is_taken_when_whole_and_left_to_the_loop_otherwise(make_worker):
    worker = make_worker()
    with _connection(worker) as (conn, client):
        started = time.monotonic()
        assert worker._next_request(conn) is None  # nothing came
        assert time.monotonic() - started >= compat.KEEPALIVE_LINGER / 1000 * 0.9
        client.sendall(REQUEST)
        assert worker._next_request(conn) is True
        assert conn.parser.unreader.buf.getvalue() == REQUEST  # for gthread's handling
    with _connection(worker) as (conn, client):
        client.sendall(REQUEST[:20])  # part of a head: kept for the event loop
        assert worker._next_request(conn) is None
        assert bytes(conn.head) == REQUEST[:20]
        assert conn.timeout == pytest.approx(time.monotonic() + 5, abs=0.5)
    with _connection(worker) as (conn, client):
        client.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n")
        assert worker._next_request(conn) is None  # the loop answers 431
        assert len(conn.head) > compat.MAX_HEAD_BYTES
    with _connection(worker) as (conn, client):
        client.close()
        assert worker._next_request(conn) is False
    with _connection(worker) as (conn, client):
        conn.parser.unreader.unread(REQUEST)  # pipelined behind the last answer
        client.sendall(REQUEST)
        assert worker._next_request(conn) is None
        # not read here: the event loop takes the buffered bytes first
        assert conn.sock.recv(65536, socket.MSG_PEEK) == REQUEST
