"""Finding and reading the sources under a seeds root: a directory in, articles out.

``list_sources`` lists the ``.txt``/``.md``/``.jsonl`` files, sorted by name (hidden files
and the dictionaries left out; links out of the root, unlistable directories and names
that are not UTF-8 reported). ``read_source`` reads one of them into articles and
problems, refusing what ``list_sources`` would not list, checked on the file opened, and
files over ``MAX_SOURCE_BYTES``. ``iter_articles`` yields every article in a stable order,
skipping duplicate ids. Nothing here raises for bad content.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .decoding import decode
from .feeds import read_feed
from .limits import MAX_SOURCE_BYTES
from .pages import read_page
from .records import Article, Problem

SOURCE_SUFFIXES = (".txt", ".md", ".jsonl")
# Dictionaries for the analysis layer live next to the articles; they are not articles.
_ROOT_SKIP = frozenset({"userdict.txt", "synonyms.txt"})


def source_name(path: Path, root: Path) -> str:
    """The name a source file goes by: its path relative to the seeds root, POSIX style."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, root)).as_posix()


_OUTSIDE_LINK = (
    "symbolic link to outside the seeds directory; not followed (set follow_symlinks to index it)"
)


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _is_source_name(rel: str) -> bool:
    return Path(rel).suffix.lower() in SOURCE_SUFFIXES and rel not in _ROOT_SKIP


# The start of the problem a directory that cannot be listed gets (its sources are not gone).
CANNOT_LIST = "cannot list directory"


def list_sources(
    root: Path, problems: list[Problem] | None = None, follow_symlinks: bool = False
) -> list[Path]:
    """List the article source files under root, sorted by name.

    Hidden files and directories and the dictionaries are left out. A symbolic link is
    followed when it stays inside root, or anywhere with follow_symlinks; a link out of
    root is left out and reported in ``problems``, and so is a directory that cannot be
    listed, and a name that is not valid UTF-8. A file reached under two names (a link to a
    file listed under its own name) is listed once, under its real name.
    """
    root = Path(root)
    real_root = os.path.realpath(root)
    found: dict[str, tuple[str, Path]] = {}  # real path -> (name, path)
    walked: set[str] = set()  # real paths of the directories listed (links can loop)
    links: list[tuple[str, Path]] = []

    def report(rel: str, message: str) -> None:
        if problems is not None:
            problems.append(Problem(_printable(rel), None, message))

    def walk(top: Path, real_top: str, prefix: str) -> None:
        walked.add(real_top)
        stack = [(top, real_top, prefix)]
        while stack:
            directory, real_dir, prefix = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = list(it)
            except OSError as exc:
                if prefix:  # a missing root is the caller's to explain
                    report(prefix.rstrip("/"), f"{CANNOT_LIST}: {exc.strerror or exc}")
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel, real = prefix + entry.name, os.path.join(real_dir, entry.name)
                if _printable(rel) != rel:
                    # Undecodable bytes in a name would break every place it is stored.
                    if _is_source_name(rel) or entry.is_dir():
                        report(rel, "name is not valid UTF-8; skipped (rename it)")
                    continue
                if entry.is_symlink():
                    links.append((rel, Path(entry.path)))
                elif entry.is_dir(follow_symlinks=False):
                    if real not in walked:
                        walked.add(real)
                        stack.append((Path(entry.path), real, rel + "/"))
                elif entry.is_file(follow_symlinks=False) and _is_source_name(rel):
                    found.setdefault(real, (rel, Path(entry.path)))

    walk(root, real_root, "")
    # Links after the real tree, so a file linked to from inside keeps its own name.
    while links:
        links.sort(reverse=True)
        rel, path = links.pop()
        real = os.path.realpath(path)
        is_dir = os.path.isdir(real)
        if not follow_symlinks and not _inside(real, real_root):
            if is_dir or _is_source_name(rel):
                report(rel, _OUTSIDE_LINK)
        elif is_dir:
            if real not in walked:
                walk(path, real, rel + "/")
        elif _is_source_name(rel):
            found.setdefault(real, (rel, path))
    return [path for _, path in sorted(found.values(), key=lambda item: item[0])]


def _printable(name: str) -> str:
    """A file name as text that can be printed and stored (undecodable bytes as U+FFFD)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class _Unreadable(Exception):
    """Why a source file was not read: the message of its problem."""


def _read_bytes(path: Path, root: Path, follow_symlinks: bool) -> bytes:
    """Read a source file; raise _Unreadable for what list_sources would not list.

    The check is made on the file actually opened, so a symbolic link swapped in after
    listing is caught too; a FIFO or device never blocks the read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _Unreadable(f"cannot read file: {exc.strerror or exc}") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise _Unreadable("cannot read file: not a regular file")
        if not follow_symlinks:
            if not _inside(os.path.abspath(path), os.path.abspath(root)):
                raise _Unreadable("not inside the seeds directory; not read")
            real = os.path.realpath(path)
            if not _inside(real, os.path.realpath(root)):
                raise _Unreadable(_OUTSIDE_LINK)
            try:
                now = os.stat(real)
            except OSError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
                raise _Unreadable("replaced while being read; skipped (read again next time)")
        too_large = f"larger than {MAX_SOURCE_BYTES // 2**20} MiB; file skipped (split it)"
        if opened.st_size > MAX_SOURCE_BYTES:
            raise _Unreadable(too_large)
        with open(fd, "rb", closefd=False) as f:
            data = f.read()
        if len(data) > MAX_SOURCE_BYTES:
            raise _Unreadable(too_large)
        return data
    except OSError as exc:
        raise _Unreadable(f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_source(
    path: Path, root: Path, follow_symlinks: bool = False
) -> tuple[list[Article], list[Problem]]:
    """Parse one page or feed file into articles; report problems instead of raising.

    Without follow_symlinks a file whose real path is outside root is not read (as
    ``list_sources`` would not list it), checked when it is opened.
    """
    source = _printable(source_name(Path(path), Path(root)))
    try:
        data = _read_bytes(Path(path), Path(root), follow_symlinks)
    except _Unreadable as exc:
        return [], [Problem(source, None, str(exc))]
    decoded = decode(data)
    del data  # parsing a large file needs the memory
    if decoded is None:
        return [], [Problem(source, None, "not UTF-8 or GB18030 text; file skipped")]
    try:
        if Path(path).suffix.lower() == ".jsonl":
            return read_feed(decoded, source)
        return read_page(decoded, source)
    except Exception as exc:  # a bug must cost this file, not the whole update
        return [], [Problem(source, None, f"cannot parse ({type(exc).__name__}); file skipped")]


def iter_articles(
    root: Path, problems: list[Problem] | None = None, follow_symlinks: bool = False
) -> Iterator[Article]:
    """Yield every article under root in a stable order, skipping duplicate ids."""
    root = Path(root)
    seen: dict[str, str] = {}
    for path in list_sources(root, problems, follow_symlinks):
        articles, found = read_source(path, root, follow_symlinks)
        if problems is not None:
            problems.extend(found)
        for article in articles:
            if article.id in seen:
                if problems is not None:
                    problems.append(
                        Problem(
                            article.source,
                            None,
                            f"duplicate article id {article.id!r} (first in {seen[article.id]});"
                            " skipped",
                        )
                    )
                continue
            seen[article.id] = article.source
            yield article
