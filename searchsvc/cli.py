"""The ``searchsvc`` command: thin wrappers that call the library and print one summary line.

Commands: ``build`` (full rebuild, atomic switch), ``update`` (incremental), ``add FILE…``,
``rollback``, ``stats``, ``serve`` (production WSGI server), ``search``. Defaults:
``./seeds`` and ``./index``, or ``SEARCHSVC_SEEDS`` / ``SEARCHSVC_INDEX``.

Exit status: 0 done; 1 error (nothing changed); 2 usage error; 3 done, but some sources
were skipped with problems (listed on stderr).

One module for every command (over 400 lines): each is a thin wrapper (options, one call,
one summary line) sharing the settings plumbing, and a reader compares them side by side.
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
import sys
import time
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from .backends import open_backend
from .config import (
    CONFIG_ENV,
    FIELDS,
    ConfigError,
    Settings,
    load_settings,
    setting_help,
)
from .corpus import SOURCE_SUFFIXES, Problem, list_sources
from .indexing import (
    IndexMissingError,
    IndexVerificationError,
    current_version,
    index_exists,
    list_versions,
    read_meta,
)
from .lifecycle import SyncSummary, rollback, sync
from .literal_index import LiteralIndexMissing
from .locking import IndexBusyError
from .manifest import read_manifest
from .query import QueryError
from .search import search
from .sphinxql import cluster
from .sphinxql.documents import RowIdCollision
from .sphinxql.engine import EngineError, SphinxEngine
from .stored_column import StoredFieldsDamaged

log = logging.getLogger("searchsvc")

EXIT_PROBLEMS = 3

def _settings(ctx: click.Context) -> Settings:
    """The settings, loaded once per invocation (lazily: ``--help`` works with a bad file)."""
    root = ctx.find_root()
    root.ensure_object(dict)
    if "settings" not in root.obj:
        try:
            root.obj["settings"] = load_settings(config_file=root.obj.get("config"))
        except ConfigError as err:
            raise click.ClickException(f"invalid configuration: {err}") from None
        if not root.obj.get("verbose"):
            logging.getLogger().setLevel(root.obj["settings"].log_level)
    return root.obj["settings"]


def settings_for(ctx: click.Context, **options: object) -> Settings:
    """The settings with this command's options applied (an option not given is None)."""
    try:
        return _settings(ctx).override(**options)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


def _directory_option(flag: str, name: str) -> Any:
    return click.option(
        flag, name, type=click.Path(path_type=Path, file_okay=False), default=None,
        help=f"{setting_help(name)} (default: {FIELDS[name].default}).",
    )


seeds_option = _directory_option("--seeds", "seeds_dir")
index_option = _directory_option("--index", "index_dir")
backend_option = click.option(
    "--backend", default=None, metavar="URL", help=f"{setting_help('backend')} (default: embedded)."
)
wait_option = click.option(
    "--wait",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for another build/update to finish.",
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.option(
    "--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help=f"TOML settings file (default: ${CONFIG_ENV}); environment variables and options "
    "override it.",
)
@click.pass_context
def main(ctx: click.Context, verbose: bool, config_file: Path | None) -> None:
    """Full-text search for Chinese news articles.

    Every command reads the same settings: defaults, the TOML file (--config or
    SEARCHSVC_CONFIG), SEARCHSVC_* environment variables, then its own options."""
    ctx.ensure_object(dict)
    ctx.obj.update(config=config_file, verbose=verbose)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class CliProgress:
    """A progress bar on a terminal; a log line every few seconds otherwise."""

    def __init__(self, label: str, every: float = 5.0):
        self.label = label
        self.every = every
        self.bar: tqdm | None = None
        self.total = 0
        self.done = 0
        self.started = self.last = time.monotonic()

    def start(self, total: int) -> None:
        self.total = total
        self.started = self.last = time.monotonic()
        if sys.stderr.isatty():
            self.bar = tqdm(total=total, desc=self.label, unit=" articles", dynamic_ncols=True)
        elif total:
            log.info("%s %d articles", self.label, total)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0
            log.info(
                "%s %d/%d articles (%.0f/s, about %.0f s left)",
                self.label, self.done, self.total, rate, eta,
            )

    def stage(self, what: str) -> None:
        """A step after the articles were handed over (the bar has nothing left to count)."""
        self.close()
        log.info("%s: %s…", self.label, what)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_sync(
    settings: Settings, *, full: bool, only: list[Path] | None = None, wait: float = 0
) -> SyncSummary:
    """Run a build/update with progress, turning operator mistakes into clear errors."""
    seeds, index_dir = settings.seeds_dir, settings.index_dir
    if not seeds.is_dir():
        raise click.UsageError(f"seeds directory {seeds} does not exist")
    if only is None:
        skipped: list[Problem] = []
        if not list_sources(seeds, skipped, settings.follow_symlinks):
            for problem in skipped:
                click.echo(f"skipped: {problem}", err=True)
            raise click.UsageError(f"no .txt, .md or .jsonl sources under {seeds}")
    progress = CliProgress("indexing")
    try:
        summary = sync(
            seeds, index_dir, full=full, only=only, progress=progress, wait=wait,
            follow_symlinks=settings.follow_symlinks, backend=settings.backend,
        )
    except (IndexBusyError, EngineError, RowIdCollision) as err:
        raise click.ClickException(str(err)) from None
    except IndexVerificationError as err:
        raise click.ClickException(f"new index failed verification, not switched: {err}") from None
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        raise click.ClickException(
            f"could not write the index: {err.strerror or err}{where}; the live index is untouched"
        ) from None
    finally:
        progress.close()
    for problem in summary.problems:
        click.echo(f"skipped: {problem}", err=True)
    return summary


def _finish(summary: SyncSummary, verb: str) -> None:
    click.echo(f"{verb}: {summary.line()}")
    if summary.problems:
        sys.exit(EXIT_PROBLEMS)


@main.command()
@seeds_option
@index_option
@backend_option
@wait_option
@click.pass_context
def build(
    ctx: click.Context, seeds_dir: Path | None, index_dir: Path | None, backend: str | None,
    wait: float,
) -> None:
    """Rebuild the index from all sources and switch to it atomically."""
    settings = settings_for(ctx, seeds_dir=seeds_dir, index_dir=index_dir, backend=backend)
    _finish(run_sync(settings, full=True, wait=wait), "build")


@main.command()
@seeds_option
@index_option
@backend_option
@wait_option
@click.pass_context
def update(
    ctx: click.Context, seeds_dir: Path | None, index_dir: Path | None, backend: str | None,
    wait: float,
) -> None:
    """Index new and changed articles, drop removed ones (a full build if there is no index)."""
    settings = settings_for(ctx, seeds_dir=seeds_dir, index_dir=index_dir, backend=backend)
    _finish(run_sync(settings, full=False, wait=wait), "update")


@main.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
@seeds_option
@index_option
@backend_option
@wait_option
@click.pass_context
def add(
    ctx: click.Context,
    files: tuple[Path, ...],
    seeds_dir: Path | None,
    index_dir: Path | None,
    backend: str | None,
    wait: float,
) -> None:
    """Index the given source files now (files outside --seeds are copied into it first)."""
    settings = settings_for(ctx, seeds_dir=seeds_dir, index_dir=index_dir, backend=backend)
    seeds = settings.seeds_dir
    if not seeds.is_dir():
        raise click.UsageError(f"seeds directory {seeds} does not exist")
    targets: list[Path] = []
    for path in files:
        if path.suffix.lower() not in SOURCE_SUFFIXES:
            raise click.UsageError(f"{path}: not a {'/'.join(SOURCE_SUFFIXES)} file")
        if path.absolute().is_relative_to(seeds.absolute()):
            targets.append(path)
            continue
        target = seeds / path.name
        if target.exists() and target.read_bytes() != path.read_bytes():
            raise click.UsageError(f"{target} exists with other content; rename {path}")
        shutil.copy2(path, target)
        targets.append(target)
    _finish(run_sync(settings, full=False, only=targets, wait=wait), "add")


@main.command("rollback")
@index_option
@backend_option
@wait_option
@click.pass_context
def rollback_command(
    ctx: click.Context, index_dir: Path | None, backend: str | None, wait: float
) -> None:
    """Switch back to the previous index version."""
    settings = settings_for(ctx, index_dir=index_dir, backend=backend)
    try:
        old, new = rollback(settings.index_dir, wait, settings.backend)
    except (IndexBusyError, IndexVerificationError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"rolled back from {old} to {new}")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@main.command()
@index_option
@backend_option
@click.pass_context
def stats(ctx: click.Context, index_dir: Path | None, backend: str | None) -> None:
    """Print the index version, counts, size on disk, sources and last update."""
    settings = settings_for(ctx, index_dir=index_dir, backend=backend)
    index_dir = settings.index_dir
    version = current_version(index_dir)
    if version is None or not index_exists(index_dir, settings.backend):
        meta = read_meta(index_dir / version) if version else None
        raise click.ClickException(str(IndexMissingError(index_dir, meta.backend if meta else "")))
    meta = read_meta(index_dir / version)
    manifest = read_manifest(index_dir / version)
    click.echo(f"version:     {version}")
    if meta and meta.backend:
        try:
            held = f"{SphinxEngine(meta.backend).count(meta.table_set)} paragraphs"
        except EngineError as err:
            held = f"not answering: {err}"
        click.echo(f"backend:     {meta.backend} (table set {meta.table_set}: {held})")
    click.echo(f"updated at:  {meta.built_at if meta else 'unknown'}")
    click.echo(f"articles:    {meta.articles if meta else 'unknown'}")
    click.echo(f"paragraphs:  {meta.documents if meta else 'unknown'}")
    where = " here (the paragraphs are on the backend)" if meta and meta.backend else ""
    click.echo(f"size:        {_size(index_dir / version) / 1e6:.1f} MB{where}")
    lineage = [
        f"{name} (after {older.parent})" if (older := read_meta(index_dir / name)) and older.parent
        else name
        for name in list_versions(index_dir)
    ]
    click.echo(f"versions:    {', '.join(lineage)}")
    if manifest:
        click.echo(f"sources:     {len(manifest.sources)} files from {meta.seeds if meta else '?'}")
        for rel, state in sorted(manifest.sources.items()):
            click.echo(f"  {rel}: {len(state.articles)} articles")


@main.command()
@index_option
@seeds_option
@backend_option
@click.option("--host", help=setting_help("host"))
@click.option("--port", type=click.IntRange(1, 65535), help=setting_help("port"))
@click.option("--workers", type=click.IntRange(1, 64), help=setting_help("workers"))
@click.option("--threads", type=click.IntRange(1, 256), help=setting_help("threads"))
@click.option(
    "--build-if-missing", is_flag=True, help="Build the index from the seeds if there is none."
)
@click.pass_context
def serve(
    ctx: click.Context,
    index_dir: Path | None,
    seeds_dir: Path | None,
    backend: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
    build_if_missing: bool,
) -> None:
    """Serve the search page and API with gunicorn (SIGTERM finishes requests in flight)."""
    from .serving import serve as run_server

    settings = settings_for(
        ctx, index_dir=index_dir, seeds_dir=seeds_dir, backend=backend, host=host, port=port,
        workers=workers, threads=threads,
    )
    if not index_exists(settings.index_dir, settings.backend):
        if not build_if_missing:
            raise click.ClickException(
                f"no index in {settings.index_dir}: run `searchsvc build --seeds "
                f"{settings.seeds_dir} --index {settings.index_dir}` first "
                "(or pass --build-if-missing)"
            )
        click.echo(f"build: {run_sync(settings, full=True).line()}")
    click.echo(
        f"serving {settings.index_dir} on http://{settings.host}:{settings.port}/ "
        f"({settings.workers} × {settings.threads} threads)"
    )
    run_server(settings)


_MARK = re.compile(r"<mark>(.*?)</mark>")


def _terminal_text(highlight: str, color: bool) -> str:
    marked = _MARK.sub(
        (lambda m: click.style(m.group(1), bold=True, fg="yellow")) if color else r"【\1】",
        highlight,
    )
    return html.unescape(marked)


@main.command("search")
@click.argument("query")
@index_option
@backend_option
@click.option("--size", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--page", default=1, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_context
def search_command(
    ctx: click.Context,
    query: str,
    index_dir: Path | None,
    backend: str | None,
    size: int,
    page: int,
    as_json: bool,
) -> None:
    """Search the index and print the results."""
    settings = settings_for(ctx, index_dir=index_dir, backend=backend)
    try:
        opened = open_backend(
            settings.backend, settings.index_dir, time_budget=settings.time_budget_ms / 1000
        )
        with closing(opened):
            result = search(opened.engine(), query, page=page, size=size)
    except (IndexMissingError, LiteralIndexMissing, StoredFieldsDamaged, EngineError) as err:
        raise click.ClickException(str(err)) from None
    except QueryError as err:
        raise click.UsageError(err.message) from None
    if as_json:
        click.echo(json.dumps(asdict(result), ensure_ascii=False, indent=2))
        return
    color = sys.stdout.isatty()
    if result.did_you_mean:
        click.echo(f"did you mean: {result.did_you_mean}")
    if not result.matched_all and result.hits:
        click.echo(
            f"no paragraph contains every word; ranked by the words they contain "
            f"({' '.join(result.words)})"
        )
    for n, hit in enumerate(result.hits, start=(page - 1) * size + 1):
        heading = f" · {hit.heading}" if hit.heading else ""
        click.echo(f"{n}. {hit.title}{heading}  [{hit.source} #p{hit.paragraph}]")
        click.echo(f"   {_terminal_text(hit.highlight, color)}")
    partial = " (partial: the time budget ran out)" if result.partial else ""
    click.echo(f"{result.total} paragraphs, page {page}, {result.took_ms:.1f} ms{partial}")


@main.group()
def sphinx() -> None:
    """A local SphinxQL cluster (Debian's sphinxsearch) for the sphinxql backend."""


@sphinx.command("start")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Where the configs, data, logs and PID files go.")
@click.option("--shards", default=2, show_default=True, type=click.IntRange(1, 64),
              help="RT shards (each its own searchd), behind one distributed coordinator.")
@click.option("--table", default="searchsvc", show_default=True, help="Table name prefix.")
def sphinx_start(directory: Path, shards: int, table: str) -> None:
    """Start the shards and the coordinator on free 127.0.0.1 ports; the last line printed
    is the backend URL (for --backend or SEARCHSVC_BACKEND)."""
    try:
        url = cluster.start(directory, shards, table)
    except (cluster.ClusterError, EngineError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"started {shards} shard(s) and a coordinator in {directory}")
    click.echo(url)


@sphinx.command("stop")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="The directory given to `searchsvc sphinx start`.")
def sphinx_stop(directory: Path) -> None:
    """Stop the searchd processes started in that directory (their PID files)."""
    try:
        cluster.stop(directory)
    except cluster.ClusterError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"stopped the cluster in {directory}")
