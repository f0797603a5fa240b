"""Whether a process recorded by pid (a lock owner, a server, searchd, an admin run) still runs.

Standard library only; Linux's /proc where it exists (zombies and reused pids), else the
portable ``kill(pid, 0)``. (``web/admin_runs.py`` keeps a copy: its runner executes that
file by path, without the package.)
"""

from __future__ import annotations

import os
from pathlib import Path


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) from /proc, or None where there is no /proc."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2 :].split()  # the command name may hold spaces
    return rest[0], rest[19]


def pid_alive(pid: int | None, started: str | None = None) -> bool:
    """Whether ``pid`` runs: not a zombie (an exited child not yet reaped is gone for every
    caller here), and the same process if its ``started`` time from /proc is known (pids
    are reused)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's process: it exists
    stat = proc_stat(pid)
    if stat is None:
        return True
    return stat[0] != "Z" and (started is None or stat[1] == started)
