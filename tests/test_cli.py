"""The searchsvc command: build, search, serve (a real server process)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

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
        assert r.headers["Server"].startswith("waitress") or "searchsvc" in r.headers["Server"]


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
