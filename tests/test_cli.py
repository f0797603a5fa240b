"""The searchsvc command: build, search, serve (a real server process)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import SEEDS

from searchsvc.cli import main
from searchsvc.indexing import current_version, list_versions


def test_build_then_search(runner, tmp_path: Path):
    index_dir = tmp_path / "index"
    result = runner.invoke(main, ["build", "--seeds", str(SEEDS), "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith("build: ") and " added, " in summary
    assert " paragraphs in v-" in summary

    result = runner.invoke(main, ["search", "ECMO", "--index", str(index_dir), "--size", "2"])
    assert result.exit_code == 0, result.output
    assert "【ECMO】" in result.output
    assert result.output.strip().splitlines()[-1].endswith("ms")

    result = runner.invoke(main, ["search", "ECMO", "--index", str(index_dir), "--json"])
    payload = json.loads(result.output)
    assert payload["total"] >= 1 and "<mark>ECMO</mark>" in payload["hits"][0]["highlight"]


def test_rebuild_switches_atomically_and_keeps_one_previous(runner, tmp_path: Path):
    index_dir = tmp_path / "index"
    for _ in range(3):
        result = runner.invoke(main, ["build", "--seeds", str(SEEDS), "--index", str(index_dir)])
        assert result.exit_code == 0, result.output
    versions = list_versions(index_dir)
    assert len(versions) == 2 and current_version(index_dir) == versions[-1]


def test_env_variables_choose_directories(runner, tmp_path: Path):
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    index_dir = tmp_path / "idx"
    env = {"SEARCHSVC_SEEDS": str(seeds), "SEARCHSVC_INDEX": str(index_dir)}
    result = runner.invoke(main, ["build"], env=env)
    assert result.exit_code == 0, result.output
    assert current_version(index_dir)


def test_user_mistakes_are_clear_errors(runner, tmp_path: Path):
    result = runner.invoke(main, ["search", "医院", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no index in" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)

    result = runner.invoke(main, ["build", "--seeds", str(tmp_path / "none")])
    assert result.exit_code == 2 and "does not exist" in result.output

    result = runner.invoke(main, ["serve", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1 and "searchsvc build" in result.output

    index_dir = tmp_path / "index"
    runner.invoke(main, ["build", "--seeds", str(SEEDS), "--index", str(index_dir)])
    result = runner.invoke(main, ["search", "医" * 300, "--index", str(index_dir)])
    assert result.exit_code == 2 and "过长" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_serve_runs_a_real_server(live_server):
    with urllib.request.urlopen(f"{live_server}/api/search?q=ECMO") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        body = json.load(r)
    assert body["total"] >= 1
    with urllib.request.urlopen(f"{live_server}/healthz") as r:
        assert json.load(r)["status"] == "ok"
    with urllib.request.urlopen(f"{live_server}/?q=ECMO") as r:
        assert "<mark>ECMO</mark>" in r.read().decode()
        assert r.headers["Server"] == "searchsvc"


def test_stats_and_update_summary(runner, tmp_path: Path):
    index_dir = tmp_path / "index"
    result = runner.invoke(main, ["stats", "--index", str(index_dir)])
    assert result.exit_code == 1 and "no index in" in result.output
    result = runner.invoke(main, ["update", "--seeds", str(SEEDS), "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("update: 8 added, 0 updated, 0 deleted, 0 unchanged")
    result = runner.invoke(main, ["stats", "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"version:     {current_version(index_dir)}" in out
    assert "articles:    8" in out and "paragraphs:  216" in out
    assert "size:" in out and " MB" in out and "updated at:  20" in out
    assert "sources:     5 files" in out and "003_0e7556534e4a60ae.txt: 1 articles" in out


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _config_file(tmp_path: Path, seeds: Path, index_dir: Path) -> Path:
    config = tmp_path / "searchsvc.toml"
    config.write_text(
        f'[searchsvc]\nseeds_dir = "{seeds}"\nindex_dir = "{index_dir}"\n', encoding="utf-8"
    )
    return config


def test_every_command_reads_the_config_file(runner, tmp_path: Path):
    """Issue 11.17: build/update/add/stats/search/rollback read SEARCHSVC_CONFIG (only
    serve did), and --config names the same file."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    index_dir = tmp_path / "configured-index"
    env = {"SEARCHSVC_CONFIG": str(_config_file(tmp_path, seeds, index_dir))}
    # Run from an empty directory: the defaults (./seeds, ./index) must not be used.
    empty = tmp_path / "cwd"
    empty.mkdir()
    with _working_directory(empty):
        result = runner.invoke(main, ["build"], env=env)
        assert result.exit_code == 0, result.output
        assert current_version(index_dir) and not (empty / "index").exists()
        (seeds / "extra.jsonl").write_text(
            json.dumps({"id": "x1", "title": "新增", "text": "配置文件测试段落。"},
                       ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        result = runner.invoke(main, ["update"], env=env)
        assert result.exit_code == 0 and "1 added" in result.output, result.output
        result = runner.invoke(main, ["search", "配置文件测试"], env=env)
        assert result.exit_code == 0 and "【配置文件测试】" in result.output, result.output
        result = runner.invoke(main, ["stats"], env=env)
        assert result.exit_code == 0 and "extra.jsonl: 1 articles" in result.output
        other = tmp_path / "other.jsonl"
        other.write_text(
            json.dumps({"id": "x2", "title": "另一篇", "text": "另一个段落。"}, ensure_ascii=False)
            + "\n",
            encoding="utf-8",
        )
        result = runner.invoke(main, ["add", str(other)], env=env)
        assert result.exit_code == 0 and (seeds / "other.jsonl").exists(), result.output
        result = runner.invoke(main, ["rollback"], env=env)
        assert result.exit_code == 0 and "rolled back" in result.output, result.output
        # --config names the file too; options still win over it.
        result = runner.invoke(
            main, ["--config", env["SEARCHSVC_CONFIG"], "stats", "--index", str(tmp_path / "no")]
        )
        assert result.exit_code == 1 and "no index in" in result.output
        result = runner.invoke(main, ["--config", env["SEARCHSVC_CONFIG"], "stats"])
        assert result.exit_code == 0 and "extra.jsonl" in result.output


def test_invalid_config_is_a_clear_error_for_every_command(runner, tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("page_size = 0\n", encoding="utf-8")
    for command in (["build"], ["update"], ["stats"], ["search", "医院"], ["rollback"]):
        result = runner.invoke(main, command, env={"SEARCHSVC_CONFIG": str(bad)})
        assert result.exit_code == 1, (command, result.output)
        assert "invalid configuration" in result.output and "page_size" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    # --help still works with a broken file.
    result = runner.invoke(main, ["build", "--help"], env={"SEARCHSVC_CONFIG": str(bad)})
    assert result.exit_code == 0 and "SEARCHSVC_INDEX" in result.output


def test_search_prints_did_you_mean(runner, seed_index: Path):
    result = runner.invoke(main, ["search", "ECNO", "--index", str(seed_index)])
    assert result.exit_code == 0, result.output
    assert "did you mean: ecmo" in result.output.lower()
