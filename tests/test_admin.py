"""The admin update trigger: off without a token, 401 on a wrong one, runs the update."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from conftest import SEEDS, assert_api_error

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
