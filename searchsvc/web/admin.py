"""``/api/admin/update``: an authenticated trigger for ``searchsvc update``.

Off (404) unless ``ADMIN_TOKEN`` (``SEARCHSVC_ADMIN_TOKEN``) is set; a missing or wrong
bearer token is 401. ``POST`` starts ``searchsvc update`` in a separate process (so
tokenising new articles never competes with searches for this process's GIL) and answers
202 at once, or 409 ``update_running`` (with the current state) if an update is running
already, started by any server process or holding the index lock from the CLI. ``GET``
reports the last run. The state lives on disk beside the index (``admin_runs``), so every
worker process answers the same.
"""

from __future__ import annotations

import hmac
import sys
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from ..locking import LOCK_OWNER_FILE
from . import ApiError, admin_runs

bp = Blueprint("admin", __name__)

UPDATE_WAIT_SECONDS = 30  # a CLI run that takes the index lock just after our check


def update_command(
    seeds: str, index_dir: str, config_file: Path | None = None, backend: str = ""
) -> list[str]:
    """The command an admin trigger runs (with the server's settings file and backend)."""
    config = ["--config", str(config_file)] if config_file else []
    where = ["--backend", backend] if backend else []
    return [sys.executable, "-m", "searchsvc", *config, "update", "--seeds", seeds,
            "--index", index_dir, *where, "--wait", str(UPDATE_WAIT_SECONDS)]


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


def _paths() -> tuple[Path, Path]:
    index_dir = Path(current_app.config["INDEX_DIR"])
    return index_dir, index_dir / LOCK_OWNER_FILE


@bp.post("/api/admin/update")
def trigger_update() -> Any:
    _authorize()
    index_dir, lock_owner = _paths()
    settings = current_app.config.get("SETTINGS")
    command = update_command(
        current_app.config["SEEDS_DIR"], str(index_dir), settings and settings.config_file,
        current_app.config.get("BACKEND", ""),
    )
    try:
        body = admin_runs.start(index_dir, lock_owner, command)
    except admin_runs.RunBusy as busy:
        # The one error shape, plus the state of what is running.
        error = {"code": "update_running", "message": str(busy)}
        return jsonify({"error": error, "update": busy.state}), 409
    body["started"] = True
    return jsonify(body), 202


@bp.get("/api/admin/update")
def update_status() -> Any:
    _authorize()
    return jsonify(admin_runs.status(*_paths()))
