"""The admin update trigger: off without a token, 401 on a wrong one, runs the update."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import SEEDS, assert_api_error, serve_process

from searchsvc.config import load_settings
from searchsvc.lifecycle import sync
from searchsvc.web import create_app

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Path, Path]:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    index_dir = tmp_path / "index"
    sync(seeds, index_dir)
    return seeds, index_dir


def make_client(seeds: Path, index_dir: Path, token: str):
    app = create_app({"INDEX_DIR": str(index_dir), "SEEDS_DIR": str(seeds),
                      "ADMIN_TOKEN": token, "RELOAD_INTERVAL": 0.1, "TESTING": True})
    return app.test_client()


def test_endpoint_is_off_without_a_token(deployment):
    client = make_client(*deployment, token="")
    assert_api_error(client.post("/api/admin/update"), 404)
    assert_api_error(client.post("/api/admin/update",
                                 headers={"Authorization": f"Bearer {TOKEN}"}), 404)
    assert_api_error(client.get("/api/admin/update"), 404)


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
     f"Bearer {TOKEN[:-1]}", "Bearer 秘密"],
)
def test_wrong_or_missing_token_is_401(deployment, header):
    client = make_client(*deployment, token=TOKEN)
    headers = {} if header is None else {"Authorization": header}
    r = client.post("/api/admin/update", headers=headers)
    assert_api_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.slow
def test_trigger_runs_an_update_while_searches_keep_answering(deployment):
    seeds, index_dir = deployment
    client = make_client(seeds, index_dir, token=TOKEN)
    (seeds / "fresh.txt").write_text("新文章\n\n管理接口触发了更新，词语壬癸子丑。\n",
                                     encoding="utf-8")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post("/api/admin/update", headers=auth)
    assert r.status_code == 202 and r.get_json()["started"] is True
    assert r.get_json()["state"] == "running"
    deadline = time.monotonic() + 60
    while True:
        # searches are answered while the update runs in its own process
        assert client.get("/api/search?q=ECMO").status_code == 200
        status = client.get("/api/admin/update", headers=auth).get_json()
        if status["state"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status["state"] == "done", status
    assert status["summary"].startswith("update: 1 added")
    time.sleep(0.2)  # past RELOAD_INTERVAL
    found = client.get("/api/search?q=壬癸子丑").get_json()
    assert found["total"] == 1 and found["hits"][0]["source"] == "fresh.txt"


# --- one state for every worker (issue 11.16) ---------------------------------------------

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_until_finished(client, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get("/api/admin/update", headers=AUTH).get_json()
        if status["state"] != "running":
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def run_log(index_dir: Path, run_id: str) -> bytes:
    return (index_dir / ".admin-update" / f"update-{run_id}.log").read_bytes()


def add_source(seeds: Path, name: str, word: str) -> None:
    (seeds / name).write_text(f"新文章{word}\n\n管理接口触发了更新，词语{word}。\n",
                              encoding="utf-8")


@pytest.mark.slow
def test_every_worker_sees_the_same_update(deployment):
    """Two apps on one index stand in for two worker processes of one server."""
    seeds, index_dir = deployment
    one, two = make_client(seeds, index_dir, TOKEN), make_client(seeds, index_dir, TOKEN)
    assert two.get("/api/admin/update", headers=AUTH).get_json()["state"] == "idle"
    add_source(seeds, "fresh.txt", "壬癸子丑")
    started = one.post("/api/admin/update", headers=AUTH)
    assert started.status_code == 202
    run = started.get_json()
    assert run["state"] == "running" and run["started"] is True
    seen = two.get("/api/admin/update", headers=AUTH).get_json()
    assert seen["state"] == "running"  # it was "idle" in a worker that did not start it
    assert run["pid"] > 0
    assert (seen["run_id"], seen["pid"], seen["started_at"]) == (
        run["run_id"], run["pid"], run["started_at"])
    # A second trigger, from the other worker, while it runs: a 409, never a silent 202.
    busy = two.post("/api/admin/update", headers=AUTH)
    assert busy.status_code == 409
    body = busy.get_json()
    assert set(body) == {"error", "update"}
    assert body["error"]["code"] == "update_running" and str(run["pid"]) in body["error"]["message"]
    assert body["update"]["state"] == "running" and body["update"]["run_id"] == run["run_id"]
    done = wait_until_finished(two)
    assert done["state"] == "done" and done["exit_code"] == 0, done
    assert done["summary"].startswith("update: 1 added")
    assert done["finished_at"] >= done["started_at"]
    assert one.get("/api/admin/update", headers=AUTH).get_json() == done
    assert done["lock_pid"] is None


@pytest.mark.slow
def test_a_runs_log_is_never_truncated(deployment):
    seeds, index_dir = deployment
    one, two = make_client(seeds, index_dir, TOKEN), make_client(seeds, index_dir, TOKEN)
    add_source(seeds, "a.txt", "甲乙丙丁")
    first = one.post("/api/admin/update", headers=AUTH).get_json()
    # the old code answered 202 here and truncated the shared log to start another run
    assert two.post("/api/admin/update", headers=AUTH).status_code == 409
    before = run_log(index_dir, first["run_id"])
    assert two.post("/api/admin/update", headers=AUTH).status_code == 409
    assert run_log(index_dir, first["run_id"]).startswith(before)  # the old code truncated
    wait_until_finished(one)
    first_log = run_log(index_dir, first["run_id"])
    assert b"update: 1 added" in first_log
    add_source(seeds, "b.txt", "戊己庚辛")
    second = two.post("/api/admin/update", headers=AUTH)
    assert second.status_code == 202 and second.get_json()["run_id"] != first["run_id"]
    done = wait_until_finished(one)
    assert done["run_id"] == second.get_json()["run_id"] and done["state"] == "done", done
    assert done["summary"].startswith("update: 1 added")
    assert any(line.startswith("update: 1 added") for line in done["log_tail"])
    assert run_log(index_dir, first["run_id"]) == first_log  # each run has its own log


@pytest.mark.slow
def test_a_cli_run_holding_the_index_lock_is_a_409(deployment):
    seeds, index_dir = deployment
    client = make_client(seeds, index_dir, TOKEN)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from searchsvc.locking import index_lock\n"
         "with index_lock(Path(sys.argv[1])):\n print('locked', flush=True); time.sleep(60)",
         str(index_dir)],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        busy = client.post("/api/admin/update", headers=AUTH)
        assert busy.status_code == 409
        body = busy.get_json()
        assert body["error"]["code"] == "update_running"
        assert body["update"]["lock_pid"] == holder.pid
        assert body["update"]["state"] == "idle"  # nothing was started
        assert client.get("/api/admin/update", headers=AUTH).get_json()["lock_pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert client.post("/api/admin/update", headers=AUTH).status_code == 202
    assert wait_until_finished(client)["state"] == "done"


@pytest.mark.slow
def test_an_update_whose_runner_died_is_not_running_forever(deployment):
    seeds, index_dir = deployment
    one, two = make_client(seeds, index_dir, TOKEN), make_client(seeds, index_dir, TOKEN)
    add_source(seeds, "fresh.txt", "壬癸子丑")
    run = one.post("/api/admin/update", headers=AUTH).get_json()
    assert run["state"] == "running"
    os.killpg(run["pid"], signal.SIGKILL)  # the runner and the update, as a crash would
    deadline = time.monotonic() + 10
    while (status := two.get("/api/admin/update", headers=AUTH).get_json())["state"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["state"] == "failed" and status["exit_code"] is None
    assert "without recording an exit status" in status["summary"]
    assert one.get("/api/admin/update", headers=AUTH).get_json() == status
    # the next trigger runs (the killed update's index lock died with it)
    assert two.post("/api/admin/update", headers=AUTH).status_code == 202
    done = wait_until_finished(one)
    assert done["state"] == "done" and done["summary"].startswith("update: 1 added"), done


@pytest.mark.slow
def test_a_failed_update_reports_its_exit_status_and_error(deployment, tmp_path):
    _seeds, index_dir = deployment
    client = make_client(tmp_path / "no-such-seeds", index_dir, TOKEN)
    assert client.post("/api/admin/update", headers=AUTH).status_code == 202
    status = wait_until_finished(client)
    assert status["state"] == "failed" and status["exit_code"] == 2, status
    assert "does not exist" in status["summary"]


def _http(port: int, method: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/admin/update",
                                     method=method, headers=AUTH)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _answering_pids(server_log: Path) -> set[int]:
    return {json.loads(line[line.index("{"):])["pid"]
            for line in server_log.read_text().splitlines() if '"/api/admin/update"' in line}


@pytest.mark.slow
def test_a_real_multi_worker_server_answers_one_state(deployment, tmp_path):
    seeds, index_dir = deployment
    add_source(seeds, "fresh.txt", "壬癸子丑")
    with serve_process(index_dir, tmp_path / "server.log", "--seeds", str(seeds),
                       "--workers", "2", env={"SEARCHSVC_ADMIN_TOKEN": TOKEN}) as (_proc, port):
        status, run = _http(port, "POST")
        assert status == 202 and run["state"] == "running"
        second, busy = _http(port, "POST")  # an update takes seconds; this is milliseconds later
        assert second == 409 and busy["error"]["code"] == "update_running", busy
        # fresh connections until both workers have answered (the access log names them)
        for n in range(1, 201):
            assert _http(port, "GET")[1]["run_id"] == run["run_id"]
            if n % 10 == 0 and len(_answering_pids(tmp_path / "server.log")) >= 2:
                break
        assert len(_answering_pids(tmp_path / "server.log")) >= 2, "both workers answered"
    # the server is gone; the update it started finishes and records how it ended
    other = make_client(seeds, index_dir, TOKEN)
    done = wait_until_finished(other)
    assert done["run_id"] == run["run_id"] and done["state"] == "done", done
    assert done["summary"].startswith("update: 1 added")


@pytest.mark.slow
def test_admin_update_reads_the_servers_settings_file(deployment, tmp_path: Path):
    """Sibling of 11.17: a server started with --config must have its admin-triggered
    update read the same file (here: follow_symlinks, which only the file turns on)."""
    seeds, index_dir = deployment
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "linked.txt").write_text("外部文章\n\n只有跟随链接时才能找到寅卯辰巳。\n",
                                        encoding="utf-8")
    (seeds / "linked.txt").symlink_to(outside / "linked.txt")
    config = tmp_path / "searchsvc.toml"
    config.write_text(
        f'seeds_dir = "{seeds}"\nindex_dir = "{index_dir}"\nfollow_symlinks = true\n'
        f'admin_token = "{TOKEN}"\nreload_interval = 0.1\n',
        encoding="utf-8",
    )
    app = create_app({"TESTING": True}, settings=load_settings({}, config_file=config))
    client = app.test_client()
    assert client.post("/api/admin/update", headers=AUTH).status_code == 202
    deadline = time.monotonic() + 60
    while (status := client.get("/api/admin/update", headers=AUTH).get_json())["state"] == (
        "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status["state"] == "done", status
    time.sleep(0.2)  # past the reload interval
    assert client.get("/api/search?q=寅卯辰巳").get_json()["total"] == 1
