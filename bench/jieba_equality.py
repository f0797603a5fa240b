"""Is the product's segmenter jieba, word for word? (jieba-rs behind jieba's rules.)

Cuts every title and paragraph of a corpus (normalised as the index does) with
``searchsvc.analysis.cut`` and with the reference, ``jieba.dt.cut`` of jieba 0.42.1, and
counts the texts whose words differ. Two passes in one process: first with jieba's own
dictionary, then after a user dictionary that stresses what ``add_word`` can do: the
project's ``seeds/userdict.txt``, words jieba's HMM found in the corpus (new to the
dictionary, some with a frequency, some without, some tagged), and dictionary words given
new frequencies (the case where jieba and jieba-rs keep their totals differently).

    .venv/bin/python bench/jieba_equality.py [--corpus ../shared/corpora/xwlb]

Exit status 1 if any text differs (the first few are printed).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # searchsvc; common is beside

import jieba  # noqa: E402
from common import ROOT, git_commit, machine  # noqa: E402

from searchsvc.analysis import (  # noqa: E402
    cut,
    load_user_dictionary,
    normalize,
    use_jieba_rs,
    warm_up,
)

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "xwlb"


def corpus_texts(corpus: Path) -> Iterator[str]:
    """Every title and paragraph of the JSONL feeds under ``corpus``, normalised."""
    for path in sorted(corpus.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                article = json.loads(line)
                for text in [article.get("title", ""), *article.get("text", "").split("\n")]:
                    if text:
                        yield normalize(text).text


def compare(texts: list[str], label: str) -> int:
    """Cut every text both ways; print the figures and the first differences."""
    reference_s = product_s = 0.0
    words = differ = 0
    for text in texts:
        t0 = time.perf_counter()
        expected = list(jieba.dt.cut(text))
        t1 = time.perf_counter()
        got = list(cut(text))
        t2 = time.perf_counter()
        reference_s += t1 - t0
        product_s += t2 - t1
        words += len(expected)
        if got != expected:
            differ += 1
            if differ <= 5:
                print(f"  DIFFERENT: {text[:60]!r}")
                print(f"    jieba: {expected[:20]}\n    ours:  {got[:20]}")
    print(
        f"{label}: {len(texts):,} texts, {words:,} words, {differ} texts differ; "
        f"jieba {reference_s:.1f} s, ours {product_s:.1f} s ({reference_s / product_s:.1f}×)"
    )
    return differ


def stress_dictionary(texts: list[str], path: Path) -> int:
    """Write a user dictionary of words the corpus holds (see the module docstring)."""
    rng = random.Random(20261204)
    found: dict[str, None] = {}
    for text in texts[::50]:
        for word in jieba.dt.cut(text):
            if len(word) > 1 and not jieba.dt.FREQ.get(word) and word.isalnum():
                found[word] = None
    new_words = rng.sample(sorted(found), min(400, len(found)))
    known = [w for w, f in jieba.dt.FREQ.items() if f and len(w) > 1]
    reweighted = rng.sample(sorted(known), 400)
    lines = (ROOT / "seeds" / "userdict.txt").read_text("utf-8").splitlines()
    for i, word in enumerate(new_words):
        forms = [word, f"{word} {rng.randint(1, 50)}", f"{word} {rng.randint(1, 50)} nz"]
        lines.append(forms[i % 3])
    for i, word in enumerate(reweighted):
        lines.append(f"{word} {rng.choice([1, 3, 100, 5000, 200000])}" if i % 2 else word)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--dictionary", type=Path, default=Path("/tmp/jieba-equality-userdict.txt"))
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}: nothing to compare", file=sys.stderr)
        return 2
    print(f"commit {git_commit()}; machine {machine()}")
    warm_up()
    use_jieba_rs()
    texts = list(corpus_texts(args.corpus))
    differ = compare(texts, "jieba's dictionary")
    entries = stress_dictionary(texts, args.dictionary)
    load_user_dictionary(args.dictionary)
    differ += compare(texts, f"with a user dictionary of {entries} lines ({args.dictionary})")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
