"""Choosing the backend: the embedded index, or a SphinxQL engine (Manticore / Sphinx).

In: the ``backend`` setting ("" for embedded, else ``sphinxql://HOST:PORT/TABLE``) and the
index directory. Out: an ``engine.Backend`` that hands each request the engine of the
version in use. Everything above this (search, web, CLI) is the same for both.
"""

from __future__ import annotations

from pathlib import Path

from .engine import Backend, EmbeddedBackend
from .sphinxql.backend import SphinxqlBackend
from .sphinxql.engine import parse_url


def validate_url(url: str) -> str:
    """``url`` stripped, if it names a backend this service speaks ("" is embedded);
    ValueError naming the expected form otherwise."""
    url = url.strip()
    if url:
        parse_url(url)
    return url


def open_backend(
    url: str, index_dir: Path, check_interval: float = 1.0, time_budget: float = 0.25
) -> Backend:
    """The backend for ``url`` over the versions in ``index_dir``."""
    if url:
        return SphinxqlBackend(url, index_dir, check_interval, time_budget)
    return EmbeddedBackend(index_dir, check_interval, time_budget)
