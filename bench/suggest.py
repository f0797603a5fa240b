"""Benchmark: autocomplete latency, in-process and through ``GET /api/suggest``.

    python bench/suggest.py [--corpus ../shared/corpora/xwlb] [--years 2019] [--index DIR]

Builds (or reuses) an index, then types every prefix (1–4 characters) of 300 titles and
tags drawn with a fixed seed, as a user typing would, and prints p50/p95/p99 in ms for
``Suggester.complete`` and for the real server's endpoint (keep-alive, one client), plus
one JSON line. Target (relevance issue): p99 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import percentile  # noqa: E402

from searchsvc.indexing import current_version  # noqa: E402
from searchsvc.lifecycle import sync  # noqa: E402
from searchsvc.suggest import Suggester  # noqa: E402


def prefixes(files: list[Path], n: int = 300, seed: int = 11) -> list[str]:
    words: list[str] = []
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                words.append(record["title"])
                words.extend(t for t in record.get("tags", "").split(",") if t.strip())
    picked = random.Random(seed).sample(words, min(n, len(words)))
    return [w[:k] for w in picked for k in range(1, min(4, len(w)) + 1)]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3),
        "p95": round(percentile(values, 95), 3),
        "p99": round(percentile(values, 99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/xwlb")
    parser.add_argument("--years", default="2019")
    parser.add_argument("--index", type=Path, help="reuse an index built from the same years")
    args = parser.parse_args()
    files = [args.corpus / f"{y}.jsonl" for y in args.years.split(",")]
    if not all(f.is_file() for f in files):
        raise SystemExit(f"corpus files missing under {args.corpus}")
    index_dir = args.index
    if index_dir is None:
        work = Path(tempfile.mkdtemp(prefix="searchsvc-suggest-"))
        seeds, index_dir = work / "seeds", work / "index"
        seeds.mkdir()
        for f in files:
            (seeds / f.name).symlink_to(f)
        sync(seeds, index_dir, full=True, follow_symlinks=True)
    suggester = Suggester.load(index_dir / current_version(index_dir))
    typed = prefixes(files)

    inproc = []
    for prefix in typed:
        started = time.perf_counter()
        suggester.complete(prefix)
        inproc.append((time.perf_counter() - started) * 1000)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "searchsvc", "serve", "--index", str(index_dir),
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "SEARCHSVC_LOG_LEVEL": "WARNING"},
    )
    http_ms: list[float] = []
    try:
        deadline = time.monotonic() + 120
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            try:
                conn.request("GET", "/readyz")
                conn.getresponse().read()
                break
            except OSError:
                conn.close()
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("server did not start") from None
                time.sleep(0.3)
        for prefix in typed:
            started = time.perf_counter()
            conn.request("GET", "/api/suggest?q=" + urllib.parse.quote(prefix))
            body = conn.getresponse().read()
            http_ms.append((time.perf_counter() - started) * 1000)
            json.loads(body)
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    result = {"entries": len(suggester.entries), "prefixes": len(typed),
              "in_process_ms": summary(inproc), "http_ms": summary(http_ms)}
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; years {args.years}")
    print(f"{len(suggester.entries)} entries, {len(typed)} prefixes typed")
    for name in ("in_process_ms", "http_ms"):
        r = result[name]
        print(f"{name:14} p50 {r['p50']:7.3f}  p95 {r['p95']:7.3f}  p99 {r['p99']:7.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
