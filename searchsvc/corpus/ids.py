"""Stable, URL-safe article ids: only ``[A-Za-z0-9._-]``, at most 80 characters.

In: a page's source name, or a feed article's own id. Out: ``page_slug`` (the source path
made safe, shortened with a hash when long; the page reader appends ``-<k>``) and
``feed_id`` (the feed's id when already safe, else ``j`` and a hash of it). The same input
gives the same id, run after run.
"""

from __future__ import annotations

import hashlib
import re

_SAFE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,80}")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_SLUG = 60  # leaves room for "-<k>" within the 80-character id limit


def page_slug(rel_path: str) -> str:
    """Return the id stem of a page's articles: its source path without the suffix."""
    stem = rel_path.rsplit(".", 1)[0] if "." in rel_path.rsplit("/", 1)[-1] else rel_path
    slug = _UNSAFE_RE.sub("_", stem.replace("/", "_"))
    if len(slug) > _MAX_SLUG:
        digest = hashlib.sha1(rel_path.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug[: _MAX_SLUG - 9]}_{digest}"
    return slug


def feed_id(raw: str) -> str:
    """Return the feed's own id when it is URL-safe, else a hash of it."""
    if _SAFE_ID_RE.fullmatch(raw):
        return raw
    return "j" + hashlib.sha1(raw.encode("utf-8")).hexdigest()[:16]
