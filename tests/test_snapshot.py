"""One request, one index version: a version switch in the middle of a request never
closes what the request is reading, nor mixes two versions in one answer."""

from __future__ import annotations

import threading
from pathlib import Path

from conftest import SEEDS

from searchsvc.indexing import current_version, switch_to
from searchsvc.lifecycle import sync
from searchsvc.web import create_app


def test_requests_survive_versions_switching_under_them(tmp_path: Path):
    """Found by the live-reload test (a 500, whoosh ReaderClosed): a request asked the live
    index for its searcher, then for its synonyms; when the version changed in between,
    the second call closed the searcher the request was still reading."""
    index_dir = tmp_path / "index"
    sync(SEEDS, index_dir, full=True)
    first = current_version(index_dir)
    sync(SEEDS, index_dir, full=True)
    second = current_version(index_dir)
    app = create_app({"INDEX_DIR": str(index_dir), "RELOAD_INTERVAL": 0, "TESTING": True})
    client = app.test_client()
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            for name in (first, second):
                switch_to(index_dir, name)

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    try:
        statuses = []
        for n in range(300):
            path = ("/api/search?q=ECMO", "/?q=医院+ECMO", "/api/articles/"
                    "000_eacc438995d2ea0a-1?q=ECMO", "/healthz", "/api/suggest?q=医")[n % 5]
            response = client.get(path)
            statuses.append((path, response.status_code))
    finally:
        stop.set()
        flipper.join()
    assert [s for s in statuses if s[1] != 200] == []
