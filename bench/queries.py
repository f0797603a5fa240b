"""The query set of ``bench/run.py``, derived reproducibly from the corpus (fixed seed).

    python bench/queries.py [--corpus ../shared/corpora/xwlb] [--years 2019] [--seed N]

prints the queries (class, text), one per line. Four classes, so that pathological queries
show up in the latency figures instead of vanishing into one average:

* ``keyword``: 1–3 words from one article's tags (comma-separated keywords) and title
  (jieba words of 2+ characters), space-separated (AND); every one matches something.
* ``phrase``: a quoted 4–10 character CJK substring of a paragraph (``"..."``).
* ``single-char``: the most frequent CJK characters of the corpus (的, 国, 中, ...).
* ``long``: a 30–60 character sentence of a paragraph, typed as is (no quotes).

The same corpus, seed and sizes always give the same queries in the same order.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jieba

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from searchsvc.corpus import Article, read_source  # noqa: E402

# jieba logs its dictionary loading at INFO; the query list is the output here.
jieba.setLogLevel(logging.WARNING)

DEFAULT_SEED = 20261125
CLASSES = ("keyword", "phrase", "single-char", "long")

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{4,}")
_SENTENCE = re.compile(r"[^。！？；]+[。！？；]?")
# Characters that are query syntax in one of the engines compared (Whoosh's QueryParser,
# the product's quotes and minus): a query holding them would measure the parser, not search.
_SYNTAX = re.compile(r"[\"'():*?~^\[\]{}+\-!\\/<>=]")
_WORD = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9]{2,8}$")


@dataclass(frozen=True)
class BenchQuery:
    """One query of the set and the class it is reported under."""

    cls: str
    text: str


@dataclass(frozen=True)
class QuerySizes:
    """How many queries of each class to derive."""

    keyword: int = 200
    phrase: int = 20
    single_char: int = 10
    long: int = 10


def _title_words(title: str) -> list[str]:
    return [w for w in jieba.cut(title) if _WORD.match(w)]


def _keyword_queries(rng: random.Random, articles: Sequence[Article], n: int) -> list[str]:
    queries: list[str] = []
    seen: set[str] = set()
    for _ in range(n * 20):  # bounded: articles without usable words are skipped
        if len(queries) == n:
            break
        article = rng.choice(articles)
        pool = list(dict.fromkeys([t for t in article.tags if _WORD.match(t)]
                                  + _title_words(article.title)))
        if not pool:
            continue
        words = rng.sample(pool, min(rng.choice((1, 2, 3)), len(pool)))
        query = " ".join(words)
        if query not in seen:
            seen.add(query)
            queries.append(query)
    return queries


def _phrase_queries(rng: random.Random, articles: Sequence[Article], n: int) -> list[str]:
    queries: list[str] = []
    for _ in range(n * 20):
        if len(queries) == n:
            break
        para = rng.choice(rng.choice(articles).paragraphs).text
        runs = _CJK_RUN.findall(para)
        if not runs:
            continue
        run = rng.choice(runs)
        length = rng.randint(4, min(10, len(run)))
        start = rng.randint(0, len(run) - length)
        queries.append(f'"{run[start:start + length]}"')
    return queries


def _long_queries(rng: random.Random, articles: Sequence[Article], n: int) -> list[str]:
    queries: list[str] = []
    for _ in range(n * 50):
        if len(queries) == n:
            break
        para = rng.choice(rng.choice(articles).paragraphs).text
        sentences = [
            s.strip().rstrip("。！？；")
            for s in _SENTENCE.findall(para)
            if 30 <= len(s.strip().rstrip("。！？；")) <= 60
        ]
        sentences = [s for s in sentences if not _SYNTAX.search(s)]
        if sentences:
            queries.append(rng.choice(sentences))
    return queries


def frequent_chars(articles: Sequence[Article], n: int) -> list[str]:
    """The ``n`` most frequent CJK characters of the paragraphs (ties: by code point)."""
    counts: Counter[str] = Counter()
    for article in articles:
        for para in article.paragraphs:
            counts.update(ch for ch in para.text if "\u4e00" <= ch <= "\u9fff")
    return [ch for ch, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def derive_queries(
    articles: Sequence[Article], seed: int = DEFAULT_SEED, sizes: QuerySizes | None = None
) -> list[BenchQuery]:
    """The query set: keyword, phrase, single-character and long queries, in that order."""
    sizes = sizes or QuerySizes()
    # One generator per class: changing one class's size leaves the others' queries alone.
    out = [BenchQuery("keyword", q)
           for q in _keyword_queries(random.Random(seed), articles, sizes.keyword)]
    out += [BenchQuery("phrase", q)
            for q in _phrase_queries(random.Random(seed + 1), articles, sizes.phrase)]
    out += [BenchQuery("single-char", q) for q in frequent_chars(articles, sizes.single_char)]
    out += [BenchQuery("long", q)
            for q in _long_queries(random.Random(seed + 3), articles, sizes.long)]
    return out


def read_years(corpus: Path, years: Sequence[str]) -> list[Article]:
    """Articles of the given years' files, read in place; SystemExit if one is missing."""
    files = [corpus / f"{y}.jsonl" for y in years]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        sys.exit(f"corpus files not found: {', '.join(missing)} (see ../shared/corpora/README.md)")
    return [a for f in files for a in read_source(f, corpus)[0]]


def main() -> None:
    """Print the query set of the given corpus years."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/xwlb")
    parser.add_argument("--years", default="2019", help="comma-separated years")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    for q in derive_queries(read_years(args.corpus, args.years.split(",")), args.seed):
        print(f"{q.cls}\t{q.text}")


if __name__ == "__main__":
    main()
