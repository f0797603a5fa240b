"""Relevance benchmark: does the product rank the paragraph that answers a question first?

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/relevance.py [--corpora ../shared/corpora] [--distractors 2019]
        [--sample N] [--seed S] [--show-misses N] [--skip-references] [--keep]
        [--queries FILE --qrels FILE --passages FILE]

Data: a BEIR-style set (``corpus.jsonl`` passages ``_id, title, text``; ``queries.jsonl``
``_id, text``; ``qrels.tsv`` query-id, corpus-id, score; default: ``cmrc2018-trial``), its
passages mixed with news articles as distractors (default: ``xwlb/2019.jsonl``, ~30,000
paragraphs). Everything is read in place; the temporary files live under /tmp and are removed
at the end unless ``--keep``.

The product goes through its own ingest and search: a temporary seeds directory holds a
symlink to each distractor file and a JSONL feed of the passages (``{"id", "title",
"text"}``, ids made URL-safe so that the product keeps them), ``lifecycle.sync(full=True)``
builds the index, and every question, exactly as typed, goes to ``search.search(size=10)``.

References, on the same paragraphs (the product's own reader, ``corpus.iter_articles`` on the
same seeds), one document per paragraph:

* ``whoosh AND``: the Whoosh + ``jieba.analyse.ChineseAnalyzer`` tutorial set-up: fields
  ``title`` and ``content`` (both TEXT with the analyzer), the default ``ix.writer()``, the
  default ``QueryParser("content", schema)`` (AND of the question's terms);
* ``whoosh OR``: the same index, ``QueryParser("content", schema, group=OrGroup)``;
* ``bm25s``: ``bm25s.BM25()`` (default parameters) over jieba ``cut_for_search`` tokens of
  the paragraph, as jieba gives them (no lower-casing, no stemming, nothing removed), and
  ``bm25s -punct``: the same without the tokens that carry no letter, digit or CJK
  character (punctuation and spaces), in the documents and in the questions.

Every engine answers with its 10 best paragraphs; a passage's rank is that of its first
paragraph in the list (one entry per article). Metrics over all evaluated queries (those
with a relevant passage in the qrels): Recall@1, Recall@10 (the share of a query's relevant
passages in its top 1 / 10), MRR@10 (a query whose first relevant passage is not in the top
10 counts 0), queries with no hit at all, and per-query milliseconds (p50, p99; for the
product the whole ``search`` call, snippets included).

Prints ``--show-misses`` failed questions (if asked), one table, one JSON line with every
figure, then the machine, date and command. Use ``--sample N`` (N random questions) and
``--distractors none`` while developing: the full run builds three indexes of ~30,000
paragraphs on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import git_commit, machine, percentile, product_fingerprint

from searchsvc.corpus import iter_articles
from searchsvc.engine import EmbeddedBackend
from searchsvc.lifecycle import sync
from searchsvc.search import QueryError, search

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = ROOT.parent / "shared/corpora"
DEFAULT_SET = "cmrc2018-trial"
DEFAULT_DISTRACTORS = "2019"
FEED_NAME = "bench-passages.jsonl"
TOP_K = 10

# Targets and the issue author's measurements, on cmrc2018-trial + xwlb 2019 (all queries).
TARGET = {"mrr@10": 0.93, "recall@10": 0.98}
EXPECTED = {
    "whoosh AND": {"mrr@10": 0.002},
    "whoosh OR": {"recall@1": 0.848, "recall@10": 0.943, "mrr@10": 0.883},
    "bm25s": {"recall@10": 0.887, "mrr@10": 0.787},
}

_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,80}")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._-]")


def log(message: str) -> None:
    print(f"[relevance {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    """Stop with a clear message and exit status 1."""
    print(f"relevance: {message}", file=sys.stderr)
    raise SystemExit(1)


# --- the data set -----------------------------------------------------------------------


@dataclass
class BeirSet:
    passages: dict[str, tuple[str, str]]  # passage id -> (title, text), file order
    queries: list[tuple[str, str]]  # (query id, text), file order
    qrels: dict[str, set[str]]  # query id -> relevant passage ids (score > 0)
    notes: list[str] = field(default_factory=list)


def _read_jsonl(path: Path, required: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                fail(f"{path}:{number}: bad JSON ({exc.msg})")
            if not isinstance(obj, dict) or any(k not in obj for k in required):
                fail(f"{path}:{number}: expected an object with {', '.join(required)}")
            rows.append(obj)
    return rows


def _read_qrels(path: Path) -> dict[str, set[str]]:
    qrels: dict[str, set[str]] = {}
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            cols = line.rstrip("\r\n").split("\t")
            if not line.strip():
                continue
            if len(cols) < 2:
                fail(f"{path}:{number}: expected query-id <TAB> corpus-id [<TAB> score]")
            score_text = cols[2].strip() if len(cols) > 2 else "1"
            try:
                score = float(score_text)
            except ValueError:
                if number == 1:
                    continue  # the header line
                fail(f"{path}:{number}: score {score_text!r} is not a number")
            if score > 0:
                qrels.setdefault(cols[0].strip(), set()).add(cols[1].strip())
    return qrels


def load_set(passages_path: Path, queries_path: Path, qrels_path: Path) -> BeirSet:
    for path in (passages_path, queries_path, qrels_path):
        if not path.is_file():
            fail(f"missing data file {path} (the corpora live in ../shared/corpora; "
                 "see --corpora, --passages, --queries, --qrels)")
    passages: dict[str, tuple[str, str]] = {}
    for row in _read_jsonl(passages_path, ("_id", "text")):
        passages[str(row["_id"])] = (str(row.get("title") or ""), str(row["text"]))
    queries = [(str(r["_id"]), str(r["text"])) for r in _read_jsonl(queries_path, ("_id", "text"))]
    qrels = _read_qrels(qrels_path)
    data = BeirSet(passages, queries, qrels)
    unknown = {p for rel in qrels.values() for p in rel if p not in passages}
    if unknown:
        data.notes.append(f"{len(unknown)} relevant passage ids of the qrels are not in "
                          f"{passages_path.name} (e.g. {sorted(unknown)[0]!r})")
    unjudged = sum(1 for qid, _ in queries if qid not in qrels)
    if unjudged:
        data.notes.append(f"{unjudged} queries have no relevant passage in the qrels: not counted")
    if not passages or not queries or not qrels:
        fail("the data set has no passages, no queries or no relevant pairs")
    return data


def resolve_distractors(spec: str, corpora: Path) -> list[Path]:
    """``2019``, ``2018,2019``, file paths, or ``none``."""
    if spec.strip().lower() in ("", "none", "0"):
        return []
    files = []
    for item in (x.strip() for x in spec.split(",")):
        path = corpora / "xwlb" / f"{item}.jsonl" if item.isdigit() else Path(item)
        if not path.is_file():
            fail(f"missing distractor file {path} (see --corpora and --distractors)")
        files.append(path.resolve())
    return files


def feed_ids(passage_ids: Iterable[str]) -> dict[str, str]:
    """Feed id -> passage id; feed ids the product keeps as they are (URL-safe, unique)."""
    out: dict[str, str] = {}
    for n, pid in enumerate(passage_ids):
        fid = "bench-" + _UNSAFE_CHAR.sub("_", pid)
        if not _SAFE_ID.fullmatch(fid) or fid in out:
            fid = f"bench-n{n}"
        out[fid] = pid
    return out


# --- metrics ----------------------------------------------------------------------------


@dataclass
class Run:
    """One engine's answers: per evaluated query, the top articles in rank order."""

    name: str
    ranked: dict[str, list[str]] = field(default_factory=dict)
    millis: list[float] = field(default_factory=list)
    zero_hits: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    build_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def first_rank(ranked: Sequence[str], relevant: set[str]) -> int | None:
    for i, article in enumerate(ranked[:TOP_K], start=1):
        if article in relevant:
            return i
    return None


def metrics(run: Run, relevant: dict[str, set[str]]) -> dict[str, Any]:
    n = len(relevant)
    r1 = r10 = rr = 0.0
    for qid, rel in relevant.items():
        ranked = run.ranked.get(qid, [])
        r1 += len(rel.intersection(ranked[:1])) / len(rel)
        r10 += len(rel.intersection(ranked[:TOP_K])) / len(rel)
        rank = first_rank(ranked, rel)
        rr += 1 / rank if rank else 0.0
    return {
        "queries": n,
        "recall@1": round(r1 / n, 4),
        "recall@10": round(r10 / n, 4),
        "mrr@10": round(rr / n, 4),
        "zero_hits": run.zero_hits,
        "errors": dict(run.errors),
        "p50_ms": round(percentile(run.millis, 50), 2),
        "p99_ms": round(percentile(run.millis, 99), 2),
        "build_seconds": round(run.build_seconds, 1),
        **run.extra,
    }


def dedupe(articles: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(articles))


# --- the product ------------------------------------------------------------------------


def run_product(
    seeds: Path, index_dir: Path, queries: Sequence[tuple[str, str]]
) -> tuple[Run, dict[str, str]]:
    """Build with ``lifecycle.sync`` and search every question; also each query's top titles."""
    run = Run("product")
    started = time.perf_counter()
    summary = sync(seeds, index_dir, full=True, follow_symlinks=True)
    run.build_seconds = time.perf_counter() - started
    log(f"product build: {summary.line()}")
    if summary.problems:
        for problem in summary.problems[:5]:
            log(f"  source problem: {problem}")
    titles: dict[str, str] = {}  # query id -> the top-3 titles and how the result came about
    partial = matched_all_true = matched_all_false = 0
    has_matched_all = False
    with contextlib.closing(EmbeddedBackend(index_dir)) as backend:
        # warm-up: jieba, files, caches
        search(backend.engine(), queries[0][1] if queries else "新闻", size=TOP_K)
        for qid, text in queries:
            t0 = time.perf_counter()
            try:
                result = search(backend.engine(), text, size=TOP_K)
            except QueryError as exc:
                run.millis.append((time.perf_counter() - t0) * 1000)
                run.errors[exc.code] += 1
                run.zero_hits += 1
                run.ranked[qid] = []
                titles[qid] = f"(error {exc.code})"
                continue
            run.millis.append((time.perf_counter() - t0) * 1000)
            if not result.hits:
                run.zero_hits += 1
            if getattr(result, "partial", False):
                partial += 1
            matched_all = getattr(result, "matched_all", None)
            if matched_all is not None:
                has_matched_all = True
                if matched_all:
                    matched_all_true += 1
                elif result.hits:
                    matched_all_false += 1
            run.ranked[qid] = dedupe(h.article_id for h in result.hits)
            seen: dict[str, str] = {}
            for h in result.hits:
                seen.setdefault(h.article_id, h.title)
            how = f"[{result.total} hits" + (", not all words" if matched_all is False else "")
            how += ", partial]" if getattr(result, "partial", False) else "]"
            titles[qid] = f"{how} " + (" | ".join(list(seen.values())[:3]) or "(no hits)")
    run.extra["partial"] = partial
    run.extra["matched_all"] = matched_all_true if has_matched_all else None
    run.extra["not_matched_all_with_hits"] = matched_all_false if has_matched_all else None
    run.extra["index_paragraphs"] = summary.paragraphs
    return run, titles


# --- references -------------------------------------------------------------------------

Para = tuple[str, str, str]  # (article id, article title, paragraph text)


def run_whoosh(
    paragraphs: Sequence[Para], index_dir: Path, queries: Sequence[tuple[str, str]]
) -> list[Run]:
    """The tutorial set-up, queried with the default (AND) parser and with OrGroup."""
    from jieba.analyse import ChineseAnalyzer
    from whoosh import index
    from whoosh.fields import ID, TEXT, Schema
    from whoosh.qparser import OrGroup, QueryParser

    started = time.perf_counter()
    analyzer = ChineseAnalyzer()
    schema = Schema(
        article=ID(stored=True),
        title=TEXT(stored=True, analyzer=analyzer),
        content=TEXT(stored=True, analyzer=analyzer),
    )
    index_dir.mkdir(parents=True, exist_ok=True)
    ix = index.create_in(str(index_dir), schema)
    writer = ix.writer()
    for article, title, text in paragraphs:
        writer.add_document(article=article, title=title, content=text)
    writer.commit()
    build = time.perf_counter() - started
    log(f"whoosh build: {len(paragraphs):,} paragraphs in {build:.1f} s")
    runs = []
    with contextlib.closing(ix), contextlib.closing(ix.searcher()) as searcher:
        for name, parser in (
            ("whoosh AND", QueryParser("content", schema)),
            ("whoosh OR", QueryParser("content", schema, group=OrGroup)),
        ):
            run = Run(name, build_seconds=build)
            searcher.search(parser.parse(queries[0][1] if queries else "新闻"), limit=TOP_K)
            for qid, text in queries:
                t0 = time.perf_counter()
                results = searcher.search(parser.parse(text), limit=TOP_K)
                ranked = dedupe(hit["article"] for hit in results)
                run.millis.append((time.perf_counter() - t0) * 1000)
                run.ranked[qid] = ranked
                run.zero_hits += not ranked
            runs.append(run)
    return runs


def _has_word_char(token: str) -> bool:
    return any(c.isalnum() for c in token)


def run_bm25s(paragraphs: Sequence[Para], queries: Sequence[tuple[str, str]]) -> list[Run]:
    """bm25s over cut_for_search tokens: all tokens, and without punctuation/space tokens."""
    import bm25s
    import jieba

    started = time.perf_counter()
    tokens = [list(jieba.cut_for_search(text)) for _a, _t, text in paragraphs]
    tokenise = time.perf_counter() - started
    log(f"bm25s: tokenised {len(paragraphs):,} paragraphs in {tokenise:.1f} s")
    articles = [a for a, _t, _x in paragraphs]
    k = min(TOP_K, len(paragraphs))  # bm25s refuses a k larger than the corpus
    runs = []
    keep: Callable[[str], bool]
    for name, keep in (("bm25s", lambda t: True), ("bm25s -punct", _has_word_char)):
        t0 = time.perf_counter()
        retriever = bm25s.BM25()
        retriever.index([[t for t in doc if keep(t)] for doc in tokens], show_progress=False)
        run = Run(name, build_seconds=tokenise + time.perf_counter() - t0)
        vocab = retriever.vocab_dict
        for qid, text in queries:
            t1 = time.perf_counter()
            q = [t for t in jieba.cut_for_search(text) if keep(t) and t in vocab]
            ranked: list[str] = []
            if q:
                docs, scores = retriever.retrieve([q], k=k, show_progress=False)
                ranked = dedupe(
                    articles[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0
                )
            run.millis.append((time.perf_counter() - t1) * 1000)
            run.ranked[qid] = ranked
            run.zero_hits += not ranked
        runs.append(run)
    return runs


# --- report -----------------------------------------------------------------------------






def print_misses(
    data: BeirSet,
    relevant: dict[str, set[str]],
    product: Run,
    titles: dict[str, str],
    queries: Sequence[tuple[str, str]],
    limit: int,
) -> None:
    misses = [(qid, text) for qid, text in queries
              if qid in relevant and first_rank(product.ranked[qid], relevant[qid]) is None]
    none = sum(1 for qid, _ in misses if not product.ranked[qid])
    print(f"product misses (relevant passage not in the top {TOP_K}): {len(misses)} of "
          f"{len(relevant)}; {none} with no hit at all, {len(misses) - none} with other hits")
    for qid, text in misses[:limit]:
        wanted = " / ".join(sorted(data.passages[p][0] for p in data.qrels[qid]
                                   if p in data.passages))
        print(f"  {text or '(empty question)'}  ({qid})\n      want: {wanted}\n"
              f"      top3: {titles.get(qid, '')}")
    print()


def print_table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    header = ["engine", "R@1", "R@10", "MRR@10", "zero hits", "p50 ms", "p99 ms", "build s"]
    body = [
        [name, f"{m['recall@1']:.3f}", f"{m['recall@10']:.3f}", f"{m['mrr@10']:.3f}",
         f"{m['zero_hits']}/{m['queries']}", f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}",
         f"{m['build_seconds']:.0f}"]
        for name, m in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in body:
        print("| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                for i, (c, w) in enumerate(zip(r, widths, strict=True))) + " |")


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA,
                    help="the shared corpora folder (default: ../shared/corpora)")
    ap.add_argument("--distractors", default=DEFAULT_DISTRACTORS,
                    help="xwlb years (2019 or 2018,2019), .jsonl paths, or none (default: 2019)")
    ap.add_argument("--queries", type=Path, help="BEIR queries.jsonl (default: cmrc2018-trial)")
    ap.add_argument("--qrels", type=Path, help="BEIR qrels.tsv")
    ap.add_argument("--passages", type=Path, help="BEIR corpus.jsonl")
    ap.add_argument("--sample", type=int, default=0, metavar="N",
                    help="evaluate N random queries only (development runs)")
    ap.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    ap.add_argument("--show-misses", type=int, default=0, metavar="N",
                    help="print N questions the product misses, with its top-3 titles")
    ap.add_argument("--skip-references", action="store_true",
                    help="measure the product only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    given = [x is not None for x in (args.queries, args.qrels, args.passages)]
    if any(given) and not all(given):
        ap.error("--queries, --qrels and --passages go together")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    logging.getLogger("jieba").setLevel(logging.WARNING)
    import jieba

    jieba.setLogLevel(logging.WARNING)
    corpora = args.corpora.resolve()
    if args.queries is None:
        base = corpora / DEFAULT_SET
        args.queries, args.qrels, args.passages = (
            base / "queries.jsonl", base / "qrels.tsv", base / "corpus.jsonl"
        )
    data = load_set(args.passages, args.queries, args.qrels)
    distractors = resolve_distractors(args.distractors, corpora)
    if not args.skip_references:
        try:
            import bm25s  # noqa: F401
            import whoosh  # noqa: F401
        except ImportError as exc:
            fail(f"{exc.name} is missing: .venv/bin/pip install -e '.[bench]'")
    # The product's code as imported now is what gets measured; say so if it changes meanwhile.
    commit, fingerprint = git_commit(), product_fingerprint()

    ids = feed_ids(data.passages)
    article_of = {pid: fid for fid, pid in ids.items()}
    queries = [(qid, text) for qid, text in data.queries if qid in data.qrels]
    if args.sample and args.sample < len(queries):
        chosen = set(random.Random(args.seed).sample(range(len(queries)), args.sample))
        queries = [q for i, q in enumerate(queries) if i in chosen]
    relevant = {
        qid: {article_of[p] for p in data.qrels[qid] if p in article_of} or {"(missing)"}
        for qid, _ in queries
    }

    work = Path(tempfile.mkdtemp(prefix="searchsvc-relevance-"))
    try:
        seeds = work / "seeds"
        (seeds / "distractors").mkdir(parents=True)
        for n, path in enumerate(distractors):
            (seeds / "distractors" / f"{n:02d}-{path.name}").symlink_to(path)
        with (seeds / FEED_NAME).open("w", encoding="utf-8") as fh:
            for fid, pid in ids.items():
                title, text = data.passages[pid]
                fh.write(json.dumps({"id": fid, "title": title, "text": text},
                                    ensure_ascii=False) + "\n")

        # The paragraphs as the product reads them, for the references and the id check.
        articles = list(iter_articles(seeds, follow_symlinks=True))
        fed = {a.id for a in articles if a.source == FEED_NAME}
        lost = [fid for fid in ids if fid not in fed]
        if lost:
            data.notes.append(f"{len(lost)} passages are not indexed by the product "
                              f"(e.g. {ids[lost[0]]!r}): their queries count as misses")
        if fed - set(ids):
            fail("the product renamed passage ids; cannot map hits back to passages")
        paragraphs: list[Para] = [
            (a.id, a.title, p.text) for a in articles for p in a.paragraphs
        ]
        log(f"{len(data.passages)} passages + {len(distractors)} distractor file(s): "
            f"{len(articles):,} articles, {len(paragraphs):,} paragraphs; "
            f"{len(queries)} queries")

        product, titles = run_product(seeds, work / "index", queries)
        runs = [product]
        log(f"product: {metrics(product, relevant)}")
        if not args.skip_references:
            runs += run_whoosh(paragraphs, work / "whoosh", queries)
            log("whoosh: done")
            runs += run_bm25s(paragraphs, queries)
            log("bm25s: done")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    results = [(run.name, metrics(run, relevant)) for run in runs]
    pm = results[0][1]
    met = pm["mrr@10"] >= TARGET["mrr@10"] and pm["recall@10"] >= TARGET["recall@10"]
    total = time.perf_counter() - began
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "commit": commit,
        "product_changed_during_run": product_fingerprint() != fingerprint,
        "machine": machine(),
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "total_seconds": round(total, 1),
    }

    if args.show_misses:
        print_misses(data, relevant, product, titles, queries, args.show_misses)
    print_table(results)
    print(f"target (product): MRR@10 >= {TARGET['mrr@10']} and Recall@10 >= "
          f"{TARGET['recall@10']}: {'met' if met else 'NOT met'}; product partial results: "
          f"{pm['partial']}, matched_all: {pm['matched_all']}, errors: {pm['errors'] or 0}")
    for note in data.notes:
        print(f"note: {note}")
    print(json.dumps({
        "set": {"passages": str(args.passages), "queries": str(args.queries),
                "qrels": str(args.qrels), "evaluated_queries": len(queries),
                "sample": args.sample or None, "seed": args.seed if args.sample else None},
        "distractors": [str(p) for p in distractors],
        "paragraphs": len(paragraphs),
        "engines": dict(results),
        "target": {**TARGET, "met": met},
        "notes": data.notes,
        **info,
    }, ensure_ascii=False))
    m = info["machine"]
    print(f"machine: {m['cpus']} cpus ({m['cpu_model']}), {m['mem_gib']} GiB, {m['python']}, "
          f"{m['os']}; load average at end {info['loadavg_end']}")
    print(f"date: {info['date']}   commit: {info['commit']}"
          + ("   (product code changed during the run!)"
             if info["product_changed_during_run"] else ""))
    print(f"command: {info['command']}   total: {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
