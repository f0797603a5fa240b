"""Helpers shared by the benchmark scripts: which product code a run measured."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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
