"""Index lifecycle: incremental update, atomic switch, rollback, the lock, kills, live reload."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import SEEDS, engine_of, serve_process

from searchsvc.cli import main
from searchsvc.indexing import current_version, list_versions
from searchsvc.lifecycle import rollback, sync
from searchsvc.locking import LOCK_OWNER_FILE, IndexBusyError, index_lock
from searchsvc.manifest import read_manifest
from searchsvc.search import search


def feed_lines(n: int, start: int = 0, marker: str = "编号") -> list[str]:
    """``n`` JSONL articles built from seed sentences, each with a unique literal marker."""
    rng = random.Random(start)
    sentences = [
        s + "。"
        for path in sorted(SEEDS.glob("*.txt"))
        for s in path.read_text(encoding="utf-8").replace("\n", "").split("。")
        if 10 < len(s) < 120
    ]
    lines = []
    for i in range(start, start + n):
        paras = ["".join(rng.sample(sentences, 3)) for _ in range(3)]
        paras[1] = f"本篇{marker}{i}号：" + paras[1]
        lines.append(json.dumps(
            {"id": f"feed-{i}", "title": f"新闻第{i}篇", "text": "\n".join(paras),
             "date": "2024-05-01", "tags": "测试,新闻"},
            ensure_ascii=False,
        ))
    return lines


def write_feed(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def hit_ids(index_dir: Path, literal: str) -> list[str]:
    """Paragraphs containing ``literal`` (quoted: exact, never the partial-match fallback)."""
    with engine_of(index_dir) as s:
        return [h.id for h in search(s, f'"{literal}"', size=100).hits]


def doc_ids(index_dir: Path) -> list[str]:
    with engine_of(index_dir) as s:
        return [f["id"] for f in s.searcher.all_stored_fields()]


def assert_consistent(index_dir: Path) -> None:
    """No duplicate or missing paragraphs: the documents are exactly the manifest's."""
    version = current_version(index_dir)
    manifest = read_manifest(index_dir / version)
    ids = doc_ids(index_dir)
    assert len(ids) == len(set(ids)), "duplicate paragraphs"
    assert len(ids) == manifest.paragraphs
    assert {i.rsplit("-p", 1)[0] for i in ids} == set(manifest.articles)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


@contextmanager
def running_server(index_dir: Path, log_path: Path) -> Iterator[str]:
    """A real `searchsvc serve` on ``index_dir``; yields its base URL."""
    env = {"SEARCHSVC_RELOAD_INTERVAL": "0.5"}
    with serve_process(index_dir, log_path, "--threads", "4", env=env) as (_server, port):
        yield f"http://127.0.0.1:{port}"


class Prober(threading.Thread):
    """Queries the server continuously; counts answers and failures."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base, self.ok, self.failures, self.stopped = base, 0, [], threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                body = _get_json(f"{self.base}/api/search?q=ECMO")
                assert body["total"] >= 1, body
                self.ok += 1
            except (OSError, AssertionError, ValueError) as err:
                self.failures.append(repr(err))

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    root = tmp_path / "seeds"
    shutil.copytree(SEEDS, root)
    (root / "feeds").mkdir()
    write_feed(root / "feeds" / "a.jsonl", feed_lines(20))
    return root


def test_update_adds_changes_and_deletes_without_retokenising(seeds: Path, tmp_path: Path):
    index_dir = tmp_path / "index"
    first = sync(seeds, index_dir)
    assert first.switched and first.added == first.articles == 28
    before = current_version(index_dir)

    # nothing changed: no new version
    again = sync(seeds, index_dir)
    assert not again.switched and again.version == before and again.unchanged == 28

    # add a page, edit one feed article, remove a page
    (seeds / "new.txt").write_text(
        "全新的标题\n\n这是一篇新到的文章，提到了独一无二的词语甲乙丙丁。\n", encoding="utf-8"
    )
    lines = feed_lines(20)
    lines[3] = lines[3].replace("本篇编号3号", "本篇编号3号修改后")
    write_feed(seeds / "feeds" / "a.jsonl", lines)
    (seeds / "004_ae8107586a0ecb83.txt").unlink()
    summary = sync(seeds, index_dir)
    assert (summary.added, summary.updated, summary.deleted) == (1, 1, 1)
    assert summary.unchanged == 19 + 7  # the other feed articles and pages: not re-indexed
    assert summary.switched and current_version(index_dir) != before

    assert hit_ids(index_dir, "甲乙丙丁")
    assert hit_ids(index_dir, "编号3号修改后") == ["feed-3-p2"]
    assert hit_ids(index_dir, "大足区邮亭中心卫生院") == []
    assert_consistent(index_dir)

    # the previous version is intact and still answers as before
    (index_dir / "CURRENT").write_text(before)
    assert hit_ids(index_dir, "大足区邮亭中心卫生院")
    assert hit_ids(index_dir, "甲乙丙丁") == []


def test_add_indexes_given_files_only(seeds: Path, tmp_path: Path, runner):
    index_dir = tmp_path / "index"
    sync(seeds, index_dir)
    outside = tmp_path / "incoming.jsonl"
    write_feed(outside, feed_lines(5, start=100, marker="新增"))
    result = runner.invoke(
        main, ["add", str(outside), "--seeds", str(seeds), "--index", str(index_dir)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("add: 5 added, 0 updated, 0 deleted")
    assert (seeds / "incoming.jsonl").exists()  # sources stay in one place
    assert hit_ids(index_dir, "新增104号") == ["feed-104-p2"]
    # a later full update sees nothing new
    assert not sync(seeds, index_dir).switched


def test_build_switches_atomically_and_rollback(seeds: Path, tmp_path: Path, runner):
    index_dir = tmp_path / "index"
    sync(seeds, index_dir)
    v1 = current_version(index_dir)
    (seeds / "extra.txt").write_text("标题\n\n正文里有词语戊己庚辛。\n", encoding="utf-8")
    result = runner.invoke(main, ["build", "--seeds", str(seeds), "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    v2 = current_version(index_dir)
    assert v2 != v1 and list_versions(index_dir) == [v1, v2]
    assert hit_ids(index_dir, "戊己庚辛")

    result = runner.invoke(main, ["rollback", "--index", str(index_dir)])
    assert result.exit_code == 0 and f"from {v2} to {v1}" in result.output
    assert current_version(index_dir) == v1 and hit_ids(index_dir, "戊己庚辛") == []
    with pytest.raises(Exception, match="no previous version"):
        rollback(index_dir)


@pytest.mark.slow
def test_second_run_waits_or_fails_clearly_on_the_lock(seeds: Path, tmp_path: Path, runner):
    index_dir = tmp_path / "index"
    with index_lock(index_dir):
        with pytest.raises(IndexBusyError, match="another build or update is running"):
            sync(seeds, index_dir)
        result = runner.invoke(main, ["update", "--seeds", str(seeds), "--index", str(index_dir)])
        assert result.exit_code == 1
        assert f"(pid {os.getpid()})" in result.output and "--wait" in result.output
    assert sync(seeds, index_dir, wait=5).switched


@pytest.mark.slow
def test_stale_lock_of_a_killed_process_is_recovered(seeds: Path, tmp_path: Path, caplog):
    index_dir = tmp_path / "index"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from searchsvc.locking import index_lock\n"
         "with index_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(index_dir)],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout.readline().strip() == b"held"
    with pytest.raises(IndexBusyError):
        sync(seeds, index_dir)
    holder.kill()
    holder.wait()
    holder.stdout.close()
    assert (index_dir / LOCK_OWNER_FILE).exists()  # left behind by the killed process
    with caplog.at_level("WARNING"):
        assert sync(seeds, index_dir).switched
    assert "recovered the lock" in caplog.text


def test_broken_sources_are_reported_and_skipped(seeds: Path, tmp_path: Path, runner):
    index_dir = tmp_path / "index"
    (seeds / "broken.txt").write_bytes(b"\xff\xfe\x00\x00garbage\x00\xff" * 50)
    write_feed(seeds / "feeds" / "b.jsonl", feed_lines(2, start=50) + ["{not json"])
    result = runner.invoke(main, ["update", "--seeds", str(seeds), "--index", str(index_dir)])
    assert result.exit_code == 3, result.output
    assert "broken.txt" in result.output and "b.jsonl:3" in result.output
    assert "2 skipped with problems" in result.output.splitlines()[-1]
    assert hit_ids(index_dir, "编号51号") == ["feed-51-p2"]


def _limit_file_size() -> None:
    # Writes past 2 MB fail with EFBIG, as on a full disk (SIGXFSZ ignored so it is an error).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))


@pytest.mark.slow
def test_write_failure_is_a_clear_error_and_the_live_index_is_untouched(
    seeds: Path, tmp_path: Path
):
    index_dir = tmp_path / "index"
    sync(seeds, index_dir)
    live = current_version(index_dir)
    write_feed(seeds / "feeds" / "big.jsonl", feed_lines(1500, start=1000))
    proc = subprocess.run(
        [sys.executable, "-m", "searchsvc", "update", "--seeds", str(seeds),
         "--index", str(index_dir)],
        capture_output=True, text=True, preexec_fn=_limit_file_size, timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not write the index" in proc.stderr and "live index is untouched" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert current_version(index_dir) == live and list_versions(index_dir) == [live]
    assert not [p for p in index_dir.iterdir() if p.name.endswith(".building")]
    assert hit_ids(index_dir, "编号1001号") == [] and hit_ids(index_dir, "ECMO")


ARTICLES_TO_KILL_IN = 4000


@pytest.mark.slow
def test_sigkill_during_build_and_update_leaves_the_served_index_intact(
    seeds: Path, tmp_path: Path
):
    index_dir = tmp_path / "index"
    sync(seeds, index_dir)
    live = current_version(index_dir)
    # Big enough that every kill below lands before the new version is published: with
    # 1,500 articles a build published at ~3.3 s on a quick machine, before the 4 s kill.
    # Here the writer starts at ~1.3 s and publishes at ~6 s.
    write_feed(seeds / "feeds" / "big.jsonl", feed_lines(ARTICLES_TO_KILL_IN, start=2000))
    with running_server(index_dir, tmp_path / "server.log") as base:
        prober = Prober(base)
        prober.start()
        for command, delay in (("build", 1.5), ("update", 2.5), ("build", 4.0)):
            proc = subprocess.Popen(
                [sys.executable, "-m", "searchsvc", command, "--seeds", str(seeds),
                 "--index", str(index_dir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            time.sleep(delay)
            if proc.poll() is not None or current_version(index_dir) != live:
                pytest.fail(f"{command} published before it could be killed; "
                            "use a bigger feed")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            # still serving the last good version, fully searchable
            assert current_version(index_dir) == live
            assert hit_ids(index_dir, "ECMO") and hit_ids(index_dir, "编号2100号") == []
            assert_consistent(index_dir)
        summary = sync(seeds, index_dir)
        time.sleep(1)  # the server switches to the new version while being queried
        prober.stop()
        assert prober.failures == [] and prober.ok > 20
        found = _get_json(f"{base}/api/search?q=" + urllib.parse.quote("编号2100号"))
        assert found["total"] == 1
    assert summary.switched and summary.added == ARTICLES_TO_KILL_IN
    assert not [p for p in index_dir.iterdir() if p.name.endswith(".building")]
    assert hit_ids(index_dir, "编号2100号") == ["feed-2100-p2"]
    assert_consistent(index_dir)


@pytest.mark.slow
def test_running_server_picks_up_updates_without_failed_requests(seeds: Path, tmp_path: Path):
    index_dir = tmp_path / "index"
    sync(seeds, index_dir)
    with running_server(index_dir, tmp_path / "server.log") as base:
        before = _get_json(f"{base}/healthz")
        write_feed(seeds / "feeds" / "new.jsonl", feed_lines(300, start=5000, marker="到达"))
        (seeds / "late.txt").write_text("晚到的稿件\n\n这篇稿件提到了罕见的词语寅卯辰巳。\n",
                                         encoding="utf-8")
        edited = feed_lines(20)
        edited[7] = edited[7].replace("本篇编号7号", "本篇编号7号（已更正）")
        write_feed(seeds / "feeds" / "a.jsonl", edited)
        (seeds / "002_6529edb4bac6b58f.txt").unlink()
        prober = Prober(base)
        prober.start()
        updater = subprocess.run(
            [sys.executable, "-m", "searchsvc", "update", "--seeds", str(seeds),
             "--index", str(index_dir)],
            capture_output=True, text=True, timeout=300,
        )
        assert updater.returncode == 0, updater.stdout + updater.stderr
        done = time.monotonic()

        def served() -> list[str]:
            """What the server does not show yet (each server thread switches on its own
            within the reload interval, so every check must hold on every thread)."""
            missing = []
            q = urllib.parse.quote
            if _get_json(f"{base}/api/search?size=100&q=" + q("到达"))["total"] != 300:
                missing.append("the 300 feed articles")
            if _get_json(f"{base}/api/search?q=" + q("寅卯辰巳"))["total"] != 1:
                missing.append("the new page")
            fixed = _get_json(f"{base}/api/search?q=" + q("编号7号（已更正）"))
            if [h["id"] for h in fixed["hits"]] != ["feed-7-p2"]:
                missing.append("the edited article")
            try:
                _get_json(f"{base}/api/articles/002_6529edb4bac6b58f-3")
                missing.append("the removal")
            except urllib.error.HTTPError as gone:
                gone.close()
                if gone.code != 404:
                    missing.append(f"the removal ({gone.code})")
            if _get_json(f"{base}/healthz")["version"] != current_version(index_dir):
                missing.append("the new version in /healthz")
            return missing

        while missing := served():
            assert time.monotonic() - done < 5, f"not served 5 s after the update: {missing}"
            time.sleep(0.1)
        # A thread that looked at CURRENT just before the switch keeps the old version for
        # up to one reload interval (0.5 s here); past that, every thread must serve the new.
        time.sleep(0.6)
        for _ in range(20):  # and it stays so, whichever thread answers
            assert served() == []
        prober.stop()
        assert prober.failures == [] and prober.ok > 0
        after = _get_json(f"{base}/healthz")
        assert after["version"] != before["version"]
        assert after["articles"] == before["articles"] - 3 + 300 + 1


def test_user_dictionary_and_synonyms_take_effect_on_rebuild(seeds: Path, tmp_path: Path):
    from searchsvc.analysis import jieba_words

    index_dir = tmp_path / "index"
    (seeds / "userdict.txt").unlink(missing_ok=True)
    (seeds / "synonyms.txt").unlink(missing_ok=True)
    (seeds / "lab.txt").write_text("实验室新闻\n\n本院的甲乙医疗联盟今天成立。\n", encoding="utf-8")
    sync(seeds, index_dir)
    with engine_of(index_dir) as s:
        assert not search(s, "人工肺").matched_all  # no literal match
    assert "甲乙医疗联盟" not in list(jieba_words("甲乙医疗联盟"))

    (seeds / "userdict.txt").write_text("甲乙医疗联盟 50 nt\n", encoding="utf-8")
    (seeds / "synonyms.txt").write_text("ECMO 人工肺\n", encoding="utf-8")
    summary = sync(seeds, index_dir)  # a changed user dictionary re-indexes everything
    assert summary.switched and summary.added == summary.articles
    version = current_version(index_dir)
    assert (index_dir / version / "userdict.txt").read_text().startswith("甲乙医疗联盟")
    assert "甲乙医疗联盟" in list(jieba_words("本院的甲乙医疗联盟今天成立"))
    with engine_of(index_dir) as s:
        found = search(s, "人工肺")
        assert found.matched_all and found.total >= 1
        assert all("<mark>ECMO</mark>" in h.highlight for h in found.hits)
        ranked = search(s, "甲乙医疗联盟")
        assert [h.id for h in ranked.hits] == ["lab-1-p1"]

    (seeds / "synonyms.txt").write_text("ECMO 人工肺\n新冠 新型冠状病毒\n", encoding="utf-8")
    again = sync(seeds, index_dir)  # synonyms only: a new version, nothing re-indexed
    assert again.switched and again.added == 0 and again.updated == 0
    with engine_of(index_dir) as s:
        covid = search(s, "新型冠状病毒")
        assert covid.matched_all and "<mark>新冠</mark>" in covid.hits[0].highlight
