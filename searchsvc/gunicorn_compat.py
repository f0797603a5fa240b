"""Where searchsvc reaches inside gunicorn: the worker, error answers and Server header.

Each names the version it was written against; ``tests/test_gunicorn_compat.py`` fails when the
installed library differs or the internals used here change, so an upgrade is a
deliberate step (re-read the library's code, adjust, bump the version below).

gunicorn 27.0.1 (``gunicorn.workers.gthread``, ``gunicorn.util``, ``gunicorn.workers.base``):

* ``HeadFirstWorker``: gthread hands every new connection to a pool thread, which waits up
  to ``DEFAULT_WORKER_DATA_TIMEOUT`` (5 s) for data and then reads the request with a
  blocking socket and no deadline. 500 connections that send nothing (or half a request)
  hold all threads: requests queue for minutes. This worker keeps every connection in the
  event loop until its whole request (head, and the body it declares) has arrived, reading
  without blocking; a thread gets only complete requests. A connection whose request is
  not complete within the idle timeout (gunicorn's ``keepalive``, counted from its opening
  or its previous answer) is closed; a head over ``MAX_HEAD_BYTES`` is answered 431, a
  declared body over ``max_body_bytes`` 413 and a chunked body 411, before anything reads
  further. A thread that has answered on a kept-alive connection waits up to
  ``KEEPALIVE_LINGER`` for that connection's next request and answers it itself, while
  nothing waits for a thread and at most half the threads linger: a busy client's next
  request skips the hand-offs through the event loop (two wake-ups of the loop, one of a
  pool thread, and their turns at the GIL). It also spreads connections over the workers
  (least connections first) and takes in the kernel's queue when it stops, then stops
  listening (new connections are refused, not queued and reset) while it finishes the
  requests in flight.
* ``install_error_headers``: the answers gunicorn writes itself (400, 414, 431…, from
  ``util.write_error``) carry no headers but the status line's; this adds ours (the
  security headers).
* ``set_server_name``: the ``Server`` header names the service, not the server software
  (``gunicorn.http.wsgi.SERVER``, read by each ``Response``), as it did under waitress.
"""

from __future__ import annotations

import errno
import html
import logging
import re
import select
import selectors
import socket
import threading
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

import gunicorn
import gunicorn.http.wsgi
from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import TConn, ThreadWorker

GUNICORN_VERSION = "27.0.1"
MAX_HEAD_BYTES = 16 * 1024  # request line and headers together
STOP_LINGER = 2.0  # on stop, seconds a connection still has to send its request
ACCEPT_RETRY = 0.002  # seconds a worker with more connections than a sibling holds back
# Milliseconds a thread that has answered waits for the same connection's next request. A
# client that sends requests back to back sends the next within a fraction of this; one
# that does not costs an idle thread this long (no CPU but one poll).
KEEPALIVE_LINGER = 3

_ERROR_HEADERS: dict[str, str] = {}
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*([0-9]{1,18})[ \t]*\r?$")
_TRANSFER_ENCODING = re.compile(rb"(?im)^transfer-encoding[ \t]*:")

log = logging.getLogger(__name__)


def gunicorn_matches() -> bool:
    return gunicorn.__version__ == GUNICORN_VERSION


class HeadFirstWorker(ThreadWorker):
    """gthread, but a pool thread only ever gets a connection whose request is in.

    Connections waiting for a head live in ``pending_conns`` (gthread's own list of
    connections parked in the poller, closed by its ``murder_pending`` at ``timeout``),
    with the bytes read so far in ``conn.head``. A head that declares a body over
    ``max_body_bytes`` is answered 413 at once.
    """

    max_body_bytes = 64 * 1024
    shares: Any = None  # serving.ConnectionShares, set before the workers are forked

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._thread_counts = threading.Lock()
        self._waiting = 0  # requests handed to the pool that no thread has taken yet
        self._lingering = 0  # threads waiting for a kept-alive connection's next request

    def init_process(self) -> None:
        self._pending_check = 0.0
        self._accept_again = 0.0
        self._stopped_listening = False
        super().init_process()

    # -- new and kept-alive connections wait in the poller for a complete head ------------

    def accept(self, listener: socket.socket) -> None:
        if self.alive and not self._fewest_connections():
            self._hold_accepting()  # a sibling with fewer connections takes it
            return
        try:
            client, address = listener.accept()
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        conn = TConn(self.cfg, client, address, listener.getsockname())  # non-blocking
        self._await_head(conn, b"", time.monotonic() + self.cfg.keepalive)

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection has bytes: its next request, or part of it."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        data = _receive(client)
        if data == b"":  # the client closed it
            self.nr_conns -= 1
            conn.close()
            return
        self._await_head(conn, data or b"", conn.timeout)

    def _await_head(self, conn: TConn, head: bytes, deadline: float) -> None:
        conn.head = bytearray(head)
        conn.timeout = deadline
        verdict = self._examine(conn.head)
        if verdict is not False:
            self._dispatch(conn, verdict)
            return
        conn.sock.setblocking(False)
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )

    def on_pending_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """Read what arrived, without blocking; hand the connection on once its request
        is in, or answer the error it earned."""
        data = _receive(client)
        if data is None:
            return
        if not data:  # the client went away
            self._drop(conn)
            return
        conn.head += data
        verdict = self._examine(conn.head)
        if verdict is False:
            return  # more to come
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        self._dispatch(conn, verdict)

    def _examine(self, received: bytes | bytearray) -> bool | tuple[int, str, str]:
        """True: a complete request head (and its body, if it declares one) is in; False:
        not yet; else the error to answer (status, reason, message)."""
        end, gap = received.find(b"\r\n\r\n"), 4
        if end < 0:
            end, gap = received.find(b"\n\n"), 2
        if end > MAX_HEAD_BYTES or (end < 0 and len(received) > MAX_HEAD_BYTES):
            return 431, "Request Header Fields Too Large", (
                f"request line and headers over {MAX_HEAD_BYTES} bytes")
        if end < 0:
            return False
        fields = received[:end]
        if _TRANSFER_ENCODING.search(fields):
            # A chunked body has no length to wait for; no endpoint takes one.
            return 411, "Length Required", "send a request body with a Content-Length"
        declared = _CONTENT_LENGTH.search(fields)
        length = int(declared.group(1)) if declared else 0
        if length > self.max_body_bytes:
            return 413, "Content Too Large", f"request body over {self.max_body_bytes} bytes"
        return len(received) >= end + gap + length

    def _dispatch(self, conn: TConn, verdict: bool | tuple[int, str, str] = True) -> None:
        if verdict is not True:
            # Answered before any thread touches it (a large upload is not drained).
            self.nr_conns -= 1
            log.info("%d to %s: %s", verdict[0], conn.client[0] if conn.client else "?",
                     verdict[2])
            write_error(conn.sock, *verdict)
            conn.close()
            return
        conn.data_ready = True  # gthread's handle() must not wait for data again
        self.enqueue_req(conn)

    def enqueue_req(self, conn: TConn) -> None:
        with self._thread_counts:
            self._waiting += 1
        super().enqueue_req(conn)

    def handle(self, conn: TConn) -> Any:
        """Give the parser the bytes read in the event loop, then gthread's handling; then
        answer the connection's next requests while they follow quickly (``_next_request``)."""
        with self._thread_counts:
            self._waiting -= 1
        head = bytes(getattr(conn, "head", b""))
        conn.head = bytearray()
        if head:
            conn.sock.setblocking(True)
            conn.init()  # makes the parser on a new connection (no-op otherwise)
            conn.parser.unreader.unread(head)
        keep = super().handle(conn)
        while keep is True and not conn.is_http2 and self._may_linger():
            try:
                follows = self._next_request(conn)
            finally:
                with self._thread_counts:
                    self._lingering -= 1
            if follows is not True:
                return keep if follows is None else False
            keep = super().handle(conn)
        return keep

    def _may_linger(self) -> bool:
        """Whether this thread may wait for its connection's next request (counted as
        lingering if so): not while a request waits for a thread, nor by more than half
        the threads (the others stay free for new requests)."""
        with self._thread_counts:
            if not self.alive or self._waiting or self._lingering >= self.cfg.threads // 2:
                return False
            self._lingering += 1
            return True

    def _next_request(self, conn: TConn) -> bool | None:
        """Wait up to KEEPALIVE_LINGER for ``conn``'s next request. True: it is in (in the
        parser's buffer), answer it here; None: nothing came, or only part of it (kept in
        ``conn.head`` for the event loop, like pipelined bytes); False: the client closed
        the connection."""
        answered = time.monotonic()
        if conn.parser.unreader.buf.getvalue():
            return None  # pipelined bytes: finish_request gives them to the event loop
        poll = select.poll()
        poll.register(conn.sock, select.POLLIN)
        if not poll.poll(KEEPALIVE_LINGER):
            return None
        try:
            data = conn.sock.recv(65536)  # blocking socket, but readable: returns at once
        except OSError:
            return False
        if not data:
            return False
        if self._examine(data) is not True:  # part of a head, or one to refuse
            conn.head = bytearray(data)
            conn.timeout = answered + self.cfg.keepalive
            return None
        conn.parser.unreader.unread(data)
        return True

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """Bytes of the next request read behind a kept-alive answer (pipelined, or read
        while lingering) wait in the event loop for a complete head too."""
        try:
            keep = fs.result() if not fs.cancelled() else False
        except Exception:  # noqa: BLE001 - gthread's own handling closes it
            keep = False
        rest, deadline = b"", 0.0
        if keep and getattr(conn, "head", None):  # part of one, read by _next_request
            rest, conn.head, deadline = bytes(conn.head), bytearray(), conn.timeout
        elif keep and self.alive and conn.parser.unreader.buf.getvalue():  # pipelined
            rest = conn.parser.unreader.take_buffered()
            deadline = time.monotonic() + self.cfg.keepalive
        if rest:
            conn.sock.setblocking(False)
            self._await_head(conn, rest, deadline)
            return
        super().finish_request(conn, fs)

    def murder_pending(self) -> None:
        """Close connections whose head did not arrive in time. Kept-alive connections
        join with their own deadline, so the list is not in deadline order: look at all of
        it, a few times a second."""
        now = time.monotonic()
        if now < self._pending_check:
            return
        self._pending_check = now + 0.2
        for conn in [c for c in self.pending_conns if c.timeout <= now]:
            self._drop(conn)

    def _drop(self, conn: TConn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.pending_conns.remove(conn)
        self.nr_conns -= 1
        conn.close()

    # -- balance: kept-alive connections spread over the workers ---------------------------
    #
    # Every worker polls the shared listening socket; whichever wakes first takes the
    # connection, so kept-alive clients (a proxy's pool) pile up on one process and queue
    # behind its GIL. A worker that holds more connections than its least busy sibling
    # leaves a waiting connection to that sibling and looks again ACCEPT_RETRY later; it
    # costs nothing while no connection waits.

    def _fewest_connections(self) -> bool:
        """Publish this worker's open connections; True unless a sibling holds fewer."""
        shares, slot = self.shares, getattr(self, "share_slot", None)
        if shares is None or slot is None:
            return True
        shares.set(slot, self.nr_conns)
        return shares.may_accept(slot)

    def _hold_accepting(self) -> None:
        self._accept_again = time.monotonic() + ACCEPT_RETRY
        ThreadWorker.set_accept_enabled(self, False)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self.shares is not None and self.alive:
            self._fewest_connections()  # publish
            if not self._accepting and self.nr_conns < self.worker_connections:
                wait = self._accept_again - time.monotonic()
                if wait <= 0:
                    ThreadWorker.set_accept_enabled(self, True)
                else:
                    timeout = min(timeout, wait)
        super().wait_for_and_dispatch_events(timeout)

    # -- stopping -------------------------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        """gthread's loop enables accepting whenever under the connection limit: not while
        holding back for a sibling. On stop, stop listening (``_stop_listening``), whether
        or not this worker was accepting just then."""
        if enabled and self.alive and time.monotonic() < self._accept_again:
            return
        if not enabled and not self.alive and not self._stopped_listening:
            self._stop_listening()
            return
        super().set_accept_enabled(enabled)

    def _stop_listening(self) -> None:
        """Take in the connections already waiting in the kernel's queue (they connected in
        time; closing the listener would reset them), even when holding back for a sibling
        (which may be stopping too, or gone), then close the listener."""
        self._stopped_listening = True
        log.info("stopping: finishing requests in flight")
        for listener in self.sockets:
            for _ in range(1000):  # bounded: siblings share the queue
                before = self.nr_conns
                self.accept(listener)  # a stopping worker never holds back
                if self.nr_conns == before:
                    break
        # Connections without a request get a short while to send one, not the whole
        # idle timeout (gthread does the same for kept-alive ones).
        deadline = time.monotonic() + STOP_LINGER
        for conn in self.pending_conns:
            conn.timeout = min(conn.timeout, deadline)
        super().set_accept_enabled(False)
        # Stop listening now, not when the last request in flight is done: meanwhile the
        # kernel would complete new connections into a queue nobody reads, and reset them
        # after their clients sent a request. Closed, they are refused, which a client or a
        # balancer can retry at once.
        for listener in self.sockets:
            listener.close()


def _receive(client: socket.socket) -> bytes | None:
    """What arrived on a non-blocking socket: None if nothing yet, b"" if it was closed."""
    try:
        return client.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` (an HTML error page, ``Connection: close``) with the
    headers given to ``install_error_headers``."""
    body = (
        f"<!doctype html><title>{status_int} {reason}</title><h1>{status_int} {reason}</h1>"
        f"<p>{html.escape(mesg)}</p>\n"
    ).encode()
    lines = [f"HTTP/1.1 {status_int} {reason}", "Connection: close",
             "Content-Type: text/html; charset=utf-8", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in _ERROR_HEADERS.items()]
    try:
        gunicorn_util.write_nonblock(sock, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    except OSError:
        pass  # the client is gone


def install_error_headers(headers: Mapping[str, str]) -> None:
    """Make gunicorn's own error answers carry ``headers`` (its workers call
    ``gunicorn.util.write_error`` for the requests they reject before the app sees them)."""
    _ERROR_HEADERS.clear()
    _ERROR_HEADERS.update(headers)
    gunicorn_util.write_error = write_error


def set_server_name(name: str) -> None:
    """Send ``Server: name`` instead of ``Server: gunicorn``."""
    gunicorn.http.wsgi.SERVER = name
