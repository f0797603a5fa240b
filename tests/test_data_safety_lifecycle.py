"""Issue 11 (data safety): renames, moved ids, forced rebuilds, lineage, problem sources and
writer processes never lose, hide or stall articles. Real CLI, real index in tmp_path."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import engine_of

from searchsvc.cli import main
from searchsvc.indexing import current_version, list_versions, read_meta
from searchsvc.lifecycle import build_from_articles, sync
from searchsvc.manifest import read_manifest
from searchsvc.search import search


def article(aid: str, word: str) -> str:
    """One JSONL line whose text holds the unique literal ``word``."""
    text = f"本报讯 今天{word}正式发布。\n记者从有关部门获悉，{word}相关工作进展顺利。"
    return json.dumps({"id": aid, "title": f"关于{word}的报道", "text": text}, ensure_ascii=False)


def write(path: Path, *lines: str) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def cli(runner: CliRunner, *args: str, seeds: Path, index: Path) -> Result:
    """Run a searchsvc command on these directories (rollback takes no --seeds)."""
    extra = ["--index", str(index)] if args[0] == "rollback" else [
        "--seeds", str(seeds), "--index", str(index)
    ]
    return runner.invoke(main, [*args, *extra])


def hits(index: Path, literal: str) -> list[tuple[str, str]]:
    """(paragraph id, source) of the paragraphs containing ``literal`` (quoted: exact)."""
    with engine_of(index) as s:
        return [(h.id, h.source) for h in search(s, f'"{literal}"', size=100).hits]


def articles(index: Path) -> dict[str, str]:
    """The current version's articles (id → source), checked against its documents."""
    version = current_version(index)
    manifest = read_manifest(index / version)
    with engine_of(index) as s:
        docs = [(f["article_id"], f["source"], f["id"]) for f in s.searcher.all_stored_fields()]
    assert len({d[2] for d in docs}) == len(docs) == manifest.paragraphs, "documents ≠ manifest"
    served = {aid: source for aid, source, _id in docs}
    assert served == {aid: a.source for aid, a in manifest.articles.items()}
    return served


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    root = tmp_path / "seeds"
    root.mkdir()
    return root


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return tmp_path / "index"


# --- 1. renamed feeds and ids that move between feeds ----------------------------------


def test_renamed_feed_keeps_its_articles(runner, seeds: Path, index: Path):
    write(seeds / "a.jsonl", article("x1", "甲一号"), article("x2", "甲二号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    (seeds / "a.jsonl").rename(seeds / "b.jsonl")
    for _ in range(2):
        result = cli(runner, "update", seeds=seeds, index=index)
        assert result.exit_code == 0, result.output
        assert "2 articles" in result.output.splitlines()[-1]
    assert articles(index) == {"x1": "b.jsonl", "x2": "b.jsonl"}
    assert hits(index, "甲二号")[0] == ("x2-p1", "b.jsonl")  # stored source follows the move


@pytest.mark.parametrize("origin, target", [("a.jsonl", "b.jsonl"), ("b.jsonl", "a.jsonl")])
def test_article_moved_between_feeds_in_one_update(
    runner, seeds: Path, index: Path, origin: str, target: str
):
    write(seeds / origin, article("m1", "留下号"), article("m2", "搬家号"))
    write(seeds / target, article("t1", "本地号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    write(seeds / origin, article("m1", "留下号"))
    write(seeds / target, article("t1", "本地号"), article("m2", "搬家号"))
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert articles(index) == {"m1": origin, "m2": target, "t1": target}
    assert hits(index, "搬家号") == [("m2-p1", target), ("m2-p2", target)]


@pytest.mark.parametrize("command", ["update", "add"])
def test_article_moved_in_two_steps_added_first(runner, seeds: Path, index: Path, command: str):
    """The id is added to b before it is removed from a: for a while both hold it."""
    write(seeds / "a.jsonl", article("m", "搬家号"), article("a1", "甲方号"))
    write(seeds / "b.jsonl", article("b1", "乙方号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0

    write(seeds / "b.jsonl", article("b1", "乙方号"), article("m", "搬家号新版"))
    step = [command, str(seeds / "b.jsonl")] if command == "add" else [command]
    result = cli(runner, *step, seeds=seeds, index=index)
    assert result.exit_code == 3, result.output  # a true duplicate: reported
    assert "b.jsonl: article id 'm' already comes from a.jsonl" in result.output
    assert articles(index)["m"] == "a.jsonl" and hits(index, "搬家号新版") == []

    write(seeds / "a.jsonl", article("a1", "甲方号"))
    step = [command, str(seeds / "a.jsonl")] if command == "add" else [command]
    result = cli(runner, *step, seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert articles(index) == {"a1": "a.jsonl", "b1": "b.jsonl", "m": "b.jsonl"}
    assert [h[0] for h in hits(index, "搬家号新版")] == ["m-p1", "m-p2"]


@pytest.mark.parametrize("command", ["update", "add"])
def test_article_moved_in_two_steps_removed_first(runner, seeds: Path, index: Path, command):
    write(seeds / "a.jsonl", article("m", "搬家号"), article("a1", "甲方号"))
    write(seeds / "b.jsonl", article("b1", "乙方号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    for name, lines in (("a.jsonl", [article("a1", "甲方号")]),
                        ("b.jsonl", [article("b1", "乙方号"), article("m", "搬家号")])):
        write(seeds / name, *lines)
        step = [command, str(seeds / name)] if command == "add" else [command]
        result = cli(runner, *step, seeds=seeds, index=index)
        assert result.exit_code == 0, result.output
    assert articles(index) == {"a1": "a.jsonl", "b1": "b.jsonl", "m": "b.jsonl"}


def test_add_of_a_renamed_feed_moves_its_articles_on_the_next_update(
    runner, seeds: Path, index: Path
):
    write(seeds / "a.jsonl", article("x1", "甲一号"), article("x2", "甲二号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    (seeds / "a.jsonl").rename(seeds / "b.jsonl")
    # `add` reads only b.jsonl: a.jsonl still provides the ids, and says it is gone
    result = cli(runner, "add", str(seeds / "b.jsonl"), seeds=seeds, index=index)
    assert result.exit_code == 3, result.output
    assert "no longer on disk" in result.output
    assert articles(index) == {"x1": "a.jsonl", "x2": "a.jsonl"}
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert articles(index) == {"x1": "b.jsonl", "x2": "b.jsonl"}


def test_duplicate_keeps_the_current_owner_then_a_deterministic_one(
    runner, seeds: Path, index: Path
):
    write(seeds / "b.jsonl", article("d", "重复号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    write(seeds / "a.jsonl", article("d", "重复号甲版"))  # sorts first, but b owns the id
    write(seeds / "c.jsonl", article("d", "重复号丙版"))
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 3
    assert articles(index) == {"d": "b.jsonl"}
    (seeds / "b.jsonl").unlink()  # the owner goes: the first remaining source in name order
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 3 and "c.jsonl: article id 'd' already comes from a.jsonl" in (
        result.output
    )
    assert articles(index) == {"d": "a.jsonl"} and hits(index, "重复号甲版")
    (seeds / "a.jsonl").unlink()
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert articles(index) == {"d": "c.jsonl"} and hits(index, "重复号丙版")


# --- 2. a forced full rebuild reads every source ----------------------------------------


def _three_sources(seeds: Path) -> None:
    write(seeds / "a.jsonl", article("a1", "甲方号"), article("a2", "甲乙号"))
    write(seeds / "b.jsonl", article("b1", "乙方号"))
    (seeds / "page.txt").write_text("本地新闻\n\n这是一篇讲述丙丁戊己的稿件。\n", encoding="utf-8")


def test_add_after_a_user_dictionary_change_keeps_every_source(runner, seeds: Path, index: Path):
    _three_sources(seeds)
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    before = articles(index)
    assert len(before) == 4
    (seeds / "userdict.txt").write_text("甲方号 100 n\n", encoding="utf-8")
    result = cli(runner, "add", str(seeds / "b.jsonl"), seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert articles(index) == before
    assert hits(index, "丙丁戊己") and hits(index, "甲乙号")


def test_add_with_an_unreadable_manifest_keeps_every_source(runner, seeds: Path, index: Path):
    _three_sources(seeds)
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    before = articles(index)
    (index / current_version(index) / "manifest.json").write_text("{", encoding="utf-8")
    result = cli(runner, "add", str(seeds / "b.jsonl"), seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert articles(index) == before


def test_dictionary_rebuild_keeps_the_articles_of_an_unreadable_source(
    runner, seeds: Path, index: Path
):
    _three_sources(seeds)
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    (seeds / "a.jsonl").write_bytes(b"\xff\xfe\x00\x00binary\x00" * 20)  # a bad copy
    (seeds / "userdict.txt").write_text("乙方号 100 n\n", encoding="utf-8")
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 3, result.output
    assert "a.jsonl: not UTF-8 or GB18030 text" in result.output
    assert set(articles(index)) == {"a1", "a2", "b1", "page-1"}
    assert hits(index, "甲乙号") == [("a2-p1", "a.jsonl"), ("a2-p2", "a.jsonl")]


# --- 3. lineage: rollback and prune follow parents, never name order --------------------


def test_rollback_follows_the_parent_never_the_rolled_back_version(
    runner, seeds: Path, index: Path
):
    write(seeds / "a.jsonl", article("a1", "甲方号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    v1 = current_version(index)
    assert read_meta(index / v1).parent is None
    write(seeds / "a.jsonl", article("a1", "甲方号"), article("bad", "错误号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    v2 = current_version(index)
    assert read_meta(index / v2).parent == v1
    result = cli(runner, "rollback", seeds=seeds, index=index)
    assert result.exit_code == 0 and f"from {v2} to {v1}" in result.output
    write(seeds / "a.jsonl", article("a1", "甲方号"), article("good", "正确号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    v3 = current_version(index)
    assert read_meta(index / v3).parent == v1
    assert list_versions(index) == sorted([v1, v3])  # v2 is not in v3's line: pruned
    result = cli(runner, "rollback", seeds=seeds, index=index)
    assert result.exit_code == 0 and f"from {v3} to {v1}" in result.output
    assert current_version(index) == v1 and hits(index, "错误号") == []
    result = cli(runner, "rollback", seeds=seeds, index=index)
    assert result.exit_code == 1 and "no previous version" in result.output


def test_build_records_the_version_it_replaces_and_prune_keeps_the_line(
    runner, seeds: Path, index: Path
):
    write(seeds / "a.jsonl", article("a1", "甲方号"))
    names: list[str] = []
    for command in ("build", "build", "update", "build"):
        if command == "update":
            write(seeds / "b.jsonl", article("b1", "乙方号"))
        assert cli(runner, command, seeds=seeds, index=index).exit_code == 0
        name = current_version(index)
        assert read_meta(index / name).parent == (names[-1] if names else None)
        names.append(name)
    assert list_versions(index) == names[2:]  # the current one and its parent


def test_build_from_articles_records_the_parent(seed_articles, tmp_path: Path):
    index = tmp_path / "index"
    first = build_from_articles(seed_articles[:2], index).version
    second = build_from_articles(seed_articles[:3], index).version
    assert read_meta(index / first).parent is None
    assert read_meta(index / second).parent == first


@pytest.mark.parametrize("damage", ["pruned", "no meta", "no index files"])
def test_rollback_to_a_missing_or_incomplete_parent_is_a_clear_error(
    runner, seeds: Path, index: Path, damage: str
):
    write(seeds / "a.jsonl", article("a1", "甲方号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    v1 = current_version(index)
    write(seeds / "a.jsonl", article("a1", "甲方号"), article("a2", "甲乙号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    v2 = current_version(index)
    if damage == "pruned":
        shutil.rmtree(index / v1)
    elif damage == "no meta":
        (index / v1 / "meta.json").unlink()
    else:
        for toc in (index / v1).glob("*.toc"):
            toc.unlink()
    result = cli(runner, "rollback", seeds=seeds, index=index)
    assert result.exit_code == 1, result.output
    assert v1 in result.output and "nothing changed" in result.output
    assert "Traceback" not in result.output
    assert current_version(index) == v2 and hits(index, "甲乙号")


# --- 5. a source with problems is never recorded as up to date --------------------------


def _replace_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    """Overwrite ``path`` with ``data`` of the same size and give it back its mtime, as a
    copy tool that preserves times would (so size and mtime say nothing changed)."""
    before = path.stat()
    assert len(data) == before.st_size
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_undecodable_file_is_indexed_once_fixed_with_the_same_size_and_mtime(
    runner, seeds: Path, index: Path
):
    write(seeds / "a.jsonl", article("a1", "甲方号"))
    good = "新到稿件\n\n这是一篇讲述庚辛壬癸的稿件。\n".encode()
    (seeds / "late.txt").write_bytes(b"\x00" * len(good))  # half-copied: still zeros
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 3 and "late.txt: not UTF-8" in result.output
    result = cli(runner, "update", seeds=seeds, index=index)  # still broken: said again
    assert result.exit_code == 3 and "late.txt: not UTF-8" in result.output
    _replace_keeping_size_and_mtime(seeds / "late.txt", good)
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert hits(index, "庚辛壬癸") == [("late-1-p1", "late.txt")]
    assert "1 added" in result.output.splitlines()[-1]


def test_feed_line_fixed_with_the_same_size_and_mtime_is_indexed(
    runner, seeds: Path, index: Path
):
    fixed = article("f2", "修好号")
    broken = fixed.replace('{"id"', '{"id"!', 1)[:-1]  # one character swapped: bad JSON
    assert len(broken) == len(fixed)
    write(seeds / "a.jsonl", article("f1", "甲方号"), broken)
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 3 and "a.jsonl:2: bad JSON" in result.output
    assert set(articles(index)) == {"f1"}
    data = (seeds / "a.jsonl").read_text(encoding="utf-8").replace(broken, fixed)
    _replace_keeping_size_and_mtime(seeds / "a.jsonl", data.encode())
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert set(articles(index)) == {"f1", "f2"} and hits(index, "修好号")


def test_unreadable_file_keeps_its_articles_and_is_read_again_when_fixed(
    runner, seeds: Path, index: Path
):
    write(seeds / "a.jsonl", article("a1", "甲方号"), article("a2", "甲乙号"))
    assert cli(runner, "update", seeds=seeds, index=index).exit_code == 0
    original = (seeds / "a.jsonl").read_bytes()
    (seeds / "a.jsonl").write_bytes(b"\x00" * len(original))
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 3 and set(articles(index)) == {"a1", "a2"}
    edited = original.decode().replace("甲乙号", "甲丙号").encode()
    _replace_keeping_size_and_mtime(seeds / "a.jsonl", edited)
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    assert hits(index, "甲丙号") and hits(index, "甲乙号") == []


# --- 7. writer processes die with the update --------------------------------------------

# Several writer processes for a small test feed, whatever this machine's core count.
_MANY_WRITERS = textwrap.dedent("""
    import os
    import searchsvc.writing as writing
    writing.MULTIPROCESS_MIN_PARAGRAPHS = 10
    os.cpu_count = lambda: 2
""")
_WRITER_SCRIPT = _MANY_WRITERS + textwrap.dedent("""
    import sys
    from pathlib import Path
    from searchsvc.lifecycle import sync
    print(sync(Path(sys.argv[1]), Path(sys.argv[2])).line(), flush=True)
""")
_CLI_SCRIPT = _MANY_WRITERS + textwrap.dedent("""
    import sys
    from searchsvc.cli import main
    main(sys.argv[1:])
""")


def _big_feed(path: Path, n: int = 600) -> None:
    """``n`` articles of random characters (they compress badly: segments of some size)."""
    rng = random.Random(n)
    words = ["".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(150)) for _ in range(n)]
    write(path, *(article(f"n{i}", f"编号{i}号{w}") for i, w in enumerate(words)))


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper has stopped running)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG")
def test_sigkilled_update_takes_its_writer_processes_with_it(seeds: Path, index: Path):
    write(seeds / "a.jsonl", article("a1", "甲方号"))
    sync(seeds, index)
    _big_feed(seeds / "big.jsonl")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER_SCRIPT, str(seeds), str(index)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(children) < 2 and proc.poll() is None and time.monotonic() < deadline:
            children |= _children(proc.pid)
            time.sleep(0.05)
        assert len(children) >= 2, f"no writer processes seen: {proc.communicate()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [c for c in children if _alive(c)] == []
    finally:
        for child in children:  # never leave them behind, even when the test fails
            if _alive(child):
                os.kill(child, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
    summary = sync(seeds, index)  # the lock was freed with the last process holding it
    assert summary.switched and summary.added == 600
    assert len(articles(index)) == 601 and hits(index, "编号599号")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_a_writer_process_killed_ends_the_update_with_a_clear_error(seeds: Path, index: Path):
    """The kernel's OOM killer picks a writer process (the biggest): the update must not
    wait for it forever (its job queue is bounded; the update holds the lock), but fail
    clearly, leave the live index as it was and nothing running."""
    write(seeds / "a.jsonl", article("a1", "甲方号"))
    sync(seeds, index)
    live = current_version(index)
    _big_feed(seeds / "big.jsonl")
    proc = subprocess.Popen(
        [sys.executable, "-c", _CLI_SCRIPT, "update", "--seeds", str(seeds), "--index", str(index)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(children) < 2 and proc.poll() is None and time.monotonic() < deadline:
            children |= _children(proc.pid)
            time.sleep(0.02)
        assert len(children) >= 2, f"no writer processes seen: {proc.communicate()}"
        for child in children:
            os.kill(child, signal.SIGKILL)
        _out, err = proc.communicate(timeout=30)  # before: waited forever
        assert proc.returncode == 1, err
        assert "could not write the index: a writer process died (exit code -9)" in err
        assert "live index is untouched" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
            for child in children:
                if _alive(child):
                    os.kill(child, signal.SIGKILL)
    assert current_version(index) == live and list_versions(index) == [live]
    assert set(articles(index)) == {"a1"}
    assert sync(seeds, index).added == 600  # nothing holds the lock


_FORK_SCRIPT = textwrap.dedent("""
    import ctypes, os, sys
    import searchsvc.writing  # registers the fork hook
    value = ctypes.c_int(-1)
    pid = os.fork()
    if pid == 0:  # PR_GET_PDEATHSIG: a fork outside a write (a server worker) keeps none
        ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)
        os._exit(value.value)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
""")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_forks_outside_a_write_are_left_alone():
    out = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True)
    assert out.stdout.strip() == "0", out.stderr


# --- symbolic links and directories that cannot be listed (issue 11.9, wired in sync) ---


def test_a_link_out_of_the_seeds_is_reported_not_indexed(runner, tmp_path: Path, seeds: Path,
                                                         index: Path, monkeypatch):
    """Issue 11.9: a link to a file outside the seeds (/etc/passwd in the report) was
    followed and indexed. It is listed as skipped (exit 3) unless follow_symlinks is set."""
    write(seeds / "a.jsonl", article("x1", "甲一号"))
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside / "secret.jsonl", article("s1", "机密文件"))
    (seeds / "secret.jsonl").symlink_to(outside / "secret.jsonl")
    (seeds / "elsewhere").symlink_to(outside, target_is_directory=True)
    result = cli(runner, "build", seeds=seeds, index=index)
    assert result.exit_code == 3, result.output
    assert "skipped: secret.jsonl: symbolic link to outside the seeds directory" in result.output
    assert "skipped: elsewhere: symbolic link" in result.output
    assert hits(index, "机密文件") == [] and hits(index, "甲一号")
    monkeypatch.setenv("SEARCHSVC_FOLLOW_SYMLINKS", "true")
    result = cli(runner, "update", seeds=seeds, index=index)
    assert result.exit_code == 0, result.output
    # Reachable under two names (the file link, the directory link): indexed once.
    found = hits(index, "机密文件")
    assert len(found) == 2 and len({source for _id, source in found}) == 1


def test_only_links_out_of_the_seeds_is_a_clear_error(runner, tmp_path: Path, seeds: Path,
                                                      index: Path):
    outside = tmp_path / "outside.jsonl"
    write(outside, article("s1", "机密文件"))
    (seeds / "linked.jsonl").symlink_to(outside)
    result = cli(runner, "build", seeds=seeds, index=index)
    assert result.exit_code == 2 and "no .txt, .md or .jsonl sources" in result.output
    assert "skipped: linked.jsonl: symbolic link" in result.output


def _without_permission_override() -> None:
    """In a child process: give up root's power to read any directory (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH, dropped from the bounding set so exec cannot regain them): a
    chmod 000 directory then cannot be listed, as for any other user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0 and os.getuid() == 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="drops Linux capabilities")
def test_a_directory_that_cannot_be_listed_keeps_its_articles(seeds: Path, index: Path):
    """Sibling of 11.5: a sub-directory that cannot be listed (permissions) made `update`
    delete every article under it, as if its files had been removed."""
    (seeds / "desk").mkdir()
    write(seeds / "desk" / "b.jsonl", article("y1", "乙一号"))
    write(seeds / "a.jsonl", article("x1", "甲一号"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "searchsvc", *args, "--seeds", str(seeds), "--index",
             str(index)],
            capture_output=True, text=True, timeout=120, preexec_fn=_without_permission_override,
        )

    assert run("update").returncode == 0
    (seeds / "desk").chmod(0)
    try:
        result = run("update")
        assert result.returncode == 3, result.stderr
        assert "desk: cannot list directory" in result.stderr
        assert hits(index, "乙一号")  # still there
        assert articles(index) == {"x1": "a.jsonl", "y1": "desk/b.jsonl"}
    finally:
        (seeds / "desk").chmod(0o755)
    assert run("update").returncode == 0
    assert articles(index) == {"x1": "a.jsonl", "y1": "desk/b.jsonl"}
