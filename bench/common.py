"""Helpers shared by the benchmark scripts: which product code a run measured."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import platform
import re
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


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/``pid``/stat after "(comm) " (state, ppid, …; the command name
    may hold spaces), or None if the process ended meanwhile."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(entry)) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))  # by ppid
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


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds used so far by ``root`` and its live descendants (a
    server's master and workers; a worker that ended meanwhile no longer counts)."""
    total = 0
    for pid in process_tree(root):
        if (fields := _stat_fields(pid)) is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


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


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


class KeepAliveClient:
    """GET requests over one kept-alive HTTP/1.1 connection, on a raw socket.

    The load generator shares the machine's two cores with the server it measures: every
    microsecond it spends is taken from the server. ``http.client`` costs ~0.4 ms of CPU
    a request (its parser, header objects, buffered file); this reads the head, its
    ``Content-Length`` and that many bytes (~4 × less). Answers without a length (none of
    ours) are refused as ValueError; a closed or broken connection raises OSError and is
    opened again by the next request."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def get(self, target: str) -> tuple[int, bytes]:
        """Status and body of ``GET target``."""
        try:
            return self._exchange(target)
        except (OSError, ValueError):
            self.close()
            raise

    def _exchange(self, target: str) -> tuple[int, bytes]:
        if self._sock is None:
            self._sock = socket.create_connection(self.address, timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
        host = f"{self.address[0]}:{self.address[1]}"
        self._sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = self._buffer
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._receive()
        head = data[:end]
        if not head.startswith(b"HTTP/1.") or len(head) < 12 or not head[9:12].isdigit():
            raise ValueError(f"not an HTTP answer: {head[:40]!r}")
        length = _CONTENT_LENGTH.search(head)
        if length is None:
            raise ValueError("an answer without Content-Length")
        need = end + 4 + int(length.group(1))
        while len(data) < need:
            data += self._receive()
        body, self._buffer = data[end + 4 : need], data[need:]
        if _CONNECTION_CLOSE.search(head):
            self.close()
        return int(head[9:12]), body

    def _receive(self) -> bytes:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
