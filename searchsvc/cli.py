"""The ``searchsvc`` command: thin wrappers that call the library and print one summary line.

Commands: ``build`` (full rebuild with atomic switch), ``serve`` (production WSGI server),
``search`` (results in the terminal). Defaults: ``./seeds`` and ``./index``, or the
``SEARCHSVC_SEEDS`` / ``SEARCHSVC_INDEX`` environment variables.
"""

from __future__ import annotations

import html
import json
import logging
import re
import sys
from dataclasses import asdict
from pathlib import Path

import click
from tqdm import tqdm

from .corpus import Problem, iter_articles, list_sources
from .indexing import BuildSummary, IndexMissingError, LiveIndex, build_index, index_exists
from .search import QueryError, search

log = logging.getLogger("searchsvc")

seeds_option = click.option(
    "--seeds",
    type=click.Path(path_type=Path, file_okay=False),
    default="seeds",
    envvar="SEARCHSVC_SEEDS",
    show_default=True,
    help="Directory of article sources (.txt/.md pages, .jsonl feeds).",
)
index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default="index",
    envvar="SEARCHSVC_INDEX",
    show_default=True,
    help="Index directory.",
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """Full-text search for Chinese news articles."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_build(seeds: Path, index_dir: Path) -> tuple[BuildSummary, list[Problem]]:
    """Build the index from ``seeds``, with a progress bar on a terminal."""
    if not seeds.is_dir():
        raise click.UsageError(f"seeds directory {seeds} does not exist")
    if not list_sources(seeds):
        raise click.UsageError(f"no .txt, .md or .jsonl sources under {seeds}")
    problems: list[Problem] = []
    interactive = sys.stderr.isatty()
    with tqdm(desc="indexing", unit=" articles", disable=not interactive) as bar:
        summary = build_index(
            iter_articles(seeds, problems), index_dir, seeds=str(seeds), progress=bar.update
        )
    for problem in problems:
        log.warning("skipped: %s", problem)
    return summary, problems


@main.command()
@seeds_option
@index_option
def build(seeds: Path, index_dir: Path) -> None:
    """Rebuild the index from all sources and switch to it atomically."""
    summary, problems = run_build(seeds, index_dir)
    click.echo(
        f"built {summary.version}: {summary.articles} articles, {summary.paragraphs} paragraphs, "
        f"{len(problems)} problems, {summary.seconds:.1f} s"
    )


@main.command()
@index_option
@seeds_option
@click.option("--host", default="127.0.0.1", show_default=True, envvar="SEARCHSVC_HOST")
@click.option("--port", default=8000, show_default=True, type=int, envvar="SEARCHSVC_PORT")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--build-if-missing", is_flag=True, help="Build the index from --seeds first if there is none."
)
def serve(
    index_dir: Path, seeds: Path, host: str, port: int, threads: int, build_if_missing: bool
) -> None:
    """Serve the search page and API with a production WSGI server (waitress)."""
    import waitress

    from .web import create_app

    if not index_exists(index_dir):
        if not build_if_missing:
            raise click.ClickException(
                f"no index in {index_dir}: run `searchsvc build --seeds {seeds} "
                f"--index {index_dir}` first (or pass --build-if-missing)"
            )
        summary, _ = run_build(seeds, index_dir)
        click.echo(f"built {summary.articles} articles, {summary.paragraphs} paragraphs")
    app = create_app({"INDEX_DIR": str(index_dir)})
    click.echo(f"serving {index_dir} on http://{host}:{port}/ ({threads} threads)")
    waitress.serve(app, host=host, port=port, threads=threads, ident="searchsvc")


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
@click.option("--size", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--page", default=1, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
def search_command(query: str, index_dir: Path, size: int, page: int, as_json: bool) -> None:
    """Search the index and print the results."""
    try:
        with LiveIndex(index_dir).searcher() as (_version, searcher):
            result = search(searcher, query, page=page, size=size)
    except IndexMissingError as err:
        raise click.ClickException(str(err)) from None
    except QueryError as err:
        raise click.UsageError(err.message) from None
    if as_json:
        payload = asdict(result)
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    color = sys.stdout.isatty()
    for n, hit in enumerate(result.hits, start=(page - 1) * size + 1):
        heading = f" · {hit.heading}" if hit.heading else ""
        click.echo(f"{n}. {hit.title}{heading}  [{hit.source} #p{hit.paragraph}]")
        click.echo(f"   {_terminal_text(hit.highlight, color)}")
    click.echo(f"{result.total} paragraphs, page {page}, {result.took_ms:.1f} ms")
