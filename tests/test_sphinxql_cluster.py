"""The SphinxQL cluster's life (start, stop, a dead shard) and the backend's writes.

Real searchd processes, started and stopped here (every one is stopped by the fixtures'
finalizers, whatever the outcome); the embedded engine, built fresh from the same
articles, says what every write must leave behind.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest

from searchsvc.corpus import Article, Paragraph
from searchsvc.indexing import LiveIndex, chunk_id
from searchsvc.lifecycle import build_from_articles
from searchsvc.literal_index import VersionSubstrings
from searchsvc.query import Filters, parse_query
from searchsvc.ranking import match_spec, rank
from searchsvc.sphinxql import cluster
from searchsvc.sphinxql.documents import COLUMNS, RowIdCollision, row_id, shard_of
from searchsvc.sphinxql.engine import EngineError, SphinxEngine, parse_url

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    cluster.searchd_binary() is None,
    reason="searchd not installed (apt-get install sphinxsearch): the SphinxQL backend "
    "tests need a real server",
)]


def article(n: int, paragraphs: int, text: str = "医院开展两癌筛查") -> Article:
    return Article(
        id=f"w-{n}", source=f"feed-{n % 3}.jsonl", title=f"第{n}篇 卫生健康",
        paragraphs=tuple(
            Paragraph(i, f"{text}第{i}段，编号{n}。", "工作亮点" if i > 1 else None)
            for i in range(1, paragraphs + 1)
        ),
        date=f"2023-01-{1 + n % 28:02d}",
    )


@pytest.fixture(scope="module")
def running_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    directory = tmp_path_factory.mktemp("sphinx-cluster")
    url = cluster.start(directory, shards=2, table="t12")
    try:
        yield directory, url
    finally:
        cluster.stop(directory)


def embedded_hits(tmp_path: Path, articles: list[Article], query: str) -> dict[str, float]:
    build_from_articles(articles, tmp_path)
    live = LiveIndex(tmp_path)
    try:
        searcher = live.snapshot().searcher
        subs = VersionSubstrings.from_searcher(searcher)
        ranked = rank(subs, match_spec(parse_query(query)), 10_000)
        return {searcher.stored_fields(d)["id"]: s for d, s in ranked.hits}
    finally:
        live.close()


def sphinx_hits(engine: SphinxEngine, table_set: str, articles, query: str) -> dict[str, float]:
    names = {row_id(chunk_id(a.id, p.number)): chunk_id(a.id, p.number)
             for a in articles for p in a.paragraphs}
    ranked = engine.reader(table_set).rank(match_spec(parse_query(query)), 10_000)
    return {names[d]: s for d, s in ranked.hits}


# --- the cluster ------------------------------------------------------------------


def test_start_writes_both_table_sets_and_stop_is_idempotent(tmp_path):
    url = cluster.start(tmp_path, shards=3, table="demo")
    try:
        address, table = parse_url(url)
        assert url == f"sphinxql://{address}/demo" and address.startswith("127.0.0.1:")
        coordinator = (tmp_path / "coordinator.conf").read_text()
        for colour in ("blue", "green"):
            assert f"index demo_{colour}\n{{\n    type = distributed" in coordinator
            for n in range(3):
                assert f":demo_{colour}_{n}\n" in coordinator
                assert f"index demo_{colour}_{n}" in (tmp_path / f"shard-{n}.conf").read_text()
        pids = cluster.running(tmp_path)
        assert len(pids) == 4 and all((tmp_path / f"{name}.pid").is_file()
                                      for name in ("coordinator", "shard-0", "shard-2"))
        engine = SphinxEngine(url)
        assert [s.tables["green"] for s in engine.layout.shards] == [
            "demo_green_0", "demo_green_1", "demo_green_2"]
        assert engine.count("blue") == engine.count("green") == 0
        with pytest.raises(cluster.ClusterError, match="already runs"):
            cluster.start(tmp_path, shards=1, table="demo")
    finally:
        cluster.stop(tmp_path)
    assert cluster.running(tmp_path) == []
    cluster.stop(tmp_path)  # stopping a stopped cluster does nothing
    with pytest.raises(EngineError, match="does not answer"):
        _ = SphinxEngine(url).reader("blue").documents


def test_stop_where_nothing_ever_ran_is_a_clear_error(tmp_path):
    with pytest.raises(cluster.ClusterError, match="no searchd cluster"):
        cluster.stop(tmp_path)


@pytest.mark.parametrize(
    "url", ["mysql://127.0.0.1:9306/t", "sphinxql://127.0.0.1/t", "sphinxql://127.0.0.1:9306/",
            "sphinxql://127.0.0.1:9306/a;drop", "127.0.0.1:9306"],
)
def test_bad_backend_urls_are_clear_errors(url):
    with pytest.raises(ValueError, match="backend URL"):
        SphinxEngine(url)


def test_unknown_table_set_is_a_clear_error(running_cluster):
    engine = SphinxEngine(running_cluster[1])
    with pytest.raises(ValueError, match="table set 'purple'"):
        engine.reader("purple")


def test_a_dead_shard_gives_a_partial_answer(tmp_path):
    url = cluster.start(tmp_path, shards=2, table="dead")
    try:
        engine = SphinxEngine(url)
        articles = [article(n, 2) for n in range(20)]
        engine.replace_articles("blue", articles)
        spec = match_spec(parse_query("两癌筛查"))
        whole = engine.reader("blue").rank(spec, 100)
        assert (whole.total, whole.partial) == (40, False)
        os.kill(int((tmp_path / "shard-1.pid").read_text()), signal.SIGKILL)
        time.sleep(0.2)
        half = engine.reader("blue").rank(spec, 100)
        on_shard_0 = sum(2 for a in articles if shard_of(a.id, 2) == 0)
        assert (half.total, half.partial) == (on_shard_0, True)
    finally:
        cluster.stop(tmp_path)
    assert cluster.running(tmp_path) == []


def test_mirrors_are_all_written_and_a_dead_one_is_avoided(tmp_path):
    url = cluster.start(tmp_path, shards=2, table="mirrored", mirrors=2)
    try:
        engine = SphinxEngine(url)
        assert [len(s.addresses) for s in engine.layout.shards] == [2, 2]
        articles = [article(n, 2) for n in range(20)]
        engine.replace_articles("blue", articles)
        engine.delete_articles("blue", ["w-0", "w-1"])
        for number, shard in enumerate(engine.layout.shards):
            expected = sum(2 for a in articles[2:] if shard_of(a.id, 2) == number)
            for address in shard.addresses:  # every copy holds the shard's rows
                rows, _ = engine.execute(address, f"SELECT id FROM {shard.tables['blue']} "
                                                  "LIMIT 1", meta=True)
                assert int(_["total_found"]) == expected, address
        spec = match_spec(parse_query("两癌筛查"))
        os.kill(int((tmp_path / "shard-1-mirror-1.pid").read_text()), signal.SIGKILL)
        time.sleep(0.2)
        # The coordinator may still pick the dead copy for a while (its health checks
        # run every second): such an answer is flagged partial, never silently short;
        # then it answers from the live copy.
        answers = []
        deadline = time.monotonic() + 10
        while len(answers) < 5 or any(a.partial for a in answers[-5:]):
            assert time.monotonic() < deadline, [(a.total, a.partial) for a in answers]
            answers.append(engine.reader("blue").rank(spec, 100))
            time.sleep(0.1)
        assert all(a.partial or a.total == 36 for a in answers)
        assert [(a.total, a.partial) for a in answers[-5:]] == [(36, False)] * 5
    finally:
        cluster.stop(tmp_path)
    assert cluster.running(tmp_path) == []


def test_the_manticore_example_declares_what_the_engine_writes(tmp_path):
    example = (Path(__file__).parent.parent / "docs" / "manticore.conf.example").read_text()
    cluster.write_configs(tmp_path, shards=1, table="searchsvc")
    generated = (tmp_path / "shard-0.conf").read_text()

    def schema(text: str, name: str) -> list[str]:
        body = text.split(f" {name}\n{{", 1)[1].split("}", 1)[0]
        return [line.strip() for line in body.splitlines()
                if line.strip().startswith(("rt_field", "rt_attr", "charset_table"))]

    for name in ("searchsvc_blue_0", "searchsvc_green_0"):
        assert schema(example, name) == schema(generated, name)
    assert "agent = shard0a:9312|shard0b:9312:searchsvc_green_0" in example


# --- writes ---------------------------------------------------------------------


def test_rewrites_and_deletes_leave_what_a_fresh_build_holds(running_cluster, tmp_path):
    engine = SphinxEngine(running_cluster[1])
    engine.clear("green")
    first = [article(n, 3 + n % 4) for n in range(30)]
    summary = engine.replace_articles("green", first, batch=7)
    assert (summary.rows, summary.articles, summary.deleted) == (sum(3 + n % 4 for n in range(30)),
                                                               30, 0)
    assert summary.rows_per_second > 0
    # Article 4 loses paragraphs, article 5 changes its text, articles 6 and 7 go.
    changed = {4: article(4, 1), 5: article(5, 3, "门诊大楼落成")}
    summary = engine.replace_articles("green", changed.values())
    assert summary.deleted == (3 + 4 % 4 - 1) + (3 + 5 % 4 - 3)
    assert engine.delete_articles("green", ["w-6", "w-7", "no-such-article"]) == 5 + 6
    now = [changed.get(n, a) for n, a in enumerate(first) if n not in (6, 7)]
    assert engine.count("green") == sum(len(a.paragraphs) for a in now)
    # The figures BM25 needs are kept beside the tables, right after every write.
    kept = SphinxEngine(running_cluster[1]).statistics("green")
    assert kept.documents == engine.count("green")
    assert kept == engine.recount("green")
    reader = engine.reader("green")
    assert [p["id"] for p in reader.article_paragraphs("w-4")] == ["w-4-p1"]
    assert reader.article_paragraphs("w-6") == []
    for query in ("两癌筛查", "门诊", "编号5", "卫生健康 -两癌"):
        expected = embedded_hits(tmp_path / query, now, query)
        assert sphinx_hits(engine, "green", now, query).keys() == expected.keys(), query


def test_the_other_table_set_is_untouched(running_cluster):
    engine = SphinxEngine(running_cluster[1])
    engine.clear("blue")
    engine.replace_articles("blue", [article(n, 2) for n in range(5)])
    engine.clear("green")
    engine.replace_articles("green", [article(n, 1) for n in range(50)])
    engine.delete_articles("green", ["w-1"])
    assert engine.count("blue") == 10
    assert engine.reader("blue").rank(match_spec(parse_query("第2段")), 10).total == 5
    assert engine.reader("green").rank(match_spec(parse_query("第2段")), 10).total == 0


def test_a_row_id_collision_is_reported_and_nothing_is_overwritten(running_cluster):
    engine = SphinxEngine(running_cluster[1])
    engine.clear("green")
    victim = article(1, 1)
    # A stored row of another paragraph under the row id victim's paragraph will need
    # (what a blake2b collision would leave): written the way the engine writes rows.
    values = dict.fromkeys(COLUMNS, "")
    values.update(id=row_id(chunk_id(victim.id, 1)), para_id="other-p9", article_id="other",
                  paragraph=9, date=0, text_units=0, context_units=0, present=0,
                  article_key=1, seq=0, chars="31", context="")
    address, table = engine.layout.shards[0].addresses[0], engine.layout.shards[0].tables["green"]
    host, port = address.split(":")
    with pymysql.connect(host=host, port=int(port), autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute(f"REPLACE INTO {table} ({','.join(values)}) VALUES "
                        f"({','.join(['%s'] * len(values))})", list(values.values()))
    with pytest.raises(RowIdCollision, match="'other-p9' \\(stored\\) and 'w-1-p1'"):
        engine.replace_articles("green", [victim])
    rows = engine.reader("green").stored_fields(row_id(chunk_id(victim.id, 1)))
    assert rows["id"] == "other-p9"
    assert engine.count("green") == 1  # nothing of the colliding batch was written


def test_counts_past_the_first_window_stay_exact(running_cluster):
    """More matches, articles, sources and paragraphs than one server window (1,000)."""
    engine = SphinxEngine(running_cluster[1])
    engine.clear("green")
    many = [replace(article(n, 3 if n % 3 == 0 else 2), source=f"s/{n}.jsonl")
            for n in range(1200)]
    long = replace(article(5000, 1100), source="long.jsonl")
    engine.replace_articles("green", [*many, long])
    reader = engine.reader("green")
    spec = match_spec(parse_query("两癌筛查"))
    plain = reader.rank(spec, 10)
    assert (plain.total, plain.partial) == (400 * 3 + 800 * 2 + 1100, False)
    grouped = reader.rank(spec, 3000, group=True)
    assert (grouped.total, grouped.partial, len(grouped.hits)) == (1201 * 2, False, 1201 * 2)
    assert grouped.collapsed == {"w-5000": 1098, **{f"w-{n}": 1 for n in range(0, 1200, 3)}}
    paragraphs = reader.article_paragraphs("w-5000")
    assert [p["paragraph"] for p in paragraphs] == list(range(1, 1101))
    sources, dated = reader.filter_choices()
    assert len(sources) == 1201 and "long.jsonl" in sources and dated


def test_dates_sources_and_optional_fields_round_trip(running_cluster, tmp_path):
    engine = SphinxEngine(running_cluster[1])
    engine.clear("green")
    odd = Article(
        id="odd", source="子目录/「引号」'and\"quotes\\.jsonl", title="",
        paragraphs=(Paragraph(1, "ＥＣＭＯ 醫院 𠀀", None, "caption"),),
        subtitle="", date=None, url=None, tags=("a", "b"),
    )
    engine.replace_articles("green", [odd, article(3, 1)])
    build_from_articles([odd, article(3, 1)], tmp_path)
    live = LiveIndex(tmp_path)
    try:
        searcher = live.snapshot().searcher
        expected = [searcher.stored_fields(n) for n in range(2)]
    finally:
        live.close()
    reader = engine.reader("green")
    assert [reader.stored_fields(row_id(d["id"])) for d in expected] == expected
    assert reader.filter_choices() == (sorted([odd.source, "feed-0.jsonl"]), True)
    ranked = reader.rank(match_spec(parse_query("ecmo")), 10, filters=Filters(source=odd.source))
    assert ranked.total == 1
