"""Bounded load test of `searchsvc serve` on loopback, with an index update mid-run.

    python bench/load.py [--corpus ../shared/corpora/xwlb] [--index DIR] [--clients 8]
                         [--seconds 60] [--max-requests 200000]

Builds (or reuses, with --index) an index of the corpus, starts the real server on
127.0.0.1, and runs N client threads (keep-alive connections) for a fixed time and a
capped number of requests, cycling through keyword, phrase, single-character and hostile
queries. Halfway through it adds a feed of new articles and runs `searchsvc update`;
the new articles must become searchable while no request fails. Prints a table and one
JSON line: requests, 5xx, connection errors, other failures, p50/p95/p99 per class.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from common import free_port, percentile, server_memory_mb, wait_answering

ROOT = Path(__file__).resolve().parent.parent

HOSTILE = [
    '"', '"""', "((", "*", "?", "OR", "-", "- - -", "<script>alert(1)</script>", "%", "\\",
    "a" * 199, "医" * 200, "OR " * 60, "[a TO z]", "title:医院", "\u0000", "🙂" * 30,
]


def query_mix(corpus_files: list[Path], seed: int = 7) -> list[tuple[str, dict[str, str]]]:
    """(class, params) requests drawn reproducibly from titles, tags and paragraphs."""
    rng = random.Random(seed)
    titles, tags, paragraphs = [], [], []
    for path in corpus_files:
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i % 20:
                    continue
                record = json.loads(line)
                titles.append(record["title"])
                tags.extend(t for t in record.get("tags", "").split(",") if t.strip())
                paragraphs.extend(p for p in record["text"].split("\n") if len(p) > 40)
    mix: list[tuple[str, dict[str, str]]] = []
    for _ in range(300):
        words = rng.sample(tags, rng.randint(1, 3))
        mix.append(("keyword", {"q": " ".join(words)}))
    for _ in range(60):
        p = rng.choice(paragraphs)
        start = rng.randrange(len(p) - 10)
        mix.append(("phrase", {"q": '"' + p[start : start + rng.randint(4, 10)] + '"'}))
    for ch in "的国中人年会发在是了":
        mix.append(("single", {"q": ch}))
    for _ in range(20):
        p = rng.choice(paragraphs)
        mix.append(("long", {"q": p[:60]}))
    for q in HOSTILE:
        mix.append(("hostile", {"q": q}))
    mix.append(("hostile", {"q": "医院", "page": "-1"}))
    mix.append(("hostile", {"q": "医院", "size": "1000"}))
    rng.shuffle(mix)
    return mix


class Client(threading.Thread):
    def __init__(self, port: int, mix, stop: threading.Event, budget: list[int]):
        super().__init__(daemon=True)
        self.port, self.mix, self.stop, self.budget = port, mix, stop, budget
        self.latency: dict[str, list[float]] = {}
        self.status: dict[int, int] = {}
        self.conn_errors = 0
        self.bad = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        i = random.randrange(len(self.mix))
        while not self.stop.is_set():
            with self.lock:
                if self.budget[0] <= 0:
                    return
                self.budget[0] -= 1
            kind, params = self.mix[i % len(self.mix)]
            i += 1
            url = "/api/search?" + urllib.parse.urlencode(params)
            started = time.perf_counter()
            try:
                conn.request("GET", url)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                self.conn_errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            self.latency.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
            self.status[response.status] = self.status.get(response.status, 0) + 1
            try:
                json.loads(body)
            except ValueError:
                self.bad += 1
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/xwlb")
    parser.add_argument("--index", type=Path, help="reuse this built index (a copy is updated)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--years", default="", help="comma-separated years (default: all)")
    args = parser.parse_args()
    files = sorted(args.corpus.glob("*.jsonl"))
    if args.years:
        files = [f for f in files if f.stem in args.years.split(",")]
    if not files:
        raise SystemExit(f"no corpus at {args.corpus}: see ../shared/corpora/README.md")

    work = Path(tempfile.mkdtemp(prefix="searchsvc-load-"))
    seeds, index_dir = work / "seeds", work / "index"
    seeds.mkdir()
    for f in files:
        # Copies, not links: links out of the seeds directory are not read (README).
        shutil.copyfile(f, seeds / f.name)
    cli = [sys.executable, "-m", "searchsvc"]
    if args.index:
        subprocess.run(["cp", "-a", str(args.index), str(index_dir)], check=True)
    else:
        print("building the index…", flush=True)
        subprocess.run([*cli, "build", "--seeds", str(seeds), "--index", str(index_dir)],
                       check=True, stdout=subprocess.DEVNULL)

    port = free_port()
    env = {**os.environ, "SEARCHSVC_LOG_LEVEL": "WARNING"}
    with open(work / "server.log", "wb") as log:
        server = subprocess.Popen(
            [*cli, "serve", "--index", str(index_dir), "--seeds", str(seeds),
             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    try:
        wait_answering(port, server, "/readyz", 600, poll=0.5)
        mix = query_mix(files)
        stop, budget = threading.Event(), [args.max_requests]
        clients = [Client(port, mix, stop, budget) for _ in range(args.clients)]
        started = time.monotonic()
        for c in clients:
            c.start()
        # Halfway: new articles arrive and an update runs while the clients keep going.
        time.sleep(args.seconds / 2)
        record = json.loads(files[-1].open(encoding="utf-8").readline())
        record.update(id="load-test-new-1", title="负载测试期间到达的新文章")
        record["text"] = "这篇文章在负载测试中途加入，带有独特标记壬癸甲乙丙。\n" + record["text"]
        (seeds / "arrived.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n")
        up_started = time.monotonic()
        update = subprocess.run([*cli, "update", "--seeds", str(seeds), "--index", str(index_dir)],
                                capture_output=True, text=True)
        update_s = time.monotonic() - up_started
        returned = time.monotonic()
        picked_up_s = None  # seconds from the update command returning to the first hit
        while time.monotonic() - returned < 30:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/search?q=" + urllib.parse.quote("壬癸甲乙丙"))
            found = json.loads(conn.getresponse().read())["total"]
            conn.close()
            if found:
                picked_up_s = time.monotonic() - returned
                break
            time.sleep(0.2)
        time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
        stop.set()
        for c in clients:
            c.join(timeout=60)
        elapsed = time.monotonic() - started
        # The largest server process (a worker: each one maps the index itself).
        memory = server_memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)  # a copy of the index: hundreds of MB

    latency: dict[str, list[float]] = {}
    status: dict[int, int] = {}
    for c in clients:
        for k, v in c.latency.items():
            latency.setdefault(k, []).extend(v)
        for k, v in c.status.items():
            status[k] = status.get(k, 0) + v
    everything = [x for v in latency.values() for x in v]
    conn_errors = sum(c.conn_errors for c in clients)
    not_json = sum(c.bad for c in clients)
    five = sum(v for k, v in status.items() if k >= 500)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"corpus: {', '.join(f.name for f in files)}")
    print(f"{args.clients} clients, {elapsed:.0f} s, {len(everything)} requests "
          f"({len(everything) / elapsed:.0f}/s); status {dict(sorted(status.items()))}")
    print(f"5xx {five}, connection errors {conn_errors}, non-JSON {not_json}; "
          f"update {update_s:.1f} s (exit {update.returncode}), picked up after "
          f"{picked_up_s if picked_up_s is None else round(picked_up_s, 1)} s; "
          f"server peak RSS (largest process) {memory.get('VmHWM', 0):.0f} MB "
          f"(now: anon {memory.get('RssAnon', 0):.0f}, file {memory.get('RssFile', 0):.0f})")
    print(f"{'class':10} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind in sorted(latency) + ["all"]:
        values = everything if kind == "all" else latency[kind]
        print(f"{kind:10} {len(values):7} {statistics.median(values):8.1f} "
              f"{percentile(values, 95):8.1f} {percentile(values, 99):8.1f}")
    print(json.dumps({
        "clients": args.clients, "seconds": round(elapsed, 1), "requests": len(everything),
        "status": status, "5xx": five, "connection_errors": conn_errors, "non_json": not_json,
        "update_s": round(update_s, 2), "update_exit": update.returncode,
        "picked_up_s": picked_up_s, "server_peak_rss_mb": round(memory.get("VmHWM", 0)),
        "server_memory_mb": memory,
        "p50_ms": round(statistics.median(everything), 1),
        "p99_ms": round(percentile(everything, 99), 1),
        "p99_by_class": {k: round(percentile(v, 99), 1) for k, v in latency.items()},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
