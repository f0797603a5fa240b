"""The library internals ``searchsvc/compat.py`` relies on are still there and shaped as
they were when it was written. A failure here means: re-read the library's code, adjust
compat.py, then bump the version it names."""

from __future__ import annotations

import inspect

import gunicorn
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
    for attribute in ("self.parser", "self.initialized", "self.data_ready", "self.timeout"):
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
