"""Benchmark: incremental update vs full build on the xwlb corpus (issue: index lifecycle).

    python bench/update.py [--corpus ../shared/corpora/xwlb] [--years 2012,...]

Builds the whole corpus once (``searchsvc build`` path), then adds 1 and 500 new articles
through ``update`` (a full scan of the sources) and ``add`` (the given file only), and
prints the figures and their ratio to the build, plus one JSON line. The corpus is read
in place (symlinked into a temp seeds directory), never copied into the project.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from searchsvc.engine import EmbeddedBackend  # noqa: E402
from searchsvc.indexing import current_version  # noqa: E402
from searchsvc.lifecycle import sync  # noqa: E402
from searchsvc.search import search  # noqa: E402


def new_articles(source: Path, n: int, prefix: str) -> list[str]:
    """``n`` articles from ``source`` with fresh ids: unseen by the index."""
    lines = []
    with open(source, encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            record["id"] = f"{prefix}-{len(lines)}"
            record["title"] = f"{record['title']}（{prefix}{len(lines)}）"
            lines.append(json.dumps(record, ensure_ascii=False))
            if len(lines) == n:
                break
    return lines


def size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/xwlb")
    parser.add_argument("--years", default="", help="comma-separated years (default: all)")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"corpus not found at {args.corpus}: see ../shared/corpora/README.md")
    files = sorted(args.corpus.glob("*.jsonl"))
    if args.years:
        files = [f for f in files if f.stem in args.years.split(",")]

    work = Path(tempfile.mkdtemp(prefix="searchsvc-bench-"))
    seeds, index_dir = work / "seeds", work / "index"
    seeds.mkdir()
    for f in files:
        (seeds / f.name).symlink_to(f)

    build, build_s = timed(lambda: sync(seeds, index_dir, full=True, follow_symlinks=True))
    rss_mb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    ) / 1024
    index_mb = size_mb(index_dir / build.version)

    one = seeds / "new-one.jsonl"
    one.write_text(new_articles(files[-1], 1, "one")[0] + "\n", encoding="utf-8")
    upd1, upd1_s = timed(lambda: sync(seeds, index_dir, follow_symlinks=True))
    assert upd1.added == 1, upd1.line()

    other = seeds / "new-add.jsonl"
    other.write_text(new_articles(files[0], 1, "add")[0] + "\n", encoding="utf-8")
    add1, add1_s = timed(lambda: sync(seeds, index_dir, only=[other], follow_symlinks=True))
    assert add1.added == 1, add1.line()

    many = seeds / "new-500.jsonl"
    many.write_text("\n".join(new_articles(files[-1], 500, "many")) + "\n", encoding="utf-8")
    upd500, upd500_s = timed(lambda: sync(seeds, index_dir, follow_symlinks=True))
    assert upd500.added == 500, upd500.line()

    # end to end: the new article is searchable by a reader opened after the update
    with closing(EmbeddedBackend(index_dir)) as backend:
        engine = backend.engine()
        assert engine.version == current_version(index_dir)
        assert search(engine, "many499").total >= 1

    rows = [
        ("full build", build_s, f"{build.articles} articles, {build.paragraphs} paragraphs"),
        ("update: 1 new article (full scan)", upd1_s, f"{upd1_s / build_s:.2%} of build"),
        ("add: 1 new article (given file)", add1_s, f"{add1_s / build_s:.2%} of build"),
        ("update: 500 new articles", upd500_s, f"{upd500_s / build_s:.2%} of build"),
    ]
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, cpus={__import__('os').cpu_count()}")
    print(f"corpus: {', '.join(f.name for f in files)}")
    print(f"{'step':40} {'seconds':>9}  notes")
    for name, secs, note in rows:
        print(f"{name:40} {secs:9.2f}  {note}")
    print(f"index size {index_mb:.0f} MB, peak RSS {rss_mb:.0f} MB")
    print(json.dumps({
        "build_s": round(build_s, 2), "update1_s": round(upd1_s, 2), "add1_s": round(add1_s, 2),
        "update500_s": round(upd500_s, 2), "update1_ratio": round(upd1_s / build_s, 4),
        "articles": build.articles, "paragraphs": build.paragraphs,
        "index_mb": round(index_mb, 1), "peak_rss_mb": round(rss_mb),
    }))


if __name__ == "__main__":
    main()
