"""Admin-triggered update runs, kept on disk so every server process sees the same state.

In: the index directory and the update command. Out: the state of the last run (a dict).

Beside the index lock, ``index/.admin-update/`` holds ``state.json`` (replaced atomically),
one log per run (``update-<run id>.log``; a run never writes another run's log) and
``lock`` (an OS lock held only while a run is started or its end is recorded). Each run is
a small *runner* process (this file, executed by path with only the standard library)
that starts the update command, waits for it and records its exit status in
``state.json``. The runner has its own session, so it outlives the server process that
started it; if the runner itself dies unrecorded, the first reader that finds its pid gone
records the run as failed, so a crash never leaves ``running`` behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

DIR_NAME = ".admin-update"
STATE_FILE = "state.json"
LOCK_NAME = "lock"
KEEP_LOGS = 5  # logs of earlier runs kept beside the newest
TAIL_LINES = 20
TAIL_BYTES = 64 * 1024  # a log tail is read from the end of the file, whatever its size
LOST = "the update runner stopped without recording an exit status (killed?)"


class RunBusy(Exception):
    """An update is running (``state``), or another process holds the index lock."""

    def __init__(self, message: str, state: dict[str, Any]):
        super().__init__(message)
        self.state = state


def runs_dir(index_dir: Path) -> Path:
    return index_dir / DIR_NAME


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if the holder dies
        yield
    finally:
        os.close(fd)


def _read_state(directory: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "state" in state else None


def _write_state(directory: Path, state: dict[str, Any]) -> None:
    tmp = directory / f".{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, directory / STATE_FILE)  # readers see the old state or the new one


# _proc_stat and pid_alive repeat searchsvc/processes.py on purpose: the runner executes
# this file by path (``python -I``), where the package's modules cannot be imported.
def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) from /proc, or None where there is no /proc."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2 :].split()  # the command name may hold spaces
    return rest[0], rest[19]


def pid_alive(pid: int | None, started: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie, and the same process if its ``started`` time
    from /proc is known: pids are reused)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return True
    return stat[0] != "Z" and (started is None or stat[1] == started)


def _log_path(directory: Path, run_id: str) -> Path:
    return directory / f"update-{run_id}.log"


def _log_lines(path: Path) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


def _summary(lines: list[str], failed: bool) -> str | None:
    """The command's ``update: …`` line; for a failure, its last line (the error)."""
    line = next((ln for ln in reversed(lines) if ln.startswith("update:")), None)
    if line is None and failed:
        line = next((ln for ln in reversed(lines) if ln.strip()), None)
    return line


def _finished(state: dict[str, Any], code: int | None, lines: list[str]) -> dict[str, Any]:
    name = "done" if code == 0 else "done_with_problems" if code == 3 else "failed"
    return {**state, "state": name, "exit_code": code, "finished_at": time.time(),
            "summary": _summary(lines, name == "failed") or (LOST if code is None else None)}


def _lost(state: dict[str, Any] | None) -> bool:
    """Recorded as running, but its runner is gone."""
    return (
        state is not None
        and state["state"] == "running"
        and not pid_alive(state.get("pid"), state.get("pid_started"))
    )


def _settle(directory: Path, have_lock: bool = False) -> dict[str, Any] | None:
    """The recorded state; a run whose runner is gone is recorded as failed first."""
    state = _read_state(directory)
    if not _lost(state):
        return state
    with nullcontext() if have_lock else _locked(directory):
        state = _read_state(directory)  # another process may have settled it meanwhile
        if state is not None and _lost(state):
            state = _finished(state, None, _log_lines(_log_path(directory, state["run_id"])))
            _write_state(directory, state)
    return state


def lock_holder(lock_owner_file: Path) -> int | None:
    """The pid holding the index lock (a build or update from any process), if alive."""
    try:
        pid = int(lock_owner_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def status(index_dir: Path, lock_owner_file: Path, *, have_lock: bool = False) -> dict[str, Any]:
    """The last run as every server process sees it, and who holds the index lock."""
    directory = runs_dir(index_dir)
    state = _settle(directory, have_lock) or {"state": "idle"}
    run_id = state.get("run_id")
    lines = _log_lines(_log_path(directory, run_id)) if run_id else []
    return {
        "state": state["state"],
        "run_id": run_id,
        "pid": state.get("pid"),
        "exit_code": state.get("exit_code"),
        "started_at": state.get("started_at"),
        "finished_at": state.get("finished_at"),
        "summary": state.get("summary") or _summary(lines, failed=False),
        "log_tail": lines[-TAIL_LINES:],
        "lock_pid": lock_holder(lock_owner_file),
    }


def start(index_dir: Path, lock_owner_file: Path, command: list[str]) -> dict[str, Any]:
    """Start ``command`` in a runner; its state. RunBusy if a run is going on (started by
    any server process) or another process holds the index lock (e.g. a CLI update)."""
    directory = runs_dir(index_dir)
    with _locked(directory):
        current = status(index_dir, lock_owner_file, have_lock=True)
        if current["state"] == "running":
            raise RunBusy(
                f"an update is already running (pid {current['pid']}); "
                "poll GET /api/admin/update", current)
        if current["lock_pid"]:
            raise RunBusy(
                f"another build or update holds the index lock (pid {current['lock_pid']}); "
                "try again when it has finished", current)
        run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
        _prune_logs(directory)
        with open(_log_path(directory, run_id), "xb") as log:
            runner = subprocess.Popen(
                [sys.executable, "-I", str(Path(__file__).resolve()), str(directory), run_id,
                 "--", *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives this server process; signals stay ours
            )
        stat = _proc_stat(runner.pid)
        _write_state(directory, {
            "run_id": run_id, "state": "running", "pid": runner.pid,
            "pid_started": stat[1] if stat else None, "started_at": time.time(),
            "finished_at": None, "exit_code": None, "summary": None,
        })
    # Reap it when it ends: an unreaped child stays a zombie that looks alive to kill(0).
    threading.Thread(target=runner.wait, name=f"reap-update-{run_id}", daemon=True).start()
    return status(index_dir, lock_owner_file)


def _prune_logs(directory: Path) -> None:
    logs = sorted(directory.glob("update-*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[: max(0, len(logs) - KEEP_LOGS)]:
        old.unlink(missing_ok=True)


# --- the runner process -------------------------------------------------------------------


def run(directory: Path, run_id: str, command: list[str]) -> int:
    """Run ``command`` (output goes where ours goes: the run's log) and record how it ended."""
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    except OSError as err:
        print(f"could not start the update: {err}", flush=True)
        code = 127
    else:
        # Pass a polite stop on: the update leaves the live index untouched when stopped.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
        code = child.wait()
    sys.stdout.flush()
    with _locked(directory):  # the starter has written "running" before we can get here
        state = _read_state(directory)
        if state is not None and state.get("run_id") == run_id:
            _write_state(directory, _finished(state, code, _log_lines(
                _log_path(directory, run_id))))
    return code


if __name__ == "__main__":
    # python -I admin_runs.py DIR RUN_ID -- COMMAND...
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: admin_runs.py DIR RUN_ID -- COMMAND...")
    sys.exit(run(Path(sys.argv[1]), sys.argv[2], sys.argv[4:]))
