"""JSONL feeds into articles: a decoded ``.jsonl`` feed in, ``Article``s out.

One JSON object a line: ``id`` and ``text`` are required; ``title``, ``date``
("YYYY-MM-DD" or "YYYYMMDD"), ``url`` (absolute http(s) only) and ``tags`` (a string or a
list, split at commas) are optional. ``read_feed`` makes one article per good line, its
paragraphs the lines of ``text``, and a ``Problem`` naming the line for each line skipped
(bad JSON, missing id or text, duplicate id, undecodable bytes) or field dropped (the
article is kept). Whatever one line holds costs that line only.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import urllib.parse
from collections.abc import Iterator

from .decoding import Decoded
from .ids import feed_id
from .limits import MAX_TAGS, MAX_TITLE_CHARS, MAX_URL_CHARS, bounded
from .records import Article, Problem
from .text import clean_text

_DATE_RE = re.compile(r"(\d{4})(-?)(\d{2})\2(\d{2})")


def _parse_date(value: str) -> str | None:
    """Normalise "YYYYMMDD" or "YYYY-MM-DD" to "YYYY-MM-DD"; None if it is not a date."""
    m = _DATE_RE.fullmatch(value.strip())
    if not m:
        return None
    try:
        return _dt.date(int(m[1]), int(m[3]), int(m[4])).isoformat()
    except ValueError:
        return None


# JSON's "\ud800" escapes can make a lone surrogate, which no encoder accepts.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# A link is kept only when it cannot be anything but a web page: javascript:, data:,
# relative and malformed URLs are dropped; so are spaces and control characters.
_URL_BAD_CHAR_RE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def _clip(value: object) -> str:
    """Return repr(value), at most 60 characters (a message must stay readable)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _url_problem(url: str) -> str | None:
    """Say why url is not an absolute http(s) URL to link to, or None if it is."""
    if len(url) > MAX_URL_CHARS:
        return f"url longer than {MAX_URL_CHARS} characters; url dropped"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if host and parts.scheme.lower() in ("http", "https") and not _URL_BAD_CHAR_RE.search(url):
        return None
    return "url is not http(s); url dropped"


def _tags(value: object) -> list[str] | None:
    """Split tags given as "a,b" or ["a", "b"]; None when they are neither."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        return None
    # Commas separate tags (they are stored joined with one), inside a list item too.
    return [t for item in value for t in (clean_text(x) for x in re.split("[,，]", item)) if t]


def _feed_article(
    obj: object, source: str, line: int, problems: list[Problem]
) -> tuple[str, Article] | None:
    """Build one article from a decoded JSONL object, or report why not.

    ``id`` and ``text`` are required; ``title``, ``date``, ``url`` and ``tags`` are not, and
    an unusable one is dropped (with a problem) while the article is kept.
    """
    if not isinstance(obj, dict):
        problems.append(Problem(source, line, "not a JSON object; line skipped"))
        return None
    raw_id, text = obj.get("id"), obj.get("text")
    for name, value in (("id", raw_id), ("text", text)):
        # An invisible text is caught once cleaned, below (a long text is cleaned once).
        visible = clean_text if name == "id" else str.strip
        if not isinstance(value, str) or not visible(value):
            if value is None:
                what = "missing"
            else:
                what = "empty" if isinstance(value, str) else "not a string"
            problems.append(Problem(source, line, f"{name!r} is {what}; line skipped"))
            return None
    assert isinstance(raw_id, str) and isinstance(text, str)
    for name in ("id", "title", "text", "url", "date", "tags"):
        value = obj.get(name)
        if any(
            isinstance(v, str) and _SURROGATE_RE.search(v)
            for v in (value if isinstance(value, list) else [value])
        ):
            problems.append(
                Problem(
                    source,
                    line,
                    f"{name!r} holds an unpaired surrogate escape (\\ud800-\\udfff); line skipped",
                )
            )
            return None
    article_id = feed_id(raw_id.strip())
    title_raw = obj.get("title")
    if title_raw is not None and not isinstance(title_raw, str):
        problems.append(Problem(source, line, "'title' is not a string; title dropped"))
        title_raw = None
    # No title is normal (a brief); it stays empty rather than borrowing the first
    # sentence, which as a title would match every paragraph of the article.
    title = clean_text(title_raw or "")
    url: str | None = None
    url_raw = obj.get("url")
    if isinstance(url_raw, str) and url_raw.strip():
        why = _url_problem(url_raw.strip())
        if why is None:
            url = url_raw.strip()
        else:
            problems.append(Problem(source, line, why))
    elif url_raw is not None and not isinstance(url_raw, str):
        problems.append(Problem(source, line, "'url' is not a string; url dropped"))
    tags = _tags(obj.get("tags", []))
    if tags is None:
        problems.append(
            Problem(source, line, "'tags' is not a string or a list of strings; tags dropped")
        )
        tags = []
    if len(tags) > MAX_TAGS or any(len(t) > MAX_TITLE_CHARS for t in tags):
        problems.append(
            Problem(
                source,
                line,
                f"more than {MAX_TAGS} tags, or tags longer than {MAX_TITLE_CHARS} "
                "characters; the rest dropped",
            )
        )
        tags = [t[:MAX_TITLE_CHARS] for t in tags[:MAX_TAGS]]
    date: str | None = None
    date_raw = obj.get("date")
    if date_raw is not None and date_raw != "":
        date = _parse_date(date_raw) if isinstance(date_raw, str) else None
        if date is None:
            problems.append(Problem(source, line, f"invalid date {_clip(date_raw)}; date dropped"))
    cleaned = [(c, None, "body") for c in (clean_text(p) for p in text.split("\n")) if c]
    if not cleaned:
        problems.append(Problem(source, line, "'text' has no visible paragraph; line skipped"))
        return None
    title, _, paragraphs, notes = bounded(article_id, title, None, cleaned)
    problems += (Problem(source, line, note) for note in notes)
    return raw_id, Article(article_id, source, title, paragraphs, None, date, url, tuple(tags))


def _lines(text: str) -> Iterator[str]:
    """Yield the "\n"-separated lines of text without a list of them all (memory)."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def read_feed(decoded: Decoded, source: str) -> tuple[list[Article], list[Problem]]:
    """Read a decoded feed line by line; a bad line costs that line only."""
    articles: list[Article] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(_lines(decoded.text), start=1):
        if number in decoded.bad_lines:
            byte = decoded.bad_lines[number]
            problems.append(
                Problem(source, number, f"not {decoded.encoding} (byte 0x{byte:02X}); line skipped")
            )
            continue
        # A BOM inside the file: feeds concatenated with cat.
        line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        # Whatever one line holds, it costs that line only.
        try:
            built = _feed_article(json.loads(line), source, number, problems)
        except json.JSONDecodeError as exc:
            problems.append(Problem(source, number, f"bad JSON ({exc.msg}); line skipped"))
            continue
        except RecursionError:
            problems.append(Problem(source, number, "JSON nested too deeply; line skipped"))
            continue
        except Exception as exc:  # e.g. ValueError: an integer of more than 4300 digits
            detail = str(exc) if len(str(exc)) <= 80 else str(exc)[:79] + "…"
            why = f"cannot read ({type(exc).__name__}: {detail}); line skipped"
            problems.append(Problem(source, number, why))
            continue
        if built is None:
            continue
        raw_id, article = built
        if article.id in seen:
            problems.append(
                Problem(
                    source,
                    number,
                    f"duplicate id {_clip(raw_id)} (first on line {seen[article.id]}); "
                    "line skipped",
                )
            )
            continue
        seen[article.id] = number
        articles.append(article)
    return articles, problems
