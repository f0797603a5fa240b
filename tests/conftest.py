"""Shared fixtures: real indexes built in temp dirs, the Flask app and client, the CLI runner."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchsvc.corpus import Article, iter_articles
from searchsvc.engine import EmbeddedBackend, Engine
from searchsvc.lifecycle import build_from_articles
from searchsvc.web import create_app

# Tests check exact totals: a busy CI machine must not turn answers into partial ones by
# running out of the per-query time budget (the budget itself has its own test). Apps and
# servers started by tests read it from the environment; engines get it from engine_of.
os.environ["SEARCHSVC_TIME_BUDGET_MS"] = "30000"
TEST_TIME_BUDGET = 30.0

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def seed_articles() -> list[Article]:
    return list(iter_articles(SEEDS))


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, seed_articles) -> Path:
    """A real index of the project's seed articles."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    build_from_articles(seed_articles, index_dir)
    return index_dir


@contextmanager
def engine_of(index_dir: Path, time_budget: float = TEST_TIME_BUDGET) -> Iterator[Engine]:
    """The engine of the version in use under ``index_dir`` (its files closed after)."""
    backend = EmbeddedBackend(Path(index_dir), time_budget=time_budget)
    try:
        yield backend.engine()
    finally:
        backend.close()


@pytest.fixture
def engine(seed_index: Path) -> Iterator[Engine]:
    """The engine of the seed index."""
    with engine_of(seed_index) as found:
        yield found


@pytest.fixture
def app(seed_index: Path):
    return create_app({"INDEX_DIR": str(seed_index), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def assert_api_error(response, status: int, code: str | None = None) -> dict:
    """An API error: the given 4xx status, JSON, and the one error shape."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_process(
    index_dir: Path, log_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A real `searchsvc serve` on a free loopback port (``args`` added to its command
    line, ``env`` to its environment), once it answers /healthz; stopped at the end if it
    is still running. Yields the process and its port."""
    port = _free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "searchsvc", "serve", "--index", str(index_dir),
             "--port", str(port), *args],
            env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = log_path.read_text(errors="replace")
                    raise RuntimeError(f"server did not start:\n{out}") from None
                time.sleep(0.2)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def live_server(seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real `searchsvc serve` in a subprocess; yields its base URL."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with serve_process(seed_index, log_path, env={"SEARCHSVC_RELOAD_INTERVAL": "0.5"}) as (
        _proc, port
    ):
        yield f"http://127.0.0.1:{port}"


def access_log_pids(log_path: Path, path: str) -> set[int]:
    """The worker processes whose access-log lines in ``log_path`` answered ``path``."""
    marker = f'"path": {json.dumps(path)}'
    return {
        json.loads(line[line.index("{"):])["pid"]
        for line in log_path.read_text(errors="replace").splitlines()
        if "searchsvc.access" in line and marker in line
    }


def worker_pids(server: subprocess.Popen[bytes], expected: int, within: float = 15) -> set[str]:
    """The server's worker processes, once there are ``expected`` of them (gunicorn starts
    them one after the other: the first may answer before the last exists)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    deadline = time.monotonic() + within
    while True:
        pids = set(children.read_text().split())
        if len(pids) == expected or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)
