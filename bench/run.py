"""Benchmark: the product beside reference engines on the xwlb corpus, in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/run.py [--corpus DIR] [--quick] [--skip-baselines] [--years 2012,2013]
                                  [--scale] [--seed N] [--keep]

Measures, on the same paragraphs (the product's own corpus reader) and the same query set
(``bench/queries.py``):

* the product's full build (``lifecycle.sync(full=True)`` in a subprocess): seconds, MB/s
  of paragraph text, paragraphs/s, index size, peak memory (the largest process's peak
  RSS: VmHWM of the build process, RUSAGE_CHILDREN of its workers; and the sampled peak
  of the PSS summed over the whole process tree);
* incremental updates: 1 and 500 new articles by ``sync`` (full scan of the sources) and
  1 article by ``sync(only=[file])``;
* query latency p50/p95/p99 per query class, in-process (``search.search``, highlighting
  included) and over HTTP against the real server (``python -m searchsvc serve``, gunicorn)
  at concurrency 1 and 4 with keep-alive connections on 127.0.0.1 (after a warm-up of
  other queries through every worker), throughput, the CPU a request costs the server's
  processes and the load generator, and the server's RSS after the load.
  The load generator runs on the same cores as the server: it is a lean raw-socket
  client (``common.KeepAliveClient``), so that it takes as little of their time as it can;
* references (``bench/baselines.py``; ``--skip-baselines`` leaves them out): the jieba
  tokenisation floor, the Whoosh + ChineseAnalyzer tutorial set-up, tantivy over jieba
  tokens: build time, index size, peak RSS, in-process query latency.

Prints the machine, the date and the command line, one table, then one JSON line with every
figure. ``--quick`` uses only 2019.jsonl (about 2 minutes; the whole corpus takes about
20). ``--scale`` builds the newest 1, 2, 4 and 8 years (product only; 1 and 2 with
``--quick``) and prints build seconds, index size and in-process query p50/p99 per size:
about 25 minutes on 2 cores.
Temporary files live under /tmp and are removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from baselines import TantivyJieba, WhooshTutorial, dir_mb, tokenise_floor  # noqa: E402
from common import (  # noqa: E402
    KeepAliveClient,
    free_port,
    git_commit,
    percentile,
    proc_status_mb,
    process_tree,
    product_fingerprint,
    server_memory_mb,
    tree_cpu_seconds,
    wait_answering,
)
from common import machine as common_machine  # noqa: E402
from queries import CLASSES, DEFAULT_SEED, BenchQuery, derive_queries  # noqa: E402
from update import new_articles  # noqa: E402

from searchsvc.corpus import iter_articles  # noqa: E402
from searchsvc.engine import EmbeddedBackend  # noqa: E402
from searchsvc.indexing import current_version  # noqa: E402
from searchsvc.lifecycle import sync  # noqa: E402
from searchsvc.search import QueryError, search  # noqa: E402
from searchsvc.writing import MULTIPROCESS_MIN_PARAGRAPHS  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared/corpora/xwlb"
QUICK_YEAR = "2019"
RESULT_PREFIX = "BENCH-RESULT "

# Known targets (issue: index lifecycle). Add the speed issue's here when it sets them.
UPDATE_ONE_MAX_SHARE = 0.10  # one new article: under 10 % of the full build

# Bounds of every loop that waits on something: nothing here runs unbounded.
BUILD_TIME_LIMIT = 3600.0
QUERY_TIME_LIMIT = 600.0  # per engine and pass; a pass cut short says so
HTTP_TIME_LIMIT = 300.0  # per concurrency level
HTTP_PASSES = 2  # requests per level: this many passes over the query set
# The load stops if the server's own memory (RssAnon: not the page cache it maps) grows
# past this: other work shares the machine.
SERVER_ANON_LIMIT_MB = 10_000
SERVER_START_LIMIT = 120.0
HTTP_CONCURRENCY = (1, 4)
# The HTTP warm-up's queries: another draw from the corpus (its seed is the timed set's
# plus this), minus any query of the timed set.
WARMUP_SEED_OFFSET = 1000
SERVER_THREADS = 8
SCALE_YEARS = (1, 2, 4, 8)


# --- small helpers --------------------------------------------------------------------


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99, mean and max of latencies in ms."""
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "p99": round(percentile(ms, 99), 2),
        "mean": round(sum(ms) / len(ms), 2) if ms else 0.0,
        "max": round(max(ms), 2) if ms else 0.0,
    }


def tree_pss_mb(root: int) -> float:
    """Memory of ``root`` and its descendants, in MB: the sum of their PSS.

    PSS, not RSS: forked workers share their parent's pages, and RSS counts those again
    in every process.
    """
    total_kb = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            continue  # ended meanwhile
    return total_kb / 1024


def machine() -> dict[str, Any]:
    """CPU count and model, memory, Python version, load average."""
    return {**common_machine(), "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


# --- workers: builds in their own process, so their peak RSS is theirs alone ---------


def _resources() -> dict[str, float]:
    """CPU seconds of this process and its workers; peak RSS of this process and of its
    largest waited-for descendant, in MB.

    This process's own peak is VmHWM: ``getrusage(RUSAGE_SELF)`` would report the
    parent's size, which Linux carries over ``execve``. Its workers are forked, not
    exec'd, so RUSAGE_CHILDREN is theirs (pages shared with this process included).
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime
    return {
        # The whole process (start-up and corpus read included): CPU time is less
        # sensitive than wall time to other work on the machine.
        "cpu_seconds": round(cpu, 2),
        "self_maxrss_mb": proc_status_mb()["VmHWM"],
        "children_maxrss_mb": round(workers.ru_maxrss / 1024, 1),
    }


def _corpus_docs(seeds: Path) -> list[tuple[str, list[str]]]:
    articles = iter_articles(seeds, follow_symlinks=True)  # the seeds link to the corpus
    return [(a.title, [p.text for p in a.paragraphs]) for a in articles]


def worker_main(kind: str, params: dict[str, str]) -> None:
    """Run one build in this (child) process and print its figures as one JSON line."""
    seeds, target = Path(params["seeds"]), Path(params.get("target", ""))
    result: dict[str, Any]
    if kind == "product-build":
        summary = sync(seeds, target, full=True, follow_symlinks=True)
        result = {"seconds": summary.seconds, "articles": summary.articles,
                  "paragraphs": summary.paragraphs, "version": summary.version,
                  "problems": len(summary.problems)}
    else:
        # Reading the corpus is the product's code: not part of a reference's build time.
        docs = _corpus_docs(seeds)
        if kind == "floor":
            seconds, tokens = tokenise_floor(docs)
            result = {"seconds": seconds, "tokens": tokens}
        elif kind == "whoosh-build":
            result = asdict(WhooshTutorial(target).build(docs))
        elif kind == "tantivy-build":
            result = asdict(TantivyJieba(target).build(docs))
        else:
            raise SystemExit(f"unknown worker {kind!r}")
    result.update(_resources())
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill a worker started in its own session, with its children."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def run_worker(kind: str, params: dict[str, str], log_dir: Path) -> dict[str, Any]:
    """Run ``worker_main(kind)`` in a subprocess; its figures plus the sampled tree PSS."""
    log_path = log_dir / f"{kind}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind,
           "--worker-params", json.dumps(params)]
    peak = 0.0
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        # Its own process group: a kill takes its worker processes along.
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                                start_new_session=True)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():  # ends with the process (stop is set in finally)
                peak = max(peak, tree_pss_mb(proc.pid))
                # Every 0.5 s: reading smaps costs ~10 ms per GB, taken from the build.
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            out, _ = proc.communicate(timeout=BUILD_TIME_LIMIT)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SystemExit(f"{kind} took over {BUILD_TIME_LIMIT:.0f} s; see {log_path}") from None
        except BaseException:  # Ctrl-C: leave no build running behind
            _kill_group(proc)
            raise
        finally:
            stop.set()
            sampler.join(timeout=5)
    wall = time.perf_counter() - started
    lines = [x for x in out.splitlines() if x.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"{kind} failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["tree_pss_peak_mb"] = round(peak, 1)
    result["process_wall_seconds"] = round(wall, 2)  # with interpreter start and corpus read
    return result


# --- queries --------------------------------------------------------------------------


Outcome = tuple[int, bool]  # hits returned (at most 10), partial (the product's time budget)


class Tally:
    """Latencies, empty and partial answers of a series of queries, by class."""

    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {}
        self.zero_hits: dict[str, int] = {}
        self.partial: dict[str, int] = {}

    def add(self, cls: str, ms: float, outcome: Outcome) -> None:
        self.ms.setdefault(cls, []).append(ms)
        hits, partial = outcome
        self.zero_hits[cls] = self.zero_hits.get(cls, 0) + (hits == 0)
        self.partial[cls] = self.partial.get(cls, 0) + partial

    def summary(self, seconds: float) -> dict[str, Any]:
        everything = [x for values in self.ms.values() for x in values]
        return {
            "all": latency_summary(everything),
            "classes": {c: {**latency_summary(v), "zero_hits": self.zero_hits[c],
                            "partial": self.partial[c]} for c, v in self.ms.items()},
            "queries_per_s": round(len(everything) / seconds, 1) if seconds else 0.0,
            "seconds": round(seconds, 2),
        }


def measure_queries(run: Callable[[str], Outcome], queries: Sequence[BenchQuery]
                    ) -> dict[str, Any]:
    """Time ``run(text)`` over the query set, one query at a time, after a warm-up.

    The warm-up runs the first query of each class once, untimed (opens readers, fills
    caches the way a serving process has them filled).
    """
    firsts = {q.cls: q for q in reversed(queries)}
    for q in firsts.values():
        try:
            run(q.text)
        except QueryError:
            pass
    tally = Tally()
    errors = 0
    started = time.perf_counter()
    deadline = started + QUERY_TIME_LIMIT
    truncated = False
    for q in queries:
        if time.perf_counter() > deadline:
            truncated = True
            break
        t0 = time.perf_counter()
        try:
            outcome = run(q.text)
        except QueryError:
            errors += 1
            continue
        tally.add(q.cls, (time.perf_counter() - t0) * 1000, outcome)
    return {**tally.summary(time.perf_counter() - started), "errors": errors,
            "truncated": truncated}


def product_query_fn(index_dir: Path) -> Callable[[str], Outcome]:
    """The in-process path of a request: the backend's engine and ``search()``."""
    backend = EmbeddedBackend(index_dir)

    def run(text: str) -> Outcome:
        result = search(backend.engine(), text, size=10)
        # getattr: ``partial`` is recent; the bench also runs on versions without it.
        return len(result.hits), bool(getattr(result, "partial", False))

    return run


def reference_query_fn(engine: WhooshTutorial | TantivyJieba) -> Callable[[str], Outcome]:
    """A reference engine's query, as an Outcome (references have no time budget)."""
    return lambda text: (engine.query(text), False)


# --- HTTP -----------------------------------------------------------------------------


def http_load(
    server: subprocess.Popen[bytes], port: int, queries: Sequence[BenchQuery],
    concurrency: int, requests: int,
) -> dict[str, Any]:
    """``requests`` GET /api/search over ``concurrency`` keep-alive connections (127.0.0.1).

    Stops early after HTTP_TIME_LIMIT seconds, or when the server's anonymous memory
    passes SERVER_ANON_LIMIT_MB (other work shares this machine); the result says so.
    """
    lock = threading.Lock()
    next_index = 0
    tally = Tally()
    errors: list[str] = []
    deadline = time.monotonic() + HTTP_TIME_LIMIT
    stop = threading.Event()
    stopped_by = ""

    finished: list[float] = []

    def client() -> None:
        nonlocal next_index
        conn = KeepAliveClient("127.0.0.1", port)
        try:
            while not stop.is_set():
                with lock:
                    i = next_index
                    next_index += 1
                if i >= requests or time.monotonic() > deadline:
                    return
                q = queries[i % len(queries)]
                path = "/api/search?" + urllib.parse.urlencode({"q": q.text, "size": 10})
                t0 = time.perf_counter()
                try:
                    status, body = conn.get(path)  # reconnects after an error
                except (OSError, ValueError) as err:
                    with lock:
                        errors.append(repr(err))
                    continue
                elapsed = (time.perf_counter() - t0) * 1000
                data = orjson.loads(body) if status == 200 else None
                with lock:
                    if data is not None:
                        tally.add(q.cls, elapsed, (len(data["hits"]), bool(data.get("partial"))))
                    else:
                        errors.append(f"HTTP {status} for {q.text!r}")
        finally:
            conn.close()
            with lock:
                finished.append(time.perf_counter())

    server_cpu = tree_cpu_seconds(server.pid)
    own_cpu = os.times()
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # bounded: the clients stop by the deadline
        try:
            if server_memory_mb(server.pid).get("RssAnon", 0.0) > SERVER_ANON_LIMIT_MB:
                stopped_by = f"server's anonymous memory over {SERVER_ANON_LIMIT_MB} MB"
                stop.set()
        except OSError:
            stopped_by = f"the server exited ({server.poll()})"
            stop.set()
        if time.monotonic() > deadline + 120:  # a request in flight may take its 60 s timeout
            stopped_by = "time limit"
            stop.set()
            break
        time.sleep(0.25)
    # From the start to the last client's last answer (the watch above sleeps in steps).
    seconds = max(finished, default=time.perf_counter()) - started
    done = sum(len(v) for v in tally.ms.values())
    # CPU a request costs, less sensitive to the machine's drift than latency: the
    # server's processes, and this process (the load generator and its light watch).
    own = os.times()
    client_cpu = own.user - own_cpu.user + own.system - own_cpu.system
    server_cpu = tree_cpu_seconds(server.pid) - server_cpu if server.poll() is None else 0.0
    if not stopped_by and done + len(errors) < requests:
        stopped_by = f"time limit ({HTTP_TIME_LIMIT:.0f} s)"
    return {
        "concurrency": concurrency,
        "requests": done,
        "errors": len(errors),
        "first_errors": errors[:3],
        "stopped_early": stopped_by,
        **tally.summary(seconds),
        "server_cpu_ms_per_request": round(server_cpu / max(1, done) * 1000, 2),
        "client_cpu_ms_per_request": round(client_cpu / max(1, done) * 1000, 2),
        "server_memory_mb": server_memory_mb(server.pid) if server.poll() is None else {},
    }


def bench_http(
    index_dir: Path, seeds: Path, queries: Sequence[BenchQuery], log_dir: Path,
    warmup: Sequence[BenchQuery] = (),
) -> dict[str, Any]:
    """Start the real server on a free loopback port, load it, read its RSS, stop it.

    Before the timed loads, ``warmup`` (other queries than the timed ones) goes through
    every worker process at the highest concurrency: the timed figures are those of a
    server that has been answering, not of a process's first requests (its first look at
    each page of the mapped index, lazily built lookup tables)."""
    port = free_port()
    # The server's defaults (time budget, no admin endpoint), whatever this shell exports.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHSVC_")}
    cmd = [sys.executable, "-m", "searchsvc", "serve", "--index", str(index_dir),
           "--seeds", str(seeds), "--host", "127.0.0.1", "--port", str(port),
           "--threads", str(SERVER_THREADS)]
    out: dict[str, Any] = {"threads": SERVER_THREADS}
    with open(log_dir / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            started = time.perf_counter()
            wait_answering(port, proc, "/healthz", SERVER_START_LIMIT)
            out["start_seconds"] = round(time.perf_counter() - started, 2)
            out["memory_idle_mb"] = server_memory_mb(proc.pid)
            # Warm-up (untimed): the first requests load what the server loads lazily.
            warm_set = list(warmup) or list(queries[:: max(1, len(queries) // 16)])
            warm = http_load(proc, port, warm_set, max(HTTP_CONCURRENCY), len(warm_set))
            out["warmup_stopped_early"] = warm["stopped_early"]
            out["memory_warm_mb"] = server_memory_mb(proc.pid)
            for c in HTTP_CONCURRENCY:
                out[f"c{c}"] = http_load(proc, port, queries, c, HTTP_PASSES * len(queries))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
    return out


# --- incremental updates --------------------------------------------------------------


def bench_incremental(seeds: Path, index_dir: Path, source: Path) -> dict[str, Any]:
    """1 and 500 new articles by ``sync`` (full scan), 1 by ``sync(only=[file])``."""
    out: dict[str, Any] = {}
    steps = (("update_1", 1, False), ("add_1_only", 1, True), ("update_500", 500, False))
    for name, n, only in steps:
        path = seeds / f"bench-{name}.jsonl"
        path.write_text("\n".join(new_articles(source, n, name)) + "\n", encoding="utf-8")
        summary = sync(seeds, index_dir, only=[path] if only else None, follow_symlinks=True)
        if summary.added != n:
            raise SystemExit(f"{name}: expected {n} added, got: {summary.line()}")
        out[name] = round(summary.seconds, 2)
    # The last one is served: a reader opened now finds it.
    backend = EmbeddedBackend(index_dir)
    engine = backend.engine()
    found = search(engine, "update_500499").total
    backend.close()
    if engine.version != current_version(index_dir) or found < 1:
        raise SystemExit("the 500th new article is not searchable after the update")
    return out


# --- the run --------------------------------------------------------------------------


@dataclass
class Corpus:
    """The corpus files of this run, linked into a seeds directory, and their figures."""

    files: list[Path]
    seeds: Path
    articles: int
    paragraphs: int
    text_mb: float  # UTF-8 paragraph text: what gets tokenised
    jsonl_mb: float
    read_seconds: float  # the product's reader, for reference


def link_corpus(files: Sequence[Path], seeds: Path) -> Path:
    """A seeds directory of symlinks to ``files`` (the corpus is never copied)."""
    seeds.mkdir(parents=True)
    for f in files:
        (seeds / f.name).symlink_to(f.resolve())
    return seeds


def load_corpus(files: Sequence[Path], seeds: Path) -> tuple[Corpus, list[Any]]:
    """Link, read and count the corpus; also return its articles (for the query set)."""
    link_corpus(files, seeds)
    started = time.perf_counter()
    articles = list(iter_articles(seeds, follow_symlinks=True))
    read_seconds = time.perf_counter() - started
    text_bytes = sum(len(p.text.encode()) for a in articles for p in a.paragraphs)
    corpus = Corpus(
        list(files), seeds, len(articles), sum(len(a.paragraphs) for a in articles),
        text_bytes / 1e6, sum(f.stat().st_size for f in files) / 1e6, read_seconds,
    )
    return corpus, articles


def bench_product(
    corpus: Corpus, queries: Sequence[BenchQuery], work: Path,
    warmup: Sequence[BenchQuery] = (),
) -> dict[str, Any]:
    """Build, query in-process, query over HTTP (after ``warmup``), then update
    incrementally."""
    index_dir = work / "product"
    # Its own seeds: the incremental step adds files, which the references must not see.
    seeds = link_corpus(corpus.files, work / "seeds-product")
    build = run_worker("product-build", {"seeds": str(seeds), "target": str(index_dir)}, work)
    if build["paragraphs"] != corpus.paragraphs:
        raise SystemExit(f"the product indexed {build['paragraphs']} paragraphs, "
                         f"the corpus has {corpus.paragraphs}")
    build["index_mb"] = round(dir_mb(index_dir / build["version"]), 1)
    inproc = measure_queries(product_query_fn(index_dir), queries)
    http_figures = bench_http(index_dir, seeds, queries, work, warmup)
    incremental = bench_incremental(seeds, index_dir, corpus.files[-1])
    return {"build": build, "inprocess": inproc, "http": http_figures,
            "incremental": incremental}


def bench_references(corpus: Corpus, queries: Sequence[BenchQuery], work: Path) -> dict[str, Any]:
    """The tokenisation floor, the Whoosh tutorial and tantivy+jieba on the same text."""
    seeds = {"seeds": str(corpus.seeds)}
    floor = run_worker("floor", seeds, work)
    floor["per_core_seconds"] = round(floor["seconds"] / (os.cpu_count() or 1), 2)
    out: dict[str, Any] = {"floor": floor}
    engines: dict[str, Any] = {"whoosh": WhooshTutorial, "tantivy": TantivyJieba}
    for name, engine_class in engines.items():
        target = work / name
        build = run_worker(f"{name}-build", {**seeds, "target": str(target)}, work)
        if build["documents"] != corpus.paragraphs:
            raise SystemExit(f"{name} indexed {build['documents']} paragraphs, "
                             f"the corpus has {corpus.paragraphs}")
        build["index_mb"] = round(dir_mb(target), 1)
        engine = engine_class(target)
        engine.open()
        try:
            inproc = measure_queries(reference_query_fn(engine), queries)
        finally:
            engine.close()
        out[name] = {"build": build, "inprocess": inproc}
    return out


def bench_scale(files: Sequence[Path], quick: bool, work: Path, seed: int) -> dict[str, Any]:
    """Product builds of the newest 1, 2, 4, 8 years; one query set (from the newest)."""
    counts = [n for n in SCALE_YEARS[: 2 if quick else None] if n <= len(files)]
    if counts[-1] < len(files) and not quick:
        counts.append(len(files))  # --years with an odd count: end with all of them
    newest = files[-1:]
    _, articles = load_corpus(newest, work / "seeds-queries")
    queries = derive_queries(articles, seed)
    rows = []
    for n in counts:
        chosen = files[-n:]
        corpus, _ = load_corpus(chosen, work / f"seeds-{n}")
        index_dir = work / f"scale-{n}"
        build = run_worker("product-build", {"seeds": str(corpus.seeds),
                                             "target": str(index_dir)}, work)
        inproc = measure_queries(product_query_fn(index_dir), queries)
        rows.append({
            "years": n, "files": [f.stem for f in chosen], "articles": corpus.articles,
            "paragraphs": corpus.paragraphs, "text_mb": round(corpus.text_mb, 1),
            "build_s": round(build["seconds"], 1), "build_cpu_s": round(build["cpu_seconds"], 1),
            "index_mb": round(dir_mb(index_dir / build["version"]), 1),
            "peak_rss_mb": max(build["self_maxrss_mb"], build["children_maxrss_mb"]),
            "peak_tree_pss_mb": build["tree_pss_peak_mb"],
            "query_p50_ms": inproc["all"]["p50"], "query_p99_ms": inproc["all"]["p99"],
            "partial": sum(v["partial"] for v in inproc["classes"].values()),
            "classes": {c: (v["p50"], v["p99"]) for c, v in inproc["classes"].items()},
        })
        shutil.rmtree(index_dir, ignore_errors=True)  # a full index is about 1 GB
    return {"queries": len(queries), "rows": rows}


# --- the report -----------------------------------------------------------------------


def _lat(s: dict[str, Any] | None) -> str:
    if not s or not s.get("n"):
        return "—"
    return f"{s['p50']:.1f} / {s['p95']:.1f} / {s['p99']:.1f}"


def _fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "—" if value is None else f"{value:,.{digits}f}{suffix}"


def product_processes(paragraphs: int) -> str:
    """How the product's full build runs (its rule in ``writing.write_version``)."""
    cpus = os.cpu_count() or 1
    if paragraphs >= MULTIPROCESS_MIN_PARAGRAPHS and cpus > 1:
        return f"1 + {min(cpus, 4)} Whoosh writer workers"
    return "1"


def report_rows(corpus: Corpus, product: dict[str, Any], refs: dict[str, Any] | None
                ) -> list[tuple[str, ...]]:
    """The table's rows: measurement, product, whoosh, tantivy, jieba floor, target."""
    def ref(path: str) -> Any:
        node: Any = refs
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    b = product["build"]
    wb, tb = ref("whoosh.build"), ref("tantivy.build")
    floor = ref("floor")

    def rate(build: dict[str, Any] | None, amount: float) -> float | None:
        return amount / build["seconds"] if build else None

    def rss(build: dict[str, Any] | None) -> str:
        if not build:
            return "—"
        return f"{max(build['self_maxrss_mb'], build['children_maxrss_mb']):,.0f}"

    inc = product["incremental"]
    share = inc["update_1"] / b["seconds"]
    rows: list[tuple[str, ...]] = [
        ("build: seconds", _fmt(b["seconds"]), _fmt(wb and wb["seconds"]),
         _fmt(tb and tb["seconds"]),
         f"{floor['seconds']:.1f} (÷{os.cpu_count()} = {floor['per_core_seconds']:.1f})"
         if floor else "—", ""),
        ("build: CPU seconds, all processes, whole run", _fmt(b["cpu_seconds"]),
         _fmt(wb and wb["cpu_seconds"]), _fmt(tb and tb["cpu_seconds"]),
         _fmt(floor and floor["cpu_seconds"]), ""),
        ("build: jieba tokenising part (s)", "—", "—", _fmt(tb and tb["tokenise_seconds"]),
         "", ""),
        ("build: indexing part, after tokens (s)", "—", "—", _fmt(tb and tb["index_seconds"]),
         "", ""),
        ("build: processes", product_processes(corpus.paragraphs), "1",
         f"{tb['processes']} (Pool) + tantivy threads" if tb else "—", "1", ""),
        ("build: MB/s of paragraph text", _fmt(rate(b, corpus.text_mb), 2),
         _fmt(rate(wb, corpus.text_mb), 2), _fmt(rate(tb, corpus.text_mb), 2),
         _fmt(rate(floor, corpus.text_mb), 2), ""),
        ("build: paragraphs/s", _fmt(rate(b, corpus.paragraphs), 0),
         _fmt(rate(wb, corpus.paragraphs), 0), _fmt(rate(tb, corpus.paragraphs), 0),
         _fmt(rate(floor, corpus.paragraphs), 0), ""),
        ("index size on disk (MB)", _fmt(b["index_mb"]), _fmt(wb and wb["index_mb"]),
         _fmt(tb and tb["index_mb"]), "", ""),
        ("build: peak RSS, largest process (MB)", rss(b), rss(wb), rss(tb), rss(floor), ""),
        ("build: peak memory, process tree PSS (MB)", _fmt(b["tree_pss_peak_mb"], 0),
         _fmt(wb and wb["tree_pss_peak_mb"], 0), _fmt(tb and tb["tree_pss_peak_mb"], 0),
         _fmt(floor and floor["tree_pss_peak_mb"], 0), ""),
        ("update: 1 new article, full scan (s)",
         f"{inc['update_1']:.2f} ({share:.1%} of build)", "", "", "",
         f"< {UPDATE_ONE_MAX_SHARE:.0%} of build: "
         + ("met" if share < UPDATE_ONE_MAX_SHARE else "NOT met")),
        ("update: 1 new article, only=[file] (s)", f"{inc['add_1_only']:.2f}", "", "", "", ""),
        ("update: 500 new articles, full scan (s)", f"{inc['update_500']:.2f}", "", "", "", ""),
    ]
    classes = list(product["inprocess"]["classes"])
    rows.append(("in-process query ms p50/p95/p99: all", _lat(product["inprocess"]["all"]),
                 _lat(ref("whoosh.inprocess.all")), _lat(ref("tantivy.inprocess.all")), "", ""))
    for c in classes:
        n = product["inprocess"]["classes"][c]["n"]
        rows.append((f"  {c} ({n} queries)", _lat(product["inprocess"]["classes"][c]),
                     _lat(ref(f"whoosh.inprocess.classes.{c}")),
                     _lat(ref(f"tantivy.inprocess.classes.{c}")), "", ""))

    def zeros(node: dict[str, Any] | None) -> str:
        if not node:
            return "—"
        return ", ".join(f"{c} {v['zero_hits']}" for c, v in node["classes"].items()
                         if v["zero_hits"]) or "none"

    rows.append(("  queries with 0 hits", zeros(product["inprocess"]),
                 zeros(ref("whoosh.inprocess")), zeros(ref("tantivy.inprocess")), "", ""))
    partial = ", ".join(f"{c} {v['partial']}" for c, v in product["inprocess"]["classes"].items()
                        if v["partial"]) or "none"
    rows.append(("  partial answers (time budget ran out)", partial, "", "", "", ""))
    rows.append(("in-process queries/s (1 thread)", _fmt(product["inprocess"]["queries_per_s"]),
                 _fmt(ref("whoosh.inprocess.queries_per_s")),
                 _fmt(ref("tantivy.inprocess.queries_per_s")), "", ""))
    h = product["http"]

    def mem(m: dict[str, float]) -> str:
        if not m:
            return "—"
        return f"{m['VmRSS']:,.0f} (anon {m['RssAnon']:,.0f}, file {m['RssFile']:,.0f})"

    rows.append(("server RSS MB (largest process): idle", mem(h["memory_idle_mb"]),
                 "", "", "", ""))
    rows.append(("server RSS MB: after the warm-up", mem(h["memory_warm_mb"]),
                 "", "", "", ""))
    for c in HTTP_CONCURRENCY:
        level = h[f"c{c}"]
        rows.append((f"HTTP c={c} ms p50/p95/p99: all ({level['requests']} requests)",
                     _lat(level["all"]), "", "", "", ""))
        for cls in classes:
            rows.append((f"  {cls}", _lat(level["classes"].get(cls)), "", "", "", ""))
        notes = [f"{level['errors']} errors"] if level["errors"] else []
        partial_answers = sum(v["partial"] for v in level["classes"].values())
        notes += [f"{partial_answers} partial answers"] if partial_answers else []
        notes += [f"stopped early: {level['stopped_early']}"] if level["stopped_early"] else []
        rows.append((f"HTTP c={c} queries/s", f"{level['queries_per_s']:.1f}"
                     + (f" ({'; '.join(notes)})" if notes else ""), "", "", "", ""))
        rows.append((f"HTTP c={c} CPU ms a request: server / load generator",
                     f"{level.get('server_cpu_ms_per_request', 0):.2f} / "
                     f"{level.get('client_cpu_ms_per_request', 0):.2f}", "", "", "", ""))
        rows.append((f"server RSS MB after c={c}", mem(level["server_memory_mb"]),
                     "", "", "", ""))
    peak = max(h[f"c{c}"]["server_memory_mb"].get("VmHWM", 0) for c in HTTP_CONCURRENCY)
    rows.append(("server peak RSS MB (VmHWM)", f"{peak:,.0f}", "", "", "", ""))
    return rows


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A Markdown table with aligned columns (drops columns that are empty in every row)."""
    keep = [i for i in range(len(header)) if i == 0 or any(r[i] for r in rows)]
    header = [header[i] for i in keep]
    rows = [[r[i] for i in keep] for r in rows]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


def print_header(info: dict[str, Any], corpus: Corpus | None, notes: Sequence[str]) -> None:
    m = info["machine"]
    print(f"date: {info['date']}   commit: {info['commit']} "
          f"(searchsvc/ fingerprint {info['product_fingerprint']})")
    print(f"command: {info['command']}")
    print(f"machine: {m['cpus']} cpus ({m['cpu_model']}), {m['mem_gib']} GiB, {m['python']}, "
          f"load average at start {m['loadavg_start']}")
    if corpus:
        print(f"corpus: {', '.join(f.name for f in corpus.files)}: {corpus.articles:,} articles, "
              f"{corpus.paragraphs:,} paragraphs, {corpus.text_mb:.1f} MB paragraph text "
              f"({corpus.jsonl_mb:.1f} MB JSONL; product reader {corpus.read_seconds:.1f} s)")
    for note in notes:
        print(f"note: {note}")


def print_scale(info: dict[str, Any], scale: dict[str, Any], query_source: Path,
                warnings: Sequence[str]) -> None:
    """The --scale report: header, one table, one JSON line."""
    print_header(info, None, warnings)
    header = ("years", "articles", "paragraphs", "build s", "build CPU s", "index MB",
              "peak RSS MB (largest process / tree PSS)", "query p50 ms", "query p99 ms",
              "partial answers")
    rows = [(str(r["years"]), f"{r['articles']:,}", f"{r['paragraphs']:,}",
             f"{r['build_s']:.1f}", f"{r['build_cpu_s']:.1f}", f"{r['index_mb']:.0f}",
             f"{r['peak_rss_mb']:,.0f} / {r['peak_tree_pss_mb']:,.0f}",
             f"{r['query_p50_ms']:.1f}", f"{r['query_p99_ms']:.1f}", str(r["partial"]))
            for r in scale["rows"]]
    print_table(header, rows)
    print(f"total: {info['total_seconds']:.0f} s; load average at end "
          f"{info['machine']['loadavg_end']}; {scale['queries']} queries "
          f"(from {query_source.name}) per size, in-process, highlighting included")
    print(json.dumps({**info, "scale": scale}, ensure_ascii=False))


NOTES = (
    "build seconds: the product's sync(full=True) and the references' build step, each in a "
    "fresh process, after reading the corpus (product reader; its time is the corpus line)",
    "floor: jieba cut_for_search over the paragraphs in one process, dictionary preloaded; "
    "(÷ cores) is the best a parallel jieba-based build can do",
    "tantivy: tokenised by a multiprocessing Pool (one process per core), then indexed; "
    "query = AND of the query's jieba tokens (phrases too), hits' text read back, "
    "no highlighting",
    "whoosh tutorial: ChineseAnalyzer drops stop words (的, 和, ...) and its positions are "
    "character offsets, so single-character and phrase queries may find nothing",
    "product: search() with highlighting and its default time budget (an answer cut short "
    "is counted as partial); HTTP: GET /api/search?size=10 on 127.0.0.1, `searchsvc serve` "
    f"--threads {SERVER_THREADS}, keep-alive connections (raw-socket client), "
    f"{HTTP_PASSES} passes over the set, "
    f"after a warm-up of other queries at concurrency {max(HTTP_CONCURRENCY)}",
    "wall seconds depend on other work on the machine (see the load averages); "
    "CPU seconds much less so",
)


# --- main -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="directory of the xwlb yearly JSONL files")
    parser.add_argument("--quick", action="store_true",
                        help=f"only {QUICK_YEAR}.jsonl (about 2 minutes)")
    parser.add_argument("--skip-baselines", action="store_true", help="product only")
    parser.add_argument("--years", default="", help="comma-separated years (default: all)")
    parser.add_argument("--scale", action="store_true",
                        help="product builds of the newest 1, 2, 4, 8 years")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="query-set seed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-params", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def corpus_files(args: argparse.Namespace) -> list[Path]:
    """The corpus files of this run, oldest first; SystemExit with a clear message if absent."""
    if not args.corpus.is_dir():
        sys.exit(f"corpus not found at {args.corpus}: see ../shared/corpora/README.md "
                 "(pass --corpus DIR)")
    files = sorted(args.corpus.glob("*.jsonl"))
    years = args.years.split(",") if args.years else ([QUICK_YEAR] if args.quick else [])
    if years:
        missing = [y for y in years if not (args.corpus / f"{y}.jsonl").is_file()]
        if missing:
            sys.exit(f"no {', '.join(y + '.jsonl' for y in missing)} in {args.corpus}")
        files = [f for f in files if f.stem in years]
    if not files:
        sys.exit(f"no .jsonl files in {args.corpus}")
    return files


def finish(info: dict[str, Any], started: float) -> list[str]:
    """Complete ``info`` at the end of a run; warnings for the header."""
    info["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    info["total_seconds"] = round(time.perf_counter() - started, 1)
    info["product_changed_during_run"] = product_fingerprint() != info["product_fingerprint"]
    if info["product_changed_during_run"]:
        return ["WARNING: searchsvc/ changed while the bench ran: figures mix two versions"]
    return []


def main(argv: Sequence[str] | None = None) -> None:
    """Run the bench (or, with the hidden --worker, one build for it)."""
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker, json.loads(args.worker_params))
        return
    if args.scale and not args.years:
        args.years = ",".join(f.stem for f in sorted(args.corpus.glob("*.jsonl")))
    files = corpus_files(args)
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "product_fingerprint": product_fingerprint(),
        "machine": machine(),
    }
    work = Path(tempfile.mkdtemp(prefix="searchsvc-bench-", dir="/tmp"))
    started = time.perf_counter()
    try:
        if args.scale:
            scale = bench_scale(files, args.quick, work, args.seed)
            print_scale(info, scale, files[-1], finish(info, started))
            return
        corpus, articles = load_corpus(files, work / "seeds")
        queries = derive_queries(articles, args.seed)
        timed = {q.text for q in queries}
        warmup = [q for q in derive_queries(articles, args.seed + WARMUP_SEED_OFFSET)
                  if q.text not in timed]
        del articles  # the builds read the corpus again in their own processes
        product = bench_product(corpus, queries, work, warmup)
        refs = None if args.skip_baselines else bench_references(corpus, queries, work)
        warnings = finish(info, started)
        print_header(info, corpus, [*NOTES, *warnings])
        header = ("measurement", "product", "whoosh+jieba tutorial", "tantivy+jieba",
                  "jieba floor", "target")
        print_table(header, report_rows(corpus, product, refs))
        print(f"total: {info['total_seconds']:.0f} s; load average at end "
              f"{info['machine']['loadavg_end']}")
        corpus_json = {k: v for k, v in asdict(corpus).items() if k not in ("files", "seeds")}
        corpus_json["files"] = [f.name for f in corpus.files]
        classes = {c: sum(q.cls == c for q in queries) for c in CLASSES}
        print(json.dumps({**info, "corpus": corpus_json, "queries": classes, "seed": args.seed,
                          "product": product, "references": refs}, ensure_ascii=False))
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
