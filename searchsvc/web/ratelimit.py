"""The per-client rate limit: one counter per client shared by every worker process.

In: the limit (``RATE_LIMIT``, e.g. "120/minute") and the endpoints it covers. Out: those
endpoints answer 429 (with ``Retry-After``) once a client has used up the limit, whatever
worker process answers: the counters live in a SQLite file (WAL, no server) in the server
run's private directory. Without a run directory (the Flask test client, ``wsgi.py`` under
another server) they are kept in the process (flask-limiter's ``memory://``).

Counted: searches (the page and ``/api/search``) and articles (page and API) — what costs
an index lookup per request. Not counted: ``/api/suggest`` (the page calls it on every
keystroke; a bounded prefix lookup), ``/healthz``, ``/readyz``, ``/metrics`` (monitoring
must never be locked out), static files, the OpenAPI document, the admin endpoint.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage

LIMITED_ENDPOINTS = ("pages.index", "pages.article", "api.api_search", "api.api_article")
SCOPE = "searches"
SQLITE_SCHEME = "searchsvc+sqlite"


class SQLiteStorage(Storage):
    """Fixed-window counters in one SQLite file, for processes on one machine.

    ``searchsvc+sqlite:///path/to/file.db``. Each thread of each process opens its own
    connection; an increment is one atomic statement (an upsert returning the new count),
    so two workers never both see the same count.
    """

    STORAGE_SCHEME = [SQLITE_SCHEME]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = uri.split("://", 1)[1]
        self._local = threading.local()
        self._writes = 0
        # Made here (the master, before forking) on a connection that is closed again: a
        # SQLite connection must not be used on both sides of a fork.
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS counters "
                "(key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires REAL NOT NULL)"
            )
        finally:
            db.close()

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _connect(self) -> sqlite3.Connection:
        held = getattr(self._local, "db", None)
        # One per thread; and never one made before a fork (gunicorn forks the workers).
        if held is not None and held[0] == os.getpid():
            return held[1]
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        db.execute("PRAGMA synchronous=OFF")  # counters need no durability
        self._local.db = (os.getpid(), db)
        return db

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        db = self._connect()
        (value,) = db.execute(
            "INSERT INTO counters (key, value, expires) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (key) DO UPDATE SET "
            "value = CASE WHEN expires <= ?4 THEN ?2 ELSE value + ?2 END, "
            "expires = CASE WHEN expires <= ?4 THEN ?3 ELSE expires END "
            "RETURNING value",
            (key, amount, now + expiry, now),
        ).fetchone()
        self._writes += 1
        if self._writes % 1000 == 0:  # forget windows that ended
            db.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        return int(value)

    def get(self, key: str) -> int:
        row = self._connect().execute(
            "SELECT value FROM counters WHERE key = ? AND expires > ?", (key, time.time())
        ).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._connect().execute(
            "SELECT expires FROM counters WHERE key = ? AND expires > ?", (key, time.time())
        ).fetchone()
        return float(row[0]) if row else time.time()

    def check(self) -> bool:
        try:
            self._connect().execute("SELECT 1")
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._connect().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._connect().execute("DELETE FROM counters WHERE key = ?", (key,))


def install(app: Flask, rate: str, run_dir: Path | None) -> Limiter | None:
    """Limit ``LIMITED_ENDPOINTS`` (already registered) to ``rate`` per client, one
    counter for all of them; nothing when ``rate`` is empty."""
    if not rate:
        return None
    storage = f"{SQLITE_SCHEME}://{run_dir / 'ratelimit.db'}" if run_dir else "memory://"
    limiter = Limiter(get_remote_address, app=app, storage_uri=storage, headers_enabled=True)
    shared = limiter.shared_limit(rate, scope=SCOPE)
    for endpoint in LIMITED_ENDPOINTS:
        app.view_functions[endpoint] = shared(app.view_functions[endpoint])
    return limiter
