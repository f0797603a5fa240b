"""Benchmark: the SphinxQL backend against the embedded engine on the same articles.

    .venv/bin/python bench/sphinxql.py [--shards 2] [--synthetic 300] [--corpus FILE.jsonl]
        [--clients 1,4] [--rounds 3]

Starts a local cluster (``searchsvc.sphinxql.cluster``: N RT shards + a coordinator, in a
temporary directory, stopped at the end), writes the articles into it (rows/s), builds the
embedded index of the same articles, then runs the query set through both (the ranking
step of a search: match, rank, proximity re-rank of the first 50, stored fields of the
first 10) and reports per-query milliseconds (p50, p90), queries per second with 1 and 4
client threads, totals that differ (must be 0) and top-10 lists that differ. Articles:
the seeds plus ``--synthetic`` articles recombined from their sentences (default), or a
JSONL feed or a directory of them (``--corpus``, e.g. ../shared/corpora/xwlb/2019.jsonl or
../shared/corpora/xwlb, read from a temporary copy, never from the project).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import git_commit, machine, percentile  # noqa: E402

from searchsvc.corpus import Article, Paragraph, iter_articles  # noqa: E402
from searchsvc.indexing import LiveIndex, chunk_id  # noqa: E402
from searchsvc.lifecycle import build_from_articles  # noqa: E402
from searchsvc.literal_index import VersionSubstrings  # noqa: E402
from searchsvc.query import parse_query  # noqa: E402
from searchsvc.ranking import match_spec, rank, rerank_by_proximity  # noqa: E402
from searchsvc.sphinxql import cluster  # noqa: E402
from searchsvc.sphinxql.documents import row_id  # noqa: E402
from searchsvc.sphinxql.engine import SphinxEngine  # noqa: E402

QUERIES = [
    "医院", "党建", "ECMO", "两癌筛查", "千县工程", "DRG 医保", "妇幼保健院 孕产妇",
    "心血管内科 冠状动脉", "中医 -江津", "ECMO OR MDT", '"急危重症 救治"', "家庭医生",
    "高质量发展", "卫生 健康 服务", "新冠疫苗 接种", "5g", "中国", "发展", "经济 发展",
    "一带一路", "脱贫攻坚", "科技 创新", "香港",
]


def synthetic(seeds: list[Article], count: int) -> list[Article]:
    rnd = random.Random(12)
    sentences = [s for a in seeds for p in a.paragraphs
                 for s in re.split(r"(?<=[。！？])", p.text) if len(s) > 4]
    return [
        Article(
            id=f"bench-{i}", source=f"bench/feed-{i % 7}.jsonl", title=rnd.choice(sentences)[:20],
            paragraphs=tuple(Paragraph(n, "".join(rnd.sample(sentences, rnd.randint(1, 3))),
                                       None) for n in range(1, rnd.randint(2, 8))),
            date=f"20{19 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        )
        for i in range(count)
    ]


def load(args: argparse.Namespace, scratch: Path) -> list[Article]:
    if args.corpus:
        seeds = scratch / "seeds"
        seeds.mkdir()
        corpus = Path(args.corpus)
        for path in sorted(corpus.glob("*.jsonl")) if corpus.is_dir() else [corpus]:
            shutil.copy(path, seeds / path.name)
        return list(iter_articles(seeds))
    seeds = list(iter_articles(ROOT / "seeds"))
    return seeds + synthetic(seeds, args.synthetic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--synthetic", type=int, default=300)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sphinxql-") as tmp:
        scratch = Path(tmp)
        articles = load(args, scratch)
        rows = sum(len(a.paragraphs) for a in articles)
        url = cluster.start(scratch / "cluster", args.shards)
        try:
            figures = run(args, scratch, articles, url)
        finally:
            cluster.stop(scratch / "cluster")
    figures.update(articles=len(articles), paragraphs=rows, shards=args.shards)
    print(f"articles {len(articles)}, paragraphs {rows}, shards {args.shards}")
    for key, value in figures.items():
        print(f"  {key:<32} {value}")
    print(json.dumps(figures))
    print(f"{machine()}; {git_commit()}; {time.strftime('%Y-%m-%d')}; {' '.join(sys.argv)}")


def run(args: argparse.Namespace, scratch: Path, articles: list[Article], url: str) -> dict:
    engine = SphinxEngine(url)
    engine.clear("blue")
    written = engine.replace_articles("blue", articles)
    started = time.perf_counter()
    build_from_articles(articles, scratch / "index")
    embedded_build = time.perf_counter() - started
    names = {row_id(chunk_id(a.id, p.number)): chunk_id(a.id, p.number)
             for a in articles for p in a.paragraphs}
    live = LiveIndex(scratch / "index")
    try:
        searcher = live.snapshot().searcher
        ids = [searcher.stored_fields(n)["id"] for n in range(searcher.doc_count_all())]

        def embedded(query: str) -> tuple[int, list[str]]:
            mine = live.snapshot().searcher  # one searcher per thread
            subs = VersionSubstrings.from_searcher(mine)
            parsed = parse_query(query)
            ranked = rank(subs, match_spec(parsed), 50)
            head = rerank_by_proximity(ranked.hits, subs, parsed.positive)
            [mine.stored_fields(d) for d, _ in head[:10]]
            return ranked.total, [ids[d] for d, _ in head[:10]]

        def sphinx(query: str) -> tuple[int, list[str]]:
            reader = engine.reader("blue")  # shared, statistics refreshed every second
            parsed = parse_query(query)
            ranked = reader.rank(match_spec(parsed), 50)
            head = rerank_by_proximity(ranked.hits, reader, parsed.positive)
            reader.stored_fields_many([d for d, _ in head[:10]])
            return ranked.total, [names[d] for d, _ in head[:10]]

        figures: dict[str, object] = {
            "sphinx_rows_per_s": round(written.rows_per_second),
            "embedded_build_rows_per_s": round(written.rows / embedded_build),
        }
        answers = {}
        for name, fn in (("embedded", embedded), ("sphinx", sphinx)):
            answers[name] = [fn(q) for q in QUERIES]  # also warms caches
            times = []
            for _ in range(args.rounds):
                for query in QUERIES:
                    t0 = time.perf_counter()
                    fn(query)
                    times.append((time.perf_counter() - t0) * 1000)
            figures[f"{name}_p50_ms"] = round(percentile(times, 50), 2)
            figures[f"{name}_p90_ms"] = round(percentile(times, 90), 2)
            for clients in map(int, args.clients.split(",")):
                figures[f"{name}_qps_c{clients}"] = round(throughput(fn, clients, 3.0), 1)
        pairs = list(zip(answers["embedded"], answers["sphinx"], strict=True))
        figures["totals_differing"] = sum(a[0] != b[0] for a, b in pairs)
        figures["top10_differing"] = sum(a[1] != b[1] for a, b in pairs)
        figures["queries"] = len(QUERIES)
        return figures
    finally:
        live.close()


def throughput(fn, clients: int, seconds: float) -> float:  # type: ignore[no-untyped-def]
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        i = n
        while time.perf_counter() < stop:
            fn(QUERIES[i % len(QUERIES)])
            done[n] += 1
            i += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


if __name__ == "__main__":
    main()
