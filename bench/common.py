"""Helpers shared by the benchmark scripts: which product code a run measured."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import platform
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) of ``values``, linear between the closest ranks (as
    numpy's default); 0.0 when empty. Every benchmark reports percentiles with this one."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def git_commit() -> str:
    """The project's HEAD (short), with ``+searchsvc changes`` when the product's code
    differs from it (the bench's own files do not count)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "searchsvc"], cwd=ROOT, capture_output=True,
            text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + uncommitted searchsvc changes" if dirty else "")

def product_fingerprint() -> str:
    """A hash of the product's source files, to notice edits made while the bench runs."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "searchsvc").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def proc_status_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS, VmHWM (its peak), RssAnon and RssFile of a live process, in MB."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue  # the process ended while we looked
        # The fields after "(comm) " are: state, ppid, ...
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def server_memory_mb(root: int) -> dict[str, float]:
    """``proc_status_mb`` of the largest process of the server (the parent or a worker:
    with several workers, each one answers requests and maps the index itself)."""
    statuses = []
    for pid in process_tree(root):
        try:
            statuses.append(proc_status_mb(pid))
        except OSError:
            continue  # ended meanwhile
    return max(statuses, key=lambda s: s.get("VmHWM", 0.0), default={})


def machine() -> dict[str, Any]:
    """CPU count and model, memory, Python version, OS."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_gib, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_answering(
    port: int, proc: subprocess.Popen[bytes], path: str, limit: float, poll: float = 0.2
) -> None:
    """Poll ``path`` until it answers 200; SystemExit if the server dies or takes too long."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before it was ready")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(poll)
    raise SystemExit(f"the server did not answer {path} within {limit:.0f} s")
