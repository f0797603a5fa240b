"""Running the WSGI app under waitress, with a graceful stop on SIGTERM/SIGINT.

In: a WSGI app and the listen/limit settings. Out: a server that answers until told to
stop; then it stops accepting connections, lets the requests in flight finish and send
their responses (up to ``grace`` seconds), and returns.

waitress's own ``run()`` stops its event loop at once on a signal, and a response that
is still in a channel's buffer is never sent; so this drives the loop itself.
"""

from __future__ import annotations

import logging
import select
import signal
import threading
import time
from typing import Any

import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024  # request line (URL) and headers
MAX_BODY_BYTES = 64 * 1024


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
    grace: float = 10.0,
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT, then drain in-flight requests and return."""
    server = waitress.create_server(
        app,
        host=host,
        port=port,
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
    log.info("serving on http://%s:%s with %d threads", host, port, threads)
    while not stop.is_set():
        server.asyncore.loop(timeout=0.2, map=server._map, count=1)
    # Take in the connections already waiting in the kernel's backlog (closing the socket
    # would reset them: clients that connected in time deserve an answer) ...
    while select.select([server.socket], [], [], 0)[0]:
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
