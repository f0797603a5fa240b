"""Configuration validation and the production server's graceful stop."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import access_log_pids, serve_process, worker_pids

from searchsvc.config import ConfigError, load_settings


def test_defaults_file_then_environment(tmp_path: Path):
    assert load_settings({}).port == 8000
    toml = tmp_path / "searchsvc.toml"
    toml.write_text('[searchsvc]\nport = 9000\nthreads = 4\nrate_limit = "10/second"\n')
    settings = load_settings({"SEARCHSVC_CONFIG": str(toml), "SEARCHSVC_THREADS": "6"})
    assert (settings.port, settings.threads, settings.rate_limit) == (9000, 6, "10/second")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SEARCHSVC_PORT": "eighty"}, "SEARCHSVC_PORT"),
        ({"SEARCHSVC_PORT": "70000"}, "SEARCHSVC_PORT"),
        ({"SEARCHSVC_THREADS": "0"}, "SEARCHSVC_THREADS"),
        ({"SEARCHSVC_TIME_BUDGET_MS": "-1"}, "SEARCHSVC_TIME_BUDGET_MS"),
        ({"SEARCHSVC_ADMIN_TOKEN": "short"}, "SEARCHSVC_ADMIN_TOKEN"),
        ({"SEARCHSVC_LOG_LEVEL": "LOUD"}, "SEARCHSVC_LOG_LEVEL"),
        ({"SEARCHSVC_RATE_LIMIT": "lots"}, "SEARCHSVC_RATE_LIMIT"),
        ({"SEARCHSVC_CONFIG": "/nonexistent.toml"}, "SEARCHSVC_CONFIG"),
    ],
)
def test_invalid_settings_fail_fast_naming_the_setting(env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_unknown_or_bad_toml(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"SEARCHSVC_CONFIG": str(bad)})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 80\n")
    with pytest.raises(ConfigError, match="unknown setting.*prot"):
        load_settings({"SEARCHSVC_CONFIG": str(unknown)})


@pytest.mark.slow
def test_serve_refuses_to_start_with_bad_config(seed_index):
    proc = subprocess.run(
        [sys.executable, "-m", "searchsvc", "serve", "--index", str(seed_index)],
        env={**os.environ, "SEARCHSVC_PORT": "eighty"}, capture_output=True, text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "invalid configuration: SEARCHSVC_PORT: 'eighty'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_sigterm_lets_requests_in_flight_finish(seed_index, tmp_path: Path):
    log = tmp_path / "server.log"
    with serve_process(seed_index, log, "--threads", "4") as (server, port):
        results: list[object] = []
        stopping = threading.Event()
        connecting = threading.Lock()

        def client() -> None:
            # Requests under way when SIGTERM arrives must get complete answers. No new
            # connection is opened once the signal is on its way (the lock makes checking
            # and connecting one step): one that reached the kernel's queue in the instant
            # between the worker taking in the queue and closing the listener would be reset.
            for _ in range(200):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    with connecting:
                        if stopping.is_set():
                            return
                        try:
                            conn.connect()
                        except ConnectionRefusedError:
                            results.append("refused")  # not listening any more: fine
                            return
                    began = time.monotonic()
                    conn.request("GET", "/api/search?q=%E5%8C%BB%E9%99%A2&size=50")
                    response = conn.getresponse()
                    size = len(response.read())
                    results.append((response.status, size, began, time.monotonic()))
                except Exception as err:  # noqa: BLE001 - recorded and asserted on below
                    results.append(err)
                    return
                finally:
                    conn.close()

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        with connecting:
            stopping.set()
            signalled = time.monotonic()
            server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        for t in threads:
            t.join(timeout=20)
        answered = [r for r in results if isinstance(r, tuple)]
        assert answered and all(status == 200 and size > 1000 for status, size, *_ in answered)
        in_flight = [r for r in answered if r[2] < signalled < r[3]]
        assert in_flight, "no request was under way when SIGTERM arrived"
        assert all(r == "refused" or isinstance(r, tuple) for r in results), [
            r for r in results if not isinstance(r, tuple)
        ]
        assert "finishing requests in flight" in log.read_text()


@pytest.mark.slow
def test_worker_processes_share_the_port_and_stop_together(seed_index, tmp_path: Path):
    args = ("--workers", "2", "--threads", "2")
    with serve_process(seed_index, tmp_path / "server.log", *args) as (server, port):
        children = worker_pids(server, 2)
        assert len(children) == 2
        for _ in range(20):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/search?q=ECMO")
            assert conn.getresponse().status == 200
            conn.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in children)


@pytest.mark.slow
def test_kept_alive_connections_are_spread_evenly_over_the_workers(seed_index, tmp_path: Path):
    """Connections that stay open (a proxy's pool, keep-alive clients) go to the least busy
    worker: four of them on two workers are two each, whatever process wakes first."""
    log = tmp_path / "server.log"
    args = ("--workers", "2", "--threads", "2")
    connections: list[http.client.HTTPConnection] = []
    with serve_process(seed_index, log, *args, env={"SEARCHSVC_LOG_LEVEL": "INFO"}) as (
        server, port
    ):
        try:
            time.sleep(0.3)  # the start-up probe's connection is closed and counted out
            for n in range(4):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", f"/api/search?q=ECMO&n={n}")
                response = conn.getresponse()
                response.read()
                assert response.status == 200
                connections.append(conn)  # kept open
            for conn in connections:  # a second request on each: same worker as the first
                conn.request("GET", "/api/search?q=ECMO&again=1")
                response = conn.getresponse()
                response.read()
                assert response.status == 200
        finally:
            for conn in connections:
                conn.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    pids = [
        json.loads(line[line.index("{"):])["pid"]
        for line in log.read_text().splitlines()
        if '"path": "/api/search"' in line
    ]
    assert len(pids) == 8
    assert sorted(Counter(pids).values()) == [4, 4]


@pytest.mark.slow
def test_a_killed_worker_is_replaced(seed_index, tmp_path: Path):
    """A worker that dies (OOM killer, a crash) is replaced; the server keeps answering, and
    the dead worker's live gauges leave /metrics (its counters stay)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    log = tmp_path / "server.log"
    args = ("--workers", "2", "--threads", "2")
    with serve_process(seed_index, log, *args, env={"XDG_RUNTIME_DIR": str(runtime)}) as (
        server, port
    ):
        before = worker_pids(server, 2)
        assert len(before) == 2
        searched = 0
        while searched < 100:  # until both have answered (and written their metrics)
            searched += _search(port)
            if len(access_log_pids(log, "/api/search")) == 2:
                break
        (metrics_dir,) = runtime.glob("searchsvc-*/run-*/metrics")
        victim = sorted(before)[0]
        assert (metrics_dir / f"gauge_livesum_{victim}.db").exists()
        os.kill(int(victim), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:
            now = worker_pids(server, 2, within=0)
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, f"not replaced: {now}"
            time.sleep(0.1)
        answered = sum(_search(port) for _ in range(10))
        assert not (metrics_dir / f"gauge_livesum_{victim}.db").exists()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        assert "searchsvc_requests_in_progress 1.0" in text  # the scrape itself
        total = re.search(
            r'searchsvc_requests_total\{method="GET",route="/api/search",status="200"\} (\S+)', text
        )
        assert total and float(total.group(1)) == searched + answered  # the dead one's too
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0


def _search(port: int) -> int:
    """One search on a fresh connection (whichever worker takes it answers); 1 if 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/api/search?q=ECMO")
        return int(conn.getresponse().status == 200)
    finally:
        conn.close()


@pytest.mark.slow
def test_each_run_has_a_private_directory_removed_at_exit(seed_index, tmp_path: Path):
    """Metrics and rate-limit files live in a 0700 directory of this run; one left by a
    server that was killed is removed when the next one starts."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    runs = runtime / f"searchsvc-{os.getuid()}"
    runs.mkdir(mode=0o700)
    stale = runs / f"run-{_a_dead_pid()}-x"
    (stale / "metrics").mkdir(parents=True)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    with serve_process(seed_index, tmp_path / "server.log", env=env) as (server, _port):
        assert not stale.exists()
        (mine,) = runs.glob(f"run-{server.pid}-*")
        assert mine.stat().st_mode & 0o777 == 0o700
        assert list((mine / "metrics").glob("*.db")), "workers write their metrics there"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    assert not mine.exists()


def _a_dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.slow
def test_idle_connections_do_not_hold_up_a_stop(seed_index, tmp_path: Path):
    """Connections that never send a request get a short while after SIGTERM, not the
    whole idle timeout or grace period."""
    env = {"SEARCHSVC_IDLE_TIMEOUT": "60", "SEARCHSVC_GRACEFUL_TIMEOUT": "30"}
    with serve_process(seed_index, tmp_path / "server.log", "--workers", "2", env=env) as (
        server, port
    ):
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(50)]
        try:
            time.sleep(0.3)
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=20) == 0
            assert time.monotonic() - started < 5
        finally:
            for s in idle:
                s.close()


@pytest.mark.slow
def test_a_connection_made_once_a_stop_began_is_refused_not_reset(seed_index, tmp_path: Path):
    """While a stopping worker finishes what it holds, a new connection must be refused
    (the client can retry elsewhere, nothing was sent), not taken into the kernel's queue
    and reset after its request went out; the request begun before the stop is answered."""
    log = tmp_path / "server.log"
    with serve_process(seed_index, log, "--workers", "1") as (server, port):
        begun = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            begun.sendall(b"GET /api/search?q=%E5%8C%BB%E9%99%A2 HTTP/1.1\r\n")  # head half in
            time.sleep(0.3)
            server.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while "finishing requests in flight" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            time.sleep(0.2)
            late: socket.socket | None = None
            try:
                late = socket.create_connection(("127.0.0.1", port), timeout=5)
                late.sendall(b"GET /api/search?q=ECMO HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Connection: close\r\n\r\n")
            except ConnectionRefusedError:
                late = None
            begun.sendall(b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert receive_all(begun).startswith(b"HTTP/1.1 200")
            if late is not None:  # taken in after all: then it must be answered in full
                with late:
                    assert receive_all(late).startswith(b"HTTP/1.1 200")
        finally:
            begun.close()
        assert server.wait(timeout=20) == 0


def receive_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset raises)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.slow
def test_a_worker_holding_back_for_a_sibling_still_takes_in_the_queue_when_it_stops(
    seed_index, tmp_path: Path
):
    """A worker with more connections than its sibling leaves new ones to it (the
    balance). If it is holding back when the stop comes, it must still take in what the
    kernel queued for the port before it closes it: otherwise that connection, made in
    time, is reset once the last worker exits."""
    log = tmp_path / "server.log"
    with serve_process(seed_index, log, "--workers", "2") as (server, port):
        sibling, worker = sorted(worker_pids(server, 2), key=int)
        os.kill(int(sibling), signal.SIGSTOP)  # takes nothing, holds its count (0)
        try:
            idle = socket.create_connection(("127.0.0.1", port), timeout=10)
            time.sleep(0.3)  # taken by `worker`, which now holds more than its sibling
            queued = socket.create_connection(("127.0.0.1", port), timeout=10)
            queued.sendall(b"GET /api/search?q=ECMO HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Connection: close\r\n\r\n")
            time.sleep(0.3)  # left in the kernel's queue
            server.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # `worker` stops (its idle connection gets 2 s)
        finally:
            os.kill(int(sibling), signal.SIGKILL)  # the last holder of the port goes
        with queued:
            assert receive_all(queued).startswith(b"HTTP/1.1 200")
        idle.close()
        server.wait(timeout=20)
