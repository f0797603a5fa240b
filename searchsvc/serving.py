"""Running the app under gunicorn: ``serve(settings)`` is ``searchsvc serve``.

In: the settings. Out: a gunicorn master with ``settings.workers`` worker processes of
``settings.threads`` threads each (gthread, our ``gunicorn_compat.HeadFirstWorker``), the app built
once before forking (preload: jieba's dictionary is shared copy-on-write); a worker that
dies is replaced. SIGTERM stops accepting, lets the requests in flight finish (up to
``graceful_timeout``) and exits 0; SIGINT/SIGQUIT stop at once.

Each run has a private directory (``run_directory``): the Prometheus multiprocess files
(``/metrics`` adds up every worker) and the rate-limit counters every worker shares.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from .config import Settings
from .gunicorn_compat import MAX_HEAD_BYTES, HeadFirstWorker
from .processes import pid_alive

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MAX_REQUEST_LINE = 8190  # gunicorn's ceiling for the request line (URL); headers: MAX_HEAD_BYTES


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


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted`` (at most the hard limit): every
    connection is a file descriptor. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _runs_root() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    root = Path(base) / f"searchsvc-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    if root.stat().st_uid != os.getuid() or root.is_symlink():
        raise RuntimeError(f"{root} is not ours: cannot keep the server's run files there")
    return root


@contextlib.contextmanager
def run_directory() -> Iterator[Path]:
    """A fresh private (0700) directory for this server run, removed when it ends; the
    directories of runs whose server died (``kill -9``) are removed first."""
    root = _runs_root()
    for old in root.glob("run-*"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    owner = os.getpid()
    path = Path(tempfile.mkdtemp(prefix=f"run-{owner}-", dir=root))
    try:
        yield path
    finally:
        # gunicorn's workers leave by SystemExit through this frame too: only the master
        # (the process that made the directory) removes it.
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)


class ConnectionShares:
    """Open connections per worker, in memory shared with the forked workers, one slot per
    worker (a replacement takes over the slot of the worker it replaces). A worker takes
    new connections only while no sibling holds fewer (``gunicorn_compat.HeadFirstWorker``)."""

    RETIRED = 2**30  # a slot whose worker is gone never counts as the least busy

    def __init__(self, workers: int):
        self.counts = multiprocessing.RawArray("i", [self.RETIRED] * workers)

    def may_accept(self, slot: int) -> bool:
        """Whether ``slot`` holds no more connections than the least busy worker, give or
        take an eighth: with hundreds of connections (idle ones) the workers need not take
        turns one by one."""
        counts = self.counts[:]
        least = min(counts)
        return counts[slot] <= least + least // 8

    def set(self, slot: int, connections: int) -> None:
        self.counts[slot] = connections

    def retire(self, slot: int) -> None:
        self.counts[slot] = self.RETIRED


def _pre_fork(server: Any, worker: Any) -> None:
    """In the master, before a worker is forked: give it a free slot of the shares."""
    shares = HeadFirstWorker.shares
    if shares is None:
        return
    used = {getattr(w, "share_slot", None) for w in server.WORKERS.values()}
    free = [n for n in range(len(shares.counts)) if n not in used]
    worker.share_slot = free[0] if free else None  # more workers (TTIN): not balanced
    if worker.share_slot is not None:
        shares.set(worker.share_slot, 0)


def _child_exit(_server: Any, worker: Any) -> None:
    """A worker ended: its live gauges no longer count (its counters still do), and its
    slot of the shares waits for its replacement."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    if HeadFirstWorker.shares is not None and getattr(worker, "share_slot", None) is not None:
        HeadFirstWorker.shares.retire(worker.share_slot)


def _post_fork(_server: Any, _worker: Any) -> None:
    _give_freed_memory_back()


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """The gunicorn settings ``serve`` uses."""
    return {
        "bind": [f"[{settings.host}]:{settings.port}" if ":" in settings.host
                 else f"{settings.host}:{settings.port}"],
        "worker_class": HeadFirstWorker,
        "workers": settings.workers,
        "threads": settings.threads,
        "preload_app": True,
        "timeout": settings.request_timeout,
        "graceful_timeout": settings.graceful_timeout,
        "keepalive": settings.idle_timeout,
        "worker_connections": settings.max_connections,
        "backlog": 2048,
        "limit_request_line": MAX_REQUEST_LINE,
        "limit_request_fields": 100,
        "limit_request_field_size": MAX_HEAD_BYTES,
        # X-Forwarded-* are ours to trust (PROXY_COUNT, in the app), not gunicorn's.
        "forwarded_allow_ips": "",
        "control_socket_disable": True,
        "loglevel": settings.log_level.lower(),
        "errorlog": "-",
        "accesslog": None,  # the app writes one JSON line per request
        "proc_name": "searchsvc",
        "pre_fork": _pre_fork,
        "post_fork": _post_fork,
        "child_exit": _child_exit,
    }


class SearchServer(BaseApplication):  # type: ignore[misc]
    """gunicorn driven from Python: our options, our (already built) app."""

    def __init__(self, app: Any, options: dict[str, Any]):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


def serve(settings: Settings) -> None:
    """Serve the search app with ``settings`` until SIGTERM (drained) or SIGINT."""
    if "prometheus_client" in sys.modules and MULTIPROC_ENV not in os.environ:
        # Its value class is chosen when it is first imported: too late now.
        raise RuntimeError("serve() must run before prometheus_client is imported")
    raise_open_file_limit(settings.max_connections + 256)
    with run_directory() as run_dir:
        metrics_dir = run_dir / "metrics"
        metrics_dir.mkdir()
        os.environ[MULTIPROC_ENV] = str(metrics_dir)
        from .gunicorn_compat import install_error_headers, set_server_name
        from .web import MAX_BODY_BYTES, SECURITY_HEADERS, create_app

        install_error_headers(SECURITY_HEADERS)
        set_server_name("searchsvc")
        HeadFirstWorker.max_body_bytes = MAX_BODY_BYTES
        if settings.workers > 1:
            HeadFirstWorker.shares = ConnectionShares(settings.workers)
        app = create_app(settings=settings, run_dir=run_dir)
        log.info(
            "serving on http://%s:%s with %d workers × %d threads", settings.host,
            settings.port, settings.workers, settings.threads,
        )
        SearchServer(app, gunicorn_options(settings)).run()
