"""``/api/admin/update``: an authenticated trigger for ``searchsvc update``.

Off (404) unless ``ADMIN_TOKEN`` (``SEARCHSVC_ADMIN_TOKEN``) is set; a missing or wrong
bearer token is 401. ``POST`` starts ``searchsvc update`` in a separate process (so
tokenising new articles never competes with searches for this process's GIL) and answers
202 at once; ``GET`` reports the last run. The update itself takes the index lock, so
triggers from several workers never run two updates at once.
"""

from __future__ import annotations

import hmac
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from . import ApiError

bp = Blueprint("admin", __name__)

_LOG_NAME = ".admin-update.log"


class UpdateRunner:
    """One update subprocess at a time per server process, and what the last one did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._started: float | None = None
        self._finished: float | None = None
        self._log: Path | None = None

    def start(self, seeds: str, index_dir: str) -> bool:
        """Start an update unless one is running; False if one was already running."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return False
            log_path = Path(index_dir) / _LOG_NAME
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "wb") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "searchsvc", "update", "--seeds", seeds,
                     "--index", index_dir, "--wait", "30"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            self._log, self._started, self._finished = log_path, time.time(), None
            return True

    def status(self) -> dict[str, Any]:
        with self._lock:
            if self._proc is None:
                return {"state": "idle"}
            code = self._proc.poll()
            if code is not None and self._finished is None:
                self._finished = time.time()
            state = "running" if code is None else "done" if code == 0 else (
                "done_with_problems" if code == 3 else "failed"
            )
            lines = self._log.read_text(errors="replace").splitlines() if self._log else []
            return {
                "state": state,
                "exit_code": code,
                "started_at": self._started,
                "finished_at": self._finished,
                "summary": next((ln for ln in reversed(lines) if ln.startswith("update:")), None),
                "log_tail": lines[-20:],
            }


def _authorize() -> None:
    token = current_app.config.get("ADMIN_TOKEN") or ""
    if not token:
        raise ApiError(404, "not_found", "The requested URL was not found on the server.")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    # compare_digest: the time taken does not tell an attacker how much of a guess was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise ApiError(401, "unauthorized", "a valid bearer token is required")


def _runner() -> UpdateRunner:
    return current_app.extensions.setdefault("searchsvc.updater", UpdateRunner())


@bp.post("/api/admin/update")
def trigger_update() -> Any:
    _authorize()
    started = _runner().start(current_app.config["SEEDS_DIR"], current_app.config["INDEX_DIR"])
    body = _runner().status()
    body["started"] = started
    return jsonify(body), 202


@bp.get("/api/admin/update")
def update_status() -> Any:
    _authorize()
    return jsonify(_runner().status())
