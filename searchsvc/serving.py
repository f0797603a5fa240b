"""Running the WSGI app under waitress: worker processes, threads, a graceful stop.

In: a WSGI app and the listen/limit settings. Out: a server that answers until told to
stop; then it stops accepting connections, lets the requests in flight finish and send
their responses (up to ``grace`` seconds), and returns.

Python threads share one core (the GIL), so ``workers`` > 1 forks that many processes
after the app is built (jieba's dictionary is shared copy-on-write); they accept from
one listening socket, and the parent passes SIGTERM on and waits for them. waitress's
own ``run()`` stops its event loop at once on a signal, and a response still in a
channel's buffer is never sent; so this drives the loop itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import select
import signal
import socket
import threading
import time
from typing import Any

import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024  # request line (URL) and headers
MAX_BODY_BYTES = 64 * 1024


def _give_freed_memory_back() -> None:
    """Searches allocate short-lived arrays of up to a few MB on many threads; with glibc's
    defaults (an mmap threshold that grows after the first large free, an arena per thread)
    they end up as heap that is never returned, and a worker's RSS grows by 100 MB. A fixed
    threshold maps and unmaps them instead; two arenas are plenty under the GIL."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_mmap_threshold, m_arena_max = -3, -8
    mallopt(m_mmap_threshold, 256 * 1024)
    mallopt(m_arena_max, 2)


class _ConnectionShares:
    """Open connections per worker, in memory the forked workers share. A worker takes a
    new connection only while no sibling holds fewer: connections that stay open
    (keep-alive clients, a reverse proxy's pool) are spread evenly instead of piling up on
    whichever process woke first, where they would queue behind one GIL."""

    def __init__(self, workers: int):
        self.counts = multiprocessing.RawArray("i", workers)

    def may_accept(self, worker: int) -> bool:
        counts = self.counts[:]
        return counts[worker] <= min(counts)

    def set(self, worker: int, connections: int) -> None:
        self.counts[worker] = connections

    def retire(self, worker: int) -> None:
        """A worker that exited never counts as the least busy again."""
        self.counts[worker] = 2**30


def _busy(server: Any) -> bool:
    """Whether any connection has a request being handled or a response not yet sent."""
    return any(
        isinstance(ch, HTTPChannel) and (ch.requests or ch.total_outbufs_len)
        for ch in list(server._map.values())
    )


def serve(
    app: Any,
    host: str,
    port: int,
    threads: int,
    request_timeout: int,
    workers: int = 1,
    grace: float = 10.0,
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT, then drain in-flight requests and return."""
    if workers <= 1:
        _serve_one(app, host, port, threads, request_timeout, grace, None)
        return
    listener = socket.create_server((host, port), backlog=1024, reuse_port=False)
    shares = _ConnectionShares(workers)
    children: list[int] = []
    for number in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: serve until told to stop, then leave without cleanup
            code = 0
            try:
                _serve_one(
                    app, host, port, threads, request_timeout, grace, listener,
                    (shares, number),
                )
            except BaseException:  # noqa: BLE001 - logged; the parent sees the exit code
                log.exception("worker %d failed", os.getpid())
                code = 1
            os._exit(code)
        children.append(pid)
    listener.close()  # the workers have it
    log.info("serving on http://%s:%s with %d workers × %d threads", host, port, workers, threads)

    def _forward(signum: int, _frame: Any) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    failed = False
    running = set(children)
    while running:
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        if pid in running:
            running.discard(pid)
            shares.retire(children.index(pid))
            failed = failed or os.waitstatus_to_exitcode(status) != 0
    if failed:
        raise SystemExit(1)


def _serve_one(
    app: Any,
    host: str,
    port: int,
    threads: int,
    request_timeout: int,
    grace: float,
    listener: socket.socket | None,
    sharing: tuple[_ConnectionShares, int] | None = None,
) -> None:
    """One process: waitress on its own socket or on ``listener`` (taking its share of the
    connections, with ``sharing``), drained on SIGTERM."""
    _give_freed_memory_back()
    where: dict[str, Any] = (
        {"sockets": [listener]} if listener is not None else {"host": host, "port": port}
    )
    server = waitress.create_server(
        app,
        **where,
        threads=threads,
        channel_timeout=request_timeout,
        max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=MAX_BODY_BYTES,
        ident="searchsvc",
        clear_untrusted_proxy_headers=True,
    )
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: finishing requests in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    log.info("process %d serving on %s:%s, %d threads", os.getpid(), host, port, threads)
    if sharing is not None:
        shares, number = sharing
        readable = server.readable
        server.readable = lambda: readable() and shares.may_accept(number)
    while not stop.is_set():
        if sharing is not None:
            channels = sum(isinstance(ch, HTTPChannel) for ch in list(server._map.values()))
            shares.set(number, channels)
        # A short poll: a worker that may take connections again notices soon.
        server.asyncore.loop(timeout=0.05, map=server._map, count=1)
    # Take in the connections already waiting in the kernel's backlog (closing the socket
    # would reset them: clients that connected in time deserve an answer) ...
    for _ in range(1000):  # bounded: sibling workers may keep the shared queue busy
        if not select.select([server.socket], [], [], 0)[0]:
            break
        server.handle_accept()
    # ... then stop listening (new connections are refused from here on) but keep the trigger
    # that wakes the loop when a worker thread has a response ready: not server.close().
    wasyncore.dispatcher.close(server)
    deadline = time.monotonic() + grace
    while _busy(server) and time.monotonic() < deadline:
        server.asyncore.loop(timeout=0.05, map=server._map, count=1)
    server.task_dispatcher.shutdown(
        cancel_pending=False, timeout=max(0.0, deadline - time.monotonic())
    )
    log.info("stopped")
